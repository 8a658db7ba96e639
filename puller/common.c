/*-------------------------------------------------------------------------
 *
 * puller/common.c
 *		pgpull: allocation wrappers, the growing buffer, and forking children.
 *
 * Allocation failure is not something the puller can recover from in the
 * middle of a batch: the wrappers print one line and exit with status 1,
 * which leaves every bookmark where the last accepted batch put it.
 *
 * The programs pgpull runs (a Singer target, ssh) are forked by
 * pp_fork_child, which sets them up the same way.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common.h"

volatile sig_atomic_t pp_interrupted = 0;

static void out_of_memory(void) __attribute__((noreturn));

/*
 * out_of_memory: report and exit; never returns.
 */
static void
out_of_memory(void)
{
	fprintf(stderr, "pgpull: error: out of memory\n");
	exit(EXIT_STREAM_FAILED);
}

/*
 * pp_malloc: malloc that never returns NULL (a zero size allocates one byte).
 */
void *
pp_malloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

/*
 * pp_realloc: realloc that never returns NULL.
 */
void *
pp_realloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

/*
 * pp_strdup: strdup that never returns NULL; s must not be NULL.
 */
char *
pp_strdup(const char *s)
{
	return pp_strndup(s, strlen(s));
}

/*
 * pp_strndup: a NUL-terminated copy of the first n bytes of s.
 */
char *
pp_strndup(const char *s, size_t n)
{
	char	   *p = pp_malloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * pp_vpsprintf: vsprintf into a freshly allocated string the caller frees.
 */
char *
pp_vpsprintf(const char *fmt, va_list ap)
{
	va_list		ap2;
	int			n;
	char	   *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return pp_strdup("");
	p = pp_malloc((size_t) n + 1);
	vsnprintf(p, (size_t) n + 1, fmt, ap);
	return p;
}

/*
 * pp_psprintf: sprintf into a freshly allocated string the caller frees.
 */
char *
pp_psprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *p;

	va_start(ap, fmt);
	p = pp_vpsprintf(fmt, ap);
	va_end(ap);
	return p;
}

/*
 * pp_plural: the word for n things.
 */
const char *
pp_plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * pp_seconds: a monotonic clock, in seconds, for durations.
 */
double
pp_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * buf_init: an empty buffer (allocates nothing until the first append).
 */
void
buf_init(Buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/*
 * buf_free: release the buffer's memory; it is empty and reusable after.
 */
void
buf_free(Buf *b)
{
	free(b->data);
	buf_init(b);
}

/*
 * buf_reset: empty the buffer, keeping its memory.
 */
void
buf_reset(Buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/*
 * buf_reserve: make room for extra more bytes plus the terminating NUL.
 */
void
buf_reserve(Buf *b, size_t extra)
{
	size_t		need = b->len + extra + 1;
	size_t		cap;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->data = pp_realloc(b->data, cap);
	b->cap = cap;
}

/*
 * buf_append: append len bytes of data.
 */
void
buf_append(Buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

/*
 * buf_append_str: append a NUL-terminated string.
 */
void
buf_append_str(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/*
 * buf_appendf: append printf-formatted text.
 */
void
buf_appendf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	buf_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/*
 * pp_fork_child: fork a child that is to run another program.  The child
 * gets a process group of its own (a Ctrl-C at a terminal reaches pgpull
 * alone, which then stops its children itself), the default dispositions
 * of the signals pgpull handles or ignores, no signal blocked, and, on
 * Linux, SIGTERM when pgpull dies, even by SIGKILL.  No signal handler of
 * pgpull runs in the child.  Returns what fork returns (errno kept).
 */
pid_t
pp_fork_child(void)
{
	sigset_t	block;
	sigset_t	old;
	pid_t		parent = getpid();
	pid_t		pid;
	int			save_errno;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
	{
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
		(void) setpgid(0, 0);
#ifdef __linux__
		(void) prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* pgpull may have died before that */
		if (getppid() != parent)
			_exit(1);
#endif
		return 0;
	}
	save_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid > 0)
		(void) setpgid(pid, pid);	/* the child does it too: whoever is first */
	errno = save_errno;
	return pid;
}

/*
 * pp_is_conninfo: whether s is a connection string or URI rather than a
 * bare database name, as libpq tells them apart.
 */
bool
pp_is_conninfo(const char *s)
{
	return strchr(s, '=') != NULL ||
		strncmp(s, "postgresql://", 13) == 0 ||
		strncmp(s, "postgres://", 11) == 0;
}

/*
 * buf_append_json: append s as a JSON string: quoted, with quotes,
 * backslashes and control characters escaped (other bytes, UTF-8 included,
 * as they are).
 */
void
buf_append_json(Buf *out, const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t		start = 0;

	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = s[i];
		char		esc[6];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(out, s + start, i - start);
		start = i + 1;
		esc[0] = '\\';
		esc[1] = (char) c;
		if (c < 0x20)
		{
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
		}
		buf_append(out, esc, c < 0x20 ? 6 : 2);
	}
	buf_append(out, s + start, len - start);
	buf_append(out, "\"", 1);
}
