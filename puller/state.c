/*-------------------------------------------------------------------------
 *
 * puller/state.c
 *		pgpull: wrappers of the run protocol functions.
 *
 * The puller writes no SQL of its own beyond calling the extension: one
 * wrapper per function of the run protocol (README.md, "The run protocol"),
 * Singer functions included, each schema-qualified,
 * each with its values as parameters (PQexecParams), each clearing its
 * PGresult on every path.  Server errors come back in a PPError built from
 * the primary, detail and hint fields.  Arrays and JSON columns are asked
 * for as JSON text, which the caller reads with jansson.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

/* type OIDs of the parameters (stable across releases) */
#define BOOLOID		16
#define INT8OID		20
#define INT4OID		23
#define TEXTOID		25
#define INT8ARRAYOID	1016

#define PQCLEAR(r) \
	do { if (r) PQclear(r); (r) = NULL; } while (0)

static PGresult *exec_params(PGconn *conn, const char *sql, int nparams,
							 const Oid *types, const char *const *values,
							 ExecStatusType want, const char *context,
							 PPError *err);
static char *dup_value(const PGresult *res, int row, int col);
static int64_t int64_value(const PGresult *res, int row, int col);
static void read_plan(const PGresult *res, StreamPlan *plan);
static int	take(PGconn *conn, const char *function, int64_t run_id, int64_t stream_id,
				 StreamPlan *plan, uint32_t *relid, PPError *err);
static int	end_stream(PGconn *conn, const char *function, int64_t run_id,
					   int64_t stream_id, const char *status, int64_t rows_extracted,
					   const char *error, PPError *err);

/*
 * The state connection is used by the main thread and by the sending thread
 * (sender.c): one call at a time.
 */
static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * exec_params: run sql with text parameters; returns the result when its
 * status is want, else NULL with err set (the result is cleared).
 */
static PGresult *
exec_params(PGconn *conn, const char *sql, int nparams, const Oid *types,
			const char *const *values, ExecStatusType want,
			const char *context, PPError *err)
{
	PGresult   *res;

	pthread_mutex_lock(&exec_lock);
	res = PQexecParams(conn, sql, nparams, types, values, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != want)
	{
		pp_error_from_pg(err, PPERR_STREAM, conn, res, context);
		PQCLEAR(res);
		res = NULL;
	}
	pthread_mutex_unlock(&exec_lock);
	return res;
}

/*
 * dup_value: a copy of a text value, NULL for SQL NULL.
 */
static char *
dup_value(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return pp_strdup(PQgetvalue(res, row, col));
}

/*
 * int64_value: a bigint value, 0 for SQL NULL.
 */
static int64_t
int64_value(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return (int64_t) strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/*
 * state_version: check that the extension answers pgpull.version() with
 * our own version on this connection ("source" or "state" in which).
 * Returns 0, or -1 with err set: PPERR_CONFIG when the extension is
 * missing, not accessible or of another version; PPERR_CONNECT when the
 * connection broke.
 */
int
state_version(PGconn *conn, const char *which, PPError *err)
{
	PGresult   *res;
	const char *version;
	int			rc = -1;

	res = PQexecParams(conn, "SELECT pgpull.version()", 0, NULL, NULL, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		if (sqlstate && (strcmp(sqlstate, "3F000") == 0 || strcmp(sqlstate, "42883") == 0))
		{
			pp_error_set(err, PPERR_CONFIG,
						 "extension \"pgpull\" is not installed in the %s database", which);
			pp_error_hint(err, "Run CREATE EXTENSION pgpull in that database.");
		}
		else
		{
			pp_error_from_pg(err, PPERR_CONFIG, conn, res, NULL);
			if (sqlstate && strcmp(sqlstate, "42501") == 0 && err->hint == NULL)
				pp_error_hint(err, "Give the role pgpull connects as the privileges that pgpull.grant_script() lists.");
		}
		goto done;
	}
	version = PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0);
	if (strcmp(version, PGPULL_VERSION) != 0)
	{
		pp_error_set(err, PPERR_CONFIG,
					 "extension \"pgpull\" version \"%s\" in the %s database does not match pgpull version \"%s\"",
					 version, which, PGPULL_VERSION);
		pp_error_hint(err, "Run ALTER EXTENSION pgpull UPDATE in that database, or run the pgpull program of the extension's version.");
		goto done;
	}
	rc = 0;
done:
	PQCLEAR(res);
	return rc;
}

/*
 * state_begin_run: start a run of an integration.  Returns 0 with the run's
 * id and its streams (none when the integration tracks none), or -1 with
 * err set.  The caller frees the streams with state_free_streams.
 */
int
state_begin_run(PGconn *conn, const char *integration,
				const char *puller_version, const char *target_kind,
				int64_t *run_id, StreamInfo **streams, int *nstreams,
				PPError *err)
{
	static const Oid types[3] = {TEXTOID, TEXTOID, TEXTOID};
	const char *values[3];
	PGresult   *res;
	int			n;
	int			count = 0;

	values[0] = integration;
	values[1] = puller_version;
	values[2] = target_kind;
	*streams = NULL;
	*nstreams = 0;
	res = exec_params(conn,
					  "SELECT run_id, stream_id, relation_name, destination_table,"
					  " method, replication_key, bookmark"
					  " FROM pgpull.begin_run($1, $2, $3)",
					  3, types, values, PGRES_TUPLES_OK,
					  "could not begin the run", err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (n == 0 || PQgetisnull(res, 0, 0))
	{
		pp_error_set(err, PPERR_STREAM, "could not begin the run: pgpull.begin_run returned no run");
		PQCLEAR(res);
		return -1;
	}
	*run_id = int64_value(res, 0, 0);
	*streams = pp_malloc(sizeof(StreamInfo) * (size_t) n);
	for (int i = 0; i < n; i++)
	{
		StreamInfo *s;

		if (PQgetisnull(res, i, 1))
			continue;			/* the integration tracks no streams */
		s = &(*streams)[count++];
		s->stream_id = int64_value(res, i, 1);
		s->relation_name = dup_value(res, i, 2);
		s->destination_table = dup_value(res, i, 3);
		s->method = dup_value(res, i, 4);
		s->replication_key = dup_value(res, i, 5);
		s->bookmark = dup_value(res, i, 6);
		if (s->destination_table == NULL)
			s->destination_table = pp_strdup("");
		if (s->relation_name == NULL)
			s->relation_name = pp_strdup("");
		if (s->method == NULL)
			s->method = pp_strdup("");
	}
	*nstreams = count;
	PQCLEAR(res);
	return 0;
}

/*
 * state_plan: pgpull.plan, what a run of an integration would extract
 * (chunk_rows 0: no limit; queries false: no query), without beginning
 * one: a read-only call.  Returns 0 with the streams, or -1 with err set.
 * The caller frees the streams with state_free_plan_streams.
 */
int
state_plan(PGconn *conn, const char *integration, int chunk_rows, bool queries,
		   PlanStream **streams, int *nstreams, PPError *err)
{
	static const Oid types[3] = {TEXTOID, INT4OID, BOOLOID};
	char		rows[16];
	const char *values[3];
	PGresult   *res;
	int			n;

	snprintf(rows, sizeof(rows), "%d", chunk_rows);
	values[0] = integration;
	values[1] = chunk_rows > 0 ? rows : NULL;
	values[2] = queries ? "t" : "f";
	*streams = NULL;
	*nstreams = 0;
	res = exec_params(conn,
					  "SELECT stream_id, relation_name, destination_table, method,"
					  " replication_key, bookmark, resume_position, chunked,"
					  " estimated_rows, query, note"
					  " FROM pgpull.plan($1, $2, $3)",
					  3, types, values, PGRES_TUPLES_OK,
					  "could not plan the run", err);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*streams = pp_malloc(sizeof(PlanStream) * (size_t) (n > 0 ? n : 1));
	for (int i = 0; i < n; i++)
	{
		PlanStream *p = &(*streams)[i];

		p->stream_id = int64_value(res, i, 0);
		p->relation_name = dup_value(res, i, 1);
		p->destination_table = dup_value(res, i, 2);
		p->method = dup_value(res, i, 3);
		p->replication_key = dup_value(res, i, 4);
		p->bookmark = dup_value(res, i, 5);
		p->resume_position = dup_value(res, i, 6);
		p->chunked = !PQgetisnull(res, i, 7) && strcmp(PQgetvalue(res, i, 7), "t") == 0;
		p->estimated_rows = PQgetisnull(res, i, 8) ? -1 : int64_value(res, i, 8);
		p->query = dup_value(res, i, 9);
		p->note = dup_value(res, i, 10);
	}
	*nstreams = n;
	PQCLEAR(res);
	return 0;
}

/*
 * state_free_plan_streams: free what state_plan returned.
 */
void
state_free_plan_streams(PlanStream *streams, int nstreams)
{
	for (int i = 0; i < nstreams; i++)
	{
		free(streams[i].relation_name);
		free(streams[i].destination_table);
		free(streams[i].method);
		free(streams[i].replication_key);
		free(streams[i].bookmark);
		free(streams[i].resume_position);
		free(streams[i].query);
		free(streams[i].note);
	}
	free(streams);
}

/*
 * state_free_streams: free what state_begin_run returned.
 */
void
state_free_streams(StreamInfo *streams, int nstreams)
{
	for (int i = 0; i < nstreams; i++)
	{
		free(streams[i].relation_name);
		free(streams[i].destination_table);
		free(streams[i].method);
		free(streams[i].replication_key);
		free(streams[i].bookmark);
	}
	free(streams);
}

/*
 * read_plan: fill plan from the one row of take_stream or take_range
 * (taken, json_schema, key_names, bookmark_properties, chunked,
 * table_version, then, from take_range, range_no and range_count).
 */
static void
read_plan(const PGresult *res, StreamPlan *plan)
{
	plan->taken = !PQgetisnull(res, 0, 0) && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	plan->json_schema = dup_value(res, 0, 1);
	plan->key_names = dup_value(res, 0, 2);
	plan->bookmark_properties = dup_value(res, 0, 3);
	plan->chunked = !PQgetisnull(res, 0, 4) && strcmp(PQgetvalue(res, 0, 4), "t") == 0;
	plan->has_table_version = !PQgetisnull(res, 0, 5);
	plan->table_version = int64_value(res, 0, 5);
	if (PQnfields(res) >= 8)
	{
		plan->range_no = (int) int64_value(res, 0, 6);
		plan->range_count = (int) int64_value(res, 0, 7);
	}
}

/*
 * take: pgpull.take_stream or take_log_stream (function), which answer a
 * plan (and take_log_stream, with relid not NULL, the relation's OID).
 * Returns 0 with plan filled, or -1 with err set.
 */
static int
take(PGconn *conn, const char *function, int64_t run_id, int64_t stream_id,
	 StreamPlan *plan, uint32_t *relid, PPError *err)
{
	static const Oid types[2] = {INT8OID, INT8OID};
	char		run[24];
	char		stream[24];
	char		sql[320];
	const char *values[2];
	PGresult   *res;

	memset(plan, 0, sizeof(*plan));
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(stream, sizeof(stream), "%" PRId64, stream_id);
	values[0] = run;
	values[1] = stream;
	snprintf(sql, sizeof(sql),
			 "SELECT taken, json_schema::pg_catalog.text,"
			 " pg_catalog.array_to_json(key_names)::pg_catalog.text,"
			 " pg_catalog.array_to_json(bookmark_properties)::pg_catalog.text,"
			 " chunked, table_version%s"
			 " FROM pgpull.%s($1, $2)", relid ? ", relid" : "", function);
	res = exec_params(conn, sql, 2, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
	{
		pp_error_set(err, PPERR_STREAM, "pgpull.%s returned %d rows instead of 1",
					 function, PQntuples(res));
		PQCLEAR(res);
		return -1;
	}
	read_plan(res, plan);
	if (relid)
		*relid = (uint32_t) int64_value(res, 0, 6);
	PQCLEAR(res);
	return 0;
}

/*
 * state_take_stream: take a stream for this run (an advisory lock on the
 * state connection).  Returns 0 with plan filled (plan->taken false when
 * another puller holds it), or -1 with err set (for example SQLSTATE 42P01
 * when the relation was dropped).  The caller frees the plan with
 * state_free_plan.
 */
int
state_take_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
				  StreamPlan *plan, PPError *err)
{
	return take(conn, "take_stream", run_id, stream_id, plan, NULL, err);
}

/*
 * state_take_range: pgpull.take_range, take_stream for a puller reading
 * with jobs sessions: a key range of a large full_table stream
 * (plan->range_no from 1), or the whole stream (range_no 0).  Returns as
 * state_take_stream.
 */
int
state_take_range(PGconn *conn, int64_t run_id, int64_t stream_id, int jobs,
				 int chunk_rows, StreamPlan *plan, PPError *err)
{
	static const Oid types[4] = {INT8OID, INT8OID, INT4OID, INT4OID};
	char		v[4][24];
	const char *values[4];
	PGresult   *res;

	memset(plan, 0, sizeof(*plan));
	snprintf(v[0], sizeof(v[0]), "%" PRId64, run_id);
	snprintf(v[1], sizeof(v[1]), "%" PRId64, stream_id);
	snprintf(v[2], sizeof(v[2]), "%d", jobs);
	snprintf(v[3], sizeof(v[3]), "%d", chunk_rows);
	for (int i = 0; i < 4; i++)
		values[i] = v[i];
	res = exec_params(conn,
					  "SELECT taken, json_schema::pg_catalog.text,"
					  " pg_catalog.array_to_json(key_names)::pg_catalog.text,"
					  " pg_catalog.array_to_json(bookmark_properties)::pg_catalog.text,"
					  " chunked, table_version, range_no, range_count"
					  " FROM pgpull.take_range($1, $2, $3, $4)",
					  4, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
	{
		pp_error_set(err, PPERR_STREAM, "pgpull.take_range returned %d rows instead of 1",
					 PQntuples(res));
		PQCLEAR(res);
		return -1;
	}
	read_plan(res, plan);
	PQCLEAR(res);
	return 0;
}

/*
 * state_free_plan: free what state_take_stream returned.
 */
void
state_free_plan(StreamPlan *plan)
{
	free(plan->json_schema);
	free(plan->key_names);
	free(plan->bookmark_properties);
	memset(plan, 0, sizeof(*plan));
}

/*
 * state_extraction_query: the SELECT of the next chunk (after_position NULL
 * for the first; chunk_rows 0 for no limit).  Returns 0 with *query (the
 * caller frees it), or -1 with err set.
 */
int
state_extraction_query(PGconn *conn, int64_t run_id, int64_t stream_id,
					   const char *after_position, int chunk_rows,
					   char **query, PPError *err)
{
	static const Oid types[4] = {INT8OID, INT8OID, TEXTOID, INT4OID};
	char		run[24];
	char		stream[24];
	char		rows[16];
	const char *values[4];
	PGresult   *res;

	*query = NULL;
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(stream, sizeof(stream), "%" PRId64, stream_id);
	snprintf(rows, sizeof(rows), "%d", chunk_rows);
	values[0] = run;
	values[1] = stream;
	values[2] = after_position;
	values[3] = chunk_rows > 0 ? rows : NULL;
	res = exec_params(conn, "SELECT pgpull.extraction_query($1, $2, $3, $4)",
					  4, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		pp_error_set(err, PPERR_STREAM, "pgpull.extraction_query returned no query");
		PQCLEAR(res);
		return -1;
	}
	*query = pp_strdup(PQgetvalue(res, 0, 0));
	PQCLEAR(res);
	return 0;
}

/*
 * state_record_batch: report a batch the destination accepted; the
 * extension advances the bookmark.  Returns 0, or -1 with err set.
 */
int
state_record_batch(PGconn *conn, int64_t run_id, int64_t stream_id,
				   int64_t rows, int64_t bytes, const char *last_position,
				   int64_t lossy, PPError *err)
{
	static const Oid types[6] = {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID};
	char		v[5][24];
	const char *values[6];
	PGresult   *res;

	snprintf(v[0], sizeof(v[0]), "%" PRId64, run_id);
	snprintf(v[1], sizeof(v[1]), "%" PRId64, stream_id);
	snprintf(v[2], sizeof(v[2]), "%" PRId64, rows);
	snprintf(v[3], sizeof(v[3]), "%" PRId64, bytes);
	snprintf(v[4], sizeof(v[4]), "%" PRId64, lossy);
	values[0] = v[0];
	values[1] = v[1];
	values[2] = v[2];
	values[3] = v[3];
	values[4] = last_position;
	values[5] = v[4];
	res = exec_params(conn, "SELECT pgpull.record_batch($1, $2, $3, $4, $5, $6)",
					  6, types, values, PGRES_TUPLES_OK,
					  "could not record an accepted batch", err);
	if (res == NULL)
		return -1;
	PQCLEAR(res);
	return 0;
}

/*
 * state_record_cap: a chunk about to be sent has rows rows at or after the
 * commit-safe cap cap; the extension keeps the bookmark at or below it.
 * Returns 0, or -1 with err set.
 */
int
state_record_cap(PGconn *conn, int64_t run_id, int64_t stream_id,
				 const char *cap, int64_t rows, PPError *err)
{
	static const Oid types[4] = {INT8OID, INT8OID, TEXTOID, INT8OID};
	char		v[3][24];
	const char *values[4];
	PGresult   *res;

	snprintf(v[0], sizeof(v[0]), "%" PRId64, run_id);
	snprintf(v[1], sizeof(v[1]), "%" PRId64, stream_id);
	snprintf(v[2], sizeof(v[2]), "%" PRId64, rows);
	values[0] = v[0];
	values[1] = v[1];
	values[2] = cap;
	values[3] = v[2];
	res = exec_params(conn, "SELECT pgpull.record_cap($1, $2, $3, $4)",
					  4, types, values, PGRES_TUPLES_OK,
					  "could not record the commit-safe cap of a chunk", err);
	if (res == NULL)
		return -1;
	PQCLEAR(res);
	return 0;
}

/*
 * state_probe_query: the statement (pgpull.probe_query) that finds, on the
 * source, the streams of the run with nothing new; *query NULL when no
 * stream can be probed.  Returns 0, or -1 with err set.
 */
int
state_probe_query(PGconn *conn, int64_t run_id, char **query, PPError *err)
{
	static const Oid types[1] = {INT8OID};
	char		run[24];
	const char *values[1];
	PGresult   *res;

	*query = NULL;
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	res = exec_params(conn, "SELECT pgpull.probe_query($1)", 1, types, values,
					  PGRES_TUPLES_OK, "could not get the probe of the streams", err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		*query = dup_value(res, 0, 0);
	PQCLEAR(res);
	return 0;
}

/*
 * state_record_unchanged: the streams ids[0..n-1] of the run have nothing
 * new (pgpull.record_unchanged): they succeed without being taken.
 * Returns 0 with one result per stream recorded (a stream another puller
 * holds is not; the caller frees them with state_free_unchanged), or -1
 * with err set.
 */
int
state_record_unchanged(PGconn *conn, int64_t run_id, const int64_t *ids, int n,
					   UnchangedStream **results, int *nresults, PPError *err)
{
	static const Oid types[2] = {INT8OID, INT8ARRAYOID};
	char		run[24];
	const char *values[2];
	Buf			array;
	PGresult   *res;
	int			rows;

	*results = NULL;
	*nresults = 0;
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	buf_init(&array);
	buf_append_str(&array, "{");
	for (int i = 0; i < n; i++)
		buf_appendf(&array, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
	buf_append_str(&array, "}");
	values[0] = run;
	values[1] = array.data;
	res = exec_params(conn,
					  "SELECT stream_id, message, entry::pg_catalog.text"
					  " FROM pgpull.record_unchanged($1, $2)",
					  2, types, values, PGRES_TUPLES_OK,
					  "could not record the streams with nothing new", err);
	buf_free(&array);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	*results = pp_malloc(sizeof(UnchangedStream) * (size_t) (rows > 0 ? rows : 1));
	for (int i = 0; i < rows; i++)
	{
		(*results)[i].stream_id = int64_value(res, i, 0);
		(*results)[i].message = dup_value(res, i, 1);
		(*results)[i].entry = dup_value(res, i, 2);
	}
	*nresults = rows;
	PQCLEAR(res);
	return 0;
}

/*
 * state_free_unchanged: free what state_record_unchanged returned.
 */
void
state_free_unchanged(UnchangedStream *results, int nresults)
{
	for (int i = 0; i < nresults; i++)
	{
		free(results[i].message);
		free(results[i].entry);
	}
	free(results);
}

/*
 * state_log: append a line to the extraction log (stream_id 0: the run's
 * own line).  Returns 0, or -1 with err set.
 */
int
state_log(PGconn *conn, int64_t run_id, int64_t stream_id, const char *level,
		  const char *message, PPError *err)
{
	static const Oid types[4] = {INT8OID, INT8OID, TEXTOID, TEXTOID};
	char		run[24];
	char		stream[24];
	const char *values[4];
	PGresult   *res;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(stream, sizeof(stream), "%" PRId64, stream_id);
	values[0] = run;
	values[1] = stream_id ? stream : NULL;
	values[2] = level;
	values[3] = message;
	res = exec_params(conn, "SELECT pgpull.log($1, $2, $3, $4)",
					  4, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	PQCLEAR(res);
	return 0;
}

/*
 * end_stream: call function (pgpull.end_stream or pgpull.end_singer_stream)
 * to record a stream's outcome.  Returns 0, or -1 with err set.
 */
static int
end_stream(PGconn *conn, const char *function, int64_t run_id, int64_t stream_id,
		   const char *status, int64_t rows_extracted, const char *error,
		   PPError *err)
{
	static const Oid types[5] = {INT8OID, INT8OID, TEXTOID, INT8OID, TEXTOID};
	char		run[24];
	char		stream[24];
	char		rows[24];
	const char *values[5];
	PGresult   *res;
	char	   *sql;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(stream, sizeof(stream), "%" PRId64, stream_id);
	snprintf(rows, sizeof(rows), "%" PRId64, rows_extracted);
	values[0] = run;
	values[1] = stream;
	values[2] = status;
	values[3] = rows;
	values[4] = error;
	sql = pp_psprintf("SELECT %s($1, $2, $3, $4, $5)", function);
	res = exec_params(conn, sql, 5, types, values, PGRES_TUPLES_OK,
					  "could not record the end of the stream", err);
	free(sql);
	if (res == NULL)
		return -1;
	PQCLEAR(res);
	return 0;
}

/*
 * state_end_stream: record a stream's outcome ('succeeded' or 'failed') and
 * release it.  Returns 0, or -1 with err set.
 */
int
state_end_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
				 const char *status, int64_t rows_extracted,
				 const char *error, PPError *err)
{
	return end_stream(conn, "pgpull.end_stream", run_id, stream_id, status,
					  rows_extracted, error, err);
}

/*
 * state_end_singer_stream: record the outcome of a stream sent to a Singer
 * target and release it; moves nothing.  Returns 0, or -1 with err set.
 */
int
state_end_singer_stream(PGconn *conn, int64_t run_id, int64_t stream_id,
						const char *status, int64_t rows_extracted,
						const char *error, PPError *err)
{
	return end_stream(conn, "pgpull.end_singer_stream", run_id, stream_id, status,
					  rows_extracted, error, err);
}

/*
 * state_record_emitted: count rows sent to a Singer target since the last
 * call (rows may be 0) and get the stream's bookmark entry for the STATE
 * message that follows them (JSON object text in *entry, which the caller
 * frees).  last_position is the position of the last row sent in this
 * run, NULL before the first; complete says the stream was sent to its
 * end.  Returns 0, or -1 with err set.
 */
int
state_record_emitted(PGconn *conn, int64_t run_id, int64_t stream_id,
					 int64_t rows, int64_t bytes, const char *last_position,
					 int64_t lossy, bool complete, char **entry, PPError *err)
{
	static const Oid types[7] = {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, INT8OID, BOOLOID};
	char		v[5][24];
	const char *values[7];
	PGresult   *res;

	*entry = NULL;
	snprintf(v[0], sizeof(v[0]), "%" PRId64, run_id);
	snprintf(v[1], sizeof(v[1]), "%" PRId64, stream_id);
	snprintf(v[2], sizeof(v[2]), "%" PRId64, rows);
	snprintf(v[3], sizeof(v[3]), "%" PRId64, bytes);
	snprintf(v[4], sizeof(v[4]), "%" PRId64, lossy);
	values[0] = v[0];
	values[1] = v[1];
	values[2] = v[2];
	values[3] = v[3];
	values[4] = last_position;
	values[5] = v[4];
	values[6] = complete ? "true" : "false";
	res = exec_params(conn,
					  "SELECT pgpull.record_emitted($1, $2, $3, $4, $5, $6, $7)::pg_catalog.text",
					  7, types, values, PGRES_TUPLES_OK,
					  "could not record rows sent to the Singer target", err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		pp_error_set(err, PPERR_STREAM, "pgpull.record_emitted returned no bookmark");
		PQCLEAR(res);
		return -1;
	}
	*entry = pp_strdup(PQgetvalue(res, 0, 0));
	PQCLEAR(res);
	return 0;
}

/*
 * state_commit: apply a state value a Singer target echoed (JSON text of
 * len bytes) with pgpull.commit_state.  Returns 0 with one result per
 * stream it names (the caller frees them with state_free_commit), or -1
 * with err set (SQLSTATE 22023: not a pgpull state of this catalog).
 */
int
state_commit(PGconn *conn, const char *state_json, size_t len,
			 CommitResult **results, int *nresults, PPError *err)
{
	static const Oid types[1] = {TEXTOID};
	const char *values[1];
	char	   *text = pp_strndup(state_json, len);
	PGresult   *res;
	int			n;

	*results = NULL;
	*nresults = 0;
	values[0] = text;
	res = exec_params(conn,
					  "SELECT stream, moved, bookmark, detail"
					  " FROM pgpull.commit_state($1::pg_catalog.jsonb)",
					  1, types, values, PGRES_TUPLES_OK,
					  "could not confirm the state the Singer target echoed", err);
	free(text);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*results = pp_malloc(sizeof(CommitResult) * (size_t) (n > 0 ? n : 1));
	for (int i = 0; i < n; i++)
	{
		CommitResult *r = &(*results)[i];

		r->stream = dup_value(res, i, 0);
		r->moved = !PQgetisnull(res, i, 1) && strcmp(PQgetvalue(res, i, 1), "t") == 0;
		r->bookmark = dup_value(res, i, 2);
		r->detail = dup_value(res, i, 3);
		if (r->stream == NULL)
			r->stream = pp_strdup("");
	}
	*nresults = n;
	PQCLEAR(res);
	return 0;
}

/*
 * state_free_commit: free what state_commit returned.
 */
void
state_free_commit(CommitResult *results, int nresults)
{
	for (int i = 0; i < nresults; i++)
	{
		free(results[i].stream);
		free(results[i].bookmark);
		free(results[i].detail);
	}
	free(results);
}

/*
 * state_end_run: record the run's outcome ('succeeded' or 'failed').
 * Returns 0, or -1 with err set.
 */
int
state_end_run(PGconn *conn, int64_t run_id, const char *status,
			  const char *error, PPError *err)
{
	static const Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
	char		run[24];
	const char *values[3];
	PGresult   *res;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	values[1] = status;
	values[2] = error;
	res = exec_params(conn, "SELECT pgpull.end_run($1, $2, $3)",
					  3, types, values, PGRES_TUPLES_OK,
					  "could not record the end of the run", err);
	if (res == NULL)
		return -1;
	PQCLEAR(res);
	return 0;
}

/*
 * state_slot_plan: pgpull.slot_plan, what the run does with its
 * integration's replication slot.  Returns 0 with plan filled (free it
 * with state_free_slot_plan), or -1 with err set.
 */
int
state_slot_plan(PGconn *conn, int64_t run_id, SlotPlan *plan, PPError *err)
{
	static const Oid types[1] = {INT8OID};
	char		run[24];
	const char *values[1];
	PGresult   *res;

	memset(plan, 0, sizeof(*plan));
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	res = exec_params(conn,
					  "SELECT action, slot_name, publication_name, confirmed_lsn, message"
					  " FROM pgpull.slot_plan($1)",
					  1, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		pp_error_set(err, PPERR_STREAM, "pgpull.slot_plan returned %d rows instead of 1",
					 PQntuples(res));
		PQCLEAR(res);
		return -1;
	}
	plan->action = dup_value(res, 0, 0);
	plan->slot_name = dup_value(res, 0, 1);
	plan->publication_name = dup_value(res, 0, 2);
	plan->confirmed_lsn = dup_value(res, 0, 3);
	plan->message = dup_value(res, 0, 4);
	PQCLEAR(res);
	return 0;
}

void
state_free_slot_plan(SlotPlan *plan)
{
	free(plan->action);
	free(plan->slot_name);
	free(plan->publication_name);
	free(plan->confirmed_lsn);
	free(plan->message);
	memset(plan, 0, sizeof(*plan));
}

/*
 * state_slot_call: pgpull.slot_created(run, lsn), slot_confirmed(run, lsn)
 * or slot_dropped(run) (lsn NULL), by function name.  Returns 0, or -1 with
 * err set.
 */
int
state_slot_call(PGconn *conn, const char *function, int64_t run_id, const char *lsn,
				PPError *err)
{
	static const Oid types[2] = {INT8OID, 0};
	char		run[24];
	const char *values[2];
	char		sql[96];
	PGresult   *res;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	values[1] = lsn;
	snprintf(sql, sizeof(sql), "SELECT pgpull.%s($1%s)", function, lsn ? ", $2::pg_catalog.pg_lsn" : "");
	res = exec_params(conn, sql, lsn ? 2 : 1, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	PQCLEAR(res);
	return 0;
}

/*
 * state_slot_blockers: the open transactions a slot being made waits for,
 * as text for a message ("PID 123 (application "psql", idle in
 * transaction, open since ...)", ...), or NULL with err set.
 */
char *
state_slot_blockers(PGconn *conn, int64_t run_id, PPError *err)
{
	static const Oid types[1] = {INT8OID};
	char		run[24];
	const char *values[1];
	PGresult   *res;
	char	   *text;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	res = exec_params(conn, "SELECT pgpull.slot_blockers($1)", 1, types, values,
					  PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return NULL;
	text = PQntuples(res) == 1 ? dup_value(res, 0, 0) : NULL;
	PQCLEAR(res);
	return text ? text : pp_strdup("none seen");
}

/*
 * state_copy_sequence: pgpull.copy_sequence, the sequence of the rows of a
 * log_based stream's next copy chunk, asked before its snapshot.  Returns
 * 0, or -1 with err set.
 */
int
state_copy_sequence(PGconn *conn, int64_t run_id, int64_t stream_id, int64_t *sequence,
					PPError *err)
{
	static const Oid types[2] = {INT8OID, INT8OID};
	char		run[24];
	char		stream[24];
	const char *values[2];
	PGresult   *res;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(stream, sizeof(stream), "%" PRId64, stream_id);
	values[0] = run;
	values[1] = stream;
	res = exec_params(conn, "SELECT pgpull.copy_sequence($1, $2)", 2, types, values,
					  PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	*sequence = PQntuples(res) == 1 ? int64_value(res, 0, 0) : 0;
	PQCLEAR(res);
	return 0;
}

/*
 * state_take_log_stream: pgpull.take_log_stream, take a log_based stream
 * to send its changes from the slot; *relid is its relation's OID, which
 * the slot's Relation messages carry.  Returns as state_take_stream.
 */
int
state_take_log_stream(PGconn *conn, int64_t run_id, int64_t stream_id, StreamPlan *plan,
					  uint32_t *relid, PPError *err)
{
	return take(conn, "take_log_stream", run_id, stream_id, plan, relid, err);
}

/*
 * state_log_query: pgpull.log_query for the column list of a Relation
 * message.  Returns 0 with q filled (free it with state_free_log_query),
 * or -1 with err set.
 */
int
state_log_query(PGconn *conn, int64_t run_id, int64_t stream_id,
				const char *const *columns, int ncolumns, LogQuery *q, PPError *err)
{
	static const Oid types[3] = {INT8OID, INT8OID, 0};
	char		run[24];
	char		stream[24];
	const char *values[3];
	PGresult   *res;
	Buf			names;
	char	   *keys;
	char	   *p;

	memset(q, 0, sizeof(*q));
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(stream, sizeof(stream), "%" PRId64, stream_id);
	/* the names as a JSON array, which SQL reads back without quoting rules */
	buf_init(&names);
	buf_append_str(&names, "[");
	for (int i = 0; i < ncolumns; i++)
	{
		if (i > 0)
			buf_append_str(&names, ",");
		buf_append_json(&names, (const unsigned char *) columns[i], strlen(columns[i]));
	}
	buf_append_str(&names, "]");
	values[0] = run;
	values[1] = stream;
	values[2] = names.data;
	res = exec_params(conn,
					  "SELECT query, json_schema::pg_catalog.text,"
					  " pg_catalog.array_to_string(key_indexes, ',')"
					  " FROM pgpull.log_query($1, $2, ARRAY(SELECT pg_catalog.json_array_elements_text($3::pg_catalog.json))::name[])",
					  3, types, values, PGRES_TUPLES_OK, NULL, err);
	buf_free(&names);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
	{
		pp_error_set(err, PPERR_STREAM, "pgpull.log_query returned %d rows instead of 1",
					 PQntuples(res));
		PQCLEAR(res);
		return -1;
	}
	q->query = dup_value(res, 0, 0);
	q->json_schema = dup_value(res, 0, 1);
	keys = PQgetvalue(res, 0, 2);
	q->key_indexes = pp_malloc(sizeof(int) * (strlen(keys) + 1));
	for (p = keys; *p;)
	{
		q->key_indexes[q->nkeys++] = (int) strtol(p, &p, 10);
		if (*p == ',')
			p++;
	}
	PQCLEAR(res);
	return 0;
}

void
state_free_log_query(LogQuery *q)
{
	free(q->query);
	free(q->json_schema);
	free(q->key_indexes);
	memset(q, 0, sizeof(*q));
}

/*
 * state_log_rows: run a log query on a batch of changes (a JSON array,
 * log_query's parameter): the result (ord, sequence, row_json, lossy), or
 * NULL with err set.
 */
PGresult *
state_log_rows(PGconn *conn, const char *query, const char *changes, PPError *err)
{
	const char *values[1];

	values[0] = changes;
	return exec_params(conn, query, 1, NULL, values, PGRES_TUPLES_OK,
					   "mapping the changes of the replication slot", err);
}

/*
 * state_slot_state_entry: pgpull.slot_state_entry, the slot's member of a
 * Singer STATE after the changes up to lsn.  Returns 0 with *entry (JSON
 * text; the caller frees it), or -1 with err set.
 */
int
state_slot_state_entry(PGconn *conn, int64_t run_id, const char *lsn, char **entry,
					   PPError *err)
{
	static const Oid types[2] = {INT8OID, 0};
	char		run[24];
	const char *values[2];
	PGresult   *res;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	values[1] = lsn;
	res = exec_params(conn, "SELECT pgpull.slot_state_entry($1, $2::pg_catalog.pg_lsn)::pg_catalog.text",
					  2, types, values, PGRES_TUPLES_OK, NULL, err);
	if (res == NULL)
		return -1;
	*entry = PQntuples(res) == 1 ? dup_value(res, 0, 0) : NULL;
	PQCLEAR(res);
	return 0;
}
