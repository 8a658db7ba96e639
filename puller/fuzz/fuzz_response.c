/*-------------------------------------------------------------------------
 *
 * puller/fuzz/fuzz_response.c
 *		pgpull: libFuzzer harness of the destination's response bodies
 *		(http.c).
 *
 * The input is the body of an answer of the Import API destination, as
 * curl's write callback keeps it in the client's response buffer; it goes
 * to http_destination_message, which finds the message shown in an error
 * (JSON "error" or "message", with "errors", or the text).  The message
 * must be one line of printable text.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * LLVMFuzzerTestOneInput: libFuzzer's entry point; returns 0.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HttpClient	h;
	char	   *msg;

	memset(&h, 0, sizeof(h));
	buf_init(&h.response);
	buf_append(&h.response, data, size);
	msg = http_destination_message(&h);
	if ((msg == NULL) != (size == 0))
		abort();
	for (const char *p = msg; p && *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			abort();			/* it goes into one line of a message */
	}
	free(msg);
	buf_free(&h.response);
	return 0;
}
