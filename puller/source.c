/*-------------------------------------------------------------------------
 *
 * puller/source.c
 *		pgpull: checks of the source at the start of a run.
 *
 * The source and the state connection must reach one database, or the
 * source a streaming replica of the state: the commit-safe watermark
 * samples the open transactions of the state database, which says nothing
 * of another database's, and the bookmarks describe the source's rows.
 * pgpull.database_id() answers the same identity on a database and its
 * replicas (a restored dump has another), so source_same_database compares
 * it on both connections.
 *
 * A standby cancels queries that conflict with the WAL it replays unless
 * its max_standby_*_delay settings let them finish; source_check_standby
 * runs pgpull.check_standby() on a source in recovery and logs a warning,
 * with the statement that fixes it, for every check that is not ok.  The
 * run goes on: a conflict costs a re-read of one chunk, not a failure.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "source.h"

static char *database_id(PGconn *conn, const char *which, PPError *err);
static char *describe(PGconn *conn);

/*
 * database_id: pgpull.database_id() on a connection, or NULL with err set.
 */
static char *
database_id(PGconn *conn, const char *which, PPError *err)
{
	PGresult   *res;
	char	   *id = NULL;

	res = PQexecParams(conn, "SELECT pgpull.database_id()", 0, NULL, NULL, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		char	   *context = pp_psprintf("could not read the identity of the %s database", which);

		pp_error_from_pg(err, PPERR_CONFIG, conn, res, context);
		free(context);
	}
	else
		id = pp_strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return id;
}

/*
 * describe: a connection as a person reads it: database "x" at host:port
 * (host is the socket directory for a unix socket).
 */
static char *
describe(PGconn *conn)
{
	return pp_psprintf("database \"%s\" at %s:%s as user \"%s\"", PQdb(conn),
					   PQhost(conn), PQport(conn), PQuser(conn));
}

/*
 * source_same_database: 0 when the source and the state connection reach
 * the same database (or the source a replica of it); -1 with err set
 * (PPERR_CONFIG, naming both) when they do not, or when an identity could
 * not be read.
 */
int
source_same_database(PGconn *source, PGconn *state, PPError *err)
{
	char	   *source_id;
	char	   *state_id = NULL;
	int			rc = -1;

	if ((source_id = database_id(source, "source", err)) == NULL ||
		(state_id = database_id(state, "state", err)) == NULL)
		goto done;
	if (strcmp(source_id, state_id) != 0)
	{
		char	   *source_name = describe(source);
		char	   *state_name = describe(state);

		pp_error_set(err, PPERR_CONFIG,
					 "the source and the state connections reach different databases");
		pp_error_detail(err, "The source is %s, identity %s; the state is %s, identity %s.",
						source_name, source_id, state_name, state_id);
		pp_error_hint(err, "Give --state the primary of the source (when the source is a read replica), or leave --state out to keep the catalog on the source.");
		free(source_name);
		free(state_name);
		goto done;
	}
	rc = 0;
done:
	free(source_id);
	free(state_id);
	return rc;
}

/*
 * source_check_standby: when the source is in recovery, log a warning for
 * each check of pgpull.check_standby() that is not ok, with its fix.
 * Returns -1 with err set only when the source could not be asked
 * (PPERR_CONFIG); settings under the recommendation are warnings.
 */
int
source_check_standby(PGconn *source, PPError *err)
{
	PGresult   *res;
	const char *hot = PQparameterStatus(source, "in_hot_standby");

	/* a server of PostgreSQL 14 or later told at connection whether it is a standby */
	if (hot != NULL && strcmp(hot, "off") == 0)
		return 0;
	res = PQexecParams(source,
					   "SELECT c.setting, c.value, c.recommended, c.detail, c.fix"
					   "  FROM pgpull.check_standby() c"
					   " WHERE pg_catalog.pg_is_in_recovery() AND NOT c.ok",
					   0, NULL, NULL, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		pp_error_from_pg(err, PPERR_CONFIG, source, res,
						 "could not check the standby settings of the source");
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		runlog("WARNING", "the source is a standby and %s is %s (recommended: %s): %s%s%s",
			   PQgetvalue(res, i, 0),
			   PQgetisnull(res, i, 1) ? "unknown" : PQgetvalue(res, i, 1),
			   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
			   PQgetisnull(res, i, 4) ? "" : "; on the standby: ",
			   PQgetisnull(res, i, 4) ? "" : PQgetvalue(res, i, 4));
	}
	PQclear(res);
	return 0;
}

/*
 * source_in_recovery: whether the source is a standby (false when that
 * cannot be told: the query fails later with its own error).
 */
bool
source_in_recovery(PGconn *source)
{
	PGresult   *res = PQexec(source, "SELECT pg_catalog.pg_is_in_recovery()");
	bool		standby = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	if (res)
		PQclear(res);
	return standby;
}
