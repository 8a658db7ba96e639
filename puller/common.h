/*-------------------------------------------------------------------------
 *
 * puller/common.h
 *		pgpull: exit statuses, allocation wrappers, a growing buffer and
 *		forking children.
 *
 * Every allocation of the program goes through pp_malloc and friends, which
 * print "out of memory" and exit instead of returning NULL.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_COMMON_H
#define PGPULL_COMMON_H

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* exit statuses, as documented in --help */
#define EXIT_OK				0	/* every stream synced */
#define EXIT_STREAM_FAILED	1	/* some stream failed */
#define EXIT_USAGE			2	/* usage or configuration error */
#define EXIT_CONNECT		3	/* could not connect to a database or the destination */

#define PP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* a growing byte buffer, always NUL-terminated */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void *pp_malloc(size_t size);
extern void *pp_realloc(void *ptr, size_t size);
extern char *pp_strdup(const char *s);
extern char *pp_strndup(const char *s, size_t n);
extern char *pp_psprintf(const char *fmt,...) PP_PRINTF(1, 2);
extern char *pp_vpsprintf(const char *fmt, va_list ap) PP_PRINTF(1, 0);
extern const char *pp_plural(int64_t n, const char *one, const char *many);
extern pid_t pp_fork_child(void);
extern double pp_seconds(void);

/*
 * set by the SIGINT and SIGTERM handler (conn.c) to the signal's number:
 * stop at the next chance; main() raises it again once all is cleaned up
 */
extern volatile sig_atomic_t pp_interrupted;

extern bool pp_is_conninfo(const char *s);

extern void buf_init(Buf *b);
extern void buf_free(Buf *b);
extern void buf_reset(Buf *b);
extern void buf_reserve(Buf *b, size_t extra);
extern void buf_append(Buf *b, const void *data, size_t len);
extern void buf_append_str(Buf *b, const char *s);
extern void buf_appendf(Buf *b, const char *fmt,...) PP_PRINTF(2, 3);
extern void buf_append_json(Buf *out, const unsigned char *s, size_t len);

#endif							/* PGPULL_COMMON_H */
