/*-------------------------------------------------------------------------
 *
 * puller/commit.c
 *		pgpull: confirm the states a Singer target echoed.
 *
 * A Singer target prints, on its standard output, the value of the latest
 * STATE message it received once it has stored the records before it.
 * "pgpull commit-state FILE|-" reads those lines (what the target printed,
 * never pgpull's own messages: a STATE message is not a confirmation) and
 * hands each pgpull state of the integration to pgpull.commit_state, which
 * advances the bookmarks it names, never backwards.  Other lines (targets
 * may print more) are skipped, noted at DEBUG level.  The states of one
 * run carry every stream sent so far and only grow, so of consecutive
 * states of the same run only the last is applied.  "pgpull sync
 * --target-command" applies each line the moment the target prints it,
 * through commit_classify and commit_apply.
 *
 * A state of "pgpull sync --all-databases" spans the runs of several
 * databases, each with its own catalog: each database's part (its
 * bookmarks, named "<database>__<table>", without that prefix, and its
 * run) is applied to that database's catalog, on the server --source (or
 * --state) names with the database replaced (commit_apply_databases).  A
 * database that cannot be reached fails its part; the others are applied.
 *
 * The file is read before any connection is made: a file without a state
 * exits with status 2 without touching the catalog, a catalog that cannot
 * be reached with 3.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commit.h"
#include "conn.h"
#include "log.h"
#include "pgoutput.h"
#include "state.h"

/* a state to apply */
typedef struct PendingState
{
	char	   *line;
	size_t		len;
	int64_t		run_id;			/* -1 when the state names none */
	json_t	   *databases;		/* of --all-databases: database -> run_id */
	long		lineno;
} PendingState;

static int	exit_status_for_commit(const PPError *err);
static const char *owner(json_t *databases, const char *table);
static bool same_runs(const PendingState *earlier, int64_t run_id,
					  json_t *databases);

/*
 * commit_classify: what a line a Singer target printed is.  A pgpull state
 * is a JSON object with a "bookmarks" object and a "pgpull" object whose
 * version is 1; for one of the integration, *run_id gets its run_id (-1
 * when none).  For one of another integration, *other_integration gets a
 * copy of its name (the caller frees it).  A state of --all-databases
 * (its header names "databases") is ECHO_DATABASES; *databases, when not
 * NULL, gets them (the caller decrefs it).
 */
EchoKind
commit_classify(const char *line, size_t len, const char *integration,
				int64_t *run_id, char **other_integration, json_t **databases)
{
	json_error_t jerr;
	json_t	   *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t	   *header;
	json_t	   *name;
	json_t	   *run;
	EchoKind	kind;

	*run_id = -1;
	if (other_integration)
		*other_integration = NULL;
	if (databases)
		*databases = NULL;
	if (j == NULL || !json_is_object(j))
	{
		kind = j == NULL ? ECHO_NOT_JSON : ECHO_OTHER;
		json_decref(j);
		return kind;
	}
	header = json_object_get(j, "pgpull");
	name = json_object_get(header, "integration");
	if (!json_is_object(json_object_get(j, "bookmarks")) || !json_is_object(header) ||
		!json_is_integer(json_object_get(header, "version")) ||
		json_integer_value(json_object_get(header, "version")) != 1 ||
		!json_is_string(name))
		kind = ECHO_OTHER;
	else if (strcmp(json_string_value(name), integration) != 0)
	{
		kind = ECHO_FOREIGN;
		if (other_integration)
			*other_integration = pp_strdup(json_string_value(name));
	}
	else if (json_is_object(json_object_get(header, "databases")))
	{
		kind = ECHO_DATABASES;
		if (databases)
			*databases = json_incref(json_object_get(header, "databases"));
	}
	else
	{
		kind = ECHO_STATE;
		run = json_object_get(header, "run_id");
		if (json_is_integer(run) && json_integer_value(run) > 0)
			*run_id = (int64_t) json_integer_value(run);
	}
	json_decref(j);
	return kind;
}

/*
 * commit_apply: confirm a pgpull state (JSON text of len bytes) with
 * pgpull.commit_state, and print a run log line per bookmark it moved, a
 * WARNING per entry it rejected (DEBUG for the others), the stream named
 * as at the destination (with --all-databases, database is the catalog's,
 * which prefixes it; else NULL).  Adds to *counts what moved and what was
 * rejected.  Returns 0, or -1 with err set.
 */
int
commit_apply(PGconn *conn, const char *line, size_t len, const char *database,
			 CommitCounts *counts, PPError *err)
{
	CommitResult *results;
	int			n;

	if (state_commit(conn, line, len, &results, &n, err) != 0)
		return -1;
	for (int i = 0; i < n; i++)
	{
		char	   *name = database ?
			pp_psprintf("%s" DATABASE_SEPARATOR "%s", database, results[i].stream) :
			pp_strdup(results[i].stream);

		if (results[i].moved && results[i].detail &&
			strncmp(results[i].detail, "replication slot:", 17) == 0 && results[i].bookmark)
		{
			uint64_t	lsn;

			/* not a bookmark: the caller confirms the slot (logical.c) */
			if (pgo_parse_lsn(results[i].bookmark, &lsn) && lsn > counts->slot_lsn)
			{
				counts->slot_lsn = lsn;
				snprintf(counts->slot, sizeof(counts->slot), "%s", results[i].stream);
			}
			runlog_print("DEBUG", "the Singer target confirmed: %s", results[i].detail);
		}
		else if (results[i].moved)
		{
			counts->moved++;
			runlog_print_stream(name, "INFO", "the Singer target confirmed: %s",
								results[i].detail ? results[i].detail : "bookmark moved");
		}
		else if (results[i].detail && strncmp(results[i].detail, "rejected", 8) == 0)
		{
			counts->rejected++;
			runlog_print_stream(name, "WARNING", "nothing moved: %s", results[i].detail);
		}
		else
			runlog_print_stream(name, "DEBUG", "nothing moved: %s",
								results[i].detail ? results[i].detail : "nothing to confirm");
		free(name);
	}
	state_free_commit(results, n);
	return 0;
}

/*
 * owner: the database of a state of --all-databases whose destination
 * tables' prefix ("<database>__") starts table, or NULL.  Should two fit
 * (databases "a" and "a__b"), the longer name wins.
 */
static const char *
owner(json_t *databases, const char *table)
{
	const char *database;
	const char *found = NULL;
	json_t	   *run;
	size_t		sep = strlen(DATABASE_SEPARATOR);

	json_object_foreach(databases, database, run)
	{
		size_t		n = strlen(database);

		if (strncmp(table, database, n) == 0 &&
			strncmp(table + n, DATABASE_SEPARATOR, sep) == 0 &&
			(found == NULL || n > strlen(found)))
			found = database;
	}
	return found;
}

/*
 * commit_database_state: the part of a state of --all-databases (state,
 * parsed) that is one database's, as pgpull.commit_state takes it: the
 * header with the database's run, and its bookmarks without their prefix.
 * The caller frees it.  Not static only for the fuzz harness
 * (puller/fuzz/).
 */
char *
commit_database_state(json_t *state, const char *database, json_t *run)
{
	json_t	   *header = json_object_get(state, "pgpull");
	json_t	   *databases = json_object_get(header, "databases");
	json_t	   *part = json_object();
	json_t	   *part_header = json_object();
	json_t	   *bookmarks = json_object();
	const char *syncing = json_string_value(json_object_get(state, "currently_syncing"));
	const char *syncing_owner;
	size_t		prefix = strlen(database) + strlen(DATABASE_SEPARATOR);
	const char *table;
	json_t	   *entry;
	char	   *text;

	json_object_set(part_header, "version", json_object_get(header, "version"));
	json_object_set(part_header, "integration", json_object_get(header, "integration"));
	json_object_set(part_header, "run_id", run);
	json_object_foreach(json_object_get(state, "bookmarks"), table, entry)
	{
		const char *o = owner(databases, table);

		if (o != NULL && strcmp(o, database) == 0)
			json_object_set(bookmarks, table + prefix, entry);
	}
	json_object_set_new(part, "pgpull", part_header);
	if (syncing != NULL && (syncing_owner = owner(databases, syncing)) != NULL &&
		strcmp(syncing_owner, database) == 0)
		json_object_set_new(part, "currently_syncing", json_string(syncing + prefix));
	else
		json_object_set_new(part, "currently_syncing", json_null());
	json_object_set_new(part, "bookmarks", bookmarks);
	text = json_dumps(part, JSON_COMPACT);
	json_decref(part);
	if (text == NULL)
	{
		fprintf(stderr, "pgpull: error: out of memory\n");
		exit(EXIT_STREAM_FAILED);
	}
	return text;
}

/*
 * commit_apply_databases: confirm a state of --all-databases: each
 * database's part in its own catalog (dc), with commit_apply.  An error
 * in one database is reported, naming it, and the others go on.  Adds to
 * *counts what moved and what was rejected.  Returns the worst exit status
 * of the databases (EXIT_OK: every part applied).
 */
int
commit_apply_databases(DatabaseConns *dc, const char *line, size_t len,
					   CommitCounts *counts)
{
	json_error_t jerr;
	json_t	   *state = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t	   *databases = json_object_get(json_object_get(state, "pgpull"), "databases");
	const char *database;
	const char *table;
	json_t	   *value;
	int			status = EXIT_OK;
	PPError		err;

	pp_error_init(&err);
	json_object_foreach(json_object_get(state, "bookmarks"), table, value)
	{
		if (owner(databases, table) == NULL)
		{
			pp_log_error("the state names destination table \"%s\", of none of its databases", table);
			pp_log_hint("Pass a state a Singer target echoed after loading the messages of pgpull sync --all-databases, unchanged.");
			json_decref(state);
			return EXIT_USAGE;
		}
	}
	json_object_foreach(databases, database, value)
	{
		char	   *part = commit_database_state(state, database, value);
		PGconn	   *conn = dbconns_get(dc, database, &err);

		if (conn == NULL || commit_apply(conn, part, strlen(part), database, counts, &err) != 0)
		{
			int			rc = exit_status_for_commit(&err);

			databases_report(database, &err);
			if (rc > status)
				status = rc;
			pp_error_clear(&err);
		}
		free(part);
	}
	json_decref(state);
	return status;
}

/*
 * same_runs: whether a state (its run_id, or the databases of one of
 * --all-databases) comes from the same sync as an earlier one and holds
 * everything it did: the same run, or every run of the earlier one.
 */
static bool
same_runs(const PendingState *earlier, int64_t run_id, json_t *databases)
{
	const char *database;
	json_t	   *run;

	if ((earlier->databases == NULL) != (databases == NULL))
		return false;
	if (databases == NULL)
		return earlier->run_id == run_id;
	json_object_foreach(earlier->databases, database, run)
	{
		if (!json_equal(run, json_object_get(databases, database)))
			return false;
	}
	return true;
}

/*
 * exit_status_for_commit: 3 when the catalog could not be reached, 2 for a
 * state or a setup the catalog refuses, 1 for anything else.
 */
static int
exit_status_for_commit(const PPError *err)
{
	if (err->kind == PPERR_CONNECT)
		return EXIT_CONNECT;
	if (err->kind == PPERR_CONFIG ||
		strncmp(err->sqlstate, "22", 2) == 0 || strncmp(err->sqlstate, "42", 2) == 0)
		return EXIT_USAGE;
	return EXIT_STREAM_FAILED;
}

/*
 * confirm_slot: the states confirmed changes of the integration's
 * replication slot (counts->slot_lsn): confirm it over a replication
 * connection, which the role may open (it has REPLICATION; a SECURITY
 * DEFINER function owned by a role without it could not).  Returns 0, or
 * -1 with err set.
 */
static int
confirm_slot(const PullerOptions *o, PGconn *conn, const CommitCounts *counts, PPError *err)
{
	const char *values[1] = {o->integration};
	PGresult   *res = PQexecParams(conn, "SELECT pgpull.publication_name($1)", 1, NULL, values,
								   NULL, NULL, 0);
	PGconn	   *repl;
	char		text[32];
	int			rc = -1;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		pp_error_from_pg(err, PPERR_STREAM, conn, res, "could not confirm the replication slot");
		if (res)
			PQclear(res);
		return -1;
	}
	pgo_lsn_text(counts->slot_lsn, text);
	repl = conn_open(o->state ? o->state : o->source, CONN_REPLICATION, err);
	if (repl != NULL &&
		conn_confirm_slot(repl, counts->slot, PQgetvalue(res, 0, 0), counts->slot_lsn, err) == 0)
	{
		runlog_print("INFO", "replication slot %s confirmed to %s: the Singer target stored the changes up to it",
					 counts->slot, text);
		rc = 0;
	}
	else
		pp_error_hint(err, "The slot stays where it was: the next run sends those changes again.");
	PQclear(res);
	conn_close(repl, CONN_REPLICATION);
	return rc;
}

/*
 * commit_state_run: run "pgpull commit-state" with checked options.
 * Returns the exit status: 0 the states were applied (whether or not a
 * bookmark moved), 2 the file holds no pgpull state of the integration
 * (or cannot be read, or the catalog refuses a state), 3 the catalog could
 * not be reached, 1 another error.
 */
int
commit_state_run(PullerOptions *o)
{
	const char *label = strcmp(o->state_file, "-") == 0 ? "standard input" : o->state_file;
	FILE	   *f;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		lineno = 0;
	long		skipped = 0;
	PendingState *states = NULL;
	int			nstates = 0;
	int			capstates = 0;
	char	   *foreign = NULL;
	PGconn	   *conn = NULL;
	DatabaseConns dc;
	PPError		err;
	int			status = EXIT_OK;
	CommitCounts counts = {0};

	pp_error_init(&err);
	runlog_set_verbose(o->verbose);
	conn_setup_signals();

	f = strcmp(o->state_file, "-") == 0 ? stdin : fopen(o->state_file, "r");
	if (f == NULL)
	{
		pp_log_error("could not open state file \"%s\": %s", o->state_file, strerror(errno));
		return EXIT_USAGE;
	}
	dbconns_init(&dc, o->state ? o->state : o->source);
	while ((len = getline(&line, &cap, f)) >= 0)
	{
		int64_t		run_id;
		char	   *other = NULL;
		json_t	   *databases = NULL;
		EchoKind	kind;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		kind = commit_classify(line, (size_t) len, o->integration, &run_id, &other,
							   &databases);
		if (kind == ECHO_FOREIGN)
		{
			if (foreign == NULL)
				foreign = other;
			else
				free(other);
			skipped++;
			runlog_print("DEBUG", "line %ld of %s is a state of integration \"%s\": skipped",
						 lineno, label, foreign);
			continue;
		}
		if (kind != ECHO_STATE && kind != ECHO_DATABASES)
		{
			skipped++;
			runlog_print("DEBUG", "line %ld of %s is %s: skipped", lineno, label,
						 kind == ECHO_NOT_JSON ? "not JSON" : "not a pgpull state");
			continue;
		}
		/* a later state of the same run holds everything the earlier one did */
		if (nstates > 0 && same_runs(&states[nstates - 1], run_id, databases))
		{
			free(states[nstates - 1].line);
			json_decref(states[nstates - 1].databases);
			nstates--;
		}
		if (nstates == capstates)
		{
			capstates = capstates ? capstates * 2 : 8;
			states = pp_realloc(states, sizeof(PendingState) * (size_t) capstates);
		}
		states[nstates].line = pp_strndup(line, (size_t) len);
		states[nstates].len = (size_t) len;
		states[nstates].run_id = run_id;
		states[nstates].databases = databases;
		states[nstates].lineno = lineno;
		nstates++;
	}
	if (ferror(f))
	{
		pp_log_error("could not read state file \"%s\": %s", label, strerror(errno));
		status = EXIT_USAGE;
	}
	if (f != stdin)
		fclose(f);
	free(line);
	if (status != EXIT_OK)
		goto done;

	if (nstates == 0)
	{
		if (foreign != NULL)
		{
			pp_log_error("the states in %s are of integration \"%s\", not \"%s\"", label, foreign,
						 o->integration);
			pp_log_hint("Give the integration of the run that sent them with --integration.");
		}
		else
		{
			pp_log_error("no pgpull state in %s", label);
			pp_log_detail("%ld %s read, none of them a state value that pgpull sync sent.",
						  lineno, lineno == 1 ? "line" : "lines");
			pp_log_hint("Give commit-state what the Singer target printed on its standard output after loading the messages of pgpull sync --target -.");
		}
		status = EXIT_USAGE;
		goto done;
	}

	for (int i = 0; i < nstates; i++)
	{
		if (pp_interrupted)
		{
			pp_log_error("interrupted");
			status = EXIT_STREAM_FAILED;
			goto done;
		}
		if (states[i].databases != NULL)
		{
			int			rc = commit_apply_databases(&dc, states[i].line, states[i].len, &counts);

			if (rc != EXIT_OK)
				pp_log_detail("The state is line %ld of %s; its other databases were applied.",
							  states[i].lineno, label);
			if (rc > status)
				status = rc;
			continue;
		}
		if (conn == NULL)
		{
			conn = conn_open(o->state ? o->state : o->source, CONN_STATE, &err);
			if (conn == NULL || state_version(conn, "state", &err) != 0)
			{
				pp_error_report(&err);
				status = err.kind == PPERR_CONNECT ? EXIT_CONNECT : EXIT_USAGE;
				goto done;
			}
		}
		if (commit_apply(conn, states[i].line, states[i].len, NULL, &counts, &err) != 0)
		{
			pp_error_report(&err);
			pp_log_detail("The state is line %ld of %s; the states before it were applied.",
						  states[i].lineno, label);
			status = exit_status_for_commit(&err);
			goto done;
		}
	}
	/* log_based: the slot, to the changes the target stored */
	if (counts.slot_lsn > 0 && conn != NULL && confirm_slot(o, conn, &counts, &err) != 0)
	{
		pp_error_report(&err);
		pp_error_clear(&err);
		if (status == EXIT_OK)
			status = EXIT_STREAM_FAILED;
	}
	if (status != EXIT_OK)
		runlog_print("INFO", "%d %s of %s applied in the databases that could take them: %d %s moved",
					 nstates, nstates == 1 ? "state" : "states", label, counts.moved,
					 counts.moved == 1 ? "bookmark" : "bookmarks");
	else if (counts.moved == 0)
		runlog_print("INFO", "%d %s of %s applied: no bookmark moved, the catalog holds them already",
					 nstates, nstates == 1 ? "state" : "states", label);
	else
		runlog_print("INFO", "%d %s of %s applied: %d %s moved", nstates,
					 nstates == 1 ? "state" : "states", label, counts.moved,
					 counts.moved == 1 ? "bookmark" : "bookmarks");
	if (skipped > 0)
		runlog_print("INFO", "%ld other %s skipped", skipped, skipped == 1 ? "line" : "lines");
	if (counts.rejected > 0)
	{
		runlog("WARNING", "%d bookmark %s rejected: pgpull did not write %s for a run of this catalog, or %s changed",
			   counts.rejected, counts.rejected == 1 ? "entry was" : "entries were",
			   counts.rejected == 1 ? "it" : "them", counts.rejected == 1 ? "it was" : "they were");
		pp_log_hint("Pass the states the Singer target echoed, as it echoed them; a target may change whitespace and key order, not values.");
		if (status == EXIT_OK)
			status = EXIT_STREAM_FAILED;
	}

done:
	for (int i = 0; i < nstates; i++)
	{
		free(states[i].line);
		json_decref(states[i].databases);
	}
	free(states);
	free(foreign);
	pp_error_clear(&err);
	conn_close(conn, CONN_STATE);
	dbconns_free(&dc);
	return status;
}
