/*-------------------------------------------------------------------------
 *
 * puller/error.c
 *		pgpull: error values and frontend messages.
 *
 * An error travels up as a PPError: what it means for the run (its kind),
 * the primary message, detail, hint and, from a server, the SQLSTATE.
 * Errors that end the program before or outside a run are printed in the
 * frontend shape of PostgreSQL's own programs: "pgpull: error: ...", then
 * "pgpull: detail: ..." and "pgpull: hint: ...".  While a run is open,
 * errors go to the run log instead (log.c).
 *
 * Every line for stderr goes through pp_write_stderr, in one write, so
 * that a terminal's status line (progress.c) is cleared before it and
 * drawn again after it: a log line never lands in the middle of one.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

/* erase the line the cursor is on: to its start, then to its end */
#define ERASE_LINE	"\r\033[K"

static void vlog_line(const char *prefix, const char *fmt, va_list ap) PP_PRINTF(2, 0);
static void write_all(const char *data, size_t len);

/*
 * The status line on a terminal's stderr: its text (empty: none shown),
 * and whether lines are written with the line erased first (a process of
 * --jobs that draws none erases its parent's).  The sending thread logs
 * too, hence the lock.
 */
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static Buf	status_line;
static bool status_erase = false;

/*
 * pp_error_init: an empty error.
 */
void
pp_error_init(PPError *e)
{
	memset(e, 0, sizeof(*e));
}

/*
 * pp_error_clear: free the error's strings and make it empty again.
 */
void
pp_error_clear(PPError *e)
{
	free(e->message);
	free(e->detail);
	free(e->hint);
	pp_error_init(e);
}

/*
 * pp_error_set: replace the error with a new primary message of a kind;
 * detail and hint are cleared.
 */
void
pp_error_set(PPError *e, PPErrorKind kind, const char *fmt,...)
{
	va_list		ap;

	pp_error_clear(e);
	e->kind = kind;
	va_start(ap, fmt);
	e->message = pp_vpsprintf(fmt, ap);
	va_end(ap);
}

/*
 * pp_error_detail: set the detail (a complete sentence).
 */
void
pp_error_detail(PPError *e, const char *fmt,...)
{
	va_list		ap;

	free(e->detail);
	va_start(ap, fmt);
	e->detail = pp_vpsprintf(fmt, ap);
	va_end(ap);
}

/*
 * pp_error_hint: set the hint (a complete sentence).
 */
void
pp_error_hint(PPError *e, const char *fmt,...)
{
	va_list		ap;

	free(e->hint);
	va_start(ap, fmt);
	e->hint = pp_vpsprintf(fmt, ap);
	va_end(ap);
}

/*
 * pp_error_from_pg: fill the error from a failed result (primary, detail,
 * hint and SQLSTATE fields), or from the connection's message when there is
 * no result.  context, when not NULL, prefixes the primary message
 * ("context: message").  A broken connection makes the kind PPERR_CONNECT
 * whatever the caller asked for.
 */
void
pp_error_from_pg(PPError *e, PPErrorKind kind, PGconn *conn,
				 const PGresult *res, const char *context)
{
	const char *primary = NULL;
	const char *field;
	char	   *trimmed = NULL;

	pp_error_clear(e);
	if (res != NULL)
		primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (primary == NULL)
	{
		size_t		n;

		trimmed = pp_strdup(conn ? PQerrorMessage(conn) : "");
		n = strlen(trimmed);
		while (n > 0 && (trimmed[n - 1] == '\n' || trimmed[n - 1] == ' '))
			trimmed[--n] = '\0';
		if (n == 0)
		{
			free(trimmed);
			trimmed = pp_strdup("unexpected result from the server");
		}
		primary = trimmed;
	}
	if (context)
		e->message = pp_psprintf("%s: %s", context, primary);
	else
		e->message = pp_strdup(primary);
	free(trimmed);
	if (res != NULL)
	{
		field = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		if (field)
			e->detail = pp_strdup(field);
		field = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
		if (field)
			e->hint = pp_strdup(field);
		field = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (field)
			snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", field);
	}
	e->kind = kind;
	if (conn && PQstatus(conn) == CONNECTION_BAD)
		e->kind = PPERR_CONNECT;
}

/*
 * pp_error_text: the error as one string for the catalog: the message,
 * then "Detail: ..." and "Hint: ..." when present.  The caller frees it.
 */
char *
pp_error_text(const PPError *e)
{
	Buf			b;

	buf_init(&b);
	buf_append_str(&b, e->message ? e->message : "unknown error");
	if (e->detail)
		buf_appendf(&b, "  Detail: %s", e->detail);
	if (e->hint)
		buf_appendf(&b, "  Hint: %s", e->hint);
	return b.data;
}

/*
 * pp_error_report: print the error in the frontend shape.
 */
void
pp_error_report(const PPError *e)
{
	pp_log_error("%s", e->message ? e->message : "unknown error");
	pp_error_report_more(e);
}

/*
 * pp_error_report_more: the error's detail and hint on stderr, each line
 * of a detail of several lines with "pgpull: detail:".
 */
void
pp_error_report_more(const PPError *e)
{
	for (const char *d = e->detail, *nl; d != NULL; d = nl ? nl + 1 : NULL)
	{
		nl = strchr(d, '\n');
		pp_log_detail("%.*s", (int) (nl ? nl - d : (long) strlen(d)), d);
	}
	if (e->hint)
		pp_log_hint("%s", e->hint);
}

/*
 * write_all: write data to stderr, as much as it takes; an error leaves
 * nowhere to say it.
 */
static void
write_all(const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(STDERR_FILENO, data, len);

		if (n <= 0)
			return;
		data += n;
		len -= (size_t) n;
	}
}

/*
 * pp_status_erase: from now on (erase true), every line written with
 * pp_write_stderr erases the terminal's line first: stderr is a terminal
 * where a status line may be shown.
 */
void
pp_status_erase(bool erase)
{
	pthread_mutex_lock(&status_lock);
	status_erase = erase;
	pthread_mutex_unlock(&status_lock);
}

/*
 * pp_status_set: show line (one line, no line ending, narrower than the
 * terminal) as the status line, in place of the one shown; NULL or ""
 * erases it; final: write it as a line of its own, which stays, and show
 * none.  For a terminal only (pp_status_erase).
 */
void
pp_status_set(const char *line, bool final)
{
	Buf			out;

	buf_init(&out);
	pthread_mutex_lock(&status_lock);
	buf_reset(&status_line);
	buf_append_str(&out, ERASE_LINE);
	if (line != NULL && line[0] != '\0')
	{
		buf_append_str(&out, line);
		if (final)
			buf_append_str(&out, "\n");
		else
			buf_append_str(&status_line, line);
	}
	write_all(out.data, out.len);
	pthread_mutex_unlock(&status_lock);
	buf_free(&out);
}

/*
 * pp_write_stderr: write len bytes of whole lines to stderr in one write,
 * with the status line erased before them and drawn again after them.
 */
void
pp_write_stderr(const char *data, size_t len)
{
	Buf			out;

	fflush(stderr);
	pthread_mutex_lock(&status_lock);
	if (!status_erase)
	{
		write_all(data, len);
		pthread_mutex_unlock(&status_lock);
		return;
	}
	buf_init(&out);
	buf_append_str(&out, ERASE_LINE);
	buf_append(&out, data, len);
	if (status_line.len > 0)
		buf_append(&out, status_line.data, status_line.len);
	write_all(out.data, out.len);
	pthread_mutex_unlock(&status_lock);
	buf_free(&out);
}

/*
 * vlog_line: print "pgpull: PREFIX: message" on stderr.
 */
static void
vlog_line(const char *prefix, const char *fmt, va_list ap)
{
	char	   *msg = pp_vpsprintf(fmt, ap);
	Buf			line;

	buf_init(&line);
	buf_appendf(&line, "pgpull: %s: %s\n", prefix, msg);
	pp_write_stderr(line.data, line.len);
	buf_free(&line);
	free(msg);
}

/*
 * pp_log_error: "pgpull: error: ..." on stderr.
 */
void
pp_log_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog_line("error", fmt, ap);
	va_end(ap);
}

/*
 * pp_log_warning: "pgpull: warning: ..." on stderr.
 */
void
pp_log_warning(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog_line("warning", fmt, ap);
	va_end(ap);
}

/*
 * pp_log_detail: "pgpull: detail: ..." on stderr.
 */
void
pp_log_detail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog_line("detail", fmt, ap);
	va_end(ap);
}

/*
 * pp_log_hint: "pgpull: hint: ..." on stderr.
 */
void
pp_log_hint(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog_line("hint", fmt, ap);
	va_end(ap);
}

/*
 * pp_usage_error: a usage error, followed by the line pointing at --help.
 * The caller exits with EXIT_USAGE.
 */
void
pp_usage_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vlog_line("error", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try \"pgpull --help\" for more information.\n");
}

/*
 * pp_bad_option: report the option getopt_long just refused ('?' with
 * opterr off) as a usage error.  The caller has optind and optopt from
 * that call.
 */
void
pp_bad_option(char **argv)
{
	if (optopt != 0)
		pp_usage_error("invalid option \"-%c\"", optopt);
	else
		pp_usage_error("unrecognized option \"%s\"", argv[optind - 1]);
}
