/*-------------------------------------------------------------------------
 *
 * puller/sink_singer.c
 *		pgpull: the Singer sink: rows go out as Singer messages, on standard
 *		output (--target -) or to a target program (--target-command).
 *
 * Per stream a SCHEMA, a STATE before the first RECORD, a STATE after every
 * --batch-rows records or --batch-bytes bytes of them, and at the end
 * ACTIVATE_VERSION (a full_table stream) and a STATE marking the stream
 * complete; singer.c makes the messages, target.c writes them.  add_row
 * answers SINK_FULL when a STATE is due or more than TARGET_BUFFER bytes
 * of messages wait.  Each STATE value carries the bookmark entries
 * pgpull.record_emitted returned for every stream sent so far, and sending
 * moves no bookmark: the target's confirmation does.  With
 * --target-command the states the target echoes are confirmed
 * (pgpull.commit_state) as they arrive; with --target - the caller
 * confirms them with "pgpull commit-state".  A stream that fails still
 * gets a STATE for the records sent since the last one, which the target
 * may confirm.  The target stopping (or failing) fails the run; what it
 * confirmed stays confirmed.
 *
 * With --all-databases one sink, one target and one STATE value serve the
 * runs of every database (singer.c has the value's header): each echoed
 * state is confirmed in the catalog of each database it names, through
 * connections of its own (DatabaseConns), since the runs of the databases
 * before are over by then.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "conn.h"
#include "log.h"
#include "logical.h"
#include "singer.h"
#include "sink.h"
#include "target.h"

typedef struct SingerSink
{
	Sink		sink;
	const PullerOptions *o;
	SinkRun    *run;
	Target		target;
	bool		started;		/* begin_run started the target */
	SingerState state;			/* the STATE value */
	const StreamInfo *stream;	/* the stream being sent */
	bool		changes;		/* its rows are changes from the slot */
	SingerStream ss;			/* its messages */
	Buf			last_pos;		/* position of its last row sent */
	bool		last_pos_null;	/* none sent, or it had none */
	bool		state_last;		/* the last message written is a STATE */
	int64_t		batches;		/* STATEs after records in this stream */
	int64_t		pend_rows;		/* sent since the last STATE */
	int64_t		pend_bytes;
	int64_t		pend_lossy;
	int64_t		echoes;			/* states of this integration the target echoed */
	int64_t		confirmed;		/* bookmarks they moved */
	int64_t		rejected;		/* entries commit_state rejected */
	bool		foreign_warned;
	DatabaseConns catalogs;		/* --all-databases: where states are confirmed */
} SingerSink;

static int	singer_begin_run(Sink *sink, SinkRun *run, PPError *err);
static int	singer_begin_stream(Sink *sink, const StreamInfo *s,
								const StreamPlan *plan, PPError *err);
static void singer_begin_chunk(Sink *sink);
static int	singer_add_row(Sink *sink, const CopyRow *row, PPError *err);
static int	singer_log_window(Sink *sink, const char *lsn, PPError *err);
static int	singer_flush(Sink *sink, PPError *err);
static int	singer_end_rows(Sink *sink, bool complete, PPError *err);
static int	singer_end_stream(Sink *sink, const StreamInfo *s,
							  int64_t rows_extracted, const char *error,
							  PPError *err);
static int	singer_unchanged_stream(Sink *sink, const StreamInfo *s,
									const char *entry, PPError *err);
static int	singer_finish(Sink *sink, PPError *err);
static void singer_end_run(Sink *sink);
static void singer_free(Sink *sink);
static bool state_due(const SingerSink *ss);
static int	checkpoint(SingerSink *ss, bool complete, PPError *err);
static int	write_out(SingerSink *ss, PPError *err);
static void on_echo(void *arg, const char *line, size_t len);

static const SinkMethods singer_methods = {
	.begin_run = singer_begin_run,
	.begin_stream = singer_begin_stream,
	.begin_chunk = singer_begin_chunk,
	.add_row = singer_add_row,
	.flush = singer_flush,
	.end_rows = singer_end_rows,
	.end_stream = singer_end_stream,
	.unchanged_stream = singer_unchanged_stream,
	.log_window = singer_log_window,
	.finish = singer_finish,
	.end_run = singer_end_run,
	.free = singer_free
};

/*
 * singer_sink_create: a sink for the Singer target of o; the target starts
 * with the run.
 */
Sink *
singer_sink_create(const PullerOptions *o)
{
	SingerSink *ss = pp_malloc(sizeof(SingerSink));

	memset(ss, 0, sizeof(SingerSink));
	ss->sink.methods = &singer_methods;
	ss->o = o;
	target_init_stdout(&ss->target);
	buf_init(&ss->last_pos);
	dbconns_init(&ss->catalogs, o->source);
	return &ss->sink;
}

/*
 * singer_begin_run: the STATE value of the run, and the target: standard
 * output, or the --target-command child.  When the child cannot be
 * started, no stream can go (sink.down).  With --all-databases the value
 * and the target of the first run serve the next runs too.
 */
static int
singer_begin_run(Sink *sink, SinkRun *run, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	ss->run = run;
	if (ss->state.value == NULL)
		singer_state_init(&ss->state, ss->o->integration, run->run_id);
	if (run->database != NULL)
		singer_state_add_database(&ss->state, run->database, run->run_id);
	if (ss->started)
		return 0;
	if (ss->o->target_command != NULL)
	{
		if (target_start(&ss->target, ss->o->target_command, on_echo, ss, err) != 0)
		{
			ss->sink.down = "the Singer target could not be started";
			return -1;
		}
		runlog_print("DEBUG", "Singer target started: process %d", (int) ss->target.pid);
	}
	ss->started = true;
	return 0;
}

/*
 * singer_begin_stream: the stream's SCHEMA, then a STATE before its first
 * RECORD.
 */
static int
singer_begin_stream(Sink *sink, const StreamInfo *s, const StreamPlan *plan,
					PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	ss->stream = s;
	ss->changes = plan->changes;
	ss->batches = 0;
	buf_reset(&ss->last_pos);
	ss->last_pos_null = true;
	singer_stream_free(&ss->ss);
	/*
	 * a log_based stream's copy has no table version at the target: an
	 * ACTIVATE_VERSION would drop the rows its changes brought
	 */
	if (singer_stream_start(&ss->ss, s->destination_table,
							plan->has_table_version && !logical_is_log(s),
							plan->table_version, err) != 0 ||
		singer_schema(&ss->target.out, &ss->ss, plan->json_schema, plan->key_names,
					  plan->bookmark_properties, err) != 0)
		return -1;
	ss->state_last = false;
	return checkpoint(ss, false, err);
}

/*
 * singer_begin_chunk: the RECORDs from now on were extracted now.
 */
static void
singer_begin_chunk(Sink *sink)
{
	singer_set_time_extracted(&((SingerSink *) sink)->ss);
}

/*
 * singer_add_row: append the row's RECORD; SINK_FULL when a STATE is due
 * (every --batch-rows records or --batch-bytes bytes of them) or the
 * messages waiting are to be written.
 */
static int
singer_add_row(Sink *sink, const CopyRow *row, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	buf_reset(&ss->last_pos);
	ss->last_pos_null = (row->position == NULL);
	if (row->position)
		buf_append(&ss->last_pos, row->position, row->position_len);
	if (row->sequence > 0)
	{
		/*
		 * a row of a log_based stream: its sequence, and for a change from
		 * the slot the LSN of its transaction (its position)
		 */
		char		extra[96];

		if (ss->changes && row->position && row->position_len > 2)
			snprintf(extra, sizeof(extra), ",\"sequence\":%" PRId64 ",\"lsn\":%.*s", row->sequence,
					 (int) row->position_len - 2, row->position + 1);
		else
			snprintf(extra, sizeof(extra), ",\"sequence\":%" PRId64, row->sequence);
		singer_record_extra(&ss->target.out, &ss->ss, row->row_json, row->row_json_len, extra);
	}
	else
		singer_record(&ss->target.out, &ss->ss, row->row_json, row->row_json_len);
	ss->state_last = false;
	ss->pend_rows++;
	ss->pend_bytes += (int64_t) singer_record_size(&ss->ss, row->row_json_len);
	ss->pend_lossy += row->lossy;
	if (state_due(ss) || target_buffer_full(&ss->target))
		return SINK_FULL;
	return 0;
}

/*
 * singer_log_window: every change of the log_based streams up to lsn was
 * written: a STATE whose "pgpull" object carries the slot's entry
 * (pgpull.slot_state_entry), so that once the target echoes it,
 * pgpull.commit_state lets the slot be confirmed to lsn.
 */
static int
singer_log_window(Sink *sink, const char *lsn, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;
	char	   *entry = NULL;
	int			rc;

	if (state_slot_state_entry(ss->run->state, ss->run->run_id, lsn, &entry, err) != 0)
		return -1;
	rc = singer_state_slot(&ss->state, entry, err);
	free(entry);
	if (rc != 0 || singer_state_write(&ss->target.out, &ss->state, NULL, err) != 0)
		return -1;
	ss->state_last = true;
	return write_out(ss, err);
}

/*
 * singer_flush: a STATE when one is due, else write the messages waiting.
 */
static int
singer_flush(Sink *sink, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	if (state_due(ss))
		return checkpoint(ss, false, err);
	return write_out(ss, err);
}

/*
 * singer_end_rows: a complete stream ends with ACTIVATE_VERSION (full_table)
 * and a STATE marking it complete.  A stream that failed gets a STATE for
 * the records the target got since the last one, so that it may confirm
 * them, unless the target, the state connection or the run is gone.
 */
static int
singer_end_rows(Sink *sink, bool complete, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;
	int			rc = 0;

	if (complete)
		return checkpoint(ss, true, err);
	if (ss->pend_rows > 0 && !ss->target.broken && !ss->run->state_lost &&
		!pp_interrupted)
		rc = checkpoint(ss, false, err);
	/* nothing stays pending once the stream is over */
	ss->pend_rows = 0;
	ss->pend_bytes = 0;
	ss->pend_lossy = 0;
	return rc;
}

/*
 * singer_end_stream: record the stream's outcome (pgpull.end_singer_stream,
 * which moves nothing).
 */
static int
singer_end_stream(Sink *sink, const StreamInfo *s, int64_t rows_extracted,
				  const char *error, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	if (state_end_singer_stream(ss->run->state, ss->run->run_id, s->stream_id,
								error ? "failed" : "succeeded", rows_extracted,
								error, err) != 0)
		return -1;
	if (error == NULL)
		runlog_print("INFO", "stream sent: %" PRId64 " %s extracted and sent to the Singer target in %" PRId64 " %s",
					 rows_extracted, pp_plural(rows_extracted, "row", "rows"),
					 ss->batches, pp_plural(ss->batches, "batch", "batches"));
	return 0;
}

/*
 * singer_unchanged_stream: a stream with nothing new sends no message, but
 * the STATE values from now on carry its bookmark entry (entry, from
 * pgpull.record_unchanged), the next one or the last.
 */
static int
singer_unchanged_stream(Sink *sink, const StreamInfo *s, const char *entry,
						PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	if (singer_state_set(&ss->state, s->destination_table, entry, err) != 0)
		return -1;
	ss->state_last = false;
	return 0;
}

/*
 * singer_finish: the end of the messages: a last STATE if the last message
 * was not one, then the end of the target (for a child: what it still
 * echoes is confirmed, and its exit status checked), or its end at once
 * when interrupted.  Returns -1 with err set when the target failed
 * (PPERR_INTERRUPTED: interrupted while waiting for it).
 */
static int
singer_finish(Sink *sink, PPError *err)
{
	SingerSink *ss = (SingerSink *) sink;

	if (!ss->started)
		return 0;
	if (pp_interrupted)
	{
		target_kill(&ss->target);
		return 0;
	}
	if (!ss->target.broken && ss->state.nstreams > 0 && !ss->state_last &&
		singer_state_write(&ss->target.out, &ss->state, NULL, err) != 0)
	{
		runlog_error(err);
		pp_error_clear(err);
	}
	if (target_finish(&ss->target, err) != 0)
		return -1;
	if (ss->o->target_command && ss->echoes == 0 && ss->state.nstreams > 0)
	{
		runlog("WARNING", "the Singer target confirmed nothing: it printed no state, so no bookmark moved");
		pp_log_hint("A Singer target prints the latest state it received on its standard output once it has stored the records before it.  Check that the target echoes state.");
	}
	else if (ss->o->target_command && ss->echoes > 0)
		runlog_print("INFO", "the Singer target echoed %" PRId64 " %s: %" PRId64 " %s moved",
					 ss->echoes, pp_plural(ss->echoes, "state", "states"),
					 ss->confirmed, pp_plural(ss->confirmed, "bookmark", "bookmarks"));
	if (ss->rejected > 0)
	{
		runlog("WARNING", "%" PRId64 " bookmark %s the Singer target echoed %s rejected: pgpull did not write %s for this run, or the target changed %s",
			   ss->rejected, pp_plural(ss->rejected, "entry", "entries"),
			   ss->rejected == 1 ? "was" : "were", ss->rejected == 1 ? "it" : "them",
			   ss->rejected == 1 ? "its values" : "their values");
		ss->sink.failed = "the Singer target echoed bookmark entries pgpull rejected";
	}
	return 0;
}

/*
 * singer_end_run: the run is over; with --all-databases the next one may
 * follow.
 */
static void
singer_end_run(Sink *sink)
{
	((SingerSink *) sink)->run = NULL;
}

/*
 * singer_free: release everything, and the target if it still runs.
 */
static void
singer_free(Sink *sink)
{
	SingerSink *ss = (SingerSink *) sink;

	target_free(&ss->target);
	dbconns_free(&ss->catalogs);
	singer_state_free(&ss->state);
	singer_stream_free(&ss->ss);
	buf_free(&ss->last_pos);
	free(ss);
}

/*
 * state_due: whether the records sent since the last STATE reach
 * --batch-rows or --batch-bytes.
 */
static bool
state_due(const SingerSink *ss)
{
	return ss->pend_rows >= ss->o->batch_rows || ss->pend_bytes >= ss->o->batch_bytes;
}

/*
 * checkpoint: after the records sent since the last STATE: count them in
 * the run and get the stream's bookmark entry (pgpull.record_emitted),
 * then write ACTIVATE_VERSION (a full_table stream sent to its end) and a
 * STATE, and write everything out.
 */
static int
checkpoint(SingerSink *ss, bool complete, PPError *err)
{
	const StreamInfo *s = ss->stream;
	char	   *entry = NULL;
	int			rc;

	if (state_record_emitted(ss->run->state, ss->run->run_id, s->stream_id,
							 ss->pend_rows, ss->pend_bytes,
							 ss->last_pos_null ? NULL : ss->last_pos.data,
							 ss->pend_lossy, complete, &entry, err) != 0)
		return -1;
	rc = singer_state_set(&ss->state, s->destination_table, entry, err);
	free(entry);
	if (rc != 0)
		return -1;
	if (ss->pend_rows > 0)
	{
		runlog_batch(++ss->batches, "sent to the Singer target", ss->pend_rows,
					 ss->pend_bytes, ss->pend_lossy);
		runlog_batch_times(ss->batches, &ss->sink.source_wait, &ss->sink.destination_time);
	}
	ss->pend_rows = 0;
	ss->pend_bytes = 0;
	ss->pend_lossy = 0;
	if (complete && ss->ss.has_version)
		singer_activate_version(&ss->target.out, &ss->ss);
	if (singer_state_write(&ss->target.out, &ss->state,
						   complete ? NULL : s->destination_table, err) != 0)
		return -1;
	ss->state_last = true;
	return write_out(ss, err);
}

/*
 * write_out: write the messages waiting.  A target that stopped reading
 * takes no more streams (sink.down).
 */
static int
write_out(SingerSink *ss, PPError *err)
{
	double		since = pp_seconds();
	int			rc = target_flush(&ss->target, err);

	ss->sink.destination_time += pp_seconds() - since;
	if (rc == 0)
		return 0;
	if (ss->target.broken)
		ss->sink.down = "the Singer target stopped reading";
	return -1;
}

/*
 * on_echo: a line the --target-command target printed: confirm it at once
 * when it is a state of this integration (any run: pgpull.commit_state
 * never moves a bookmark back) of the kind this sync sends (of one
 * database, or with --all-databases of several), skip it otherwise.  A
 * state that cannot be confirmed fails the run (sink.failed); the run
 * goes on.
 */
static void
on_echo(void *arg, const char *line, size_t len)
{
	SingerSink *ss = arg;
	int64_t		run_id;
	char	   *other = NULL;
	CommitCounts counts = {0};
	PPError		err;
	EchoKind	kind = commit_classify(line, len, ss->o->integration, &run_id, &other, NULL);

	switch (kind)
	{
		case ECHO_STATE:
		case ECHO_DATABASES:
			break;
		case ECHO_FOREIGN:
			if (!ss->foreign_warned)
				runlog("WARNING", "the Singer target printed a state of integration \"%s\": not confirmed", other);
			ss->foreign_warned = true;
			free(other);
			return;
		default:
			runlog_print("DEBUG", "the Singer target printed a line that is not a pgpull state: skipped");
			return;
	}
	if ((kind == ECHO_DATABASES) != ss->o->all_databases)
	{
		runlog_print("DEBUG", "the Singer target printed a state of %s: skipped",
					 kind == ECHO_DATABASES ? "several databases" : "one database");
		return;
	}
	ss->echoes++;
	if (kind == ECHO_DATABASES)
	{
		if (commit_apply_databases(&ss->catalogs, line, len, &counts) != EXIT_OK)
			ss->sink.failed = "a state the Singer target echoed could not be confirmed";
		ss->confirmed += counts.moved;
		ss->rejected += counts.rejected;
		return;
	}
	if (ss->run == NULL || ss->run->state_lost)
		return;
	pp_error_init(&err);
	if (commit_apply(ss->run->state, line, len, NULL, &counts, &err) != 0)
	{
		runlog("ERROR", "could not confirm a state the Singer target echoed: %s", err.message);
		if (err.detail)
			pp_log_detail("%s", err.detail);
		if (err.kind == PPERR_CONNECT)
			ss->run->state_lost = true;
		else
			ss->sink.failed = "a state the Singer target echoed could not be confirmed";
	}
	ss->confirmed += counts.moved;
	ss->rejected += counts.rejected;
	/* the main thread confirms the slot (logical.c) */
	if (counts.slot_lsn > __atomic_load_n(&ss->run->slot_confirm, __ATOMIC_SEQ_CST))
		__atomic_store_n(&ss->run->slot_confirm, counts.slot_lsn, __ATOMIC_SEQ_CST);
	pp_error_clear(&err);
}
