/*
 * 77_logical.sql: log-based replication (README.md, "Log-based
 * replication").
 *
 * An integration with log_based streams has one logical replication slot
 * (pgoutput) in each database it runs in, and one publication that covers
 * exactly its log_based streams.  The puller makes the slot, copies each
 * log_based stream once with the keyset extraction, then streams the
 * changes from the slot; the functions here name the slot and the
 * publication and keep the catalog's side of that.
 */

/*
 * _logical_name: a replication slot or publication name from its parts:
 * "pgpull_" and the parts in lower case, runs of other characters as one
 * underscore (slot names allow nothing else), at most 63 bytes: a longer
 * name is cut and ends with a hash of the parts, so two never meet.
 */
CREATE FUNCTION pgpull._logical_name(parts text[])
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE WHEN pg_catalog.length(n) <= 63 THEN n
				ELSE pg_catalog.rtrim(pg_catalog.left(n, 54), '_') || '_'
					 || pg_catalog.left(pg_catalog.md5(pg_catalog.array_to_string(parts, pg_catalog.chr(1))), 8)
		   END::name
	  FROM (SELECT 'pgpull_' || pg_catalog.array_to_string(ARRAY(
				SELECT pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(p COLLATE "C"), '[^a-z0-9_]+', '_', 'g'), '_')
				  FROM pg_catalog.unnest(parts) WITH ORDINALITY AS u(p, o) ORDER BY o), '_') AS n) AS s
$fn$;
COMMENT ON FUNCTION pgpull._logical_name(text[]) IS 'internal: a slot or publication name made of its parts, at most 63 bytes';

/*
 * slot_name: the logical replication slot of an integration in this
 * database.  Slot names are unique across the cluster, so the name has the
 * database's and the integration's.
 */
CREATE FUNCTION pgpull.slot_name(integration text DEFAULT 'default')
RETURNS name
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._logical_name(ARRAY[pg_catalog.current_database()::text, slot_name.integration])
$fn$;
COMMENT ON FUNCTION pgpull.slot_name(text) IS 'the name of the logical replication slot of an integration in this database';

/*
 * publication_name: the publication of an integration's log_based streams
 * (publications belong to a database).
 */
CREATE FUNCTION pgpull.publication_name(integration text DEFAULT 'default')
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._logical_name(ARRAY[publication_name.integration])
$fn$;
COMMENT ON FUNCTION pgpull.publication_name(text) IS 'the name of the publication of an integration''s log_based streams';

/*
 * _slot_lock_class: the first key of the advisory lock on an integration's
 * slot (the second is hashtext of the slot name): the session that holds
 * it makes, streams or drops the slot, so two pullers never consume one
 * slot.  hashtext('pgpull slot'), frozen.
 */
CREATE FUNCTION pgpull._slot_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT 1397702237;
$fn$;
COMMENT ON FUNCTION pgpull._slot_lock_class() IS 'internal: first key of the advisory lock on an integration''s replication slot';

/*
 * _log_schema: a log_based stream's JSON Schema: its columns' and
 * _sdc_deleted_at, the commit time of the delete a record stands for.
 */
CREATE FUNCTION pgpull._log_schema(json_schema jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.jsonb_set(json_schema, '{properties,_sdc_deleted_at}',
								'{"type": ["null", "string"], "format": "date-time"}')
$fn$;
COMMENT ON FUNCTION pgpull._log_schema(jsonb) IS 'internal: the JSON Schema of a log_based stream: its columns'' and _sdc_deleted_at';

/*
 * _require_published: an error (55000) unless the integration's
 * publication publishes the stream's relation (through its partitioned
 * root for a partition): changes the slot never carries must not follow a
 * copy, so such a stream is neither copied nor streamed.
 */
CREATE FUNCTION pgpull._require_published(stream pgpull.stream)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_pub name := pgpull.publication_name((_require_published.stream).integration);
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication_tables pt
					WHERE pt.pubname = v_pub
					  AND pg_catalog.format('%I.%I', pt.schemaname, pt.tablename)::pg_catalog.regclass
						  = (_require_published.stream).relation) THEN
		RAISE EXCEPTION 'relation "%" of log_based stream "%" is not in publication "%"',
			(_require_published.stream).relation_name, (_require_published.stream).destination_table, v_pub
			USING ERRCODE = '55000',
				  DETAIL = CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = v_pub)
								THEN 'The replication slot carries only the changes of the publication''s tables, so the stream is neither copied nor streamed.'
								ELSE 'The publication does not exist: the replication slot would carry no change, so the stream is neither copied nor streamed.' END,
				  HINT = pg_catalog.format('As a role that owns the tables, run: SELECT * FROM pgpull.publication_script(%L) \gexec',
										   (_require_published.stream).integration);
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._require_published(pgpull.stream) IS 'internal: an error unless the integration''s publication publishes a stream''s relation';

/*
 * _reset_log_streams: every log_based stream of an integration is copied
 * again (its slot is new, or its changes are lost): why is logged as an
 * error of the run.
 */
CREATE FUNCTION pgpull._reset_log_streams(run pgpull.runs, why text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_stream pgpull.stream;
BEGIN
	FOR v_stream IN
		SELECT * FROM pgpull.stream s
		 WHERE s.integration = (_reset_log_streams.run).integration AND s.method = 'log_based'
		   AND (s.bookmark IS NOT NULL OR s.resume_position IS NOT NULL)
		 ORDER BY s.destination_table COLLATE "C"
	LOOP
		PERFORM pgpull._reset_stream(v_stream.stream_id);
		PERFORM pgpull._log_line((_reset_log_streams.run).run_id, v_stream.stream_id, 'ERROR',
				pg_catalog.format('%s: the stream is copied again in full', _reset_log_streams.why));
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._reset_log_streams(pgpull.runs, text) IS 'internal: copy every log_based stream of an integration again, and log why';

/*
 * slot_plan: at the start of a run, what the puller does with the
 * integration's replication slot, over its replication connection:
 *
 *	 none		no log_based stream, no slot: nothing
 *	 create		make the slot (CREATE_REPLICATION_SLOT ... LOGICAL pgoutput),
 *				then report it with slot_created
 *	 recreate	drop the slot of that name, then as create
 *	 stream		the slot exists: stream it after the copies
 *	 drop		no log_based stream is left: drop the slot, then slot_dropped
 *	 busy		another puller holds the slot: leave it alone this run
 *
 * with the slot and publication names, the LSN the slot was last
 * confirmed to, and a message for the run's log.  A slot gone from the
 * server, or invalidated (max_slot_wal_keep_size), sends the streams back
 * to a copy, logged as errors.  Takes the slot's advisory lock for the
 * session (held to its end) unless it answers none or busy.
 */
CREATE FUNCTION pgpull.slot_plan(run_id bigint)
RETURNS TABLE (action text, slot_name name, publication_name name, confirmed_lsn pg_catalog.pg_lsn,
			   message text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs;
	v_slot name;
	v_pub name;
	v_row pgpull.integration_slot;
	v_server record;
	v_log boolean;
	v_holder integer;
BEGIN
	v_run := pgpull._run(slot_plan.run_id, true);
	PERFORM pgpull._require_lock(pgpull._run_lock_class(), v_run.run_id, pg_catalog.format('run %s', v_run.run_id));
	v_slot := pgpull.slot_name(v_run.integration);
	v_pub := pgpull.publication_name(v_run.integration);
	SELECT * INTO v_row FROM pgpull.integration_slot i WHERE i.integration = v_run.integration FOR UPDATE;
	SELECT s.database, s.plugin, s.slot_type, s.wal_status, s.active_pid, s.confirmed_flush_lsn
	  INTO v_server
	  FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = v_slot;
	IF FOUND AND (v_server.database IS DISTINCT FROM pg_catalog.current_database()
				  OR v_server.plugin IS DISTINCT FROM 'pgoutput') THEN
		RAISE EXCEPTION 'replication slot "%" is not the slot of integration "%" in database "%"',
			v_slot, v_run.integration, pg_catalog.current_database()
			USING ERRCODE = '55000',
				  DETAIL = pg_catalog.format('It is a %s slot of database %s with plugin %s.', v_server.slot_type,
											 COALESCE(v_server.database::text, '(none)'), COALESCE(v_server.plugin::text, '(none)')),
				  HINT = 'Drop or rename that slot, or track the streams in an integration of another name.';
	END IF;
	v_log := EXISTS (SELECT FROM pgpull.stream s
					  WHERE s.integration = v_run.integration AND s.method = 'log_based');

	IF NOT v_log AND v_row.integration IS NULL AND v_server.database IS NULL THEN
		RETURN QUERY SELECT 'none'::text, v_slot, v_pub, NULL::pg_catalog.pg_lsn, NULL::text;
		RETURN;
	END IF;
	IF NOT pg_catalog.pg_try_advisory_lock(pgpull._slot_lock_class(), pg_catalog.hashtext(v_slot)) THEN
		v_holder := pgpull._lock_holder(pgpull._slot_lock_class(), pg_catalog.hashtext(v_slot));
		RETURN QUERY SELECT 'busy'::text, v_slot, v_pub, v_row.confirmed_lsn,
			pg_catalog.format('replication slot %s is being streamed by another puller (PID %s): its changes are left to it',
							  v_slot, COALESCE(v_holder::text, 'unknown'));
		RETURN;
	END IF;

	IF NOT v_log THEN
		RETURN QUERY SELECT 'drop'::text, v_slot, v_pub, v_row.confirmed_lsn,
			pg_catalog.format('integration "%s" has no log_based stream left: replication slot %s is dropped',
							  v_run.integration, v_slot);
		RETURN;
	END IF;
	IF v_server.database IS NULL THEN
		IF v_row.integration IS NOT NULL THEN
			PERFORM pgpull._reset_log_streams(v_run,
				pg_catalog.format('replication slot %s is gone from the server (dropped, or the database restored elsewhere)', v_slot));
			DELETE FROM pgpull.integration_slot i WHERE i.integration = v_run.integration;
		END IF;
		RETURN QUERY SELECT 'create'::text, v_slot, v_pub, NULL::pg_catalog.pg_lsn,
			pg_catalog.format('making replication slot %s: the log_based streams are copied, then their changes stream from it', v_slot);
		RETURN;
	END IF;
	IF v_server.wal_status = 'lost' THEN
		PERFORM pgpull._reset_log_streams(v_run,
			pg_catalog.format('replication slot %s was invalidated: the server removed WAL it needed (max_slot_wal_keep_size), so its changes are lost', v_slot));
		DELETE FROM pgpull.integration_slot i WHERE i.integration = v_run.integration;
		RETURN QUERY SELECT 'recreate'::text, v_slot, v_pub, NULL::pg_catalog.pg_lsn,
			pg_catalog.format('replication slot %s was invalidated: making it again', v_slot);
		RETURN;
	END IF;
	IF v_row.integration IS NULL THEN
		/* a slot the catalog does not know: made by a puller that died at once, or before a restore */
		PERFORM pgpull._reset_log_streams(v_run,
			pg_catalog.format('replication slot %s was not made by this catalog', v_slot));
		RETURN QUERY SELECT 'recreate'::text, v_slot, v_pub, NULL::pg_catalog.pg_lsn,
			pg_catalog.format('replication slot %s is not in the catalog: making it again', v_slot);
		RETURN;
	END IF;
	RETURN QUERY SELECT 'stream'::text, v_slot, v_pub, v_server.confirmed_flush_lsn, NULL::text;
END
$fn$;
COMMENT ON FUNCTION pgpull.slot_plan(bigint) IS 'what a run does with its integration''s replication slot: none, create, recreate, stream, drop or busy';

/*
 * _require_slot: an error (55000) unless this session holds the
 * integration's slot lock (slot_plan took it).
 */
CREATE FUNCTION pgpull._require_slot(run pgpull.runs)
RETURNS name
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_slot name := pgpull.slot_name((_require_slot.run).integration);
BEGIN
	IF pgpull._lock_holder(pgpull._slot_lock_class(), pg_catalog.hashtext(v_slot))
	   IS DISTINCT FROM pg_catalog.pg_backend_pid() THEN
		RAISE EXCEPTION 'replication slot % is not held by this session', v_slot
			USING ERRCODE = '55000',
				  DETAIL = 'Only the session that planned the slot with pgpull.slot_plan reports it.',
				  HINT = 'Call pgpull.slot_plan in this run first.';
	END IF;
	RETURN v_slot;
END
$fn$;
COMMENT ON FUNCTION pgpull._require_slot(pgpull.runs) IS 'internal: the integration''s slot name, or an error unless this session holds its lock';

/*
 * slot_created: the puller made the slot (CREATE_REPLICATION_SLOT answered
 * its consistent point).
 */
CREATE FUNCTION pgpull.slot_created(run_id bigint, consistent_lsn pg_catalog.pg_lsn)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._run(slot_created.run_id, true);
	v_slot name := pgpull._require_slot(v_run);
BEGIN
	IF slot_created.consistent_lsn IS NULL THEN
		RAISE EXCEPTION 'consistent_lsn must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Pass the consistent point CREATE_REPLICATION_SLOT answered.';
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots s
					WHERE s.slot_name = v_slot AND s.database = pg_catalog.current_database()) THEN
		RAISE EXCEPTION 'replication slot % does not exist', v_slot
			USING ERRCODE = '55000',
				  HINT = 'Report the slot after CREATE_REPLICATION_SLOT made it.';
	END IF;
	INSERT INTO pgpull.integration_slot AS i (integration, slot_name, created_run_id, consistent_lsn)
	VALUES (v_run.integration, v_slot, v_run.run_id, slot_created.consistent_lsn)
	ON CONFLICT (integration) DO UPDATE
	   SET slot_name = EXCLUDED.slot_name, created_at = pg_catalog.now(), created_run_id = EXCLUDED.created_run_id,
		   consistent_lsn = EXCLUDED.consistent_lsn, confirmed_lsn = NULL, confirmed_at = NULL;
	PERFORM pgpull._log_line(v_run.run_id, NULL, 'INFO',
			pg_catalog.format('replication slot %s made: its changes start after %s', v_slot, slot_created.consistent_lsn));
END
$fn$;
COMMENT ON FUNCTION pgpull.slot_created(bigint, pg_catalog.pg_lsn) IS 'record the replication slot the puller made for the run''s integration';

/*
 * slot_dropped: the puller dropped the slot of an integration without
 * log_based streams.
 */
CREATE FUNCTION pgpull.slot_dropped(run_id bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._run(slot_dropped.run_id, true);
	v_slot name := pgpull._require_slot(v_run);
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = v_slot) THEN
		RAISE EXCEPTION 'replication slot % still exists', v_slot
			USING ERRCODE = '55000',
				  HINT = 'Report the slot after DROP_REPLICATION_SLOT dropped it.';
	END IF;
	DELETE FROM pgpull.integration_slot i WHERE i.integration = v_run.integration;
	PERFORM pgpull._log_line(v_run.run_id, NULL, 'INFO',
			pg_catalog.format('replication slot %s dropped: integration "%s" has no log_based stream left',
							  v_slot, v_run.integration));
END
$fn$;
COMMENT ON FUNCTION pgpull.slot_dropped(bigint) IS 'record that the puller dropped the replication slot of an integration without log_based streams';

/*
 * slot_confirmed: the puller confirmed the slot to lsn (a standby status
 * update whose flush position is the end of the last transaction the
 * destination accepted in full, or where a caught-up run stopped).
 */
CREATE FUNCTION pgpull.slot_confirmed(run_id bigint, lsn pg_catalog.pg_lsn)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._run(slot_confirmed.run_id, true);
	v_slot name := pgpull._require_slot(v_run);
BEGIN
	IF slot_confirmed.lsn IS NULL THEN
		RAISE EXCEPTION 'lsn must not be null'
			USING ERRCODE = '22004';
	END IF;
	UPDATE pgpull.integration_slot i
	   SET confirmed_lsn = GREATEST(i.confirmed_lsn, slot_confirmed.lsn), confirmed_at = pg_catalog.now()
	 WHERE i.integration = v_run.integration;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'integration "%" has no replication slot in the catalog', v_run.integration
			USING ERRCODE = '55000',
				  HINT = 'Report the slot with pgpull.slot_created first.';
	END IF;
	PERFORM pgpull._log_line(v_run.run_id, NULL, 'DEBUG',
			pg_catalog.format('replication slot %s confirmed to %s', v_slot, slot_confirmed.lsn));
END
$fn$;
COMMENT ON FUNCTION pgpull.slot_confirmed(bigint, pg_catalog.pg_lsn) IS 'record the position the puller confirmed the run''s replication slot to';

/*
 * copy_sequence: the Import API sequence of the rows of the next chunk of
 * a log_based stream's copy, called before the chunk's snapshot is taken:
 * epoch microseconds of the earlier of now and the start of the oldest
 * transaction holding an ID (or prepared), less one second.  A change the
 * chunk does not see commits after it was open then, so its commit time,
 * the sequence of its record from the slot, is higher and wins at the
 * destination; a change it sees may be sent again from the slot with a
 * higher sequence, which is the same row or an older one before a newer
 * one.  And never below the time an earlier run of the stream last had a
 * batch accepted, which is after the sequences it sent: a stream switched
 * from another method is not ignored at the destination (a transaction
 * that committed before then is long visible).  It assumes the server's
 * clock does not go back, and agrees with the puller's.
 */
CREATE FUNCTION pgpull.copy_sequence(run_id bigint, stream_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._run(copy_sequence.run_id, true);
	v_stream pgpull.stream := pgpull._stream(v_run, copy_sequence.stream_id);
	v_at timestamptz;
BEGIN
	PERFORM pgpull._running_stream(v_run, v_stream);
	IF v_stream.method <> 'log_based' THEN
		RAISE EXCEPTION 'stream % is not log_based', v_stream.stream_id
			USING ERRCODE = '22023',
				  HINT = 'The puller gives the rows of other streams its own sequences.';
	END IF;
	SELECT LEAST(pg_catalog.clock_timestamp(),
				 (SELECT pg_catalog.min(a.xact_start) FROM pg_catalog.pg_stat_activity a
				   WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_catalog.pg_backend_pid()),
				 (SELECT pg_catalog.min(p.prepared) FROM pg_catalog.pg_prepared_xacts p)) - interval '1 second'
	  INTO v_at;
	/* never below what earlier runs sent of the stream (a switch from another method) */
	v_at := GREATEST(v_at, (SELECT pg_catalog.max(rs.last_batch_at) FROM pgpull.run_streams rs
							 WHERE rs.stream_id = v_stream.stream_id AND rs.run_id <> v_run.run_id));
	RETURN (pg_catalog.extract('epoch', v_at) * 1000000)::bigint;
END
$fn$;
COMMENT ON FUNCTION pgpull.copy_sequence(bigint, bigint) IS 'the Import API sequence of the rows of a log_based stream''s next copy chunk: below the commit time of any change the chunk misses';

/*
 * take_log_stream: take a log_based stream to send its changes from the
 * slot (the session holds the slot, slot_plan): its advisory lock, as
 * take_stream, and its row in the run marked streaming, so that
 * record_batch reads positions as LSNs.  A stream whose copy is not
 * complete is taken all the same: its changes since the slot was made are
 * needed for the rows already copied.  Answers as take_stream, and the
 * OID of the relation, which the slot's messages name.
 */
CREATE FUNCTION pgpull.take_log_stream(run_id bigint, stream_id bigint)
RETURNS TABLE (taken boolean, json_schema jsonb, key_names text[], bookmark_properties text[],
			   chunked boolean, table_version bigint, relid pg_catalog.oid)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs := pgpull._run(take_log_stream.run_id, true);
	v_stream pgpull.stream := pgpull._stream(v_run, take_log_stream.stream_id);
	v_slot name := pgpull._require_slot(v_run);
	v_mine boolean;
BEGIN
	IF v_stream.method <> 'log_based' THEN
		RAISE EXCEPTION 'stream % is not log_based', v_stream.stream_id
			USING ERRCODE = '22023',
				  HINT = 'Take it with pgpull.take_stream.';
	END IF;
	PERFORM pgpull._stream_relation(v_stream);
	PERFORM pgpull._require_published(v_stream);
	v_mine := pgpull._lock_holder(pgpull._lock_class(), v_stream.stream_id)
			  IS NOT DISTINCT FROM pg_catalog.pg_backend_pid();
	IF NOT v_mine AND NOT pg_catalog.pg_try_advisory_lock(pgpull._lock_class(), v_stream.stream_id::integer) THEN
		PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'WARNING',
				'the stream is being copied by another puller: its changes are not sent this run');
		RETURN QUERY SELECT false, NULL::jsonb, NULL::text[], NULL::text[], NULL::boolean, NULL::bigint,
							v_stream.relation::pg_catalog.oid;
		RETURN;
	END IF;
	INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, bookmark_before, bookmark_after, columns, streaming)
	VALUES (v_run.run_id, v_stream.stream_id, 'running', v_stream.bookmark, v_stream.bookmark,
			pgpull._stream_columns(v_stream.stream_id), true)
	ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
	   SET status = 'running', ended_at = NULL, error = NULL, streaming = true,
		   bookmark_after = EXCLUDED.bookmark_after;
	UPDATE pgpull.stream s SET status = 'running', updated_at = pg_catalog.now()
	 WHERE s.stream_id = v_stream.stream_id;
	PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'INFO',
			CASE WHEN v_stream.bookmark IS NULL
				 THEN pg_catalog.format('stream taken: changes from replication slot %s (its copy is not complete yet)', v_slot)
				 ELSE pg_catalog.format('stream taken: changes from replication slot %s after %s', v_slot, v_stream.bookmark) END);
	RETURN QUERY
	SELECT true, pgpull._log_schema(pgpull._json_schema_of(v_stream.relation, pgpull._stream_columns(v_stream.stream_id))),
		   v_stream.key_columns::text[], '{}'::text[], false, NULL::bigint,
		   v_stream.relation::pg_catalog.oid;
END
$fn$;
COMMENT ON FUNCTION pgpull.take_log_stream(bigint, bigint) IS 'take a log_based stream of a run to send its changes from the replication slot';

/*
 * _lsn_of: the LSN of a position of a log_based stream's changes (a JSON
 * array of one LSN, the end of the transaction of the last change), as
 * text; 22023 when it is not one.
 */
CREATE FUNCTION pgpull._lsn_of(stream pgpull.stream, "position" text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_lsn pg_catalog.pg_lsn;
BEGIN
	BEGIN
		v_lsn := (_lsn_of."position"::pg_catalog.jsonb ->> 0)::pg_catalog.pg_lsn;
	EXCEPTION WHEN OTHERS THEN
		v_lsn := NULL;
	END;
	IF v_lsn IS NULL THEN
		RAISE EXCEPTION 'position % of stream "%" is not an LSN', COALESCE(_lsn_of."position", 'NULL'),
			(_lsn_of.stream).destination_table
			USING ERRCODE = '22023',
				  DETAIL = 'Changes from the replication slot are reported at the end of their transaction.',
				  HINT = 'Pass a JSON array of one LSN, such as ["0/16B3748"].';
	END IF;
	RETURN v_lsn::text;
END
$fn$;
COMMENT ON FUNCTION pgpull._lsn_of(pgpull.stream, text) IS 'internal: the LSN of a position of a log_based stream''s changes, or an error';

/*
 * _advance_lsn: record_batch of changes from the slot: the stream's
 * bookmark (when its copy is complete) becomes the greater of it and the
 * position's LSN.  Returns the LSN as text.
 */
CREATE FUNCTION pgpull._advance_lsn(stream pgpull.stream, "position" text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_lsn text := pgpull._lsn_of(_advance_lsn.stream, _advance_lsn."position");
BEGIN
	IF (_advance_lsn.stream).bookmark IS NOT NULL THEN
		UPDATE pgpull.stream s
		   SET bookmark = GREATEST(s.bookmark::pg_catalog.pg_lsn, v_lsn::pg_catalog.pg_lsn)::text,
			   updated_at = pg_catalog.now()
		 WHERE s.stream_id = (_advance_lsn.stream).stream_id;
	END IF;
	RETURN v_lsn;
END
$fn$;
COMMENT ON FUNCTION pgpull._advance_lsn(pgpull.stream, text) IS 'internal: move a log_based stream''s bookmark to the LSN its changes were accepted to';

/*
 * log_query: the query that turns a batch of a log_based stream's changes
 * into the rows the puller ships, for the column list of the stream's
 * relation in a pgoutput Relation message (columns, in its order): the
 * type map stays here.  Run by the puller as itself with one parameter, a
 * JSON array of the changes in the order the slot sent them, each
 *
 *	 {"k": "I" | "U" | "D", "s": sequence, "t": transaction, "v": [values],
 *	  "u": 1 when some value is unchanged}
 *
 * values in the message's column order: a string (pgoutput's text), null,
 * or false for an unchanged TOAST value, which is read from the row as it
 * is now, found by its key (a later change of the row is in the slot
 * after this one, and wins at the destination: a row gone since drops the
 * record, whose key's later delete follows).  A delete's values are the
 * old row's (its key, or the whole row under REPLICA IDENTITY FULL); its
 * record gets _sdc_deleted_at, the commit time (the sequence).  Several
 * changes of one key in one transaction share its commit time, so only the
 * last is kept.  The query answers (ord, sequence, row_json, lossy) for the
 * changes kept, ord their place in the array from 1.  Also answers the
 * JSON Schema of the rows, and where the stream's key columns are in
 * columns (from 0), for the puller to see a key change.  Columns of the
 * message the relation no longer has, or the stream does not replicate,
 * are left out.
 */
CREATE FUNCTION pgpull.log_query(run_id bigint, stream_id bigint, columns name[])
RETURNS TABLE (query text, json_schema jsonb, key_indexes integer[])
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs := pgpull._run(log_query.run_id, true);
	v_stream pgpull.stream := pgpull._stream(v_run, log_query.stream_id);
	v_rs pgpull.run_streams;
	v_label text;
	v_cols name[] := '{}';
	v_col record;
	v_i integer;
	v_t text[] := '{}';
	v_cur text[] := '{}';
	v_match text[] := '{}';
	v_keys text[] := '{}';
	v_key_indexes integer[] := '{}';
	v_parts record;
	v_key name;
BEGIN
	v_rs := pgpull._running_stream(v_run, v_stream);
	IF NOT v_rs.streaming THEN
		RAISE EXCEPTION 'stream % is not streaming in run %', v_stream.stream_id, v_run.run_id
			USING ERRCODE = '55000',
				  HINT = 'Take it with pgpull.take_log_stream first.';
	END IF;
	v_label := pgpull._stream_relation(v_stream);
	IF log_query.columns IS NULL OR pg_catalog.cardinality(log_query.columns) = 0 THEN
		RAISE EXCEPTION 'columns must not be null or empty'
			USING ERRCODE = '22004',
				  HINT = 'Pass the column names of the relation''s Relation message, in its order.';
	END IF;

	FOR v_col IN
		SELECT a.attname, a.atttypid, a.atttypmod
		  FROM pgpull._attributes(v_stream.relation, pgpull._stream_columns(v_stream.stream_id)) a
		 WHERE a.attname = ANY (log_query.columns)
	LOOP
		v_i := pg_catalog.array_position(log_query.columns, v_col.attname) - 1;
		v_cols := v_cols || v_col.attname;
		v_cur := v_cur || pg_catalog.format('pgpull_r.%I AS pgpull_c%s', v_col.attname, v_i);
		v_t := v_t || pg_catalog.format(
			'CASE WHEN pg_catalog.jsonb_typeof(c.v -> %1$s) = ''boolean'' THEN pgpull_cur.pgpull_c%1$s'
			' ELSE (c.v ->> %1$s)::%2$s END AS %3$I',
			v_i, pg_catalog.format_type(v_col.atttypid, v_col.atttypmod), v_col.attname);
		IF v_col.attname = ANY (v_stream.key_columns) THEN
			v_match := v_match || pg_catalog.format('pgpull_r.%I = (c.v ->> %s)::%s', v_col.attname, v_i,
													pg_catalog.format_type(v_col.atttypid, v_col.atttypmod));
		END IF;
	END LOOP;
	FOREACH v_key IN ARRAY v_stream.key_columns LOOP
		IF NOT v_key = ANY (v_cols) THEN
			RAISE EXCEPTION 'key column "%" of stream "%" is not in the changes of relation "%"',
				v_key, v_stream.destination_table, v_label
				USING ERRCODE = '55000',
					  DETAIL = pg_catalog.format('The replication slot sent the columns %s.', log_query.columns),
					  HINT = 'A key column was dropped or renamed: track the relation again with its key columns, then reset it.';
		END IF;
		v_keys := v_keys || pg_catalog.format('t.%I', v_key);
		v_key_indexes := v_key_indexes || (pg_catalog.array_position(log_query.columns, v_key) - 1);
	END LOOP;
	v_parts := pgpull._row_json_parts(v_stream.relation, v_cols, 't');

	RETURN QUERY SELECT pg_catalog.format(
		'SELECT q.ord, q.seq, q.row_json, q.lossy FROM ('
		'SELECT c.ord, c.seq, pg_catalog.row_to_json(r.*)::pg_catalog.text AS row_json, %1$s AS lossy,'
		' pg_catalog.row_number() OVER (PARTITION BY c.tx, %2$s ORDER BY c.ord DESC) AS pgpull_n,'
		' c.has_u, pgpull_cur.pgpull_found'
		' FROM (SELECT x.ord, (x.e ->> ''s'')::pg_catalog.int8 AS seq, x.e ->> ''k'' AS kind,'
		' x.e ->> ''t'' AS tx, x.e -> ''v'' AS v, (x.e ->> ''u'') IS NOT NULL AS has_u'
		' FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) WITH ORDINALITY AS x(e, ord)) AS c'
		' LEFT JOIN LATERAL (SELECT true AS pgpull_found, %3$s FROM %4$s AS pgpull_r WHERE c.has_u AND %5$s) AS pgpull_cur ON true'
		' CROSS JOIN LATERAL (SELECT %6$s) AS t'
		' CROSS JOIN LATERAL (SELECT %7$s, CASE WHEN c.kind = ''D'' THEN pg_catalog.to_char(pg_catalog.timezone(''UTC'','
		' ''epoch''::pg_catalog.timestamptz + c.seq * ''1 microsecond''::pg_catalog.interval), ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')'
		' END AS _sdc_deleted_at) AS r'
		') AS q WHERE q.pgpull_n = 1 AND (NOT q.has_u OR q.pgpull_found) ORDER BY q.ord',
		v_parts.lossy_expr, pg_catalog.array_to_string(v_keys, ', '),
		pg_catalog.array_to_string(v_cur, ', '), v_label, pg_catalog.array_to_string(v_match, ' AND '),
		pg_catalog.array_to_string(v_t, ', '), v_parts.select_list),
		pgpull._log_schema(pgpull._json_schema_of(v_stream.relation, v_cols)),
		v_key_indexes;
END
$fn$;
COMMENT ON FUNCTION pgpull.log_query(bigint, bigint, name[]) IS 'the query that maps a batch of a log_based stream''s changes (pgoutput text values, as JSON) to the rows the puller ships';

/*
 * slot_blockers: while the puller makes the slot, the open transactions it
 * waits for (CREATE_REPLICATION_SLOT waits for every transaction holding
 * an ID when it began to end), as one line for a message, or NULL.
 */
CREATE FUNCTION pgpull.slot_blockers(run_id bigint)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._run(slot_blockers.run_id, true);
BEGIN
	PERFORM pgpull._require_slot(v_run);
	RETURN (SELECT pg_catalog.string_agg(pg_catalog.format('PID %s (application "%s", user "%s", %s, its transaction open since %s)',
				a.pid, a.application_name, a.usename, COALESCE(a.state, 'state unknown'),
				pg_catalog.to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')), ', ' ORDER BY a.xact_start)
			  FROM pg_catalog.pg_stat_activity a
			 WHERE a.backend_xid IS NOT NULL AND a.backend_type = 'client backend'
			   AND a.pid <> pg_catalog.pg_backend_pid()
			   AND a.datname IS NOT NULL);
END
$fn$;
COMMENT ON FUNCTION pgpull.slot_blockers(bigint) IS 'the open transactions a replication slot being made waits for, for a message';

/*
 * _log_state_entry: a log_based stream's bookmark entry for a Singer STATE
 * message after its changes up to lsn (80_singer.sql), with its MAC; when
 * the run copied the stream to its end (copied), the entry also says so
 * (version, complete), as the one of the copy would.
 */
CREATE FUNCTION pgpull._log_state_entry(run pgpull.runs, stream pgpull.stream, lsn text, rows bigint,
										copied boolean)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_entry jsonb := pg_catalog.jsonb_build_object(
		'stream_id', (_log_state_entry.stream).stream_id,
		'relation', (_log_state_entry.stream).relation_name,
		'method', 'log_based',
		'replication_key', NULL,
		'lsn', _log_state_entry.lsn,
		'rows', _log_state_entry.rows);
BEGIN
	/* a copy of this run the target has not confirmed yet goes with the changes */
	IF _log_state_entry.copied AND (_log_state_entry.stream).bookmark IS NULL THEN
		v_entry := v_entry || pg_catalog.jsonb_build_object('version', (_log_state_entry.stream).table_version,
															'complete', true);
	END IF;
	RETURN v_entry || pg_catalog.jsonb_build_object('mac', pgpull._entry_mac((_log_state_entry.run).integration,
																			  (_log_state_entry.run).run_id, v_entry));
END
$fn$;
COMMENT ON FUNCTION pgpull._log_state_entry(pgpull.runs, pgpull.stream, text, bigint, boolean) IS 'internal: a log_based stream''s entry for a STATE message after its changes, with its MAC';

/*
 * slot_state_entry: with a Singer target, the "slot" member of the
 * "pgpull" object of the STATE message that follows every change of a
 * window up to lsn: once the target echoes it, the changes it stands for
 * are stored, and the slot may be confirmed to lsn (commit_state says so).
 */
CREATE FUNCTION pgpull.slot_state_entry(run_id bigint, lsn pg_catalog.pg_lsn)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._singer_run(slot_state_entry.run_id, true);
	v_slot name := pgpull._require_slot(v_run);
	v_entry jsonb;
BEGIN
	IF slot_state_entry.lsn IS NULL THEN
		RAISE EXCEPTION 'lsn must not be null'
			USING ERRCODE = '22004';
	END IF;
	v_entry := pg_catalog.jsonb_build_object('slot', v_slot,
											 'publication', pgpull.publication_name(v_run.integration),
											 'lsn', slot_state_entry.lsn::text);
	RETURN v_entry || pg_catalog.jsonb_build_object('mac', pgpull._entry_mac(v_run.integration, v_run.run_id, v_entry));
END
$fn$;
COMMENT ON FUNCTION pgpull.slot_state_entry(bigint, pg_catalog.pg_lsn) IS 'the replication slot''s entry of a Singer STATE message after a window of changes';

/*
 * _commit_slot: commit_state of a state's slot entry: when its MAC
 * verifies, the row that tells the caller to confirm the slot to its LSN
 * (detail "replication slot: ..."), recorded in integration_slot; else a
 * row saying why not.
 */
CREATE FUNCTION pgpull._commit_slot(integration text, run_id bigint, reject text, entry jsonb,
									OUT stream text, OUT moved boolean, OUT bookmark text, OUT detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	stream := entry ->> 'slot';
	moved := false;
	detail := COALESCE(_commit_slot.reject,
		CASE WHEN pg_catalog.jsonb_typeof(_commit_slot.entry) <> 'object'
				  OR (_commit_slot.entry ->> 'mac') IS DISTINCT FROM pgpull._entry_mac(_commit_slot.integration, _commit_slot.run_id, _commit_slot.entry)
			 THEN 'rejected: its MAC does not verify: pgpull did not write this slot entry for this run, or it was changed' END);
	IF detail IS NOT NULL THEN
		RETURN;
	END IF;
	IF stream IS DISTINCT FROM pgpull.slot_name(_commit_slot.integration) THEN
		detail := pg_catalog.format('replication slot %s is not the integration''s slot in this database', stream);
		RETURN;
	END IF;
	bookmark := (_commit_slot.entry ->> 'lsn')::pg_catalog.pg_lsn::text;
	UPDATE pgpull.integration_slot i
	   SET confirmed_lsn = GREATEST(i.confirmed_lsn, bookmark::pg_catalog.pg_lsn), confirmed_at = pg_catalog.now()
	 WHERE i.integration = _commit_slot.integration;
	moved := true;
	detail := pg_catalog.format('replication slot: the changes up to %s are stored: confirm the slot to it', bookmark);
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (_commit_slot.run_id, NULL, 'INFO',
			pg_catalog.format('the Singer target confirmed the changes of replication slot %s up to %s', stream, bookmark));
END
$fn$;
COMMENT ON FUNCTION pgpull._commit_slot(text, bigint, text, jsonb) IS 'internal: commit_state of a state''s replication slot entry';
