/*-------------------------------------------------------------------------
 *
 * puller/conn.h
 *		pgpull: database connections and interrupts.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_CONN_H
#define PGPULL_CONN_H

#include <signal.h>

#include <libpq-fe.h>

#include "error.h"
#include "options.h"

/* which connection: settings and cancel slots differ */
typedef enum ConnRole
{
	CONN_SOURCE = 0,			/* rows are read here (maybe a standby) */
	CONN_STATE = 1,				/* the catalog is written here */
	CONN_PRIMARY = 2,			/* log_based copies, read like the source's
								 * rows but on the primary (--state) when the
								 * source is a standby */
	CONN_REPLICATION = 3		/* the replication connection of log_based
								 * streams (replication=database), to the
								 * primary */
} ConnRole;

#define CONN_ROLES	4

/* set by SIGINT or SIGTERM */

extern void conn_setup_signals(void);
extern int	conn_use_ssh(const PullerOptions *o, bool with_source);
extern void conn_end_ssh(void);
extern PGconn *conn_open(const char *conninfo, ConnRole role, PPError *err);
extern int	conn_open_both(const char *state_conninfo, const char *source_conninfo,
						   PGconn **state, PGconn **source, PPError *err);
extern bool conn_reset(PGconn *conn, ConnRole role, PPError *err);
extern void conn_close(PGconn *conn, ConnRole role);
extern char *conn_with_dbname(const char *conninfo, const char *dbname);
extern bool conn_sleep(double seconds);
extern char *conn_quote(PGconn *conn, const char *ident);
extern char *conn_start_replication(PGconn *repl, const char *slot, const char *lsn,
									const char *publication);
extern int	conn_confirm_slot(PGconn *repl, const char *slot, const char *publication,
							  uint64_t lsn, PPError *err);

#endif							/* PGPULL_CONN_H */
