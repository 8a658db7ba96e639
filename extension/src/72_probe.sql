/*
 * 72_probe.sql: runs with nothing new.
 *
 * A run whose key_based streams have nothing new must be cheap: taking each
 * stream, building its JSON Schema, planning and running its extraction
 * query and ending it costs several round trips and transactions per
 * stream.  So, right after begin_run, the puller asks probe_query for one
 * statement that finds out, on the source and as the puller's role (never
 * on the state database, which may be the primary of a replica source),
 * which streams have nothing to send, and records them all with one call
 * of record_unchanged; it syncs the others as usual.
 *
 * "Nothing to send" is what the stream's extraction would read from its
 * bookmark: a date or time replication key (timestamptz, timestamp, date
 * and domains over them: the keys with a commit-safe cap) continues
 * strictly after its bookmark, so such a stream has nothing new when no row
 * has a key > the bookmark; any other key is read from its bookmark
 * inclusive (>=), so such a stream is never skipped while a row at its
 * bookmark exists.  A stream that is skipped moves nothing: its bookmark
 * stays, and a row committed after the probe goes in the next run.
 */

/*
 * probe_query: the statement that finds the streams of a run with nothing
 * new, to run on the source as the puller's role: one column stream_id, a
 * row for each key_based stream with a bookmark (not yet in the run) in
 * which no row is past the bookmark ("key > bookmark" for date and time
 * keys, "key >= bookmark" for the others), each an EXISTS that an index on
 * the key answers with one probe.  NULL when no stream can be probed.
 * Streams whose relation or replication key is gone, or whose key changed
 * type since the bookmark was stored, are left out: their own sync reports
 * them.  Only the session that began the run may ask.
 */
CREATE FUNCTION pgpull.probe_query(run_id bigint)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_probes text;
BEGIN
	v_run := pgpull._run(probe_query.run_id, true);
	PERFORM pgpull._require_lock(pgpull._run_lock_class(), v_run.run_id, pg_catalog.format('run %s', v_run.run_id));
	SELECT pg_catalog.string_agg(pg_catalog.format('(%s::pg_catalog.int8, EXISTS (SELECT FROM %I.%I AS t WHERE t.%I %s %L::%s))',
												   p.stream_id, p.nspname, p.relname, p.replication_key,
												   CASE WHEN pgpull._capped_type(pgpull._base_type(p.atttypid)) THEN '>' ELSE '>=' END,
												   p.bookmark,
												   pg_catalog.format_type(p.atttypid, NULL)),
								 ', ' ORDER BY p.stream_id)
	  INTO v_probes
	  FROM (SELECT s.stream_id, n.nspname, c.relname, s.replication_key, s.bookmark, a.atttypid
			  FROM pgpull.stream s
			  JOIN pg_catalog.pg_class c ON c.oid = s.relation
			  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = s.replication_key
											AND a.attnum > 0 AND NOT a.attisdropped
			 WHERE s.integration = v_run.integration
			   AND s.method = 'key_based'
			   AND s.bookmark IS NOT NULL
			   AND s.bookmark_type = a.atttypid
			   AND NOT EXISTS (SELECT FROM pgpull.run_streams rs
								WHERE rs.run_id = v_run.run_id AND rs.stream_id = s.stream_id)) AS p;
	IF v_probes IS NULL THEN
		RETURN NULL;
	END IF;
	RETURN 'SELECT p.stream_id FROM (VALUES ' || v_probes || ') AS p(stream_id, work) WHERE NOT p.work';
END
$fn$;
COMMENT ON FUNCTION pgpull.probe_query(bigint) IS 'the statement, for the source, that finds the key_based streams of a run with nothing new';

/*
 * record_unchanged: streams of a run with nothing new (the rows of
 * probe_query's statement, run on the source) succeed in the run without
 * being taken: each gets its row of the run (succeeded, 0 rows, the same
 * bookmark before and after) and an extraction log line; no bookmark
 * moves.  A stream another session holds (another puller syncing it) is
 * left out, for take_stream to skip.  Returns a row per stream recorded:
 * its log line, and for a run of a Singer target its bookmark entry for the
 * STATE messages (the one record_emitted would give at the end of a stream
 * that sent nothing).  Only the session that began the run may record;
 * 22023 for a stream without a bookmark, 55000 for one the run has
 * already started.
 */
CREATE FUNCTION pgpull.record_unchanged(run_id bigint, stream_ids bigint[])
RETURNS TABLE (stream_id bigint, message text, entry jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_id bigint;
BEGIN
	v_run := pgpull._run(record_unchanged.run_id, true);
	PERFORM pgpull._require_lock(pgpull._run_lock_class(), v_run.run_id, pg_catalog.format('run %s', v_run.run_id));
	IF record_unchanged.stream_ids IS NULL THEN
		RAISE EXCEPTION 'stream_ids must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'The streams with nothing new are given as an array of stream_id.',
				  HINT = 'Pass the stream_id column of the probe_query statement''s rows, or an empty array.';
	END IF;
	FOR v_id IN
		SELECT DISTINCT u.id FROM pg_catalog.unnest(record_unchanged.stream_ids) AS u(id) ORDER BY u.id
	LOOP
		v_stream := pgpull._stream(v_run, v_id);
		IF v_stream.method <> 'key_based' OR v_stream.bookmark IS NULL THEN
			RAISE EXCEPTION 'stream % has no bookmark', v_id
				USING ERRCODE = '22023',
					  DETAIL = 'Only a key_based stream with a bookmark can have nothing new.',
					  HINT = 'Pass the stream_id column of the probe_query statement''s rows.';
		END IF;
		IF EXISTS (SELECT FROM pgpull.run_streams rs WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_id) THEN
			RAISE EXCEPTION 'stream % is already in run %', v_id, v_run.run_id
				USING ERRCODE = '55000',
					  DETAIL = 'The run has taken, skipped or recorded it.',
					  HINT = 'Record the streams with nothing new before taking any.';
		END IF;
		/* another puller is syncing it: take_stream skips it */
		CONTINUE WHEN NOT pg_catalog.pg_try_advisory_lock(pgpull._lock_class(), v_id::integer);

		INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, ended_at, bookmark_before, bookmark_after)
		VALUES (v_run.run_id, v_id, 'succeeded', pg_catalog.now(), v_stream.bookmark, v_stream.bookmark);
		UPDATE pgpull.stream s
		   SET status = 'succeeded', last_error = NULL, updated_at = pg_catalog.now()
		 WHERE s.stream_id = v_id;
		PERFORM pg_catalog.pg_advisory_unlock(pgpull._lock_class(), v_id::integer);

		stream_id := v_id;
		message := pg_catalog.format('nothing new: no row with %I %s %s, nothing sent; the bookmark stays',
									 v_stream.replication_key,
									 CASE WHEN pgpull._capped_type(pgpull._column_type(v_stream.relation, v_stream.replication_key,
																					   true))
										  THEN '>' ELSE '>=' END,
									 v_stream.bookmark);
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (v_run.run_id, v_id, 'INFO', message);
		entry := CASE WHEN v_run.target = 'singer'
					  THEN pgpull._state_entry(v_run, v_stream, v_stream.bookmark, NULL, true, 0) END;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.record_unchanged(bigint, bigint[]) IS 'record streams of a run with nothing new as succeeded without taking them; moves no bookmark';
