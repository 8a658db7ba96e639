/*-------------------------------------------------------------------------
 *
 * puller/main.c
 *		pgpull: command line entry point.
 *
 * "pgpull COMMAND [OPTION]...": the command picks the option table
 * ("sync", "commit-state", "status" or "discover"), and "pgpull --help"
 * and "pgpull --version" answer without one.  Usage errors print
 * "pgpull: error: ..." and the line pointing at --help, and exit with 2.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "conn.h"
#include "discover.h"
#include "error.h"
#include "options.h"
#include "status.h"
#include "sync.h"
#include "sync_all.h"

static void usage_summary(FILE *out);
static void usage(void);
static int	global_options(int argc, char **argv);
static void die_by_signal(int signo);

/*
 * usage_summary: the "Usage:" lines of the help text, on out.
 */
static void
usage_summary(FILE *out)
{
	fprintf(out, "Usage:\n");
	fprintf(out, "  pgpull sync --source=CONNINFO --target=URL [OPTION]...\n");
	fprintf(out, "  pgpull sync --source=CONNINFO --target=- [OPTION]... | TARGET > STATE_FILE\n");
	fprintf(out, "  pgpull commit-state --source=CONNINFO [OPTION]... STATE_FILE|-\n");
	fprintf(out, "  pgpull sync --source=CONNINFO --target-command=COMMAND [OPTION]...\n");
	fprintf(out, "  pgpull sync --source=CONNINFO --dry-run [OPTION]...\n");
	fprintf(out, "  pgpull status --source=CONNINFO [--integration=NAME] [--format=table|json]\n");
	fprintf(out, "  pgpull discover --source=CONNINFO [--schema=SCHEMA]... [--format=table|json]\n");
	fprintf(out, "  pgpull --help | --version\n");
}

/*
 * usage: print the help text on stdout.
 */
static void
usage(void)
{
	printf("pgpull replicates PostgreSQL tables and views to an HTTP destination or a\n");
	printf("Singer target.\n\n");
	usage_summary(stdout);
	printf("\n");
	printf("Commands:\n");
	printf("  sync                   copy the changed rows of every stream of an integration\n");
	printf("                         to the destination, then move the bookmarks\n");
	printf("  commit-state           move the bookmarks to the states a Singer target printed\n");
	printf("                         after storing the rows of \"sync --target -\"\n");
	printf("  status                 show each stream's last run and next action, and what\n");
	printf("                         needs attention (for monitoring: see the exit status)\n");
	printf("  discover               list the relations the role can see, with what choosing\n");
	printf("                         their streams needs, and the streams that track them\n\n");
	printf("Options of sync:\n");
	printf("      --integration=NAME integration to sync (default: \"default\")\n");
	printf("      --all-databases    sync every database the role can connect to on the\n");
	printf("                         server --source names (templates left out) where the\n");
	printf("                         extension is installed, each in its own catalog;\n");
	printf("                         destination tables are named DATABASE__TABLE\n");
	printf("      --target=URL       Import API base URL: https://host[:port] (the endpoint\n");
	printf("                         URL, ending in /v2/import/batch, is taken too)\n");
	printf("                         (http:// for loopback and tests)\n");
	printf("      --target=-         write Singer messages on standard output instead; the\n");
	printf("                         bookmarks move only with \"pgpull commit-state\"\n");
	printf("      --force            with --target -: write even when standard output is a\n");
	printf("                         terminal\n");
	printf("      --target-command=COMMAND\n");
	printf("                         run COMMAND (through /bin/sh) as the Singer target: it\n");
	printf("                         reads the messages on its standard input, and each\n");
	printf("                         state it prints on its standard output moves the\n");
	printf("                         bookmarks at once\n");
	printf("      --cacert=FILE      verify the destination with the CA certificates in FILE\n");
	printf("      --token-file=FILE  read the destination token from the first line of FILE\n");
	printf("                         (default: the PGPULL_TOKEN environment variable)\n");
	printf("      --batch-rows=N     at most N rows per batch, 1..%d (default: %d);\n",
		   BATCH_ROWS_MAX, BATCH_ROWS_DEFAULT);
	printf("                         for a Singer target, records between two STATEs\n");
	printf("      --batch-bytes=N    at most N bytes per request body, 1..%d\n",
		   BATCH_BYTES_MAX);
	printf("                         (default: %d); for a Singer target, bytes of records\n",
		   BATCH_BYTES_DEFAULT);
	printf("                         between two STATEs\n");
	printf("      --chunk-rows=N     read large relations N rows per query (default: %d)\n",
		   CHUNK_ROWS_DEFAULT);
	printf("      --jobs=N           read with N processes at once, 1..%d (default: 1): streams\n",
		   JOBS_MAX);
	printf("                         N at a time, and a large full-table stream in key\n");
	printf("                         ranges; not with a Singer target\n");
	printf("      --http-timeout=SECONDS  give up on one request after SECONDS (default: %d)\n",
		   HTTP_TIMEOUT_DEFAULT);
	printf("      --max-retries=N    retry a request at most N times, 0..100 (default: %d);\n",
		   MAX_RETRIES_DEFAULT);
	printf("                         retries stop after %d seconds in any case\n",
		   RETRY_TIME_LIMIT);
	printf("      --dry-run          print what a run would extract (streams, methods,\n");
	printf("                         bookmarks, queries) on standard output, then exit:\n");
	printf("                         nothing is sent, no catalog row is written, no lock is\n");
	printf("                         taken; needs no --target nor token\n");
	printf("      --follow           keep streaming the changes of log_based streams from\n");
	printf("                         the replication slot until SIGTERM, instead of stopping\n");
	printf("                         at the WAL position current when streaming began\n");
	printf("  -q, --quiet            print only warnings and errors, and no progress line\n");
	printf("  -v, --verbose          also print DEBUG lines of the run log: each chunk's\n");
	printf("                         query and read time, and each batch's time waiting for\n");
	printf("                         rows from the source and at the destination\n");
	printf("      --metrics-file=PATH  after the run, write Prometheus metrics of every\n");
	printf("                         stream of the integration to PATH (atomically), for\n");
	printf("                         node_exporter's textfile collector\n");
	printf("  -V, --version          output version information, then exit\n");
	printf("  -?, --help             show this help, then exit\n\n");
	printf("Options of commit-state:\n");
	printf("      --integration=NAME integration of the states (default: \"default\")\n");
	printf("  -v, --verbose          also print the lines skipped and the bookmarks not moved\n");
	printf("  STATE_FILE|-           what the Singer target printed on its standard output\n");
	printf("                         (\"-\": read it from standard input); a state of\n");
	printf("                         --all-databases goes to each of its databases' catalogs,\n");
	printf("                         on the server --state or --source names\n\n");
	printf("Options of status:\n");
	printf("      --integration=NAME show only this integration (default: every one the\n");
	printf("                         role may run)\n");
	printf("      --format=FORMAT    \"table\" (default) or \"json\"\n\n");
	printf("Options of discover:\n");
	printf("      --schema=SCHEMA    only relations of SCHEMA (may be given several times;\n");
	printf("                         default: every schema)\n");
	printf("      --format=FORMAT    \"table\" (aligned columns, the default) or \"json\" (an\n");
	printf("                         array of objects, for scripts)\n\n");
	printf("Connection options:\n");
	printf("      --source=CONNINFO  database to read rows from: a connection string or\n");
	printf("                         URI (\"\" takes the PG* environment variables); may be\n");
	printf("                         a read replica\n");
	printf("      --state=CONNINFO   database holding the pgpull catalog (default: the\n");
	printf("                         source; the primary when the source is a replica);\n");
	printf("                         commit-state needs only this one; not with\n");
	printf("                         --all-databases, where each database is its own\n");
	printf("      --ssh=[USER@]HOST[:PORT]\n");
	printf("                         reach the databases through an SSH tunnel: the ssh\n");
	printf("                         server connects to the hosts and ports of --source\n");
	printf("                         and --state (default host: the ssh server itself)\n");
	printf("      --ssh-identity=FILE  private key for the ssh server (default: ssh's own)\n");
	printf("      --ssh-known-hosts=FILE\n");
	printf("                         check the ssh server's key against FILE (default:\n");
	printf("                         ~/.ssh/known_hosts); an unknown key is refused\n\n");
	printf("Passwords come from ~/.pgpass, PGPASSWORD or the connection string; pgpull\n");
	printf("never prompts.  The token is never taken from the command line; a Singer\n");
	printf("target needs none.  Logs go to standard error; when it is a terminal, sync\n");
	printf("also shows the progress of the stream being read there (rows, MB, rates, ETA).\n\n");
	printf("Exit status:\n");
	printf("  0  every stream synced (streams another puller holds are skipped);\n");
	printf("     commit-state: the states were applied\n");
	printf("  1  some stream failed (the others still ran), or the Singer target stopped\n");
	printf("     reading or exited with a status other than 0, or the metrics file could\n");
	printf("     not be written\n");
	printf("  2  usage or configuration error; commit-state: no state in the file\n");
	printf("  3  could not connect to a database, the destination or the ssh server, or\n");
	printf("     the destination rejected the token or its TLS certificate\n");
	printf("  With --all-databases, the worst status of the databases (3 over 2 over 1).\n");
	printf("  status: 0 nothing needs attention, 1 something does (a stream whose last\n");
	printf("  run failed, a dropped tracked relation, a privilege missing, a standby\n");
	printf("  setting too low while a historical sync is pending), 2 and 3 as above.\n");
	printf("  discover: 0 the relations were listed, 2 and 3 as above.\n\n");
	printf("Report bugs to the pgpull issue tracker.\n");
}

/*
 * global_options: "pgpull --help", "pgpull --version", or a usage error.
 * Returns the exit status.
 */
static int
global_options(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	opterr = 0;
	c = getopt_long(argc, argv, "V?", long_options, NULL);
	switch (c)
	{
		case 'V':
			printf("pgpull %s\n", PGPULL_VERSION);
			return EXIT_OK;
		case 'h':
			usage();
			return EXIT_OK;
		case '?':
			if (strcmp(argv[optind - 1], "-?") == 0)
			{
				usage();
				return EXIT_OK;
			}
			pp_bad_option(argv);
			return EXIT_USAGE;
		default:
			pp_usage_error("no command given");
			return EXIT_USAGE;
	}
}

/*
 * die_by_signal: once everything is cleaned up after SIGINT or SIGTERM (the
 * run recorded as interrupted, the target and the tunnel stopped), die by
 * that signal, so that a shell or systemd sees how pgpull ended.
 */
static void
die_by_signal(int signo)
{
	struct sigaction sa;

	fflush(stdout);
	fflush(stderr);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
	raise(signo);
}

int
main(int argc, char **argv)
{
	PullerOptions o;
	int			rc;
	bool		sync;
	bool		status;
	bool		discover;

	if (argc < 2)
	{
		/* what a scheduler or a user who typed just "pgpull" needs to see */
		usage_summary(stderr);
		pp_usage_error("no command given");
		return EXIT_USAGE;
	}
	if (argv[1][0] == '-')
		return global_options(argc, argv);
	if (strcmp(argv[1], "help") == 0)
	{
		usage();
		return EXIT_OK;
	}
	if (strcmp(argv[1], "sync") != 0 && strcmp(argv[1], "commit-state") != 0 &&
		strcmp(argv[1], "status") != 0 && strcmp(argv[1], "discover") != 0)
	{
		pp_usage_error("unrecognized command \"%s\"", argv[1]);
		return EXIT_USAGE;
	}

	sync = strcmp(argv[1], "sync") == 0;
	status = strcmp(argv[1], "status") == 0;
	discover = strcmp(argv[1], "discover") == 0;
	if (sync)
		rc = options_parse_sync(argc - 1, argv + 1, &o);
	else if (status)
		rc = options_parse_status(argc - 1, argv + 1, &o);
	else if (discover)
		rc = options_parse_discover(argc - 1, argv + 1, &o);
	else
		rc = options_parse_commit(argc - 1, argv + 1, &o);
	if (rc == OPTIONS_HELP)
	{
		usage();
		rc = EXIT_OK;
	}
	else if (rc == OPTIONS_VERSION)
	{
		printf("pgpull %s\n", PGPULL_VERSION);
		rc = EXIT_OK;
	}
	else if (rc == 0)
	{
		/* commit-state connects to the catalog only */
		rc = conn_use_ssh(&o, sync || status || discover);
		if (rc == 0)
			rc = status ? status_run(&o) : discover ? discover_run(&o) :
				!sync ? commit_state_run(&o) :
				o.all_databases ? sync_all_databases(&o) : sync_run(&o);
		conn_end_ssh();
	}
	options_free(&o);
	if (pp_interrupted)
		die_by_signal(pp_interrupted);
	return rc;
}
