/*-------------------------------------------------------------------------
 *
 * puller/sink_import.c
 *		pgpull: the Import API sink: rows go out in batches over HTTP.
 *
 * Rows are cut into batches (batch.c) by --batch-rows and --batch-bytes,
 * and each batch is POSTed to the destination (http.c).  A row that would
 * take the batch over a limit is held back and add_row answers SINK_FULL:
 * flush sends the batch, then starts the next one with that row.  Each run
 * of messages the destination accepts is reported to the extension
 * (pgpull.record_batch), which moves the bookmark; a batch may span
 * chunks.  A stream's outcome goes to pgpull.end_stream.
 *
 * The token goes only where it cannot be read on the way: to an https://
 * target, or to an http:// one on a loopback address (127.0.0.0/8, ::1,
 * localhost), the host as libcurl's URL parser reads it, the way it
 * connects; any other http:// target is a configuration error, before
 * anything is read or connected.
 *
 * The token comes from the PGPULL_TOKEN environment variable or from the
 * first line of --token-file, never from the command line, and is never
 * printed.  It is read into one buffer of fixed size (HTTP_TOKEN_MAX
 * bytes, a line ending and a NUL) with read(2), not stdio, whose buffer
 * would keep a copy; once it is in the client's header (http.c), the
 * buffer is wiped.
 *
 * When the destination fails in a way no other stream can get past (it
 * rejected the token, TLS failed: http.c's fatal), the sink is down.
 *
 * Memory stays bounded by one batch body plus one row.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "batch.h"
#include "http.h"
#include "log.h"
#include "sink.h"

typedef struct ImportSink
{
	Sink		sink;
	HttpClient	http;
	Batch		batch;
	SinkRun    *run;
	const StreamInfo *stream;	/* the stream being sent */
	CopyRow		held;			/* the next batch's first row, if row_json */
	Buf			held_data;		/* its JSON and position */
	int64_t		batches;		/* accepted in this stream */
	int64_t		rows_loaded;	/* accepted in this stream */
	int			range_no;		/* the key range of it being sent, or 0 */
	int			range_count;
	double		sent_at;		/* when the batch's request (or the rest of
								 * it, after a part accepted) began */
} ImportSink;

static int	import_begin_run(Sink *sink, SinkRun *run, PPError *err);
static int	import_begin_stream(Sink *sink, const StreamInfo *s,
								const StreamPlan *plan, PPError *err);
static int	import_add_row(Sink *sink, const CopyRow *row, PPError *err);
static int	import_flush(Sink *sink, PPError *err);
static int	import_end_rows(Sink *sink, bool complete, PPError *err);
static int	import_end_stream(Sink *sink, const StreamInfo *s,
							  int64_t rows_extracted, const char *error,
							  PPError *err);
static void import_free(Sink *sink);
static int	check_target(const PullerOptions *o, PPError *err);
static bool loopback_host(const char *host);
static int	load_token(const PullerOptions *o, char *token, size_t size,
					   PPError *err);
static int	read_token_file(const char *path, char *token, size_t size,
							size_t *len, PPError *err);
static void hold_row(ImportSink *is, const CopyRow *row);
static int	on_accepted(void *arg, int from, int to, size_t bytes, PPError *err);

static const SinkMethods import_methods = {
	.begin_run = import_begin_run,
	.begin_stream = import_begin_stream,
	.add_row = import_add_row,
	.flush = import_flush,
	.end_rows = import_end_rows,
	.end_stream = import_end_stream,
	.free = import_free
};

/*
 * import_sink_create: check that the target may have the token, read the
 * token and set up the HTTP client for the target of o.  Returns the sink,
 * or NULL with err set (PPERR_CONFIG).
 */
Sink *
import_sink_create(const PullerOptions *o, PPError *err)
{
	ImportSink *is;
	char		token[HTTP_TOKEN_MAX + 3];	/* a line ending, then NUL */
	int			rc;

	if (check_target(o, err) != 0)
		return NULL;
	if (load_token(o, token, sizeof(token), err) != 0)
	{
		explicit_bzero(token, sizeof(token));
		return NULL;
	}
	is = pp_malloc(sizeof(ImportSink));
	memset(is, 0, sizeof(ImportSink));
	is->sink.methods = &import_methods;
	batch_init(&is->batch, o->batch_rows, (size_t) o->batch_bytes);
	buf_init(&is->held_data);
	rc = http_init(&is->http, o, token, err);
	explicit_bzero(token, sizeof(token));
	if (rc != 0)
	{
		import_free(&is->sink);	/* http_cleanup undoes a partial http_init */
		return NULL;
	}
	return &is->sink;
}

/*
 * check_target: the token may go to an https:// target, or to an http://
 * target on a loopback address.  Returns 0, or -1 with err set
 * (PPERR_CONFIG).
 */
static int
check_target(const PullerOptions *o, PPError *err)
{
	CURLU	   *url = curl_url();
	CURLUcode	rc;
	char	   *host = NULL;

	if (url == NULL)
	{
		pp_error_set(err, PPERR_CONFIG, "could not parse --target: out of memory");
		return -1;
	}
	rc = curl_url_set(url, CURLUPART_URL, o->target, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(url, CURLUPART_HOST, &host, 0);
	curl_url_cleanup(url);
	if (rc != CURLUE_OK)
	{
		pp_error_set(err, PPERR_CONFIG, "invalid value \"%s\" for option --target: %s",
					 o->target, curl_url_strerror(rc));
		return -1;
	}
	if (o->target_tls || loopback_host(host))
	{
		curl_free(host);
		return 0;
	}
	pp_error_set(err, PPERR_CONFIG, "--target %s would send the destination token unencrypted to %s",
				 o->target, host);
	pp_error_detail(err, "An http:// target must be on a loopback address (127.0.0.0/8, ::1 or localhost).");
	pp_error_hint(err, "Use an https:// target.");
	curl_free(host);
	return -1;
}

/*
 * loopback_host: whether a host, as libcurl's URL parser gives it (IPv4
 * addresses in dotted quads, IPv6 ones in brackets), is "localhost" or a
 * loopback address.
 */
static bool
loopback_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char		v6[INET6_ADDRSTRLEN];
	size_t		n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n - 2 < sizeof(v6) && host[0] == '[' && host[n - 1] == ']')
	{
		memcpy(v6, host + 1, n - 2);
		v6[n - 2] = '\0';
		return inet_pton(AF_INET6, v6, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

/*
 * load_token: the destination token, from the first line of --token-file
 * (line ending stripped) or else PGPULL_TOKEN, into token (size bytes, at
 * least HTTP_TOKEN_MAX + 3; the caller wipes it).  Returns 0, or -1 with
 * err set (PPERR_CONFIG).  The token itself is never printed.
 */
static int
load_token(const PullerOptions *o, char *token, size_t size, PPError *err)
{
	const char *env = getenv("PGPULL_TOKEN");
	size_t		len;

	if (o->token_file)
	{
		if (read_token_file(o->token_file, token, size, &len, err) != 0)
			return -1;
		if (len == 0)
		{
			pp_error_set(err, PPERR_CONFIG, "token file \"%s\" is empty", o->token_file);
			return -1;
		}
	}
	else if (env != NULL && env[0] != '\0')
	{
		len = strlen(env);
		if (len > HTTP_TOKEN_MAX)
		{
			pp_error_set(err, PPERR_CONFIG, "the destination token in PGPULL_TOKEN is longer than %d bytes",
						 HTTP_TOKEN_MAX);
			return -1;
		}
		memcpy(token, env, len + 1);
	}
	else
	{
		pp_error_set(err, PPERR_CONFIG, "no destination token");
		pp_error_hint(err, "Set PGPULL_TOKEN, or name a file holding the token with --token-file.");
		return -1;
	}
	for (size_t i = 0; i < len; i++)
	{
		if ((unsigned char) token[i] < 0x20 || token[i] == 0x7f)
		{
			pp_error_set(err, PPERR_CONFIG, "the destination token contains control characters");
			return -1;
		}
	}
	return 0;
}

/*
 * read_token_file: the first line of the file at path, without its line
 * ending, into token (size bytes), NUL-terminated, its length in *len.
 * Returns 0, or -1 with err set (PPERR_CONFIG): the file cannot be read,
 * or the line is longer than HTTP_TOKEN_MAX bytes.  Warns when others may
 * read the file.
 */
static int
read_token_file(const char *path, char *token, size_t size, size_t *len,
				PPError *err)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *nl = NULL;

	if (fd < 0)
	{
		pp_error_set(err, PPERR_CONFIG, "could not open token file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		pp_log_warning("token file \"%s\" is readable by other users", path);
		pp_log_hint("Restrict it with chmod 600.");
	}
	/* up to a newline, the end, or as much as a token and "\r\n" */
	*len = 0;
	while (nl == NULL && *len < size - 1)
	{
		ssize_t		n = read(fd, token + *len, size - 1 - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			pp_error_set(err, PPERR_CONFIG, "could not read token file \"%s\": %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		nl = memchr(token + *len, '\n', (size_t) n);
		*len += (size_t) n;
	}
	close(fd);
	if (nl != NULL)
		*len = (size_t) (nl - token);
	if (*len > 0 && token[*len - 1] == '\r')
		(*len)--;
	token[*len] = '\0';
	if (*len > HTTP_TOKEN_MAX)
	{
		pp_error_set(err, PPERR_CONFIG, "the first line of token file \"%s\" is longer than %d bytes",
					 path, HTTP_TOKEN_MAX);
		pp_error_detail(err, "A destination token is at most %d bytes.", HTTP_TOKEN_MAX);
		return -1;
	}
	return 0;
}

/*
 * import_begin_run: accepted batches are recorded in this run.
 */
static int
import_begin_run(Sink *sink, SinkRun *run, PPError *err)
{
	((ImportSink *) sink)->run = run;
	return 0;
}

/*
 * import_begin_stream: batches of the stream's destination table.
 */
static int
import_begin_stream(Sink *sink, const StreamInfo *s, const StreamPlan *plan,
					PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	is->stream = s;
	if (!plan->more)
	{
		is->batches = 0;
		is->rows_loaded = 0;
	}
	is->range_no = plan->range_no;
	is->range_count = plan->range_count;
	return batch_start_stream(&is->batch, s->destination_table, plan->json_schema,
							  plan->key_names, err);
}

/*
 * import_add_row: add the row to the batch, or hold it back for the next
 * one (SINK_FULL) when the batch must be sent first.  A row too large for
 * any batch fails the stream.
 */
static int
import_add_row(Sink *sink, const CopyRow *row, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;
	bool		full;

	if (batch_check_row(&is->batch, row->row_json_len, &full) != 0)
	{
		char	   *position = row->position ?
			pp_strndup(row->position, row->position_len) : NULL;

		pp_error_set(err, PPERR_STREAM,
					 "row at position %s of stream \"%s\" is too large for a batch",
					 position ? position : "(none)", is->stream->destination_table);
		pp_error_detail(err, "Its message alone makes a request body of %zu bytes; --batch-bytes is %zu.",
						is->batch.head.len + batch_message_size(row->row_json_len) + is->batch.tail.len,
						is->batch.max_bytes);
		pp_error_hint(err, "Raise --batch-bytes (at most %d), or leave the large column out of the stream.",
					  BATCH_BYTES_MAX);
		free(position);
		return -1;
	}
	if (full)
	{
		hold_row(is, row);
		return SINK_FULL;
	}
	batch_add(&is->batch, row->row_json, row->row_json_len,
			  row->position, row->position_len, row->lossy, row->sequence);
	return 0;
}

/*
 * hold_row: keep a copy of the row for the next batch (the row's own
 * memory is gone with the next row read).
 */
static void
hold_row(ImportSink *is, const CopyRow *row)
{
	buf_reset(&is->held_data);
	buf_append(&is->held_data, row->row_json, row->row_json_len);
	if (row->position)
		buf_append(&is->held_data, row->position, row->position_len);
	is->held = *row;
	is->held.row_json = is->held_data.data;
	if (row->position)
		is->held.position = is->held_data.data + row->row_json_len;
}

/*
 * import_flush: send the batch (if it has rows) and empty it, then start
 * the next one with the row held back.
 */
static int
import_flush(Sink *sink, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	if (is->batch.nmsg > 0)
	{
		int			rc;

		is->sent_at = pp_seconds();
		rc = http_send_batch(&is->http, &is->batch, on_accepted, is, err);
		is->sink.destination_time += pp_seconds() - is->sent_at;

		batch_clear(&is->batch);
		if (rc != 0)
		{
			if (is->http.fatal)
				is->sink.down = is->http.fatal;
			else if (err->kind == PPERR_DESTINATION)
				is->sink.down = "the destination could not be reached";
			return -1;
		}
	}
	if (is->held.row_json != NULL)
	{
		batch_add(&is->batch, is->held.row_json, is->held.row_json_len,
				  is->held.position, is->held.position_len, is->held.lossy,
				  is->held.sequence);
		is->held.row_json = NULL;
	}
	return 0;
}

/*
 * import_end_rows: send the last batch of a complete stream; for a stream
 * that failed, drop what was not sent (the next run sends it again).
 */
static int
import_end_rows(Sink *sink, bool complete, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	if (complete)
		return import_flush(sink, err);
	batch_clear(&is->batch);
	is->held.row_json = NULL;
	return 0;
}

/*
 * import_end_stream: record the stream's outcome (pgpull.end_stream).
 */
static int
import_end_stream(Sink *sink, const StreamInfo *s, int64_t rows_extracted,
				  const char *error, PPError *err)
{
	ImportSink *is = (ImportSink *) sink;

	if (state_end_stream(is->run->state, is->run->run_id, s->stream_id,
						 error ? "failed" : "succeeded", rows_extracted, error, err) != 0)
		return -1;
	if (error == NULL && is->range_no > 0)
		runlog_print("INFO", "range %d of %d synced: %" PRId64 " %s extracted, %" PRId64 " loaded, %" PRId64 " %s",
					 is->range_no, is->range_count,
					 rows_extracted, pp_plural(rows_extracted, "row", "rows"), is->rows_loaded,
					 is->batches, pp_plural(is->batches, "batch", "batches"));
	else if (error == NULL)
		runlog_print("INFO", "stream synced: %" PRId64 " %s extracted, %" PRId64 " loaded, %" PRId64 " %s",
					 rows_extracted, pp_plural(rows_extracted, "row", "rows"), is->rows_loaded,
					 is->batches, pp_plural(is->batches, "batch", "batches"));
	return 0;
}

/*
 * import_free: release the client (wiping the token) and the batch.
 */
static void
import_free(Sink *sink)
{
	ImportSink *is = (ImportSink *) sink;

	http_cleanup(&is->http);
	batch_free(&is->batch);
	buf_free(&is->held_data);
	free(is);
}

/*
 * on_accepted: the destination accepted messages from..to of the batch:
 * report them to the extension, which moves the bookmark to the position
 * of the last one.  Returns 0, or -1 with err set.
 */
static int
on_accepted(void *arg, int from, int to, size_t bytes, PPError *err)
{
	ImportSink *is = arg;
	int64_t		rows = to - from + 1;
	int64_t		lossy = batch_lossy(&is->batch, from, to);

	if (state_record_batch(is->run->state, is->run->run_id, is->stream->stream_id,
						   rows, (int64_t) bytes,
						   batch_position(&is->batch, to), lossy, err) != 0)
		return -1;
	is->batches++;
	is->rows_loaded += rows;
	runlog_batch(is->batches, "accepted", rows, (int64_t) bytes, lossy);
	/* the time of the request so far is this batch's; the rest, the next's */
	is->sink.destination_time += pp_seconds() - is->sent_at;
	is->sent_at = pp_seconds();
	runlog_batch_times(is->batches, &is->sink.source_wait, &is->sink.destination_time);
	return 0;
}
