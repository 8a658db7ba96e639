/*-------------------------------------------------------------------------
 *
 * puller/jobs.h
 *		pgpull: "sync --jobs N": streams and key ranges read by several
 *		processes at once.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_JOBS_H
#define PGPULL_JOBS_H

#include <libpq-fe.h>

#include "error.h"
#include "options.h"
#include "sink.h"
#include "state.h"

/* what became of a stream (or of a key range of it) in a run */
typedef enum StreamOutcome
{
	STREAM_SUCCEEDED,
	STREAM_FAILED,
	STREAM_SKIPPED,
	STREAM_NOT_STARTED			/* the run stopped before it */
} StreamOutcome;

/* what a worker process runs: sync.c's sync_database */
typedef int (*JobsWorkerMain) (PullerOptions *o, Sink *shared);

extern bool jobs_join_run(int64_t *run_id, StreamInfo **streams, int *nstreams);
extern void jobs_begin(const SinkRun *run, PGconn *source, PullerOptions *o,
					   StreamInfo *streams, int nstreams, JobsWorkerMain worker);
extern int	jobs_next_stream(SinkRun *run, const PullerOptions *o,
							 const StreamInfo *streams, int nstreams,
							 bool stopping);
extern int	jobs_take(SinkRun *run, const PullerOptions *o, int64_t stream_id,
					  StreamPlan *plan, PPError *err);
extern StreamOutcome jobs_outcome(int i, StreamOutcome outcome);
extern void jobs_wait(void);
extern bool jobs_end(int nstreams, int *n_ok, int *n_failed, int *n_skipped,
					 int *n_not_started, bool *interrupted, bool *connect_failed, bool *failed,
					 char **error);

#endif							/* PGPULL_JOBS_H */
