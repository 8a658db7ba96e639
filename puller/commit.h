/*-------------------------------------------------------------------------
 *
 * puller/commit.h
 *		pgpull: confirm the states a Singer target echoed.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_COMMIT_H
#define PGPULL_COMMIT_H

#include <jansson.h>
#include <libpq-fe.h>

#include "databases.h"
#include "error.h"
#include "options.h"

/* what a line a Singer target printed holds */
typedef enum EchoKind
{
	ECHO_STATE,					/* a pgpull state of the integration */
	ECHO_DATABASES,				/* one of --all-databases: of the runs of
								 * several databases */
	ECHO_NOT_JSON,				/* not a JSON object */
	ECHO_OTHER,					/* a JSON object, not a pgpull state */
	ECHO_FOREIGN				/* a pgpull state of another integration */
} EchoKind;

extern EchoKind commit_classify(const char *line, size_t len,
								const char *integration, int64_t *run_id,
								char **other_integration, json_t **databases);
/* what confirming states did */
typedef struct CommitCounts
{
	int			moved;			/* bookmarks moved */
	int			rejected;		/* entries pgpull did not write, or not for a
								 * run of this catalog */
	uint64_t	slot_lsn;		/* log_based: confirm the slot to it, or 0 */
	char		slot[64];		/* which slot */
} CommitCounts;

extern int	commit_apply(PGconn *conn, const char *line, size_t len,
						 const char *database, CommitCounts *counts, PPError *err);
extern char *commit_database_state(json_t *state, const char *database,
								   json_t *run);
extern int	commit_apply_databases(DatabaseConns *dc, const char *line, size_t len,
								   CommitCounts *counts);
extern int	commit_state_run(PullerOptions *o);

#endif							/* PGPULL_COMMIT_H */
