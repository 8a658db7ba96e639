/*
 * 60_standby.sql: the standby check.
 *
 * check_standby: is this server a read replica pgpull can extract from
 * without its queries being cancelled by recovery conflicts?
 *
 * One row per check, always the same rows in the same order:
 *   in_recovery                  whether the server is a standby
 *   hot_standby                  must be on (read queries at all)
 *   max_standby_streaming_delay  8h to 12h, or -1, during historical syncs
 *   max_standby_archive_delay    the same, for WAL restored from the archive
 *   hot_standby_feedback         on, so VACUUM on the primary keeps the row
 *                                versions long extractions still need
 *   replay_lag                   how far the replica's data lags (under 5
 *                                minutes, or all received WAL replayed)
 *   confl_*                      one row per pg_stat_database_conflicts
 *                                counter of the current database: queries
 *                                already cancelled (0 is ok)
 * fix is the ALTER SYSTEM statement and reload that bring a setting up
 * (hot_standby needs a restart instead).  On a primary the rows are the
 * same, all ok, and say the checks do not apply.
 *
 * It reads only what any role may read (pg_settings, recovery-information
 * functions, pg_stat_database_conflicts), so the replication role can call
 * it: grant_script grants EXECUTE, nobody else has it.
 */
CREATE FUNCTION pgpull.check_standby()
RETURNS TABLE (setting text, value text, recommended text, ok boolean, detail text, fix text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_standby boolean := pg_catalog.pg_is_in_recovery();
	v_na constant text := 'the server is not in recovery (a primary): the standby checks do not apply';
	v_name text;
	v_ms bigint;
	v_replayed timestamptz;
	v_lag interval;
	v_caught_up boolean;
	v_conflict record;
BEGIN
	setting := 'in_recovery';
	value := v_standby::text;
	recommended := 'true';
	ok := true;
	detail := CASE WHEN v_standby THEN 'the server is a standby: extractions read a replica, as recommended'
				   ELSE v_na END;
	fix := NULL;
	RETURN NEXT;

	setting := 'hot_standby';
	value := pg_catalog.current_setting('hot_standby');
	recommended := 'on';
	ok := NOT v_standby OR value = 'on';
	detail := CASE WHEN NOT v_standby THEN v_na
				   WHEN ok THEN 'the standby accepts read queries'
				   ELSE 'the standby accepts no queries; the setting takes effect after a restart' END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET hot_standby = ''on''; -- then restart the server' END;
	RETURN NEXT;

	FOREACH v_name IN ARRAY ARRAY['max_standby_streaming_delay', 'max_standby_archive_delay'] LOOP
		SELECT s.setting::bigint INTO v_ms FROM pg_catalog.pg_settings s WHERE s.name = v_name;
		setting := v_name;
		value := pg_catalog.current_setting(v_name);
		recommended := '8h to 12h, or -1';
		ok := NOT v_standby OR v_ms = -1 OR v_ms >= 28800000;
		detail := CASE WHEN NOT v_standby THEN v_na
					   WHEN v_ms = -1 THEN 'replay waits for conflicting queries as long as they run; replay lag can grow without bound'
					   WHEN ok AND v_ms > 43200000 THEN 'conflicting queries may run for ' || value || ' before replay cancels them; replay lag can grow as long'
					   WHEN ok THEN 'conflicting queries may run for ' || value || ' before replay cancels them'
					   ELSE 'replay cancels queries that conflict with it after ' || value
						   || '; raise it to 8h-12h during historical syncs, lower it afterwards' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER SYSTEM SET %I = %L; SELECT pg_reload_conf();', v_name, '12h') END;
		RETURN NEXT;
	END LOOP;

	setting := 'hot_standby_feedback';
	value := pg_catalog.current_setting('hot_standby_feedback');
	recommended := 'on';
	ok := NOT v_standby OR value = 'on';
	detail := CASE WHEN NOT v_standby THEN v_na
				   WHEN ok THEN 'the primary keeps the row versions the standby''s queries need (at some cost in bloat)'
				   ELSE 'VACUUM on the primary may remove row versions a running extraction needs, and replay then cancels it' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER SYSTEM SET %I = %L; SELECT pg_reload_conf();', 'hot_standby_feedback', 'on') END;
	RETURN NEXT;

	setting := 'replay_lag';
	recommended := 'under 5 min';
	fix := NULL;
	IF NOT v_standby THEN
		value := NULL;
		ok := true;
		detail := v_na;
	ELSE
		v_replayed := pg_catalog.pg_last_xact_replay_timestamp();
		v_lag := GREATEST(pg_catalog.clock_timestamp() - v_replayed, '0'::interval);
		v_caught_up := pg_catalog.pg_last_wal_receive_lsn() IS NOT NULL
			AND pg_catalog.pg_last_wal_receive_lsn() <= pg_catalog.pg_last_wal_replay_lsn();
		value := pg_catalog.date_trunc('second', v_lag)::text;
		ok := v_replayed IS NULL OR v_caught_up OR v_lag < '5 min'::interval;
		detail := CASE WHEN v_replayed IS NULL THEN 'no transaction has been replayed since the standby started'
					   WHEN v_caught_up THEN 'all WAL received is replayed; the last replayed transaction committed ' || value || ' ago'
					   WHEN ok THEN 'the data is ' || value || ' behind the primary'
					   ELSE 'the data is ' || value || ' behind the primary: extractions miss the newest changes until replay catches up' END;
	END IF;
	RETURN NEXT;

	FOR v_conflict IN
		SELECT a.attname::text AS name, pg_catalog.to_jsonb(c) ->> a.attname AS n
		  FROM pg_catalog.pg_stat_database_conflicts c
		 CROSS JOIN pg_catalog.pg_attribute a
		 WHERE c.datname = pg_catalog.current_database()
		   AND a.attrelid = 'pg_catalog.pg_stat_database_conflicts'::pg_catalog.regclass
		   AND a.attname LIKE 'confl\_%'
		 ORDER BY a.attnum
	LOOP
		setting := v_conflict.name;
		value := v_conflict.n;
		recommended := '0';
		ok := NOT v_standby OR v_conflict.n::bigint = 0;
		detail := CASE WHEN NOT v_standby THEN v_na
					   ELSE 'queries in this database cancelled since statistics were reset, because '
						   || CASE v_conflict.name
								  WHEN 'confl_snapshot' THEN 'replay removed row versions they needed (hot_standby_feedback prevents it)'
								  WHEN 'confl_lock' THEN 'they held locks replay needed (a longer max_standby_streaming_delay helps)'
								  WHEN 'confl_bufferpin' THEN 'they pinned buffers replay needed (a longer max_standby_streaming_delay helps)'
								  WHEN 'confl_deadlock' THEN 'they deadlocked with replay'
								  WHEN 'confl_tablespace' THEN 'replay dropped a tablespace they used'
								  WHEN 'confl_active_logicalslot' THEN 'replay invalidated a logical slot they used'
								  ELSE 'of a conflict with recovery' END END;
		fix := NULL;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.check_standby() IS 'read-replica checks for extraction: recovery, hot_standby, standby delays, hot_standby_feedback, replay lag, conflict counts; all ok on a primary';
