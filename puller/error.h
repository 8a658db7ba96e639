/*-------------------------------------------------------------------------
 *
 * puller/error.h
 *		pgpull: error values and frontend messages.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_ERROR_H
#define PGPULL_ERROR_H

#include <libpq-fe.h>

#include "common.h"

/* what an error means for the run */
typedef enum PPErrorKind
{
	PPERR_NONE = 0,
	PPERR_STREAM,				/* this stream failed; go on with the next */
	PPERR_DESTINATION,			/* destination unreachable: exit status 3 */
	PPERR_CONFIG,				/* usage or configuration: exit status 2 */
	PPERR_CONNECT,				/* a database connection failed: exit status 3 */
	PPERR_INTERRUPTED			/* SIGINT or SIGTERM */
} PPErrorKind;

/* an error on its way up: primary message, detail, hint, SQLSTATE */
typedef struct PPError
{
	PPErrorKind kind;
	char		sqlstate[6];	/* "" when not from a server */
	char	   *message;
	char	   *detail;
	char	   *hint;
} PPError;

extern void pp_error_init(PPError *e);
extern void pp_error_clear(PPError *e);
extern void pp_error_set(PPError *e, PPErrorKind kind, const char *fmt,...) PP_PRINTF(3, 4);
extern void pp_error_detail(PPError *e, const char *fmt,...) PP_PRINTF(2, 3);
extern void pp_error_hint(PPError *e, const char *fmt,...) PP_PRINTF(2, 3);
extern void pp_error_from_pg(PPError *e, PPErrorKind kind, PGconn *conn,
							 const PGresult *res, const char *context);
extern char *pp_error_text(const PPError *e);
extern void pp_error_report(const PPError *e);
extern void pp_error_report_more(const PPError *e);

/* frontend messages: "pgpull: error: ...", detail, hint */
extern void pp_log_error(const char *fmt,...) PP_PRINTF(1, 2);
extern void pp_log_warning(const char *fmt,...) PP_PRINTF(1, 2);
extern void pp_log_detail(const char *fmt,...) PP_PRINTF(1, 2);
extern void pp_log_hint(const char *fmt,...) PP_PRINTF(1, 2);
extern void pp_usage_error(const char *fmt,...) PP_PRINTF(1, 2);
extern void pp_bad_option(char **argv);

#endif							/* PGPULL_ERROR_H */
