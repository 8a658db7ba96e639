/*-------------------------------------------------------------------------
 *
 * puller/sink.h
 *		pgpull: where the rows of a run go: the interface of a sink, and
 *		its two kinds.
 *
 * sync.c reads the rows; a sink takes them to the destination and records
 * in the catalog what the destination took.  The run calls a sink's
 * methods in this order:
 *
 *	 begin_run				once, after pgpull.begin_run
 *	 begin_stream			for each stream taken
 *	   begin_chunk			for each chunk read (NULL: nothing to do)
 *		 add_row			for each row, then flush when it answered SINK_FULL
 *	   end_rows				the stream's rows are over, all of them or not
 *	 end_stream				the stream's outcome, also when it failed before
 *							begin_stream
 *	 finish					once, after the last stream (NULL: nothing to do)
 *	 end_run				the run is over (NULL: nothing to do)
 *	 free
 *
 * With --all-databases one sink serves the runs of every database, one
 * after the other: begin_run through end_run for each run, then finish
 * and free once, after the last (a sink may not use a run after its
 * end_run).
 *
 * add_row never waits on the destination: it takes the row and answers
 * SINK_FULL when the destination must be written to before the next row,
 * which leaves the caller to choose when the waiting happens.  Every
 * method that returns an int returns 0 (or SINK_FULL), or -1 with err
 * set; an error of finish fails the run (PPERR_INTERRUPTED: it was
 * interrupted).  Besides errors, a sink says through sink.down that no
 * more streams can go to the destination, and through sink.failed that
 * the destination failed the run; either fails the run.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SINK_H
#define PGPULL_SINK_H

#include <libpq-fe.h>

#include "error.h"
#include "extract.h"
#include "options.h"
#include "state.h"

/* what add_row answers when the destination wants writing */
#define SINK_FULL	1

/* the run a sink works for; the caller shares it with the sink */
typedef struct SinkRun
{
	PGconn	   *state;			/* the catalog, where deliveries are recorded */
	int64_t		run_id;
	bool		state_lost;		/* the state connection broke: no more calls */
	const char *database;		/* --all-databases: the run's database */
	/*
	 * log_based: the LSN a Singer target confirmed the slot's changes up to
	 * (set by the sending thread, read by the main one: atomic), or 0
	 */
	uint64_t	slot_confirm;
} SinkRun;

typedef struct Sink Sink;

typedef struct SinkMethods
{
	int			(*begin_run) (Sink *sink, SinkRun *run, PPError *err);
	int			(*begin_stream) (Sink *sink, const StreamInfo *s,
								 const StreamPlan *plan, PPError *err);
	void		(*begin_chunk) (Sink *sink);
	int			(*add_row) (Sink *sink, const CopyRow *row, PPError *err);
	int			(*flush) (Sink *sink, PPError *err);
	/* complete: deliver the rest; else keep what the destination can */
	int			(*end_rows) (Sink *sink, bool complete, PPError *err);
	/* error NULL: the stream succeeded */
	int			(*end_stream) (Sink *sink, const StreamInfo *s,
							   int64_t rows_extracted, const char *error,
							   PPError *err);
	/* optional: a stream the run recorded with nothing new (probe.c) */
	int			(*unchanged_stream) (Sink *sink, const StreamInfo *s,
									 const char *entry, PPError *err);
	/*
	 * optional: every change of the log_based streams up to lsn (text) was
	 * handed over: a sink that confirms later (Singer) says so to its
	 * target; without it, the slot is confirmed at once
	 */
	int			(*log_window) (Sink *sink, const char *lsn, PPError *err);
	int			(*finish) (Sink *sink, PPError *err);
	void		(*end_run) (Sink *sink);
	void		(*free) (Sink *sink);
} SinkMethods;

struct Sink
{
	const SinkMethods *methods;
	const char *down;			/* why no more streams can go, or NULL */
	const char *failed;			/* why the run failed at the destination
								 * besides its streams, or NULL */
	/*
	 * -v's timings of a batch, in seconds, kept by the sending thread: how
	 * long it waited for rows from the source (sender.c adds to it) and
	 * spent at the destination (the sink), since the last batch's line
	 * (runlog_batch_times resets both).
	 */
	double		source_wait;
	double		destination_time;
};

/* Import API batches over HTTP; NULL with err set when it cannot be set up */
extern Sink *import_sink_create(const PullerOptions *o, PPError *err);

/* Singer messages to standard output or a --target-command */
extern Sink *singer_sink_create(const PullerOptions *o);

#endif							/* PGPULL_SINK_H */
