/*-------------------------------------------------------------------------
 *
 * puller/log.c
 *		pgpull: the run log.
 *
 * While a run is open, what the run does is logged on stderr one line at
 * a time as "YYYY-MM-DD HH:MM:SS.mmmZ LEVEL stream message" (stream is the
 * destination table, or "-" for the run itself).  What only the puller
 * knows (retries, split batches, warnings) also goes to the extraction log
 * through pgpull.log() on the state connection (runlog); what the run
 * protocol functions log themselves (batches accepted, streams and runs
 * ended, errors given to end_stream) is only printed (runlog_print).
 * Errors before or outside a run take the frontend shape (error.c).
 *
 * Nothing here ever sees the destination token.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"

static void append_clean(Buf *b, const char *s);
static void runlog_emit(const char *level, const char *message, bool to_db);
static void print_line(const char *stream, const char *level, const char *message);

/* the open run, if any */
static PGconn *log_state_conn = NULL;
static int64_t log_run_id = 0;
static bool log_db_broken = false;

/* the stream being synced, if any */
static char *log_stream_name = NULL;
static int64_t log_stream_id = 0;

static bool log_verbose = false;

/*
 * runlog_set_verbose: whether DEBUG lines are printed on stderr (they go to
 * the extraction log either way).
 */
void
runlog_set_verbose(bool verbose)
{
	log_verbose = verbose;
}

/*
 * runlog_open: from now on, run log lines also go to pgpull.log() for this
 * run on the state connection, which must stay open until runlog_close.
 */
void
runlog_open(PGconn *state, int64_t run_id)
{
	log_state_conn = state;
	log_run_id = run_id;
	log_db_broken = false;
}

/*
 * runlog_close: stop sending lines to the extraction log.
 */
void
runlog_close(void)
{
	log_state_conn = NULL;
	log_run_id = 0;
	runlog_set_stream(NULL, 0);
}

/*
 * runlog_set_stream: the stream the following lines are about (NULL: the
 * run itself).
 */
void
runlog_set_stream(const char *name, int64_t stream_id)
{
	free(log_stream_name);
	log_stream_name = name ? pp_strdup(name) : NULL;
	log_stream_id = name ? stream_id : 0;
}

/*
 * append_clean: append s to b with control characters as spaces, so a log
 * line stays one line.
 */
static void
append_clean(Buf *b, const char *s)
{
	size_t		start = b->len;

	buf_append_str(b, s);
	for (char *p = b->data + start; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/*
 * print_line: print one run log line on stderr (DEBUG lines only when
 * verbose); stream NULL is the run itself.  The line goes in one write, so
 * the lines of the processes of --jobs never mix.
 */
static void
print_line(const char *stream, const char *level, const char *message)
{
	struct timespec ts;
	struct tm	tm;
	char		stamp[32];
	Buf			line;

	if (strcmp(level, "DEBUG") == 0 && !log_verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	/*
	 * One write per line: the sending thread (sender.c) and the processes
	 * of --jobs (jobs.c) log too.
	 */
	buf_init(&line);
	buf_appendf(&line, "%s.%03dZ %s ", stamp, (int) (ts.tv_nsec / 1000000), level);
	append_clean(&line, stream ? stream : "-");
	buf_append_str(&line, " ");
	append_clean(&line, message);
	buf_append_str(&line, "\n");
	fflush(stderr);
	if (write(STDERR_FILENO, line.data, line.len) < 0)
		line.len = 0;			/* nowhere to say it */
	buf_free(&line);
}

/*
 * runlog_emit: print one run log line on stderr and, when to_db and a run
 * is open, append it to the extraction log.  A failure to write the
 * extraction log is reported once; the run goes on (the next state call
 * notices a broken connection).
 */
static void
runlog_emit(const char *level, const char *message, bool to_db)
{
	print_line(log_stream_name, level, message);

	if (to_db && log_state_conn != NULL && !log_db_broken)
	{
		PPError		err;

		pp_error_init(&err);
		if (state_log(log_state_conn, log_run_id, log_stream_id, level,
					  message, &err) != 0)
		{
			log_db_broken = true;
			pp_log_warning("could not write to the extraction log: %s", err.message);
		}
		pp_error_clear(&err);
	}
}

/*
 * runlog: a run log line at level (DEBUG INFO WARNING ERROR CRITICAL), on
 * stderr and in the extraction log.
 */
void
runlog(const char *level, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;

	va_start(ap, fmt);
	msg = pp_vpsprintf(fmt, ap);
	va_end(ap);
	runlog_emit(level, msg, true);
	free(msg);
}

/*
 * runlog_print: a run log line on stderr only, for what the extension has
 * already written to the extraction log itself.
 */
void
runlog_print(const char *level, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;

	va_start(ap, fmt);
	msg = pp_vpsprintf(fmt, ap);
	va_end(ap);
	runlog_emit(level, msg, false);
	free(msg);
}

/*
 * runlog_batch: the line of a stream's n-th batch, saying what became of
 * it ("accepted", "sent to the Singer target"): its rows, its bytes and
 * the values in it mapped lossily.  The extension logs batches itself, so
 * the line is only printed.
 */
void
runlog_batch(int64_t n, const char *what, int64_t rows, int64_t bytes,
			 int64_t lossy)
{
	if (lossy > 0)
		runlog_print("INFO", "batch %" PRId64 " %s: %" PRId64 " %s, %" PRId64 " %s, %" PRId64 " %s mapped lossily",
					 n, what, rows, pp_plural(rows, "row", "rows"),
					 bytes, pp_plural(bytes, "byte", "bytes"),
					 lossy, pp_plural(lossy, "value", "values"));
	else
		runlog_print("INFO", "batch %" PRId64 " %s: %" PRId64 " %s, %" PRId64 " %s",
					 n, what, rows, pp_plural(rows, "row", "rows"),
					 bytes, pp_plural(bytes, "byte", "bytes"));
}

/*
 * runlog_print_stream: a run log line on stderr only, about the named
 * stream rather than the current one (what the extension logged when a
 * Singer target confirmed a state).
 */
void
runlog_print_stream(const char *stream, const char *level, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;

	va_start(ap, fmt);
	msg = pp_vpsprintf(fmt, ap);
	va_end(ap);
	print_line(stream, level, msg);
	free(msg);
}

/*
 * runlog_error: an ERROR line for the error on stderr: the message on the
 * run log line, detail and hint on lines of their own.  The extraction log
 * gets the error from pgpull.end_stream, which records it with the stream.
 */
void
runlog_error(const PPError *e)
{
	runlog_emit("ERROR", e->message ? e->message : "unknown error", false);
	pp_error_report_more(e);
}

/*
 * runlog_notice_receiver: libpq notice receiver for both connections:
 * server notices and warnings become run log lines on stderr (the server
 * side decides what goes to the extraction log).
 */
void
runlog_notice_receiver(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *level = "INFO";

	if (primary == NULL)
		return;
	if (severity && strcmp(severity, "WARNING") == 0)
		level = "WARNING";
	else if (severity && (strcmp(severity, "DEBUG") == 0 ||
						  strcmp(severity, "LOG") == 0))
		level = "DEBUG";
	runlog_emit(level, primary, false);
}
