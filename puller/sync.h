/*-------------------------------------------------------------------------
 *
 * puller/sync.h
 *		pgpull: the "sync" command.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SYNC_H
#define PGPULL_SYNC_H

#include "options.h"
#include "sink.h"

extern int	sync_run(PullerOptions *o);
extern int	sync_database(PullerOptions *o, Sink *shared);
extern bool sync_finish_sink(Sink *sink, bool *interrupted, char **error);

#endif							/* PGPULL_SYNC_H */
