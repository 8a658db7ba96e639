/*-------------------------------------------------------------------------
 *
 * puller/sync.c
 *		pgpull: the "sync" command: one run of an integration.
 *
 * The flow follows the run protocol (README.md, "The run protocol"):
 * connect to the source and the state database, check the extension's
 * version and that both reach one database (source.c), begin a run, warn
 * about a standby source's settings, record at once the streams with nothing
 * new (probe.c), then for each other stream: take it (skip it when
 * another puller holds it), read it in chunks (each chunk one COPY in its
 * own read-only repeatable-read transaction on the source) and hand its
 * rows to the sending thread (sender.c) as they come, then end it.  The
 * sink (sink.h), driven by that thread, takes the rows to the destination,
 * Import API batches or Singer messages, and records what the destination
 * took; when it answers that it is full, it is flushed at once.  Reading
 * never waits for the destination: rows the sink has not caught up with
 * wait in memory or temporary files until the chunk is committed, and
 * only between chunks does reading wait for the sink to catch up, so a slow
 * destination holds no snapshot and no lock on the source.  A failed
 * stream is recorded and the run goes on with the next; the exit status
 * sums it up.
 *
 * With --all-databases, databases.c runs sync_database once per database
 * with one sink for them all, and finishes that sink itself.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "databases.h"
#include "extract.h"
#include "jobs.h"
#include "log.h"
#include "logical.h"
#include "metrics.h"
#include "probe.h"
#include "progress.h"
#include "sender.h"
#include "sink.h"
#include "source.h"
#include "state.h"
#include "sync.h"

#define CHUNK_RETRIES	6		/* re-reads after recovery conflicts in a row */

typedef struct SyncContext
{
	const PullerOptions *o;
	PGconn	   *source;
	SinkRun		run;			/* the state connection and run, shared with
								 * the sink */
	Sink	   *sink;
	Sender		sender;			/* the sending thread */
	bool		connect_failed; /* a database connection failed */
	bool		unreachable;	/* the destination could not be reached */
	bool		interrupted;
	PlanStream *estimates;		/* the progress line's (pgpull.plan), or
								 * NULL */
	int			nestimates;
	LogicalRun *logical;		/* the log_based streams' slot, or NULL */
	PGconn	   *primary;		/* log_based copies when the source is a
								 * standby, or NULL */
	int64_t		chunk_sequence; /* a log_based copy chunk's sequence, or 0 */
	int			source_standby; /* whether the source is a standby: -1 not
								 * asked yet (source_in_recovery), 0, 1 */
} SyncContext;

static int	source_exec(PGconn *conn, const char *sql, PPError *err);
static void source_rollback(PGconn *conn);
static int	read_chunk(SyncContext *ctx, PGconn *source, const char *query, Buf *last_pos,
					   bool *last_pos_null, int64_t *nrows, int64_t *rows_extracted,
					   PPError *err);
static void end_error(SyncContext *ctx, PPError *err);
static bool run_stopping(const SyncContext *ctx);
static StreamInfo *probe_streams(SyncContext *ctx, StreamInfo *streams, int nstreams,
								 int *ntodo, int *n_unchanged);
static StreamOutcome sync_stream(SyncContext *ctx, const StreamInfo *s);
static int	exit_status_for(const PPError *err);
static int64_t estimated_rows(const SyncContext *ctx, int64_t stream_id);
static int	dry_run(SyncContext *ctx);
static StreamInfo *probe_apart(SyncContext *ctx, StreamInfo *streams, StreamInfo *todo,
							   int *ntodo, int *n_unchanged);
static StreamInfo *log_streams_apart(SyncContext *ctx, StreamInfo *streams, int nstreams,
									 StreamInfo *todo, int *ntodo, int *n_failed,
									 int *n_skipped);

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
 * transaction on the source, hand its rows to the sending thread as they
 * come (sender_add, which never waits on the destination), then commit.
 * Sets *nrows to the rows read and keeps the last row's position in
 * last_pos.  Returns 0, or -1 with err set (the source transaction is
 * rolled back; the rows of the chunk the sender holds back stay there, for
 * the caller to send, sender_end_chunk, or drop, sender_drop_chunk); also
 * when the sink failed (its error).
 */
static int
read_chunk(SyncContext *ctx, PGconn *source, const char *query, Buf *last_pos,
		   bool *last_pos_null, int64_t *nrows, int64_t *rows_extracted,
		   PPError *err)
{
	CopyReader	reader;
	CopyRow		row;
	int			rc;

	*nrows = 0;
	if (source_exec(source, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err) != 0)
	{
		source_rollback(source);
		return -1;
	}
	if (copy_start(&reader, source, query, err) != 0)
	{
		copy_finish(&reader);
		source_rollback(source);
		return -1;
	}
	while ((rc = copy_next(&reader, &row, err)) == 1)
	{
		if (pp_interrupted)
		{
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while reading rows");
			rc = -1;
			break;
		}
		row.sequence = ctx->chunk_sequence;
		if (sender_add(&ctx->sender, &row, err) != 0)
		{
			rc = -1;
			break;
		}
		(*nrows)++;
		(*rows_extracted)++;
		progress_rows(1, row.row_json_len);
		buf_reset(last_pos);
		*last_pos_null = (row.position == NULL);
		if (row.position)
			buf_append(last_pos, row.position, row.position_len);
	}
	if (rc < 0)
	{
		copy_abort(&reader);
		source_rollback(source);
		return -1;
	}
	copy_finish(&reader);
	if (source_exec(source, "COMMIT", err) != 0)
	{
		source_rollback(source);
		return -1;
	}
	return 0;
}

/*
 * end_error: an error met while ending a stream or the run: log it; a
 * broken state connection ends the run.
 */
static void
end_error(SyncContext *ctx, PPError *err)
{
	runlog_error(err);
	if (err->kind == PPERR_CONNECT)
		ctx->run.state_lost = true;
	pp_error_clear(err);
}

/*
 * run_stopping: whether the run is ending early (state connection lost,
 * interrupted, destination unreachable or down): no more stream is taken.
 */
static bool
run_stopping(const SyncContext *ctx)
{
	return ctx->run.state_lost || ctx->interrupted || ctx->unreachable ||
		ctx->sink->down != NULL;
}

/*
 * sync_stream: sync one stream, record its outcome and return it.  Sets
 * the context's flags that end the run early (state connection lost,
 * destination unreachable, interrupted).
 */
static StreamOutcome
sync_stream(SyncContext *ctx, const StreamInfo *s)
{
	Sink	   *sink = ctx->sink;
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
	double		started = 0;
	double		room_wait = 0;
	bool		log_copy = logical_is_log(s);
	PGconn	   *source = ctx->source;

	pp_error_init(&err);
	buf_init(&last_pos);
	runlog_set_stream(s->destination_table, s->stream_id);

	/* a dropped relation fails here; end_stream records it all the same */
	if (jobs_take(&ctx->run, ctx->o, s->stream_id, &plan, &err) != 0)
		goto failed;
	if (!plan.taken)
	{
		runlog_print("INFO", "stream is being synced by another puller, skipped");
		state_free_plan(&plan);
		return STREAM_SKIPPED;
	}
	chunk_rows = plan.chunked ? ctx->o->chunk_rows : 0;
	/* a key range of the stream: the estimate of the whole does not serve */
	progress_begin_stream(s->destination_table,
						  plan.range_no > 0 ? -1 : estimated_rows(ctx, s->stream_id));

	if (sink->methods->begin_stream(sink, s, &plan, &err) != 0)
		goto failed;
	sender_begin_stream(&ctx->sender, s, chunk_rows == 0);

	/* a log_based copy reads on the primary, as its changes are decoded there */
	if (log_copy && ctx->o->state != NULL && ctx->source_standby < 0)
		ctx->source_standby = source_in_recovery(ctx->source);
	if (log_copy && ctx->o->state != NULL && ctx->source_standby == 1)
	{
		if (ctx->primary == NULL &&
			(ctx->primary = conn_open(ctx->o->state, CONN_PRIMARY, &err)) == NULL)
			goto failed;
		source = ctx->primary;
	}
	if (PQstatus(source) != CONNECTION_OK &&
		!conn_reset(source, source == ctx->source ? CONN_SOURCE : CONN_PRIMARY, &err))
		goto failed;

	for (;;)
	{
		int64_t		nrows = 0;

		free(query);
		query = NULL;
		/* no source transaction is open: let the sink catch up */
		started = pp_seconds();
		if (sender_make_room(&ctx->sender, &err) != 0)
			goto failed;
		room_wait = pp_seconds() - started;
		if (state_extraction_query(ctx->run.state, ctx->run.run_id, s->stream_id, after,
								   chunk_rows, &query, &err) != 0)
			goto failed;
		/* before the chunk's snapshot: below any change the chunk misses */
		if (log_copy &&
			state_copy_sequence(ctx->run.state, ctx->run.run_id, s->stream_id,
								&ctx->chunk_sequence, &err) != 0)
			goto failed;
		chunk++;
		runlog_print("DEBUG", "chunk %d%s%s: COPY (%s) TO STDOUT (FORMAT binary)", chunk,
					 after ? " after position " : "", after ? after : "", query);
		sender_begin_chunk(&ctx->sender);
		started = pp_seconds();
		if (read_chunk(ctx, source, query, &last_pos, &last_pos_null, &nrows,
					   &rows_extracted, &err) != 0)
		{
			/*
			 * A recovery conflict on a standby cancels one query, or when it
			 * cannot, terminates the session (so does a terminated backend
			 * on a primary): deliver the rows read, then read on after the
			 * last one, on a new connection if need be (a stream read in one
			 * pass drops what it read and starts over).  Not when the
			 * database was dropped on the primary (57P04): no retry brings
			 * it back.
			 */
			bool		lost = PQstatus(source) != CONNECTION_OK &&
				strcmp(err.sqlstate, "57P04") != 0;

			if (nrows > 0)
				conflicts = 0;	/* counted in a row: this one made progress */
			if ((strcmp(err.sqlstate, "40001") == 0 || lost) &&
				++conflicts <= CHUNK_RETRIES && !pp_interrupted)
			{
				double		delay = 0.5 * (1 << (conflicts - 1));
				bool		keep = chunk_rows > 0 && nrows > 0 && !last_pos_null;

				runlog("WARNING", "%s; reading on from the last row read in %.1f s (retry %d of %d)",
					   err.message, delay, conflicts, CHUNK_RETRIES);
				pp_error_clear(&err);
				if (!keep)
				{
					sender_drop_chunk(&ctx->sender);
					rows_extracted -= nrows;
					progress_rows(-nrows, 0);
				}
				else
				{
					if (sender_end_chunk(&ctx->sender, &err) != 0)
						goto failed;
					free(after);
					after = pp_strdup(last_pos.data);
				}
				if (conn_sleep(delay))
				{
					if (lost && !conn_reset(source, source == ctx->source ? CONN_SOURCE : CONN_PRIMARY, &err))
						goto failed;
					continue;
				}
				pp_error_set(&err, PPERR_INTERRUPTED, "interrupted while waiting to read on");
			}
			goto failed;
		}
		runlog_print("DEBUG", "chunk %d read: %" PRId64 " %s in %.3f s, after %.3f s waiting for the destination to catch up",
					 chunk, nrows, pp_plural(nrows, "row", "rows"), pp_seconds() - started, room_wait);
		if (sender_end_chunk(&ctx->sender, &err) != 0)
			goto failed;
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
	if (sender_wait(&ctx->sender, false, &err) != 0)
		goto failed;
	if (sink->methods->end_rows(sink, true, &err) != 0)
		goto failed;
	outcome = STREAM_SUCCEEDED;
	progress_end_stream(true);
	if (sink->methods->end_stream(sink, s, rows_extracted, NULL, &err) != 0)
	{
		end_error(ctx, &err);
		outcome = STREAM_FAILED;
	}
	goto done;

failed:
	/* what was read and not yet sent is dropped: it goes again next run */
	sender_discard(&ctx->sender);
	progress_end_stream(false);
	if (err.kind == PPERR_DESTINATION)
		ctx->unreachable = true;
	if (err.kind == PPERR_INTERRUPTED || pp_interrupted)
		ctx->interrupted = true;
	if (err.kind == PPERR_CONNECT)
	{
		if (PQstatus(ctx->run.state) != CONNECTION_OK)
			ctx->run.state_lost = true;
		else
			ctx->connect_failed = true;
	}
	runlog_error(&err);
	text = pp_error_text(&err);
	pp_error_clear(&err);
	if (sink->methods->end_rows(sink, false, &err) != 0)
		end_error(ctx, &err);
	if (!ctx->run.state_lost &&
		sink->methods->end_stream(sink, s, rows_extracted, text, &err) != 0)
		end_error(ctx, &err);
	free(text);
	outcome = STREAM_FAILED;

done:
	ctx->chunk_sequence = 0;
	free(query);
	free(after);
	buf_free(&last_pos);
	state_free_plan(&plan);
	if (log_copy && ctx->logical)
		logical_copy_outcome(ctx->logical, s->stream_id, outcome == STREAM_SUCCEEDED);
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
 * estimated_rows: the rows the run expects to read of a stream (-1:
 * unknown), from pgpull.plan.
 */
static int64_t
estimated_rows(const SyncContext *ctx, int64_t stream_id)
{
	for (int i = 0; i < ctx->nestimates; i++)
		if (ctx->estimates[i].stream_id == stream_id)
			return ctx->estimates[i].estimated_rows;
	return -1;
}

/*
 * dry_run: print on stdout what a run of the integration would extract
 * (pgpull.plan: each stream, its method, bookmark, estimated rows and its
 * first chunk's query), from read-only calls: no run begins, no catalog
 * row is written, no lock is taken and nothing is sent.  Returns the exit
 * status: 0, or 2 when the plan could not be had.
 */
static int
dry_run(SyncContext *ctx)
{
	const PullerOptions *o = ctx->o;
	PlanStream *plan = NULL;
	int			n = 0;
	PPError		err;

	pp_error_init(&err);
	if (state_plan(ctx->run.state, o->integration, o->chunk_rows, true, &plan, &n, &err) != 0)
	{
		int			status = err.kind == PPERR_STREAM ? EXIT_USAGE : exit_status_for(&err);

		pp_error_report(&err);
		pp_error_clear(&err);
		return status;
	}
	printf("dry run of integration \"%s\": %d %s; nothing is sent, no catalog row is written, no lock is taken\n",
		   o->integration, n, pp_plural(n, "stream", "streams"));
	if (o->jobs > 1)
		printf("with --jobs, a large full_table stream is read in key ranges; each query is shown whole\n");
	for (int i = 0; i < n; i++)
	{
		PlanStream *p = &plan[i];

		printf("\nstream %s (relation %s)\n", p->destination_table,
			   p->relation_name ? p->relation_name : "?");
		if (p->replication_key)
			printf("  method:         %s, replication key %s\n", p->method, p->replication_key);
		else
			printf("  method:         %s\n", p->method);
		if (p->resume_position)
			printf("  bookmark:       none; an interrupted sync resumes after %s\n", p->resume_position);
		else if (p->bookmark)
			printf("  bookmark:       %s\n", p->bookmark);
		else
			printf("  bookmark:       none: %s, every row\n",
				   strcmp(p->method, "key_based") != 0 ? "from the start" : "first run");
		if (p->estimated_rows >= 0)
			printf("  estimated rows: %" PRId64 " (reltuples)\n", p->estimated_rows);
		else
			printf("  estimated rows: unknown\n");
		if (p->query && strcmp(p->method, "log_based") == 0)
			printf("  initial copy, then the changes from the replication slot\n");
		if (p->query)
			printf("  query%s:\n    COPY (%s) TO STDOUT (FORMAT binary)\n",
				   p->chunked ? " (first chunk)" : " (one pass)", p->query);
		if (p->query && p->note)
			printf("  warning:        %s\n", p->note);
		else if (p->query == NULL)
			printf("  no query: %s\n", p->note ? p->note : "unknown");
	}
	fflush(stdout);
	state_free_plan_streams(plan, n);
	return EXIT_OK;
}

/*
 * probe_streams: record the streams with nothing new (probe.c) and return
 * the others, to sync: a new array of the same StreamInfo (free it alone),
 * or streams itself when every one is to sync.  Sets *n_unchanged to how
 * many were recorded.
 */
static StreamInfo *
probe_streams(SyncContext *ctx, StreamInfo *streams, int nstreams, int *ntodo,
			  int *n_unchanged)
{
	bool	   *unchanged;
	StreamInfo *todo;
	int			n;

	*ntodo = nstreams;
	if (nstreams == 0 || ctx->sink->down)
		return streams;
	unchanged = pp_malloc(sizeof(bool) * (size_t) nstreams);
	memset(unchanged, 0, sizeof(bool) * (size_t) nstreams);
	n = probe_unchanged(ctx->source, &ctx->run, ctx->sink, streams, nstreams, unchanged);
	if (n == 0)
	{
		free(unchanged);
		return streams;
	}
	*n_unchanged = n;
	todo = pp_malloc(sizeof(StreamInfo) * (size_t) nstreams);
	*ntodo = 0;
	for (int i = 0; i < nstreams; i++)
		if (!unchanged[i])
			todo[(*ntodo)++] = streams[i];
	free(unchanged);
	return todo;
}

/*
 * probe_apart: probe_streams on todo, a part of streams or streams itself;
 * the array it was when probe_streams leaves another is freed.
 */
static StreamInfo *
probe_apart(SyncContext *ctx, StreamInfo *streams, StreamInfo *todo, int *ntodo,
			int *n_unchanged)
{
	StreamInfo *left = probe_streams(ctx, todo, *ntodo, ntodo, n_unchanged);

	if (left != todo && todo != streams)
		free(todo);
	return left;
}

/*
 * log_streams_apart: at the start of a run with log_based streams (not in
 * a worker): do what the integration's slot needs (logical.c), and return
 * the streams the loop syncs: todo less the log_based streams whose copy is
 * complete (their changes are streamed after the loop), and less every
 * log_based stream when they cannot be synced this run (another puller
 * streams the slot: skipped; the slot could not be made or dropped:
 * failed, and recorded so).  A new array when some are left out (todo, when
 * not streams, is freed).
 */
static StreamInfo *
log_streams_apart(SyncContext *ctx, StreamInfo *streams, int nstreams, StreamInfo *todo,
				  int *ntodo, int *n_failed, int *n_skipped)
{
	PPError		err;
	const char *why = NULL;
	char	   *own = NULL;
	bool		busy = false;
	StreamInfo *kept;
	int			n = 0;

	pp_error_init(&err);
	ctx->logical = logical_prepare(ctx->o, &ctx->run, ctx->source, streams, nstreams, &err);
	if (ctx->logical == NULL && err.kind != PPERR_NONE)
	{
		runlog_error(&err);
		why = own = pp_strdup(err.message);
		pp_error_clear(&err);
	}
	else if (ctx->logical != NULL)
	{
		why = logical_not_ready(ctx->logical);
		busy = logical_busy(ctx->logical);
	}
	kept = pp_malloc(sizeof(StreamInfo) * (size_t) (*ntodo + 1));
	for (int i = 0; i < *ntodo; i++)
	{
		StreamInfo *s = &todo[i];

		if (!logical_is_log(s) || (why == NULL && !logical_copied(s)))
		{
			kept[n++] = *s;
			continue;
		}
		if (why == NULL)
			continue;			/* streamed after the loop */
		runlog_set_stream(s->destination_table, s->stream_id);
		if (busy)
		{
			runlog_print("INFO", "stream skipped: %s", why);
			(*n_skipped)++;
			continue;
		}
		runlog_print("ERROR", "stream not synced: %s", why);
		if (state_end_stream(ctx->run.state, ctx->run.run_id, s->stream_id, "failed", 0, why, &err) != 0)
			end_error(ctx, &err);
		(*n_failed)++;
	}
	runlog_set_stream(NULL, 0);
	free(own);
	if (todo != streams)
		free(todo);
	*ntodo = n;
	return kept;
}

/*
 * sync_finish_sink: finish a sink after its last run (sink.h), and log
 * why when that fails.  Returns whether it failed; sets *interrupted when
 * it was interrupted, and *error, when NULL, to why it failed.
 */
bool
sync_finish_sink(Sink *sink, bool *interrupted, char **error)
{
	PPError		err;
	bool		failed = false;

	if (sink->methods->finish == NULL)
		return false;
	pp_error_init(&err);
	if (sink->methods->finish(sink, &err) != 0)
	{
		if (err.kind == PPERR_INTERRUPTED)
			*interrupted = true;
		else
		{
			runlog("ERROR", "%s", err.message);
			if (err.detail)
				pp_log_detail("%s", err.detail);
			failed = true;
			if (*error == NULL)
				*error = pp_strdup(err.message);
		}
		pp_error_clear(&err);
	}
	return failed;
}

/*
 * sync_run: run "pgpull sync" with checked options.  Returns the exit
 * status: 0 every stream synced (or skipped), 1 some stream failed, 2 a
 * configuration error, 3 a database or the destination could not be
 * reached.  With --all-databases, main calls sync_all.c instead, which
 * calls sync_database for each database.
 */
int
sync_run(PullerOptions *o)
{
	metrics_start();
	return metrics_write(o, sync_database(o, NULL));
}

/*
 * sync_database: one run of the integration in the database of o.  shared
 * NULL: the run makes its sink from o and finishes it; else the sink of
 * every database of --all-databases, which the caller finishes and frees.
 * Returns the exit status, as sync_run.
 */
int
sync_database(PullerOptions *o, Sink *shared)
{
	SyncContext ctx;
	PPError		err;
	StreamInfo *streams = NULL;
	int			nstreams = 0;
	int			n_ok = 0;
	int			n_failed = 0;
	int			n_skipped = 0;
	int			n_not_started = 0;
	int			status = EXIT_OK;
	const char *run_status;
	char	   *run_error = NULL;
	bool		sink_failed = false;
	StreamInfo *todo = NULL;		/* the streams to sync: not unchanged */
	int			n_unchanged = 0;
	int			ntodo = 0;
	bool		worker = false;
	int			log_ok = 0;
	int			log_failed = 0;
	int			pre_failed = 0;
	int			pre_skipped = 0;
	bool		follow_stopped = false;

	memset(&ctx, 0, sizeof(ctx));
	ctx.o = o;
	ctx.source_standby = -1;
	pp_error_init(&err);
	runlog_set_verbose(o->verbose);
	runlog_set_quiet(o->quiet);
	conn_setup_signals();

	if (o->dry_run)
		;						/* nothing is sent: no sink */
	else if (shared != NULL)
		ctx.sink = shared;
	else if (o->target_kind == TARGET_SINGER)
		ctx.sink = singer_sink_create(o);
	else if ((ctx.sink = import_sink_create(o, &err)) == NULL)
		goto fail;
	/* with --jobs, after the fork: a process forks with no thread running */
	if (o->jobs == 1 && !o->dry_run &&
		sender_start(&ctx.sender, ctx.sink, &ctx.run, &err) != 0)
		goto fail;

	if (conn_open_both(o->state ? o->state : o->source, o->source,
					   &ctx.run.state, &ctx.source, &err) != 0)
		goto fail;
	if (state_version(ctx.run.state, "state", &err) != 0 ||
		state_version(ctx.source, "source", &err) != 0)
		goto fail;
	if (o->state && source_same_database(ctx.source, ctx.run.state, &err) != 0)
		goto fail;
	if (o->dry_run)
	{
		status = dry_run(&ctx);
		goto done;
	}

	worker = jobs_join_run(&ctx.run.run_id, &streams, &nstreams);
	if (worker)
		;						/* a worker of --jobs, in its parent's run */
	else if (state_begin_run(ctx.run.state, o->integration, PGPULL_VERSION,
							 options_target_kind_name(o), &ctx.run.run_id,
							 &streams, &nstreams, &err) != 0)
	{
		if (err.kind == PPERR_STREAM)
			err.kind = PPERR_CONFIG;
		if (strcmp(err.sqlstate, "25006") == 0 && err.hint == NULL)
			pp_error_hint(&err, "The catalog is written on the state database: when --source is a standby, give its primary with --state.");
		goto fail;
	}
	ctx.run.database = o->database;
	if (o->database != NULL)
		databases_prefix_streams(streams, nstreams, o->database);
	runlog_open(ctx.run.state, ctx.run.run_id);
	todo = streams;
	ntodo = nstreams;
	/* the rows each stream is expected to have, for the progress line */
	if (progress_start(o->quiet, !worker) &&
		state_plan(ctx.run.state, o->integration, 0, false, &ctx.estimates,
				   &ctx.nestimates, &err) != 0)
	{
		runlog_print("DEBUG", "no estimate of the rows to read: %s", err.message);
		pp_error_clear(&err);
	}
	if (!worker)
	{
		if (source_check_standby(ctx.source, &err) != 0)
		{
			runlog("WARNING", "%s", err.message);
			pp_error_clear(&err);
		}
		if (nstreams == 0)
			runlog("WARNING", "integration \"%s\" tracks no streams", o->integration);
		else
			runlog_print("INFO", "run %" PRId64 " started: integration \"%s\", %d %s",
						 ctx.run.run_id, o->integration, nstreams, pp_plural(nstreams, "stream", "streams"));
	}
	/* log_based streams: the slot first (logical.c) */
	if (!worker && !o->dry_run)
		todo = log_streams_apart(&ctx, streams, nstreams, todo, &ntodo, &pre_failed, &pre_skipped);
	/* --jobs: the probe first, then the other processes start (jobs.c) */
	if (!worker && o->jobs > 1)
		todo = probe_apart(&ctx, streams, todo, &ntodo, &n_unchanged);
	jobs_begin(&ctx.run, ctx.source, o, todo, ntodo, sync_database);
	if (o->jobs > 1 && sender_start(&ctx.sender, ctx.sink, &ctx.run, &err) != 0)
		goto fail;

	/* a sink that cannot begin says why with each stream (sink->down) */
	if (ctx.sink->methods->begin_run(ctx.sink, &ctx.run, &err) != 0)
	{
		runlog_error(&err);
		run_error = pp_strdup(err.message);
		pp_error_clear(&err);
	}

	/* the streams with nothing new succeed at once, without being taken */
	if (!worker && o->jobs <= 1)
		todo = probe_apart(&ctx, streams, todo, &ntodo, &n_unchanged);

	for (int i; (i = jobs_next_stream(&ctx.run, o, todo, ntodo, run_stopping(&ctx))) >= 0;)
	{
		if (run_stopping(&ctx))
		{
			runlog_set_stream(todo[i].destination_table, todo[i].stream_id);
			if (ctx.interrupted && !ctx.run.state_lost)
			{
				/* stopped on purpose: nothing went wrong with this stream */
				runlog_print("WARNING", "stream not started: interrupted");
				jobs_outcome(i, STREAM_NOT_STARTED);
				n_not_started++;
				continue;
			}
			runlog_print("WARNING", "stream not synced: %s",
						 ctx.run.state_lost ? "the connection to the state database was lost" :
						 ctx.sink->down ? ctx.sink->down :
						 "the destination could not be reached");
			jobs_outcome(i, STREAM_FAILED);
			n_failed++;
			continue;
		}
		switch (jobs_outcome(i, sync_stream(&ctx, &todo[i])))
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
			case STREAM_NOT_STARTED:
				n_not_started++;
				break;
		}
	}
	runlog_set_stream(NULL, 0);
	/* the changes of the log_based streams, once every copy is over */
	if (ctx.logical != NULL && !worker)
	{
		jobs_wait();
		if (!run_stopping(&ctx))
			follow_stopped = logical_stream(ctx.logical, ctx.sink, &ctx.sender, &log_ok, &log_failed) == 1;
	}
	sender_stop(&ctx.sender);
	if (shared == NULL && sync_finish_sink(ctx.sink, &ctx.interrupted, &run_error))
		sink_failed = true;
	/* what a Singer target confirmed of the slot's changes at its end */
	if (!ctx.interrupted && !pp_interrupted)
		logical_finish(ctx.logical);
	if (ctx.sink->methods->end_run)
		ctx.sink->methods->end_run(ctx.sink);
	if (ctx.sink->down || ctx.sink->failed)
		sink_failed = true;
	/* --follow ends with a signal: not an interruption of the run */
	if ((ctx.interrupted || pp_interrupted) && !follow_stopped)
		ctx.interrupted = true;
	/* a worker of --jobs reports; the puller counts the streams of all (jobs.c) */
	if (jobs_end(ntodo, &n_ok, &n_failed, &n_skipped, &n_not_started, &ctx.interrupted,
				 &ctx.connect_failed, &sink_failed, &run_error))
		goto worker_done;
	n_ok += n_unchanged + log_ok;
	n_failed += log_failed + pre_failed;
	n_skipped += pre_skipped;

	if (ctx.interrupted)
	{
		free(run_error);
		run_error = pp_psprintf("interrupted by a signal%s",
								pp_interrupted == SIGINT ? " (SIGINT)" :
								pp_interrupted == SIGTERM ? " (SIGTERM)" : "");
	}
	else if (n_failed > 0 && run_error == NULL)
		run_error = pp_psprintf("%d of %d streams failed", n_failed, nstreams);
	else if (n_not_started > 0 && run_error == NULL)
		run_error = pp_psprintf("%d of %d streams not started", n_not_started, nstreams);
	else if (ctx.sink->failed && run_error == NULL)
		run_error = pp_strdup(ctx.sink->failed);
	run_status = n_failed > 0 || n_not_started > 0 || ctx.interrupted || sink_failed ?
		"failed" : "succeeded";
	/* runs older than the retention go (pgpull.set_retention) */
	if (!ctx.run.state_lost && !ctx.interrupted)
		metrics_prune(ctx.run.state, ctx.run.run_id);
	{
		char		not_started[40] = "";

		if (n_not_started > 0)
			snprintf(not_started, sizeof(not_started), ", %d not started", n_not_started);
		runlog_print("INFO", "run %" PRId64 " %s: %d synced, %d failed, %d skipped%s",
					 ctx.run.run_id, run_status, n_ok, n_failed, n_skipped, not_started);
	}
	if (!ctx.run.state_lost &&
		state_end_run(ctx.run.state, ctx.run.run_id, run_status, run_error, &err) != 0)
	{
		end_error(&ctx, &err);
		if (n_failed == 0)
			n_failed = 1;
	}
	runlog_close();

worker_done:
	if (ctx.run.state_lost || ctx.connect_failed || ctx.unreachable)
		status = EXIT_CONNECT;
	else if (n_failed > 0 || n_not_started > 0 || ctx.interrupted || sink_failed)
		status = EXIT_STREAM_FAILED;
	else
		status = EXIT_OK;
	goto done;

fail:
	pp_error_report(&err);
	status = exit_status_for(&err);

done:
	runlog_close();
	if (!worker)
		metrics_collect(ctx.run.state, o);
	free(run_error);
	if (todo != streams)
		free(todo);
	pp_error_clear(&err);
	state_free_streams(streams, nstreams);
	state_free_plan_streams(ctx.estimates, ctx.nestimates);
	sender_stop(&ctx.sender);
	logical_end(ctx.logical);
	conn_close(ctx.primary, CONN_PRIMARY);
	if (ctx.sink && shared == NULL)
		ctx.sink->methods->free(ctx.sink);
	conn_close(ctx.source, CONN_SOURCE);
	conn_close(ctx.run.state, CONN_STATE);
	return status;
}
