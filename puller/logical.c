/*-------------------------------------------------------------------------
 *
 * puller/logical.c
 *		pgpull: log_based streams: the integration's replication slot, and
 *		the changes streamed from it (README.md, "Log-based replication").
 *
 * At the start of a run, logical_prepare asks the extension what to do
 * with the integration's slot (pgpull.slot_plan) and does it over a
 * replication connection (libpq's replication=database) to the primary:
 * make it, make it again, or drop it once no log_based stream is left.
 * The run then copies the log_based streams without a complete copy as
 * full_table streams (sync.c), and logical_stream sends the changes from
 * the slot: START_REPLICATION with pgoutput, protocol version 1, up to the
 * WAL position current when streaming began (with --follow, until
 * SIGTERM).
 *
 * Changes are gathered in windows of whole transactions, per stream.  A
 * window is mapped to rows by the extension (pgpull.log_query: one query
 * per stream and batch of changes, on the state connection, so that the
 * type map stays in SQL), handed to the sending thread as a chunk of each
 * stream, and only once the destination accepted every row of the window
 * is the slot confirmed to the end of its last transaction (a standby
 * status update), then recorded (pgpull.slot_confirmed).  A failure, a
 * signal or a kill leaves the slot where it was: the next run sends those
 * changes again.  While waiting for the destination, the main thread
 * keeps answering the server (the sender's idle hook), so that
 * wal_sender_timeout does not end the connection.  With nothing pending
 * and no transaction open, the slot is confirmed to where the server says
 * it is, so a quiet table on a busy server pins no WAL.
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
#include <sys/select.h>

#include "conn.h"
#include "log.h"
#include "logical.h"
#include "pgoutput.h"
#include "progress.h"
#include "source.h"

/* a window ends at the first commit after this many changes or bytes */
#define WINDOW_CHANGES		50000
#define WINDOW_BYTES		(32 * 1024 * 1024)
/* changes mapped by one call of a stream's log query, at most (a transaction is kept whole) */
#define QUERY_CHANGES		5000
/* seconds between standby status updates, at most */
#define STATUS_INTERVAL		10.0
/* seconds with nothing from the server before asking where it is */
#define IDLE_ASK			0.5
/* seconds CREATE_REPLICATION_SLOT may wait for open transactions (PGPULL_SLOT_TIMEOUT) */
#define SLOT_TIMEOUT		60.0

/* a column list of a stream's relation, and its log query */
typedef struct LogGen
{
	uint64_t	generation;		/* the relation cache's */
	LogQuery	q;
} LogGen;

/* a log_based stream in the streaming */
typedef struct LogStream
{
	const StreamInfo *info;
	StreamPlan	plan;
	uint32_t	relid;
	bool		taken;
	bool		begun;			/* the sink's stream was begun this run */
	LogGen	   *gens;
	int			ngens;
	int64_t		rows;			/* rows handed to the sink */
	bool		copy_ran;		/* the run copied it (logical_copy_outcome) */
	bool		copy_ok;
	/* the window's changes: JSON objects for the log query */
	Buf			changes;
	size_t	   *off;
	size_t	   *len;
	int		   *txno;			/* the transaction, in LogicalRun.txs */
	int		   *gen;			/* the column list, in gens */
	int			nchanges;
	int			cap;
} LogStream;

/* a transaction of the window */
typedef struct LogTx
{
	uint64_t	end_lsn;
	int64_t		sequence;
} LogTx;

struct LogicalRun
{
	const PullerOptions *o;
	SinkRun    *run;
	PGconn	   *repl;
	SlotPlan	plan;
	bool		standby;		/* the source is a standby */
	const char *not_ready;		/* why log_based streams are not synced */
	bool		busy;			/* because another puller streams the slot */
	char	   *error_text;		/* what not_ready points to, when made */
	LogStream  *streams;
	int			nstreams;
	PgoRelCache rels;
	PgoMessage	msg;
	uint32_t   *skipped_relids; /* relations warned about once */
	int			nskipped;
	/* the window */
	LogTx	   *txs;
	int			ntxs;
	int			txcap;
	int			window_changes;
	size_t		window_bytes;
	bool		in_tx;
	int64_t		tx_sequence;
	uint32_t	tx_xid;
	/* positions */
	uint64_t	received;		/* end of the WAL received */
	uint64_t	clean;			/* all before it is delivered: nothing
								 * pending, no transaction open */
	uint64_t	confirmed;		/* the flush position sent */
	uint64_t	window_end;		/* the end of the last window handed over */
	double		last_status;
	double		last_message;
	bool		asked;			/* a reply was asked for since the last message */
	int64_t		changes_seen;
};

static void set_not_ready(LogicalRun *lr, PPError *err);
static int	repl_command(LogicalRun *lr, const char *sql, PGresult **result, PPError *err);
static int	create_slot(LogicalRun *lr, PPError *err);
static int	drop_slot(LogicalRun *lr, PPError *err);
static int	send_status(LogicalRun *lr, bool reply, PPError *err);
static void idle_status(void *arg);
static int	confirm(LogicalRun *lr, uint64_t lsn, PPError *err);
static LogStream *stream_of(LogicalRun *lr, uint32_t relid);
static int	on_relation(LogicalRun *lr, PPError *err);
static void append_values(Buf *b, const PgoTuple *t, const PgoTuple *old, bool *unchanged);
static void add_change(LogicalRun *lr, LogStream *ls, char kind, const PgoTuple *t,
					   const PgoTuple *old);
static int	on_change(LogicalRun *lr, PPError *err);
static void on_truncate(LogicalRun *lr);
static int	deliver(LogicalRun *lr, Sink *sink, Sender *snd, PPError *err);
static int	deliver_stream(LogicalRun *lr, LogStream *ls, Sink *sink, Sender *snd, PPError *err);
static int	handle_data(LogicalRun *lr, const char *buf, size_t len, Sink *sink, Sender *snd,
						uint64_t target, bool *done, PPError *err);
static int	wait_socket(PGconn *conn, double seconds);
static void clear_window(LogicalRun *lr);

/*
 * logical_is_log: whether a stream is log_based.
 */
bool
logical_is_log(const StreamInfo *s)
{
	return s->method != NULL && strcmp(s->method, "log_based") == 0;
}

/*
 * logical_copied: whether a log_based stream's copy is complete (its
 * bookmark is the LSN its changes were accepted to): the run only streams
 * it.
 */
bool
logical_copied(const StreamInfo *s)
{
	return logical_is_log(s) && s->bookmark != NULL;
}

/*
 * set_not_ready: log_based streams cannot be synced this run, because of
 * err (logged, then cleared).
 */
static void
set_not_ready(LogicalRun *lr, PPError *err)
{
	runlog_error(err);
	free(lr->error_text);
	lr->error_text = pp_strdup(err->message);
	lr->not_ready = lr->error_text;
	pp_error_clear(err);
}

/*
 * repl_command: run a replication command (or SQL) on the replication
 * connection; *result (NULL: cleared) gets its result.  Returns 0, or -1
 * with err set.
 */
static int
repl_command(LogicalRun *lr, const char *sql, PGresult **result, PPError *err)
{
	PGresult   *res = PQexec(lr->repl, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		pp_error_from_pg(err, PPERR_STREAM, lr->repl, res, NULL);
		if (res)
			PQclear(res);
		return -1;
	}
	if (result)
		*result = res;
	else
		PQclear(res);
	return 0;
}

/*
 * create_slot: CREATE_REPLICATION_SLOT, which waits for the transactions
 * holding an ID when it began to end: past PGPULL_SLOT_TIMEOUT seconds it
 * is cancelled, and the error names them.  Records the slot
 * (pgpull.slot_created).  Returns 0, or -1 with err set.
 */
static int
create_slot(LogicalRun *lr, PPError *err)
{
	const char *env = getenv("PGPULL_SLOT_TIMEOUT");
	double		timeout = env && atof(env) > 0 ? atof(env) : SLOT_TIMEOUT;
	double		start = pp_seconds();
	char	   *sql;
	PGresult   *res;
	char	   *blockers = NULL;
	int			rc = -1;

	{
		char	   *slot = conn_quote(lr->repl, lr->plan.slot_name);

		sql = pp_psprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput NOEXPORT_SNAPSHOT", slot);
		free(slot);
	}
	if (!PQsendQuery(lr->repl, sql))
	{
		free(sql);
		pp_error_from_pg(err, PPERR_STREAM, lr->repl, NULL, "could not make the replication slot");
		return -1;
	}
	free(sql);
	while (PQisBusy(lr->repl))
	{
		if (pp_interrupted || pp_seconds() - start > timeout)
		{
			PGcancel   *c;
			char		errbuf[256];

			if (!pp_interrupted)
				blockers = state_slot_blockers(lr->run->state, lr->run->run_id, err);
			c = PQgetCancel(lr->repl);
			if (c)
			{
				(void) PQcancel(c, errbuf, sizeof(errbuf));
				PQfreeCancel(c);
			}
			while ((res = PQgetResult(lr->repl)) != NULL)
				PQclear(res);
			if (pp_interrupted)
			{
				pp_error_set(err, PPERR_INTERRUPTED, "interrupted while making replication slot %s",
							 lr->plan.slot_name);
				return -1;
			}
			pp_error_clear(err);
			pp_error_set(err, PPERR_STREAM,
						 "could not make replication slot %s within %.0f s: it waits for the transactions open when it began to end",
						 lr->plan.slot_name, timeout);
			pp_error_detail(err, "Open transactions: %s.", blockers ? blockers : "none seen");
			pp_error_hint(err, "Let those transactions end (pg_terminate_backend(PID) ends one), then run again; PGPULL_SLOT_TIMEOUT sets how many seconds to wait.");
			free(blockers);
			return -1;
		}
		if (wait_socket(lr->repl, 1.0) > 0 && !PQconsumeInput(lr->repl))
			break;
	}
	res = PQgetResult(lr->repl);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		pp_error_from_pg(err, PPERR_STREAM, lr->repl, res,
						 "could not make the replication slot");
	else if (state_slot_call(lr->run->state, "slot_created", lr->run->run_id,
							 PQgetvalue(res, 0, 1), err) == 0)
		rc = 0;					/* the extension says so */
	if (res)
		PQclear(res);
	while ((res = PQgetResult(lr->repl)) != NULL)
		PQclear(res);
	return rc;
}

/*
 * drop_slot: DROP_REPLICATION_SLOT, when the slot exists.  Returns 0, or
 * -1 with err set.
 */
static int
drop_slot(LogicalRun *lr, PPError *err)
{
	char	   *slot = conn_quote(lr->repl, lr->plan.slot_name);
	char	   *sql = pp_psprintf("DROP_REPLICATION_SLOT %s", slot);
	int			rc = repl_command(lr, sql, NULL, err);

	free(slot);
	free(sql);
	if (rc != 0 && strcmp(err->sqlstate, "42704") == 0)
	{
		pp_error_clear(err);
		rc = 0;
	}
	return rc;
}

/*
 * logical_prepare: at the start of a run (after pgpull.begin_run), do what
 * pgpull.slot_plan says with the integration's slot.  Returns NULL when
 * the integration has no log_based stream and no slot; else the state of
 * the run's log_based streams, whose logical_not_ready says why they
 * cannot be synced this run, if so (another puller streams the slot, or
 * the slot could not be made: logged).  NULL with err set when the plan
 * could not be had.
 */
LogicalRun *
logical_prepare(const PullerOptions *o, SinkRun *run, PGconn *source,
				StreamInfo *streams, int nstreams, PPError *err)
{
	LogicalRun *lr;
	SlotPlan	plan;

	if (state_slot_plan(run->state, run->run_id, &plan, err) != 0)
		return NULL;
	if (strcmp(plan.action, "none") == 0)
	{
		state_free_slot_plan(&plan);
		return NULL;
	}
	lr = pp_malloc(sizeof(LogicalRun));
	memset(lr, 0, sizeof(LogicalRun));
	lr->o = o;
	lr->run = run;
	lr->plan = plan;
	pgo_relcache_init(&lr->rels);
	for (int i = 0; i < nstreams; i++)
		if (logical_is_log(&streams[i]))
		{
			lr->streams = pp_realloc(lr->streams, sizeof(LogStream) * (size_t) (lr->nstreams + 1));
			memset(&lr->streams[lr->nstreams], 0, sizeof(LogStream));
			lr->streams[lr->nstreams].info = &streams[i];
			buf_init(&lr->streams[lr->nstreams].changes);
			lr->nstreams++;
		}

	if (strcmp(plan.action, "busy") == 0)
	{
		runlog_print("INFO", "%s", plan.message ? plan.message : "replication slot busy");
		lr->not_ready = "another puller streams the integration's replication slot";
		lr->busy = true;
		return lr;
	}
	if (plan.message)
		runlog_print("INFO", "%s", plan.message);

	lr->standby = source_in_recovery(source);
	if (lr->standby && o->state == NULL)
	{
		pp_error_set(err, PPERR_STREAM, "log_based streams cannot be read from a standby");
		pp_error_detail(err, "On PostgreSQL 15 a standby cannot decode its write-ahead log, and the replication slot lives on the primary.");
		pp_error_hint(err, "Give the primary with --state: log_based streams are then copied from and streamed on it, the others read from --source.");
		set_not_ready(lr, err);
		return lr;
	}
	if (lr->standby)
		runlog_print("INFO", "the source is a standby: log_based streams are copied from and streamed on the primary (--state)");

	lr->repl = conn_open(o->state ? o->state : o->source, CONN_REPLICATION, err);
	if (lr->repl == NULL)
	{
		if (err->hint == NULL)
			pp_error_hint(err, "log_based streams need a replication connection: the role needs the REPLICATION attribute (pgpull.check_privileges shows it), and pg_hba.conf must let it connect to the database.");
		set_not_ready(lr, err);
		return lr;
	}
	if (strcmp(plan.action, "drop") == 0 || strcmp(plan.action, "recreate") == 0)
	{
		if (drop_slot(lr, err) != 0)
		{
			set_not_ready(lr, err);
			return lr;
		}
		if (strcmp(plan.action, "drop") == 0)
		{
			if (state_slot_call(run->state, "slot_dropped", run->run_id, NULL, err) != 0)
				set_not_ready(lr, err);
			conn_close(lr->repl, CONN_REPLICATION);
			lr->repl = NULL;
			lr->not_ready = lr->not_ready ? lr->not_ready : "no log_based stream is left";
			return lr;
		}
	}
	if (strcmp(plan.action, "create") == 0 || strcmp(plan.action, "recreate") == 0)
	{
		/* a new slot: slot_plan sent every log_based stream back to a copy */
		for (int i = 0; i < nstreams; i++)
			if (logical_is_log(&streams[i]) && streams[i].bookmark != NULL)
			{
				free(streams[i].bookmark);
				streams[i].bookmark = NULL;
			}
		if (create_slot(lr, err) != 0)
			set_not_ready(lr, err);
	}
	return lr;
}

/*
 * logical_not_ready: why the log_based streams cannot be synced this run,
 * or NULL when they can.
 */
const char *
logical_not_ready(const LogicalRun *lr)
{
	return lr->not_ready;
}

/*
 * logical_busy: whether the log_based streams are left to another puller,
 * which streams the slot (logical_not_ready says so too): skipped, not
 * failed.
 */
bool
logical_busy(const LogicalRun *lr)
{
	return lr->busy;
}

/*
 * send_status: a standby status update: received up to lr->received,
 * flushed (confirmed) up to lr->confirmed; reply asks the server to answer
 * with where it is.  Returns 0, or -1 with err set.
 */
static int
send_status(LogicalRun *lr, bool reply, PPError *err)
{
	char		msg[PGO_STATUS_UPDATE_LEN];
	size_t		n = pgo_status_update(msg, lr->received, lr->confirmed, lr->confirmed,
									  pgo_now(), reply);

	if (PQputCopyData(lr->repl, msg, (int) n) != 1 || PQflush(lr->repl) != 0)
	{
		pp_error_from_pg(err, PPERR_STREAM, lr->repl, NULL,
						 "could not send a status update on the replication connection");
		return -1;
	}
	lr->last_status = pp_seconds();
	if (reply)
		lr->asked = true;
	return 0;
}

/*
 * idle_status: the sender's idle hook: while the main thread waits for the
 * destination, a status update every STATUS_INTERVAL seconds (with the
 * position confirmed so far), so that the server keeps the connection.
 */
static void
idle_status(void *arg)
{
	LogicalRun *lr = arg;
	PPError		ignored;

	if (lr->repl == NULL || pp_seconds() - lr->last_status < STATUS_INTERVAL)
		return;
	pp_error_init(&ignored);
	(void) send_status(lr, false, &ignored);
	pp_error_clear(&ignored);
}

/*
 * confirm: everything up to lsn reached the destination (or needs not):
 * confirm the slot to it, and record that; nothing when the slot is
 * confirmed that far already.  Returns 0, or -1 with err set.
 */
static int
confirm(LogicalRun *lr, uint64_t lsn, PPError *err)
{
	char		text[32];

	if (lsn <= lr->confirmed)
		return 0;
	lr->confirmed = lsn;
	if (lr->received < lsn)
		lr->received = lsn;
	if (send_status(lr, false, err) != 0)
		return -1;
	pgo_lsn_text(lsn, text);
	runlog_print("DEBUG", "replication slot %s confirmed to %s", lr->plan.slot_name, text);
	return state_slot_call(lr->run->state, "slot_confirmed", lr->run->run_id, text, err);
}

/*
 * stream_of: the stream of a relation, or NULL.
 */
static LogStream *
stream_of(LogicalRun *lr, uint32_t relid)
{
	for (int i = 0; i < lr->nstreams; i++)
		if (lr->streams[i].taken && lr->streams[i].relid == relid)
			return &lr->streams[i];
	return NULL;
}

/*
 * on_relation: a Relation message: remember it, and for a stream's
 * relation whose column list is new, get its log query.  Returns 0, or -1
 * with err set.
 */
static int
on_relation(LogicalRun *lr, PPError *err)
{
	const PgoRelation *rel = pgo_relcache_put(&lr->rels, &lr->msg);
	LogStream  *ls = stream_of(lr, lr->msg.relid);
	const char **names;
	LogGen	   *g;
	int			rc;

	if (rel == NULL || ls == NULL)
		return 0;
	if (ls->ngens > 0 && ls->gens[ls->ngens - 1].generation == rel->generation)
		return 0;
	names = pp_malloc(sizeof(char *) * (size_t) (rel->ncols + 1));
	for (int i = 0; i < rel->ncols; i++)
		names[i] = rel->cols[i].name;
	ls->gens = pp_realloc(ls->gens, sizeof(LogGen) * (size_t) (ls->ngens + 1));
	g = &ls->gens[ls->ngens];
	memset(g, 0, sizeof(LogGen));
	g->generation = rel->generation;
	runlog_set_stream(ls->info->destination_table, ls->info->stream_id);
	rc = state_log_query(lr->run->state, lr->run->run_id, ls->info->stream_id,
						 names, rel->ncols, &g->q, err);
	free(names);
	if (rc != 0)
		return -1;
	if (ls->ngens > 0)
		runlog("INFO", "the columns of relation %s changed: its records carry the new column list from here on",
			   ls->info->relation_name);
	ls->ngens++;
	return 0;
}

/*
 * append_values: a tuple's values as a JSON array for the log query:
 * strings, null, or false for an unchanged TOAST value, which is taken
 * from old (a whole old row, REPLICA IDENTITY FULL) when it has it.
 * Sets *unchanged when one is left unchanged.
 */
static void
append_values(Buf *b, const PgoTuple *t, const PgoTuple *old, bool *unchanged)
{
	buf_append_str(b, "[");
	for (int i = 0; i < t->ncols; i++)
	{
		const PgoColumn *c = &t->cols[i];

		if (i > 0)
			buf_append_str(b, ",");
		if (c->kind == 'u' && old != NULL && i < old->ncols && old->cols[i].kind == 't')
			c = &old->cols[i];
		if (c->kind == 't')
			buf_append_json(b, (const unsigned char *) c->value, c->len);
		else if (c->kind == 'u')
		{
			buf_append_str(b, "false");
			*unchanged = true;
		}
		else
			buf_append_str(b, "null");
	}
	buf_append_str(b, "]");
}

/*
 * add_change: add a change of the open transaction to a stream's window:
 * kind I, U or D, with the new tuple (the old one for D).
 */
static void
add_change(LogicalRun *lr, LogStream *ls, char kind, const PgoTuple *t, const PgoTuple *old)
{
	bool		unchanged = false;
	size_t		start;

	if (ls->nchanges == ls->cap)
	{
		ls->cap = ls->cap ? ls->cap * 2 : 256;
		ls->off = pp_realloc(ls->off, sizeof(size_t) * (size_t) ls->cap);
		ls->len = pp_realloc(ls->len, sizeof(size_t) * (size_t) ls->cap);
		ls->txno = pp_realloc(ls->txno, sizeof(int) * (size_t) ls->cap);
		ls->gen = pp_realloc(ls->gen, sizeof(int) * (size_t) ls->cap);
	}
	start = ls->changes.len;
	buf_appendf(&ls->changes, "{\"k\":\"%c\",\"s\":%" PRId64 ",\"t\":%u,\"v\":",
				kind, lr->tx_sequence, lr->tx_xid);
	append_values(&ls->changes, t, old, &unchanged);
	buf_append_str(&ls->changes, unchanged ? ",\"u\":1}" : "}");
	ls->off[ls->nchanges] = start;
	ls->len[ls->nchanges] = ls->changes.len - start;
	ls->txno[ls->nchanges] = lr->ntxs;
	ls->gen[ls->nchanges] = ls->ngens - 1;
	ls->nchanges++;
	lr->window_changes++;
	lr->window_bytes += ls->changes.len - start;
	lr->changes_seen++;
}

/*
 * on_change: an Insert, Update or Delete message: a change of a stream, or
 * of a relation the integration does not stream (skipped, said once).  An
 * update that changes the key is also a delete of the old key.  Returns 0,
 * or -1 with err set.
 */
static int
on_change(LogicalRun *lr, PPError *err)
{
	PgoMessage *m = &lr->msg;
	LogStream  *ls = stream_of(lr, m->relid);
	const LogGen *g;

	if (ls == NULL)
	{
		const PgoRelation *rel = pgo_relcache_get(&lr->rels, m->relid);

		for (int i = 0; i < lr->nskipped; i++)
			if (lr->skipped_relids[i] == m->relid)
				return 0;
		lr->skipped_relids = pp_realloc(lr->skipped_relids, sizeof(uint32_t) * (size_t) (lr->nskipped + 1));
		lr->skipped_relids[lr->nskipped++] = m->relid;
		runlog_set_stream(NULL, 0);
		runlog("WARNING", "changes of relation %s.%s are skipped: it is in publication %s but no log_based stream of the integration tracks it",
			   rel ? rel->nspname : "?", rel ? rel->relname : "?", lr->plan.publication_name);
		return 0;
	}
	if (ls->ngens == 0)
	{
		pp_error_set(err, PPERR_STREAM, "the replication slot sent a change of relation %s before its columns",
					 ls->info->relation_name);
		return -1;
	}
	g = &ls->gens[ls->ngens - 1];
	if (m->type == PGO_DELETE)
	{
		add_change(lr, ls, 'D', &m->old_tuple, NULL);
		return 0;
	}
	if (m->type == PGO_UPDATE && m->has_old)
	{
		bool		moved = false;

		for (int k = 0; k < g->q.nkeys && !moved; k++)
		{
			int			i = g->q.key_indexes[k];
			const PgoColumn *a;
			const PgoColumn *b;

			if (i < 0 || i >= m->old_tuple.ncols || i >= m->new_tuple.ncols)
				continue;
			a = &m->old_tuple.cols[i];
			b = &m->new_tuple.cols[i];
			moved = a->kind != b->kind || a->len != b->len ||
				(a->kind == 't' && memcmp(a->value, b->value, a->len) != 0);
		}
		/* the old key's row is gone from the destination's view */
		if (moved)
			add_change(lr, ls, 'D', &m->old_tuple, NULL);
	}
	add_change(lr, ls, m->type == PGO_INSERT ? 'I' : 'U', &m->new_tuple,
			   m->has_old && m->old_kind == 'O' ? &m->old_tuple : NULL);
	return 0;
}

/*
 * on_truncate: a Truncate message: a warning for each stream it names.
 */
static void
on_truncate(LogicalRun *lr)
{
	for (int i = 0; i < lr->msg.nrelids; i++)
	{
		LogStream  *ls = stream_of(lr, lr->msg.relids[i]);

		if (ls == NULL)
			continue;
		runlog_set_stream(ls->info->destination_table, ls->info->stream_id);
		runlog("WARNING", "relation %s was truncated: a TRUNCATE is not replicated, the destination keeps its rows; SELECT pgpull.reset('%s') copies the relation again",
			   ls->info->relation_name, ls->info->relation_name);
	}
}

/*
 * clear_window: forget the window's changes and transactions.
 */
static void
clear_window(LogicalRun *lr)
{
	for (int i = 0; i < lr->nstreams; i++)
	{
		buf_reset(&lr->streams[i].changes);
		lr->streams[i].nchanges = 0;
	}
	lr->ntxs = 0;
	lr->window_changes = 0;
	lr->window_bytes = 0;
}

/*
 * deliver_stream: map a stream's changes of the window to rows and hand
 * them to the sending thread, then wait until the destination took them
 * all.  Returns 0, or -1 with err set.
 */
static int
deliver_stream(LogicalRun *lr, LogStream *ls, Sink *sink, Sender *snd, PPError *err)
{
	const char *schema = NULL;
	Buf			body;
	char		position[48];
	int			rc = -1;

	buf_init(&body);
	runlog_set_stream(ls->info->destination_table, ls->info->stream_id);
	for (int i = 0; i < ls->nchanges;)
	{
		const LogGen *g = &ls->gens[ls->gen[i]];
		PGresult   *res;
		int			j = i;

		/* a column list of its own: the stream begins again with its schema */
		if (schema == NULL || strcmp(schema, g->q.json_schema) != 0)
		{
			StreamPlan	plan = ls->plan;

			if (schema != NULL)
			{
				if (sender_end_chunk(snd, err) != 0 || sender_wait(snd, false, err) != 0 ||
					sink->methods->end_rows(sink, true, err) != 0)
					goto done;
			}
			plan.json_schema = g->q.json_schema;
			plan.changes = true;
			plan.more = ls->begun;
			if (sink->methods->begin_stream(sink, ls->info, &plan, err) != 0)
				goto done;
			ls->begun = true;
			schema = g->q.json_schema;
			sender_begin_stream(snd, ls->info, false);
			sender_begin_chunk(snd);
		}
		/* a batch for the query: whole transactions of one column list */
		while (j < ls->nchanges && ls->gen[j] == ls->gen[i] &&
			   (j - i < QUERY_CHANGES || ls->txno[j] == ls->txno[j - 1]))
			j++;
		buf_reset(&body);
		buf_append_str(&body, "[");
		for (int k = i; k < j; k++)
		{
			if (k > i)
				buf_append_str(&body, ",");
			buf_append(&body, ls->changes.data + ls->off[k], ls->len[k]);
		}
		buf_append_str(&body, "]");
		res = state_log_rows(lr->run->state, g->q.query, body.data, err);
		if (res == NULL)
			goto done;
		for (int r = 0; r < PQntuples(res); r++)
		{
			int			ord = atoi(PQgetvalue(res, r, 0));
			const LogTx *tx;
			CopyRow		row;
			char		lsn[32];

			if (ord < 1 || i + ord - 1 >= j)
			{
				pp_error_set(err, PPERR_STREAM, "pgpull.log_query's query returned change %d of %d", ord, j - i);
				PQclear(res);
				goto done;
			}
			tx = &lr->txs[ls->txno[i + ord - 1]];
			pgo_lsn_text(tx->end_lsn, lsn);
			snprintf(position, sizeof(position), "[\"%s\"]", lsn);
			memset(&row, 0, sizeof(row));
			row.position = position;
			row.position_len = strlen(position);
			row.sequence = strtoll(PQgetvalue(res, r, 1), NULL, 10);
			row.row_json = PQgetvalue(res, r, 2);
			row.row_json_len = (size_t) PQgetlength(res, r, 2);
			row.lossy = atoi(PQgetvalue(res, r, 3));
			if (sender_add(snd, &row, err) != 0)
			{
				PQclear(res);
				goto done;
			}
			ls->rows++;
			progress_rows(1, (int64_t) row.row_json_len);
		}
		PQclear(res);
		i = j;
	}
	if (sender_end_chunk(snd, err) != 0 || sender_wait(snd, false, err) != 0 ||
		sink->methods->end_rows(sink, true, err) != 0)
		goto done;
	rc = 0;
done:
	buf_free(&body);
	return rc;
}

/*
 * deliver: the window to the destination, then the slot confirmed to the
 * end of its last transaction.  Returns 0, or -1 with err set (nothing is
 * confirmed).
 */
static int
deliver(LogicalRun *lr, Sink *sink, Sender *snd, PPError *err)
{
	uint64_t	end;

	if (lr->ntxs == 0)
		return 0;
	end = lr->txs[lr->ntxs - 1].end_lsn;
	runlog_print("DEBUG", "%d %s of %d %s to send",
				 lr->window_changes, pp_plural(lr->window_changes, "change", "changes"),
				 lr->ntxs, pp_plural(lr->ntxs, "transaction", "transactions"));
	for (int i = 0; i < lr->nstreams; i++)
	{
		if (lr->streams[i].nchanges == 0)
			continue;
		if (deliver_stream(lr, &lr->streams[i], sink, snd, err) != 0)
			return -1;
	}
	runlog_set_stream(NULL, 0);
	clear_window(lr);
	lr->clean = end;
	lr->window_end = end;
	if (sink->methods->log_window)
	{
		char		text[32];

		/* the target confirms it, later (run->slot_confirm) */
		pgo_lsn_text(end, text);
		return sink->methods->log_window(sink, text, err);
	}
	return confirm(lr, end, err);
}

/*
 * confirmable: the position the slot may be confirmed to now: what the
 * destination accepted, or with a Singer target what it confirmed; past
 * it, to where nothing is pending, once every window handed over is.
 */
static uint64_t
confirmable(LogicalRun *lr)
{
	uint64_t	target_ok = __atomic_load_n(&lr->run->slot_confirm, __ATOMIC_SEQ_CST);
	uint64_t	lsn = lr->confirmed > target_ok ? lr->confirmed : target_ok;

	if (lsn >= lr->window_end && !lr->in_tx && lr->ntxs == 0 && lr->clean > lsn)
		lsn = lr->clean;
	return lsn;
}

/*
 * handle_data: one CopyData message of the streaming.  Sets *done when the
 * run has caught up with target (not with --follow).  Returns 0, or -1
 * with err set.
 */
static int
handle_data(LogicalRun *lr, const char *buf, size_t len, Sink *sink, Sender *snd,
			uint64_t target, bool *done, PPError *err)
{
	PgoCopyMsg cm;

	if (pgo_parse_copy(buf, len, &cm, err) != 0)
		return -1;
	lr->last_message = pp_seconds();
	lr->asked = false;
	if (cm.kind == PGO_KEEPALIVE)
	{
		if (cm.wal_end > lr->received)
			lr->received = cm.wal_end;
		if (!lr->in_tx && lr->window_changes == 0 && lr->ntxs == 0)
		{
			/* nothing pending: all before the server's position is done */
			if (cm.wal_end > lr->clean)
				lr->clean = cm.wal_end;
			if (!lr->o->follow && cm.wal_end >= target)
				*done = true;
		}
		if (cm.reply_requested)
			return send_status(lr, false, err);
		return 0;
	}
	if (cm.wal_start > lr->received)
		lr->received = cm.wal_start;
	if (pgo_decode(cm.data, cm.len, &lr->msg, err) != 0)
		return -1;
	switch (lr->msg.type)
	{
		case PGO_BEGIN:
			lr->in_tx = true;
			lr->tx_sequence = pgo_to_unix_us(lr->msg.commit_time);
			lr->tx_xid = lr->msg.xid;
			break;
		case PGO_COMMIT:
			lr->in_tx = false;
			if (lr->msg.end_lsn > lr->received)
				lr->received = lr->msg.end_lsn;
			if (lr->window_changes == 0 && lr->ntxs == 0)
			{
				/* a transaction with nothing for the streams */
				lr->clean = lr->msg.end_lsn;
			}
			else
			{
				if (lr->ntxs == lr->txcap)
				{
					lr->txcap = lr->txcap ? lr->txcap * 2 : 64;
					lr->txs = pp_realloc(lr->txs, sizeof(LogTx) * (size_t) lr->txcap);
				}
				lr->txs[lr->ntxs].end_lsn = lr->msg.end_lsn;
				lr->txs[lr->ntxs].sequence = lr->tx_sequence;
				lr->ntxs++;
			}
			if (!lr->o->follow && lr->msg.end_lsn >= target)
				*done = true;
			if ((*done || lr->window_changes >= WINDOW_CHANGES || lr->window_bytes >= WINDOW_BYTES) &&
				deliver(lr, sink, snd, err) != 0)
				return -1;
			break;
		case PGO_RELATION:
			return on_relation(lr, err);
		case PGO_INSERT:
		case PGO_UPDATE:
		case PGO_DELETE:
			return on_change(lr, err);
		case PGO_TRUNCATE:
			on_truncate(lr);
			break;
		default:
			/* Type, Origin, Message: nothing to do */
			break;
	}
	return 0;
}

/*
 * wait_socket: wait up to seconds for the connection's socket to be
 * readable.  Returns 1 readable, 0 timed out or interrupted, -1 error.
 */
static int
wait_socket(PGconn *conn, double seconds)
{
	int			fd = PQsocket(conn);
	fd_set		rd;
	struct timeval tv;
	int			rc;

	if (fd < 0)
		return -1;
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	tv.tv_sec = (time_t) seconds;
	tv.tv_usec = (suseconds_t) ((seconds - (double) tv.tv_sec) * 1e6);
	rc = select(fd + 1, &rd, NULL, NULL, &tv);
	return rc < 0 ? 0 : rc;
}

/*
 * logical_stream: after the copies, send the changes of the log_based
 * streams from the slot, up to the WAL position current now (with
 * --follow, until a signal).  Ends each stream (succeeded, or failed with
 * why) and adds them to *n_ok or *n_failed.  Returns 0 when the changes
 * were sent and the slot confirmed, 1 when --follow was stopped by a
 * signal (what the destination accepted is confirmed: not a failure), -1
 * when not (logged).
 */
int
logical_stream(LogicalRun *lr, Sink *sink, Sender *snd, int *n_ok, int *n_failed)
{
	PPError		err;
	PGresult   *res = NULL;
	uint64_t	target = 0;
	char		target_text[32];
	char	   *sql;
	bool		done = false;
	bool		streaming = false;
	bool		stopped = false;
	char	   *error = NULL;
	int			rc;

	pp_error_init(&err);
	if (lr->not_ready || lr->repl == NULL || lr->nstreams == 0)
		return 0;

	for (int i = 0; i < lr->nstreams; i++)
	{
		LogStream  *ls = &lr->streams[i];

		runlog_set_stream(ls->info->destination_table, ls->info->stream_id);
		if (state_take_log_stream(lr->run->state, lr->run->run_id, ls->info->stream_id,
								  &ls->plan, &ls->relid, &err) != 0)
		{
			/*
			 * a dropped relation has no changes to come: its stream fails
			 * (untrack it) without holding back the others
			 */
			char	   *why;

			if (strcmp(err.sqlstate, "42P01") != 0)
				goto failed;
			runlog_error(&err);
			why = pp_strdup(err.message);
			pp_error_clear(&err);
			if (state_end_stream(lr->run->state, lr->run->run_id, ls->info->stream_id, "failed",
								 0, why, &err) != 0)
				runlog_error(&err);
			pp_error_clear(&err);
			free(why);
			if (logical_copied(ls->info))
				(*n_failed)++;
			continue;
		}
		if (!ls->plan.taken)
		{
			pp_error_set(&err, PPERR_STREAM, "stream %s is being copied by another puller",
						 ls->info->destination_table);
			pp_error_detail(&err, "The replication slot is confirmed only past changes every log_based stream received.");
			goto failed;
		}
		ls->taken = true;
	}
	runlog_set_stream(NULL, 0);

	if (repl_command(lr, "IDENTIFY_SYSTEM", &res, &err) != 0)
		goto failed;
	if (PQntuples(res) != 1 || !pgo_parse_lsn(PQgetvalue(res, 0, 2), &target))
	{
		pp_error_set(&err, PPERR_STREAM, "IDENTIFY_SYSTEM did not answer a WAL position");
		PQclear(res);
		goto failed;
	}
	PQclear(res);
	pgo_lsn_text(target, target_text);
	if (lr->plan.confirmed_lsn)
		(void) pgo_parse_lsn(lr->plan.confirmed_lsn, &lr->confirmed);
	lr->clean = lr->confirmed;
	sql = conn_start_replication(lr->repl, lr->plan.slot_name, "0/0", lr->plan.publication_name);
	res = PQexec(lr->repl, sql);
	free(sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		pp_error_from_pg(&err, PPERR_STREAM, lr->repl, res, "could not stream replication slot");
		if (res)
			PQclear(res);
		if (strcmp(err.sqlstate, "55006") == 0 && err.hint == NULL)
			pp_error_hint(&err, "Another session streams replication slot %s (pg_replication_slots.active_pid): run again once it ended; one slot has one consumer.",
						  lr->plan.slot_name);
		goto failed;
	}
	PQclear(res);
	streaming = true;
	if (lr->o->follow)
		runlog_print("INFO", "streaming changes from replication slot %s until SIGTERM", lr->plan.slot_name);
	else
		runlog_print("INFO", "streaming changes from replication slot %s up to %s",
					 lr->plan.slot_name, target_text);
	snd->idle = idle_status;
	snd->idle_arg = lr;
	lr->last_message = pp_seconds();
	if (send_status(lr, true, &err) != 0)
		goto failed;

	while (!done)
	{
		char	   *buf = NULL;
		int			n;

		if (pp_interrupted && lr->o->follow)
		{
			/* the way --follow ends: what was accepted is confirmed already */
			char		text[32];

			pgo_lsn_text(lr->confirmed, text);
			runlog_print("INFO", "streaming stopped by %s: replication slot %s is confirmed to %s",
						 pp_interrupted == SIGINT ? "SIGINT" : "SIGTERM", lr->plan.slot_name, text);
			stopped = true;
			break;
		}
		if (pp_interrupted)
		{
			pp_error_set(&err, PPERR_INTERRUPTED, "interrupted while streaming replication slot %s",
						 lr->plan.slot_name);
			goto failed;
		}
		n = PQgetCopyData(lr->repl, &buf, 1);
		if (n > 0)
		{
			int			rc = handle_data(lr, buf, (size_t) n, sink, snd, target, &done, &err);

			PQfreemem(buf);
			if (rc != 0)
				goto failed;
			continue;
		}
		if (n == -1)
		{
			res = PQgetResult(lr->repl);
			pp_error_from_pg(&err, PPERR_STREAM, lr->repl, res,
							 "the server ended the streaming of the replication slot");
			if (res)
				PQclear(res);
			goto failed;
		}
		if (n == -2)
		{
			pp_error_from_pg(&err, PPERR_STREAM, lr->repl, NULL, "could not read from the replication connection");
			goto failed;
		}
		/* nothing to read now */
		if (!lr->in_tx && lr->ntxs > 0 && pp_seconds() - lr->last_message >= IDLE_ASK &&
			deliver(lr, sink, snd, &err) != 0)
			goto failed;
		if (confirm(lr, confirmable(lr), &err) != 0)
			goto failed;
		if ((!lr->asked && pp_seconds() - lr->last_message >= IDLE_ASK) ||
			pp_seconds() - lr->last_status >= STATUS_INTERVAL)
		{
			if (send_status(lr, true, &err) != 0)
				goto failed;
		}
		if (wait_socket(lr->repl, 0.25) > 0 && !PQconsumeInput(lr->repl))
		{
			pp_error_from_pg(&err, PPERR_STREAM, lr->repl, NULL, "could not read from the replication connection");
			goto failed;
		}
	}
	if (!stopped && confirm(lr, confirmable(lr), &err) != 0)
		goto failed;
	goto end;

failed:
	runlog_set_stream(NULL, 0);
	runlog_error(&err);
	error = pp_strdup(err.message);
	pp_error_clear(&err);

end:
	snd->idle = NULL;
	if (streaming && PQstatus(lr->repl) == CONNECTION_OK)
	{
		char	   *buf;

		/* the end of the streaming; what the server still sends is dropped */
		if (PQputCopyEnd(lr->repl, NULL) == 1 && PQflush(lr->repl) == 0)
		{
			while (PQgetCopyData(lr->repl, &buf, 0) > 0)
				PQfreemem(buf);
			while ((res = PQgetResult(lr->repl)) != NULL)
				PQclear(res);
		}
	}
	if (error == NULL)
		runlog_print("INFO", "replication slot %s streamed: %" PRId64 " %s, %s",
					 lr->plan.slot_name, lr->changes_seen, pp_plural(lr->changes_seen, "change", "changes"),
					 sink->methods->log_window ? "confirmed as far as the target stored them"
					 : "confirmed to its end");
	for (int i = 0; i < lr->nstreams; i++)
	{
		LogStream  *ls = &lr->streams[i];
		char	   *why = NULL;

		if (!ls->taken)
			continue;
		runlog_set_stream(ls->info->destination_table, ls->info->stream_id);
		if (error)
			why = pp_psprintf("its changes were not all sent, so the replication slot was not confirmed past them: %s", error);
		else if (ls->copy_ran && !ls->copy_ok)
			why = pp_strdup("its initial copy failed (it resumes next run); its changes since were sent");
		/* no change came: the sink counts this part of the stream from zero */
		if (!ls->begun && sink->methods->begin_stream(sink, ls->info, &ls->plan, &err) != 0)
		{
			runlog_error(&err);
			pp_error_clear(&err);
		}
		if (sink->methods->end_stream(sink, ls->info, ls->rows, why, &err) != 0)
			runlog_error(&err);
		pp_error_clear(&err);
		if (logical_copied(ls->info))
		{
			/* streamed only: counted here */
			if (why)
				(*n_failed)++;
			else
				(*n_ok)++;
		}
		else if (error && (!ls->copy_ran || ls->copy_ok))
		{
			/* copied this run and counted a success by the loop */
			(*n_ok)--;
			(*n_failed)++;
		}
		free(why);
	}
	runlog_set_stream(NULL, 0);
	rc = error ? -1 : stopped ? 1 : 0;
	free(error);
	return rc;
}

/*
 * logical_finish: after the sink finished (a Singer target's last echoes
 * are in): confirm the slot to what the target confirmed since streaming
 * ended.
 */
void
logical_finish(LogicalRun *lr)
{
	PPError		err;
	uint64_t	lsn;
	char		text[32];

	if (lr == NULL || lr->repl == NULL || lr->not_ready)
		return;
	lsn = confirmable(lr);
	if (lsn <= lr->confirmed)
		return;
	pp_error_init(&err);
	pgo_lsn_text(lsn, text);
	conn_close(lr->repl, CONN_REPLICATION);
	lr->repl = conn_open(lr->o->state ? lr->o->state : lr->o->source, CONN_REPLICATION, &err);
	if (lr->repl == NULL ||
		conn_confirm_slot(lr->repl, lr->plan.slot_name, lr->plan.publication_name, lsn, &err) != 0 ||
		state_slot_call(lr->run->state, "slot_confirmed", lr->run->run_id, text, &err) != 0)
		runlog_error(&err);
	else
	{
		lr->confirmed = lsn;
		runlog_print("INFO", "replication slot %s confirmed to %s, as the Singer target stored the changes",
					 lr->plan.slot_name, text);
	}
	pp_error_clear(&err);
}

/*
 * logical_copy_outcome: the run copied a log_based stream (sync.c), which
 * succeeded or failed: the loop counted it.
 */
void
logical_copy_outcome(LogicalRun *lr, int64_t stream_id, bool succeeded)
{
	for (int i = 0; i < lr->nstreams; i++)
		if (lr->streams[i].info->stream_id == stream_id)
		{
			lr->streams[i].copy_ran = true;
			lr->streams[i].copy_ok = succeeded;
		}
}

/*
 * logical_end: close the replication connection and free.
 */
void
logical_end(LogicalRun *lr)
{
	if (lr == NULL)
		return;
	conn_close(lr->repl, CONN_REPLICATION);
	for (int i = 0; i < lr->nstreams; i++)
	{
		LogStream  *ls = &lr->streams[i];

		state_free_plan(&ls->plan);
		for (int g = 0; g < ls->ngens; g++)
			state_free_log_query(&ls->gens[g].q);
		free(ls->gens);
		buf_free(&ls->changes);
		free(ls->off);
		free(ls->len);
		free(ls->txno);
		free(ls->gen);
	}
	free(lr->streams);
	free(lr->txs);
	free(lr->skipped_relids);
	free(lr->error_text);
	pgo_message_clear(&lr->msg);
	pgo_relcache_free(&lr->rels);
	state_free_slot_plan(&lr->plan);
	free(lr);
}
