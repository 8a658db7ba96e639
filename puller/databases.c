/*-------------------------------------------------------------------------
 *
 * puller/databases.c
 *		pgpull: the databases of one server: destination table names and
 *		catalog connections for --all-databases (sync_all.c runs it).
 *
 * Streams of different databases may share a table name, and a table
 * tracked later in another database must never rename one already
 * loading, so every destination table is "<database>__<table>" under
 * --all-databases, always.  The catalog still knows its streams by its
 * own destination_table; the prefix is added once the run has begun.
 *
 * DatabaseConns keeps catalog connections to several databases of one
 * server, opened as they are first needed, for confirming the Singer
 * states of --all-databases, which span databases (commit.c).
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "databases.h"
#include "error.h"

/*
 * databases_report: report an error of one database, naming it.
 */
void
databases_report(const char *database, const PPError *err)
{
	pp_log_error("database \"%s\": %s", database,
				 err->message ? err->message : "unknown error");
	if (err->detail)
		pp_log_detail("%s", err->detail);
	if (err->hint)
		pp_log_hint("%s", err->hint);
}

/*
 * databases_prefix_streams: the destination tables of a run's streams, as
 * --all-databases names them: "<database>__<table>".
 */
void
databases_prefix_streams(StreamInfo *streams, int nstreams,
						 const char *database)
{
	for (int i = 0; i < nstreams; i++)
	{
		char	   *name = pp_psprintf("%s" DATABASE_SEPARATOR "%s", database,
									   streams[i].destination_table);

		free(streams[i].destination_table);
		streams[i].destination_table = name;
	}
}

/*
 * dbconns_init: no connection yet to the databases of the server conninfo
 * names.
 */
void
dbconns_init(DatabaseConns *dc, const char *conninfo)
{
	memset(dc, 0, sizeof(*dc));
	dc->conninfo = pp_strdup(conninfo ? conninfo : "");
}

/*
 * dbconns_get: the catalog connection of a database, opened (and the
 * extension's version checked) when first asked for, reset when it broke.
 * Returns NULL with err set when it cannot be had; the next call tries
 * again.
 */
PGconn *
dbconns_get(DatabaseConns *dc, const char *database, PPError *err)
{
	char	   *conninfo;
	PGconn	   *conn;

	for (int i = 0; i < dc->n; i++)
	{
		if (strcmp(dc->names[i], database) != 0)
			continue;
		if (PQstatus(dc->conns[i]) != CONNECTION_OK &&
			!conn_reset(dc->conns[i], CONN_STATE, err))
			return NULL;
		return dc->conns[i];
	}
	conninfo = conn_with_dbname(dc->conninfo, database);
	conn = conn_open(conninfo, CONN_STATE, err);
	free(conninfo);
	if (conn != NULL && state_version(conn, "state", err) != 0)
	{
		conn_close(conn, CONN_STATE);
		conn = NULL;
	}
	if (conn == NULL)
		return NULL;
	if (dc->n == dc->cap)
	{
		dc->cap = dc->cap ? dc->cap * 2 : 4;
		dc->names = pp_realloc(dc->names, sizeof(char *) * (size_t) dc->cap);
		dc->conns = pp_realloc(dc->conns, sizeof(PGconn *) * (size_t) dc->cap);
	}
	dc->names[dc->n] = pp_strdup(database);
	dc->conns[dc->n] = conn;
	dc->n++;
	return conn;
}

/*
 * dbconns_free: close the connections.
 */
void
dbconns_free(DatabaseConns *dc)
{
	for (int i = 0; i < dc->n; i++)
	{
		conn_close(dc->conns[i], CONN_STATE);
		free(dc->names[i]);
	}
	free(dc->names);
	free(dc->conns);
	free(dc->conninfo);
	memset(dc, 0, sizeof(*dc));
}
