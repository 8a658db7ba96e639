-- housekeeping: set_retention, the pruning of old runs at the end of a run
-- (prune_runs) and the per stream figures of the metrics (stream_metrics)
\set SHOW_CONTEXT never
-- the NOTICE lines the extension raises for the puller carry IDs
SET client_min_messages = warning;

CREATE TABLE regress_hk_a (id integer PRIMARY KEY, v text, at timestamptz);
INSERT INTO regress_hk_a SELECT i, 'a' || i, '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour'
  FROM generate_series(1, 5) i;
CREATE TABLE regress_hk_b (id integer PRIMARY KEY, v text);
INSERT INTO regress_hk_b SELECT i, 'b' || i FROM generate_series(1, 3) i;
SELECT pgpull.track('regress_hk_a', 'key_based', 'at', integration => 'regress_h1');
SELECT pgpull.track('regress_hk_b', 'full_table', integration => 'regress_h2');
SELECT stream_id AS a FROM pgpull.stream WHERE destination_table = 'regress_hk_a' \gset
SELECT stream_id AS b FROM pgpull.stream WHERE destination_table = 'regress_hk_b' \gset

-- one run of an integration's one stream, as the puller does it, ending
-- as ok says; then moved back in time by age
CREATE FUNCTION pg_temp.one_run(integ text, ok boolean, age interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_run bigint;
	v_stream bigint;
	v_status text := CASE WHEN ok THEN 'succeeded' ELSE 'failed' END;
BEGIN
	SELECT r.run_id, r.stream_id INTO v_run, v_stream FROM pgpull.begin_run(integ, '1.1', 'import_api') r;
	PERFORM pgpull.take_stream(v_run, v_stream);
	PERFORM count(*) FROM regress_pull.sync(v_run, v_stream, 100);
	IF NOT ok THEN
		PERFORM pgpull.log(v_run, v_stream, 'WARNING', 'HTTP 503; retry 1 of 5 in 0.5 s');
	END IF;
	PERFORM pgpull.end_stream(v_run, v_stream, v_status, 0, CASE WHEN ok THEN NULL ELSE 'boom' END);
	PERFORM pgpull.end_run(v_run, v_status, NULL);
	UPDATE pgpull.runs r SET started_at = r.started_at - age, ended_at = r.ended_at - age WHERE r.run_id = v_run;
	UPDATE pgpull.run_streams rs SET started_at = rs.started_at - age, ended_at = rs.ended_at - age,
		   last_batch_at = rs.last_batch_at - age
	 WHERE rs.run_id = v_run;
	UPDATE pgpull.extraction_log l SET logged_at = l.logged_at - age WHERE l.run_id = v_run;
	RETURN v_run;
END
$$;

-- the runs of an integration: how old, how they ended
CREATE FUNCTION pg_temp.runs(integ text) RETURNS TABLE (age_days integer, status text, run_streams bigint, logged boolean)
LANGUAGE sql AS $$
	SELECT round(extract(epoch FROM now() - r.started_at) / 86400)::integer, r.status,
		   (SELECT count(*) FROM pgpull.run_streams rs WHERE rs.run_id = r.run_id),
		   EXISTS (SELECT FROM pgpull.extraction_log l WHERE l.run_id = r.run_id)
	  FROM pgpull.runs r WHERE r.integration = integ ORDER BY r.run_id
$$;

-- stream a: succeeded 100 and 90 days ago, failed 80 days ago, succeeded 10 days ago
SELECT pg_temp.one_run('regress_h1', true, interval '100 days') IS NOT NULL AS r1,
	   pg_temp.one_run('regress_h1', true, interval '90 days') IS NOT NULL AS r2,
	   pg_temp.one_run('regress_h1', false, interval '80 days') IS NOT NULL AS r3,
	   pg_temp.one_run('regress_h1', true, interval '10 days') IS NOT NULL AS r4;
-- stream b: succeeded 100 days ago, failed 90 days ago
SELECT pg_temp.one_run('regress_h2', true, interval '100 days') IS NOT NULL AS r1,
	   pg_temp.one_run('regress_h2', false, interval '90 days') IS NOT NULL AS r2;
-- a line of the log of no run, as old
INSERT INTO pgpull.extraction_log (logged_at, run_id, stream_id, level, message)
VALUES (now() - interval '100 days', NULL, :a, 'INFO', 'an old line of no run');
SELECT * FROM pg_temp.runs('regress_h1');
SELECT * FROM pg_temp.runs('regress_h2');

-- the figures of the metrics
SELECT destination_table, rows_loaded, bytes > 0 AS bytes, batches, retries, last_status,
	   last_duration >= 0 AS duration_ok,
	   round((extract(epoch FROM now()) - last_success_at) / 86400) AS last_success_days_ago,
	   bookmark_age > extract(epoch FROM now() - '2024-01-01 05:00:00+00'::timestamptz) - 60 AS bookmark_age_ok,
	   bookmark_age IS NULL AS no_bookmark_age
  FROM pgpull.stream_metrics('regress_h1')
UNION ALL
SELECT destination_table, rows_loaded, bytes > 0, batches, retries, last_status, last_duration >= 0,
	   round((extract(epoch FROM now()) - last_success_at) / 86400), bookmark_age > 0, bookmark_age IS NULL
  FROM pgpull.stream_metrics('regress_h2');
CREATE TEMP TABLE before_prune AS
SELECT * FROM pgpull.stream_metrics('regress_h1') UNION ALL SELECT * FROM pgpull.stream_metrics('regress_h2');

-- set_retention: errors
SELECT pgpull.set_retention(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.set_retention(interval '0');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.set_retention(interval '-1 day', 'regress_h1');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.set_retention(interval '1 mon -40 days', 'regress_h1');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.set_retention(interval '30 days', 'regress_nosuch');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.set_retention(interval '30 days', 'regress_x"; DROP TABLE regress_hk_a; --');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.retention;

-- every integration, then two of their own
SELECT pgpull.set_retention(interval '7 days');
SELECT pgpull.set_retention(interval '30 days', 'regress_h1');
SELECT pgpull.set_retention(interval '1 year', integration => 'regress_h2');
SELECT pgpull.set_retention(interval '45 days', 'regress_h1');
SELECT integration, keep FROM pgpull.retention ORDER BY integration COLLATE "C" NULLS FIRST;
SELECT pgpull._retention_of('regress_h1') AS h1, pgpull._retention_of('regress_h2') AS h2,
	   pgpull._retention_of('regress_other') AS other;

-- a run of regress_h1 prunes: r1 and r2 go (r2's success is not the last),
-- r3 too (not the last run), r4 stays; the line of no run goes
SELECT run_id AS run FROM pgpull.begin_run('regress_h1', '1.1', 'import_api') \gset
SELECT runs, run_streams, log_lines > 0 AS logged FROM pgpull.prune_runs(:run);
SELECT * FROM pg_temp.runs('regress_h1');
SELECT count(*) AS old_lines_of_no_run FROM pgpull.extraction_log WHERE run_id IS NULL AND stream_id = :a;
SELECT level, regexp_replace(message, '\d+ extraction log lines', 'N extraction log lines') AS message
  FROM pgpull.extraction_log WHERE run_id = :run AND message LIKE 'catalog pruned%';
-- again: nothing more to prune, nothing logged
SELECT runs, run_streams, log_lines > 0 AS logged FROM pgpull.prune_runs(:run);
SELECT count(*) AS pruned_lines FROM pgpull.extraction_log WHERE run_id = :run AND message LIKE 'catalog pruned%';
SELECT pgpull.end_run(:run, 'succeeded', NULL);
-- regress_h2 keeps a year: nothing of it was pruned
SELECT * FROM pg_temp.runs('regress_h2');

-- counters never go back: the metrics are those of before, the pruned runs
-- in pgpull.stream_pruned
SELECT m.destination_table, m.rows_loaded = b.rows_loaded AS rows_same, m.bytes = b.bytes AS bytes_same,
	   m.batches = b.batches AS batches_same, m.retries = b.retries AS retries_same,
	   m.last_success_at = b.last_success_at AS last_success_same
  FROM (SELECT * FROM pgpull.stream_metrics('regress_h1') UNION ALL SELECT * FROM pgpull.stream_metrics('regress_h2')) m
  JOIN before_prune b USING (stream_id)
 ORDER BY m.destination_table COLLATE "C";
SELECT s.destination_table, p.rows_loaded, p.batches, p.retries
  FROM pgpull.stream_pruned p JOIN pgpull.stream s USING (stream_id) ORDER BY s.destination_table COLLATE "C";

-- each stream's last run and last success are kept whatever the retention:
-- with 1 day for every integration, b keeps its failed run (the last) and
-- its success (the last one)
SELECT pgpull.set_retention(interval '1 day');
SELECT run_id AS run FROM pgpull.begin_run('regress_h2', '1.1', 'import_api') \gset
SELECT runs, run_streams, log_lines > 0 AS logged FROM pgpull.prune_runs(:run);
SELECT pgpull.end_run(:run, 'succeeded', NULL);
SELECT * FROM pg_temp.runs('regress_h2');

-- prune_runs: only the session running the run
SELECT pgpull.prune_runs(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.prune_runs(%s)', :run));
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.stream_metrics(NULL);
\echo :LAST_ERROR_SQLSTATE

-- a role that may not run the integration reads none of its figures
CREATE ROLE regress_hk_nobody;
GRANT USAGE ON SCHEMA pgpull TO regress_hk_nobody;
GRANT EXECUTE ON FUNCTION pgpull.stream_metrics(text) TO regress_hk_nobody;
SET SESSION AUTHORIZATION regress_hk_nobody;
SELECT * FROM pgpull.stream_metrics('regress_h1');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.set_retention(interval '1 day');
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;
REVOKE ALL ON SCHEMA pgpull FROM regress_hk_nobody;
REVOKE ALL ON FUNCTION pgpull.stream_metrics(text) FROM regress_hk_nobody;
DROP ROLE regress_hk_nobody;

SELECT pgpull.untrack('regress_hk_a', 'regress_h1'), pgpull.untrack('regress_hk_b', 'regress_h2');
SELECT count(*) AS pruned_rows_left FROM pgpull.stream_pruned;
DELETE FROM pgpull.runs WHERE integration IN ('regress_h1', 'regress_h2');
DELETE FROM pgpull.retention;
DROP TABLE regress_hk_a, regress_hk_b;
