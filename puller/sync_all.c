/*-------------------------------------------------------------------------
 *
 * puller/sync_all.c
 *		pgpull: "pgpull sync --all-databases".
 *
 * With --all-databases, --source names a server rather than a database:
 * its database (or libpq's default) only serves to list the databases the
 * role can connect to, templates left out.  Each of them is then synced as
 * if --source named it (the user's connection options, dbname replaced),
 * in name order, with one sink for them all: a database without the
 * extension is noted in the log and skipped; one that cannot be reached
 * counts as exit status 3 and the others go on.  Each database keeps its
 * own catalog, so each gets its own run (pgpull.begin_run there, through
 * sync.c's sync_database) and its own run log; the exit status is the
 * worst of them (3 over 2 over 1 over 0).  Once the destination is down
 * (sink.down) no further database is tried.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "databases.h"
#include "log.h"
#include "metrics.h"
#include "sink.h"
#include "sync.h"
#include "sync_all.h"

static int	list_databases(const char *conninfo, char ***names, int *n,
						   PPError *err);
static int	has_extension(PGconn *conn, bool *has, PPError *err);
static int	sync_one(PullerOptions *o, Sink *sink, char *database);
static int	database_error(const char *database, const PPError *err);

/*
 * list_databases: the databases the role can connect to on the server
 * conninfo names, templates left out, in name order.  Returns 0 with
 * *names (the caller frees each and the array), or -1 with err set.
 */
static int
list_databases(const char *conninfo, char ***names, int *n, PPError *err)
{
	PGconn	   *conn = conn_open(conninfo, CONN_SOURCE, err);
	PGresult   *res;
	int			rc = -1;

	*names = NULL;
	*n = 0;
	if (conn == NULL)
		return -1;
	res = PQexec(conn,
				 "SELECT datname FROM pg_catalog.pg_database"
				 " WHERE NOT datistemplate AND datallowconn"
				 " AND pg_catalog.has_database_privilege(datname, 'CONNECT')"
				 " ORDER BY datname");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		pp_error_from_pg(err, PPERR_CONNECT, conn, res, "could not list the databases");
	else
	{
		*n = PQntuples(res);
		*names = pp_malloc(sizeof(char *) * (size_t) (*n > 0 ? *n : 1));
		for (int i = 0; i < *n; i++)
			(*names)[i] = pp_strdup(PQgetvalue(res, i, 0));
		rc = 0;
	}
	if (res)
		PQclear(res);
	conn_close(conn, CONN_SOURCE);
	return rc;
}

/*
 * has_extension: whether the extension is installed in the database of
 * conn.  Returns 0, or -1 with err set.
 */
static int
has_extension(PGconn *conn, bool *has, PPError *err)
{
	PGresult   *res = PQexec(conn,
							 "SELECT count(*) FROM pg_catalog.pg_extension"
							 " WHERE extname = 'pgpull'");
	int			rc = 0;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		pp_error_from_pg(err, PPERR_CONNECT, conn, res, "could not look for the extension");
		rc = -1;
	}
	else
		*has = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	if (res)
		PQclear(res);
	return rc;
}

/*
 * database_error: report an error that stops one database and return its
 * exit status: 2 for configuration, else 3 (it could not be reached).
 */
static int
database_error(const char *database, const PPError *err)
{
	databases_report(database, err);
	return err->kind == PPERR_CONFIG ? EXIT_USAGE : EXIT_CONNECT;
}

/*
 * sync_one: sync one database of --all-databases with the shared sink, or
 * note that it has no catalog.  Returns its exit status.
 */
static int
sync_one(PullerOptions *o, Sink *sink, char *database)
{
	char	   *conninfo = conn_with_dbname(o->source, database);
	PullerOptions dbo;
	PGconn	   *conn;
	PPError		err;
	bool		has = false;
	int			rc;

	pp_error_init(&err);
	conn = conn_open(conninfo, CONN_STATE, &err);
	if (conn == NULL || has_extension(conn, &has, &err) != 0)
	{
		rc = database_error(database, &err);
		goto done;
	}
	conn_close(conn, CONN_STATE);
	conn = NULL;
	if (!has)
	{
		runlog_print("INFO", "database \"%s\" has no pgpull extension: skipped", database);
		rc = EXIT_OK;
		goto done;
	}
	runlog_print("INFO", "database \"%s\": integration \"%s\", destination tables \"%s" DATABASE_SEPARATOR "...\"",
				 database, o->integration, database);
	dbo = *o;
	dbo.source = conninfo;
	dbo.database = database;
	rc = sync_database(&dbo, sink);

done:
	conn_close(conn, CONN_STATE);
	pp_error_clear(&err);
	free(conninfo);
	return rc;
}

/*
 * sync_all_databases: "pgpull sync --all-databases" with checked options.
 * Returns the worst exit status of the databases (3 over 2 over 1 over 0),
 * or that of an error before any database.
 */
int
sync_all_databases(PullerOptions *o)
{
	PPError		err;
	Sink	   *sink;
	char	  **names = NULL;
	int			n = 0;
	int			status = EXIT_OK;
	bool		interrupted = false;
	char	   *error = NULL;

	pp_error_init(&err);
	runlog_set_verbose(o->verbose);
	conn_setup_signals();
	metrics_start();

	if (o->target_kind == TARGET_SINGER)
		sink = singer_sink_create(o);
	else if ((sink = import_sink_create(o, &err)) == NULL)
	{
		pp_error_report(&err);
		pp_error_clear(&err);
		return metrics_write(o, EXIT_USAGE);
	}
	if (list_databases(o->source, &names, &n, &err) != 0)
	{
		pp_error_report(&err);
		status = err.kind == PPERR_CONFIG ? EXIT_USAGE : EXIT_CONNECT;
		goto done;
	}
	runlog_print("INFO", "%d %s to visit", n, pp_plural(n, "database", "databases"));
	for (int i = 0; i < n; i++)
	{
		int			rc;

		if (pp_interrupted || sink->down)
		{
			runlog_print("WARNING", "database \"%s\" not synced: %s", names[i],
						 pp_interrupted ? "interrupted" : sink->down);
			if (status < EXIT_STREAM_FAILED)
				status = EXIT_STREAM_FAILED;
			continue;
		}
		rc = sync_one(o, sink, names[i]);
		if (rc > status)
			status = rc;
	}
	if (sync_finish_sink(sink, &interrupted, &error) || interrupted ||
		sink->down || sink->failed)
	{
		if (status < EXIT_STREAM_FAILED)
			status = EXIT_STREAM_FAILED;
	}

done:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(error);
	pp_error_clear(&err);
	sink->methods->free(sink);
	return metrics_write(o, status);
}
