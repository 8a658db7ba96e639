/*
 * 87_housekeeping.sql: what operators need of the catalog over time: how
 * long runs are kept (set_retention), the pruning of older ones at the end
 * of each run (prune_runs), and per stream figures for monitoring
 * (stream_metrics, which `pgpull sync --metrics-file` writes out in the
 * Prometheus text format).
 *
 * Counters never go back: a run pruned from pgpull.runs leaves its
 * figures, per stream, in pgpull.stream_pruned, which stream_metrics adds
 * to the sums over pgpull.run_streams.  Each stream's last run and last
 * successful run are always kept, so the last status and the time of the
 * last success survive any retention.
 */

/*
 * _retention_of: how long runs of an integration are kept: its own setting,
 * else the one of every integration, else 60 days (Stitch's longest
 * plan).
 */
CREATE FUNCTION pgpull._retention_of(integration text)
RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT COALESCE((SELECT r.keep FROM pgpull.retention r WHERE r.integration = _retention_of.integration),
					(SELECT r.keep FROM pgpull.retention r WHERE r.integration IS NULL),
					interval '60 days');
$fn$;
COMMENT ON FUNCTION pgpull._retention_of(text) IS 'internal: how long runs of an integration are kept';

/*
 * _is_retry: whether an extraction log line is a retry the puller logged
 * (a request to the destination sent again, "...; retry N of M in S s", or
 * a chunk read again after a recovery conflict, "... (retry N of M)").
 */
CREATE FUNCTION pgpull._is_retry(level text, message text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _is_retry.level = 'WARNING' AND _is_retry.message ~ 'retry [0-9]+ of [0-9]+';
$fn$;
COMMENT ON FUNCTION pgpull._is_retry(text, text) IS 'internal: whether an extraction log line is a retry of the puller';

/*
 * set_retention: keep the runs of an integration (NULL: of every
 * integration, whose own settings it replaces) for keep; older ones, with
 * their run streams and extraction log lines, are pruned by the puller at
 * the end of each run of the integration.  Each stream's last run and last
 * successful run are kept whatever their age.
 */
CREATE FUNCTION pgpull.set_retention(keep interval, integration text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = postgres
AS $fn$
BEGIN
	IF set_retention.keep IS NULL THEN
		RAISE EXCEPTION 'keep must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'The retention is how long runs are kept.',
				  HINT = 'Give an interval, such as ''60 days'' (the default).';
	END IF;
	IF set_retention.keep <= interval '0' THEN
		RAISE EXCEPTION 'retention must be positive'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('keep is %s.', set_retention.keep),
				  HINT = 'Give an interval, such as ''60 days'' (the default); each stream''s last run is kept in any case.';
	END IF;
	IF set_retention.integration IS NOT NULL
	   AND NOT EXISTS (SELECT FROM pgpull.stream s WHERE s.integration = set_retention.integration)
	   AND NOT EXISTS (SELECT FROM pgpull.integration_grant g WHERE g.integration = set_retention.integration)
	   AND NOT EXISTS (SELECT FROM pgpull.runs r WHERE r.integration = set_retention.integration) THEN
		RAISE EXCEPTION 'integration "%" does not exist', set_retention.integration
			USING ERRCODE = '42704',
				  DETAIL = 'No stream, grant or run belongs to it.',
				  HINT = 'Track a relation in it first (pgpull.track), or pass NULL to set the retention of every integration.';
	END IF;
	IF set_retention.integration IS NULL THEN
		DELETE FROM pgpull.retention r WHERE r.integration IS NOT NULL;
	END IF;
	INSERT INTO pgpull.retention AS r (integration, keep)
	VALUES (set_retention.integration, set_retention.keep)
	ON CONFLICT ON CONSTRAINT retention_integration_key DO UPDATE
	   SET keep = EXCLUDED.keep, set_at = pg_catalog.now();
END
$fn$;
COMMENT ON FUNCTION pgpull.set_retention(interval, text) IS 'keep the runs of an integration (NULL: every integration) for an interval; the puller prunes older ones';

/*
 * prune_runs: at the end of a run, before end_run, delete the runs of its
 * integration that ended before its retention (set_retention), with their
 * run streams and extraction log lines, and the extraction log lines of no
 * run about its streams that are as old.  A run is kept while it is the
 * last run of one of its streams that was not skipped, or its last
 * successful run.  The figures of the runs deleted go to
 * pgpull.stream_pruned.  Runs another session is pruning are left to it.
 * Only the session that began the run calls it; it logs what it deleted,
 * when anything, and returns the counts.
 */
CREATE FUNCTION pgpull.prune_runs(run_id bigint)
RETURNS TABLE (runs bigint, run_streams bigint, log_lines bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET IntervalStyle = postgres
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs;
	v_keep interval;
	v_before timestamptz;
	v_runs bigint[];
	v_rs bigint;
	v_log bigint;
	v_loose bigint;
BEGIN
	v_run := pgpull._run(prune_runs.run_id, true);
	PERFORM pgpull._require_lock(pgpull._run_lock_class(), v_run.run_id, pg_catalog.format('run %s', v_run.run_id));
	v_keep := pgpull._retention_of(v_run.integration);
	v_before := pg_catalog.now() - v_keep;

	SELECT COALESCE(pg_catalog.array_agg(o.run_id ORDER BY o.run_id), '{}') INTO v_runs
	  FROM (SELECT r.run_id
			  FROM pgpull.runs r
			 WHERE r.integration = v_run.integration
			   AND r.status <> 'running'
			   AND COALESCE(r.ended_at, r.started_at) < v_before
			   AND NOT EXISTS (
					SELECT FROM pgpull.run_streams rs
					 WHERE rs.run_id = r.run_id AND rs.status <> 'skipped'
					   AND (NOT EXISTS (SELECT FROM pgpull.run_streams n
										 WHERE n.stream_id = rs.stream_id AND n.status <> 'skipped'
										   AND (n.started_at, n.run_id) > (rs.started_at, rs.run_id))
							OR (rs.status = 'succeeded'
								AND NOT EXISTS (SELECT FROM pgpull.run_streams n
												 WHERE n.stream_id = rs.stream_id AND n.status = 'succeeded'
												   AND (n.ended_at, n.run_id) > (rs.ended_at, rs.run_id)))))
			 ORDER BY r.run_id
			   FOR UPDATE OF r SKIP LOCKED) AS o;

	SELECT pg_catalog.count(*) INTO v_rs FROM pgpull.run_streams rs WHERE rs.run_id = ANY (v_runs);
	SELECT pg_catalog.count(*) INTO v_log FROM pgpull.extraction_log l WHERE l.run_id = ANY (v_runs);
	INSERT INTO pgpull.stream_pruned AS p (stream_id, rows_loaded, batches, bytes, retries)
	SELECT f.stream_id, pg_catalog.sum(f.rows_loaded), pg_catalog.sum(f.batches), pg_catalog.sum(f.bytes),
		   pg_catalog.sum(f.retries)
	  FROM (SELECT rs.stream_id, rs.rows_loaded, rs.batches, rs.bytes, 0 AS retries
			  FROM pgpull.run_streams rs
			 WHERE rs.run_id = ANY (v_runs)
			UNION ALL
			SELECT l.stream_id, 0, 0, 0, 1
			  FROM pgpull.extraction_log l
			 WHERE l.run_id = ANY (v_runs) AND l.stream_id IS NOT NULL AND pgpull._is_retry(l.level, l.message)
		   ) AS f
	 GROUP BY f.stream_id
	ON CONFLICT (stream_id) DO UPDATE
	   SET rows_loaded = p.rows_loaded + EXCLUDED.rows_loaded,
		   batches = p.batches + EXCLUDED.batches,
		   bytes = p.bytes + EXCLUDED.bytes,
		   retries = p.retries + EXCLUDED.retries,
		   pruned_at = pg_catalog.now();
	DELETE FROM pgpull.runs r WHERE r.run_id = ANY (v_runs);
	DELETE FROM pgpull.extraction_log l
	 WHERE l.run_id IS NULL AND l.logged_at < v_before
	   AND l.stream_id IN (SELECT s.stream_id FROM pgpull.stream s WHERE s.integration = v_run.integration);
	GET DIAGNOSTICS v_loose = ROW_COUNT;
	v_log := v_log + v_loose;

	IF pg_catalog.cardinality(v_runs) > 0 OR v_log > 0 THEN
		PERFORM pgpull._log_line(v_run.run_id, NULL, 'INFO',
			pg_catalog.format('catalog pruned: %s run%s, %s run stream%s and %s extraction log line%s older than %s (the retention of integration "%s")',
							  pg_catalog.cardinality(v_runs), CASE WHEN pg_catalog.cardinality(v_runs) = 1 THEN '' ELSE 's' END,
							  v_rs, CASE WHEN v_rs = 1 THEN '' ELSE 's' END,
							  v_log, CASE WHEN v_log = 1 THEN '' ELSE 's' END,
							  v_keep, v_run.integration));
	END IF;
	RETURN QUERY SELECT pg_catalog.cardinality(v_runs)::bigint, v_rs, v_log;
END
$fn$;
COMMENT ON FUNCTION pgpull.prune_runs(bigint) IS 'at the end of a run: delete the runs of its integration older than its retention, keeping each stream''s last run and last success';

/*
 * stream_metrics: per stream of an integration, by destination table, the
 * figures `pgpull sync --metrics-file` writes: counters over every run
 * (those in pgpull.run_streams plus those pruned): rows the destination
 * accepted, their bytes, batches, retries logged for the stream; and
 * gauges: the status and duration (seconds) of its last run that was not
 * skipped, when it last succeeded (Unix time; NULL: never), and the age
 * of its bookmark in seconds (now minus the bookmark, for a date or time
 * replication key: timestamp and date bookmarks read as UTC; NULL
 * otherwise).  Only a role that may run the integration may read them.
 */
CREATE FUNCTION pgpull.stream_metrics(integration text)
RETURNS TABLE (stream_id bigint, destination_table text, rows_loaded bigint, bytes bigint, batches bigint,
			   retries bigint, last_status text, last_duration double precision,
			   last_success_at double precision, bookmark_age double precision)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
	IF stream_metrics.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'The figures are those of the streams of one integration.',
				  HINT = 'Name the integration, such as "default".';
	END IF;
	PERFORM pgpull._require_integration(stream_metrics.integration);
	RETURN QUERY
	SELECT s.stream_id, s.destination_table,
		   (COALESCE(a.rows_loaded, 0) + COALESCE(p.rows_loaded, 0))::bigint,
		   (COALESCE(a.bytes, 0) + COALESCE(p.bytes, 0))::bigint,
		   (COALESCE(a.batches, 0) + COALESCE(p.batches, 0))::bigint,
		   (COALESCE(rt.retries, 0) + COALESCE(p.retries, 0))::bigint,
		   l.status,
		   pg_catalog.date_part('epoch', l.ended_at - l.started_at),
		   pg_catalog.date_part('epoch', ok.ended_at),
		   CASE WHEN s.method = 'key_based' AND s.bookmark IS NOT NULL
					 AND s.bookmark NOT IN ('infinity', '-infinity') AND s.bookmark NOT LIKE '% BC' THEN
				pg_catalog.date_part('epoch', pg_catalog.now()) -
				CASE pgpull._base_type(s.bookmark_type)
				WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype
				THEN pg_catalog.date_part('epoch', s.bookmark::pg_catalog.timestamptz)
				WHEN 'pg_catalog.timestamp'::pg_catalog.regtype
				THEN pg_catalog.date_part('epoch', s.bookmark::pg_catalog.timestamp)
				WHEN 'pg_catalog.date'::pg_catalog.regtype
				THEN pg_catalog.date_part('epoch', s.bookmark::pg_catalog.date)
				END END
	  FROM pgpull.stream s
	  LEFT JOIN pgpull.stream_pruned p ON p.stream_id = s.stream_id
	  LEFT JOIN LATERAL (
			SELECT pg_catalog.sum(rs.rows_loaded) AS rows_loaded, pg_catalog.sum(rs.bytes) AS bytes,
				   pg_catalog.sum(rs.batches) AS batches
			  FROM pgpull.run_streams rs
			 WHERE rs.stream_id = s.stream_id) AS a ON true
	  LEFT JOIN (
			SELECT el.stream_id, pg_catalog.count(*) AS retries
			  FROM pgpull.extraction_log el
			 WHERE el.level = 'WARNING' AND pgpull._is_retry(el.level, el.message)
			 GROUP BY el.stream_id) AS rt ON rt.stream_id = s.stream_id
	  LEFT JOIN LATERAL (
			SELECT rs.status, rs.started_at, rs.ended_at
			  FROM pgpull.run_streams rs
			 WHERE rs.stream_id = s.stream_id AND rs.status <> 'skipped'
			 ORDER BY rs.started_at DESC, rs.run_id DESC
			 LIMIT 1) AS l ON true
	  LEFT JOIN LATERAL (
			SELECT pg_catalog.max(rs.ended_at) AS ended_at
			  FROM pgpull.run_streams rs
			 WHERE rs.stream_id = s.stream_id AND rs.status = 'succeeded') AS ok ON true
	 WHERE s.integration = stream_metrics.integration
	 ORDER BY s.destination_table COLLATE "C";
END
$fn$;
COMMENT ON FUNCTION pgpull.stream_metrics(text) IS 'per stream of an integration: rows, bytes, batches and retries over every run, last status and duration, last success, bookmark age';
