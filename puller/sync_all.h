/*-------------------------------------------------------------------------
 *
 * puller/sync_all.h
 *		pgpull: "pgpull sync --all-databases".
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SYNC_ALL_H
#define PGPULL_SYNC_ALL_H

#include "options.h"

extern int	sync_all_databases(PullerOptions *o);

#endif							/* PGPULL_SYNC_ALL_H */
