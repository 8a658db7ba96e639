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
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void vlog_line(const char *prefix, const char *fmt, va_list ap) PP_PRINTF(2, 0);

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
 * vlog_line: print "pgpull: PREFIX: message" on stderr.
 */
static void
vlog_line(const char *prefix, const char *fmt, va_list ap)
{
	char	   *msg = pp_vpsprintf(fmt, ap);

	fprintf(stderr, "pgpull: %s: %s\n", prefix, msg);
	fflush(stderr);
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
