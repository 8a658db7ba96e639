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

extern int	sync_run(PullerOptions *o);

#endif							/* PGPULL_SYNC_H */
