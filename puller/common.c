/*-------------------------------------------------------------------------
 *
 * puller/common.c
 *		pgpull: allocation wrappers and the growing buffer.
 *
 * Allocation failure is not something the puller can recover from in the
 * middle of a batch: the wrappers print one line and exit with status 1,
 * which leaves every bookmark where the last accepted batch put it.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

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
