/*-------------------------------------------------------------------------
 *
 * puller/progress.c
 *		pgpull: the progress line of a sync on a terminal.
 *
 * When stderr is a terminal (and not --quiet), the stream being read has
 * a status line at the bottom of it: rows sent (handed to the sink by the
 * sending thread) of those expected, an ETA, MB, rows and MB a second sent,
 * and the rows read from the source, redrawn in place at most PROGRESS_HZ times a second by the
 * main thread (as it reads, and while it waits for the sending thread),
 * and replaced by a final line when the stream ends.  Log lines erase it
 * before they are written and draw it again after (error.c).  The ETA
 * divides the rows left to send by the stream's rate so far; the rows to
 * read are the extension's estimate (pgpull.plan: reltuples, when the run
 * reads the whole relation), unknown otherwise.  Bytes are the row JSON's.
 * The sending thread only adds to its two counters (atomically).
 *
 * With --jobs only the puller's own process draws its line; the other
 * processes erase it before their log lines, and their streams are told
 * by the run log.  When stderr is not a terminal nothing is drawn.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "progress.h"

#define PROGRESS_HZ		4		/* redraws a second, at most */
#define PROGRESS_EVERY	64		/* rows between looks at the clock */
#define MB				1000000.0

static void append_count(Buf *b, int64_t n);
static void append_duration(Buf *b, double seconds);
static void append_rates(Buf *b, int64_t rows, double bytes, double elapsed);
static void draw(bool final, bool succeeded);

static bool drawing = false;	/* this process draws the line */
static char *stream_name = NULL;
static int64_t stream_estimate = -1;
static int64_t stream_rows = 0;	/* read */
static double stream_bytes = 0;
static int64_t sent_rows = 0;	/* sent: the sending thread's (atomic) */
static int64_t sent_bytes = 0;
static double stream_start;
static double last_draw;
static int	since_look = 0;

/*
 * progress_start: whether the progress line is on: stderr is a terminal
 * and quiet is false.  draws: this process draws it (not a worker of
 * --jobs, which only erases it before its log lines).
 */
bool
progress_start(bool quiet, bool draws)
{
	bool		on = !quiet && isatty(STDERR_FILENO);

	pp_status_erase(on);
	drawing = on && draws;
	return drawing;
}

/*
 * progress_begin_stream: the stream now read, and the rows it is expected
 * to have (-1: unknown).
 */
void
progress_begin_stream(const char *name, int64_t estimated_rows)
{
	if (!drawing)
		return;
	free(stream_name);
	stream_name = pp_strdup(name);
	stream_estimate = estimated_rows;
	stream_rows = 0;
	stream_bytes = 0;
	__atomic_store_n(&sent_rows, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sent_bytes, 0, __ATOMIC_RELAXED);
	stream_start = last_draw = pp_seconds();
	since_look = 0;
	draw(false, false);
}

/*
 * progress_rows: rows more were read (fewer, when negative: a chunk read
 * again), of bytes of row JSON; redraw when it is time.
 */
void
progress_rows(int64_t rows, size_t bytes)
{
	if (!drawing || stream_name == NULL)
		return;
	stream_rows += rows;
	stream_bytes += (double) bytes;
	if (++since_look < PROGRESS_EVERY && rows > 0)
		return;
	since_look = 0;
	progress_tick();
}

/*
 * progress_sent: the sending thread handed rows more (of bytes of row
 * JSON) to the sink.
 */
void
progress_sent(int64_t rows, int64_t bytes)
{
	if (!drawing)
		return;
	__atomic_add_fetch(&sent_rows, rows, __ATOMIC_RELAXED);
	__atomic_add_fetch(&sent_bytes, bytes, __ATOMIC_RELAXED);
}

/*
 * progress_tick: redraw when it is time (also while the main thread waits
 * for the sending thread).
 */
void
progress_tick(void)
{
	double		now;

	if (!drawing || stream_name == NULL)
		return;
	now = pp_seconds();
	if (now - last_draw < 1.0 / PROGRESS_HZ)
		return;
	last_draw = now;
	draw(false, false);
}

/*
 * progress_end_stream: the stream ended: its final line, which stays.
 */
void
progress_end_stream(bool succeeded)
{
	if (!drawing || stream_name == NULL)
		return;
	draw(true, succeeded);
	free(stream_name);
	stream_name = NULL;
}

/*
 * append_count: n with a comma every three digits.
 */
static void
append_count(Buf *b, int64_t n)
{
	char		digits[32];
	int			len;

	if (n < 0)
	{
		buf_append_str(b, "-");
		n = -n;
	}
	len = snprintf(digits, sizeof(digits), "%" PRId64, n);
	for (int i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			buf_append_str(b, ",");
		buf_append(b, &digits[i], 1);
	}
}

/*
 * append_duration: "12.3 s" under a minute, else "M:SS" or "H:MM:SS".
 */
static void
append_duration(Buf *b, double seconds)
{
	long		s = (long) (seconds + 0.5);

	if (seconds < 60)
		buf_appendf(b, "%.1f s", seconds);
	else if (s < 3600)
		buf_appendf(b, "%ld:%02ld", s / 60, s % 60);
	else
		buf_appendf(b, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

/*
 * append_rates: "N rows/s, X MB/s" of rows and bytes over elapsed seconds.
 */
static void
append_rates(Buf *b, int64_t rows, double bytes, double elapsed)
{
	if (elapsed <= 0)
		elapsed = 1e-3;
	append_count(b, (int64_t) (rows / elapsed));
	buf_appendf(b, " rows/s, %.1f MB/s", bytes / MB / elapsed);
}

/*
 * draw: the stream's line: in place, or final (succeeded or not), cut to
 * the terminal's width so that it never wraps.
 */
static void
draw(bool final, bool succeeded)
{
	double		elapsed = pp_seconds() - stream_start;
	int64_t		rows = __atomic_load_n(&sent_rows, __ATOMIC_RELAXED);
	double		bytes = (double) __atomic_load_n(&sent_bytes, __ATOMIC_RELAXED);
	struct winsize ws;
	size_t		width = 80;
	Buf			line;

	buf_init(&line);
	buf_appendf(&line, "%s: ", stream_name);
	if (final)
	{
		/* every row read went, or the stream failed: the rows read tell */
		buf_append_str(&line, succeeded ? "done, " : "failed after ");
		append_count(&line, stream_rows);
		buf_appendf(&line, " %s, %.1f MB in ", pp_plural(stream_rows, "row", "rows"),
					stream_bytes / MB);
		append_duration(&line, elapsed);
		buf_append_str(&line, " (");
		append_rates(&line, stream_rows, stream_bytes, elapsed);
		buf_append_str(&line, ")");
	}
	else
	{
		/* the most telling first: a narrow terminal cuts the end */
		append_count(&line, rows);
		if (stream_estimate >= 0)
		{
			buf_append_str(&line, " of ~");
			append_count(&line, stream_estimate);
		}
		buf_append_str(&line, " rows, ETA ");
		if (stream_estimate >= 0 && rows > 0 && rows <= stream_estimate && elapsed > 0)
			append_duration(&line, (stream_estimate - rows) * elapsed / rows);
		else
			buf_append_str(&line, "unknown");
		buf_appendf(&line, ", %.1f MB, ", bytes / MB);
		append_rates(&line, rows, bytes, elapsed);
		buf_append_str(&line, ", ");
		append_count(&line, stream_rows);
		buf_append_str(&line, " read");
		if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
			width = ws.ws_col;
		if (line.len >= width)
		{
			line.len = width - 1;
			line.data[line.len] = '\0';
		}
	}
	pp_status_set(line.data, final);
	buf_free(&line);
}
