/*-------------------------------------------------------------------------
 *
 * puller/fuzz/fuzz_copy.c
 *		pgpull: libFuzzer harness of the binary COPY stream parser
 *		(extract.c).
 *
 * The input is a cut header and a COPY stream (see pieces.h): the
 * stream goes to copy_parse in CopyData messages that end at the cuts, as
 * copy_next hands over what PQgetCopyData returns, so that tuples split
 * across messages take the carry buffer's path.  Every byte of each row is
 * read.  The stream is parsed again whole and a byte a message: the rows
 * and the error, if any, must be the same, wherever the messages end.
 *
 * Nothing here counts the fields of a tuple: the parser decides what a row
 * is, so the harness holds when the tuple gains a field.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "pieces.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_stream(const FuzzInput *in, FuzzSplit split,
						 FuzzOutcome *out);

/*
 * parse_stream: parse in's payload cut as split says, as copy_next would
 * with those CopyData messages followed by the end of the COPY.
 */
static void
parse_stream(const FuzzInput *in, FuzzSplit split, FuzzOutcome *out)
{
	CopyReader	r;
	CopyRow		row;
	PPError		err;
	size_t		pos = 0;
	size_t		len = 0;
	int			rc;

	memset(&r, 0, sizeof(r));
	buf_init(&r.carry);
	buf_init(&r.position);
	pp_error_init(&err);
	for (;;)
	{
		char	   *msg;

		rc = copy_parse(&r, &row, &err);
		if (rc < 0)
			break;
		if (rc > 0)
		{
			int32_t		lossy = row.lossy;

			out->items++;
			out->hash = fuzz_hash(out->hash, &row.position_len,
								  sizeof(row.position_len));
			if (row.position != NULL)
				out->hash = fuzz_hash(out->hash, row.position, row.position_len);
			else
				out->hash = fuzz_hash(out->hash, "N", 1);
			out->hash = fuzz_hash(out->hash, &lossy, sizeof(lossy));
			if (row.row_json == NULL)
				abort();		/* a row always has its JSON */
			out->hash = fuzz_hash(out->hash, &row.row_json_len,
								  sizeof(row.row_json_len));
			out->hash = fuzz_hash(out->hash, row.row_json, row.row_json_len);
			out->hash = fuzz_hash(out->hash, &row.cap_len, sizeof(row.cap_len));
			if (row.cap != NULL)
				out->hash = fuzz_hash(out->hash, row.cap, row.cap_len);
			else
				out->hash = fuzz_hash(out->hash, "N", 1);
			continue;
		}
		if (!fuzz_next_piece(in, split, &pos, &len))
		{
			/* the COPY ended: copy_next's checks when PQgetCopyData says so */
			if (!r.trailer_seen || r.carry.len > r.carry_pos)
			{
				/* after the end marker nothing is left: the parser refuses more */
				if (r.trailer_seen)
					abort();
				pp_error_set(&err, PPERR_STREAM, "ended without its end marker");
				rc = -1;
			}
			break;
		}
		/* libpq's message, freed with PQfreemem: malloc'd, not terminated */
		msg = malloc(len);
		if (msg == NULL)
			abort();
		memcpy(msg, in->data + pos, len);
		copy_add_data(&r, msg, len);
	}
	if (rc < 0)
		out->error = strdup(err.message ? err.message : "(no message)");
	copy_finish(&r);
	pp_error_clear(&err);
}

/*
 * LLVMFuzzerTestOneInput: libFuzzer's entry point; returns 0.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_every_split(data, size, "fuzz_copy", parse_stream);
	return 0;
}
