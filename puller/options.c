/*-------------------------------------------------------------------------
 *
 * puller/options.c
 *		pgpull: parse and check the options of "pgpull sync", "pgpull
 *		commit-state", "pgpull status" and "pgpull discover".
 *
 * Everything that can be checked without a connection is checked here,
 * before any connection is made: numbers and their ranges (a value out of
 * range is a usage error, never clamped), the shape of the target URL,
 * connection strings, the SSH tunnel's options (tunnel.c) and
 * combinations of options (naming both).  Usage errors end with the line
 * pointing at --help; the caller exits with status 2.
 *
 * The destination token is never an option: --token-file only names the
 * file the Import API sink reads it from.  A Singer target (--target - or
 * --target-command) needs no token, and the options of an Import API
 * destination are refused with it.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "options.h"
#include "tunnel.h"

/* long-only options */
enum
{
	OPT_SOURCE = 256,
	OPT_STATE,
	OPT_INTEGRATION,
	OPT_TARGET,
	OPT_TARGET_COMMAND,
	OPT_CACERT,
	OPT_TOKEN_FILE,
	OPT_BATCH_ROWS,
	OPT_BATCH_BYTES,
	OPT_CHUNK_ROWS,
	OPT_HTTP_TIMEOUT,
	OPT_MAX_RETRIES,
	OPT_ALL_DATABASES,
	OPT_JOBS,
	OPT_FORCE,
	OPT_SSH,
	OPT_SSH_IDENTITY,
	OPT_SSH_KNOWN_HOSTS,
	OPT_DRY_RUN,
	OPT_FOLLOW,
	OPT_FORMAT,
	OPT_SCHEMA,
	OPT_METRICS_FILE,
	OPT_HELP
};

/* the long options sync, commit-state and status share */
#define COMMON_LONG_OPTIONS \
	{"source", required_argument, NULL, OPT_SOURCE}, \
	{"state", required_argument, NULL, OPT_STATE}, \
	{"integration", required_argument, NULL, OPT_INTEGRATION}, \
	{"ssh", required_argument, NULL, OPT_SSH}, \
	{"ssh-identity", required_argument, NULL, OPT_SSH_IDENTITY}, \
	{"ssh-known-hosts", required_argument, NULL, OPT_SSH_KNOWN_HOSTS}, \
	{"verbose", no_argument, NULL, 'v'}, \
	{"version", no_argument, NULL, 'V'}, \
	{"help", no_argument, NULL, OPT_HELP}

static bool repeated(int c, const struct option *long_options, uint64_t *given);
static bool check_conninfo(const char *conninfo, const char *optname);
static bool check_connections(const PullerOptions *o);
static bool parse_long(const char *arg, const char *optname, long min,
					   long max, long *out);
static bool parse_target(const char *arg, PullerOptions *o);
static bool check_metrics_file(const char *path);
static void set_string(char **field, const char *value);
static int	common_option(int c, char **argv, PullerOptions *o);
static bool parse_format(const char *arg, PullerOptions *o);
static bool source_and_no_argument(int argc, char **argv, const PullerOptions *o);

/*
 * set_string: replace an option's string (an option given twice: the last
 * one wins).
 */
static void
set_string(char **field, const char *value)
{
	free(*field);
	*field = pp_strdup(value);
}

/*
 * check_conninfo: a connection string or URI must parse; a bare word
 * is a database name, which libpq takes as it is.  Prints the usage error
 * (naming optname) and returns false when it does not parse.
 */
static bool
check_conninfo(const char *conninfo, const char *optname)
{
	PQconninfoOption *opts;
	char	   *errmsg = NULL;

	if (!pp_is_conninfo(conninfo))
		return true;
	opts = PQconninfoParse(conninfo, &errmsg);
	if (opts == NULL)
	{
		if (errmsg)
		{
			size_t		n = strlen(errmsg);

			while (n > 0 && errmsg[n - 1] == '\n')
				errmsg[--n] = '\0';
			pp_usage_error("invalid connection string for %s: %s", optname, errmsg);
			PQfreemem(errmsg);
		}
		else
			pp_usage_error("invalid connection string for %s: out of memory", optname);
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

/*
 * check_connections: the connection options given (--source, --state, the
 * --ssh options) must be usable.  Prints the usage error and returns false
 * when one is not.
 */
static bool
check_connections(const PullerOptions *o)
{
	return (o->source == NULL || check_conninfo(o->source, "--source")) &&
		(o->state == NULL || check_conninfo(o->state, "--state")) &&
		tunnel_check_options(o->ssh, o->ssh_identity, o->ssh_known_hosts);
}

/*
 * parse_long: parse a whole decimal integer within [min, max]; on failure
 * print the usage error and return false.
 */
static bool
parse_long(const char *arg, const char *optname, long min, long max,
		   long *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(arg, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (arg[0] == '\0' || *end != '\0' || errno == ERANGE)
	{
		if (errno == ERANGE || (*end == '\0' && arg[0] != '\0'))
			pp_usage_error("%s must be in range %ld..%ld", optname, min, max);
		else
			pp_usage_error("invalid value \"%s\" for option %s", arg, optname);
		return false;
	}
	if (v < min || v > max)
	{
		pp_usage_error("%s must be in range %ld..%ld", optname, min, max);
		return false;
	}
	*out = v;
	return true;
}

/*
 * repeated: whether option c, one that takes a value, was given before
 * (given holds the options seen so far): a second --target or --source
 * would silently replace the first.  Prints the usage error then.
 */
static bool
repeated(int c, const struct option *long_options, uint64_t *given)
{
	uint64_t	bit;

	if (c < OPT_SOURCE || c >= OPT_SOURCE + 64)
		return false;
	bit = (uint64_t) 1 << (c - OPT_SOURCE);
	for (const struct option *lo = long_options; lo->name != NULL; lo++)
	{
		if (lo->val != c || lo->has_arg != required_argument)
			continue;
		if (*given & bit)
		{
			pp_usage_error("option --%s given more than once", lo->name);
			return true;
		}
		*given |= bit;
		break;
	}
	return false;
}

/*
 * parse_target: --target is "-" (Singer, on stdout) or an http(s) base URL
 * "scheme://host[:port][/path]" without credentials, query or fragment.
 * Stores the URL without trailing slashes.  Prints the usage error and
 * returns false when the value is not acceptable.
 */
static bool
parse_target(const char *arg, PullerOptions *o)
{
	const char *rest;
	const char *host_end;
	const char *p;
	size_t		n;

	if (strcmp(arg, "-") == 0)
	{
		o->target_kind = TARGET_SINGER;
		set_string(&o->target, arg);
		return true;
	}
	if (strncasecmp(arg, "https://", 8) == 0)
	{
		o->target_tls = true;
		rest = arg + 8;
	}
	else if (strncasecmp(arg, "http://", 7) == 0)
	{
		o->target_tls = false;
		rest = arg + 7;
	}
	else
	{
		pp_usage_error("invalid value \"%s\" for option --target", arg);
		pp_log_detail("The target is an Import API base URL, https://host[:port], or \"-\" for Singer messages on standard output.");
		return false;
	}
	for (p = arg; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
		{
			pp_usage_error("invalid value for option --target: a URL must not contain spaces, control characters, a query or a fragment");
			return false;
		}
	}
	host_end = rest + strcspn(rest, "/");
	if (memchr(rest, '@', host_end - rest) != NULL)
	{
		pp_usage_error("invalid value for option --target: a URL must not contain credentials");
		pp_log_hint("Give the token in PGPULL_TOKEN or in a file named by --token-file.");
		return false;
	}
	if (host_end == rest || *rest == ':')
	{
		pp_usage_error("invalid value \"%s\" for option --target: no host name", arg);
		return false;
	}
	/* a port, after the host (or after "]" of an IPv6 address) */
	p = rest;
	if (*p == '[')
	{
		p = memchr(rest, ']', host_end - rest);
		if (p == NULL)
		{
			pp_usage_error("invalid value \"%s\" for option --target: unterminated IPv6 address", arg);
			return false;
		}
	}
	p = memchr(p, ':', host_end - p);
	if (p != NULL)
	{
		long		port = 0;
		const char *d;

		for (d = p + 1; d < host_end; d++)
		{
			if (*d < '0' || *d > '9' || port > 65535)
				break;
			port = port * 10 + (*d - '0');
		}
		if (d != host_end || d == p + 1 || port < 1 || port > 65535)
		{
			pp_usage_error("invalid value \"%s\" for option --target: invalid port", arg);
			return false;
		}
	}
	o->target_kind = TARGET_IMPORT_API;
	n = strlen(arg);
	while (n > 0 && arg[n - 1] == '/')
		n--;
	/* the endpoint itself, as the Import API's documentation writes it */
	if (n > strlen(IMPORT_BATCH_PATH) &&
		strncmp(arg + n - strlen(IMPORT_BATCH_PATH), IMPORT_BATCH_PATH, strlen(IMPORT_BATCH_PATH)) == 0)
		n -= strlen(IMPORT_BATCH_PATH);
	while (n > 0 && arg[n - 1] == '/')
		n--;
	free(o->target);
	o->target = pp_strndup(arg, n);
	return true;
}

/*
 * check_metrics_file: whether --metrics-file can be written: it names a
 * file, in a directory that exists and that the program may write to (the
 * file is written as a temporary file there, then renamed: metrics.c).
 * Prints the error and returns false otherwise.
 */
static bool
check_metrics_file(const char *path)
{
	const char *slash = strrchr(path, '/');
	char	   *dir;
	struct stat st;
	bool		ok = true;

	if (path[0] == '\0' || (slash != NULL && slash[1] == '\0') ||
		(stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
	{
		pp_usage_error("--metrics-file must name a file");
		return false;
	}
	dir = slash == NULL ? pp_strdup(".") :
		slash == path ? pp_strdup("/") : pp_strndup(path, (size_t) (slash - path));
	if (access(dir, W_OK | X_OK) != 0)
	{
		pp_log_error("cannot write metrics file \"%s\" in directory \"%s\": %s",
					 path, dir, strerror(errno));
		pp_log_hint("The metrics are written to a temporary file in that directory, then renamed: it must exist and be writable.");
		ok = false;
	}
	free(dir);
	return ok;
}

/*
 * common_option: handle an option the commands share, as
 * getopt_long returned it (c, with optarg and optind set): the connection
 * options, --integration, --verbose, --version, --help, and getopt's own
 * errors.  Returns 0 to go on, OPTIONS_HELP, OPTIONS_VERSION, or
 * EXIT_USAGE after printing a usage error (also for any other option).
 */
static int
common_option(int c, char **argv, PullerOptions *o)
{
	switch (c)
	{
		case OPT_SOURCE:
			set_string(&o->source, optarg);
			break;
		case OPT_STATE:
			set_string(&o->state, optarg);
			break;
		case OPT_SSH:
			set_string(&o->ssh, optarg);
			break;
		case OPT_SSH_IDENTITY:
			set_string(&o->ssh_identity, optarg);
			break;
		case OPT_SSH_KNOWN_HOSTS:
			set_string(&o->ssh_known_hosts, optarg);
			break;
		case OPT_INTEGRATION:
			if (optarg[0] == '\0')
			{
				pp_usage_error("--integration must not be empty");
				return EXIT_USAGE;
			}
			set_string(&o->integration, optarg);
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			return OPTIONS_VERSION;
		case ':':
			pp_usage_error("option \"%s\" requires an argument", argv[optind - 1]);
			return EXIT_USAGE;
		case OPT_HELP:
			return OPTIONS_HELP;
		case '?':
			if (strcmp(argv[optind - 1], "-?") == 0)
				return OPTIONS_HELP;
			pp_bad_option(argv);
			return EXIT_USAGE;
		default:
			pp_usage_error("unrecognized option \"%s\"", argv[optind - 1]);
			return EXIT_USAGE;
	}
	return 0;
}

/*
 * source_and_no_argument: after the options of sync, status or discover, no
 * argument is left and --source was given.  Prints the usage error and
 * returns false otherwise.
 */
static bool
source_and_no_argument(int argc, char **argv, const PullerOptions *o)
{
	if (optind < argc)
	{
		pp_usage_error("too many command-line arguments (first is \"%s\")", argv[optind]);
		return false;
	}
	if (o->source == NULL)
	{
		pp_usage_error("no source database given");
		pp_log_hint("Give one with --source (a connection string or URI; an empty string takes the PG* environment variables).");
		return false;
	}
	return true;
}

/*
 * options_parse_sync: parse "pgpull sync" options; argv[0] is "sync".
 * Returns 0 when the options are complete and consistent, OPTIONS_HELP or
 * OPTIONS_VERSION when those were asked for, or EXIT_USAGE after printing
 * a usage error.  The caller frees o with options_free in every case.
 */
int
options_parse_sync(int argc, char **argv, PullerOptions *o)
{
	static const struct option long_options[] = {
		COMMON_LONG_OPTIONS,
		{"target", required_argument, NULL, OPT_TARGET},
		{"target-command", required_argument, NULL, OPT_TARGET_COMMAND},
		{"cacert", required_argument, NULL, OPT_CACERT},
		{"token-file", required_argument, NULL, OPT_TOKEN_FILE},
		{"batch-rows", required_argument, NULL, OPT_BATCH_ROWS},
		{"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
		{"chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS},
		{"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
		{"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
		{"all-databases", no_argument, NULL, OPT_ALL_DATABASES},
		{"jobs", required_argument, NULL, OPT_JOBS},
		{"force", no_argument, NULL, OPT_FORCE},
		{"quiet", no_argument, NULL, 'q'},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"follow", no_argument, NULL, OPT_FOLLOW},
		{"metrics-file", required_argument, NULL, OPT_METRICS_FILE},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			rc;
	long		v;
	uint64_t	given = 0;

	memset(o, 0, sizeof(*o));
	o->batch_rows = BATCH_ROWS_DEFAULT;
	o->batch_bytes = BATCH_BYTES_DEFAULT;
	o->chunk_rows = CHUNK_ROWS_DEFAULT;
	o->http_timeout = HTTP_TIMEOUT_DEFAULT;
	o->max_retries = MAX_RETRIES_DEFAULT;
	o->jobs = 1;
	o->integration = pp_strdup("default");

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":qvV?", long_options, NULL)) != -1)
	{
		if (repeated(c, long_options, &given))
			return EXIT_USAGE;
		switch (c)
		{
			case 'q':
				o->quiet = true;
				break;
			case OPT_DRY_RUN:
				o->dry_run = true;
				break;
			case OPT_FOLLOW:
				o->follow = true;
				break;
			case OPT_FORCE:
				o->force = true;
				break;
			case OPT_METRICS_FILE:
				set_string(&o->metrics_file, optarg);
				break;
			case OPT_TARGET:
				if (!parse_target(optarg, o))
					return EXIT_USAGE;
				break;
			case OPT_TARGET_COMMAND:
				if (optarg[strspn(optarg, " \t\n")] == '\0')
				{
					pp_usage_error("--target-command must not be empty");
					return EXIT_USAGE;
				}
				set_string(&o->target_command, optarg);
				break;
			case OPT_CACERT:
				set_string(&o->cacert, optarg);
				break;
			case OPT_TOKEN_FILE:
				set_string(&o->token_file, optarg);
				break;
			case OPT_BATCH_ROWS:
				if (!parse_long(optarg, "--batch-rows", 1, BATCH_ROWS_MAX, &v))
					return EXIT_USAGE;
				o->batch_rows = (int) v;
				break;
			case OPT_BATCH_BYTES:
				if (!parse_long(optarg, "--batch-bytes", 1, BATCH_BYTES_MAX, &v))
					return EXIT_USAGE;
				o->batch_bytes = v;
				break;
			case OPT_CHUNK_ROWS:
				if (!parse_long(optarg, "--chunk-rows", 1, 1000000000L, &v))
					return EXIT_USAGE;
				o->chunk_rows = (int) v;
				break;
			case OPT_HTTP_TIMEOUT:
				if (!parse_long(optarg, "--http-timeout", 1, 86400, &v))
					return EXIT_USAGE;
				o->http_timeout = (int) v;
				o->http_timeout_given = true;
				break;
			case OPT_MAX_RETRIES:
				if (!parse_long(optarg, "--max-retries", 0, 100, &v))
					return EXIT_USAGE;
				o->max_retries = (int) v;
				o->max_retries_given = true;
				break;
			case OPT_ALL_DATABASES:
				o->all_databases = true;
				break;
			case OPT_JOBS:
				if (!parse_long(optarg, "--jobs", 1, JOBS_MAX, &v))
					return EXIT_USAGE;
				o->jobs = (int) v;
				break;
			default:
				rc = common_option(c, argv, o);
				if (rc != 0)
					return rc;
				break;
		}
	}
	if (!source_and_no_argument(argc, argv, o))
		return EXIT_USAGE;
	if (o->quiet && o->verbose)
	{
		pp_usage_error("--quiet and --verbose cannot be used together");
		pp_log_hint("Give --verbose for DEBUG lines and per batch timings, --quiet for warnings and errors only.");
		return EXIT_USAGE;
	}
	if (o->dry_run && o->metrics_file)
	{
		pp_usage_error("--metrics-file cannot be used with --dry-run");
		pp_log_detail("A dry run syncs nothing to measure.");
		return EXIT_USAGE;
	}
	if (o->follow && (o->dry_run || o->all_databases || o->jobs > 1))
	{
		pp_usage_error("--follow cannot be used with %s",
					   o->dry_run ? "--dry-run" : o->all_databases ? "--all-databases" : "--jobs");
		pp_log_hint("--follow streams the changes of one database's log_based streams until SIGTERM.");
		return EXIT_USAGE;
	}
	if (o->dry_run && o->all_databases)
	{
		pp_usage_error("--dry-run cannot be used with --all-databases");
		pp_log_hint("Give --dry-run with --source naming one database.");
		return EXIT_USAGE;
	}
	if (o->target == NULL && o->target_command == NULL && !o->dry_run)
	{
		pp_usage_error("no target given");
		pp_log_hint("Give the Import API base URL with --target https://host[:port], \"--target -\" for Singer messages on standard output, or --target-command to run a Singer target.");
		return EXIT_USAGE;
	}
	if (o->target != NULL && o->target_command != NULL)
	{
		pp_usage_error("--target and --target-command cannot be used together");
		pp_log_hint("Give --target for an Import API destination or Singer messages on standard output, or --target-command to run a Singer target.");
		return EXIT_USAGE;
	}
	if (o->target_command != NULL)
		o->target_kind = TARGET_SINGER;
	if (o->target != NULL && strcmp(o->target, "-") == 0 && !o->force && !o->dry_run &&
		isatty(STDOUT_FILENO))
	{
		pp_usage_error("--target - would write Singer messages to a terminal");
		pp_log_hint("Pipe standard output into a Singer target or redirect it to a file, or give --force to write to the terminal all the same.");
		return EXIT_USAGE;
	}
	if (o->force && (o->target == NULL || strcmp(o->target, "-") != 0))
	{
		pp_usage_error("--force goes only with --target -");
		return EXIT_USAGE;
	}
	if (o->all_databases && o->state != NULL)
	{
		pp_usage_error("--state cannot be used with --all-databases");
		pp_log_detail("With --all-databases each database keeps its own catalog.");
		pp_log_hint("Leave out --state; --source names the server, and its databases are listed there.");
		return EXIT_USAGE;
	}
	if (o->jobs > 1 && o->all_databases)
	{
		pp_usage_error("--jobs cannot be used with --all-databases");
		pp_log_detail("With --all-databases the databases are synced one after the other, each with its own run.");
		pp_log_hint("Run one pgpull sync --jobs per database instead, or leave out --jobs.");
		return EXIT_USAGE;
	}
	if (o->jobs > 1 && o->target_kind == TARGET_SINGER)
	{
		pp_usage_error("--jobs cannot be used with %s",
					   o->target_command ? "--target-command" : "--target -");
		pp_log_detail("A Singer target reads one stream of messages, and its states confirm the streams in the order they were sent: the messages of several processes would have to be ordered again.");
		pp_log_hint("Leave out --jobs (1 is the default), or use an Import API --target.");
		return EXIT_USAGE;
	}
	if (!check_connections(o))
		return EXIT_USAGE;
	if (o->metrics_file && !check_metrics_file(o->metrics_file))
		return EXIT_USAGE;
	/* a dry run needs no destination; the options of one are not read */
	if (o->target_kind == TARGET_NONE)
		return 0;
	if (o->target_kind == TARGET_SINGER)
	{
		const char *singer = o->target_command ? "--target-command" : "--target -";
		const char *other = o->cacert ? "--cacert" :
			o->token_file ? "--token-file" :
			o->http_timeout_given ? "--http-timeout" :
			o->max_retries_given ? "--max-retries" : NULL;

		if (other != NULL)
		{
			pp_usage_error("%s cannot be used with %s", other, singer);
			pp_log_hint("%s is an option of an Import API destination; a Singer target takes messages on its standard input.", other);
			return EXIT_USAGE;
		}
		return 0;
	}
	if (o->cacert && !o->target_tls)
	{
		pp_usage_error("--cacert cannot be used with an http:// --target");
		pp_log_hint("Use an https:// target, or leave out --cacert.");
		return EXIT_USAGE;
	}
	if (o->cacert && access(o->cacert, R_OK) != 0)
	{
		pp_log_error("could not read --cacert file \"%s\": %s", o->cacert, strerror(errno));
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * options_parse_commit: parse "pgpull commit-state" options; argv[0] is
 * "commit-state".  The one argument is the file the Singer target's
 * standard output went to, or "-" for standard input.  Returns 0,
 * OPTIONS_HELP, OPTIONS_VERSION, or EXIT_USAGE after printing a usage
 * error.  The caller frees o with options_free in every case.
 */
int
options_parse_commit(int argc, char **argv, PullerOptions *o)
{
	static const struct option long_options[] = {
		COMMON_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			rc;
	uint64_t	given = 0;

	memset(o, 0, sizeof(*o));
	o->integration = pp_strdup("default");

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":vV?", long_options, NULL)) != -1)
	{
		if (repeated(c, long_options, &given))
			return EXIT_USAGE;
		rc = common_option(c, argv, o);
		if (rc != 0)
			return rc;
	}
	if (optind >= argc)
	{
		pp_usage_error("no state file given");
		pp_log_hint("Name the file the Singer target's standard output went to, or \"-\" to read it from standard input.");
		return EXIT_USAGE;
	}
	if (optind + 1 < argc)
	{
		pp_usage_error("too many command-line arguments (first is \"%s\")", argv[optind + 1]);
		return EXIT_USAGE;
	}
	o->state_file = pp_strdup(argv[optind]);
	if (o->source == NULL && o->state == NULL)
	{
		pp_usage_error("no catalog database given");
		pp_log_hint("Give the database holding the pgpull catalog with --state, or with --source as for sync.");
		return EXIT_USAGE;
	}
	if (!check_connections(o))
		return EXIT_USAGE;
	return 0;
}

/*
 * parse_format: --format of status and discover, "table" (the default) or
 * "json".  Prints the usage error and returns false for anything else.
 */
static bool
parse_format(const char *arg, PullerOptions *o)
{
	if (strcmp(arg, "table") != 0 && strcmp(arg, "json") != 0)
	{
		pp_usage_error("invalid value \"%s\" for option --format", arg);
		pp_log_hint("The format is \"table\" (the default) or \"json\".");
		return false;
	}
	o->format_json = strcmp(arg, "json") == 0;
	return true;
}

/*
 * options_parse_status: parse "pgpull status" options; argv[0] is
 * "status".  --integration is optional (NULL: every integration the role
 * may run); --format is "table" (the default) or "json".  Returns 0,
 * OPTIONS_HELP, OPTIONS_VERSION, or EXIT_USAGE after printing a usage
 * error.  The caller frees o with options_free in every case.
 */
int
options_parse_status(int argc, char **argv, PullerOptions *o)
{
	static const struct option long_options[] = {
		COMMON_LONG_OPTIONS,
		{"format", required_argument, NULL, OPT_FORMAT},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			rc;
	uint64_t	given = 0;

	memset(o, 0, sizeof(*o));

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":vV?", long_options, NULL)) != -1)
	{
		if (repeated(c, long_options, &given))
			return EXIT_USAGE;
		if (c == OPT_FORMAT)
		{
			if (!parse_format(optarg, o))
				return EXIT_USAGE;
			continue;
		}
		rc = common_option(c, argv, o);
		if (rc != 0)
			return rc;
	}
	if (!source_and_no_argument(argc, argv, o))
		return EXIT_USAGE;
	if (!check_connections(o))
		return EXIT_USAGE;
	return 0;
}

/*
 * options_parse_discover: parse "pgpull discover" options; argv[0] is
 * "discover".  --schema may be given several times (each adds a schema);
 * the other options once.  Returns 0, OPTIONS_HELP, OPTIONS_VERSION, or
 * EXIT_USAGE after printing a usage error.  The caller frees o with
 * options_free in every case.
 */
int
options_parse_discover(int argc, char **argv, PullerOptions *o)
{
	static const struct option long_options[] = {
		{"source", required_argument, NULL, OPT_SOURCE},
		{"ssh", required_argument, NULL, OPT_SSH},
		{"ssh-identity", required_argument, NULL, OPT_SSH_IDENTITY},
		{"ssh-known-hosts", required_argument, NULL, OPT_SSH_KNOWN_HOSTS},
		{"schema", required_argument, NULL, OPT_SCHEMA},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0}
	};
	int			c;
	int			rc;
	uint64_t	given = 0;

	memset(o, 0, sizeof(*o));

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":V?", long_options, NULL)) != -1)
	{
		if (c == OPT_SCHEMA)
		{
			if (optarg[0] == '\0')
			{
				pp_usage_error("--schema must not be empty");
				return EXIT_USAGE;
			}
			o->schemas = pp_realloc(o->schemas, sizeof(char *) * (size_t) (o->nschemas + 1));
			o->schemas[o->nschemas++] = pp_strdup(optarg);
			continue;
		}
		if (repeated(c, long_options, &given))
			return EXIT_USAGE;
		if (c == OPT_FORMAT)
		{
			if (!parse_format(optarg, o))
				return EXIT_USAGE;
			continue;
		}
		rc = common_option(c, argv, o);
		if (rc != 0)
			return rc;
	}
	if (!source_and_no_argument(argc, argv, o))
		return EXIT_USAGE;
	if (!check_connections(o))
		return EXIT_USAGE;
	return 0;
}

/*
 * options_target_kind_name: the target kind recorded in the catalog
 * ('import_api' or 'singer'), never the URL.
 */
const char *
options_target_kind_name(const PullerOptions *o)
{
	return o->target_kind == TARGET_SINGER ? "singer" : "import_api";
}

/*
 * options_free: release the options' strings.
 */
void
options_free(PullerOptions *o)
{
	free(o->source);
	free(o->state);
	free(o->integration);
	free(o->target);
	free(o->target_command);
	free(o->cacert);
	free(o->token_file);
	free(o->state_file);
	free(o->database);
	free(o->ssh);
	free(o->ssh_identity);
	free(o->ssh_known_hosts);
	free(o->metrics_file);
	for (int i = 0; i < o->nschemas; i++)
		free(o->schemas[i]);
	free(o->schemas);
	memset(o, 0, sizeof(*o));
}
