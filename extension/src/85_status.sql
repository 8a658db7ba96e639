/*
 * 85_status.sql: the health of the integrations, for "pgpull status" and
 * monitoring.
 *
 * The view stream_status (the extension owner's) shows per stream what
 * its last run did and what its next run will do.  The functions the
 * replication role calls (grant_script grants them: _puller_functions)
 * show only the integrations the session's role may run (_may_run):
 *
 *	 status(integration)			the streams, one row each
 *	 status_attention(integration)	what needs attention: a stream whose last
 *									run failed, a tracked relation that was
 *									dropped, the privilege audit's rows not
 *									ok for the roles the integrations are
 *									granted to, and status_standby's rows
 *	 status_standby(integration)	check_standby's rows not ok on this
 *									server; a setting under the
 *									recommendation needs attention while a
 *									historical sync is pending
 *
 * An item with attention false is a warning: a standby check not ok while
 * no historical sync is pending.  pgpull status exits with status 1 when
 * an item needs attention.
 */

/*
 * stream_status: per stream, the last run (the last one that did not skip
 * it), the rows loaded in 24 hours, whether its relation was dropped,
 * whether a historical sync is pending (every row to read: a key_based
 * stream without a bookmark; a full_table stream never synced, reset, or
 * with an interrupted sync to resume; a log_based stream whose initial
 * copy is not complete) and the next action of a run.  A log_based
 * stream's bookmark is the position in the write-ahead log its changes
 * are accepted to.
 */
CREATE VIEW pgpull.stream_status AS
SELECT s.integration,
	   s.stream_id,
	   CASE WHEN d.dropped THEN s.relation_name ELSE pgpull._relation_label(s.relation) END AS relation,
	   s.destination_table,
	   s.method,
	   CASE WHEN s.method = 'key_based' AND s.bookmark IS NOT NULL
			THEN s.replication_key || ': ' || s.bookmark
			WHEN s.method = 'log_based' AND s.bookmark IS NOT NULL
			THEN 'lsn: ' || s.bookmark END AS bookmark,
	   l.run_id AS last_run_id,
	   COALESCE(l.ended_at, l.started_at) AS last_run_at,
	   l.status AS last_status,
	   l.error AS last_error,
	   COALESCE(a.rows_24h, 0)::bigint AS rows_loaded_24h,
	   CASE WHEN d.dropped THEN 'relation dropped: untrack'
			WHEN s.status = 'running' THEN 'running'
			WHEN s.method = 'log_based' AND s.bookmark IS NOT NULL
			THEN 'stream changes from slot' || CASE WHEN ls.retained_wal IS NOT NULL AND ls.lag IS NOT NULL
				THEN pg_catalog.format(' (it retains %s of WAL, %s behind)',
					pg_catalog.pg_size_pretty(ls.retained_wal), pg_catalog.pg_size_pretty(ls.lag)) ELSE '' END
			WHEN s.method = 'log_based' AND (s.resume_position IS NOT NULL OR r.ranges) THEN 'initial copy resumes'
			WHEN s.method = 'log_based' THEN 'initial copy pending'
			WHEN s.method = 'key_based' AND s.bookmark IS NOT NULL THEN 'incremental'
			WHEN s.method = 'key_based' AND a.succeeded_at IS NULL THEN 'first full sync pending'
			WHEN s.method = 'key_based' AND a.last_bookmark IS NULL THEN 'full sync: no row had a key yet'
			WHEN s.method = 'key_based' THEN 'full sync pending after reset'
			WHEN s.resume_position IS NOT NULL OR r.ranges THEN 'full sync resumes'
			WHEN a.succeeded_at IS NULL THEN 'first full sync pending'
			WHEN s.status = 'pending' THEN 'full sync pending after reset'
			ELSE 'full sync' END AS next_action,
	   NOT d.dropped
	   AND CASE WHEN s.method IN ('key_based', 'log_based') THEN s.bookmark IS NULL
				ELSE s.resume_position IS NOT NULL OR r.ranges OR a.succeeded_at IS NULL
					 OR s.status = 'pending' END AS historical_pending,
	   d.dropped AS relation_dropped
  FROM pgpull.stream s
 CROSS JOIN LATERAL (
		SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation) AS dropped) AS d
 CROSS JOIN LATERAL (
		SELECT EXISTS (SELECT FROM pgpull.stream_range sr WHERE sr.stream_id = s.stream_id) AS ranges) AS r
  LEFT JOIN LATERAL (
		SELECT pg_catalog.max(rs.ended_at) FILTER (WHERE rs.status = 'succeeded') AS succeeded_at,
			   (pg_catalog.array_agg(rs.bookmark_after ORDER BY rs.started_at DESC, rs.run_id DESC)
					FILTER (WHERE rs.status = 'succeeded'))[1] AS last_bookmark,
			   pg_catalog.sum(rs.rows_loaded) FILTER (WHERE rs.started_at >= pg_catalog.now() - interval '24 hours') AS rows_24h
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id) AS a ON true
  LEFT JOIN LATERAL (
		SELECT rs.run_id, rs.started_at, rs.ended_at, rs.status, rs.error
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id AND rs.status <> 'skipped'
		 ORDER BY rs.started_at DESC, rs.run_id DESC
		 LIMIT 1) AS l ON true
  /* log_based: the write-ahead log the integration's slot retains, and its lag */
  LEFT JOIN LATERAL (
		SELECT st.retained_wal, st.lag FROM pgpull.slot_status(s.integration) st) AS ls
	ON s.method = 'log_based';
COMMENT ON VIEW pgpull.stream_status IS 'per stream: last run and its outcome, rows loaded in 24 hours, next action, whether a historical sync is pending or the relation was dropped';

/*
 * _status_integrations: the integrations the session's role may run, of
 * those with streams or grants; only the one named when integration is
 * not NULL, which must then be one the role may run (42501 otherwise).
 */
CREATE FUNCTION pgpull._status_integrations(integration text)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_role pg_catalog.oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER);
BEGIN
	IF _status_integrations.integration IS NOT NULL THEN
		PERFORM pgpull._require_integration(_status_integrations.integration);
		RETURN NEXT _status_integrations.integration;
		RETURN;
	END IF;
	RETURN QUERY SELECT i FROM pgpull._integrations() i WHERE pgpull._may_run(v_role, i);
END
$fn$;
COMMENT ON FUNCTION pgpull._status_integrations(text) IS 'internal: the integrations status shows: the one named, or every one the session''s role may run';

/*
 * status: the streams of the integrations the session's role may run (or
 * of the one named, 42501 when the role may not run it), one row each, as
 * pgpull.stream_status shows them.
 */
CREATE FUNCTION pgpull.status(integration text DEFAULT NULL)
RETURNS SETOF pgpull.stream_status
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT v.*
	  FROM pgpull.stream_status v
	 WHERE v.integration IN (SELECT i FROM pgpull._status_integrations(status.integration) i)
	 ORDER BY v.integration COLLATE "C", v.relation COLLATE "C", v.stream_id;
$fn$;
COMMENT ON FUNCTION pgpull.status(text) IS 'the streams of the integrations the session''s role may run: last run, outcome, rows in 24 hours, next action';

/*
 * status_standby: the checks of check_standby that are not ok on this
 * server (none on a primary), one row each.  A setting that keeps
 * extractions from being cancelled (hot_standby, the two standby delays,
 * hot_standby_feedback) needs attention while a stream of the
 * integrations the session's role may run has a historical sync pending;
 * the other rows, and those settings when none is pending, are warnings.
 */
CREATE FUNCTION pgpull.status_standby(integration text DEFAULT NULL)
RETURNS TABLE (kind text, subject text, message text, fix text, attention boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_check record;
	v_pending text;
BEGIN
	IF NOT pg_catalog.pg_is_in_recovery() THEN
		PERFORM pgpull._status_integrations(status_standby.integration);
		RETURN;
	END IF;
	SELECT pg_catalog.string_agg(v.relation || ' (' || v.next_action || ')', ', ')
	  INTO v_pending
	  FROM pgpull.status(status_standby.integration) v
	 WHERE v.historical_pending;
	FOR v_check IN SELECT * FROM pgpull.check_standby() c WHERE NOT c.ok LOOP
		kind := 'standby';
		subject := v_check.setting;
		attention := v_pending IS NOT NULL
			AND v_check.setting IN ('hot_standby', 'max_standby_streaming_delay',
									'max_standby_archive_delay', 'hot_standby_feedback');
		message := pg_catalog.format('%s is %s (recommended: %s): %s', v_check.setting,
									 COALESCE(v_check.value, 'unknown'), v_check.recommended, v_check.detail)
			|| CASE WHEN attention THEN '; historical syncs pending: ' || v_pending ELSE '' END;
		fix := v_check.fix;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.status_standby(text) IS 'the standby checks not ok on this server; a setting under the recommendation needs attention while a historical sync is pending';

/*
 * status_attention: what needs attention in the integrations the session's
 * role may run (or the one named), one row each: an integration named that
 * tracks no stream; per stream, a relation that was dropped (with the
 * untrack call), or else a last run that failed (with its error); the
 * rows of the privilege audit (check_privileges) that are not ok, for
 * each role the integrations are granted to (of those roles, only the
 * session's role and the roles it is a member of, unless it is a member
 * of the extension owner), over the schemas of their streams, but for the
 * columns of a relation the role cannot read at all (its relation's row
 * and fix cover them); for the log_based streams of the integrations,
 * once each (not per role), wal_level not logical, a publication that
 * misses streams (or publishes other tables: a warning) and a table whose
 * replica identity is no longer the stream's key columns; per replication
 * slot of an integration: one whose integration has no log_based stream
 * left (the next run drops it), invalidated (wal_status lost: the next
 * run copies the streams again), past max_slot_wal_keep_size
 * (unreserved), or the one the puller made gone; then status_standby's
 * rows.
 */
CREATE FUNCTION pgpull.status_attention(integration text DEFAULT NULL)
RETURNS TABLE (kind text, subject text, message text, fix text, attention boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_integrations text[];
	v_stream record;
	v_grantee record;
	v_schemas name[];
	v_row record;
	v_slot record;
	v_role pg_catalog.oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER);
	v_owner boolean := pg_catalog.pg_has_role(SESSION_USER,
		(SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'pgpull'), 'MEMBER');
BEGIN
	SELECT COALESCE(pg_catalog.array_agg(i), '{}') INTO v_integrations
	  FROM pgpull._status_integrations(status_attention.integration) i;
	attention := true;

	IF status_attention.integration IS NOT NULL
	   AND NOT EXISTS (SELECT FROM pgpull.stream s WHERE s.integration = status_attention.integration) THEN
		kind := 'integration';
		subject := pgpull._quoted(status_attention.integration);
		message := 'the integration tracks no stream';
		fix := pg_catalog.format('SELECT pgpull.track(''schema.table'', ''full_table'', integration => %L)',
								 status_attention.integration);
		RETURN NEXT;
	END IF;

	kind := 'stream';
	FOR v_stream IN
		SELECT v.*, s.relation::pg_catalog.oid AS relation_oid
		  FROM pgpull.status(status_attention.integration) v
		  JOIN pgpull.stream s USING (stream_id)
	LOOP
		subject := pg_catalog.format('%s (integration %s)', v_stream.relation, pgpull._quoted(v_stream.integration));
		IF v_stream.relation_dropped THEN
			message := pg_catalog.format('relation %s no longer exists: untrack the stream, or track the relation again if it was recreated',
										 pgpull._quoted(v_stream.relation));
			fix := pg_catalog.format('SELECT pgpull.untrack_stream(%s)', v_stream.stream_id);
			RETURN NEXT;
		END IF;
		IF v_stream.last_status = 'failed' AND NOT v_stream.relation_dropped THEN
			message := pg_catalog.format('the last run (%s) failed: %s', v_stream.last_run_id,
										 COALESCE(v_stream.last_error, 'no error recorded'));
			fix := NULL;
			RETURN NEXT;
		END IF;
	END LOOP;

	kind := 'privilege';
	FOR v_grantee IN
		SELECT g.role_name, pg_catalog.array_agg(g.integration ORDER BY g.integration COLLATE "C") AS integrations
		  FROM pgpull.integration_grant g
		  JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name
		 WHERE g.integration = ANY (v_integrations)
		   AND (v_owner OR pg_catalog.pg_has_role(SESSION_USER, r.oid, 'MEMBER'))
		 GROUP BY g.role_name
		 ORDER BY g.role_name COLLATE "C"
	LOOP
		SELECT COALESCE(pg_catalog.array_agg(x.nspname ORDER BY x.nspname COLLATE "C"), '{}') INTO v_schemas
		  FROM (SELECT DISTINCT n.nspname
				  FROM pgpull.stream s
				  JOIN pg_catalog.pg_class c ON c.oid = s.relation
				  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
				 WHERE s.integration = ANY (v_grantee.integrations)) x;
		FOR v_row IN
			WITH failed AS (
				SELECT * FROM pgpull.check_privileges(v_grantee.role_name, v_schemas) c
				 WHERE NOT c.ok
				   AND (c.object_type <> 'integration' OR c.object_name = ANY (v_grantee.integrations)))
			SELECT f.*
			  FROM failed f
			 WHERE f.object_type NOT IN ('setting', 'publication') AND f.privilege <> 'REPLICA IDENTITY'
			   AND NOT (f.object_type = 'column'
						AND EXISTS (SELECT FROM failed t
									 WHERE t.object_type <> 'column' AND t.privilege = 'SELECT'
									   AND pg_catalog.starts_with(f.object_name, t.object_name || '.')))
		LOOP
			subject := pg_catalog.format('role %s: %s on %s %s', pgpull._quoted(v_grantee.role_name),
										 v_row.privilege, v_row.object_type, v_row.object_name);
			message := v_row.detail;
			fix := v_row.fix;
			RETURN NEXT;
		END LOOP;
	END LOOP;

	/* log_based streams: wal_level and the publications, once per integration */
	FOR v_row IN
		SELECT * FROM pgpull._log_based_checks(NULL, v_integrations) c WHERE NOT c.ok
	LOOP
		kind := 'log_based';
		subject := CASE WHEN v_row.object_type = 'setting' THEN v_row.object_name
						ELSE pg_catalog.format('%s on %s %s', v_row.privilege, v_row.object_type, v_row.object_name) END;
		message := v_row.detail;
		fix := v_row.fix;
		attention := v_row.kind = 'required';
		RETURN NEXT;
	END LOOP;

	/* the replication slots */
	kind := 'slot';
	attention := true;
	FOR v_slot IN
		SELECT x.integration, x.slot_name, r.wal_status, r.retained_wal,
			   EXISTS (SELECT FROM pgpull.stream s WHERE s.integration = x.integration AND s.method = 'log_based') AS log_based,
			   r.slot_name IS NOT NULL AS present,
			   EXISTS (SELECT FROM pgpull.integration_slot l WHERE l.integration = x.integration) AS made
		  FROM pgpull._slot_integrations() x
		  LEFT JOIN pgpull.slot_status() r ON r.integration = x.integration
		 WHERE x.integration = ANY (v_integrations)
			OR status_attention.integration IS NULL AND pgpull._may_run(v_role, x.integration)
		 ORDER BY x.integration COLLATE "C"
	LOOP
		subject := pg_catalog.format('replication slot %s (integration %s)', pgpull._quoted(v_slot.slot_name),
									 pgpull._quoted(v_slot.integration));
		fix := NULL;
		IF v_slot.present AND NOT v_slot.log_based THEN
			message := pg_catalog.format('the integration has no log_based stream left: the next run drops the slot, which retains %s of write-ahead log until then',
										 pg_catalog.pg_size_pretty(v_slot.retained_wal));
			fix := 'pgpull sync --integration='
				|| CASE WHEN v_slot.integration ~ '^[A-Za-z0-9_.-]+$' THEN v_slot.integration
						ELSE '''' || pg_catalog.replace(v_slot.integration, '''', '''\''''') || '''' END;
		ELSIF v_slot.wal_status = 'lost' THEN
			message := 'the slot was invalidated: the write-ahead log it needed was removed (max_slot_wal_keep_size), so the next run copies the integration''s log_based streams again in full';
		ELSIF v_slot.wal_status = 'unreserved' THEN
			message := pg_catalog.format('the slot retains %s of write-ahead log, past max_slot_wal_keep_size (%s): it is invalidated at the next checkpoint unless a run catches up first, and its log_based streams are then copied again in full',
										 pg_catalog.pg_size_pretty(v_slot.retained_wal), pg_catalog.current_setting('max_slot_wal_keep_size'));
		ELSIF NOT v_slot.present AND v_slot.made AND v_slot.log_based THEN
			message := 'the slot the puller made no longer exists: the next run makes a new one and copies the integration''s log_based streams again in full';
		ELSE
			CONTINUE;
		END IF;
		RETURN NEXT;
	END LOOP;

	RETURN QUERY SELECT * FROM pgpull.status_standby(status_attention.integration);
END
$fn$;
COMMENT ON FUNCTION pgpull.status_attention(text) IS 'what needs attention in the integrations the session''s role may run: failed last runs, dropped relations, the privilege audit''s failures, the standby checks';
