/*-------------------------------------------------------------------------
 *
 * puller/options.h
 *		pgpull: the configuration of a sync, from the command line and the
 *		environment.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGPULL_OPTIONS_H
#define PGPULL_OPTIONS_H

#include "common.h"

/*
 * limits of the Import API (Stitch Import API reference, batch endpoint
 * limits) and our defaults
 */
#define BATCH_ROWS_MAX			20000
#define BATCH_ROWS_DEFAULT		20000
#define BATCH_BYTES_MAX			20000000
#define BATCH_BYTES_DEFAULT		4000000
/* the Import API's batch endpoint, under the --target base URL */
#define IMPORT_BATCH_PATH		"/v2/import/batch"
#define CHUNK_ROWS_DEFAULT		100000
#define HTTP_TIMEOUT_DEFAULT	300
#define MAX_RETRIES_DEFAULT		5
#define JOBS_MAX				64		/* --jobs: processes, and key ranges */
#define RETRY_TIME_LIMIT		900		/* seconds spent retrying one request */

/* what options_parse_sync returns when --help or --version was given */
#define OPTIONS_HELP	(-1)
#define OPTIONS_VERSION (-2)

typedef enum TargetKind
{
	TARGET_NONE,				/* not given yet */
	TARGET_IMPORT_API,			/* --target http(s)://host[:port] */
	TARGET_SINGER				/* --target - or --target-command CMD */
} TargetKind;

typedef struct PullerOptions
{
	char	   *source;			/* conninfo of the source */
	char	   *state;			/* conninfo of the catalog; NULL = source */
	char	   *integration;
	char	   *target;			/* base URL, no trailing slash; "-" */
	char	   *target_command; /* --target-command: a Singer target to run */
	TargetKind	target_kind;
	bool		target_tls;		/* https:// */
	char	   *cacert;
	char	   *token_file;
	int			batch_rows;
	long		batch_bytes;
	int			chunk_rows;
	int			http_timeout;
	int			max_retries;
	bool		http_timeout_given;
	bool		max_retries_given;
	bool		verbose;		/* -v: DEBUG lines, per batch timings */
	bool		quiet;			/* -q: warnings and errors only */
	bool		dry_run;		/* --dry-run: print the plan, change nothing */
	bool		follow;			/* --follow: stream log_based changes until
								 * SIGTERM */
	char	   *state_file;		/* commit-state: FILE, or "-" for stdin */
	bool		all_databases;	/* --all-databases */
	int			jobs;			/* --jobs: processes reading at once */
	bool		force;			/* --force: Singer messages to a terminal */
	char	   *database;		/* --all-databases, one database's run: its
								 * name, which prefixes destination tables */
	char	   *ssh;			/* --ssh [USER@]HOST[:PORT], or NULL */
	char	   *ssh_identity;
	char	   *ssh_known_hosts;
	bool		format_json;	/* status, discover: --format json */
	char	  **schemas;		/* discover: --schema, in the order given */
	int			nschemas;
	char	   *metrics_file;	/* --metrics-file: Prometheus metrics, or NULL */
} PullerOptions;

extern int	options_parse_sync(int argc, char **argv, PullerOptions *o);
extern int	options_parse_commit(int argc, char **argv, PullerOptions *o);
extern int	options_parse_status(int argc, char **argv, PullerOptions *o);
extern int	options_parse_discover(int argc, char **argv, PullerOptions *o);
extern void options_free(PullerOptions *o);
extern const char *options_target_kind_name(const PullerOptions *o);

#endif							/* PGPULL_OPTIONS_H */
