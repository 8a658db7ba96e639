/* extension/pgpull--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgpull" to load this file. \quit

/*
 * pgpull 1.0: the SQL side of pgpull.
 *
 * Plain SQL and PL/pgSQL only, so the script installs unchanged through
 * pg_tle on managed servers: it creates and qualifies its own schema, needs
 * no superuser, and avoids pg_tle's reserved dollar-quote tags.  Every
 * built-in is pg_catalog-qualified; every function pins its search_path.
 */

CREATE SCHEMA pgpull;
COMMENT ON SCHEMA pgpull IS 'pgpull: replication catalog, grant scripts, privilege audit, type mapping';
REVOKE ALL ON SCHEMA pgpull FROM PUBLIC;

/*
 * The catalog.  Tables are written only through the functions below; no
 * role but the extension owner has any privilege on them.
 */

CREATE TABLE pgpull.stream (
	stream_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	integration		text NOT NULL,
	relation		pg_catalog.regclass NOT NULL,
	relation_name	text NOT NULL,		/* schema-qualified name last seen */
	method			text NOT NULL CHECK (method IN ('full_table', 'key_based')),
	replication_key name,
	key_columns		name[] NOT NULL,	/* '{}' = append-only */
	columns			name[],				/* NULL = all columns */
	destination_table text NOT NULL,
	bookmark		text,				/* greatest accepted key, ISO text */
	bookmark_type	pg_catalog.regtype,
	resume_position text[],			/* full_table: last accepted key tuple */
	table_version	bigint,			/* Singer table version of the current full run */
	status			text NOT NULL DEFAULT 'pending',
	last_error		text,
	tracked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK ((method = 'key_based') = (replication_key IS NOT NULL)),
	UNIQUE (integration, relation),
	UNIQUE (integration, destination_table)
);
COMMENT ON TABLE pgpull.stream IS 'tracked relations, one row per integration and relation; read through pgpull.streams';

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
	PRIMARY KEY (run_id, stream_id)
);
COMMENT ON TABLE pgpull.run_streams IS 'one row per stream synced in a run: counts, bookmarks, outcome';

CREATE TABLE pgpull.extraction_log (
	log_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	logged_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	run_id			bigint REFERENCES pgpull.runs ON DELETE CASCADE,
	stream_id		bigint REFERENCES pgpull.stream ON DELETE SET NULL,
	level			text NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
	message			text NOT NULL
);
COMMENT ON TABLE pgpull.extraction_log IS 'timestamped lines of what each run did, stream by stream';

SELECT pg_catalog.pg_extension_config_dump('pgpull.stream', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.runs', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.run_streams', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.extraction_log', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.extraction_log_log_id_seq', '');

REVOKE ALL ON pgpull.stream, pgpull.runs, pgpull.run_streams, pgpull.extraction_log FROM PUBLIC;

/*
 * destination_schema_name: the destination schema an integration loads
 * into, derived the way Stitch derives it from the integration's name.
 */
CREATE FUNCTION pgpull.destination_schema_name(integration text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_name text;
BEGIN
	v_name := pg_catalog.lower(destination_schema_name.integration COLLATE "C");
	v_name := pg_catalog.regexp_replace(v_name, '[^a-z0-9_]+', '_', 'g');
	v_name := pg_catalog.btrim(v_name, '_');
	IF v_name ~ '^[0-9]' THEN
		v_name := '_' || v_name;
	END IF;
	/* only ASCII is left, so 63 characters are 63 bytes */
	v_name := pg_catalog.rtrim(pg_catalog.left(v_name, 63), '_');
	IF v_name = '' THEN
		RAISE EXCEPTION 'integration name "%" gives an empty destination schema name',
			destination_schema_name.integration
			USING ERRCODE = '22023',
				  DETAIL = 'A destination schema name keeps only ASCII letters, digits and underscores.',
				  HINT = 'Name the integration with at least one ASCII letter or digit.';
	END IF;
	RETURN v_name;
END
$fn$;
COMMENT ON FUNCTION pgpull.destination_schema_name(text) IS 'destination schema of an integration: lower case, runs of other characters as one underscore, at most 63 bytes';
