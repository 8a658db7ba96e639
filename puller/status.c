/*-------------------------------------------------------------------------
 *
 * puller/status.c
 *		pgpull: "pgpull status", the health of the integrations, for people
 *		and for monitoring.
 *
 * The extension does the work (extension/src/85_status.sql): pgpull.status
 * gives the streams of the integrations the role may run (method,
 * bookmark, last run, its outcome, rows loaded in 24 hours, next action),
 * and pgpull.status_attention what needs attention: a stream whose last
 * run failed, a tracked relation that was dropped, the privilege audit's
 * failures and the standby checks.  With --state, the catalog is read
 * there and the standby checks (pgpull.status_standby) run on --source,
 * the server rows are read from; without it, everything is read from
 * --source, which may be a read replica (nothing is written).
 *
 * The output goes to standard output: an aligned table, then one line per
 * item (with its fix on the next line), then a summary; or, with
 * --format json, one JSON document.  The exit status is 1 when an item
 * needs attention, 0 when none does (warnings do not count), 2 for a
 * usage or configuration error (among them a role that may not run the
 * integration named), 3 when a database cannot be reached.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conn.h"
#include "source.h"
#include "state.h"
#include "status.h"

#define PQCLEAR(r) \
	do { if (r) PQclear(r); (r) = NULL; } while (0)

/* the columns of pgpull.status, in its order */
#define STREAM_QUERY \
	"SELECT integration, stream_id, relation, destination_table, method, bookmark," \
	" last_run_id, last_run_at, last_status, last_error, rows_loaded_24h," \
	" next_action, historical_pending, relation_dropped" \
	" FROM pgpull.status($1)"
enum
{
	COL_INTEGRATION,
	COL_STREAM_ID,
	COL_RELATION,
	COL_DESTINATION_TABLE,
	COL_METHOD,
	COL_BOOKMARK,
	COL_LAST_RUN_ID,
	COL_LAST_RUN_AT,
	COL_LAST_STATUS,
	COL_LAST_ERROR,
	COL_ROWS_24H,
	COL_NEXT_ACTION,
	COL_HISTORICAL_PENDING,
	COL_RELATION_DROPPED
};

/* the columns of the human table, and their headings */
#define TABLE_COLUMNS	8
static const int table_column[TABLE_COLUMNS] = {
	COL_INTEGRATION, COL_RELATION, COL_METHOD, COL_BOOKMARK, COL_LAST_RUN_AT,
	COL_LAST_STATUS, COL_ROWS_24H, COL_NEXT_ACTION
};
static const char *const table_heading[TABLE_COLUMNS] = {
	"INTEGRATION", "RELATION", "METHOD", "BOOKMARK", "LAST RUN", "STATUS",
	"ROWS 24H", "NEXT ACTION"
};

#define ITEM_COLUMNS	"kind, subject, message, fix, attention"

/* an item of pgpull.status_attention or pgpull.status_standby */
typedef struct StatusItem
{
	const char *kind;
	const char *subject;
	const char *message;
	const char *fix;			/* NULL when there is none */
	bool		attention;		/* false: a warning */
} StatusItem;

static PGresult *query(PGconn *conn, const char *sql, const char *integration,
					   PPError *err);
static void add_items(const PGresult *res, StatusItem **items, int *n);
static char *utc_time(const char *value, bool json);
static int	display_width(const char *s);
static char *cell(const PGresult *res, int row, int col);
static void print_table(const PGresult *streams, const StatusItem *items, int n);
static int	print_json(const PGresult *streams, const StatusItem *items, int n);

/*
 * query: run sql with integration (NULL for every one) as its one
 * parameter.  Returns the result, or NULL with err set (PPERR_CONNECT when
 * the connection broke, PPERR_CONFIG otherwise).
 */
static PGresult *
query(PGconn *conn, const char *sql, const char *integration, PPError *err)
{
	const char *values[1] = {integration};
	PGresult   *res = PQexecParams(conn, sql, 1, NULL, values, NULL, NULL, 0);

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		pp_error_from_pg(err, PQstatus(conn) == CONNECTION_BAD ? PPERR_CONNECT : PPERR_CONFIG,
						 conn, res, NULL);
		PQCLEAR(res);
		return NULL;
	}
	return res;
}

/*
 * add_items: append the rows of res (ITEM_COLUMNS) to *items, which grows;
 * they point into res, which must outlive them.
 */
static void
add_items(const PGresult *res, StatusItem **items, int *n)
{
	int			rows = PQntuples(res);

	*items = pp_realloc(*items, sizeof(StatusItem) * (size_t) (*n + rows + 1));
	for (int i = 0; i < rows; i++)
	{
		StatusItem *it = &(*items)[(*n)++];

		it->kind = PQgetvalue(res, i, 0);
		it->subject = PQgetvalue(res, i, 1);
		it->message = PQgetvalue(res, i, 2);
		it->fix = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
		it->attention = strcmp(PQgetvalue(res, i, 4), "t") == 0;
	}
}

/*
 * utc_time: a timestamptz as the server wrote it in UTC
 * ("2026-12-03 08:01:02.123456+00") in RFC 3339 for JSON
 * ("2026-12-03T08:01:02.123456Z"), or to the second for the table
 * ("2026-12-03 08:01:02Z").  Anything else comes back as it is.  The
 * caller frees it.
 */
static char *
utc_time(const char *value, bool json)
{
	size_t		n = strlen(value);
	char	   *s;

	if (n < 22 || value[10] != ' ' || strcmp(value + n - 3, "+00") != 0)
		return pp_strdup(value);
	n = json ? n - 3 : 19;
	s = pp_malloc(n + 2);
	memcpy(s, value, n);
	if (json)
		s[10] = 'T';
	s[n] = 'Z';
	s[n + 1] = '\0';
	return s;
}

/*
 * display_width: the characters of a UTF-8 string (its bytes that do not
 * continue a character), which is what a terminal shows of most text.
 */
static int
display_width(const char *s)
{
	int			w = 0;

	for (; *s; s++)
		if (((unsigned char) *s & 0xC0) != 0x80)
			w++;
	return w;
}

/*
 * cell: the text the table shows for a column of a stream: "-" for NULL,
 * the last run's time to the second.  The caller frees it.
 */
static char *
cell(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return pp_strdup("-");
	if (col == COL_LAST_RUN_AT)
		return utc_time(PQgetvalue(res, row, col), false);
	return pp_strdup(PQgetvalue(res, row, col));
}

/*
 * print_table: the streams as an aligned table (ROWS 24H aligned right),
 * then each item on a line of its own ("attention: " or "warning: ", its
 * kind, subject and message) with its fix on the next, then a summary.
 */
static void
print_table(const PGresult *streams, const StatusItem *items, int n)
{
	int			rows = PQntuples(streams);
	int			width[TABLE_COLUMNS];
	int			attention = 0;

	for (int c = 0; c < TABLE_COLUMNS; c++)
	{
		width[c] = display_width(table_heading[c]);
		for (int r = 0; r < rows; r++)
		{
			char	   *text = cell(streams, r, table_column[c]);
			int			w = display_width(text);

			if (w > width[c])
				width[c] = w;
			free(text);
		}
	}
	for (int r = -1; r < rows; r++)
	{
		for (int c = 0; c < TABLE_COLUMNS; c++)
		{
			char	   *text = r < 0 ? pp_strdup(table_heading[c]) :
				cell(streams, r, table_column[c]);
			int			pad = width[c] - display_width(text);

			if (table_column[c] == COL_ROWS_24H)
				printf("%*s%s", pad, "", text);
			else if (c == TABLE_COLUMNS - 1)
				printf("%s", text);
			else
				printf("%s%*s", text, pad, "");
			printf("%s", c == TABLE_COLUMNS - 1 ? "\n" : "  ");
			free(text);
		}
	}
	if (rows == 0)
		printf("(no stream is tracked in the integrations this role may run)\n");
	if (n > 0)
		printf("\n");
	for (int i = 0; i < n; i++)
	{
		printf("%s: %s %s: %s\n", items[i].attention ? "attention" : "warning",
			   items[i].kind, items[i].subject, items[i].message);
		if (items[i].fix != NULL)
			printf("  fix: %s\n", items[i].fix);
		if (items[i].attention)
			attention++;
	}
	printf("\n%d %s; ", rows, pp_plural(rows, "stream", "streams"));
	if (attention == 0)
		printf("nothing needs attention");
	else
		printf("%d %s attention", attention, pp_plural(attention, "item needs", "items need"));
	if (n > attention)
		printf("; %d %s", n - attention, pp_plural(n - attention, "warning", "warnings"));
	printf("\n");
}

/*
 * print_json: one JSON document: {"streams": [...], "attention": [...],
 * "warnings": [...]}, each stream with the columns of pgpull.status (times
 * in RFC 3339, counts as numbers, NULL as null), each item with its kind,
 * subject, message and fix.  Returns 0, or -1 when it could not be made.
 */
static int
print_json(const PGresult *streams, const StatusItem *items, int n)
{
	json_t	   *doc = json_object();
	json_t	   *list = json_array();
	json_t	   *attention = json_array();
	json_t	   *warnings = json_array();
	char	   *text;

	for (int r = 0; r < PQntuples(streams); r++)
	{
		json_t	   *s = json_object();

		for (int c = 0; c < PQnfields(streams); c++)
		{
			const char *v = PQgetvalue(streams, r, c);
			json_t	   *j;

			if (PQgetisnull(streams, r, c))
				j = json_null();
			else if (c == COL_ROWS_24H || c == COL_STREAM_ID || c == COL_LAST_RUN_ID)
				j = json_integer((json_int_t) strtoll(v, NULL, 10));
			else if (c == COL_HISTORICAL_PENDING || c == COL_RELATION_DROPPED)
				j = json_boolean(strcmp(v, "t") == 0);
			else if (c == COL_LAST_RUN_AT)
			{
				char	   *t = utc_time(v, true);

				j = json_string(t);
				free(t);
			}
			else
				j = json_string(v);
			json_object_set_new(s, PQfname(streams, c), j);
		}
		json_array_append_new(list, s);
	}
	for (int i = 0; i < n; i++)
	{
		json_t	   *it = json_object();

		json_object_set_new(it, "kind", json_string(items[i].kind));
		json_object_set_new(it, "subject", json_string(items[i].subject));
		json_object_set_new(it, "message", json_string(items[i].message));
		json_object_set_new(it, "fix", items[i].fix ? json_string(items[i].fix) : json_null());
		json_array_append_new(items[i].attention ? attention : warnings, it);
	}
	json_object_set_new(doc, "streams", list);
	json_object_set_new(doc, "attention", attention);
	json_object_set_new(doc, "warnings", warnings);
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	if (text == NULL)
	{
		pp_log_error("could not write the status as JSON: out of memory");
		return -1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

/*
 * status_run: run "pgpull status" with checked options.  Returns the exit
 * status: 0 nothing needs attention, 1 something does, 2 a usage or
 * configuration error, 3 a database could not be reached.
 */
int
status_run(const PullerOptions *o)
{
	PGconn	   *state = NULL;
	PGconn	   *source = NULL;
	PGresult   *streams = NULL;
	PGresult   *found = NULL;
	PGresult   *standby = NULL;
	StatusItem *items = NULL;
	int			n = 0;
	PPError		err;
	int			status = EXIT_USAGE;

	pp_error_init(&err);
	conn_setup_signals();
	if (o->state != NULL)
	{
		if (conn_open_both(o->state, o->source, &state, &source, &err) != 0 ||
			state_version(state, "state", &err) != 0 ||
			state_version(source, "source", &err) != 0 ||
			source_same_database(source, state, &err) != 0)
			goto done;
	}
	else if ((source = conn_open(o->source, CONN_SOURCE, &err)) == NULL ||
			 state_version(source, "source", &err) != 0)
		goto done;

	/* the catalog's part from the state, the standby checks from the source */
	if ((streams = query(state ? state : source, STREAM_QUERY, o->integration, &err)) == NULL)
		goto done;
	if (state != NULL)
	{
		if ((found = query(state, "SELECT " ITEM_COLUMNS " FROM pgpull.status_attention($1)"
						   " WHERE kind <> 'standby'", o->integration, &err)) == NULL ||
			(standby = query(source, "SELECT " ITEM_COLUMNS " FROM pgpull.status_standby($1)",
							 o->integration, &err)) == NULL)
			goto done;
	}
	else if ((found = query(source, "SELECT " ITEM_COLUMNS " FROM pgpull.status_attention($1)",
							o->integration, &err)) == NULL)
		goto done;
	add_items(found, &items, &n);
	if (standby != NULL)
		add_items(standby, &items, &n);

	if (!o->format_json)
		print_table(streams, items, n);
	else if (print_json(streams, items, n) != 0)
		goto done;
	status = EXIT_OK;
	for (int i = 0; i < n; i++)
		if (items[i].attention)
			status = EXIT_STREAM_FAILED;

done:
	if (err.kind != PPERR_NONE)
	{
		pp_error_report(&err);
		status = err.kind == PPERR_CONNECT ? EXIT_CONNECT : EXIT_USAGE;
	}
	fflush(stdout);
	free(items);
	PQCLEAR(streams);
	PQCLEAR(found);
	PQCLEAR(standby);
	conn_close(source, CONN_SOURCE);
	conn_close(state, CONN_STATE);
	pp_error_clear(&err);
	return status;
}
