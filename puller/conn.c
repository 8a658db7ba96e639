/*-------------------------------------------------------------------------
 *
 * puller/conn.c
 *		pgpull: open the source and state connections; cancel on signals.
 *
 * Connections follow libpq's conventions: a connection string or URI
 * (expand_dbname), the PG* environment variables, the service file and
 * .pgpass.  pgpull runs from schedulers, so it never prompts: a connection
 * that needs a password nobody gave fails, and so does an encrypted SSL
 * key without sslpassword.
 *
 * Each session is set up through the startup "options" (appended to the
 * user's own): an empty search_path, so every call is schema-qualified;
 * for the source also a read-only default, UTC, ISO date and interval
 * styles, full float precision and row_security off, so that a row level
 * security policy raises an error instead of silently filtering rows.
 *
 * SIGINT and SIGTERM set pp_interrupted and cancel whatever query runs on
 * either connection; the program then records the failure and exits.
 *
 * With --ssh, both connections go through the SSH tunnel (tunnel.c), which
 * says which host, port and password libpq uses.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "pgoutput.h"
#include "tunnel.h"

#define SOURCE_OPTIONS \
	"-c search_path= -c default_transaction_read_only=on -c TimeZone=UTC " \
	"-c DateStyle=ISO -c IntervalStyle=iso_8601 -c extra_float_digits=3 " \
	"-c row_security=off -c statement_timeout=0 " \
	"-c idle_in_transaction_session_timeout=0"
#define STATE_OPTIONS \
	"-c search_path= -c TimeZone=UTC -c DateStyle=ISO -c statement_timeout=0"

static void handle_signal(int signo);
static int	no_prompt_key_pass(char *buf, int size, PGconn *conn);
static void append_option(Buf *b, const char *keyword, const char *value);
static char *merged_options(const char *conninfo, ConnRole role);
static bool check_connection(PGconn *conn, ConnRole role, PPError *err);
static void name_connection(PGconn *conn, ConnRole role, PPError *err);
static void set_cancel(ConnRole role, PGconn *conn);
static const TunnelRoute *route_of(ConnRole role);
static void *open_in_thread(void *arg);

/* a connection opened by a thread of its own (conn_open_both) */
typedef struct OpenJob
{
	const char *conninfo;
	ConnRole	role;
	PGconn	   *conn;
	PPError		err;
} OpenJob;

/* cancel handles of the open connections, used by the signal handler */
static PGcancel *volatile cancel_slot[CONN_ROLES];

static const char *const role_name[CONN_ROLES] = {"source", "state", "primary", "replication"};

/*
 * the option that gave each connection: the state's is --source's by
 * default; the primary's and the replication connection's, the state's
 */
static const char *option_name[CONN_ROLES] = {"--source", "--state", "--state", "--state"};

/*
 * how the source and state connections go through the SSH tunnel; NULL:
 * directly (route_of: the others go the state's way)
 */
static TunnelRoute *ssh_route[2];

/*
 * route_of: how a connection goes through the SSH tunnel (NULL: directly):
 * the source's way, or the state's for the others, which reach the
 * primary that --state names.
 */
static const TunnelRoute *
route_of(ConnRole role)
{
	return role == CONN_SOURCE ? ssh_route[CONN_SOURCE] : ssh_route[CONN_STATE];
}

/*
 * handle_signal: remember the interrupt and cancel the running queries.
 * PQcancel is safe to call from a signal handler.
 */
static void
handle_signal(int signo)
{
	int			save_errno = errno;
	char		errbuf[256];

	pp_interrupted = signo;
	for (int i = 0; i < CONN_ROLES; i++)
	{
		PGcancel   *c = cancel_slot[i];

		if (c != NULL)
			(void) PQcancel(c, errbuf, sizeof(errbuf));
	}
	errno = save_errno;
}

/*
 * conn_setup_signals: install the SIGINT/SIGTERM handler, ignore SIGPIPE
 * (a destination that closes its connection is an error, not a signal),
 * and stop libpq from ever prompting for an SSL key's passphrase.
 */
void
conn_setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handle_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	PQsetSSLKeyPassHook_OpenSSL(no_prompt_key_pass);
}

/*
 * no_prompt_key_pass: libpq's SSL key passphrase hook: the connection's
 * sslpassword if one was given, else an empty passphrase (no prompt).
 * Returns the passphrase's length.
 */
static int
no_prompt_key_pass(char *buf, int size, PGconn *conn)
{
	PQconninfoOption *opts;

	buf[0] = '\0';
	if (size <= 0)
		return 0;
	opts = PQconninfo(conn);
	if (opts != NULL)
	{
		for (PQconninfoOption *o = opts; o->keyword; o++)
		{
			if (strcmp(o->keyword, "sslpassword") == 0 && o->val != NULL)
			{
				snprintf(buf, size, "%s", o->val);
				break;
			}
		}
		PQconninfoFree(opts);
	}
	return (int) strlen(buf);
}

/*
 * conn_use_ssh: with --ssh, the state database's connection (and the
 * source's when with_source) will go through the tunnel, which the first
 * conn_open starts.  Returns 0, or EXIT_USAGE after a usage error.
 */
int
conn_use_ssh(const PullerOptions *o, bool with_source)
{
	option_name[CONN_STATE] = o->state ? "--state" : "--source, as no --state is given";
	option_name[CONN_PRIMARY] = option_name[CONN_STATE];
	option_name[CONN_REPLICATION] = option_name[CONN_STATE];
	if (o->ssh == NULL)
		return 0;
	tunnel_configure(o->ssh, o->ssh_identity, o->ssh_known_hosts);
	ssh_route[CONN_STATE] = tunnel_route(o->state ? o->state : o->source,
										 o->state ? "--state" : "--source");
	if (ssh_route[CONN_STATE] == NULL)
		return EXIT_USAGE;
	if (with_source &&
		(ssh_route[CONN_SOURCE] = tunnel_route(o->source, "--source")) == NULL)
		return EXIT_USAGE;
	return 0;
}

/*
 * conn_end_ssh: stop the tunnel, if any, and forget the routes through it.
 * The connections must be closed.
 */
void
conn_end_ssh(void)
{
	for (int i = 0; i < 2; i++)
	{
		tunnel_route_free(ssh_route[i]);
		ssh_route[i] = NULL;
	}
	tunnel_stop();
}

/*
 * merged_options: the startup options: the user's own (from the connection
 * string, or else PGOPTIONS), then ours, which win.  The caller frees it.
 */
static char *
merged_options(const char *conninfo, ConnRole role)
{
	const char *ours = role == CONN_SOURCE || role == CONN_PRIMARY ? SOURCE_OPTIONS : STATE_OPTIONS;
	const char *user = NULL;
	PQconninfoOption *opts = NULL;
	char	   *result;

	if (pp_is_conninfo(conninfo))
	{
		opts = PQconninfoParse(conninfo, NULL);
		if (opts != NULL)
		{
			for (PQconninfoOption *o = opts; o->keyword; o++)
				if (strcmp(o->keyword, "options") == 0 && o->val && o->val[0])
					user = o->val;
		}
	}
	if (user == NULL)
		user = getenv("PGOPTIONS");
	if (user != NULL && user[0] != '\0')
		result = pp_psprintf("%s %s", user, ours);
	else
		result = pp_strdup(ours);
	if (opts)
		PQconninfoFree(opts);
	return result;
}

/*
 * append_option: append "keyword='value'" to a connection string, the
 * value quoted as libpq reads it (backslash before \ and ').
 */
static void
append_option(Buf *b, const char *keyword, const char *value)
{
	if (b->len > 0)
		buf_append_str(b, " ");
	buf_appendf(b, "%s='", keyword);
	for (const char *p = value; *p; p++)
	{
		if (*p == '\\' || *p == '\'')
			buf_append_str(b, "\\");
		buf_append(b, p, 1);
	}
	buf_append_str(b, "'");
}

/*
 * conn_with_dbname: a connection string for database dbname on the server
 * conninfo names (a connection string or URI, a bare database name, or ""
 * for the PG* environment variables): every option conninfo gives but its
 * database, then dbname, values quoted.  What conninfo leaves out still
 * comes from the environment and the service file at connection time.
 * The caller frees it.
 */
char *
conn_with_dbname(const char *conninfo, const char *dbname)
{
	PQconninfoOption *opts = pp_is_conninfo(conninfo) ? PQconninfoParse(conninfo, NULL) : NULL;
	Buf			b;

	buf_init(&b);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
			append_option(&b, o->keyword, o->val);
	if (opts)
		PQconninfoFree(opts);
	append_option(&b, "dbname", dbname);
	return b.data;
}

/*
 * set_cancel: (re)build the cancel handle of a connection; NULL conn
 * removes it.
 */
static void
set_cancel(ConnRole role, PGconn *conn)
{
	PGcancel   *old = cancel_slot[role];

	cancel_slot[role] = NULL;
	if (old)
		PQfreeCancel(old);
	if (conn)
		cancel_slot[role] = PQgetCancel(conn);
}

/*
 * check_connection: after connecting or resetting: report a failure (a
 * missing password is a connection error: pgpull never prompts), check the
 * source's encoding, install the notice receiver and the cancel handle.
 */
static bool
check_connection(PGconn *conn, ConnRole role, PPError *err)
{
	const char *enc;

	if (PQstatus(conn) != CONNECTION_OK)
	{
		if (PQconnectionNeedsPassword(conn))
		{
			pp_error_set(err, PPERR_CONNECT,
						 "could not connect to the %s database: a password is required",
						 role_name[role]);
			pp_error_hint(err, "pgpull never prompts for a password.  Give it in ~/.pgpass, in PGPASSWORD or in the connection string.");
		}
		else
			pp_error_from_pg(err, PPERR_CONNECT, conn, NULL,
							 role == CONN_SOURCE ? "could not connect to the source database"
							 : role == CONN_REPLICATION ? "could not open a replication connection to the primary"
							 : role == CONN_PRIMARY ? "could not connect to the primary"
							 : "could not connect to the state database");
		err->kind = PPERR_CONNECT;
		if (route_of(role) != NULL)
			tunnel_explain(err);
		name_connection(conn, role, err);
		return false;
	}
	enc = PQparameterStatus(conn, "server_encoding");
	if ((role == CONN_SOURCE || role == CONN_PRIMARY) && enc != NULL &&
		strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)
	{
		pp_error_set(err, PPERR_CONFIG,
					 "cannot read from a source database with encoding \"%s\"", enc);
		pp_error_detail(err, "Rows travel as JSON text in the database encoding, and JSON must be UTF-8.");
		return false;
	}
	PQsetNoticeReceiver(conn, runlog_notice_receiver, NULL);
	set_cancel(role, conn);
	return true;
}

/*
 * name_connection: a connection failed: put which one it was, with the
 * host, port, database and user it tried (never the password), first in
 * the error's detail, so that a run with two connection strings says which
 * to fix.
 */
static void
name_connection(PGconn *conn, ConnRole role, PPError *err)
{
	const TunnelRoute *route = route_of(role);
	const char *host = PQhost(conn);
	char	   *who;

	who = pp_psprintf("The %s connection (%s): host \"%s\", port %s, database \"%s\", user \"%s\"%s.",
					  role_name[role], option_name[role],
					  host && host[0] ? host : "(default)",
					  route ? route->port : PQport(conn),
					  PQdb(conn) ? PQdb(conn) : "",
					  PQuser(conn) ? PQuser(conn) : "",
					  route ? ", through the ssh tunnel" : "");
	if (err->detail != NULL)
	{
		char	   *both = pp_psprintf("%s\n%s", who, err->detail);

		free(err->detail);
		err->detail = both;
		free(who);
	}
	else
		err->detail = who;
}

/*
 * conn_open: connect to the source or state database (through the SSH
 * tunnel after conn_use_ssh).  Returns the connection, or NULL with err set
 * (kind PPERR_CONNECT, or PPERR_CONFIG for an unusable source encoding).
 */
PGconn *
conn_open(const char *conninfo, ConnRole role, PPError *err)
{
	const char *keywords[10];
	const char *values[10];
	char		port[16];
	int			n = 0;
	char	   *options;
	PGconn	   *conn;
	const TunnelRoute *route = route_of(role);

	/* the keywords after dbname override the connection string's */
	keywords[n] = "dbname";
	values[n++] = conninfo;
	if (route != NULL)
	{
		int			local_port = tunnel_port(route->forward, err);

		if (local_port < 0)
			return NULL;
		snprintf(port, sizeof(port), "%d", local_port);
		keywords[n] = "host";
		values[n++] = route->host;
		keywords[n] = "hostaddr";
		values[n++] = "127.0.0.1";
		keywords[n] = "port";
		values[n++] = port;
		if (route->password)
		{
			keywords[n] = "password";
			values[n++] = route->password;
		}
	}
	options = merged_options(conninfo, role);
	keywords[n] = "options";
	values[n++] = options;
	keywords[n] = "fallback_application_name";
	values[n++] = "pgpull";
	if (role == CONN_REPLICATION)
	{
		/* a walsender that also runs SQL, on the database given */
		keywords[n] = "replication";
		values[n++] = "database";
	}
	keywords[n] = NULL;
	values[n] = NULL;

	conn = PQconnectdbParams(keywords, values, 1);
	free(options);
	if (conn == NULL)
	{
		pp_error_set(err, PPERR_CONNECT, "could not connect to the %s database: out of memory",
					 role_name[role]);
		return NULL;
	}
	if (!check_connection(conn, role, err))
	{
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * open_in_thread: conn_open for an OpenJob.
 */
static void *
open_in_thread(void *arg)
{
	OpenJob    *job = arg;

	job->conn = conn_open(job->conninfo, job->role, &job->err);
	return NULL;
}

/*
 * conn_open_both: open the state and the source connections, at once: each
 * costs the server a backend's start, which the two then pay side by side
 * (one after the other when they go through the SSH tunnel, which the
 * first starts).  Sets *state and *source to what opened (NULL: failed).
 * Returns 0, or -1 with err set: the state connection's error when both
 * failed, as when they were opened in turn.
 */
int
conn_open_both(const char *state_conninfo, const char *source_conninfo,
			   PGconn **state, PGconn **source, PPError *err)
{
	OpenJob		job;
	pthread_t	thread;
	bool		threaded = false;

	job.conninfo = source_conninfo;
	job.role = CONN_SOURCE;
	job.conn = NULL;
	pp_error_init(&job.err);
	if (ssh_route[CONN_STATE] == NULL && ssh_route[CONN_SOURCE] == NULL)
		threaded = pthread_create(&thread, NULL, open_in_thread, &job) == 0;
	*state = conn_open(state_conninfo, CONN_STATE, err);
	if (threaded)
		pthread_join(thread, NULL);
	else if (*state != NULL)
		open_in_thread(&job);
	*source = job.conn;
	if (*state != NULL && *source == NULL)
	{
		*err = job.err;			/* the caller clears it */
		return -1;
	}
	pp_error_clear(&job.err);
	return *state != NULL ? 0 : -1;
}

/*
 * conn_reset: reconnect a connection that broke, with the same settings.
 * Returns false with err set when that fails.
 */
bool
conn_reset(PGconn *conn, ConnRole role, PPError *err)
{
	set_cancel(role, NULL);
	PQreset(conn);
	return check_connection(conn, role, err);
}

/*
 * conn_close: close a connection (NULL is fine), cancelling a statement
 * still running on it first.
 */
void
conn_close(PGconn *conn, ConnRole role)
{
	if (conn == NULL)
		return;
	if (PQtransactionStatus(conn) == PQTRANS_ACTIVE && cancel_slot[role] != NULL)
	{
		char		errbuf[256];

		(void) PQcancel(cancel_slot[role], errbuf, sizeof(errbuf));
	}
	set_cancel(role, NULL);
	PQfinish(conn);
}

/*
 * conn_sleep: sleep, waking early on SIGINT or SIGTERM.  Returns false when
 * interrupted.
 */
bool
conn_sleep(double seconds)
{
	struct timespec now;
	double		end;

	clock_gettime(CLOCK_MONOTONIC, &now);
	end = (double) now.tv_sec + now.tv_nsec / 1e9 + seconds;
	while (!pp_interrupted)
	{
		struct timespec ts;
		double		left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = end - ((double) now.tv_sec + now.tv_nsec / 1e9);
		if (left <= 0)
			return true;
		if (left > 0.1)
			left = 0.1;
		ts.tv_sec = 0;
		ts.tv_nsec = (long) (left * 1e9);
		nanosleep(&ts, NULL);
	}
	return false;
}

/*
 * conn_confirm_slot: confirm a logical replication slot (pgoutput) to lsn
 * from a new replication connection (pgpull commit-state, or a run once
 * its Singer target ended; a walsender that streamed once ends a second
 * START_REPLICATION at once): start streaming at lsn, send the status update, end.
 * Returns 0, or -1 with err set (for example: another session streams
 * the slot).
 */
int
conn_confirm_slot(PGconn *repl, const char *slot, const char *publication, uint64_t lsn,
					 PPError *err)
{
	char		text[32];
	char		msg[PGO_STATUS_UPDATE_LEN];
	size_t		n;
	char	   *sql;
	char	   *buf;
	PGresult   *res;
	int			rc = 0;

	pgo_lsn_text(lsn, text);
	sql = conn_start_replication(repl, slot, text, publication);
	res = PQexec(repl, sql);
	free(sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		pp_error_from_pg(err, PPERR_STREAM, repl, res, "could not confirm replication slot");
		if (res)
			PQclear(res);
		return -1;
	}
	PQclear(res);
	/*
	 * the update asks for a reply, which the server sends once it processed
	 * it: only then does the streaming end (a CopyDone sent at once was seen
	 * to leave the slot where it was)
	 */
	n = pgo_status_update(msg, lsn, lsn, lsn, pgo_now(), true);
	if (PQputCopyData(repl, msg, (int) n) != 1 || PQflush(repl) != 0)
	{
		pp_error_from_pg(err, PPERR_STREAM, repl, NULL, "could not confirm replication slot");
		rc = -1;
	}
	while (rc == 0)
	{
		int			got = PQgetCopyData(repl, &buf, 0);

		if (got <= 0)
		{
			pp_error_from_pg(err, PPERR_STREAM, repl, NULL, "could not confirm replication slot");
			rc = -1;
			break;
		}
		got = buf[0];
		PQfreemem(buf);
		if (got == 'k')
			break;
	}
	if (PQputCopyEnd(repl, NULL) == 1 && PQflush(repl) == 0)
		while (PQgetCopyData(repl, &buf, 0) > 0)
			PQfreemem(buf);
	while ((res = PQgetResult(repl)) != NULL)
		PQclear(res);
	return rc;
}

/*
 * conn_quote: an identifier quoted for a replication command, as libpq
 * quotes them for SQL.  The caller frees it.
 */
char *
conn_quote(PGconn *conn, const char *ident)
{
	char	   *q = PQescapeIdentifier(conn, ident, strlen(ident));
	char	   *r = pp_strdup(q ? q : "\"\"");

	PQfreemem(q);
	return r;
}

/*
 * conn_start_replication: the START_REPLICATION command of a pgoutput slot
 * at lsn (text), protocol version 1, for a publication: the slot quoted as
 * an identifier, the publication as one in the option's string (quotes
 * doubled).  The caller frees it.
 */
char *
conn_start_replication(PGconn *repl, const char *slot, const char *lsn, const char *publication)
{
	char	   *qslot = conn_quote(repl, slot);
	char	   *qpub = conn_quote(repl, publication);
	Buf			b;

	buf_init(&b);
	buf_appendf(&b, "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names '", qslot, lsn);
	for (const char *p = qpub; *p; p++)
	{
		if (*p == '\'')
			buf_append_str(&b, "''");
		else
			buf_append(&b, p, 1);
	}
	buf_append_str(&b, "')");
	free(qslot);
	free(qpub);
	return b.data;
}
