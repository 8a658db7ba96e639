-- plan: what a run would extract (sync --dry-run), read-only: the streams,
-- bookmarks, estimated rows and first chunk's queries, the query equal to
-- the one extraction_query gives a run, and nothing written or locked
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE TABLE plan_t (id integer PRIMARY KEY, v text);
INSERT INTO plan_t SELECT g, 'v' || g FROM generate_series(1, 40) g;
CREATE TABLE "plan ""x"" k" (id integer PRIMARY KEY, at timestamptz, n integer);
INSERT INTO "plan ""x"" k" SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', g
  FROM generate_series(1, 7) g;
CREATE TABLE plan_p (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE plan_p1 PARTITION OF plan_p FOR VALUES FROM (1) TO (100);
CREATE TABLE plan_p2 PARTITION OF plan_p FOR VALUES FROM (100) TO (200);
INSERT INTO plan_p SELECT g, 'p' || g FROM generate_series(1, 150) g;
CREATE VIEW plan_v AS SELECT id, v FROM plan_t;
CREATE TABLE plan_never (id integer PRIMARY KEY);
CREATE TABLE plan_gone (id integer PRIMARY KEY);
ANALYZE plan_t, "plan ""x"" k", plan_p;
SELECT count(*) FROM (
	SELECT pgpull.track('plan_t', 'full_table', integration => 'plan')
	UNION ALL SELECT pgpull.track('"plan ""x"" k"', 'key_based', 'at', integration => 'plan')
	UNION ALL SELECT pgpull.track('plan_p', 'full_table', integration => 'plan')
	UNION ALL SELECT pgpull.track('plan_v', 'full_table', key_columns => '{id}', integration => 'plan')
	UNION ALL SELECT pgpull.track('plan_never', 'full_table', integration => 'plan')
	UNION ALL SELECT pgpull.track('plan_gone', 'full_table', integration => 'plan')) AS t;
DROP TABLE plan_gone;

-- what the catalog holds, to see that plan changes none of it
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM pgpull.runs) AS runs, (SELECT count(*) FROM pgpull.run_streams) AS run_streams,
	   (SELECT count(*) FROM pgpull.extraction_log) AS log_lines,
	   (SELECT count(*) FROM pgpull.watermark_sample) AS samples,
	   (SELECT string_agg(s::text, ' ' ORDER BY s.stream_id) FROM pgpull.stream s) AS streams;

-- every stream: the estimate is reltuples when the run reads the whole relation
SELECT destination_table, relation_name, method, replication_key, bookmark, resume_position, chunked,
	   estimated_rows, query IS NOT NULL AS has_query, note
  FROM pgpull.plan('plan', 5)
 ORDER BY destination_table COLLATE "C";

-- a full_table stream's first chunk, in full, and a key_based one's shape
SELECT query FROM pgpull.plan('plan', 5) WHERE destination_table = 'plan_t';
SELECT query ~ ('^SELECT u\.lossy, u\.row_json, u\.cap, u\.pgpull_p1, u\.pgpull_p2 FROM \(\(SELECT .*'
				 ' FROM public\."plan ""x"" k" AS t .* WHERE t\.at IS NULL ORDER BY t\.id LIMIT 5\) UNION ALL .*'
				 ' ORDER BY u\.pgpull_rk NULLS FIRST, u\.pgpull_k1 LIMIT 5$') AS key_based_query_ok
  FROM pgpull.plan('plan', 5) WHERE method = 'key_based';
-- no limit, and no query
SELECT query LIKE '% ORDER BY t.id' AS no_limit FROM pgpull.plan('plan', NULL) WHERE destination_table = 'plan_t';
SELECT count(*) AS streams, count(query) AS queries, count(estimated_rows) AS estimates
  FROM pgpull.plan('plan', 5, false);
-- the default integration has none of these
SELECT count(*) FROM pgpull.plan() WHERE destination_table LIKE 'plan%';

-- nothing was written, and no advisory lock taken
SELECT b.runs = (SELECT count(*) FROM pgpull.runs) AS runs_same,
	   b.run_streams = (SELECT count(*) FROM pgpull.run_streams) AS run_streams_same,
	   b.log_lines = (SELECT count(*) FROM pgpull.extraction_log) AS log_same,
	   b.samples = (SELECT count(*) FROM pgpull.watermark_sample) AS samples_same,
	   b.streams = (SELECT string_agg(s::text, ' ' ORDER BY s.stream_id) FROM pgpull.stream s) AS streams_same,
	   NOT EXISTS (SELECT FROM pg_locks l WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid()) AS no_lock
  FROM before b;
-- in a read-only transaction too
BEGIN TRANSACTION READ ONLY;
SELECT count(*) FROM pgpull.plan('plan', 5);
COMMIT;

-- the query is the one a run's extraction_query gives
SELECT run_id AS run FROM pgpull.begin_run('plan', pgpull.version(), 'import_api') LIMIT 1 \gset
SELECT s.stream_id AS stream FROM pgpull.stream s WHERE s.integration = 'plan' AND s.destination_table = 'plan_t' \gset
SELECT p.query AS plan_query FROM pgpull.plan('plan', 5) p WHERE p.stream_id = :stream \gset
SELECT taken FROM pgpull.take_stream(:run, :stream);
SELECT pgpull.extraction_query(:run, :stream, NULL, 5) = :'plan_query' AS same_query;
SELECT pgpull.end_stream(:run, :stream, 'succeeded', 0, NULL);
SELECT pgpull.end_run(:run, 'succeeded', NULL);

-- bad input
SELECT * FROM pgpull.plan(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.plan('plan', 0);
\echo :LAST_ERROR_SQLSTATE
-- a role the integration is not granted to
CREATE ROLE regress_plan_nobody;
GRANT USAGE ON SCHEMA pgpull TO regress_plan_nobody;
GRANT EXECUTE ON FUNCTION pgpull.plan(text, integer, boolean) TO regress_plan_nobody;
SET SESSION AUTHORIZATION regress_plan_nobody;
SELECT * FROM pgpull.plan('plan');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
-- PUBLIC may not call it
SELECT has_function_privilege('public', 'pgpull.plan(text,integer,boolean)', 'EXECUTE') AS public_execute;

SELECT count(*) FROM (SELECT pgpull.untrack(c::regclass, 'plan')
						FROM unnest(ARRAY['plan_t', '"plan ""x"" k"', 'plan_p', 'plan_v', 'plan_never']) AS c) AS t;
DELETE FROM pgpull.stream WHERE integration = 'plan';
DELETE FROM pgpull.extraction_log WHERE run_id = :run;
DELETE FROM pgpull.run_streams WHERE run_id = :run;
DELETE FROM pgpull.runs WHERE run_id = :run;
REVOKE ALL ON SCHEMA pgpull FROM regress_plan_nobody;
REVOKE ALL ON FUNCTION pgpull.plan(text, integer, boolean) FROM regress_plan_nobody;
DROP ROLE regress_plan_nobody;
DROP VIEW plan_v;
DROP TABLE plan_t, "plan ""x"" k", plan_p, plan_never;
