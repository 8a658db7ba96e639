/*-------------------------------------------------------------------------
 *
 * puller/fuzz/pieces.h
 *		pgpull fuzzing: an input cut into pieces, as a stream arrives in
 *		reads or messages.
 *
 * A harness whose parser takes its input in pieces (the COPY stream in
 * CopyData messages, the Singer target's output in reads) reads its input
 * as a cut header and a payload:
 *
 *	 byte 0			the number of cuts, in its low 4 bits (0 to 15)
 *	 2 bytes each	the cuts, big-endian offsets into the payload (modulo
 *					its length plus one), in any order
 *	 the rest		the payload
 *
 * so that the fuzzer chooses where the pieces end as freely as what they
 * hold.  A seed that is one piece starts with a zero byte.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_FUZZ_PIECES_H
#define PGPULL_FUZZ_PIECES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_CUTS	15
#define FUZZ_HASH_INIT	UINT64_C(14695981039346656037)	/* FNV-1a */

/* how a payload is cut into pieces */
typedef enum FuzzSplit
{
	FUZZ_SPLIT_CHOSEN,			/* at the cuts of the input */
	FUZZ_SPLIT_WHOLE,			/* one piece */
	FUZZ_SPLIT_BYTES			/* a piece a byte */
} FuzzSplit;

typedef struct FuzzInput
{
	const uint8_t *data;		/* the payload */
	size_t		len;
	size_t		cut[FUZZ_MAX_CUTS]; /* sorted offsets into data */
	int			ncuts;
} FuzzInput;

/* what parsing a payload cut one way gave */
typedef struct FuzzOutcome
{
	long		items;			/* rows, lines ... */
	uint64_t	hash;			/* of the items, in order (fuzz_hash) */
	char	   *error;			/* the error message (malloc'd), or NULL */
} FuzzOutcome;

/* parses in's payload cut as split says, summing it up in out */
typedef void (*FuzzParseFn) (const FuzzInput *in, FuzzSplit split,
							 FuzzOutcome *out);

extern void fuzz_every_split(const uint8_t *raw, size_t size,
							 const char *harness, FuzzParseFn parse);
extern bool fuzz_next_piece(const FuzzInput *in, FuzzSplit split, size_t *pos,
							size_t *len);
extern uint64_t fuzz_hash(uint64_t h, const void *data, size_t len);

#endif							/* PGPULL_FUZZ_PIECES_H */
