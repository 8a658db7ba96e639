/*
 * 10_catalog.sql: the catalog tables, in their final form.
 *
 * Tables are written only through the functions of the other files; no
 * role but the extension owner has any privilege on them (90_privileges.sql
 * revokes PUBLIC's).  The tables a user's data lives in are registered with
 * pg_extension_config_dump, so pg_dump keeps their rows;
 * watermark_sample is a cache of a few days and is not.
 */

CREATE TABLE pgpull.stream (
	stream_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	integration		text NOT NULL,
	relation		pg_catalog.regclass NOT NULL,
	relation_name	text NOT NULL,		/* schema-qualified name last seen */
	method			text NOT NULL CHECK (method IN ('full_table', 'key_based', 'log_based')),
	replication_key name,
	key_columns		name[] NOT NULL,	/* '{}' = append-only */
	columns			name[],				/* NULL = all columns */
	destination_table text NOT NULL,
	bookmark		text,				/* greatest accepted key, ISO text; log_based:
										 * the slot LSN its changes are accepted
										 * to, NULL until its copy is complete */
	bookmark_type	pg_catalog.regtype,
	resume_position text[],			/* full_table: last accepted key tuple */
	table_version	bigint,			/* Singer table version of the current full run */
	completed_version bigint,		/* full_table: last version a Singer target confirmed */
	status			text NOT NULL DEFAULT 'pending',
	last_error		text,
	tracked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK ((method = 'key_based') = (replication_key IS NOT NULL)),
	UNIQUE (integration, relation),
	UNIQUE (integration, destination_table)
);
COMMENT ON TABLE pgpull.stream IS 'tracked relations, one row per integration and relation; read through pgpull.streams';
COMMENT ON COLUMN pgpull.stream.completed_version IS 'full_table: the last table version a Singer target confirmed complete (pgpull.commit_state)';

/*
 * Key ranges, for pullers that read one stream in parallel (--jobs,
 * 72_ranges.sql): a full_table stream split into ranges of its first key
 * column (bounds: one-value JSON arrays, the prefix of a position; the
 * resume position: a whole position, as resume_position), each read and
 * resumed on its own, the stream complete when every range of its table
 * version is.  Empty while streams are read as one range, whose resume
 * position is pgpull.stream.resume_position.
 */
CREATE TABLE pgpull.stream_range (
	stream_id		bigint NOT NULL REFERENCES pgpull.stream ON DELETE CASCADE,
	range_no		integer NOT NULL CHECK (range_no >= 0),
	table_version	bigint,			/* full_table: the version the ranges were cut for */
	lower_position	text,			/* exclusive; NULL = from the first row */
	upper_position	text,			/* inclusive; NULL = to the last row */
	resume_position text,			/* last accepted position in the range */
	status			text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'done')),
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	run_id			bigint,			/* the run reading it, or that read it last */
	PRIMARY KEY (stream_id, range_no)
);
COMMENT ON TABLE pgpull.stream_range IS 'key ranges of a stream read in parallel, each with its own resume position (empty while streams are read as one range)';
COMMENT ON COLUMN pgpull.stream_range.run_id IS 'the run reading the range (status running), or the run that read it last';

CREATE TABLE pgpull.runs (
	run_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	integration		text NOT NULL,
	started_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ended_at		timestamptz,
	status			text NOT NULL DEFAULT 'running'
		CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
	puller_version	text,
	target			text,				/* destination kind, never a token */
	error			text
);
COMMENT ON TABLE pgpull.runs IS 'one row per puller run';

CREATE TABLE pgpull.run_streams (
	run_id			bigint NOT NULL REFERENCES pgpull.runs ON DELETE CASCADE,
	stream_id		bigint NOT NULL REFERENCES pgpull.stream ON DELETE CASCADE,
	started_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ended_at		timestamptz,
	status			text NOT NULL DEFAULT 'running'
		CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
	rows_extracted	bigint NOT NULL DEFAULT 0,
	rows_loaded		bigint NOT NULL DEFAULT 0,
	batches			bigint NOT NULL DEFAULT 0,
	bytes			bigint NOT NULL DEFAULT 0,
	bookmark_before text,
	bookmark_after	text,
	error			text,
	last_batch_at	timestamptz,
	lossy_values	bigint NOT NULL DEFAULT 0,
	watermark_warned boolean NOT NULL DEFAULT false,
	columns			name[],			/* the stream's columns when the run took it */
	cap				text,			/* the lowest commit-safe cap of rows read past it */
	rows_resent		bigint NOT NULL DEFAULT 0,
	streaming		boolean NOT NULL DEFAULT false,	/* log_based: changes from the slot */
	copied			boolean NOT NULL DEFAULT false,	/* log_based: the run's copy went to its end */
	PRIMARY KEY (run_id, stream_id)
);
CREATE INDEX run_streams_stream_id_started_at_idx ON pgpull.run_streams (stream_id, started_at);
COMMENT ON TABLE pgpull.run_streams IS 'one row per stream synced in a run: counts, bookmarks, outcome';
COMMENT ON COLUMN pgpull.run_streams.last_batch_at IS 'when the destination last accepted a batch of the stream in this run';
COMMENT ON COLUMN pgpull.run_streams.lossy_values IS 'values of accepted rows mapped lossily to null (NaN, infinite dates, ...)';
COMMENT ON COLUMN pgpull.run_streams.watermark_warned IS 'whether the run logged its one commit-safe watermark warning for the stream';
COMMENT ON COLUMN pgpull.run_streams.columns IS 'the columns the run extracts, fixed when it took the stream: a column added meanwhile is sent from the next run on';
COMMENT ON COLUMN pgpull.run_streams.cap IS 'the lowest commit-safe cap of the rows the run read at or after it (ISO text): the bookmark stays at or below it';
COMMENT ON COLUMN pgpull.run_streams.copied IS 'log_based: the run copied the relation to its end (a Singer target confirms it with the stream''s changes)';
COMMENT ON COLUMN pgpull.run_streams.streaming IS 'log_based: the run sends the stream''s changes from the replication slot (after its copy, if it made one)';
COMMENT ON COLUMN pgpull.run_streams.rows_resent IS 'rows the run read at or after its commit-safe cap: sent now, and again by the next run';

CREATE TABLE pgpull.extraction_log (
	log_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	logged_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	run_id			bigint REFERENCES pgpull.runs ON DELETE CASCADE,
	stream_id		bigint REFERENCES pgpull.stream ON DELETE SET NULL,
	level			text NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
	message			text NOT NULL
);
COMMENT ON TABLE pgpull.extraction_log IS 'timestamped lines of what each run did, stream by stream';

/*
 * How long runs are kept (87_housekeeping.sql): per integration, or for
 * every integration without a setting of its own (integration NULL);
 * 60 days when there is no row.  The puller prunes older runs, their run
 * streams and extraction log lines at the end of each run.
 */
CREATE TABLE pgpull.retention (
	integration		text,				/* NULL: every integration */
	keep			interval NOT NULL CHECK (keep > interval '0'),
	set_at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE NULLS NOT DISTINCT (integration)
);
COMMENT ON TABLE pgpull.retention IS 'how long runs are kept, per integration (NULL: every integration without a setting of its own); set with pgpull.set_retention';

/*
 * The figures of the runs pruned (87_housekeeping.sql), per stream, so that
 * the counters of pgpull.stream_metrics never go back when old runs go.
 */
CREATE TABLE pgpull.stream_pruned (
	stream_id		bigint PRIMARY KEY REFERENCES pgpull.stream ON DELETE CASCADE,
	rows_loaded		bigint NOT NULL DEFAULT 0,
	batches			bigint NOT NULL DEFAULT 0,
	bytes			bigint NOT NULL DEFAULT 0,
	retries			bigint NOT NULL DEFAULT 0,
	pruned_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pgpull.stream_pruned IS 'per stream, the sums of its runs pruned from pgpull.run_streams, added to the counters of pgpull.stream_metrics';

/*
 * The logical replication slot of each integration with log-based streams
 * (77_logical.sql): one per database and integration, made by the puller
 * (whose role has REPLICATION) on the first run that needs it and dropped
 * by the first run after the integration's last log-based stream went.
 * Not registered for pg_dump: a slot is not dumped either, and a restored
 * database copies its log-based streams again.
 */
CREATE TABLE pgpull.integration_slot (
	integration		text PRIMARY KEY,
	slot_name		name NOT NULL UNIQUE,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_run_id	bigint,
	consistent_lsn	pg_catalog.pg_lsn NOT NULL,	/* the slot's first change is after it */
	confirmed_lsn	pg_catalog.pg_lsn,			/* the last flush position the puller confirmed */
	confirmed_at	timestamptz
);
COMMENT ON TABLE pgpull.integration_slot IS 'the logical replication slot of each integration with log-based streams, as the puller made it';

/*
 * The roles that may run an integration (35_integrations.sql), by name, so
 * that grants survive a dump restored where the roles have other OIDs.
 */
CREATE TABLE pgpull.integration_grant (
	integration		text NOT NULL,
	role_name		name NOT NULL,
	granted_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (integration, role_name)
);
COMMENT ON TABLE pgpull.integration_grant IS 'the roles that may run each integration (pgpull.grant_integration)';

SELECT pg_catalog.pg_extension_config_dump('pgpull.stream', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_range', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.runs', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.run_streams', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.extraction_log', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.extraction_log_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.integration_grant', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.retention', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_pruned', '');

/*
 * The identity of the database the extension was created in: one row, a
 * random UUID.  A streaming standby replays it, so a replica has the
 * identity of its primary; it is not registered for pg_dump, so a restored
 * copy gets a new one from CREATE EXTENSION.  The puller compares it on its
 * source and state connections (pgpull.database_id()), which must be the
 * same database or a replica of it.
 */
CREATE TABLE pgpull.database_identity (
	database_id		uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	one_row			boolean NOT NULL DEFAULT true UNIQUE CHECK (one_row)
);
COMMENT ON TABLE pgpull.database_identity IS 'the identity of this database (one row): the same on its replicas, new in a restored copy';
INSERT INTO pgpull.database_identity DEFAULT VALUES;

/*
 * The secret of each integration, for the MAC of the bookmarks in its
 * Singer states (80_singer.sql): made on first use, read only by the
 * extension's functions.  Not registered for pg_dump: a restored database
 * makes new secrets, and states written before are rejected, so their rows
 * are sent again (at-least-once).
 */
CREATE TABLE pgpull.integration_secret (
	integration		text PRIMARY KEY,
	secret			bytea NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pgpull.integration_secret IS 'internal: the key of the MACs in each integration''s Singer states (never readable by the puller''s role)';

/*
 * Samples of the open transactions of the database, taken on the state
 * connection, from which the run protocol caps date and time bookmarks
 * (75_watermark.sql).
 */
CREATE TABLE pgpull.watermark_sample (
	sample_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	taken_at		timestamptz NOT NULL,
	xid				pg_catalog.xid8 NOT NULL,	/* taken after reading the open transactions */
	cap				timestamptz NOT NULL,		/* no open transaction started before it */
	oldest_pid		integer,					/* the open transaction that set the cap */
	oldest_start	timestamptz,
	writers			integer NOT NULL,			/* open transactions holding an ID */
	hidden			integer NOT NULL,			/* open transactions whose start was not visible */
	oldest_application text						/* the application_name of oldest_pid */
);
CREATE INDEX watermark_sample_taken_at_idx ON pgpull.watermark_sample (taken_at);
COMMENT ON TABLE pgpull.watermark_sample IS 'internal: samples of the open transactions, for the commit-safe cap of date and time replication keys (kept 3 days)';
