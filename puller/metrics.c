/*-------------------------------------------------------------------------
 *
 * puller/metrics.c
 *		pgpull: the end of a run for operators: pruning the catalog, and
 *		the Prometheus metrics file of --metrics-file.
 *
 * Before it ends its run, the puller asks the extension to prune the runs
 * of the integration older than its retention (pgpull.prune_runs, which
 * logs what it deleted).  After the run, with --metrics-file, it reads the
 * figures of every stream of the integration from the catalog
 * (pgpull.stream_metrics: counters summed over every run, pruned ones
 * included, so they only grow from one file to the next; the last success
 * and the bookmark's age as the catalog has them, so a failed run does not
 * lose them) and, once the invocation is over (every database of
 * --all-databases), writes them in the Prometheus text exposition format,
 * for node_exporter's textfile collector: into a temporary file in the
 * same directory, flushed to disk, then renamed over the file, so a
 * reader sees the old file or the new one, never part of one.  A run
 * whose catalog cannot be read still writes the series of the invocation
 * itself (exit status, duration, end time).
 *
 * Every stream series is labelled database, integration and stream (the
 * destination table in the catalog); the invocation's series integration.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "log.h"
#include "metrics.h"

/* the columns of pgpull.stream_metrics, in order */
enum
{
	COL_STREAM_ID,
	COL_TABLE,
	COL_ROWS,
	COL_BYTES,
	COL_BATCHES,
	COL_RETRIES,
	COL_LAST_STATUS,
	COL_LAST_DURATION,
	COL_LAST_SUCCESS,
	COL_BOOKMARK_AGE,
	NCOLS
};

/* one stream's figures, as the server printed them (NULL: no value) */
typedef struct MetricsStream
{
	char	   *database;
	char	   *integration;
	char	   *values[NCOLS];
} MetricsStream;

/* a metric of the stream series: its name, type, help and column */
typedef struct StreamMetric
{
	const char *name;
	const char *type;
	const char *help;
	int			col;
} StreamMetric;

static void append_labels(Buf *b, const MetricsStream *s);
static void append_escaped(Buf *b, const char *value);
static char *dir_of(const char *path);
static int	write_file(const char *path, const Buf *content);

static const StreamMetric stream_metrics[] = {
	{"pgpull_rows_loaded_total", "counter",
	"Rows of the stream the destination accepted, over every run (pruned runs included).", COL_ROWS},
	{"pgpull_bytes_sent_total", "counter",
	"Bytes of the stream's batches the destination accepted, over every run (pruned runs included).", COL_BYTES},
	{"pgpull_batches_total", "counter",
	"Batches of the stream the destination accepted, over every run (pruned runs included).", COL_BATCHES},
	{"pgpull_retries_total", "counter",
	"Requests of the stream sent again and chunks read again, over every run (pruned runs included).", COL_RETRIES},
	{"pgpull_run_duration_seconds", "gauge",
	"How long the stream took in its last run that synced it.", COL_LAST_DURATION},
	{"pgpull_last_run_success", "gauge",
	"1 when the stream's last run that synced it succeeded, 0 when it failed.", COL_LAST_STATUS},
	{"pgpull_last_success_timestamp_seconds", "gauge",
	"When the stream last synced successfully, in seconds since the Unix epoch.", COL_LAST_SUCCESS},
	{"pgpull_bookmark_age_seconds", "gauge",
	"Now minus the bookmark of a stream with a date or time replication key.", COL_BOOKMARK_AGE},
};

static MetricsStream *streams = NULL;
static int	nstreams = 0;
static struct timespec started;

/*
 * metrics_start: the invocation begins (for pgpull_sync_duration_seconds).
 */
void
metrics_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started);
}

/*
 * metrics_prune: prune the runs of the run's integration older than its
 * retention (pgpull.prune_runs, which logs what it deleted).  state is the
 * run's state connection, the run not ended yet.  A failure is a warning:
 * the run goes on to its end.
 */
void
metrics_prune(PGconn *state, int64_t run_id)
{
	char		run[24];
	const char *values[1];
	PGresult   *res;

	snprintf(run, sizeof(run), "%" PRId64, run_id);
	values[0] = run;
	res = PQexecParams(state, "SELECT * FROM pgpull.prune_runs($1)", 1, NULL,
					   values, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PPError		err;

		pp_error_init(&err);
		pp_error_from_pg(&err, PPERR_STREAM, state, res, "could not prune the catalog");
		runlog("WARNING", "%s", err.message);
		pp_error_clear(&err);
	}
	if (res)
		PQclear(res);
}

/*
 * metrics_collect: read the figures of every stream of the integration of
 * o from the catalog on state (reconnecting once when the connection
 * broke), to write at the end (metrics_write).  The database label is the
 * database of --all-databases, else the one state is connected to.  Does
 * nothing without --metrics-file or without a state connection; a
 * failure is a warning, and the file then has no stream series of this
 * database.
 */
void
metrics_collect(PGconn *state, const PullerOptions *o)
{
	const char *values[1];
	PGresult   *res = NULL;
	PPError		err;
	int			n;

	if (o->metrics_file == NULL || state == NULL)
		return;
	pp_error_init(&err);
	if (PQstatus(state) != CONNECTION_OK && !conn_reset(state, CONN_STATE, &err))
		goto failed;
	values[0] = o->integration;
	res = PQexecParams(state,
					   "SELECT stream_id, destination_table, rows_loaded, bytes, batches, retries,"
					   " last_status, last_duration, last_success_at, bookmark_age"
					   " FROM pgpull.stream_metrics($1)",
					   1, NULL, values, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != NCOLS)
	{
		pp_error_from_pg(&err, PPERR_STREAM, state, res, "could not read the metrics");
		goto failed;
	}
	n = PQntuples(res);
	streams = pp_realloc(streams, sizeof(MetricsStream) * (size_t) (nstreams + n));
	for (int i = 0; i < n; i++)
	{
		MetricsStream *s = &streams[nstreams++];

		s->database = pp_strdup(o->database ? o->database : PQdb(state));
		s->integration = pp_strdup(o->integration);
		for (int c = 0; c < NCOLS; c++)
			s->values[c] = PQgetisnull(res, i, c) ? NULL : pp_strdup(PQgetvalue(res, i, c));
	}
	PQclear(res);
	return;

failed:
	pp_log_warning("%s", err.message);
	if (err.detail)
		pp_log_detail("%s", err.detail);
	if (err.hint)
		pp_log_hint("%s", err.hint);
	pp_error_clear(&err);
	if (res)
		PQclear(res);
}

/*
 * append_escaped: a label value in the exposition format: backslash,
 * double quote and line feed escaped.
 */
static void
append_escaped(Buf *b, const char *value)
{
	for (const char *p = value; *p; p++)
	{
		if (*p == '\\')
			buf_append_str(b, "\\\\");
		else if (*p == '"')
			buf_append_str(b, "\\\"");
		else if (*p == '\n')
			buf_append_str(b, "\\n");
		else
			buf_append(b, p, 1);
	}
}

/*
 * append_labels: {database="...",integration="...",stream="..."}
 */
static void
append_labels(Buf *b, const MetricsStream *s)
{
	buf_append_str(b, "{database=\"");
	append_escaped(b, s->database);
	buf_append_str(b, "\",integration=\"");
	append_escaped(b, s->integration);
	buf_append_str(b, "\",stream=\"");
	append_escaped(b, s->values[COL_TABLE]);
	buf_append_str(b, "\"}");
}

/*
 * dir_of: the directory of path ("." when it names none), allocated.
 */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return pp_strdup(".");
	if (slash == path)
		return pp_strdup("/");
	return pp_strndup(path, (size_t) (slash - path));
}

/*
 * write_file: replace path with content atomically: a temporary file in
 * the same directory (not ending in .prom, so the textfile collector never
 * reads it), readable as umask allows, flushed to disk, renamed over path,
 * and the directory flushed.  Returns 0, or -1 with errno set (the
 * temporary file removed).
 */
static int
write_file(const char *path, const Buf *content)
{
	char	   *dir = dir_of(path);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char	   *tmp = pp_psprintf("%s/.%s.XXXXXX", dir, base);
	mode_t		mask = umask(0);
	size_t		done = 0;
	int			fd;
	int			saved;

	umask(mask);
	fd = mkstemp(tmp);
	if (fd < 0)
		goto failed;
	if (fchmod(fd, 0666 & ~mask) != 0)
		goto failed;
	while (done < content->len)
	{
		ssize_t		w = write(fd, content->data + done, content->len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto failed;
		done += (size_t) w;
	}
	if (fsync(fd) != 0)
		goto failed;
	if (close(fd) != 0)
	{
		fd = -1;
		goto failed;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto failed;
	/* the rename itself survives a crash once the directory is on disk */
	fd = open(dir, O_RDONLY);
	if (fd >= 0)
	{
		(void) fsync(fd);
		close(fd);
	}
	free(tmp);
	free(dir);
	return 0;

failed:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	free(dir);
	errno = saved;
	return -1;
}

/*
 * metrics_write: with --metrics-file, write the metrics of the invocation
 * (ending with exit status status) and of the streams metrics_collect
 * read, then forget them.  Returns the exit status: status, or 1 instead
 * of 0 when the file could not be written (monitoring would go stale).
 */
int
metrics_write(const PullerOptions *o, int status)
{
	Buf			b;
	struct timespec now;
	struct timespec mono;
	double		duration;

	if (o->metrics_file == NULL)
		return status;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	duration = (double) (mono.tv_sec - started.tv_sec) +
		(double) (mono.tv_nsec - started.tv_nsec) / 1e9;

	buf_init(&b);
	for (size_t m = 0; m < sizeof(stream_metrics) / sizeof(stream_metrics[0]); m++)
	{
		const StreamMetric *sm = &stream_metrics[m];
		bool		any = false;

		for (int i = 0; i < nstreams; i++)
		{
			const char *v = streams[i].values[sm->col];

			if (v == NULL)
				continue;
			if (!any)
				buf_appendf(&b, "# HELP %s %s\n# TYPE %s %s\n", sm->name, sm->help,
							sm->name, sm->type);
			any = true;
			buf_append_str(&b, sm->name);
			append_labels(&b, &streams[i]);
			if (sm->col == COL_LAST_STATUS)
				v = strcmp(v, "succeeded") == 0 ? "1" : "0";
			buf_appendf(&b, " %s\n", v);
		}
	}
	buf_append_str(&b, "# HELP pgpull_sync_exit_status Exit status of the last pgpull sync: 0 every stream synced, 1 some stream failed, 2 usage or configuration error, 3 could not connect.\n"
				   "# TYPE pgpull_sync_exit_status gauge\n"
				   "pgpull_sync_exit_status{integration=\"");
	append_escaped(&b, o->integration);
	buf_appendf(&b, "\"} %d\n", status);
	buf_append_str(&b, "# HELP pgpull_sync_duration_seconds How long the last pgpull sync took.\n"
				   "# TYPE pgpull_sync_duration_seconds gauge\n"
				   "pgpull_sync_duration_seconds{integration=\"");
	append_escaped(&b, o->integration);
	buf_appendf(&b, "\"} %.3f\n", duration);
	buf_append_str(&b, "# HELP pgpull_sync_end_timestamp_seconds When the last pgpull sync ended, in seconds since the Unix epoch.\n"
				   "# TYPE pgpull_sync_end_timestamp_seconds gauge\n"
				   "pgpull_sync_end_timestamp_seconds{integration=\"");
	append_escaped(&b, o->integration);
	buf_appendf(&b, "\"} %lld.%03d\n", (long long) now.tv_sec, (int) (now.tv_nsec / 1000000));

	if (write_file(o->metrics_file, &b) != 0)
	{
		pp_log_error("could not write metrics file \"%s\": %s", o->metrics_file, strerror(errno));
		if (status == EXIT_OK)
			status = EXIT_STREAM_FAILED;
	}
	buf_free(&b);
	for (int i = 0; i < nstreams; i++)
	{
		free(streams[i].database);
		free(streams[i].integration);
		for (int c = 0; c < NCOLS; c++)
			free(streams[i].values[c]);
	}
	free(streams);
	streams = NULL;
	nstreams = 0;
	return status;
}
