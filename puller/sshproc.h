/*-------------------------------------------------------------------------
 *
 * puller/sshproc.h
 *		pgpull: the OpenSSH client of the tunnel: its command line, its
 *		process and what it says.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SSHPROC_H
#define PGPULL_SSHPROC_H

#include <stdio.h>
#include <sys/types.h>

#include "error.h"

#define SSH_MAX_FORWARDS	2	/* the source and the state database */

/* an ssh of the tunnel: what it runs, then the process */
typedef struct SshProc
{
	char	   *dest;			/* [USER@]HOST[:PORT], as given */
	char	   *login;			/* [USER@]HOST, for ssh */
	char	   *port;			/* its -p, or NULL */
	char	   *identity;		/* its -i, or NULL */
	char	   *known_hosts;	/* NULL: the user's */
	int			nfwd;
	char	   *remote[SSH_MAX_FORWARDS];	/* where each forward goes, as -L
											 * takes it */
	int			local_port[SSH_MAX_FORWARDS];	/* on 127.0.0.1 */
	pid_t		pid;			/* while it runs, else 0 */
	int			status;			/* its wait status, once reaped */
	FILE	   *messages;		/* its standard error */
} SshProc;

/* what sshproc_wait_listening saw */
typedef enum SshWait
{
	SSH_LISTENING,				/* every forward accepts connections */
	SSH_EXITED,					/* ssh ended first (status) */
	SSH_TIMED_OUT,
	SSH_INTERRUPTED				/* SIGINT or SIGTERM */
} SshWait;

/* why ssh exited, from what it printed */
typedef enum SshFailure
{
	SSH_HOST_KEY_CHANGED,
	SSH_HOST_KEY_UNKNOWN,
	SSH_KEY_REFUSED,
	SSH_FORWARD_FAILED,
	SSH_UNREACHABLE,
	SSH_OTHER
} SshFailure;

extern bool sshproc_split_dest(const char *dest, char **login, char **port);
extern bool sshproc_start(SshProc *p, PPError *err);
extern SshWait sshproc_wait_listening(SshProc *p, int timeout);
extern SshFailure sshproc_failure(SshProc *p, PPError *err);
extern bool sshproc_ended(SshProc *p);
extern void sshproc_stop(SshProc *p);
extern char *sshproc_messages(const SshProc *p, off_t from);
extern char *sshproc_line(const char *text, const char *needle);

#endif							/* PGPULL_SSHPROC_H */
