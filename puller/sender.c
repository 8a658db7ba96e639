/*-------------------------------------------------------------------------
 *
 * puller/sender.c
 *		pgpull: send rows to the sink from a thread of their own while the
 *		next rows are read.
 *
 * Reading a chunk and sending rows would otherwise take turns: the server
 * idles while a batch is sent and the puller idles while the server builds
 * rows.  So the main thread reads (sync.c) and one sending thread, started
 * once per run, hands the rows to the sink, which builds the batches,
 * posts them and records what the destination took, as before.  The main
 * thread gathers rows into segments (spools of SENDER_SEGMENT bytes) and
 * hands each over as it fills; the sending thread takes them in order.
 *
 * No source transaction ever waits for the destination: the main thread
 * never blocks on the sending thread while a chunk is read.  When the
 * destination is slower than the source, the segments handed over pile up:
 * past SENDER_MEMORY bytes in memory (PGPULL_SPOOL_MEMORY), new ones go to
 * temporary files
 * (spool.c), and the chunk is read to its end and committed all the same.
 * Only between chunks does the main thread wait, and only until what was
 * handed over fits in memory again, so at most one chunk is on disk.
 *
 * Two kinds of rows are held back until their chunk is read (committed):
 * every row of a stream read in one pass (one without key columns: a read
 * that fails must start over, so nothing of it may be sent before it is
 * complete), and the rows at or after the commit-safe cap, which come last
 * in their chunk, ordered by the key: the cap and their count are recorded
 * (pgpull.record_cap) before any of them is sent, so that no bookmark
 * passes the cap.
 *
 * The state connection is shared by both threads; state.c serializes its
 * use.  When the sink fails, the thread keeps its error and drops what it
 * is handed until sender_wait reports it; the main thread sees the failure
 * on its next row (sender_add) and stops reading.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "progress.h"
#include "sender.h"
#include "state.h"

typedef enum SenderItemKind
{
	ITEM_ROWS,					/* a segment of rows */
	ITEM_CHUNK,					/* a chunk begins: the sink's begin_chunk */
	ITEM_CAP					/* record the chunk's commit-safe cap */
} SenderItemKind;

struct SenderItem
{
	SenderItem *next;
	SenderItemKind kind;
	Spool		rows;			/* ITEM_ROWS */
	char	   *cap;			/* ITEM_CAP */
	int64_t		capped;
};

static void *sender_main(void *arg);
static int	send_item(Sender *snd, SenderItem *item, PPError *err);
static SenderItem *new_item(SenderItemKind kind);
static void free_item(SenderItem *item);
static void hand_over(Sender *snd, SenderItem *first, SenderItem *last, size_t mem);
static void wait_changed(Sender *snd, bool *passed_on);
static void close_segment(Sender *snd);
static void copy_error(PPError *dst, const PPError *src);

/*
 * new_item: an empty item of a kind.
 */
static SenderItem *
new_item(SenderItemKind kind)
{
	SenderItem *item = pp_malloc(sizeof(SenderItem));

	memset(item, 0, sizeof(SenderItem));
	item->kind = kind;
	spool_init(&item->rows);
	return item;
}

static void
free_item(SenderItem *item)
{
	spool_free(&item->rows);
	free(item->cap);
	free(item);
}

/*
 * copy_error: dst becomes a copy of src.
 */
static void
copy_error(PPError *dst, const PPError *src)
{
	pp_error_clear(dst);
	pp_error_set(dst, src->kind, "%s", src->message ? src->message : "the destination failed");
	memcpy(dst->sqlstate, src->sqlstate, sizeof(dst->sqlstate));
	if (src->detail)
		pp_error_detail(dst, "%s", src->detail);
	if (src->hint)
		pp_error_hint(dst, "%s", src->hint);
}

/*
 * sender_start: start the sending thread of a run.  Returns 0, or -1 with
 * err set.
 */
int
sender_start(Sender *snd, Sink *sink, SinkRun *run, PPError *err)
{
	int			rc;

	const char *memory = getenv("PGPULL_SPOOL_MEMORY");
	char	   *end;

	memset(snd, 0, sizeof(Sender));
	snd->sink = sink;
	snd->run = run;
	snd->memory = SENDER_MEMORY;
	if (memory != NULL && memory[0] != '\0')
	{
		unsigned long long v;

		errno = 0;
		v = strtoull(memory, &end, 10);
		if (errno != 0 || *end != '\0' || memory[0] == '-' || v > (unsigned long long) SIZE_MAX / 2)
		{
			pp_error_set(err, PPERR_CONFIG, "invalid PGPULL_SPOOL_MEMORY: \"%s\"", memory);
			pp_error_hint(err, "Give the bytes of rows to keep in memory, such as 8388608, or unset it.");
			return -1;
		}
		snd->memory = (size_t) v;
	}
	pp_error_init(&snd->err);
	buf_init(&snd->cap);
	pthread_mutex_init(&snd->lock, NULL);
	pthread_cond_init(&snd->changed, NULL);
	rc = pthread_create(&snd->thread, NULL, sender_main, snd);
	if (rc != 0)
	{
		pp_error_set(err, PPERR_CONFIG, "could not start the sending thread: %s", strerror(rc));
		pthread_cond_destroy(&snd->changed);
		pthread_mutex_destroy(&snd->lock);
		return -1;
	}
	snd->started = true;
	return 0;
}

/*
 * sender_main: the sending thread: take the items in order and send them,
 * until told to stop.
 */
static void *
sender_main(void *arg)
{
	Sender	   *snd = arg;
	PPError		err;

	pp_error_init(&err);
	pthread_mutex_lock(&snd->lock);
	for (;;)
	{
		SenderItem *item;
		size_t		mem;
		bool		file;
		bool		failed;

		if (snd->head == NULL && !snd->stopping)
		{
			/* waiting for rows: the source's time, in -v's batch timings */
			double		since = pp_seconds();

			while (snd->head == NULL && !snd->stopping)
				pthread_cond_wait(&snd->changed, &snd->lock);
			snd->sink->source_wait += pp_seconds() - since;
		}
		if (snd->head == NULL)
			break;
		item = snd->head;
		snd->head = item->next;
		if (snd->head == NULL)
			snd->tail = NULL;
		snd->busy = true;
		failed = snd->failed;
		pthread_mutex_unlock(&snd->lock);

		mem = item->rows.mem.len;
		file = item->rows.file_bytes > 0;
		if (!failed && send_item(snd, item, &err) != 0)
		{
			pthread_mutex_lock(&snd->lock);
			snd->failed = true;
			copy_error(&snd->err, &err);
			pthread_mutex_unlock(&snd->lock);
			pp_error_clear(&err);
		}
		free_item(item);

		pthread_mutex_lock(&snd->lock);
		snd->queued_mem -= mem;
		if (file)
			snd->queued_files--;
		snd->busy = false;
		pthread_cond_broadcast(&snd->changed);
	}
	pthread_mutex_unlock(&snd->lock);
	return NULL;
}

/*
 * send_item: what the sending thread does with an item.  Returns 0, or -1
 * with err set.
 */
static int
send_item(Sender *snd, SenderItem *item, PPError *err)
{
	Sink	   *sink = snd->sink;
	CopyRow		row;
	int			rc;

	switch (item->kind)
	{
		case ITEM_CHUNK:
			if (sink->methods->begin_chunk)
				sink->methods->begin_chunk(sink);
			return 0;
		case ITEM_CAP:
			return state_record_cap(snd->run->state, snd->run->run_id, snd->stream->stream_id,
									item->cap, item->capped, err);
		case ITEM_ROWS:
			break;
	}
	if (spool_rewind(&item->rows, err) != 0)
		return -1;
	while ((rc = spool_next(&item->rows, &row, err)) == 1)
	{
		if (pp_interrupted)
		{
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while sending rows");
			return -1;
		}
		rc = sink->methods->add_row(sink, &row, err);
		if (rc == SINK_FULL)
			rc = sink->methods->flush(sink, err);
		if (rc < 0)
			return -1;
		progress_sent(1, (int64_t) row.row_json_len);
	}
	return rc < 0 ? -1 : 0;
}

/*
 * hand_over: append the items first .. last, holding mem bytes of rows in
 * memory, to what the thread sends.
 */
static void
hand_over(Sender *snd, SenderItem *first, SenderItem *last, size_t mem)
{
	if (first == NULL)
		return;
	pthread_mutex_lock(&snd->lock);
	if (snd->tail)
		snd->tail->next = first;
	else
		snd->head = first;
	snd->tail = last;
	snd->queued_mem += mem;
	for (SenderItem *item = first; item != NULL; item = item->next)
		if (item->rows.file_bytes > 0)
			snd->queued_files++;
	pthread_cond_broadcast(&snd->changed);
	pthread_mutex_unlock(&snd->lock);
}

/*
 * sender_begin_stream: the rows handed over from now on are of stream s;
 * one_pass: it is read in one pass, and no row goes before it is read.
 * The thread must be idle (sender_wait).
 */
void
sender_begin_stream(Sender *snd, const StreamInfo *s, bool one_pass)
{
	snd->stream = s;
	snd->hold_all = one_pass;
}

/*
 * sender_begin_chunk: a chunk begins: its rows were extracted from now on.
 */
void
sender_begin_chunk(Sender *snd)
{
	SenderItem *item = new_item(ITEM_CHUNK);

	hand_over(snd, item, item, 0);
}

/*
 * close_segment: the segment being gathered is complete: hand it over, or
 * hold it until the chunk is read.
 */
static void
close_segment(Sender *snd)
{
	SenderItem *item = snd->cur;

	if (item == NULL)
		return;
	snd->cur = NULL;
	if (item->rows.nrows == 0)
	{
		free_item(item);
		return;
	}
	if (snd->hold_all || snd->holding)
	{
		if (snd->held_tail)
			snd->held_tail->next = item;
		else
			snd->held = item;
		snd->held_tail = item;
		snd->held_mem += item->rows.mem.len;
	}
	else
		hand_over(snd, item, item, item->rows.mem.len);
}

/*
 * sender_add: a row read: gather it, and hand the segment over when it is
 * full.  Returns 0, or -1 with err set: the rows could not be kept, or the
 * sink failed (its error; the caller stops reading).
 */
int
sender_add(Sender *snd, const CopyRow *row, PPError *err)
{
	SenderItem *cur;

	if (row->cap != NULL && !snd->holding)
	{
		/* the rows from here on wait for the cap to be recorded */
		close_segment(snd);
		snd->holding = true;
		buf_reset(&snd->cap);
		buf_append(&snd->cap, row->cap, row->cap_len);
	}
	if (row->cap != NULL)
		snd->capped++;
	if (snd->cur == NULL)
	{
		size_t		waiting;

		pthread_mutex_lock(&snd->lock);
		waiting = snd->queued_mem;
		if (snd->failed)
		{
			copy_error(err, &snd->err);
			pthread_mutex_unlock(&snd->lock);
			return -1;
		}
		pthread_mutex_unlock(&snd->lock);
		snd->cur = new_item(ITEM_ROWS);
		/* past the memory allowed, rows go to a temporary file */
		if (waiting + snd->held_mem >= snd->memory)
			snd->cur->rows.mem_limit = 0;
	}
	cur = snd->cur;
	if (spool_add(&cur->rows, row, err) != 0)
		return -1;
	if (cur->rows.mem_limit == 0 ? cur->rows.file_bytes >= SENDER_FILE_SEGMENT
		: cur->rows.mem.len >= SENDER_SEGMENT)
		close_segment(snd);
	return 0;
}

/*
 * sender_end_chunk: the chunk was read and its transaction is over (or its
 * rows so far are to be sent after all): hand over what was gathered and
 * held, the rows past the commit-safe cap after the call that records it.
 * Returns 0, or -1 with err set.
 */
int
sender_end_chunk(Sender *snd, PPError *err)
{
	bool		holding = snd->holding;

	close_segment(snd);
	if (holding)
	{
		SenderItem *cap = new_item(ITEM_CAP);

		cap->cap = pp_strdup(snd->cap.data);
		cap->capped = snd->capped;
		cap->next = snd->held;
		hand_over(snd, cap, snd->held_tail ? snd->held_tail : cap, snd->held_mem);
	}
	else
		hand_over(snd, snd->held, snd->held_tail, snd->held_mem);
	snd->held = snd->held_tail = NULL;
	snd->held_mem = 0;
	snd->holding = false;
	snd->capped = 0;
	return 0;
}

/*
 * sender_drop_chunk: forget the rows of the chunk gathered or held, not
 * handed over.
 */
void
sender_drop_chunk(Sender *snd)
{
	SenderItem *item = snd->held;

	if (snd->cur)
		free_item(snd->cur);
	snd->cur = NULL;
	while (item)
	{
		SenderItem *next = item->next;

		free_item(item);
		item = next;
	}
	snd->held = snd->held_tail = NULL;
	snd->held_mem = 0;
	snd->holding = false;
	snd->capped = 0;
}

/*
 * sender_failed: whether the sink failed; err gets why.
 */
bool
sender_failed(Sender *snd, PPError *err)
{
	bool		failed;

	pthread_mutex_lock(&snd->lock);
	failed = snd->failed;
	if (failed)
		copy_error(err, &snd->err);
	pthread_mutex_unlock(&snd->lock);
	return failed;
}

/*
 * wait_changed: wait (holding the lock) until the thread signals a change,
 * or 200 ms.  A signal that interrupted the main thread is passed on to the
 * sending thread once, so that a write it is blocked in returns.
 */
static void
wait_changed(Sender *snd, bool *passed_on)
{
	struct timespec until;

	if (pp_interrupted && !*passed_on)
	{
		pthread_kill(snd->thread, pp_interrupted);
		*passed_on = true;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 200 * 1000 * 1000;
	if (until.tv_nsec >= 1000 * 1000 * 1000)
	{
		until.tv_sec++;
		until.tv_nsec -= 1000 * 1000 * 1000;
	}
	(void) pthread_cond_timedwait(&snd->changed, &snd->lock, &until);
}

/*
 * sender_make_room: between chunks (no source transaction open), wait
 * until what was handed over is in memory and within its allowance, so
 * that the next chunk starts with the sink caught up to at most that much.
 * Returns 0, or -1 with err set when the sink failed or a signal came.
 */
int
sender_make_room(Sender *snd, PPError *err)
{
	bool		passed_on = false;
	bool		failed;

	pthread_mutex_lock(&snd->lock);
	while (!snd->failed && !pp_interrupted &&
		   (snd->queued_files > 0 || (snd->queued_mem > 0 && snd->queued_mem >= snd->memory)))
	{
		wait_changed(snd, &passed_on);
		progress_tick();
		if (snd->idle)
		{
			pthread_mutex_unlock(&snd->lock);
			snd->idle(snd->idle_arg);
			pthread_mutex_lock(&snd->lock);
		}
	}
	failed = snd->failed;
	if (failed)
		copy_error(err, &snd->err);
	pthread_mutex_unlock(&snd->lock);
	if (!failed && pp_interrupted)
	{
		pp_error_set(err, PPERR_INTERRUPTED, "interrupted while waiting for the destination");
		return -1;
	}
	return failed ? -1 : 0;
}

/*
 * sender_wait: wait until the thread has sent everything handed over
 * (discard: until it has dropped what it had not begun), then report and
 * forget its failure.  Returns 0, or -1 with err set to the sink's error.
 */
int
sender_wait(Sender *snd, bool discard, PPError *err)
{
	bool		failed;
	bool		passed_on = false;

	if (!snd->started)
		return 0;
	pthread_mutex_lock(&snd->lock);
	if (discard)
	{
		while (snd->head)
		{
			SenderItem *next = snd->head->next;

			snd->queued_mem -= snd->head->rows.mem.len;
			if (snd->head->rows.file_bytes > 0)
				snd->queued_files--;
			free_item(snd->head);
			snd->head = next;
		}
		snd->tail = NULL;
	}
	while (snd->head != NULL || snd->busy)
	{
		wait_changed(snd, &passed_on);
		progress_tick();
		if (snd->idle)
		{
			pthread_mutex_unlock(&snd->lock);
			snd->idle(snd->idle_arg);
			pthread_mutex_lock(&snd->lock);
		}
	}
	failed = snd->failed;
	if (failed)
	{
		copy_error(err, &snd->err);
		pp_error_clear(&snd->err);
		snd->failed = false;
	}
	pthread_mutex_unlock(&snd->lock);
	return failed ? -1 : 0;
}

/*
 * sender_discard: drop what was read and not yet sent (gathered, held, or
 * handed over and not begun), wait for the item being sent, and forget
 * any failure: after a stream failed, or before the thread stops.
 */
void
sender_discard(Sender *snd)
{
	PPError		ignored;

	sender_drop_chunk(snd);
	pp_error_init(&ignored);
	(void) sender_wait(snd, true, &ignored);
	pp_error_clear(&ignored);
}

/*
 * sender_stop: stop the thread and free what is left.
 */
void
sender_stop(Sender *snd)
{
	if (!snd->started)
		return;
	sender_discard(snd);
	pthread_mutex_lock(&snd->lock);
	snd->stopping = true;
	pthread_cond_broadcast(&snd->changed);
	pthread_mutex_unlock(&snd->lock);
	pthread_join(snd->thread, NULL);
	pthread_cond_destroy(&snd->changed);
	pthread_mutex_destroy(&snd->lock);
	pp_error_clear(&snd->err);
	buf_free(&snd->cap);
	snd->started = false;
}
