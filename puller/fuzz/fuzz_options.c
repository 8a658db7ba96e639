/*-------------------------------------------------------------------------
 *
 * puller/fuzz/fuzz_options.c
 *		pgpull: libFuzzer harness of the option values (options.c and the
 *		--ssh value, tunnel.c).
 *
 * The input is a command line after "pgpull": its arguments separated by
 * NUL bytes, the first the command ("commit-state", "status", "discover",
 * or else sync's parser takes it).  It goes to options_parse_sync,
 * options_parse_commit, options_parse_status or options_parse_discover as
 * main passes it; numbers, the target URL, connection strings, --format
 * and the SSH server are parsed there.  Options that parse must be within their
 * documented ranges and agree with each other.  Usage errors go to
 * standard error: run with -close_fd_mask=2 to keep them out of sight.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

#define MAX_ARGS		64

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void reset_getopt(void);
static void check_sync(const PullerOptions *o);

/*
 * reset_getopt: forget where the last parse stopped.  glibc's getopt keeps
 * a pointer into the previous argv (within an argument like "-vx") that
 * setting optind to 1 does not clear; 0 does, and main parses only once.
 */
static void
reset_getopt(void)
{
	char	   *argv[] = {"pgpull", NULL};

	optind = 0;
	(void) getopt(1, argv, "");
}

/*
 * check_sync: the options of a sync that parsed hold what the rest of
 * pgpull counts on.
 */
static void
check_sync(const PullerOptions *o)
{
	if (o->source == NULL || o->integration == NULL ||
		o->integration[0] == '\0' || o->batch_rows < 1 || o->batch_rows > BATCH_ROWS_MAX ||
		o->batch_bytes < 1 || o->batch_bytes > BATCH_BYTES_MAX ||
		o->chunk_rows < 1 || o->http_timeout < 1 || o->max_retries < 0)
		abort();
	if ((o->target == NULL) == (o->target_command == NULL))
		abort();
	if (o->target_kind == TARGET_IMPORT_API)
	{
		size_t		n = strlen(o->target);

		if (n == 0 || o->target[n - 1] == '/' ||
			strncasecmp(o->target, o->target_tls ? "https://" : "http://",
						o->target_tls ? 8 : 7) != 0)
			abort();
	}
	else if (o->target_kind != TARGET_SINGER)
		abort();
}

/*
 * LLVMFuzzerTestOneInput: libFuzzer's entry point; returns 0.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	char	   *argv[MAX_ARGS + 1];
	int			argc = 0;
	size_t		start = 0;
	PullerOptions o;
	int			rc;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	/* the arguments, each up to a NUL (the last one up to the end) */
	while (argc < MAX_ARGS && start <= size)
	{
		argv[argc++] = text + start;
		start += strlen(text + start) + 1;
	}
	argv[argc] = NULL;

	reset_getopt();
	if (strcmp(argv[0], "commit-state") == 0)
	{
		rc = options_parse_commit(argc, argv, &o);
		if (rc == 0 && (o.state_file == NULL ||
						(o.source == NULL && o.state == NULL)))
			abort();
	}
	else if (strcmp(argv[0], "status") == 0)
	{
		rc = options_parse_status(argc, argv, &o);
		if (rc == 0 && o.source == NULL)
			abort();
	}
	else if (strcmp(argv[0], "discover") == 0)
	{
		rc = options_parse_discover(argc, argv, &o);
		if (rc == 0 && o.source == NULL)
			abort();
		for (int i = 0; rc == 0 && i < o.nschemas; i++)
			if (o.schemas[i] == NULL || o.schemas[i][0] == '\0')
				abort();
	}
	else
	{
		rc = options_parse_sync(argc, argv, &o);
		if (rc == 0)
			check_sync(&o);
	}
	if (rc != 0 && rc != EXIT_USAGE && rc != OPTIONS_HELP &&
		rc != OPTIONS_VERSION)
		abort();
	options_free(&o);
	free(text);
	return 0;
}
