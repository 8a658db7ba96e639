/*-------------------------------------------------------------------------
 *
 * puller/discover.c
 *		pgpull: list what could be replicated ("pgpull discover").
 *
 * "pgpull discover --source CONNINFO [--schema S]... [--format
 * table|json]" prints what pgpull.discover() answers on the source
 * database, as the role the connection logs in as sees it: every table,
 * partitioned table, view, materialized view and foreign table it can see,
 * with kind, estimated rows, primary key, candidate replication keys, the
 * columns it cannot read or the type mapping cannot map, and the streams
 * that track it.  The extension does the work; the program only fetches
 * one JSON array and prints it, as a table of aligned columns (the
 * default) or as JSON (--format json).  It writes nothing, so it may run
 * against a read replica.
 *
 * Names are printed as the database spells them, but a control character
 * in one (a newline, or an escape sequence a terminal would obey) becomes
 * "?" in the table; JSON escapes them.
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
#include "discover.h"
#include "state.h"

/* the columns of the table, in order */
enum
{
	COL_RELATION,
	COL_KIND,
	COL_ROWS,
	COL_PRIMARY_KEY,
	COL_REPLICATION_KEYS,
	COL_LEFT_OUT,
	COL_TRACKED,
	NCOLUMNS
};

static const char *const column_titles[NCOLUMNS] = {
	"RELATION", "KIND", "ROWS", "PRIMARY KEY", "REPLICATION KEYS",
	"COLUMNS LEFT OUT", "TRACKED"
};

static char *schemas_literal(const PullerOptions *o);
static json_t *fetch(PGconn *conn, const PullerOptions *o, PPError *err);
static void append_text(Buf *b, const char *s);
static void append_names(Buf *b, json_t *names, const char *suffix);
static char *relation_cell(json_t *rel, int col);
static size_t display_width(const char *s);
static int	print_table(json_t *relations);
static int	print_json(json_t *relations);

/*
 * schemas_literal: the --schema values as a name[] literal, each element
 * quoted; NULL when none was given (every schema).  The caller frees it.
 */
static char *
schemas_literal(const PullerOptions *o)
{
	Buf			b;

	if (o->nschemas == 0)
		return NULL;
	buf_init(&b);
	buf_append_str(&b, "{");
	for (int i = 0; i < o->nschemas; i++)
	{
		buf_append_str(&b, i > 0 ? ",\"" : "\"");
		for (const char *p = o->schemas[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				buf_append_str(&b, "\\");
			buf_append(&b, p, 1);
		}
		buf_append_str(&b, "\"");
	}
	buf_append_str(&b, "}");
	return b.data;
}

/*
 * fetch: pgpull.discover()'s rows as a JSON array of objects, one per
 * relation, in schema and name order.  Returns NULL with err set: kind
 * PPERR_CONFIG for what the user can fix (an unknown schema, a role
 * without EXECUTE), PPERR_CONNECT when the connection broke.
 */
static json_t *
fetch(PGconn *conn, const PullerOptions *o, PPError *err)
{
	char	   *schemas = schemas_literal(o);
	const char *values[1] = {schemas};
	PGresult   *res;
	json_t	   *relations = NULL;
	json_error_t jerr;

	res = PQexecParams(conn,
					   "SELECT COALESCE(pg_catalog.json_agg(d ORDER BY d.schema_name, d.relation_name),"
					   " '[]')"
					   " FROM pgpull.discover($1::pg_catalog.name[]) d",
					   1, NULL, values, NULL, NULL, 0);
	free(schemas);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		bool		fixable = sqlstate != NULL &&
			(strcmp(sqlstate, "3F000") == 0 || strcmp(sqlstate, "42501") == 0);

		pp_error_from_pg(err, fixable ? PPERR_CONFIG : PPERR_STREAM, conn, res,
						 "could not list the relations");
		if (sqlstate && strcmp(sqlstate, "42501") == 0 && err->hint == NULL)
			pp_error_hint(err, "Run the statements of pgpull.grant_script() for this role: they grant EXECUTE on pgpull.discover().");
		PQclear(res);
		return NULL;
	}
	relations = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	PQclear(res);
	if (relations == NULL || !json_is_array(relations))
	{
		pp_error_set(err, PPERR_STREAM, "could not read the relations pgpull.discover() listed: %s",
					 relations ? "not a JSON array" : jerr.text);
		json_decref(relations);
		return NULL;
	}
	return relations;
}

/*
 * append_text: append a name for the table, each control character
 * replaced by "?".
 */
static void
append_text(Buf *b, const char *s)
{
	for (const char *p = s; *p; p++)
		buf_append(b, ((unsigned char) *p < 0x20 || *p == 0x7f) ? "?" : p, 1);
}

/*
 * append_names: append the strings of a JSON array, each followed by
 * suffix, separated by ", ".
 */
static void
append_names(Buf *b, json_t *names, const char *suffix)
{
	size_t		i;
	json_t	   *name;

	json_array_foreach(names, i, name)
	{
		if (b->len > 0)
			buf_append_str(b, ", ");
		append_text(b, json_is_string(name) ? json_string_value(name) : "?");
		buf_append_str(b, suffix);
	}
}

/*
 * relation_cell: the text of one column of the table for a relation ("-"
 * for nothing or unknown).  The caller frees it.
 */
static char *
relation_cell(json_t *rel, int col)
{
	Buf			b;
	json_t	   *v;
	size_t		i;
	json_t	   *stream;

	buf_init(&b);
	switch (col)
	{
		case COL_RELATION:
			append_text(&b, json_string_value(json_object_get(rel, "relation")));
			break;
		case COL_KIND:
			append_text(&b, json_string_value(json_object_get(rel, "kind")));
			break;
		case COL_ROWS:
			v = json_object_get(rel, "estimated_rows");
			if (json_is_integer(v))
				buf_appendf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			break;
		case COL_PRIMARY_KEY:
			append_names(&b, json_object_get(rel, "primary_key"), "");
			break;
		case COL_REPLICATION_KEYS:
			append_names(&b, json_object_get(rel, "replication_keys"), "");
			break;
		case COL_LEFT_OUT:
			append_names(&b, json_object_get(rel, "unreadable_columns"), " (no SELECT)");
			append_names(&b, json_object_get(rel, "unsupported_columns"), " (unmappable type)");
			break;
		case COL_TRACKED:
			json_array_foreach(json_object_get(rel, "tracked"), i, stream)
			{
				const char *key = json_string_value(json_object_get(stream, "replication_key"));

				if (b.len > 0)
					buf_append_str(&b, "; ");
				append_text(&b, json_string_value(json_object_get(stream, "integration")));
				buf_append_str(&b, ": ");
				append_text(&b, json_string_value(json_object_get(stream, "method")));
				if (key != NULL)
				{
					buf_append_str(&b, " (");
					append_text(&b, key);
					buf_append_str(&b, ")");
				}
			}
			break;
	}
	if (b.len == 0)
		buf_append_str(&b, "-");
	return b.data;
}

/*
 * display_width: the columns a UTF-8 string takes on a terminal, counted
 * as one per character.
 */
static size_t
display_width(const char *s)
{
	size_t		n = 0;

	for (const char *p = s; *p; p++)
		if (((unsigned char) *p & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * print_table: the relations as a table of aligned columns under a line of
 * titles, then "(N relations)".  Returns the exit status.
 */
static int
print_table(json_t *relations)
{
	size_t		nrel = json_array_size(relations);
	char	  **cells = pp_malloc(sizeof(char *) * (nrel + 1) * NCOLUMNS);
	size_t		width[NCOLUMNS];

	for (int c = 0; c < NCOLUMNS; c++)
	{
		cells[c] = pp_strdup(column_titles[c]);
		width[c] = display_width(cells[c]);
	}
	for (size_t r = 0; r < nrel; r++)
	{
		for (int c = 0; c < NCOLUMNS; c++)
		{
			char	   *cell = relation_cell(json_array_get(relations, r), c);
			size_t		w = display_width(cell);

			cells[(r + 1) * NCOLUMNS + c] = cell;
			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r <= nrel; r++)
	{
		for (int c = 0; c < NCOLUMNS; c++)
		{
			const char *cell = cells[r * NCOLUMNS + c];
			int			pad = (int) (width[c] - display_width(cell));

			if (c > 0)
				fputs("  ", stdout);
			if (c == COL_ROWS && r > 0)
				printf("%*s%s", pad, "", cell);		/* numbers to the right */
			else if (c == NCOLUMNS - 1)
				fputs(cell, stdout);
			else
				printf("%s%*s", cell, pad, "");
			free(cells[r * NCOLUMNS + c]);
		}
		putchar('\n');
	}
	free(cells);
	printf("(%zu %s)\n", nrel, pp_plural((int64_t) nrel, "relation", "relations"));
	return EXIT_OK;
}

/*
 * print_json: the relations as a JSON array of objects, the columns of
 * pgpull.discover() as keys, indented.  Returns the exit status.
 */
static int
print_json(json_t *relations)
{
	if (json_dumpf(relations, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
	{
		pp_log_error("could not write the relations: out of memory");
		return EXIT_STREAM_FAILED;
	}
	putchar('\n');
	return EXIT_OK;
}

/*
 * discover_run: run "pgpull discover" with checked options.  Returns the
 * exit status: 0 listed, 2 the extension is missing or of another version,
 * the role may not call it, or a --schema does not exist, 3 the source
 * could not be reached, 1 another error.
 */
int
discover_run(const PullerOptions *o)
{
	PGconn	   *conn;
	PPError		err;
	json_t	   *relations = NULL;
	int			status;

	pp_error_init(&err);
	conn = conn_open(o->source, CONN_SOURCE, &err);
	if (conn != NULL && state_version(conn, "source", &err) == 0)
		relations = fetch(conn, o, &err);
	conn_close(conn, CONN_SOURCE);
	if (relations == NULL)
	{
		pp_error_report(&err);
		status = err.kind == PPERR_CONFIG ? EXIT_USAGE :
			err.kind == PPERR_CONNECT ? EXIT_CONNECT : EXIT_STREAM_FAILED;
		pp_error_clear(&err);
		return status;
	}
	status = o->format_json ? print_json(relations) : print_table(relations);
	json_decref(relations);
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		pp_log_error("could not write to standard output");
		status = EXIT_STREAM_FAILED;
	}
	return status;
}
