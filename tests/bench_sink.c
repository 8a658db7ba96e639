/*-------------------------------------------------------------------------
 *
 * tests/bench_sink.c
 *		an Import API endpoint for "make bench" that discards what it gets
 *
 * A single-threaded HTTP/1.1 server on 127.0.0.1, written in C so that the
 * bench measures pgpull and not its destination.  POST /v2/import/batch
 * is answered like the reference receiver's success, 201 with
 * {"status":"OK","message":"Batch Accepted!"}, once the body
 * (Content-Length bytes) has been read and thrown away.  Connections are
 * kept alive (HTTP/1.1, or HTTP/1.0 with "Connection: keep-alive"), and
 * "Expect: 100-continue" is honoured.  Anything else gets the receiver's
 * error replies: 404 for another path, 405 for another method, 411 for a
 * POST without Content-Length or with Transfer-Encoding (chunked bodies
 * are not read; the connection is closed), 400 for a request that does
 * not parse and 431 for a head larger than HEAD_MAX; the last three close
 * the connection.
 *
 * Usage: bench_sink PORT_FILE
 * Listens on an ephemeral port and writes its number to PORT_FILE (through
 * PORT_FILE.tmp and a rename, so a reader never sees half of it).  Stops
 * on SIGTERM or SIGINT with status 0.
 *
 * Built by "make bench" only: cc -O2 -o tests/bench_sink tests/bench_sink.c
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* connections served at once; one more is accepted and closed at once */
#define MAX_CONNS		64
/* the largest request line and headers read */
#define HEAD_MAX		16384
/* how much of a body one read() takes */
#define DISCARD_SIZE	(1 << 20)
/* the longest reply */
#define OUT_MAX			512

typedef enum Phase
{
	PHASE_HEAD,					/* reading a request line and headers */
	PHASE_BODY,					/* discarding body_left bytes of body */
	PHASE_WRITE					/* writing out[out_off .. out_len) */
} Phase;

typedef struct Conn
{
	int			fd;				/* -1: a free slot */
	Phase		phase;
	char		head[HEAD_MAX]; /* what was read of the next request */
	size_t		head_len;
	long long	body_left;		/* body bytes of this request still unread */
	int			status;			/* the final reply of this request */
	bool		close_after;	/* close once the final reply is written */
	bool		expect_continue;	/* "Expect: 100-continue" was sent */
	char		out[OUT_MAX];
	size_t		out_len;
	size_t		out_off;
} Conn;

static void on_signal(int signo);
static void die(const char *what);
static int	open_listener(const char *port_file);
static void accept_all(int listener);
static void close_conn(Conn *c);
static bool has_token(const char *value, const char *token);
static void parse_head(Conn *c, size_t head_end);
static void advance(Conn *c);
static void reply(Conn *c);
static void flush_out(Conn *c);
static void read_head(Conn *c);
static void read_body(Conn *c);

static volatile sig_atomic_t stop_requested = 0;
static Conn conns[MAX_CONNS];
static char discard[DISCARD_SIZE];

/*
 * on_signal: SIGTERM and SIGINT ask the main loop to stop.
 */
static void
on_signal(int signo)
{
	(void) signo;
	stop_requested = 1;
}

/*
 * die: print "bench_sink: could not WHAT: <errno text>" and exit 1.
 */
static void
die(const char *what)
{
	fprintf(stderr, "bench_sink: could not %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * open_listener: listen on 127.0.0.1, port chosen by the kernel, and write
 * the port to port_file.  Returns the non-blocking listening socket; exits
 * on failure.
 */
static int
open_listener(const char *port_file)
{
	struct sockaddr_in addr;
	socklen_t	len = sizeof(addr);
	char		tmp[4096];
	FILE	   *f;
	int			fd;
	int			one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("create a socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("set SO_REUSEADDR");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
		die("bind to 127.0.0.1");
	if (listen(fd, 64) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *) &addr, &len) < 0)
		die("read the port");
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		die("make the socket non-blocking");

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", port_file) >= (int) sizeof(tmp))
	{
		fprintf(stderr, "bench_sink: port file name too long: %s\n", port_file);
		exit(1);
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		die("open the port file");
	fprintf(f, "%d", ntohs(addr.sin_port));
	if (fclose(f) != 0)
		die("write the port file");
	if (rename(tmp, port_file) < 0)
		die("rename the port file");
	return fd;
}

/*
 * accept_all: accept every pending connection into a free slot of conns,
 * non-blocking.  A connection beyond MAX_CONNS is closed at once.
 */
static void
accept_all(int listener)
{
	for (;;)
	{
		int			fd = accept(listener, NULL, NULL);
		int			one = 1;
		Conn	   *c = NULL;

		if (fd < 0)
		{
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				fprintf(stderr, "bench_sink: could not accept: %s\n",
						strerror(errno));
			return;
		}
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].fd < 0)
			{
				c = &conns[i];
				break;
			}
		if (c == NULL || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		{
			close(fd);
			continue;
		}
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->phase = PHASE_HEAD;
		c->head_len = 0;
		c->body_left = 0;
		c->close_after = false;
	}
}

/*
 * close_conn: close c's socket and free its slot.
 */
static void
close_conn(Conn *c)
{
	close(c->fd);
	c->fd = -1;
}


/*
 * has_token: whether the comma-separated header value (NUL-terminated)
 * holds token, compared without regard to case.
 */
static bool
has_token(const char *value, const char *token)
{
	size_t		len = strlen(token);

	while (*value != '\0')
	{
		const char *end;
		const char *last;

		while (*value == ' ' || *value == '\t' || *value == ',')
			value++;
		end = strchr(value, ',');
		if (end == NULL)
			end = value + strlen(value);
		for (last = end;
			 last > value && (last[-1] == ' ' || last[-1] == '\t');
			 last--)
			;
		if ((size_t) (last - value) == len &&
			strncasecmp(value, token, len) == 0)
			return true;
		value = end;
	}
	return false;
}

/*
 * parse_head: read the request line and headers of c->head[0 .. head_end),
 * which ends with the blank line, and set c->status, c->body_left,
 * c->close_after and c->expect_continue for the request.  The lines of the
 * head are NUL-terminated in place: the head is parsed once.
 */
static void
parse_head(Conn *c, size_t head_end)
{
	char	   *p = c->head;
	char	   *end = c->head + head_end;
	char	   *eol;
	char	   *sp1;
	char	   *sp2;
	char	   *query;
	bool		has_length = false;
	bool		has_te = false;
	bool		keep_alive = false;
	bool		conn_close = false;
	bool		http10;
	bool		post;
	size_t		path_len;

	c->body_left = 0;
	c->close_after = false;
	c->expect_continue = false;

	/* request line: METHOD SP TARGET SP HTTP/1.x CRLF */
	eol = memchr(p, '\r', end - p);
	sp1 = memchr(p, ' ', eol - p);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', eol - sp1 - 1) : NULL;
	if (sp1 == NULL || sp2 == NULL || eol - sp2 - 1 != 8 ||
		strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || eol[1] != '\n')
		goto bad;
	post = sp1 - p == 4 && strncmp(p, "POST", 4) == 0;
	query = memchr(sp1 + 1, '?', sp2 - sp1 - 1);
	path_len = (query ? query : sp2) - (sp1 + 1);
	if (path_len == 16 && strncmp(sp1 + 1, "/v2/import/batch", 16) == 0)
		c->status = post ? 201 : 405;
	else
		c->status = 404;
	http10 = sp2[8] == '0';

	/* headers: NAME ":" VALUE CRLF, up to the blank line */
	for (p = eol + 2; p < end - 2; p = eol + 2)
	{
		char	   *colon;
		char	   *value;
		size_t		name_len;

		eol = memchr(p, '\r', end - p);
		colon = memchr(p, ':', eol - p);
		if (colon == NULL || colon == p || eol[1] != '\n')
			goto bad;
		name_len = colon - p;
		for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
			;
		*eol = '\0';
		if (name_len == 14 && strncasecmp(p, "Content-Length", 14) == 0)
		{
			char	   *digits_end;

			if (*value < '0' || *value > '9')
				goto bad;
			errno = 0;
			c->body_left = strtoll(value, &digits_end, 10);
			while (*digits_end == ' ' || *digits_end == '\t')
				digits_end++;
			if (errno != 0 || *digits_end != '\0')
				goto bad;
			has_length = true;
		}
		else if (name_len == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0)
			has_te = true;
		else if (name_len == 10 && strncasecmp(p, "Connection", 10) == 0)
		{
			if (has_token(value, "close"))
				conn_close = true;
			if (has_token(value, "keep-alive"))
				keep_alive = true;
		}
		else if (name_len == 6 && strncasecmp(p, "Expect", 6) == 0)
			c->expect_continue = has_token(value, "100-continue");
	}
	c->close_after = conn_close || (http10 && !keep_alive);

	/* a body of unknown length is not read: say so and close */
	if (has_te || (post && !has_length))
	{
		c->status = 411;
		c->body_left = 0;
		c->close_after = true;
	}
	return;

bad:
	c->status = 400;
	c->body_left = 0;
	c->close_after = true;
}

/*
 * advance: with c in PHASE_HEAD, parse the request whose head is in
 * c->head, if it is all there, and take what follows the head as its body.
 * Then c is in PHASE_BODY (more body to read), in PHASE_WRITE (a reply
 * queued and tried) or closed; or, with no whole head yet, still in
 * PHASE_HEAD.
 */
static void
advance(Conn *c)
{
	char	   *blank = NULL;
	size_t		head_end;
	size_t		rest;
	size_t		body_here;

	for (size_t i = 3; i < c->head_len; i++)
		if (memcmp(c->head + i - 3, "\r\n\r\n", 4) == 0)
		{
			blank = c->head + i + 1;
			break;
		}
	if (blank == NULL)
	{
		if (c->head_len == HEAD_MAX)
		{
			c->status = 431;
			c->close_after = true;
			reply(c);
		}
		return;
	}
	head_end = blank - c->head;
	parse_head(c, head_end);

	/* what was read past the head: body first, then the next request */
	rest = c->head_len - head_end;
	body_here = (long long) rest < c->body_left ? rest : (size_t) c->body_left;
	c->body_left -= body_here;
	memmove(c->head, blank + body_here, rest - body_here);
	c->head_len = rest - body_here;

	if (c->body_left == 0)
		reply(c);
	else if (c->expect_continue)
	{
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		memcpy(c->out, cont, sizeof(cont) - 1);
		c->out_len = sizeof(cont) - 1;
		c->out_off = 0;
		c->phase = PHASE_WRITE;
		flush_out(c);
	}
	else
		c->phase = PHASE_BODY;
}

/*
 * reply: queue the final reply of c's request (c->status) and try to
 * write it.
 */
static void
reply(Conn *c)
{
	const char *reason;
	const char *body;
	const char *extra = "";
	int			n;

	switch (c->status)
	{
		case 201:
			reason = "Created";
			body = "{\"status\":\"OK\",\"message\":\"Batch Accepted!\"}";
			break;
		case 404:
			reason = "Not Found";
			body = "{\"status\":\"ERROR\",\"message\":\"Not Found\"}";
			break;
		case 405:
			reason = "Method Not Allowed";
			body = "{\"status\":\"ERROR\",\"message\":\"Method Not Allowed\"}";
			extra = "Allow: POST\r\n";
			break;
		case 411:
			reason = "Length Required";
			body = "{\"status\":\"ERROR\",\"message\":\"Length Required\"}";
			break;
		case 431:
			reason = "Request Header Fields Too Large";
			body = "{\"status\":\"ERROR\",\"message\":\"Request Header Fields Too Large\"}";
			break;
		default:
			c->status = 400;
			reason = "Bad Request";
			body = "{\"status\":\"ERROR\",\"message\":\"Bad Request\"}";
			c->close_after = true;
			break;
	}
	n = snprintf(c->out, sizeof(c->out),
				 "HTTP/1.1 %d %s\r\n"
				 "Content-Type: application/json\r\n"
				 "Content-Length: %zu\r\n"
				 "%s%s\r\n%s",
				 c->status, reason, strlen(body), extra,
				 c->close_after ? "Connection: close\r\n" : "", body);
	c->out_len = (size_t) n < sizeof(c->out) ? (size_t) n : sizeof(c->out) - 1;
	c->out_off = 0;
	c->phase = PHASE_WRITE;
	flush_out(c);
}

/*
 * flush_out: write what is left of c->out.  Once it is all written: close
 * c if the reply asked to, go on discarding the body after a 100 Continue,
 * or take the next request.  Closes c on a write error.
 */
static void
flush_out(Conn *c)
{
	while (c->out_off < c->out_len)
	{
		ssize_t		n = send(c->fd, c->out + c->out_off,
							 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				close_conn(c);
			return;
		}
		c->out_off += n;
	}
	if (c->close_after)
		close_conn(c);
	else if (c->body_left > 0)
		c->phase = PHASE_BODY;
	else
	{
		c->phase = PHASE_HEAD;
		advance(c);
	}
}

/*
 * read_head: read more of the next request's head into c->head, and go on
 * with it.  Closes c at end of file or on a read error.
 */
static void
read_head(Conn *c)
{
	ssize_t		n;

	n = read(c->fd, c->head + c->head_len, HEAD_MAX - c->head_len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0)
	{
		close_conn(c);
		return;
	}
	c->head_len += n;
	advance(c);
}

/*
 * read_body: read and drop up to DISCARD_SIZE bytes of c's body; reply
 * once it is all read.  Closes c at end of file or on a read error.
 */
static void
read_body(Conn *c)
{
	size_t		want = DISCARD_SIZE;
	ssize_t		n;

	if (c->body_left < DISCARD_SIZE)
		want = (size_t) c->body_left;
	n = read(c->fd, discard, want);

	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0)
	{
		close_conn(c);
		return;
	}
	c->body_left -= n;
	if (c->body_left == 0)
		reply(c);
}

/*
 * main: serve until SIGTERM or SIGINT, then close every connection and
 * return 0.  Returns 2 on a usage error; exits 1 when the socket cannot be
 * set up or poll() fails.
 */
int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct pollfd fds[MAX_CONNS + 1];
	Conn	   *polled[MAX_CONNS + 1];
	int			listener;

	if (argc != 2)
	{
		fprintf(stderr, "usage: bench_sink PORT_FILE\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;			/* no SA_RESTART: poll() returns EINTR */
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		die("set the signal handlers");
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	listener = open_listener(argv[1]);

	while (!stop_requested)
	{
		int			nfds = 1;
		int			ready;

		fds[0].fd = listener;
		fds[0].events = POLLIN;
		polled[0] = NULL;
		for (int i = 0; i < MAX_CONNS; i++)
		{
			if (conns[i].fd < 0)
				continue;
			fds[nfds].fd = conns[i].fd;
			fds[nfds].events = conns[i].phase == PHASE_WRITE ? POLLOUT : POLLIN;
			polled[nfds] = &conns[i];
			nfds++;
		}
		/* the timeout bounds a SIGTERM that lands just before poll() */
		ready = poll(fds, nfds, 200);
		if (ready < 0)
		{
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 1; i < nfds; i++)
		{
			Conn	   *c = polled[i];

			if (fds[i].revents == 0 || c->fd < 0)
				continue;
			if (c->phase == PHASE_WRITE)
				flush_out(c);
			else if (c->phase == PHASE_BODY)
				read_body(c);
			else
				read_head(c);
		}
		if (fds[0].revents & POLLIN)
			accept_all(listener);
	}

	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			close_conn(&conns[i]);
	close(listener);
	return 0;
}
