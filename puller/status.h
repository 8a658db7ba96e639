/*-------------------------------------------------------------------------
 *
 * puller/status.h
 *		pgpull: "pgpull status", the health of the integrations.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_STATUS_H
#define PGPULL_STATUS_H

#include "options.h"

extern int	status_run(const PullerOptions *o);

#endif							/* PGPULL_STATUS_H */
