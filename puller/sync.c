/*-------------------------------------------------------------------------
 *
 * puller/sync.c
 *		pgpull: the "sync" command: one run of an integration.
 *
 * The flow follows the run protocol (README.md, "The run protocol"):
 * connect to the source and the state database, check the extension's
 * version, begin a run, then for each stream: take it (skip it when
 * another puller holds it), read it in chunks (each chunk one COPY in its
 * own read-only repeatable-read transaction on the source), cut the rows
 * into batches, send each batch, and report each accepted batch to the
 * extension, which moves the bookmark.  A batch may span chunks.  A failed
 * stream is recorded and the run goes on with the next; the exit status
 * sums it up.
 *
 * Memory stays bounded by one batch body plus one row.
 *
 * With a Singer target (--target -, --target-command) the rows go out as
 * Singer messages instead (singer.c, target.c): per stream a SCHEMA, a
 * STATE before the first RECORD, a STATE after every --batch-rows records
 * or --batch-bytes bytes of them, and at the end ACTIVATE_VERSION (a
 * full_table stream) and a STATE marking the stream complete.  Each STATE
 * value carries the bookmark entries pgpull.record_emitted returned for
 * every stream sent so far, and sending moves no bookmark: the target's
 * confirmation does.  With --target-command the states the target echoes
 * are confirmed (pgpull.commit_state) as they arrive; with --target - the
 * caller confirms them with "pgpull commit-state".  The target stopping
 * (or failing) fails the run; what it confirmed stays confirmed.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commit.h"
#include "conn.h"
#include "extract.h"
#include "http.h"
#include "log.h"
#include "singer.h"
#include "state.h"
#include "sync.h"
#include "target.h"

#define CHUNK_RETRIES	6		/* re-reads after recovery conflicts in a row */

typedef enum StreamOutcome
{
	STREAM_SUCCEEDED,
	STREAM_FAILED,
	STREAM_SKIPPED
} StreamOutcome;

typedef struct SyncContext
{
	const PullerOptions *o;
	PGconn	   *source;
	PGconn	   *state;
	HttpClient	http;
	Batch		batch;
	int64_t		run_id;
	const StreamInfo *stream;	/* the stream being synced */
	int64_t		batches;		/* accepted in this stream */
	int64_t		rows_loaded;	/* accepted in this stream */
	bool		state_lost;		/* the state connection broke: stop */
	bool		connect_failed; /* a database connection failed */
	bool		unreachable;	/* the destination could not be reached */
	bool		interrupted;
	/* a Singer target */
	bool		singer;
	Target		target;
	bool		target_ready;	/* target is set up (and must be freed) */
	SingerState sstate;
	SingerStream ss;			/* the stream being sent */
	bool		state_last;		/* the last message written is a STATE */
	int64_t		pend_rows;		/* sent since the last STATE */
	int64_t		pend_bytes;
	int64_t		pend_lossy;
	int64_t		echoes;			/* states of this integration the target echoed */
	int64_t		confirmed;		/* bookmarks they moved */
	bool		target_failed;	/* the target stopped reading or failed */
	bool		commit_failed;	/* a state it echoed could not be confirmed */
	bool		foreign_warned;
} SyncContext;

static int	on_accepted(void *arg, int from, int to, size_t bytes, PPError *err);
static int	flush_batch(SyncContext *ctx, PPError *err);
static int	source_exec(PGconn *conn, const char *sql, PPError *err);
static void source_rollback(PGconn *conn);
static int	read_chunk(SyncContext *ctx, const char *query, Buf *last_pos,
					   bool *last_pos_null, int64_t *nrows, int64_t *rows_extracted,
					   PPError *err);
static StreamOutcome sync_stream(SyncContext *ctx, const StreamInfo *s);
static int	singer_checkpoint(SyncContext *ctx, const char *position,
							  bool complete, PPError *err);
static int	singer_row(SyncContext *ctx, const CopyRow *row, const Buf *pos,
					   bool pos_null, PPError *err);
static void on_echo(void *arg, const char *line, size_t len);
static int	singer_finish(SyncContext *ctx, char **run_error);
static int	exit_status_for(const PPError *err);

/*
 * on_accepted: the destination accepted messages from..to of the batch:
 * report them to the extension, which moves the bookmark to the position
 * of the last one.  Returns 0, or -1 with err set.
 */
static int
on_accepted(void *arg, int from, int to, size_t bytes, PPError *err)
{
	SyncContext *ctx = arg;
	int64_t		rows = to - from + 1;
	int64_t		lossy = batch_lossy(&ctx->batch, from, to);

	if (state_record_batch(ctx->state, ctx->run_id, ctx->stream->stream_id,
						   rows, (int64_t) bytes,
						   batch_position(&ctx->batch, to), lossy, err) != 0)
		return -1;
	ctx->batches++;
	ctx->rows_loaded += rows;
	if (lossy > 0)
		runlog_print("INFO", "batch %" PRId64 " accepted: %" PRId64 " %s, %zu %s, %" PRId64 " %s mapped lossily",
					 ctx->batches, rows, pp_plural(rows, "row", "rows"),
					 bytes, pp_plural(bytes, "byte", "bytes"),
					 lossy, pp_plural(lossy, "value", "values"));
	else
		runlog_print("INFO", "batch %" PRId64 " accepted: %" PRId64 " %s, %zu %s",
					 ctx->batches, rows, pp_plural(rows, "row", "rows"),
					 bytes, pp_plural(bytes, "byte", "bytes"));
	return 0;
}

/*
 * flush_batch: send the batch (if it has rows) and empty it.  Returns 0,
 * or -1 with err set.
 */
static int
flush_batch(SyncContext *ctx, PPError *err)
{
	int			rc;

	if (ctx->batch.nmsg == 0)
		return 0;
	rc = http_send_batch(&ctx->http, &ctx->batch, on_accepted, ctx, err);
	batch_clear(&ctx->batch);
	return rc;
}

/*
 * singer_checkpoint: after the rows sent since the last STATE: count them
 * in the run and get the stream's bookmark entry (pgpull.record_emitted),
 * then write ACTIVATE_VERSION (a full_table stream sent to its end) and a
 * STATE, and flush.  position is that of the last row sent in this run,
 * NULL while none was.  Returns 0, or -1 with err set.
 */
static int
singer_checkpoint(SyncContext *ctx, const char *position, bool complete,
				  PPError *err)
{
	const StreamInfo *s = ctx->stream;
	char	   *entry = NULL;
	int			rc;

	if (state_record_emitted(ctx->state, ctx->run_id, s->stream_id, ctx->pend_rows,
							 ctx->pend_bytes, position, ctx->pend_lossy, complete,
							 &entry, err) != 0)
		return -1;
	rc = singer_state_set(&ctx->sstate, s->destination_table, entry, err);
	free(entry);
	if (rc != 0)
		return -1;
	if (ctx->pend_rows > 0)
	{
		ctx->batches++;
		ctx->rows_loaded += ctx->pend_rows;
		if (ctx->pend_lossy > 0)
			runlog_print("INFO", "batch %" PRId64 " sent to the Singer target: %" PRId64 " %s, %" PRId64 " %s, %" PRId64 " %s mapped lossily",
						 ctx->batches, ctx->pend_rows, pp_plural(ctx->pend_rows, "row", "rows"),
						 ctx->pend_bytes, pp_plural(ctx->pend_bytes, "byte", "bytes"),
						 ctx->pend_lossy, pp_plural(ctx->pend_lossy, "value", "values"));
		else
			runlog_print("INFO", "batch %" PRId64 " sent to the Singer target: %" PRId64 " %s, %" PRId64 " %s",
						 ctx->batches, ctx->pend_rows, pp_plural(ctx->pend_rows, "row", "rows"),
						 ctx->pend_bytes, pp_plural(ctx->pend_bytes, "byte", "bytes"));
	}
	ctx->pend_rows = 0;
	ctx->pend_bytes = 0;
	ctx->pend_lossy = 0;
	if (complete && ctx->ss.has_version)
		singer_activate_version(&ctx->target.out, &ctx->ss);
	if (singer_state_write(&ctx->target.out, &ctx->sstate,
						   complete ? NULL : s->destination_table, err) != 0)
		return -1;
	ctx->state_last = true;
	return target_flush(&ctx->target, err);
}

/*
 * singer_row: write a row as a RECORD; a STATE follows every --batch-rows
 * records or --batch-bytes bytes of them.  pos is the row's position.
 * Returns 0, or -1 with err set.
 */
static int
singer_row(SyncContext *ctx, const CopyRow *row, const Buf *pos, bool pos_null,
		   PPError *err)
{
	singer_record(&ctx->target.out, &ctx->ss, row->row_json, row->row_json_len);
	ctx->state_last = false;
	ctx->pend_rows++;
	ctx->pend_bytes += (int64_t) singer_record_size(&ctx->ss, row->row_json_len);
	ctx->pend_lossy += row->lossy;
	if (ctx->pend_rows >= ctx->o->batch_rows || ctx->pend_bytes >= ctx->o->batch_bytes)
		return singer_checkpoint(ctx, pos_null ? NULL : pos->data, false, err);
	if (target_buffer_full(&ctx->target))
		return target_flush(&ctx->target, err);
	return 0;
}

/*
 * on_echo: a line the --target-command target printed: confirm it at once
 * when it is a state of this integration (any run: pgpull.commit_state
 * never moves a bookmark back), skip it otherwise.
 */
static void
on_echo(void *arg, const char *line, size_t len)
{
	SyncContext *ctx = arg;
	int64_t		run_id;
	char	   *other = NULL;
	int			moved = 0;
	PPError		err;

	switch (commit_classify(line, len, ctx->o->integration, &run_id, &other))
	{
		case ECHO_STATE:
			break;
		case ECHO_FOREIGN:
			if (!ctx->foreign_warned)
				runlog("WARNING", "the Singer target printed a state of integration \"%s\": not confirmed", other);
			ctx->foreign_warned = true;
			free(other);
			return;
		default:
			runlog_print("DEBUG", "the Singer target printed a line that is not a pgpull state: skipped");
			return;
	}
	ctx->echoes++;
	if (ctx->state_lost)
		return;
	pp_error_init(&err);
	if (commit_apply(ctx->state, line, len, &moved, &err) != 0)
	{
		runlog("ERROR", "could not confirm a state the Singer target echoed: %s", err.message);
		if (err.detail)
			pp_log_detail("%s", err.detail);
		if (err.kind == PPERR_CONNECT)
			ctx->state_lost = true;
		else
			ctx->commit_failed = true;
	}
	ctx->confirmed += moved;
	pp_error_clear(&err);
}

/*
 * singer_finish: the end of the messages: a last STATE if the last message
 * was not one, then the end of the target (for a child: what it still
 * echoes is confirmed, and its exit status checked), or its end at once
 * when interrupted.  Sets *run_error (allocated) when the target failed.
 * Returns 0, or -1 when the target failed.
 */
static int
singer_finish(SyncContext *ctx, char **run_error)
{
	PPError		err;
	int			rc = 0;

	pp_error_init(&err);
	if (ctx->interrupted || pp_interrupted)
	{
		target_kill(&ctx->target);
		return 0;
	}
	if (!ctx->target.broken && ctx->sstate.nstreams > 0 && !ctx->state_last)
	{
		if (singer_state_write(&ctx->target.out, &ctx->sstate, NULL, &err) == 0)
			ctx->state_last = true;
		else
		{
			runlog_error(&err);
			pp_error_clear(&err);
		}
	}
	if (target_finish(&ctx->target, &err) != 0)
	{
		if (err.kind == PPERR_INTERRUPTED)
			ctx->interrupted = true;
		else
		{
			runlog("ERROR", "%s", err.message);
			if (err.detail)
				pp_log_detail("%s", err.detail);
			ctx->target_failed = true;
			if (*run_error == NULL)
				*run_error = pp_strdup(err.message);
		}
		rc = -1;
	}
	else if (ctx->o->target_command && ctx->echoes == 0 && ctx->sstate.nstreams > 0)
	{
		runlog("WARNING", "the Singer target confirmed nothing: it printed no state, so no bookmark moved");
		pp_log_hint("A Singer target prints the latest state it received on its standard output once it has stored the records before it.  Check that the target echoes state.");
	}
	else if (ctx->o->target_command && ctx->echoes > 0)
		runlog_print("INFO", "the Singer target echoed %" PRId64 " %s: %" PRId64 " %s moved",
					 ctx->echoes, pp_plural(ctx->echoes, "state", "states"),
					 ctx->confirmed, pp_plural(ctx->confirmed, "bookmark", "bookmarks"));
	pp_error_clear(&err);
	return rc;
}

/*
 * source_exec: run a command without result rows on the source.  Returns
 * 0, or -1 with err set.
 */
static int
source_exec(PGconn *conn, const char *sql, PPError *err)
{
	PGresult   *res = PQexec(conn, sql);
	int			rc = 0;

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		pp_error_from_pg(err, PPERR_STREAM, conn, res, NULL);
		if (pp_interrupted)
			err->kind = PPERR_INTERRUPTED;
		rc = -1;
	}
	if (res)
		PQclear(res);
	return rc;
}

/*
 * source_rollback: end whatever transaction is open on the source.
 */
static void
source_rollback(PGconn *conn)
{
	PGTransactionStatusType ts = PQtransactionStatus(conn);

	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
	{
		PGresult   *res = PQexec(conn, "ROLLBACK");

		if (res)
			PQclear(res);
	}
}

/*
 * read_chunk: run one chunk's query as COPY in a read-only repeatable read
 * transaction on the source and add its rows to the batch, sending the
 * batch whenever it is full.  Sets *nrows to the rows read and keeps the
 * last row's position in last_pos.  Returns 0, or -1 with err set (the
 * source transaction is rolled back).
 */
static int
read_chunk(SyncContext *ctx, const char *query, Buf *last_pos,
		   bool *last_pos_null, int64_t *nrows, int64_t *rows_extracted,
		   PPError *err)
{
	CopyReader	reader;
	CopyRow		row;
	int			rc;

	*nrows = 0;
	if (source_exec(ctx->source, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err) != 0)
	{
		source_rollback(ctx->source);
		return -1;
	}
	if (copy_start(&reader, ctx->source, query, err) != 0)
	{
		copy_finish(&reader);
		source_rollback(ctx->source);
		return -1;
	}
	while ((rc = copy_next(&reader, &row, err)) == 1)
	{
		bool		flush;

		if (pp_interrupted)
		{
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while reading rows");
			rc = -1;
			break;
		}
		(*nrows)++;
		(*rows_extracted)++;
		buf_reset(last_pos);
		*last_pos_null = (row.position == NULL);
		if (row.position)
			buf_append(last_pos, row.position, row.position_len);

		if (ctx->singer)
		{
			if (singer_row(ctx, &row, last_pos, *last_pos_null, err) != 0)
			{
				rc = -1;
				break;
			}
			continue;
		}
		if (batch_check_row(&ctx->batch, row.row_json_len, &flush) != 0)
		{
			pp_error_set(err, PPERR_STREAM,
						 "row at position %s of stream \"%s\" is too large for a batch",
						 *last_pos_null ? "(none)" : last_pos->data,
						 ctx->stream->destination_table);
			pp_error_detail(err, "Its message alone makes a request body of %zu bytes; --batch-bytes is %ld.",
							ctx->batch.head.len + batch_message_size(row.row_json_len) + ctx->batch.tail.len,
							ctx->o->batch_bytes);
			pp_error_hint(err, "Raise --batch-bytes (at most %d), or leave the large column out of the stream.",
						  BATCH_BYTES_MAX);
			rc = -1;
			break;
		}
		if (flush && flush_batch(ctx, err) != 0)
		{
			rc = -1;
			break;
		}
		batch_add(&ctx->batch, row.row_json, row.row_json_len,
				  row.position, row.position_len, row.lossy);
	}
	if (rc < 0)
	{
		copy_abort(&reader);
		source_rollback(ctx->source);
		return -1;
	}
	copy_finish(&reader);
	if (source_exec(ctx->source, "COMMIT", err) != 0)
	{
		source_rollback(ctx->source);
		return -1;
	}
	return 0;
}

/*
 * sync_stream: sync one stream, record its outcome and return it.  Sets
 * the context's flags that end the run early (state connection lost,
 * destination unreachable, interrupted).
 */
static StreamOutcome
sync_stream(SyncContext *ctx, const StreamInfo *s)
{
	StreamPlan	plan;
	PPError		err;
	Buf			last_pos;
	bool		last_pos_null = true;
	char	   *after = NULL;
	char	   *query = NULL;
	int64_t		rows_extracted = 0;
	int			chunk_rows;
	int			chunk = 0;
	int			conflicts = 0;
	char	   *text;
	StreamOutcome outcome;

	pp_error_init(&err);
	buf_init(&last_pos);
	ctx->stream = s;
	ctx->batches = 0;
	ctx->rows_loaded = 0;
	ctx->pend_rows = 0;
	ctx->pend_bytes = 0;
	ctx->pend_lossy = 0;
	memset(&ctx->ss, 0, sizeof(ctx->ss));
	runlog_set_stream(s->destination_table, s->stream_id);

	/* a dropped relation fails here; end_stream records it all the same */
	if (state_take_stream(ctx->state, ctx->run_id, s->stream_id, &plan, &err) != 0)
		goto failed;
	if (!plan.taken)
	{
		runlog_print("INFO", "stream is being synced by another puller, skipped");
		state_free_plan(&plan);
		return STREAM_SKIPPED;
	}
	chunk_rows = plan.chunked ? ctx->o->chunk_rows : 0;

	if (ctx->singer)
	{
		/* SCHEMA, then a STATE before the first RECORD */
		if (singer_stream_start(&ctx->ss, s->destination_table, plan.has_table_version,
								plan.table_version, &err) != 0 ||
			singer_schema(&ctx->target.out, &ctx->ss, plan.json_schema, plan.key_names,
						  plan.bookmark_properties, &err) != 0)
			goto failed;
		ctx->state_last = false;
		if (singer_checkpoint(ctx, NULL, false, &err) != 0)
			goto failed;
	}
	else if (batch_start_stream(&ctx->batch, s->destination_table, plan.json_schema,
								plan.key_names, &err) != 0)
		goto failed;

	if (PQstatus(ctx->source) != CONNECTION_OK &&
		!conn_reset(ctx->source, CONN_SOURCE, &err))
		goto failed;

	for (;;)
	{
		int64_t		nrows = 0;

		free(query);
		query = NULL;
		if (state_extraction_query(ctx->state, ctx->run_id, s->stream_id, after,
								   chunk_rows, &query, &err) != 0)
			goto failed;
		chunk++;
		runlog_print("DEBUG", "chunk %d%s%s: COPY (%s) TO STDOUT (FORMAT binary)", chunk,
					 after ? " after position " : "", after ? after : "", query);
		if (ctx->singer)
			singer_set_time_extracted(&ctx->ss);
		if (read_chunk(ctx, query, &last_pos, &last_pos_null, &nrows,
					   &rows_extracted, &err) != 0)
		{
			/*
			 * A recovery conflict on a standby cancels one query, or when it
			 * cannot, terminates the session: read on after the last row
			 * read, on a new connection if need be (a stream read in one
			 * pass starts over, which sends some rows twice, as
			 * at-least-once allows).
			 */
			bool		lost = PQstatus(ctx->source) != CONNECTION_OK;

			if (nrows > 0)
				conflicts = 0;	/* counted in a row: this one made progress */
			if ((strcmp(err.sqlstate, "40001") == 0 || lost) &&
				++conflicts <= CHUNK_RETRIES && !pp_interrupted)
			{
				double		delay = 0.5 * (1 << (conflicts - 1));

				runlog("WARNING", "%s; reading on from the last row read in %.1f s (retry %d of %d)",
					   err.message, delay, conflicts, CHUNK_RETRIES);
				if (chunk_rows > 0 && nrows > 0 && !last_pos_null)
				{
					free(after);
					after = pp_strdup(last_pos.data);
				}
				pp_error_clear(&err);
				if (conn_sleep(delay))
				{
					if (lost && !conn_reset(ctx->source, CONN_SOURCE, &err))
						goto failed;
					continue;
				}
				pp_error_set(&err, PPERR_INTERRUPTED, "interrupted while waiting to read on");
			}
			goto failed;
		}
		if (chunk_rows == 0 || nrows < chunk_rows)
			break;
		if (last_pos_null)
		{
			pp_error_set(&err, PPERR_STREAM, "the extraction query of a chunked stream returned a row without a position");
			goto failed;
		}
		if (after != NULL && strcmp(after, last_pos.data) == 0)
		{
			pp_error_set(&err, PPERR_STREAM, "extraction made no progress past position %s", after);
			goto failed;
		}
		free(after);
		after = pp_strdup(last_pos.data);
	}
	if (ctx->singer)
	{
		if (singer_checkpoint(ctx, last_pos_null ? NULL : last_pos.data, true, &err) != 0)
			goto failed;
	}
	else if (flush_batch(ctx, &err) != 0)
		goto failed;

	if ((ctx->singer ?
		 state_end_singer_stream(ctx->state, ctx->run_id, s->stream_id, "succeeded",
								 rows_extracted, NULL, &err) :
		 state_end_stream(ctx->state, ctx->run_id, s->stream_id, "succeeded",
						  rows_extracted, NULL, &err)) != 0)
	{
		runlog_error(&err);
		if (err.kind == PPERR_CONNECT)
			ctx->state_lost = true;
		pp_error_clear(&err);
		outcome = STREAM_FAILED;
		goto done;
	}
	if (ctx->singer)
		runlog_print("INFO", "stream sent: %" PRId64 " %s extracted and sent to the Singer target in %" PRId64 " %s",
					 rows_extracted, pp_plural(rows_extracted, "row", "rows"),
					 ctx->batches, pp_plural(ctx->batches, "batch", "batches"));
	else
		runlog_print("INFO", "stream synced: %" PRId64 " %s extracted, %" PRId64 " loaded, %" PRId64 " %s",
					 rows_extracted, pp_plural(rows_extracted, "row", "rows"), ctx->rows_loaded,
					 ctx->batches, pp_plural(ctx->batches, "batch", "batches"));
	outcome = STREAM_SUCCEEDED;
	goto done;

failed:
	batch_clear(&ctx->batch);
	if (err.kind == PPERR_DESTINATION)
		ctx->unreachable = true;
	if (err.kind == PPERR_INTERRUPTED || pp_interrupted)
		ctx->interrupted = true;
	if (err.kind == PPERR_CONNECT)
	{
		if (PQstatus(ctx->state) != CONNECTION_OK)
			ctx->state_lost = true;
		else
			ctx->connect_failed = true;
	}
	if (ctx->singer && ctx->target.broken)
		ctx->target_failed = true;
	runlog_error(&err);

	/* the rows the target got since the last STATE: it may confirm them */
	if (ctx->singer && ctx->pend_rows > 0 && !ctx->target_failed && !ctx->state_lost &&
		!ctx->interrupted)
	{
		PPError		err2;

		pp_error_init(&err2);
		if (singer_checkpoint(ctx, last_pos_null ? NULL : last_pos.data, false, &err2) != 0)
		{
			runlog_error(&err2);
			if (err2.kind == PPERR_CONNECT)
				ctx->state_lost = true;
			if (ctx->target.broken)
				ctx->target_failed = true;
		}
		pp_error_clear(&err2);
	}
	if (!ctx->state_lost)
	{
		PPError		err2;

		pp_error_init(&err2);
		text = pp_error_text(&err);
		if ((ctx->singer ?
			 state_end_singer_stream(ctx->state, ctx->run_id, s->stream_id, "failed",
									 rows_extracted, text, &err2) :
			 state_end_stream(ctx->state, ctx->run_id, s->stream_id, "failed",
							  rows_extracted, text, &err2)) != 0)
		{
			runlog_error(&err2);
			if (err2.kind == PPERR_CONNECT)
				ctx->state_lost = true;
		}
		free(text);
		pp_error_clear(&err2);
	}
	pp_error_clear(&err);
	outcome = STREAM_FAILED;

done:
	free(query);
	free(after);
	buf_free(&last_pos);
	state_free_plan(&plan);
	singer_stream_free(&ctx->ss);
	return outcome;
}

/*
 * exit_status_for: the exit status for an error before or outside streams.
 */
static int
exit_status_for(const PPError *err)
{
	switch (err->kind)
	{
		case PPERR_CONFIG:
			return EXIT_USAGE;
		case PPERR_CONNECT:
		case PPERR_DESTINATION:
			return EXIT_CONNECT;
		default:
			return EXIT_STREAM_FAILED;
	}
}

/*
 * sync_run: run "pgpull sync" with checked options.  Returns the exit
 * status: 0 every stream synced (or skipped), 1 some stream failed, 2 a
 * configuration error, 3 a database or the destination could not be
 * reached.
 */
int
sync_run(PullerOptions *o)
{
	SyncContext ctx;
	PPError		err;
	StreamInfo *streams = NULL;
	int			nstreams = 0;
	int			n_ok = 0;
	int			n_failed = 0;
	int			n_skipped = 0;
	int			status = EXIT_OK;
	const char *run_status;
	char	   *run_error = NULL;
	bool		http_ready = false;
	bool		target_not_started = false;

	memset(&ctx, 0, sizeof(ctx));
	ctx.o = o;
	ctx.singer = o->target_kind == TARGET_SINGER;
	pp_error_init(&err);
	runlog_set_verbose(o->verbose);
	conn_setup_signals();
	batch_init(&ctx.batch, o->batch_rows, (size_t) o->batch_bytes);

	if (!ctx.singer)
	{
		if (options_load_token(o, &err) != 0)
			goto fail;
		http_ready = true;		/* http_cleanup undoes a partial http_init */
		if (http_init(&ctx.http, o, &err) != 0)
			goto fail;
	}

	ctx.state = conn_open(o->state ? o->state : o->source, CONN_STATE, &err);
	if (ctx.state == NULL)
		goto fail;
	ctx.source = conn_open(o->source, CONN_SOURCE, &err);
	if (ctx.source == NULL)
		goto fail;
	if (state_version(ctx.state, "state", &err) != 0 ||
		state_version(ctx.source, "source", &err) != 0)
		goto fail;

	if (state_begin_run(ctx.state, o->integration, PGPULL_VERSION,
						options_target_kind_name(o), &ctx.run_id,
						&streams, &nstreams, &err) != 0)
	{
		if (err.kind == PPERR_STREAM)
			err.kind = PPERR_CONFIG;
		if (strcmp(err.sqlstate, "25006") == 0 && err.hint == NULL)
			pp_error_hint(&err, "The catalog is written on the state database: when --source is a standby, give its primary with --state.");
		goto fail;
	}
	runlog_open(ctx.state, ctx.run_id);
	if (nstreams == 0)
		runlog("WARNING", "integration \"%s\" tracks no streams", o->integration);
	else
		runlog_print("INFO", "run %" PRId64 " started: integration \"%s\", %d %s",
					 ctx.run_id, o->integration, nstreams, pp_plural(nstreams, "stream", "streams"));

	if (ctx.singer)
	{
		singer_state_init(&ctx.sstate, o->integration, ctx.run_id);
		if (o->target_command == NULL)
			target_init_stdout(&ctx.target);
		else if (target_start(&ctx.target, o->target_command, on_echo, &ctx, &err) != 0)
		{
			runlog_error(&err);
			run_error = pp_strdup(err.message);
			pp_error_clear(&err);
			ctx.target_failed = true;
			target_not_started = true;
		}
		else
			runlog_print("DEBUG", "Singer target started: process %d", (int) ctx.target.pid);
		ctx.target_ready = true;
	}

	for (int i = 0; i < nstreams; i++)
	{
		if (ctx.state_lost || ctx.interrupted || ctx.unreachable || ctx.target_failed)
		{
			runlog_set_stream(streams[i].destination_table, streams[i].stream_id);
			runlog_print("WARNING", "stream not synced: %s",
						 ctx.state_lost ? "the connection to the state database was lost" :
						 ctx.interrupted ? "interrupted" :
						 ctx.target_failed ? (target_not_started ?
											  "the Singer target could not be started" :
											  "the Singer target stopped reading") :
						 "the destination could not be reached");
			n_failed++;
			continue;
		}
		switch (sync_stream(&ctx, &streams[i]))
		{
			case STREAM_SUCCEEDED:
				n_ok++;
				break;
			case STREAM_FAILED:
				n_failed++;
				break;
			case STREAM_SKIPPED:
				n_skipped++;
				break;
		}
	}
	runlog_set_stream(NULL, 0);
	if (ctx.singer && !target_not_started)
		(void) singer_finish(&ctx, &run_error);
	if (ctx.interrupted || pp_interrupted)
		ctx.interrupted = true;

	if (ctx.interrupted)
	{
		free(run_error);
		run_error = pp_strdup("interrupted by a signal");
	}
	else if (n_failed > 0 && run_error == NULL)
		run_error = pp_psprintf("%d of %d streams failed", n_failed, nstreams);
	else if (ctx.commit_failed && run_error == NULL)
		run_error = pp_strdup("a state the Singer target echoed could not be confirmed");
	run_status = n_failed > 0 || ctx.interrupted || ctx.target_failed || ctx.commit_failed
		? "failed" : "succeeded";
	runlog_print("INFO", "run %" PRId64 " %s: %d synced, %d failed, %d skipped",
				 ctx.run_id, run_status, n_ok, n_failed, n_skipped);
	if (!ctx.state_lost &&
		state_end_run(ctx.state, ctx.run_id, run_status, run_error, &err) != 0)
	{
		runlog_error(&err);
		if (err.kind == PPERR_CONNECT)
			ctx.state_lost = true;
		pp_error_clear(&err);
		if (n_failed == 0)
			n_failed = 1;
	}
	runlog_close();

	if (ctx.state_lost || ctx.connect_failed || ctx.unreachable)
		status = EXIT_CONNECT;
	else if (n_failed > 0 || ctx.interrupted || ctx.target_failed || ctx.commit_failed)
		status = EXIT_STREAM_FAILED;
	else
		status = EXIT_OK;
	goto done;

fail:
	pp_error_report(&err);
	status = exit_status_for(&err);

done:
	runlog_close();
	free(run_error);
	pp_error_clear(&err);
	state_free_streams(streams, nstreams);
	batch_free(&ctx.batch);
	if (ctx.target_ready)
		target_free(&ctx.target);
	if (ctx.singer)
		singer_state_free(&ctx.sstate);
	conn_close(ctx.source, CONN_SOURCE);
	conn_close(ctx.state, CONN_STATE);
	if (http_ready)
		http_cleanup(&ctx.http);
	return status;
}
