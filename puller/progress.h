/*-------------------------------------------------------------------------
 *
 * puller/progress.h
 *		pgpull: the progress line of a sync on a terminal.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_PROGRESS_H
#define PGPULL_PROGRESS_H

#include "common.h"

extern bool progress_start(bool quiet, bool draws);
extern void progress_begin_stream(const char *name, int64_t estimated_rows);
extern void progress_rows(int64_t rows, size_t bytes);
extern void progress_sent(int64_t rows, int64_t bytes);
extern void progress_tick(void);
extern void progress_end_stream(bool succeeded);

#endif							/* PGPULL_PROGRESS_H */
