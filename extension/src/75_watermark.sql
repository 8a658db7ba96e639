/*
 * 75_watermark.sql: the commit-safe watermark of date and time replication
 * keys (explained at the top of 70_run.sql): samples of the open
 * transactions and the cap they give a chunk's query.
 */

/*
 * _writer_time_zones: the time zones a writer of timestamp (without time
 * zone) values may use: UTC, the session's, the session's default, the
 * database's default.
 */
CREATE FUNCTION pgpull._writer_time_zones()
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_zones text[] := ARRAY['UTC', pg_catalog.current_setting('TimeZone')];
	v_zone text;
	v_ok text[] := '{}';
BEGIN
	v_zones := v_zones || (SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name = 'TimeZone');
	v_zones := v_zones || ARRAY(
		SELECT pg_catalog.substr(c.setting, pg_catalog.strpos(c.setting, '=') + 1)
		  FROM pg_catalog.pg_db_role_setting r
		 CROSS JOIN LATERAL pg_catalog.unnest(r.setconfig) AS c(setting)
		 WHERE r.setrole = 0
		   AND r.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d
								 WHERE d.datname = pg_catalog.current_database())
		   AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) = 'timezone');
	FOREACH v_zone IN ARRAY v_zones LOOP
		CONTINUE WHEN v_zone IS NULL OR v_zone = ANY (v_ok);
		BEGIN
			PERFORM pg_catalog.timezone(v_zone, pg_catalog.now());
			v_ok := v_ok || v_zone;
		EXCEPTION WHEN invalid_parameter_value OR feature_not_supported THEN
			NULL;
		END;
	END LOOP;
	RETURN v_ok;
END
$fn$;
COMMENT ON FUNCTION pgpull._writer_time_zones() IS 'internal: the time zones timestamp keys may be written in';

/*
 * _holds_cap: whether a backend of this type can hold back the cap of date
 * and time bookmarks.  The one list of the backends that never write table
 * rows, and so never commit a row late: the autovacuum launcher and
 * workers (an hours-long vacuum of a big table keeps a transaction open),
 * walsenders, the checkpointer, the background writer, the WAL writer and
 * the archiver.  Client backends, background workers (pg_cron jobs,
 * logical replication apply workers, extensions' jobs can write) and
 * anything else do.
 */
CREATE FUNCTION pgpull._holds_cap(backend_type text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _holds_cap.backend_type IS NULL
		OR _holds_cap.backend_type <> ALL (ARRAY['autovacuum launcher', 'autovacuum worker', 'walsender',
												'checkpointer', 'background writer', 'walwriter', 'archiver']);
$fn$;
COMMENT ON FUNCTION pgpull._holds_cap(text) IS 'internal: whether a backend of this type can commit rows late, and so holds back the commit-safe cap';

/*
 * _watermark_sample: a sample of the open transactions of this database
 * (see the commit-safe watermark at the top of 70_run.sql).  Reads the
 * start of every transaction open in another session, then takes a
 * transaction ID, so a snapshot that sees that ID as finished (xmax past it
 * on a primary, xmin past it on a standby) was taken after the read.
 * Backends that never write rows (_holds_cap) are left out.
 * Transactions of roles whose activity the extension owner may not read
 * (neither superuser nor pg_read_all_stats) are counted in hidden and
 * otherwise ignored; prepared transactions count from when they were
 * prepared (their start is not recorded anywhere).  Keeps three days.
 */
CREATE FUNCTION pgpull._watermark_sample()
RETURNS pgpull.watermark_sample
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_sample pgpull.watermark_sample;
	v_prepared timestamptz;
BEGIN
	/* the activity read must be newer than taken_at: drop any cached copy */
	PERFORM pg_catalog.pg_stat_clear_snapshot();
	v_sample.taken_at := pg_catalog.clock_timestamp();
	SELECT a.pid, a.xact_start, a.application_name
	  INTO v_sample.oldest_pid, v_sample.oldest_start, v_sample.oldest_application
	  FROM pg_catalog.pg_stat_activity a
	 WHERE a.datname = pg_catalog.current_database()
	   AND a.pid <> pg_catalog.pg_backend_pid()
	   AND pgpull._holds_cap(a.backend_type)
	   AND a.xact_start IS NOT NULL
	 ORDER BY a.xact_start
	 LIMIT 1;
	SELECT pg_catalog.count(*) FILTER (WHERE a.backend_xid IS NOT NULL),
		   pg_catalog.count(*) FILTER (WHERE a.xact_start IS NULL
										 AND (a.backend_xid IS NOT NULL OR a.backend_xmin IS NOT NULL)
										 AND a.state IS NULL)
	  INTO v_sample.writers, v_sample.hidden
	  FROM pg_catalog.pg_stat_activity a
	 WHERE a.datname = pg_catalog.current_database()
	   AND a.pid <> pg_catalog.pg_backend_pid()
	   AND pgpull._holds_cap(a.backend_type);
	SELECT pg_catalog.min(p.prepared), pg_catalog.count(*) + v_sample.writers
	  INTO v_prepared, v_sample.writers
	  FROM pg_catalog.pg_prepared_xacts p
	 WHERE p.database = pg_catalog.current_database();
	v_sample.xid := pg_catalog.pg_current_xact_id();
	/*
	 * 10 ms covers a transaction that took its start time just before the
	 * activity read but was not yet listed in it; a wider margin would hold
	 * back every row written in the moments before a sync until the next.
	 */
	v_sample.cap := LEAST(v_sample.taken_at - interval '10 milliseconds', v_sample.oldest_start, v_prepared);
	DELETE FROM pgpull.watermark_sample w WHERE w.taken_at < v_sample.taken_at - interval '3 days';
	INSERT INTO pgpull.watermark_sample (taken_at, xid, cap, oldest_pid, oldest_start, writers, hidden,
										 oldest_application)
	VALUES (v_sample.taken_at, v_sample.xid, v_sample.cap, v_sample.oldest_pid, v_sample.oldest_start,
			v_sample.writers, v_sample.hidden, v_sample.oldest_application)
	RETURNING * INTO v_sample;
	RETURN v_sample;
END
$fn$;
COMMENT ON FUNCTION pgpull._watermark_sample() IS 'internal: record when the oldest open transaction of the database started';

/*
 * _watermark_cap_expr: the scalar subquery, run inside a chunk's snapshot
 * on the source, giving the cap of a replication key of base type typ
 * (timestamptz, timestamp or date) from the newest valid sample among the
 * current one and the newest older than 1 s, 10 s, 1 min, 10 min, 1 h,
 * 1 day and 2 days (NULL when none is valid); as_text: the same cap as the
 * ISO text of bookmarks (_key_text_expr).
 */
CREATE FUNCTION pgpull._watermark_cap_expr(current_sample pgpull.watermark_sample, typ pg_catalog.oid,
										   as_text boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_zones text[];
	v_values text;
BEGIN
	/* the writers' time zones matter to timestamp and date keys only (and cost a read of pg_settings) */
	IF _watermark_cap_expr.typ <> 'pg_catalog.timestamptz'::pg_catalog.regtype THEN
		v_zones := pgpull._writer_time_zones();
	END IF;
	SELECT pg_catalog.string_agg(pg_catalog.format('(%L::pg_catalog.xid8, %L::%s, %2$L)', x.xid, x.cap_text,
			pg_catalog.format_type(_watermark_cap_expr.typ, NULL)), ', ' ORDER BY x.taken_at DESC)
	  INTO v_values
	  FROM (SELECT s.taken_at, s.xid,
				   CASE _watermark_cap_expr.typ
				   WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype THEN
					   pg_catalog.btrim(pg_catalog.to_json(pg_catalog.timezone('UTC', s.cap))::text, '"') || 'Z'
				   WHEN 'pg_catalog.timestamp'::pg_catalog.regtype THEN
					   (SELECT pg_catalog.btrim(pg_catalog.to_json(pg_catalog.min(pg_catalog.timezone(z.zone, s.cap)))::text, '"')
						  FROM pg_catalog.unnest(v_zones) AS z(zone))
				   ELSE
					   (SELECT pg_catalog.btrim(pg_catalog.to_json(pg_catalog.min(pg_catalog.timezone(z.zone, s.cap)::pg_catalog.date))::text, '"')
						  FROM pg_catalog.unnest(v_zones) AS z(zone))
				   END AS cap_text
			  FROM (SELECT DISTINCT u.sample_id, u.taken_at, u.xid, u.cap
					  FROM (SELECT (_watermark_cap_expr.current_sample).*
							UNION ALL
							SELECT o.*
							  FROM pg_catalog.unnest(ARRAY['1 second', '10 seconds', '1 minute', '10 minutes',
														   '1 hour', '1 day', '2 days']::interval[]) AS b(age)
							 CROSS JOIN LATERAL (
								SELECT w.* FROM pgpull.watermark_sample w
								 WHERE w.taken_at <= (_watermark_cap_expr.current_sample).taken_at - b.age
								 ORDER BY w.taken_at DESC LIMIT 1) AS o) AS u) AS s) AS x;
	RETURN pg_catalog.format(
		'(SELECT %s FROM (VALUES %s) AS w(xid, cap, cap_text)'
		' WHERE w.xid < CASE WHEN pg_catalog.pg_is_in_recovery()'
		' THEN pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())'
		' ELSE pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()) END'
		' OR (w.xid = pg_catalog.pg_current_xact_id_if_assigned()'
		' AND pg_catalog.current_setting(''transaction_isolation'') = ''read committed'')%s)',
		CASE WHEN _watermark_cap_expr.as_text THEN 'w.cap_text' ELSE 'pg_catalog.max(w.cap)' END,
		v_values,
		CASE WHEN _watermark_cap_expr.as_text THEN ' ORDER BY w.cap DESC LIMIT 1' ELSE '' END);
END
$fn$;
COMMENT ON FUNCTION pgpull._watermark_cap_expr(pgpull.watermark_sample, pg_catalog.oid, boolean) IS 'internal: SQL of the commit-safe cap of a date or time replication key';
