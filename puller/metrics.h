/*-------------------------------------------------------------------------
 *
 * puller/metrics.h
 *		pgpull: the end of a run for operators: pruning the catalog, and
 *		the Prometheus metrics file of --metrics-file.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_METRICS_H
#define PGPULL_METRICS_H

#include <libpq-fe.h>

#include "options.h"

extern void metrics_start(void);
extern void metrics_prune(PGconn *state, int64_t run_id);
extern void metrics_collect(PGconn *state, const PullerOptions *o);
extern int	metrics_write(const PullerOptions *o, int status);

#endif							/* PGPULL_METRICS_H */
