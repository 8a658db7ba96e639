/*-------------------------------------------------------------------------
 *
 * puller/probe.h
 *		pgpull: the streams of a run with nothing new.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_PROBE_H
#define PGPULL_PROBE_H

#include <libpq-fe.h>

#include "sink.h"
#include "state.h"

extern int	probe_unchanged(PGconn *source, SinkRun *run, Sink *sink,
							const StreamInfo *streams, int nstreams,
							bool *unchanged);

#endif							/* PGPULL_PROBE_H */
