/*-------------------------------------------------------------------------
 *
 * puller/target.h
 *		pgpull: where Singer messages go: standard output, or a target
 *		program run as a child.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_TARGET_H
#define PGPULL_TARGET_H

#include <sys/types.h>

#include "error.h"

/* messages buffered beyond this are to be written at once */
#define TARGET_BUFFER		(256 * 1024)

/* called with each line a target prints on its standard output */
typedef void (*TargetEchoFn) (void *arg, const char *line, size_t len);

typedef struct Target
{
	int			fd;				/* where messages go; -1 once closed */
	Buf			out;			/* messages not yet written */
	size_t		out_pos;		/* how much of out is written */
	bool		broken;			/* the target stopped reading */
	/* --target-command */
	pid_t		pid;			/* the child (a process group leader), or 0 */
	bool		reaped;
	int			wait_status;	/* from waitpid, once reaped */
	int			echo_fd;		/* the child's standard output; -1 at its end */
	Buf			echo;			/* the start of a line not yet complete */
	bool		echo_skip;		/* discarding the rest of a line too long */
	TargetEchoFn on_echo;
	void	   *echo_arg;
} Target;

extern void target_init_stdout(Target *t);
extern int	target_start(Target *t, const char *command, TargetEchoFn on_echo,
						 void *arg, PPError *err);
extern bool target_buffer_full(const Target *t);
extern int	target_flush(Target *t, PPError *err);
extern void target_poll_echo(Target *t);
extern void target_echo_data(Target *t, const char *data, size_t len);
extern int	target_finish(Target *t, PPError *err);
extern void target_kill(Target *t);
extern void target_free(Target *t);

#endif							/* PGPULL_TARGET_H */
