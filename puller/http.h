/*-------------------------------------------------------------------------
 *
 * puller/http.h
 *		pgpull: send batches to an Import API destination.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_HTTP_H
#define PGPULL_HTTP_H

#include <curl/curl.h>

#include "batch.h"
#include "error.h"
#include "options.h"

/* the longest destination token accepted, in bytes */
#define HTTP_TOKEN_MAX		4096

/* called for each run of messages the destination accepted (2xx) */
typedef int (*BatchAcceptedFn) (void *arg, int from, int to, size_t bytes,
								 PPError *err);

typedef struct HttpClient
{
	CURL	   *curl;
	struct curl_slist *headers;
	char	   *url;
	int			timeout;
	int			max_retries;
	char		errbuf[CURL_ERROR_SIZE];
	Buf			response;		/* body of the last response (truncated) */
	double		retry_after;	/* seconds from Retry-After, or -1 */
	const char *fatal;			/* why no request to this destination can
								 * succeed (the token was rejected, TLS
								 * failed ...), or NULL */
	/* the body being sent */
	BodySegment seg[3];
	int			nseg;
	int			seg_i;
	size_t		seg_pos;
} HttpClient;

extern int	http_init(HttpClient *h, const PullerOptions *o, const char *token,
					  PPError *err);
extern int	http_send_batch(HttpClient *h, const Batch *b, BatchAcceptedFn accepted,
							void *arg, PPError *err);
extern void http_cleanup(HttpClient *h);

/* the parsers of what a destination answers (also for puller/fuzz/) */
extern size_t http_read_header(char *buf, size_t size, size_t nitems, void *arg);
extern char *http_destination_message(const HttpClient *h);

#endif							/* PGPULL_HTTP_H */
