/*-------------------------------------------------------------------------
 *
 * puller/log.h
 *		pgpull: the run log.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_LOG_H
#define PGPULL_LOG_H

#include <libpq-fe.h>

#include "error.h"

/* the run log: timestamped stderr lines, also sent to pgpull.log() */
extern void runlog_set_verbose(bool verbose);
extern void runlog_set_quiet(bool quiet);
extern void runlog_open(PGconn *state, int64_t run_id);
extern void runlog_close(void);
extern void runlog_set_stream(const char *name, int64_t stream_id);
extern void runlog(const char *level, const char *fmt,...) PP_PRINTF(2, 3);
extern void runlog_print(const char *level, const char *fmt,...) PP_PRINTF(2, 3);
extern void runlog_batch(int64_t n, const char *what, int64_t rows,
						 int64_t bytes, int64_t lossy);
extern void runlog_batch_times(int64_t n, double *source_wait,
							   double *destination_time);
extern void runlog_print_stream(const char *stream, const char *level,
								const char *fmt,...) PP_PRINTF(3, 4);
extern void runlog_error(const PPError *e);
extern void runlog_notice_receiver(void *arg, const PGresult *res);

#endif							/* PGPULL_LOG_H */
