/*-------------------------------------------------------------------------
 *
 * puller/batch.c
 *		pgpull: build Import API batch bodies.
 *
 * A body carries one table: {"table_name":..., "schema":..., "messages":
 * [...], "key_names":[...]}, each message {"action":"upsert","sequence":N,
 * "data":<row>}.  The row JSON comes from the server and is spliced in
 * verbatim, never parsed, and so is the JSON schema; jansson handles only
 * the small parts (quoting the table name, the key names).  key_names is left out
 * for an append-only table.
 *
 * The batch tracks its row count and body size and says when the next row
 * would take it over --batch-rows or --batch-bytes, so the caller sends it
 * first.  It also keeps each message's position and lossy count, so that
 * any run of messages can be sent on its own and reported to the
 * extension.  Memory: one body plus its positions.
 *
 * Sequences are epoch milliseconds times 1000 plus the microseconds, or
 * the last one plus 1 when that is not greater: strictly increasing within
 * the process and, as long as the clock does not go back and no run sends
 * more than a million rows a second, across runs.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "batch.h"

#define MSG_PREFIX		"{\"action\":\"upsert\",\"sequence\":"
#define MSG_DATA		",\"data\":"
#define MSG_SUFFIX		"}"
#define SEQUENCE_DIGITS 19		/* at most, for int64 */

static void grow(Batch *b);

/*
 * next_sequence: the next message sequence.
 */
int64_t
next_sequence(void)
{
	static int64_t last = 0;
	struct timespec ts;
	int64_t		now;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* epoch milliseconds * 1000 plus the microseconds: a finer counter */
	now = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	last = now > last ? now : last + 1;
	return last;
}

/*
 * batch_init: an empty batch with its limits.
 */
void
batch_init(Batch *b, int max_rows, size_t max_bytes)
{
	memset(b, 0, sizeof(*b));
	b->max_rows = max_rows;
	b->max_bytes = max_bytes;
	buf_init(&b->head);
	buf_init(&b->tail);
	buf_init(&b->msgs);
	buf_init(&b->positions);
}

/*
 * batch_start_stream: set the head and tail for a stream's table; the batch
 * must be empty.  json_schema is a JSON object text, key_names a JSON array
 * text of names (NULL or empty: append-only).  Returns 0, or -1 with err
 * set when they are not what they should be.
 */
int
batch_start_stream(Batch *b, const char *table_name, const char *json_schema,
				   const char *key_names, PPError *err)
{
	json_t	   *j;
	json_error_t jerr;
	char	   *text;
	const char *p;

	batch_clear(b);
	buf_reset(&b->head);
	buf_reset(&b->tail);

	j = json_string(table_name);
	text = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL)
	{
		pp_error_set(err, PPERR_STREAM, "cannot encode destination table name \"%s\" as JSON", table_name);
		return -1;
	}
	buf_append_str(&b->head, "{\"table_name\":");
	buf_append_str(&b->head, text);
	free(text);

	/*
	 * The schema is jsonb text from the server, spliced as it is: decoding
	 * it would turn the bounds of a numeric(40,0) into a double (or fail on
	 * numeric(1000,0)), so only its shape is checked.
	 */
	p = json_schema;
	while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p == NULL || *p != '{')
	{
		pp_error_set(err, PPERR_STREAM, "the JSON schema of the stream is not a JSON object");
		return -1;
	}
	buf_append_str(&b->head, ",\"schema\":");
	buf_append_str(&b->head, json_schema);
	buf_append_str(&b->head, ",\"messages\":[");

	buf_append_str(&b->tail, "]");
	if (key_names != NULL)
	{
		size_t		i;
		json_t	   *name;

		j = json_loads(key_names, JSON_DECODE_ANY, &jerr);
		if (j == NULL || !json_is_array(j))
		{
			json_decref(j);
			pp_error_set(err, PPERR_STREAM, "the key names of the stream are not a JSON array");
			return -1;
		}
		json_array_foreach(j, i, name)
		{
			if (!json_is_string(name))
			{
				json_decref(j);
				pp_error_set(err, PPERR_STREAM, "the key names of the stream are not all strings");
				return -1;
			}
		}
		if (json_array_size(j) > 0)
		{
			text = json_dumps(j, JSON_COMPACT);
			if (text == NULL)
			{
				json_decref(j);
				pp_error_set(err, PPERR_STREAM, "could not encode the key names of the stream");
				return -1;
			}
			buf_append_str(&b->tail, ",\"key_names\":");
			buf_append_str(&b->tail, text);
			free(text);
		}
		json_decref(j);
	}
	buf_append_str(&b->tail, "}");
	return 0;
}

/*
 * batch_message_size: an upper bound of the size of a message carrying a
 * row of row_json_len bytes.
 */
size_t
batch_message_size(size_t row_json_len)
{
	return strlen(MSG_PREFIX) + SEQUENCE_DIGITS + strlen(MSG_DATA) +
		row_json_len + strlen(MSG_SUFFIX);
}

/*
 * batch_check_row: can a row of row_json_len bytes be added?  Returns 0
 * when it can, with *flush_first set when the batch must be sent first to
 * stay within its limits; -1 when even an otherwise empty body with this
 * row alone exceeds the byte limit.
 */
int
batch_check_row(Batch *b, size_t row_json_len, bool *flush_first)
{
	size_t		msg = batch_message_size(row_json_len);

	*flush_first = false;
	if (b->nmsg > 0 &&
		(b->nmsg >= b->max_rows ||
		 batch_body_size(b, 0, b->nmsg - 1) + 1 + msg > b->max_bytes))
		*flush_first = true;
	if (b->head.len + msg + b->tail.len > b->max_bytes)
		return -1;
	return 0;
}

/*
 * grow: room for one more message's bookkeeping.
 */
static void
grow(Batch *b)
{
	if (b->nmsg < b->cap)
		return;
	b->cap = b->cap ? b->cap * 2 : 1024;
	b->msg_off = pp_realloc(b->msg_off, sizeof(size_t) * (size_t) b->cap);
	b->msg_len = pp_realloc(b->msg_len, sizeof(size_t) * (size_t) b->cap);
	b->lossy = pp_realloc(b->lossy, sizeof(int32_t) * (size_t) b->cap);
	b->pos_off = pp_realloc(b->pos_off, sizeof(size_t) * (size_t) b->cap);
	b->pos_null = pp_realloc(b->pos_null, sizeof(bool) * (size_t) b->cap);
}

/*
 * batch_add: append a row as an upsert message with its sequence (0: the
 * next one).
 * position may be NULL (SQL NULL).  The caller checked batch_check_row.
 */
void
batch_add(Batch *b, const char *row_json, size_t row_json_len,
		  const char *position, size_t position_len, int32_t lossy, int64_t sequence)
{
	char		seq[32];
	int			seqlen;
	size_t		start;

	grow(b);
	seqlen = snprintf(seq, sizeof(seq), "%" PRId64, sequence > 0 ? sequence : next_sequence());
	if (b->nmsg > 0)
		buf_append(&b->msgs, ",", 1);
	start = b->msgs.len;
	buf_reserve(&b->msgs, batch_message_size(row_json_len));
	buf_append(&b->msgs, MSG_PREFIX, strlen(MSG_PREFIX));
	buf_append(&b->msgs, seq, (size_t) seqlen);
	buf_append(&b->msgs, MSG_DATA, strlen(MSG_DATA));
	buf_append(&b->msgs, row_json, row_json_len);
	buf_append(&b->msgs, MSG_SUFFIX, strlen(MSG_SUFFIX));
	b->msg_off[b->nmsg] = start;
	b->msg_len[b->nmsg] = b->msgs.len - start;
	b->lossy[b->nmsg] = lossy;
	b->pos_off[b->nmsg] = b->positions.len;
	b->pos_null[b->nmsg] = (position == NULL);
	if (position != NULL)
		buf_append(&b->positions, position, position_len);
	buf_append(&b->positions, "", 1);
	b->nmsg++;
}

/*
 * batch_body_size: the size of the body carrying messages from..to
 * (inclusive; 0 <= from <= to < nmsg).
 */
size_t
batch_body_size(const Batch *b, int from, int to)
{
	return b->head.len +
		(b->msg_off[to] + b->msg_len[to] - b->msg_off[from]) +
		b->tail.len;
}

/*
 * batch_segments: the three pieces of the body carrying messages from..to.
 * Returns the number of segments (3).
 */
int
batch_segments(const Batch *b, int from, int to, BodySegment seg[3])
{
	seg[0].data = b->head.data;
	seg[0].len = b->head.len;
	seg[1].data = b->msgs.data + b->msg_off[from];
	seg[1].len = b->msg_off[to] + b->msg_len[to] - b->msg_off[from];
	seg[2].data = b->tail.data;
	seg[2].len = b->tail.len;
	return 3;
}

/*
 * batch_position: the position of message i (NULL when the row had none).
 */
const char *
batch_position(const Batch *b, int i)
{
	if (b->pos_null[i])
		return NULL;
	return b->positions.data + b->pos_off[i];
}

/*
 * batch_lossy: how many values were mapped lossily in messages from..to.
 */
int64_t
batch_lossy(const Batch *b, int from, int to)
{
	int64_t		n = 0;

	for (int i = from; i <= to; i++)
		n += b->lossy[i];
	return n;
}

/*
 * batch_clear: drop the messages, keeping head, tail and memory.
 */
void
batch_clear(Batch *b)
{
	b->nmsg = 0;
	buf_reset(&b->msgs);
	buf_reset(&b->positions);
}

/*
 * batch_free: release everything.
 */
void
batch_free(Batch *b)
{
	buf_free(&b->head);
	buf_free(&b->tail);
	buf_free(&b->msgs);
	buf_free(&b->positions);
	free(b->msg_off);
	free(b->msg_len);
	free(b->lossy);
	free(b->pos_off);
	free(b->pos_null);
	memset(b, 0, sizeof(*b));
}
