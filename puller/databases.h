/*-------------------------------------------------------------------------
 *
 * puller/databases.h
 *		pgpull: "pgpull sync --all-databases".
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

extern int	databases_sync_run(PullerOptions *o);
extern void databases_report(const char *database, const PPError *err);
extern void databases_prefix_streams(StreamInfo *streams, int nstreams,
									 const char *database);

#endif							/* PGPULL_DATABASES_H */
