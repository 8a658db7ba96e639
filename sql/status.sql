-- status: pgpull.stream_status, pgpull.status, pgpull.status_attention and
-- pgpull.status_standby, as the replication role grant_script made calls
-- them (it sees only the integrations it may run), and the loading
-- report's duration, rate and staleness
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE SCHEMA regress_status;
CREATE TABLE regress_status.orders (id integer PRIMARY KEY, updated_at timestamptz);
INSERT INTO regress_status.orders
SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour' FROM generate_series(1, 5) i;
CREATE TABLE regress_status.lines (id integer PRIMARY KEY, qty integer);
INSERT INTO regress_status.lines SELECT i, i FROM generate_series(1, 3) i;
CREATE TABLE regress_status.gone (id integer PRIMARY KEY);
CREATE TABLE regress_status.hidden (id integer PRIMARY KEY);
SELECT pgpull.track('regress_status.orders', 'key_based', 'updated_at', integration => 'regress status');
SELECT pgpull.track('regress_status.lines', 'full_table', integration => 'regress status');
SELECT pgpull.track('regress_status.gone', 'full_table', integration => 'regress status');
SELECT pgpull.track('regress_status.hidden', 'full_table', integration => 'regress status hidden');
SELECT stream_id AS orders FROM pgpull.stream WHERE relation = 'regress_status.orders'::regclass \gset
SELECT stream_id AS lines FROM pgpull.stream WHERE relation = 'regress_status.lines'::regclass \gset
SELECT stream_id AS gone FROM pgpull.stream WHERE relation = 'regress_status.gone'::regclass \gset

-- the replication role, as the README makes it
SELECT * FROM pgpull.grant_script('regress_status_repl', '{regress_status}', integrations => '{regress status}') \gexec

-- before any run: every stream has its first full sync pending
SELECT integration, relation, destination_table, method, bookmark, last_run_id, last_status,
	   rows_loaded_24h, next_action, historical_pending, relation_dropped
  FROM pgpull.status('regress status');

-- a run: orders and gone succeed, lines fails
SELECT count(*) AS streams FROM pgpull.begin_run('regress status', '1.1', 'import_api');
SELECT max(run_id) AS run FROM pgpull.runs \gset
SELECT taken FROM pgpull.take_stream(:run, :orders);
SELECT count(*) AS rows FROM regress_pull.sync(:run, :orders, 2);
SELECT pgpull.end_stream(:run, :orders, 'succeeded', 5, NULL);
SELECT taken FROM pgpull.take_stream(:run, :gone);
SELECT count(*) AS rows FROM regress_pull.sync(:run, :gone, NULL);
SELECT pgpull.end_stream(:run, :gone, 'succeeded', 0, NULL);
SELECT taken FROM pgpull.take_stream(:run, :lines);
SELECT pgpull.end_stream(:run, :lines, 'failed', 0, 'destination said no');
SELECT pgpull.end_run(:run, 'failed', 'a stream failed');

SELECT relation, bookmark, last_run_id = :run AS this_run, last_run_at IS NOT NULL AS has_time,
	   last_status, last_error, rows_loaded_24h, next_action, historical_pending
  FROM pgpull.status('regress status');

-- the loading report: the last sync's duration, rows per second, staleness
SELECT relation, last_status, last_run_duration >= '0'::interval AS duration_known,
	   rows_per_second IS NULL OR rows_per_second >= 0 AS rate_ok,
	   staleness >= '0'::interval AS stale_since_success, staleness IS NULL AS never_succeeded
  FROM pgpull.loading_report
 WHERE integration = 'regress status'
 ORDER BY relation COLLATE "C";
-- a sync of 5 rows that took 2 seconds loaded 2.5 rows per second
UPDATE pgpull.run_streams SET started_at = ended_at - interval '2 seconds'
 WHERE run_id = :run AND stream_id = :orders;
SELECT last_run_duration, rows_per_second FROM pgpull.loading_report WHERE relation = 'regress_status.orders';

-- what needs attention: the failed stream (run IDs masked)
SELECT kind, subject, regexp_replace(message, '\d+', 'N', 'g') AS message, fix, attention
  FROM pgpull.status_attention('regress status');

-- the relation of a stream dropped, a privilege revoked: both need attention
DROP TABLE regress_status.gone;
REVOKE SELECT ON regress_status.orders FROM regress_status_repl;
SELECT relation, next_action, historical_pending, relation_dropped
  FROM pgpull.status('regress status') WHERE relation_dropped;
SELECT kind, subject, regexp_replace(message, '\(\d+\)', '(N)', 'g') AS message,
	   regexp_replace(fix, '\d+', 'N', 'g') AS fix, attention
  FROM pgpull.status_attention('regress status');

-- as the replication role (a monitor's session): only its integration
SET SESSION AUTHORIZATION regress_status_repl;
SELECT integration, relation, next_action FROM pgpull.status();
SELECT kind, count(*) AS items, bool_and(attention) AS attention
  FROM pgpull.status_attention() GROUP BY kind ORDER BY kind COLLATE "C";
-- the standby checks on a primary: nothing to say
SELECT * FROM pgpull.status_standby();
-- an integration it may not run: 42501, as for a run
SELECT * FROM pgpull.status('regress status hidden');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.status_attention('regress status hidden');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.status_standby('regress status hidden');
\echo :LAST_ERROR_SQLSTATE
-- nor the catalog, nor the view behind status
SELECT count(*) FROM pgpull.stream_status;
\echo :LAST_ERROR_SQLSTATE
RESET SESSION AUTHORIZATION;

-- the fixes repair it: untrack the dropped relation's stream, grant SELECT again
DO $$
DECLARE
	v_fix text;
BEGIN
	FOR v_fix IN SELECT a.fix FROM pgpull.status_attention('regress status') a WHERE a.fix IS NOT NULL LOOP
		EXECUTE v_fix;
	END LOOP;
END
$$;
SELECT kind, subject, regexp_replace(message, '\d+', 'N', 'g') AS message FROM pgpull.status_attention('regress status');

-- reset: the next run reads every row again, a historical sync
SELECT pgpull.reset('regress_status.orders', 'regress status');
SELECT relation, bookmark, next_action, historical_pending FROM pgpull.status('regress status');

-- an integration named that tracks nothing (the owner may name any)
SELECT * FROM pgpull.status('regress no such');
SELECT * FROM pgpull.status_attention('regress no such');
-- NULL: every integration the role may run
SELECT count(DISTINCT integration) >= 2 AS several FROM pgpull.status();

-- PUBLIC may call none of them
CREATE ROLE regress_status_nobody;
GRANT USAGE ON SCHEMA pgpull TO regress_status_nobody;
SET ROLE regress_status_nobody;
SELECT * FROM pgpull.status();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.status_attention();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- cleanup
SELECT pgpull.untrack('regress_status.orders', 'regress status'),
	   pgpull.untrack('regress_status.lines', 'regress status'),
	   pgpull.untrack('regress_status.hidden', 'regress status hidden');
SELECT pgpull.revoke_integration('regress status', 'regress_status_repl');
DROP SCHEMA regress_status CASCADE;
DROP OWNED BY regress_status_repl, regress_status_nobody;
DROP ROLE regress_status_repl, regress_status_nobody;
RESET client_min_messages;
