/*-------------------------------------------------------------------------
 *
 * puller/fuzz/fuzz_echo.c
 *		pgpull: libFuzzer harness of what a Singer target echoes: its
 *		lines (target.c) and the states in them (commit.c).
 *
 * The input is a cut header and what a --target-command target prints
 * (see pieces.h): it goes to target_echo_data in reads that end at the
 * cuts, then its end, as read_echo sees them.  Each line delivered goes to
 * commit_classify, as pgpull sync's and commit-state's echo handling do;
 * a state of --all-databases is split into each database's part with
 * commit_database_state, which must come out a state of the integration
 * that commit_classify takes.  Talking to the catalog (commit_apply) is
 * left out: the database checks the state there.  The lines delivered
 * must be the same whatever the reads, whole or a byte at a time.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "pieces.h"
#include "target.h"

/* the integration the seeds' states are of */
#define INTEGRATION		"demo"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parts(const char *line, size_t len);
static void on_line(void *arg, const char *line, size_t len);
static void read_output(const FuzzInput *in, FuzzSplit split,
						FuzzOutcome *out);

/*
 * check_parts: split a state of --all-databases into its databases' parts,
 * each of which must be a state of the integration.
 */
static void
check_parts(const char *line, size_t len)
{
	json_error_t jerr;
	json_t	   *state = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t	   *header = json_object_get(state, "pgpull");
	json_t	   *databases = json_object_get(header, "databases");
	const char *database;
	json_t	   *run;

	if (state == NULL)
		abort();				/* commit_classify parsed it */
	json_object_foreach(databases, database, run)
	{
		char	   *part = commit_database_state(state, database, run);
		int64_t		run_id;
		char	   *other;

		if (commit_classify(part, strlen(part), INTEGRATION, &run_id, &other,
							NULL) != ECHO_STATE)
		{
			fprintf(stderr, "fuzz_echo: the part of database \"%s\" is not a state: %s\n",
					database, part);
			abort();
		}
		free(part);
	}
	json_decref(state);
}

/*
 * on_line: the echo callback: classify the line as pgpull does, and sum it
 * up in the outcome (arg).
 */
static void
on_line(void *arg, const char *line, size_t len)
{
	FuzzOutcome *out = arg;
	int64_t		run_id;
	char	   *other;
	json_t	   *databases;
	EchoKind	kind;

	/* a line is whole, without its line ending, terminated */
	if (memchr(line, '\n', len) != NULL || line[len] != '\0')
		abort();
	kind = commit_classify(line, len, INTEGRATION, &run_id, &other, &databases);
	if ((kind == ECHO_FOREIGN) != (other != NULL) ||
		(kind == ECHO_DATABASES) != (databases != NULL) ||
		(kind != ECHO_STATE && run_id != -1) || run_id == 0 || run_id < -1)
		abort();
	if (kind == ECHO_FOREIGN && strcmp(other, INTEGRATION) == 0)
		abort();
	if (kind == ECHO_DATABASES)
		check_parts(line, len);
	free(other);
	json_decref(databases);

	out->items++;
	out->hash = fuzz_hash(out->hash, &len, sizeof(len));
	out->hash = fuzz_hash(out->hash, line, len);
	out->hash = fuzz_hash(out->hash, &kind, sizeof(kind));
	out->hash = fuzz_hash(out->hash, &run_id, sizeof(run_id));
}

/*
 * read_output: hand in's payload to a target's echo handling in reads cut
 * as split says, then its end.
 */
static void
read_output(const FuzzInput *in, FuzzSplit split, FuzzOutcome *out)
{
	Target		t;
	size_t		pos = 0;
	size_t		len = 0;

	target_init_stdout(&t);
	t.fd = -1;
	t.on_echo = on_line;
	t.echo_arg = out;
	while (fuzz_next_piece(in, split, &pos, &len))
		target_echo_data(&t, (const char *) in->data + pos, len);
	/* the end of the output: read_echo delivers an unterminated last line */
	if (t.echo.len > 0)
		target_echo_data(&t, "\n", 1);
	if (t.echo.len != 0)
		abort();
	target_free(&t);
}

/*
 * LLVMFuzzerTestOneInput: libFuzzer's entry point; returns 0.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_every_split(data, size, "fuzz_echo", read_output);
	return 0;
}
