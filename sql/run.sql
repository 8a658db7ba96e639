-- run: the run protocol as the puller drives it (begin_run, take_stream,
-- extraction_query, record_batch, log, end_stream, end_run) and the
-- loading report
\set SHOW_CONTEXT never
-- the NOTICE lines the extension raises for the puller carry table versions
SET client_min_messages = warning;
-- regress_pull.sync drives a run as the puller does, regress_pull.masked
-- shows an error without IDs (both from setup)

-- whether this session holds the advisory lock of a stream
CREATE FUNCTION pg_temp.locked(stream bigint) RETURNS boolean
LANGUAGE sql AS $$
	SELECT EXISTS (SELECT FROM pg_locks l
					WHERE l.locktype = 'advisory' AND l.classid = hashtext('pgpull')::oid
					  AND l.objid = stream::oid AND l.objsubid = 2 AND l.pid = pg_backend_pid())
$$;

-- the hint of the error a statement raises
CREATE FUNCTION pg_temp.hint_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_hint text;
BEGIN
	EXECUTE statement;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
	RETURN v_hint;
END
$$;

-- a text with the days around now (and times on them: a commit-safe cap,
-- which is about now) shown as <now>
CREATE FUNCTION pg_temp.at_now(t text) RETURNS text
LANGUAGE sql AS $$
	SELECT regexp_replace(t, '(' || string_agg(to_char(d, 'YYYY-MM-DD'), '|') || ')(T[0-9:.]+Z)?', '<now>', 'g')
	  FROM generate_series(now() AT TIME ZONE 'UTC' - interval '2 days', now() AT TIME ZONE 'UTC' + interval '1 day',
						   interval '1 day') AS d
$$;

SELECT pgpull.version() = (SELECT extversion FROM pg_extension WHERE extname = 'pgpull') AS version_ok,
	   pgpull._lock_class() = hashtext('pgpull') AS lock_class_ok;

-- the functions the puller calls: SECURITY DEFINER with a pinned search_path, not PUBLIC's
SELECT f::regprocedure AS function, p.prosecdef AS security_definer,
	   p.proconfig @> '{"search_path=pg_catalog, pg_temp"}' AS search_path_pinned,
	   has_function_privilege('public', f::regprocedure, 'EXECUTE') AS public_execute
  FROM unnest(pgpull._puller_functions()) AS f
  JOIN pg_proc p ON p.oid = f::regprocedure
 ORDER BY f COLLATE "C";

--
-- key_based on a timestamptz, chunks of 2 rows
--
CREATE TABLE regress_items (id integer PRIMARY KEY, name text, updated_at timestamptz);
INSERT INTO regress_items VALUES
	(1, 'a', '2024-01-01 10:00:00+00'),
	(2, 'b', '2024-01-02 10:00:00+00'),
	(3, 'c', '2024-01-02 10:00:00+00'),
	(4, 'd', '2024-01-02 10:00:00+00'),
	(5, 'e', '2024-01-03 10:00:00.5+00'),
	(6, 'f', NULL),
	(7, 'g', NULL);
SELECT pgpull.track('regress_items', 'key_based', 'updated_at', integration => 'regress');
SELECT stream_id AS items FROM pgpull.stream WHERE destination_table = 'regress_items' \gset

SELECT destination_table, relation_name, method, replication_key, bookmark, run_id IS NOT NULL AS has_run
  FROM pgpull.begin_run('regress', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT pg_temp.locked(:items) AS locked_before_take;
SELECT taken, json_schema->'properties' ? 'updated_at' AS schema_ok, key_names, bookmark_properties,
	   chunked, table_version
  FROM pgpull.take_stream(:run, :items);
SELECT pg_temp.locked(:items) AS locked_after_take;
-- NULL keys first (first run), then by key and id: the three equal keys span a chunk
-- boundary
SELECT * FROM regress_pull.sync(:run, :items, 2);
SELECT bookmark FROM pgpull.streams WHERE stream_id = :items;
SELECT pgpull.end_stream(:run, :items, 'succeeded', 7, NULL);
SELECT pg_temp.locked(:items) AS locked_after_end;
SELECT pgpull.end_run(:run, 'succeeded', NULL);
SELECT status, rows_extracted, rows_loaded, batches, bookmark_before, bookmark_after, lossy_values
  FROM pgpull.run_streams WHERE run_id = :run;

-- second run: rows after the bookmark only (a time key: not row 5 again, nor row 9,
-- written later with the bookmark's key, as no row written with a key below the
-- bookmark is; row 3 updated); NULL keys skipped and counted
UPDATE regress_items SET updated_at = '2024-01-04 00:00:00+00', name = 'c2' WHERE id = 3;
INSERT INTO regress_items VALUES (9, 'i', '2024-01-03 10:00:00.5+00'), (10, 'j', NULL);
SELECT count(*) AS streams FROM pgpull.begin_run('regress', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken FROM pgpull.take_stream(:run, :items);
SELECT * FROM regress_pull.sync(:run, :items, 2);
-- the bookmark never moves backwards, and a batch recorded twice changes nothing
SELECT pgpull.record_batch(:run, :items, 1, 10, '["2024-01-01T10:00:00Z","1"]', 0);
SELECT pgpull.record_batch(:run, :items, 1, 10, '["2024-01-04T00:00:00Z","3"]', 0);
SELECT bookmark FROM pgpull.streams WHERE stream_id = :items;
-- the same query, planned in its own transaction and run in another, after a
-- position (rows of the same key after its id, then greater keys)
SELECT pgpull.extraction_query(:run, :items, '["2024-01-03T10:00:00.5Z","5"]', 10) AS q \gset
SELECT pgpull_p1, pgpull_p2, lossy, row_json FROM (:q) AS chunk;
SELECT pgpull.end_stream(:run, :items, 'succeeded', 3, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);

-- third run: a row from the future is past the commit-safe cap (now): it is
-- sent, and the bookmark stays at the cap, so the next run sends it again
INSERT INTO regress_items VALUES (8, 'future', '2999-01-01 00:00:00+00');
SELECT count(*) AS streams FROM pgpull.begin_run('regress', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken FROM pgpull.take_stream(:run, :items);
SELECT * FROM regress_pull.sync(:run, :items, 10);
SELECT pg_temp.at_now(bookmark) AS bookmark FROM pgpull.streams WHERE stream_id = :items;
SELECT rows_loaded, rows_resent, pg_temp.at_now(cap) AS cap, pg_temp.at_now(bookmark_after) AS bookmark_after
  FROM pgpull.run_streams WHERE run_id = :run;
-- a cap that does not read as the key's type, or on a stream without one
SELECT regress_pull.masked(format('SELECT pgpull.record_cap(%s, %s, %L, 1)', :run, :items, 'soon'));
SELECT regress_pull.masked(format('SELECT pgpull.record_cap(%s, %s, NULL, 1)', :run, :items));
SELECT pgpull.end_stream(:run, :items, 'succeeded', 2, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);

-- the extraction log of the stream
SELECT level, pg_temp.at_now(message) AS message FROM pgpull.extraction_log
 WHERE stream_id = :items AND level <> 'DEBUG' ORDER BY log_id;
SELECT count(*) AS debug_lines FROM pgpull.extraction_log WHERE stream_id = :items AND level = 'DEBUG';
-- samples of the open transactions, for the commit-safe cap
SELECT count(*) > 0 AS sampled FROM pgpull.watermark_sample;

--
-- full_table, composite key: an interrupted run resumes after the last accepted
-- position, with the same table version
--
CREATE TABLE regress_full (a integer, b text, PRIMARY KEY (a, b));
INSERT INTO regress_full VALUES (1, 'x'), (1, 'y'), (2, 'x'), (3, 'x'), (3, 'z');
SELECT pgpull.track('regress_full', 'full_table', integration => 'regress_ft');
SELECT stream_id AS full FROM pgpull.stream WHERE destination_table = 'regress_full' \gset
SELECT count(*) AS streams FROM pgpull.begin_run('regress_ft', '1.0', 'singer');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken, key_names, bookmark_properties, chunked, table_version AS version1
  FROM pgpull.take_stream(:run, :full) \gset
SELECT :'taken' AS taken, :'key_names' AS key_names, :'bookmark_properties' AS bookmark_properties,
	   :'chunked' AS chunked;
SELECT * FROM regress_pull.sync(:run, :full, 2, 1);
SELECT resuming FROM pgpull.streams WHERE stream_id = :full;
-- the puller dies: its connection (and so its advisory locks) goes, nothing is ended
SELECT pg_advisory_unlock_all();
SELECT count(*) AS streams FROM pgpull.begin_run('regress_ft', '1.0', 'singer');
SELECT status, error FROM pgpull.runs WHERE run_id = :run;
SELECT status, error FROM pgpull.run_streams WHERE run_id = :run;
SELECT status, last_error FROM pgpull.streams WHERE stream_id = :full;
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken, table_version = :version1 AS same_version FROM pgpull.take_stream(:run, :full);
-- an older position never moves the resume position back
SELECT pgpull.record_batch(:run, :full, 0, 0, '["1","x"]', 0);
SELECT resume_position FROM pgpull.stream WHERE stream_id = :full;
SELECT * FROM regress_pull.sync(:run, :full, 2);
SELECT pgpull.end_stream(:run, :full, 'succeeded', 3, NULL);
SELECT resuming, status FROM pgpull.streams WHERE stream_id = :full;
SELECT pgpull.end_run(:run, 'succeeded', NULL);
-- a finished full run starts over next time, with a new table version
SELECT count(*) AS streams FROM pgpull.begin_run('regress_ft', '1.0', 'singer');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken, table_version > :version1 AS new_version FROM pgpull.take_stream(:run, :full);
SELECT count(*) AS rows FROM regress_pull.sync(:run, :full, NULL);
SELECT pgpull.end_stream(:run, :full, 'succeeded', 5, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);
SELECT level, regexp_replace(message, '\d{10,}', 'V') AS message FROM pgpull.extraction_log
 WHERE stream_id = :full AND level <> 'DEBUG' ORDER BY log_id;
SELECT level, regexp_replace(message, 'run \d+', 'run N') AS message FROM pgpull.extraction_log
 WHERE run_id IN (SELECT run_id FROM pgpull.runs WHERE integration = 'regress_ft') AND stream_id IS NULL
 ORDER BY log_id;

--
-- hostile names, a timestamp key, a view without key columns (one pass)
--
CREATE SCHEMA "regress ""run""";
CREATE TABLE "regress ""run"""."Odd ""T""" ("I d" integer PRIMARY KEY, "Up Dated" timestamp, "v" numeric);
INSERT INTO "regress ""run"""."Odd ""T""" VALUES
	(1, '2024-02-29 12:34:56.789', 'NaN'), (2, '2024-03-01 00:00:00', 1.5), (3, '0044-03-15 12:00:00 BC', 2);
CREATE VIEW "regress ""run""".v AS SELECT "I d" AS id, "v" FROM "regress ""run"""."Odd ""T""";
SELECT pgpull.track('"regress ""run"""."Odd ""T"""', 'key_based', 'Up Dated', integration => 'regress "odd"');
SELECT pgpull.track('"regress ""run""".v', 'full_table', key_columns => '{}', integration => 'regress "odd"');
CREATE TABLE "regress ""run""".days (id integer PRIMARY KEY, day date);
INSERT INTO "regress ""run""".days VALUES (1, '2024-01-01'), (2, '2024-01-01'), (3, 'infinity'), (4, '-infinity'),
	(5, '0001-01-01 BC'), (6, NULL);
SELECT pgpull.track('"regress ""run""".days', 'key_based', 'day', integration => 'regress "odd"');
SELECT destination_table, relation_name, method, replication_key
  FROM pgpull.begin_run('regress "odd"', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT stream_id AS odd FROM pgpull.stream WHERE destination_table = 'Odd "T"' \gset
SELECT stream_id AS view FROM pgpull.stream WHERE destination_table = 'v' \gset
SELECT stream_id AS days FROM pgpull.stream WHERE destination_table = 'days' \gset
SELECT taken, key_names, bookmark_properties, chunked FROM pgpull.take_stream(:run, :odd);
SELECT * FROM regress_pull.sync(:run, :odd, 2);
SELECT bookmark FROM pgpull.streams WHERE stream_id = :odd;
SELECT taken, key_names, bookmark_properties, chunked, table_version IS NOT NULL AS has_version
  FROM pgpull.take_stream(:run, :view);
SELECT * FROM regress_pull.sync(:run, :view, NULL) ORDER BY row_json COLLATE "C";
SELECT pgpull.extraction_query(:run, :view, '[]', 2);
\echo :LAST_ERROR_SQLSTATE
-- date keys: positions as dates; infinity is past the cap like any future key:
-- sent, with the bookmark at the day of the cap
SELECT taken FROM pgpull.take_stream(:run, :days);
SELECT * FROM regress_pull.sync(:run, :days, 3);
SELECT pg_temp.at_now(bookmark) AS bookmark FROM pgpull.streams WHERE stream_id = :days;
SELECT pgpull.end_stream(:run, :days, 'succeeded', 5, NULL);
SELECT pgpull.end_stream(:run, :odd, 'succeeded', 3, NULL);
SELECT pgpull.end_stream(:run, :view, 'succeeded', 3, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);

--
-- a dropped table: 42P01 at take_stream, the stream in error, the others go on
--
CREATE TABLE regress_gone (id integer PRIMARY KEY);
SELECT pgpull.track('regress_gone', 'full_table', integration => 'regress');
SELECT stream_id AS gone FROM pgpull.stream WHERE destination_table = 'regress_gone' \gset
DROP TABLE regress_gone;
SELECT destination_table, relation_name FROM pgpull.begin_run('regress', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT status, last_error FROM pgpull.streams WHERE stream_id = :gone;
-- the hint names the call that untracks it
SELECT regress_pull.masked(format('SELECT pgpull.take_stream(%s, %s)', :run, :gone));
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.hint_of(format('SELECT pgpull.take_stream(%s, %s)', :run, :gone))
	   LIKE format('%%SELECT pgpull.untrack_stream(%s);', :gone) AS hint_names_stream;
SELECT pg_temp.locked(:gone) AS locked;
SELECT pgpull.end_stream(:run, :gone, 'failed', 0, 'relation "public.regress_gone" of stream "regress_gone" no longer exists');
SELECT status, error FROM pgpull.run_streams WHERE run_id = :run AND stream_id = :gone;
SELECT status, last_error FROM pgpull.streams WHERE stream_id = :gone;
SELECT taken FROM pgpull.take_stream(:run, :items);
SELECT count(*) AS rows FROM regress_pull.sync(:run, :items, 100);
SELECT pgpull.end_stream(:run, :items, 'succeeded', 3, NULL);
SELECT pgpull.end_run(:run, 'failed', 'a stream failed');

--
-- bad input
--
SELECT * FROM pgpull.begin_run(NULL, '1.0', 'import_api');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.begin_run('regress', '1.0', 'https://user:secret@example.com');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.take_stream(-1, :items);
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.take_stream(%s, %s)', :run, :items));
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS streams FROM pgpull.begin_run('regress', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT * FROM pgpull.take_stream(:run, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.take_stream(%s, %s)', :run, :full));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.extraction_query(%s, %s, NULL, 10)', :run, :items));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.record_batch(%s, %s, 1, 1, NULL, 0)', :run, :items));
\echo :LAST_ERROR_SQLSTATE
SELECT taken FROM pgpull.take_stream(:run, :items);
SELECT pgpull.extraction_query(:run, :items, NULL, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.extraction_query(:run, :items, '["2024-01-01T00:00:00Z"]', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.extraction_query(:run, :items, '["not a time","1"]', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.extraction_query(:run, :items, '["2024-01-01T00:00:00Z",null]', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.extraction_query(:run, :items, '["2024-01-01T00:00:00Z","1"]; DROP TABLE regress_items', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.record_batch(:run, :items, -1, 1, NULL, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.log(:run, :items, 'NOTICE', 'hello');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.log(-1, NULL, 'INFO', 'hello');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.log(:run, NULL, 'warning', 'run-level line');
SELECT pgpull.end_stream(:run, :items, 'done', 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.end_run(:run, 'maybe', NULL);
\echo :LAST_ERROR_SQLSTATE
-- end_run fails what is still running and releases the locks
SELECT pgpull.end_run(:run, 'failed', 'interrupted');
SELECT pg_temp.locked(:items) AS locked;
SELECT status, error FROM pgpull.run_streams WHERE run_id = :run;
SELECT regress_pull.masked(format('SELECT pgpull.record_batch(%s, %s, 1, 1, NULL, 0)', :run, :items));
\echo :LAST_ERROR_SQLSTATE
SELECT level, pg_temp.at_now(message) AS message FROM pgpull.extraction_log WHERE run_id = :run ORDER BY log_id;

-- an integration without streams: one row, run_id only
SELECT run_id IS NOT NULL AS has_run, stream_id, destination_table
  FROM pgpull.begin_run('regress nothing', '1.0', 'singer');
-- a session that begins a new run is done with its old one, when it holds no stream of it
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT count(*) AS streams FROM pgpull.begin_run('regress nothing', '1.0', 'singer');
SELECT status FROM pgpull.runs WHERE run_id = :run;
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT pgpull.end_run(:run, 'succeeded', NULL);

--
-- runs with nothing new: probe_query writes the statement (run on the source) that
-- names the key_based streams with no row past their bookmark ("> bookmark" for date
-- and time keys, ">= bookmark" for the others, whose ties go again); record_unchanged
-- records them without taking them, and moves no bookmark
--
CREATE TABLE regress_quiet (id integer PRIMARY KEY, at timestamptz);
CREATE TABLE regress_quiet_n (id integer PRIMARY KEY, n integer);
CREATE TABLE regress_quiet_f (id integer PRIMARY KEY);
INSERT INTO regress_quiet VALUES (1, '2024-01-01 00:00:00+00'), (2, '2024-01-02 00:00:00+00');
INSERT INTO regress_quiet_n VALUES (1, 10), (2, 20);
SELECT pgpull.track('regress_quiet', 'key_based', 'at', integration => 'regress_q');
SELECT pgpull.track('regress_quiet_n', 'key_based', 'n', integration => 'regress_q');
SELECT pgpull.track('regress_quiet_f', 'full_table', integration => 'regress_q');
SELECT stream_id AS quiet_f FROM pgpull.stream WHERE destination_table = 'regress_quiet_f' \gset
SELECT stream_id AS quiet FROM pgpull.stream WHERE destination_table = 'regress_quiet' \gset
SELECT stream_id AS quiet_n FROM pgpull.stream WHERE destination_table = 'regress_quiet_n' \gset
SELECT count(*) AS streams FROM pgpull.begin_run('regress_q', '1.1', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
-- no bookmark yet: nothing to probe
SELECT pgpull.probe_query(:run) IS NULL AS nothing_to_probe;
SELECT taken FROM pgpull.take_stream(:run, :quiet);
SELECT count(*) AS rows FROM regress_pull.sync(:run, :quiet, 10);
SELECT pgpull.end_stream(:run, :quiet, 'succeeded', 2, NULL);
SELECT taken FROM pgpull.take_stream(:run, :quiet_n);
SELECT count(*) AS rows FROM regress_pull.sync(:run, :quiet_n, 10);
SELECT pgpull.end_stream(:run, :quiet_n, 'succeeded', 2, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);
-- the next run: an index-friendly EXISTS per stream, the bookmark cast to the key's type
SELECT count(*) AS streams FROM pgpull.begin_run('regress_q', '1.1', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT pgpull.probe_query(:run) AS probe \gset
SELECT regexp_replace(:'probe', '\(\d+::', '(N::', 'g') AS probe;
-- the integer key still has its tie at the bookmark: only the timestamptz stream is quiet
SELECT stream_id = :quiet AS quiet FROM (:probe) AS p;
SELECT stream_id = :quiet AS quiet, message, entry FROM pgpull.record_unchanged(:run, ARRAY[:quiet]::bigint[]);
SELECT status, rows_extracted, rows_loaded, batches, bookmark_before = bookmark_after AS bookmark_kept
  FROM pgpull.run_streams WHERE run_id = :run;
SELECT status, bookmark FROM pgpull.streams WHERE stream_id = :quiet;
SELECT pg_temp.locked(:quiet) AS locked;
-- a stream recorded already, one without a bookmark, one of another integration, NULL
SELECT regress_pull.masked(format('SELECT pgpull.record_unchanged(%s, ARRAY[%s]::bigint[])', :run, :quiet));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.record_unchanged(%s, ARRAY[%s]::bigint[])', :run, :quiet_f));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.record_unchanged(%s, ARRAY[%s]::bigint[])', :run, :items));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.record_unchanged(%s, NULL)', :run));
\echo :LAST_ERROR_SQLSTATE
-- nothing left to probe once the streams are in the run
SELECT taken FROM pgpull.take_stream(:run, :quiet_n);
SELECT pgpull.probe_query(:run) IS NULL AS nothing_to_probe;
SELECT count(*) AS rows FROM regress_pull.sync(:run, :quiet_n, 10);
SELECT pgpull.end_stream(:run, :quiet_n, 'succeeded', 1, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);
-- a row past the bookmark: the stream has something new again
INSERT INTO regress_quiet VALUES (3, '2024-01-03 00:00:00+00');
SELECT count(*) AS streams FROM pgpull.begin_run('regress_q', '1.1', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT pgpull.probe_query(:run) AS probe \gset
SELECT count(*) AS quiet_streams FROM (:probe) AS p;
-- an ended run records nothing
SELECT pgpull.end_run(:run, 'succeeded', NULL);
SELECT regress_pull.masked(format('SELECT pgpull.record_unchanged(%s, ARRAY[%s]::bigint[])', :run, :quiet));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.probe_query(%s)', :run));
\echo :LAST_ERROR_SQLSTATE
-- a Singer run gets the bookmark entry of each stream recorded, for its STATE
-- messages; confirmed, it moves nothing
DELETE FROM regress_quiet WHERE id = 3;
SELECT count(*) AS streams FROM pgpull.begin_run('regress_q', '1.1', 'singer');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT entry AS entry FROM pgpull.record_unchanged(:run, ARRAY[:quiet]::bigint[]) \gset
SELECT e - 'mac' - 'stream_id' AS entry, length(e ->> 'mac') AS mac_length
  FROM (SELECT :'entry'::jsonb AS e) AS x;
SELECT stream, moved, bookmark, detail
  FROM pgpull.commit_state(jsonb_build_object('pgpull', jsonb_build_object('version', 1, 'integration', 'regress_q',
																		   'run_id', :run),
											  'bookmarks', jsonb_build_object('regress_quiet', :'entry'::jsonb)));
SELECT pgpull.end_run(:run, 'succeeded', NULL);
SELECT level, message FROM pgpull.extraction_log
 WHERE stream_id = :quiet AND message LIKE 'nothing new%' ORDER BY log_id;

-- the loading report
SELECT integration, destination_table, relation, method, last_load_at IS NOT NULL AS loaded,
	   last_status, rows_loaded_24h, pg_temp.at_now(max_bookmark) AS max_bookmark
  FROM pgpull.loading_report
 WHERE integration LIKE 'regress%'
 ORDER BY integration COLLATE "C", destination_table COLLATE "C";

--
-- the dropped table's stream: its name no longer resolves, so untrack cannot
-- name it; untrack_stream can
--
SELECT pgpull.untrack('public.regress_gone', 'regress');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.untrack_stream(:gone);
SELECT count(*) AS streams_left FROM pgpull.streams WHERE stream_id = :gone;
SELECT regress_pull.masked(format('SELECT pgpull.untrack_stream(%s)', :gone));
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.untrack_stream(NULL);
\echo :LAST_ERROR_SQLSTATE

--
-- after reset, the log says so rather than "first run"
--
SELECT pgpull.reset('regress_items', 'regress');
SELECT count(*) AS streams FROM pgpull.begin_run('regress', '1.0', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken FROM pgpull.take_stream(:run, :items);
SELECT message FROM pgpull.extraction_log WHERE run_id = :run AND message LIKE 'stream taken%';
SELECT count(*) AS rows FROM regress_pull.sync(:run, :items, 100);
SELECT pgpull.end_stream(:run, :items, 'succeeded', 9, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);

--
-- a relation the puller's role cannot read: track says so, naming what is
-- missing and the calls that fix it, and extraction_query refuses it with
-- the same hint instead of a bare "permission denied" from the source
--
CREATE SCHEMA regress_hr;
CREATE TABLE regress_hr.salaries (id integer PRIMARY KEY, amount numeric, secret text);
CREATE ROLE regress_reader;
GRANT USAGE ON SCHEMA pgpull TO regress_reader;
GRANT EXECUTE ON FUNCTION pgpull.begin_run(text, text, text), pgpull.take_stream(bigint, bigint),
	pgpull.extraction_query(bigint, bigint, text, integer), pgpull.end_stream(bigint, bigint, text, bigint, text),
	pgpull.end_run(bigint, text, text) TO regress_reader;
GRANT USAGE ON SCHEMA regress_pull TO regress_reader;
SELECT pgpull.grant_integration('regress_priv', 'regress_reader');
SET client_min_messages = notice;
SELECT pgpull.track('regress_hr.salaries', 'full_table', integration => 'regress_priv');
GRANT USAGE ON SCHEMA regress_hr TO regress_reader;
SELECT pgpull.track('regress_hr.salaries', 'full_table', integration => 'regress_priv');
GRANT SELECT (id, amount) ON regress_hr.salaries TO regress_reader;
SELECT pgpull.track('regress_hr.salaries', 'full_table', integration => 'regress_priv');
-- only the columns it replicates count
SELECT pgpull.track('regress_hr.salaries', 'full_table', columns => '{amount}', integration => 'regress_priv');
SELECT pgpull.track('regress_hr.salaries', 'full_table', integration => 'regress_priv');
SET client_min_messages = warning;
SELECT stream_id AS hr FROM pgpull.stream WHERE destination_table = 'salaries' \gset
SET SESSION AUTHORIZATION regress_reader;
SELECT DISTINCT run_id AS run FROM pgpull.begin_run('regress_priv', '1.0', 'import_api') \gset
SELECT taken FROM pgpull.take_stream(:run, :hr);
SELECT regress_pull.masked(format('SELECT pgpull.extraction_query(%s, %s, NULL, 10)', :run, :hr));
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.end_stream(:run, :hr, 'failed', 0, 'no privilege');
SELECT pgpull.end_run(:run, 'failed', 'a stream failed');
RESET SESSION AUTHORIZATION;
GRANT SELECT ON regress_hr.salaries TO regress_reader;
SET SESSION AUTHORIZATION regress_reader;
SELECT DISTINCT run_id AS run FROM pgpull.begin_run('regress_priv', '1.0', 'import_api') \gset
SELECT taken FROM pgpull.take_stream(:run, :hr);
SELECT pgpull.extraction_query(:run, :hr, NULL, 10) IS NOT NULL AS has_query;
SELECT pgpull.end_stream(:run, :hr, 'succeeded', 0, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);
RESET SESSION AUTHORIZATION;
SELECT pgpull.untrack('regress_hr.salaries', 'regress_priv');
SELECT pgpull.revoke_integration('regress_priv', 'regress_reader');
DROP SCHEMA regress_hr CASCADE;
DROP OWNED BY regress_reader;
DROP ROLE regress_reader;

-- a role without EXECUTE cannot drive a run
CREATE ROLE regress_run_nobody;
SET ROLE regress_run_nobody;
SELECT * FROM pgpull.begin_run('regress', '1.0', 'import_api');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_run_nobody;

DROP VIEW "regress ""run""".v;
DROP TABLE "regress ""run"""."Odd ""T""", "regress ""run""".days, regress_items, regress_full, regress_quiet,
	regress_quiet_n, regress_quiet_f;
DROP SCHEMA "regress ""run""";

-- the backends that hold back the commit-safe cap: all but those that never write rows
SELECT t AS backend_type, pgpull._holds_cap(t) AS holds_cap
  FROM unnest(ARRAY['client backend', 'background worker', 'logical replication worker', 'autovacuum worker',
					'autovacuum launcher', 'walsender', 'checkpointer', 'background writer', 'walwriter',
					'archiver', NULL]) AS t;
