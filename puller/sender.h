/*-------------------------------------------------------------------------
 *
 * puller/sender.h
 *		pgpull: send rows to the sink from a thread of their own while the
 *		next rows are read.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_SENDER_H
#define PGPULL_SENDER_H

#include <pthread.h>

#include "error.h"
#include "extract.h"
#include "sink.h"
#include "spool.h"

/* rows handed to the sending thread at a time, kept in memory */
#define SENDER_SEGMENT		(256 * 1024)
/* rows handed over at a time once they go to a temporary file */
#define SENDER_FILE_SEGMENT	(8 * 1024 * 1024)
/*
 * rows waiting in memory, handed over or held, before they go to files
 * (PGPULL_SPOOL_MEMORY, in bytes, sets another)
 */
#define SENDER_MEMORY		(8 * 1024 * 1024)

typedef struct SenderItem SenderItem;

typedef struct Sender
{
	Sink	   *sink;
	SinkRun    *run;
	const StreamInfo *stream;	/* the stream whose rows are sent */

	pthread_t	thread;
	bool		started;
	pthread_mutex_t lock;		/* guards what follows, to "failed" */
	pthread_cond_t changed;		/* an item came, or the thread went idle */
	SenderItem *head;			/* handed over, not yet taken */
	SenderItem *tail;
	size_t		queued_mem;		/* bytes of rows in memory handed over */
	int			queued_files;	/* items handed over whose rows are in files */
	size_t		memory;			/* SENDER_MEMORY, or PGPULL_SPOOL_MEMORY */
	bool		busy;			/* the thread is sending an item */
	bool		stopping;
	bool		failed;			/* the sink failed: items are dropped */
	PPError		err;			/* why */

	/* the reading side's own (the main thread's) */
	SenderItem *cur;			/* the rows being gathered */
	SenderItem *held;			/* gathered, kept until the chunk is read */
	SenderItem *held_tail;
	size_t		held_mem;
	bool		hold_all;		/* a stream read in one pass */
	bool		holding;		/* rows past the commit-safe cap came */
	int64_t		capped;			/* rows at or after the cap in the chunk */
	Buf			cap;			/* that cap */

	/*
	 * called by the main thread every 200 ms while it waits for the sending
	 * thread (log_based streams answer the replication connection's
	 * keepalives with it), or NULL
	 */
	void		(*idle) (void *arg);
	void	   *idle_arg;
} Sender;

extern int	sender_start(Sender *snd, Sink *sink, SinkRun *run, PPError *err);
extern void sender_begin_stream(Sender *snd, const StreamInfo *s, bool one_pass);
extern void sender_begin_chunk(Sender *snd);
extern int	sender_add(Sender *snd, const CopyRow *row, PPError *err);
extern int	sender_end_chunk(Sender *snd, PPError *err);
extern void sender_drop_chunk(Sender *snd);
extern bool sender_failed(Sender *snd, PPError *err);
extern int	sender_make_room(Sender *snd, PPError *err);
extern int	sender_wait(Sender *snd, bool discard, PPError *err);
extern void sender_discard(Sender *snd);
extern void sender_stop(Sender *snd);

#endif							/* PGPULL_SENDER_H */
