/*-------------------------------------------------------------------------
 *
 * puller/databases.h
 *		pgpull: "pgpull sync --all-databases", and the catalogs of several
 *		databases.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_DATABASES_H
#define PGPULL_DATABASES_H

#include <libpq-fe.h>

#include "error.h"
#include "options.h"
#include "state.h"

/* between a database's name and a table's in destination table names */
#define DATABASE_SEPARATOR	"__"

/* connections to the catalogs of databases of one server, by name */
typedef struct DatabaseConns
{
	char	   *conninfo;		/* the server: its dbname is replaced */
	int			n;
	int			cap;
	char	  **names;
	PGconn	  **conns;
} DatabaseConns;

extern void databases_report(const char *database, const PPError *err);
extern void databases_prefix_streams(StreamInfo *streams, int nstreams,
									 const char *database);

extern void dbconns_init(DatabaseConns *dc, const char *conninfo);
extern PGconn *dbconns_get(DatabaseConns *dc, const char *database, PPError *err);
extern void dbconns_free(DatabaseConns *dc);

#endif							/* PGPULL_DATABASES_H */
