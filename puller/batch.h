/*-------------------------------------------------------------------------
 *
 * puller/batch.h
 *		pgpull: build Import API batch bodies.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_BATCH_H
#define PGPULL_BATCH_H

#include "error.h"

/* a piece of a request body */
typedef struct BodySegment
{
	const char *data;
	size_t		len;
} BodySegment;

/*
 * A batch: the body's head ({"table_name":...,"messages":[), the messages
 * separated by commas, and its tail (],"key_names":[...]}).  Any run of
 * consecutive messages makes a valid body with the same head and tail,
 * which is how a batch the destination finds too large is split.
 */
typedef struct Batch
{
	int			max_rows;
	size_t		max_bytes;
	Buf			head;
	Buf			tail;
	Buf			msgs;
	int			nmsg;
	int			cap;
	size_t	   *msg_off;		/* start of each message in msgs */
	size_t	   *msg_len;
	int32_t    *lossy;
	size_t	   *pos_off;		/* start of each position in positions */
	bool	   *pos_null;
	Buf			positions;		/* NUL-terminated positions, one per message */
} Batch;

extern void batch_init(Batch *b, int max_rows, size_t max_bytes);
extern int	batch_start_stream(Batch *b, const char *table_name,
							   const char *json_schema, const char *key_names,
							   PPError *err);
extern int	batch_check_row(Batch *b, size_t row_json_len, bool *flush_first);
extern void batch_add(Batch *b, const char *row_json, size_t row_json_len,
					  const char *position, size_t position_len, int32_t lossy,
					  int64_t sequence);
extern size_t batch_message_size(size_t row_json_len);
extern size_t batch_body_size(const Batch *b, int from, int to);
extern int	batch_segments(const Batch *b, int from, int to, BodySegment seg[3]);
extern const char *batch_position(const Batch *b, int i);
extern int64_t batch_lossy(const Batch *b, int from, int to);
extern void batch_clear(Batch *b);
extern void batch_free(Batch *b);
extern int64_t next_sequence(void);

#endif							/* PGPULL_BATCH_H */
