/*-------------------------------------------------------------------------
 *
 * puller/source.h
 *		pgpull: checks of the source at the start of a run: the same
 *		database as the state, and a standby's settings.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SOURCE_H
#define PGPULL_SOURCE_H

#include <libpq-fe.h>

#include "error.h"

extern int	source_same_database(PGconn *source, PGconn *state, PPError *err);
extern int	source_check_standby(PGconn *source, PPError *err);
extern bool source_in_recovery(PGconn *source);

#endif							/* PGPULL_SOURCE_H */
