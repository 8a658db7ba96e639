/*-------------------------------------------------------------------------
 *
 * puller/discover.h
 *		pgpull: list what could be replicated ("pgpull discover").
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_DISCOVER_H
#define PGPULL_DISCOVER_H

#include "options.h"

extern int	discover_run(const PullerOptions *o);

#endif							/* PGPULL_DISCOVER_H */
