-- singer: rows sent to a Singer target move no bookmark (record_emitted,
-- end_singer_stream); the states a target echoes do (commit_state), never
-- backwards
\set SHOW_CONTEXT never
-- the NOTICE lines the extension raises for the puller carry table versions
SET client_min_messages = warning;
-- regress_pull.send drives a Singer run as the puller does, keeping the
-- entries of its STATE messages in regress_pull.states; regress_pull.masked
-- shows an error without IDs (all from setup)

-- the state value a target echoes: the header and the entries of the given
-- states of a run
CREATE FUNCTION pg_temp.state(integration text, run bigint, variadic ns integer[])
RETURNS jsonb
LANGUAGE sql AS $$
	SELECT jsonb_build_object('pgpull', jsonb_build_object('version', 1, 'integration', state.integration,
														   'run_id', state.run),
							  'currently_syncing', NULL,
							  'bookmarks', COALESCE(jsonb_object_agg(s.destination_table, st.entry), '{}'))
	  FROM regress_pull.states st
	  JOIN pgpull.stream s ON s.stream_id = st.stream
	 WHERE st.run = state.run AND st.n = ANY (ns)
$$;

-- an entry without what varies from one test run to another
CREATE FUNCTION pg_temp.shown(entry jsonb) RETURNS jsonb
LANGUAGE sql AS $$
	SELECT entry - 'stream_id' - 'version' - 'mac'
		   || jsonb_build_object('version', CASE WHEN entry->'version' = 'null' THEN 'null' ELSE 'V' END)
$$;

-- commit_state, without the table versions and stream IDs of its details
CREATE FUNCTION pg_temp.commit(state jsonb)
RETURNS TABLE (stream text, moved boolean, bookmark text, detail text)
LANGUAGE sql AS $$
	SELECT c.stream, c.moved, c.bookmark,
		   regexp_replace(regexp_replace(c.detail, '\d{10,}', 'V', 'g'), 'stream \d+', 'stream N')
	  FROM pgpull.commit_state(commit.state) AS c
$$;

-- the functions the puller calls: SECURITY DEFINER with a pinned search_path, not PUBLIC's
SELECT f AS function, p.prosecdef AS security_definer,
	   p.proconfig @> '{"search_path=pg_catalog, pg_temp"}' AS search_path_pinned,
	   has_function_privilege('public', f::regprocedure, 'EXECUTE') AS public_execute,
	   f = ANY (pgpull._puller_functions()) AS granted_to_puller
  FROM unnest(ARRAY['pgpull.record_emitted(bigint,bigint,bigint,bigint,text,bigint,boolean)',
					'pgpull.end_singer_stream(bigint,bigint,text,bigint,text)',
					'pgpull.commit_state(jsonb)']) AS f
  JOIN pg_proc p ON p.oid = f::regprocedure
 ORDER BY f COLLATE "C";

--
-- a key_based stream and a full_table stream with a composite key
--
CREATE TABLE regress_orders (id integer PRIMARY KEY, note text, updated_at timestamptz);
INSERT INTO regress_orders VALUES
	(1, 'a', '2024-01-01 10:00:00+00'),
	(2, 'b', '2024-01-02 10:00:00+00'),
	(3, 'c', '2024-01-02 10:00:00+00'),
	(4, 'd', '2024-01-03 10:00:00+00'),
	(5, 'e', '2024-01-04 10:00:00.25+00'),
	(6, 'null key', NULL);
CREATE TABLE regress_parts (a integer, b text, qty numeric, PRIMARY KEY (a, b));
INSERT INTO regress_parts VALUES (1, 'x', 1), (1, 'y', 'NaN'), (2, 'x', 3), (3, 'x', 4), (3, 'z', 5);
SELECT pgpull.track('regress_orders', 'key_based', 'updated_at', integration => 'regress singer');
SELECT pgpull.track('regress_parts', 'full_table', integration => 'regress singer');
SELECT stream_id AS orders FROM pgpull.stream WHERE destination_table = 'regress_orders' \gset
SELECT stream_id AS parts FROM pgpull.stream WHERE destination_table = 'regress_parts' \gset

-- run 1: everything is sent, nothing moves
SELECT count(*) AS streams FROM pgpull.begin_run('regress singer', '1.0', 'singer');
SELECT max(run_id) AS run1 FROM pgpull.runs \gset
SELECT taken, table_version IS NULL AS no_version FROM pgpull.take_stream(:run1, :orders);
SELECT chunk, pos, row_json FROM regress_pull.send(:run1, :orders, 2);
SELECT taken, table_version AS version1 FROM pgpull.take_stream(:run1, :parts) \gset
SELECT chunk, pos, row_json FROM regress_pull.send(:run1, :parts, 2);
-- the entries of the STATE messages: the first before any row
SELECT n, pg_temp.shown(entry) AS entry FROM regress_pull.states WHERE run = :run1 ORDER BY n;
SELECT count(*) FILTER (WHERE (entry->>'stream_id')::bigint = stream) AS stream_ids_ok,
	   count(*) FILTER (WHERE (entry->>'version')::bigint = :version1) AS versions_ok
  FROM regress_pull.states;
SELECT pgpull.end_singer_stream(:run1, :orders, 'succeeded', 6, NULL);
SELECT pgpull.end_singer_stream(:run1, :parts, 'succeeded', 5, NULL);
SELECT pgpull.end_run(:run1, 'succeeded', NULL);
-- no bookmark, no resume position moved; the run counted what it sent
SELECT destination_table, bookmark, resuming, status FROM pgpull.streams
 WHERE integration = 'regress singer' ORDER BY destination_table COLLATE "C";
SELECT s.destination_table, rs.status, rs.rows_extracted, rs.rows_loaded, rs.batches, rs.lossy_values,
	   rs.bookmark_before, rs.bookmark_after
  FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
 WHERE rs.run_id = :run1 ORDER BY s.destination_table COLLATE "C";

-- the target confirms up to the second chunk of orders: the bookmark moves
-- exactly to the key of its last row; parts is not in that state
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 3));
SELECT bookmark FROM pgpull.streams WHERE stream_id = :orders;
-- the same state again, and an older one: nothing moves
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 3));
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 2));
SELECT bookmark FROM pgpull.streams WHERE stream_id = :orders;
-- parts confirmed up to its first chunk: the next run resumes after it
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 3, 7));
SELECT resume_position, table_version = :version1 AS same_version, completed_version
  FROM pgpull.stream WHERE stream_id = :parts;
-- the run's last state: every stream; parts complete
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 5, 9));
SELECT destination_table, bookmark, resuming FROM pgpull.streams
 WHERE integration = 'regress singer' ORDER BY destination_table COLLATE "C";
SELECT completed_version = :version1 AS completed FROM pgpull.stream WHERE stream_id = :parts;
-- after the complete state, an older one of the same version moves nothing
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 8));
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 9));
SELECT resume_position FROM pgpull.stream WHERE stream_id = :parts;
-- what the target confirmed counts as loaded
SELECT s.destination_table, rs.rows_loaded, rs.last_batch_at IS NOT NULL AS confirmed, rs.bookmark_after
  FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
 WHERE rs.run_id = :run1 ORDER BY s.destination_table COLLATE "C";
SELECT destination_table, last_load_at IS NOT NULL AS loaded, last_status, rows_loaded_24h, max_bookmark
  FROM pgpull.loading_report WHERE integration = 'regress singer' ORDER BY destination_table COLLATE "C";

--
-- run 2: a full_table run that stops after a chunk keeps its table version
-- in run 3, which resumes after the confirmed position
--
SELECT count(*) AS streams FROM pgpull.begin_run('regress singer', '1.0', 'singer');
SELECT max(run_id) AS run2 FROM pgpull.runs \gset
SELECT taken, table_version > :version1 AS new_version FROM pgpull.take_stream(:run2, :parts);
SELECT table_version AS version2 FROM pgpull.stream WHERE stream_id = :parts \gset
SELECT chunk, pos FROM regress_pull.send(:run2, :parts, 2, 2);
SELECT pgpull.end_singer_stream(:run2, :parts, 'failed', 4, 'the target stopped reading');
SELECT pgpull.end_run(:run2, 'failed', 'the target stopped reading');
-- the target stored the first chunk only; a state of version 1 moves nothing now
SELECT n, pg_temp.shown(entry) AS entry FROM regress_pull.states WHERE run = :run2 ORDER BY n;
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run2, 2));
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 8) #- '{pgpull,run_id}'
	|| jsonb_build_object('bookmarks', jsonb_build_object('regress_parts', jsonb_build_object(
		'stream_id', :parts, 'method', 'full_table', 'replication_key', NULL, 'version', :version1,
		'complete', true, 'position', NULL))));
SELECT resume_position, table_version = :version2 AS version2 FROM pgpull.stream WHERE stream_id = :parts;
SELECT count(*) AS streams FROM pgpull.begin_run('regress singer', '1.0', 'singer');
SELECT max(run_id) AS run3 FROM pgpull.runs \gset
SELECT taken, table_version = :version2 AS same_version FROM pgpull.take_stream(:run3, :parts);
SELECT chunk, pos FROM regress_pull.send(:run3, :parts, 2);
SELECT pgpull.end_singer_stream(:run3, :parts, 'succeeded', 3, NULL);
SELECT pgpull.end_run(:run3, 'succeeded', NULL);
SELECT resume_position FROM pgpull.stream WHERE stream_id = :parts;
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run3, 3));
SELECT resume_position, completed_version = :version2 AS completed FROM pgpull.stream WHERE stream_id = :parts;
SELECT level, regexp_replace(regexp_replace(message, '\d{10,}', 'V', 'g'), 'run \d+', 'run N') AS message
  FROM pgpull.extraction_log
 WHERE stream_id IN (:orders, :parts) AND level <> 'DEBUG' AND run_id >= :run1 ORDER BY log_id;

--
-- states that are not pgpull's, or do not match the catalog
--
SELECT * FROM pgpull.commit_state(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.commit_state('[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.commit_state('{"bookmarks": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.commit_state('{"pgpull": {"version": 2, "integration": "x"}, "bookmarks": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.commit_state('{"pgpull": {"version": 1, "integration": "regress singer"}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.commit_state('{"pgpull": {"version": 1, "integration": "regress singer", "run_id": "1"}, "bookmarks": {}}');
\echo :LAST_ERROR_SQLSTATE
-- an empty state is fine: nothing to move
SELECT * FROM pgpull.commit_state('{"pgpull": {"version": 1, "integration": "regress singer"}, "bookmarks": {}}');
SELECT regress_pull.masked(format('SELECT * FROM pgpull.commit_state(%L)',
	jsonb_set(pg_temp.state('regress singer', :run1, 5), '{pgpull,integration}', '"other"')));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT * FROM pgpull.commit_state(%L)',
	pg_temp.state('other', :run1, 5)));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT * FROM pgpull.commit_state(%L)',
	jsonb_set(pg_temp.state('regress singer', :run1, 5), '{bookmarks}',
			  jsonb_build_object('renamed', pg_temp.state('regress singer', :run1, 5) #> '{bookmarks,regress_orders}'))));
\echo :LAST_ERROR_SQLSTATE
--
-- bookmarks pgpull did not write for that run are rejected, not errors:
-- each entry carries a MAC the puller's role cannot make
--
SELECT count(*) AS entries, bool_and(entry ->> 'mac' ~ '^[0-9a-f]{64}$') AS all_have_a_mac
  FROM regress_pull.states;
SELECT * FROM pg_temp.commit(jsonb_set(pg_temp.state('regress singer', :run1, 5),
	'{bookmarks,regress_orders,replication_key_value}', '"9999-12-31T00:00:00Z"'));
SELECT * FROM pg_temp.commit(jsonb_set(pg_temp.state('regress singer', :run1, 5),
	'{bookmarks,regress_orders,replication_key_value}', '"not a time"'));
SELECT * FROM pg_temp.commit(jsonb_set(pg_temp.state('regress singer', :run1, 5),
	'{bookmarks,regress_orders,stream_id}', '"1"'));
SELECT * FROM pg_temp.commit(jsonb_set(pg_temp.state('regress singer', :run3, 3),
	'{bookmarks,regress_parts,complete}', '"yes"'));
-- another run's entry under this run's ID
SELECT * FROM pg_temp.commit(jsonb_set(pg_temp.state('regress singer', :run1, 5),
	'{pgpull,run_id}', to_jsonb(:run3)));
-- an entry pgpull wrote for the run verifies (040 and 041 show it does after real targets re-serialise it)
SELECT * FROM pg_temp.commit((SELECT jsonb_object_agg(k, v) FROM jsonb_each(pg_temp.state('regress singer', :run3, 3)) AS e(k, v)));
SELECT bookmark FROM pgpull.streams WHERE stream_id = :orders;
--
-- a reset stream takes no older state
--
SELECT pgpull.reset('regress_orders', 'regress singer');
SELECT * FROM pg_temp.commit(pg_temp.state('regress singer', :run1, 5));
SELECT bookmark FROM pgpull.streams WHERE stream_id = :orders;

-- an untracked stream moves nothing, without an error
SELECT pg_temp.state('regress singer', :run3, 3) AS parts_state \gset
SELECT pgpull.untrack('regress_parts', 'regress singer');
SELECT * FROM pg_temp.commit(:'parts_state');

--
-- the Singer functions refuse runs of other targets, and streams not taken
--
SELECT count(*) AS streams FROM pgpull.begin_run('regress singer', '1.0', 'import_api');
SELECT max(run_id) AS run4 FROM pgpull.runs \gset
SELECT regress_pull.masked(format('SELECT pgpull.record_emitted(%s, %s, 0, 0, NULL, 0, false)', :run4, :orders));
\echo :LAST_ERROR_SQLSTATE
SELECT regress_pull.masked(format('SELECT pgpull.end_singer_stream(%s, %s, %L, 0, NULL)', :run4, :orders, 'failed'));
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.end_run(:run4, 'succeeded', NULL);
SELECT count(*) AS streams FROM pgpull.begin_run('regress singer', '1.0', 'singer');
SELECT max(run_id) AS run5 FROM pgpull.runs \gset
SELECT regress_pull.masked(format('SELECT pgpull.record_emitted(%s, %s, 0, 0, NULL, 0, false)', :run5, :orders));
\echo :LAST_ERROR_SQLSTATE
SELECT taken FROM pgpull.take_stream(:run5, :orders);
SELECT pgpull.record_emitted(:run5, :orders, -1, 0, NULL, 0, false);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.record_emitted(:run5, :orders, 1, 0, NULL, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.record_emitted(:run5, :orders, 1, 10, '["x","1"]', 0, false);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.end_singer_stream(:run5, :orders, 'done', 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.end_singer_stream(:run5, :orders, 'failed', 0, 'interrupted');
SELECT pgpull.end_run(:run5, 'failed', 'interrupted');

SELECT pgpull.untrack('regress_orders', 'regress singer');
DROP TABLE regress_orders, regress_parts;
