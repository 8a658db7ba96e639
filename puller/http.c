/*-------------------------------------------------------------------------
 *
 * puller/http.c
 *		pgpull: send batches to an Import API destination.
 *
 * POST {target}/v2/import/batch with Authorization: Bearer and
 * Content-Type: application/json over one libcurl easy handle, reused so
 * the connection is kept alive between batches.  The body is streamed from
 * the batch's pieces (head, a run of messages, tail) without copying.
 *
 * Outcomes:
 *	 2xx						accepted: the callback records the batch
 *	 408, 429, 5xx, network		retried with exponential backoff and jitter,
 *								or after Retry-After when the destination
 *								gives one, at most --max-retries times and
 *								RETRY_TIME_LIMIT seconds per request
 *	 413						the batch is split in halves, each sent on
 *								its own (recursively); a single message that
 *								is too large fails the stream
 *	 401						the destination rejected the token: fails
 *								the stream as PPERR_DESTINATION and sets
 *								h->fatal, so no other stream is tried
 *	 other						fails the stream, showing the destination's
 *								message
 * A network error that outlasts the retries fails the stream as
 * PPERR_DESTINATION (exit status 3).  Errors no retry can fix fail at once,
 * also as PPERR_DESTINATION with h->fatal set, saying what is wrong: a
 * host name that does not resolve, a TLS handshake that fails (an https://
 * URL on a plain-HTTP port), a certificate that does not verify, a CA
 * file that cannot be used.  A connection cut during the TLS handshake is
 * network trouble, and retried.
 *
 * The token is in one header string, curl's copy of the one built here,
 * which curl uses in place and which is wiped at cleanup; the string built
 * here is wiped at once.  curl still copies the header into each request
 * it sends, in memory it frees without wiping.  curl's verbose output is
 * never turned on, and no message here contains the token.  An http://
 * target (only a loopback one gets here, see sink_import.c) never goes
 * through a proxy: the token would cross the network in clear text.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conn.h"
#include "http.h"
#include "log.h"

#define RESPONSE_KEEP		65536	/* bytes of a response body kept */
#define MESSAGE_SHOWN		500		/* characters of it shown in errors */
#define BACKOFF_BASE		1.0		/* seconds before the first retry */
#define BACKOFF_MAX			60.0

#define CHECK_SETOPT(h, opt, val) \
	do { \
		CURLcode	rc_ = curl_easy_setopt((h)->curl, (opt), (val)); \
		if (rc_ != CURLE_OK) \
		{ \
			pp_error_set(err, PPERR_CONFIG, "could not set up the HTTP client: %s", \
						 curl_easy_strerror(rc_)); \
			return -1; \
		} \
	} while (0)

static size_t read_body(char *buf, size_t size, size_t nitems, void *arg);
static int	seek_body(void *arg, curl_off_t offset, int origin);
static size_t write_response(char *ptr, size_t size, size_t nmemb, void *arg);
static int	progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
					 curl_off_t ultotal, curl_off_t ulnow);
static bool fatal_curl_error(HttpClient *h, CURLcode rc, PPError *err);
static double now_seconds(void);
static int	send_range(HttpClient *h, const Batch *b, int from, int to,
					   BatchAcceptedFn accepted, void *arg, PPError *err);

/*
 * http_init: set up the client for the target of o, with the destination
 * token.  Returns 0, or -1 with err set (PPERR_CONFIG).
 */
int
http_init(HttpClient *h, const PullerOptions *o, const char *token,
		  PPError *err)
{
	CURLcode	rc;
	char		auth[sizeof("Authorization: Bearer ") + HTTP_TOKEN_MAX];
	struct curl_slist *l;
	int			n;

	memset(h, 0, sizeof(*h));
	buf_init(&h->response);
	h->timeout = o->http_timeout;
	h->max_retries = o->max_retries;
	h->retry_after = -1;
	srandom((unsigned int) (time(NULL) ^ (getpid() << 16)));

	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
	{
		pp_error_set(err, PPERR_CONFIG, "could not initialize libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL)
	{
		pp_error_set(err, PPERR_CONFIG, "could not initialize libcurl");
		return -1;
	}
	h->url = pp_psprintf("%s%s", o->target, IMPORT_BATCH_PATH);

	n = snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	l = n >= 0 && (size_t) n < sizeof(auth) ? curl_slist_append(NULL, auth) : NULL;
	explicit_bzero(auth, sizeof(auth));
	if (l == NULL)
	{
		pp_error_set(err, PPERR_CONFIG, "could not set up the HTTP client: out of memory");
		return -1;
	}
	h->headers = l;
	if ((l = curl_slist_append(h->headers, "Content-Type: application/json")) == NULL ||
		(l = curl_slist_append(h->headers, "Accept: application/json")) == NULL ||
		(l = curl_slist_append(h->headers, "Expect:")) == NULL)
	{
		pp_error_set(err, PPERR_CONFIG, "could not set up the HTTP client: out of memory");
		return -1;
	}

	CHECK_SETOPT(h, CURLOPT_VERBOSE, 0L);
	CHECK_SETOPT(h, CURLOPT_ERRORBUFFER, h->errbuf);
	CHECK_SETOPT(h, CURLOPT_URL, h->url);
	CHECK_SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	CHECK_SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	CHECK_SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	CHECK_SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	CHECK_SETOPT(h, CURLOPT_USERAGENT, "pgpull/" PGPULL_VERSION);
	CHECK_SETOPT(h, CURLOPT_HTTPHEADER, h->headers);
	CHECK_SETOPT(h, CURLOPT_POST, 1L);
	CHECK_SETOPT(h, CURLOPT_READFUNCTION, read_body);
	CHECK_SETOPT(h, CURLOPT_READDATA, h);
	CHECK_SETOPT(h, CURLOPT_SEEKFUNCTION, seek_body);
	CHECK_SETOPT(h, CURLOPT_SEEKDATA, h);
	CHECK_SETOPT(h, CURLOPT_WRITEFUNCTION, write_response);
	CHECK_SETOPT(h, CURLOPT_WRITEDATA, h);
	CHECK_SETOPT(h, CURLOPT_HEADERFUNCTION, http_read_header);
	CHECK_SETOPT(h, CURLOPT_HEADERDATA, h);
	CHECK_SETOPT(h, CURLOPT_XFERINFOFUNCTION, progress);
	CHECK_SETOPT(h, CURLOPT_XFERINFODATA, h);
	CHECK_SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	CHECK_SETOPT(h, CURLOPT_TIMEOUT, (long) o->http_timeout);
	CHECK_SETOPT(h, CURLOPT_CONNECTTIMEOUT, (long) (o->http_timeout < 30 ? o->http_timeout : 30));
	CHECK_SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	CHECK_SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->cacert)
		CHECK_SETOPT(h, CURLOPT_CAINFO, o->cacert);
	if (!o->target_tls)
		CHECK_SETOPT(h, CURLOPT_PROXY, "");
	return 0;
}

/*
 * http_cleanup: release the client, wiping the header that holds the token.
 */
void
http_cleanup(HttpClient *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	for (struct curl_slist *l = h->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h->headers);
	free(h->url);
	buf_free(&h->response);
	curl_global_cleanup();
	memset(h, 0, sizeof(*h));
}

/*
 * read_body: curl's read callback: copy the next bytes of the segments.
 */
static size_t
read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	HttpClient *h = arg;
	size_t		room = size * nitems;
	size_t		done = 0;

	while (done < room && h->seg_i < h->nseg)
	{
		const BodySegment *s = &h->seg[h->seg_i];
		size_t		n = s->len - h->seg_pos;

		if (n > room - done)
			n = room - done;
		memcpy(buf + done, s->data + h->seg_pos, n);
		done += n;
		h->seg_pos += n;
		if (h->seg_pos == s->len)
		{
			h->seg_i++;
			h->seg_pos = 0;
		}
	}
	return done;
}

/*
 * seek_body: curl's seek callback, for when it must send the body again
 * (a kept-alive connection the server had closed).
 */
static int
seek_body(void *arg, curl_off_t offset, int origin)
{
	HttpClient *h = arg;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	h->seg_i = 0;
	h->seg_pos = 0;
	while (h->seg_i < h->nseg && (size_t) offset >= h->seg[h->seg_i].len)
	{
		offset -= (curl_off_t) h->seg[h->seg_i].len;
		h->seg_i++;
	}
	if (h->seg_i < h->nseg)
		h->seg_pos = (size_t) offset;
	else if (offset > 0)
		return CURL_SEEKFUNC_FAIL;
	return CURL_SEEKFUNC_OK;
}

/*
 * write_response: curl's write callback: keep the start of the body.
 */
static size_t
write_response(char *ptr, size_t size, size_t nmemb, void *arg)
{
	HttpClient *h = arg;
	size_t		n = size * nmemb;

	if (h->response.len < RESPONSE_KEEP)
		buf_append(&h->response, ptr,
				   n < RESPONSE_KEEP - h->response.len ? n : RESPONSE_KEEP - h->response.len);
	return n;
}

/*
 * http_read_header: curl's header callback: pick up Retry-After (seconds
 * or an HTTP date) in h->retry_after.  buf holds one header line of
 * size * nitems bytes, not NUL-terminated.  Not static only for the fuzz
 * harness (puller/fuzz/).
 */
size_t
http_read_header(char *buf, size_t size, size_t nitems, void *arg)
{
	HttpClient *h = arg;
	size_t		n = size * nitems;
	char		value[128];
	size_t		vlen;
	const char *v;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
	{
		h->retry_after = -1;	/* a new response (after 100 Continue) */
		return n;
	}
	if (n < 12 || strncasecmp(buf, "Retry-After:", 12) != 0)
		return n;
	v = buf + 12;
	vlen = n - 12;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && isspace((unsigned char) v[vlen - 1]))
		vlen--;
	if (vlen == 0 || vlen >= sizeof(value))
		return n;
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	if (strspn(value, "0123456789") == vlen)
		h->retry_after = vlen > 9 ? 1e9 : (double) atol(value);
	else
	{
		time_t		t = curl_getdate(value, NULL);
		time_t		now = time(NULL);

		/* one reading of the clock: a second passing must not make it negative */
		if (t != -1)
			h->retry_after = t > now ? (double) (t - now) : 0;
	}
	return n;
}

/*
 * progress: curl's progress callback: abort a transfer on SIGINT/SIGTERM.
 */
static int
progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		 curl_off_t ultotal, curl_off_t ulnow)
{
	return pp_interrupted ? 1 : 0;
}

/*
 * fatal_curl_error: whether a transfer error is one no retry can fix: then
 * sets err (PPERR_DESTINATION) to what is wrong and what to do, and
 * h->fatal.  Network trouble (a connection refused, cut or timed out, also
 * during the TLS handshake) may pass by itself: false.
 */
static bool
fatal_curl_error(HttpClient *h, CURLcode rc, PPError *err)
{
	const char *text = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);

	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
			pp_error_set(err, PPERR_DESTINATION, "could not resolve the host name of the destination: %s", text);
			pp_error_hint(err, "Check the host name in --target.");
			h->fatal = "the host name of the destination does not resolve";
			return true;
		case CURLE_SSL_CONNECT_ERROR:
			/* curl's words for a socket error, not a TLS one */
			if (strncmp(text, "Recv failure", 12) == 0 ||
				strncmp(text, "Send failure", 12) == 0 ||
				strncmp(text, "OpenSSL SSL_connect: ", 21) == 0)
				return false;
			pp_error_set(err, PPERR_DESTINATION, "the TLS handshake with the destination failed: %s", text);
			pp_error_hint(err, "Check that --target names the destination's HTTPS port: an https:// URL on a plain-HTTP port fails this way.");
			h->fatal = "the TLS handshake with the destination failed";
			return true;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			pp_error_set(err, PPERR_DESTINATION, "could not verify the certificate of the destination: %s", text);
			pp_error_hint(err, "Name the certificate authority of the destination with --cacert, and check that the host name in --target is one the certificate names.");
			h->fatal = "the certificate of the destination could not be verified";
			return true;
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_ENGINE_NOTFOUND:
			pp_error_set(err, PPERR_DESTINATION, "could not set up TLS for the destination: %s", text);
			if (rc == CURLE_SSL_CACERT_BADFILE)
				pp_error_hint(err, "Check that the --cacert file (or else the system's CA certificates) holds certificates in PEM form.");
			h->fatal = "TLS could not be set up for the destination";
			return true;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_OUT_OF_MEMORY:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_ABORTED_BY_CALLBACK:
		case CURLE_READ_ERROR:
			pp_error_set(err, PPERR_DESTINATION, "could not send a batch to the destination: %s", text);
			h->fatal = "the destination could not be reached";
			return true;
		default:
			return false;
	}
}

/*
 * now_seconds: a monotonic clock in seconds.
 */
static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * http_destination_message: what the destination said in its response body:
 * the "error" or "message" member of a JSON object (with "errors" when
 * present), or else the text itself; at most MESSAGE_SHOWN characters,
 * control characters as spaces.  NULL when the body is empty.  The caller
 * frees it.  Not static only for the fuzz harness (puller/fuzz/).
 */
char *
http_destination_message(const HttpClient *h)
{
	json_t	   *j;
	json_error_t jerr;
	Buf			out;
	const char *text = NULL;
	char	   *errors = NULL;
	char	   *p;

	if (h->response.len == 0)
		return NULL;
	buf_init(&out);
	j = json_loadb(h->response.data, h->response.len, JSON_DECODE_ANY, &jerr);
	if (j != NULL && json_is_object(j))
	{
		json_t	   *m = json_object_get(j, "error");
		json_t	   *e = json_object_get(j, "errors");

		if (!json_is_string(m))
			m = json_object_get(j, "message");
		if (json_is_string(m))
			text = json_string_value(m);
		if (e != NULL && !json_is_null(e))
			errors = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	else if (j != NULL && json_is_string(j))
		text = json_string_value(j);
	if (text != NULL)
	{
		buf_append_str(&out, text);
		if (errors != NULL)
			buf_appendf(&out, " %s", errors);
	}
	else
		buf_append(&out, h->response.data, h->response.len);
	free(errors);
	json_decref(j);

	if (out.len > MESSAGE_SHOWN)
	{
		out.len = MESSAGE_SHOWN;
		/* do not cut a UTF-8 sequence */
		while (out.len > 0 && ((unsigned char) out.data[out.len] & 0xC0) == 0x80)
			out.len--;
		out.data[out.len] = '\0';
		buf_append_str(&out, "...");
	}
	for (p = out.data; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	return out.data;
}

/*
 * send_range: send messages from..to of the batch as one request, with
 * retries, splitting on 413.  Returns 0 when every message was accepted
 * and recorded, or -1 with err set.
 */
static int
send_range(HttpClient *h, const Batch *b, int from, int to,
		   BatchAcceptedFn accepted, void *arg, PPError *err)
{
	size_t		size = batch_body_size(b, from, to);
	double		start = now_seconds();
	int			attempt = 0;

	for (;;)
	{
		CURLcode	rc;
		long		status = 0;
		char	   *reason;
		double		delay;
		bool		network;

		h->nseg = batch_segments(b, from, to, h->seg);
		h->seg_i = 0;
		h->seg_pos = 0;
		h->retry_after = -1;
		h->errbuf[0] = '\0';
		buf_reset(&h->response);

		rc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
		if (rc == CURLE_OK)
			rc = curl_easy_perform(h->curl);
		if (pp_interrupted)
		{
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while sending a batch");
			return -1;
		}
		if (rc == CURLE_OK &&
			curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
			status = 0;

		if (rc == CURLE_OK && status >= 200 && status <= 299)
			return accepted(arg, from, to, size, err);

		if (rc == CURLE_OK && status == 413)
		{
			char	   *msg = http_destination_message(h);

			if (to > from)
			{
				int			mid = from + (to - from) / 2;

				runlog("WARNING", "destination rejected a batch of %d rows and %zu bytes as too large, sending it in two halves",
					   to - from + 1, size);
				free(msg);
				if (send_range(h, b, from, mid, accepted, arg, err) != 0)
					return -1;
				return send_range(h, b, mid + 1, to, accepted, arg, err);
			}
			pp_error_set(err, PPERR_STREAM,
						 "destination rejected a single row of %zu bytes as too large (HTTP 413)",
						 size);
			if (batch_position(b, from))
				pp_error_detail(err, "The row is at position %s.%s%s", batch_position(b, from),
								msg ? "  The destination said: " : "", msg ? msg : "");
			else if (msg)
				pp_error_detail(err, "The destination said: %s", msg);
			free(msg);
			return -1;
		}

		if (rc == CURLE_OK && status == 401)
		{
			char	   *msg = http_destination_message(h);

			pp_error_set(err, PPERR_DESTINATION, "destination rejected the token (HTTP 401)");
			if (msg)
				pp_error_detail(err, "The destination said: %s", msg);
			pp_error_hint(err, "Check the token in PGPULL_TOKEN or in the --token-file file, and that it belongs to this destination.");
			h->fatal = "the destination rejected the token";
			free(msg);
			return -1;
		}

		if (rc == CURLE_OK && status != 408 && status != 429 &&
			!(status >= 500 && status <= 599))
		{
			char	   *msg = http_destination_message(h);

			pp_error_set(err, PPERR_STREAM, "destination rejected a batch of %d rows (HTTP %ld)",
						 to - from + 1, status);
			if (msg)
				pp_error_detail(err, "The destination said: %s", msg);
			free(msg);
			return -1;
		}

		network = (rc != CURLE_OK);
		if (network && fatal_curl_error(h, rc, err))
			return -1;
		if (network)
			reason = pp_psprintf("could not send a batch to the destination: %s",
								 h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
		else
		{
			char	   *msg = http_destination_message(h);

			reason = pp_psprintf("destination answered HTTP %ld%s%s", status,
								 msg ? ": " : "", msg ? msg : "");
			free(msg);
		}
		attempt++;
		if (h->retry_after >= 0)
			delay = h->retry_after + (double) random() / RAND_MAX * 0.25;
		else
		{
			delay = BACKOFF_BASE;
			for (int i = 1; i < attempt && delay < BACKOFF_MAX; i++)
				delay *= 2;
			if (delay > BACKOFF_MAX)
				delay = BACKOFF_MAX;
			delay *= 0.5 + 0.5 * (double) random() / RAND_MAX;
		}
		if (attempt > h->max_retries ||
			now_seconds() - start + delay > RETRY_TIME_LIMIT)
		{
			pp_error_set(err, network ? PPERR_DESTINATION : PPERR_STREAM, "%s", reason);
			if (attempt > h->max_retries)
				pp_error_detail(err, "Gave up after %d attempts.", attempt);
			else
				pp_error_detail(err, "Gave up after %d attempts: the next retry would pass the limit of %d seconds.",
								attempt, RETRY_TIME_LIMIT);
			if (network)
				pp_error_hint(err, "Check that the destination is up and reachable; rows not accepted are sent again by the next run.");
			free(reason);
			return -1;
		}
		runlog("WARNING", "%s; retry %d of %d in %.1f s", reason, attempt, h->max_retries, delay);
		free(reason);
		if (!conn_sleep(delay))
		{
			pp_error_set(err, PPERR_INTERRUPTED, "interrupted while waiting to retry a batch");
			return -1;
		}
	}
}

/*
 * http_send_batch: send every message of the batch (nmsg > 0), calling
 * accepted for each run of messages the destination accepts, in order.
 * Returns 0, or -1 with err set.
 */
int
http_send_batch(HttpClient *h, const Batch *b, BatchAcceptedFn accepted,
				void *arg, PPError *err)
{
	if (b->nmsg == 0)
		return 0;
	return send_range(h, b, 0, b->nmsg - 1, accepted, arg, err);
}
