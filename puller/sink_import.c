/*-------------------------------------------------------------------------
 *
 * puller/sink_import.c
 *		pgpull: the Import API sink: rows go out in batches over HTTP.
 *
 * Rows are cut into batches (batch.c) by --batch-rows and --batch-bytes,
 * and each batch is POSTed to the destination (http.c).  A row that would
 * take the batch over a limit is held back and add_row answers SINK_FULL:
 * flush sends the batch, then starts the next one with that row.  Each run
 * of messages the destination accepts is reported to the extension
 * (pgpull.record_batch), which moves the bookmark; a batch may span
 * chunks.  A stream's outcome goes to pgpull.end_stream.
 *
 * The token comes from the PGPULL_TOKEN environment variable or from the
 * first line of --token-file, never from the command line, and is never
 * printed; once it is in the client's header (http.c), this copy is wiped.
 *
 * Memory stays bounded by one batch body plus one row.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "http.h"
#include "log.h"
#include "sink.h"

typedef struct ImportSink
{
	Sink		sink;
	HttpClient	http;
	Batch		batch;
	SinkRun    *run;
	const StreamInfo *stream;	/* the stream being sent */
	CopyRow		held;			/* the next batch's first row, if row_json */
	Buf			held_data;		/* its JSON and position */
	int64_t		batches;		/* accepted in this stream */
	int64_t		rows_loaded;	/* accepted in this stream */
} ImportSink;

static int	import_begin_run(Sink *sink, SinkRun *run, PPError *err);
static int	import_begin_stream(Sink *sink, const StreamInfo *s,
								const StreamPlan *plan, PPError *err);
static int	import_add_row(Sink *sink, const CopyRow *row, PPError *err);
static int	import_flush(Sink *sink, PPError *err);
static int	import_end_rows(Sink *sink, bool complete, PPError *err);
static int	import_end_stream(Sink *sink, const StreamInfo *s,
							  int64_t rows_extracted, const char *error,
							  PPError *err);
static void import_free(Sink *sink);
static char *load_token(const PullerOptions *o, PPError *err);
static void hold_row(ImportSink *is, const CopyRow *row);
static int	on_accepted(void *arg, int from, int to, size_t bytes, PPError *err);

static const SinkMethods import_methods = {
	.begin_run = import_begin_run,
	.begin_stream = import_begin_stream,
	.add_row = import_add_row,
	.flush = import_flush,
	.end_rows = import_end_rows,
	.end_stream = import_end_stream,
	.free = import_free
};

/*
 * import_sink_create: read the destination token and set up the HTTP
 * client for the target of o.  Returns the sink, or NULL with err set
 * (PPERR_CONFIG).
 */
Sink *
import_sink_create(const PullerOptions *o, PPError *err)
{
	ImportSink *is;
	char	   *token = load_token(o, err);
	int			rc;

	if (token == NULL)
		return NULL;
	is = pp_malloc(sizeof(ImportSink));
	memset(is, 0, sizeof(ImportSink));
	is->sink.methods = &import_methods;
	batch_init(&is->batch, o->batch_rows, (size_t) o->batch_bytes);
	buf_init(&is->held_data);
	rc = http_init(&is->http, o, token, err);
	explicit_bzero(token, strlen(token));
	free(token);
	if (rc != 0)
	{
		import_free(&is->sink);	/* http_cleanup undoes a partial http_init */
		return NULL;
	}
	return &is->sink;
}

/*
 * load_token: the destination token, from the first line of --token-file
 * (line ending stripped) or else PGPULL_TOKEN.  Returns it (the caller
 * wipes and frees it), or NULL with err set (PPERR_CONFIG).  The token
 * itself is never printed.
 */
static char *
load_token(const PullerOptions *o, PPError *err)
{
	const char *env = getenv("PGPULL_TOKEN");
	Buf			b;
	const char *p;

	buf_init(&b);
	if (o->token_file)
	{
		FILE	   *f = fopen(o->token_file, "r");
		struct stat st;
		int			ch;

		if (f == NULL)
		{
			pp_error_set(err, PPERR_CONFIG, "could not open token file \"%s\": %s", o->token_file, strerror(errno));
			return NULL;
		}
		if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		{
			pp_log_warning("token file \"%s\" is readable by other users", o->token_file);
			pp_log_hint("Restrict it with chmod 600.");
		}
		while ((ch = fgetc(f)) != EOF && ch != '\n')
		{
			char		cc = (char) ch;

			buf_append(&b, &cc, 1);
		}
		if (ferror(f))
		{
			pp_error_set(err, PPERR_CONFIG, "could not read token file \"%s\": %s", o->token_file, strerror(errno));
			fclose(f);
			buf_free(&b);
			return NULL;
		}
		fclose(f);
		if (b.len > 0 && b.data[b.len - 1] == '\r')
			b.data[--b.len] = '\0';
		if (b.len == 0)
		{
			pp_error_set(err, PPERR_CONFIG, "token file \"%s\" is empty", o->token_file);
			buf_free(&b);
			return NULL;
		}
	}
	else if (env != NULL && env[0] != '\0')
		buf_append_str(&b, env);
	else
	{
		pp_error_set(err, PPERR_CONFIG, "no destination token");
		pp_error_hint(err, "Set PGPULL_TOKEN, or name a file holding the token with --token-file.");
		return NULL;
	}
	for (p = b.data; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
		{
			pp_error_set(err, PPERR_CONFIG, "the destination token contains control characters");
			explicit_bzero(b.data, b.len);
			buf_free(&b);
			return NULL;
		}
	}
	return b.data;
}

/*
 * import_begin_run: accepted batches are recorded in this run.
 */
static int
import_begin_run(Sink *sink, SinkRun *run, PPError *err)
{
	((ImportSink *) sink)->run = run;
	return 0;
}

/*
 * import_begin_stream: batches of the stream's destination table.
 */
static int
import_begin_stream(Sink *sink, const StreamInfo *s, const StreamPlan *plan,
					PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	is->stream = s;
	is->batches = 0;
	is->rows_loaded = 0;
	return batch_start_stream(&is->batch, s->destination_table, plan->json_schema,
							  plan->key_names, err);
}

/*
 * import_add_row: add the row to the batch, or hold it back for the next
 * one (SINK_FULL) when the batch must be sent first.  A row too large for
 * any batch fails the stream.
 */
static int
import_add_row(Sink *sink, const CopyRow *row, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;
	bool		full;

	if (batch_check_row(&is->batch, row->row_json_len, &full) != 0)
	{
		char	   *position = row->position ?
			pp_strndup(row->position, row->position_len) : NULL;

		pp_error_set(err, PPERR_STREAM,
					 "row at position %s of stream \"%s\" is too large for a batch",
					 position ? position : "(none)", is->stream->destination_table);
		pp_error_detail(err, "Its message alone makes a request body of %zu bytes; --batch-bytes is %zu.",
						is->batch.head.len + batch_message_size(row->row_json_len) + is->batch.tail.len,
						is->batch.max_bytes);
		pp_error_hint(err, "Raise --batch-bytes (at most %d), or leave the large column out of the stream.",
					  BATCH_BYTES_MAX);
		free(position);
		return -1;
	}
	if (full)
	{
		hold_row(is, row);
		return SINK_FULL;
	}
	batch_add(&is->batch, row->row_json, row->row_json_len,
			  row->position, row->position_len, row->lossy);
	return 0;
}

/*
 * hold_row: keep a copy of the row for the next batch (the row's own
 * memory is gone with the next row read).
 */
static void
hold_row(ImportSink *is, const CopyRow *row)
{
	buf_reset(&is->held_data);
	buf_append(&is->held_data, row->row_json, row->row_json_len);
	if (row->position)
		buf_append(&is->held_data, row->position, row->position_len);
	is->held = *row;
	is->held.row_json = is->held_data.data;
	if (row->position)
		is->held.position = is->held_data.data + row->row_json_len;
}

/*
 * import_flush: send the batch (if it has rows) and empty it, then start
 * the next one with the row held back.
 */
static int
import_flush(Sink *sink, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	if (is->batch.nmsg > 0)
	{
		int			rc = http_send_batch(&is->http, &is->batch, on_accepted, is, err);

		batch_clear(&is->batch);
		if (rc != 0)
		{
			if (err->kind == PPERR_DESTINATION)
				is->sink.down = "the destination could not be reached";
			return -1;
		}
	}
	if (is->held.row_json != NULL)
	{
		batch_add(&is->batch, is->held.row_json, is->held.row_json_len,
				  is->held.position, is->held.position_len, is->held.lossy);
		is->held.row_json = NULL;
	}
	return 0;
}

/*
 * import_end_rows: send the last batch of a complete stream; for a stream
 * that failed, drop what was not sent (the next run sends it again).
 */
static int
import_end_rows(Sink *sink, bool complete, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	if (complete)
		return import_flush(sink, err);
	batch_clear(&is->batch);
	is->held.row_json = NULL;
	return 0;
}

/*
 * import_end_stream: record the stream's outcome (pgpull.end_stream).
 */
static int
import_end_stream(Sink *sink, const StreamInfo *s, int64_t rows_extracted,
				  const char *error, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	if (state_end_stream(is->run->state, is->run->run_id, s->stream_id,
						 error ? "failed" : "succeeded", rows_extracted, error, err) != 0)
		return -1;
	if (error == NULL)
		runlog_print("INFO", "stream synced: %" PRId64 " %s extracted, %" PRId64 " loaded, %" PRId64 " %s",
					 rows_extracted, pp_plural(rows_extracted, "row", "rows"), is->rows_loaded,
					 is->batches, pp_plural(is->batches, "batch", "batches"));
	return 0;
}

/*
 * import_free: release the client (wiping the token) and the batch.
 */
static void
import_free(Sink *sink)
{
	ImportSink *is = (ImportSink *) sink;

	http_cleanup(&is->http);
	batch_free(&is->batch);
	buf_free(&is->held_data);
	free(is);
}

/*
 * on_accepted: the destination accepted messages from..to of the batch:
 * report them to the extension, which moves the bookmark to the position
 * of the last one.  Returns 0, or -1 with err set.
 */
static int
on_accepted(void *arg, int from, int to, size_t bytes, PPError *err)
{
	ImportSink *is = arg;
	int64_t		rows = to - from + 1;
	int64_t		lossy = batch_lossy(&is->batch, from, to);

	if (state_record_batch(is->run->state, is->run->run_id, is->stream->stream_id,
						   rows, (int64_t) bytes,
						   batch_position(&is->batch, to), lossy, err) != 0)
		return -1;
	is->batches++;
	is->rows_loaded += rows;
	runlog_batch(is->batches, "accepted", rows, (int64_t) bytes, lossy);
	return 0;
}
