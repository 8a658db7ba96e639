/*-------------------------------------------------------------------------
 *
 * puller/fuzz/fuzz_retry_after.c
 *		pgpull: libFuzzer harness of the destination's Retry-After header
 *		(http.c).
 *
 * The input is a header line as curl hands it to http_read_header (not
 * NUL-terminated, line ending included); then the input again as the
 * value of a Retry-After header, so that the fuzzer need not find the
 * header's name to reach the parsing of seconds and HTTP dates.  The
 * delay read must be none (-1) or a number of seconds not below 0: the
 * retry waits that long.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define HEADER_NAME		"Retry-After: "

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_line(const char *line, size_t len);

/*
 * read_line: hand line (len bytes) to http_read_header in a buffer of its
 * own size, and check the delay it reads.
 */
static void
read_line(const char *line, size_t len)
{
	HttpClient	h;
	char	   *buf = malloc(len ? len : 1);

	if (buf == NULL)
		abort();
	memcpy(buf, line, len);
	memset(&h, 0, sizeof(h));
	h.retry_after = -1;
	if (http_read_header(buf, 1, len, &h) != len)
		abort();				/* curl fails a transfer on any other answer */
	if (h.retry_after != -1 && !(isfinite(h.retry_after) && h.retry_after >= 0))
		abort();
	free(buf);
}

/*
 * LLVMFuzzerTestOneInput: libFuzzer's entry point; returns 0.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		n = strlen(HEADER_NAME);
	char	   *line = malloc(n + size + 2);

	if (line == NULL)
		abort();
	read_line((const char *) data, size);
	memcpy(line, HEADER_NAME, n);
	memcpy(line + n, data, size);
	memcpy(line + n + size, "\r\n", 2);
	read_line(line, n + size + 2);
	free(line);
	return 0;
}
