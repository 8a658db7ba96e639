/*-------------------------------------------------------------------------
 *
 * puller/fuzz/pieces.c
 *		pgpull fuzzing: an input cut into pieces, as a stream arrives in
 *		reads or messages.
 *
 * A harness that takes pieces has its payload parsed three times by
 * fuzz_every_split, cut where the fuzzer chose, whole, and a byte at a
 * time, which requires the same outcome each time: where a message or a
 * read ends must change nothing.  fuzz_hash sums up an outcome for that
 * comparison.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pieces.h"

static int	compare_size(const void *a, const void *b);
static void input_read(const uint8_t *raw, size_t size, FuzzInput *in);
static void parse_split(const FuzzInput *in, FuzzSplit split,
						FuzzParseFn parse, FuzzOutcome *out);

/*
 * compare_size: qsort's comparison of two size_t.
 */
static int
compare_size(const void *a, const void *b)
{
	size_t		x = *(const size_t *) a;
	size_t		y = *(const size_t *) b;

	return x < y ? -1 : x > y;
}

/*
 * input_read: take raw (size bytes) apart into its cuts and payload, as
 * pieces.h describes.  An input too short for the cuts it announces has as
 * many as fit.  in points into raw.
 */
static void
input_read(const uint8_t *raw, size_t size, FuzzInput *in)
{
	int			want;

	in->ncuts = 0;
	if (size == 0)
	{
		in->data = raw;
		in->len = 0;
		return;
	}
	want = raw[0] & 0x0F;
	raw++;
	size--;
	if ((size_t) want * 2 > size)
		want = (int) (size / 2);
	in->data = raw + want * 2;
	in->len = size - (size_t) want * 2;
	for (int i = 0; i < want; i++)
	{
		size_t		off = ((size_t) raw[2 * i] << 8) | raw[2 * i + 1];

		in->cut[in->ncuts++] = off % (in->len + 1);
	}
	qsort(in->cut, (size_t) in->ncuts, sizeof(size_t), compare_size);
}

/*
 * parse_split: out, from parsing in's payload cut as split says.
 */
static void
parse_split(const FuzzInput *in, FuzzSplit split, FuzzParseFn parse,
			FuzzOutcome *out)
{
	out->items = 0;
	out->hash = FUZZ_HASH_INIT;
	out->error = NULL;
	parse(in, split, out);
}

/*
 * fuzz_every_split: parse the payload of raw (size bytes) cut where the
 * input says, whole, and a byte a piece, and abort (a crash for libFuzzer)
 * unless the three outcomes are the same.  harness names the harness in
 * the message.
 */
void
fuzz_every_split(const uint8_t *raw, size_t size, const char *harness,
				 FuzzParseFn parse)
{
	static const FuzzSplit others[] = {FUZZ_SPLIT_WHOLE, FUZZ_SPLIT_BYTES};
	static const char *const other_names[] = {"whole", "a byte a piece"};
	FuzzInput	in;
	FuzzOutcome chosen;

	input_read(raw, size, &in);
	parse_split(&in, FUZZ_SPLIT_CHOSEN, parse, &chosen);
	for (int i = 0; i < 2; i++)
	{
		FuzzOutcome other;

		parse_split(&in, others[i], parse, &other);
		if (other.items != chosen.items || other.hash != chosen.hash ||
			(other.error == NULL) != (chosen.error == NULL) ||
			(other.error != NULL && strcmp(other.error, chosen.error) != 0))
		{
			fprintf(stderr, "%s: parsed %s: %ld items, %s; cut as the input says: %ld items, %s\n",
					harness, other_names[i], other.items,
					other.error ? other.error : "no error", chosen.items,
					chosen.error ? chosen.error : "no error");
			abort();
		}
		free(other.error);
	}
	free(chosen.error);
}

/*
 * fuzz_next_piece: the next piece of in's payload under split, from *pos
 * on: returns true with *pos at its start and *len (> 0) its length, and
 * the piece after it next time; false when the payload is over.  Start
 * with *pos = 0 and *len = 0.  Empty pieces (equal cuts) are skipped: a
 * CopyData message or a read is never empty.
 */
bool
fuzz_next_piece(const FuzzInput *in, FuzzSplit split, size_t *pos,
				size_t *len)
{
	size_t		start = *pos + *len;
	size_t		end = in->len;

	if (start >= in->len)
		return false;
	if (split == FUZZ_SPLIT_BYTES)
		end = start + 1;
	else if (split == FUZZ_SPLIT_CHOSEN)
	{
		for (int i = 0; i < in->ncuts; i++)
		{
			if (in->cut[i] > start)
			{
				end = in->cut[i];
				break;
			}
		}
	}
	*pos = start;
	*len = end - start;
	return true;
}

/*
 * fuzz_hash: h updated with len bytes of data (FNV-1a, 64 bits).  Every
 * byte is read, so a piece that reaches past its buffer shows in
 * AddressSanitizer's report.
 */
uint64_t
fuzz_hash(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}
