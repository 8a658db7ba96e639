/*-------------------------------------------------------------------------
 *
 * puller/logical.h
 *		pgpull: log_based streams: the integration's replication slot, and
 *		the changes streamed from it (README.md, "Log-based replication").
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_LOGICAL_H
#define PGPULL_LOGICAL_H

#include <libpq-fe.h>

#include "error.h"
#include "options.h"
#include "sender.h"
#include "sink.h"
#include "state.h"

typedef struct LogicalRun LogicalRun;

extern bool logical_is_log(const StreamInfo *s);
extern bool logical_copied(const StreamInfo *s);
extern LogicalRun *logical_prepare(const PullerOptions *o, SinkRun *run, PGconn *source,
								   StreamInfo *streams, int nstreams, PPError *err);
extern const char *logical_not_ready(const LogicalRun *lr);
extern bool logical_busy(const LogicalRun *lr);
extern int	logical_stream(LogicalRun *lr, Sink *sink, Sender *snd, int *n_ok, int *n_failed);
extern void logical_copy_outcome(LogicalRun *lr, int64_t stream_id, bool succeeded);
extern void logical_finish(LogicalRun *lr);
extern void logical_end(LogicalRun *lr);

#endif							/* PGPULL_LOGICAL_H */
