/* extension/updates/pgpull--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pgpull UPDATE TO '1.1'" to load this file. \quit

/*
 * pgpull 1.0 to 1.1, written by hand.  Every change to extension/src/ goes
 * here too, in the same commit; tests/t/003_upgrade.pl proves that a 1.0
 * database updated with this script equals a fresh 1.1 install.
 *
 * CREATE OR REPLACE FUNCTION keeps a function's comment and privileges:
 * a replaced function's COMMENT and GRANT/REVOKE follow only when they
 * change.
 */

/*
 * The rules "a bookmark never moves backwards, compared in the key's own
 * type" and "fail the stream, release its lock, log it" each exist once:
 * two helpers, which record_batch and commit_state, and begin_run and
 * end_run, now call.  A stream of a run whose puller died now gets its own
 * "stream failed" line in the extraction log, as end_run gives one.
 */

/*
 * _fail_streams: the one way streams of a run fail without their puller
 * saying so (end_run of a run whose streams were not ended, begin_run of a
 * run whose puller died): each stream the run is still syncing gets the
 * error in its row of the run, and in the stream itself while that is
 * running (a stream reset, or synced by another run, since keeps its
 * status); its advisory lock is released when this session holds it; and
 * the extraction log says so.
 */
CREATE FUNCTION pgpull._fail_streams(run_id bigint, error text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_stream_id bigint;
BEGIN
	FOR v_stream_id IN
		SELECT rs.stream_id FROM pgpull.run_streams rs
		 WHERE rs.run_id = _fail_streams.run_id AND rs.status = 'running'
		 ORDER BY rs.stream_id
	LOOP
		UPDATE pgpull.run_streams rs
		   SET status = 'failed', ended_at = pg_catalog.now(), error = _fail_streams.error
		 WHERE rs.run_id = _fail_streams.run_id AND rs.stream_id = v_stream_id;
		UPDATE pgpull.stream s
		   SET status = 'error', last_error = _fail_streams.error, updated_at = pg_catalog.now()
		 WHERE s.stream_id = v_stream_id AND s.status = 'running';
		UPDATE pgpull.stream_range sr SET status = 'pending', updated_at = pg_catalog.now()
		 WHERE sr.stream_id = v_stream_id AND sr.run_id = _fail_streams.run_id AND sr.status = 'running'
		   AND pgpull._lock_holder(pgpull._range_lock_class() + sr.range_no, sr.stream_id) IS NULL;
		PERFORM pgpull._unlock(pgpull._lock_class(), v_stream_id);
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (_fail_streams.run_id, v_stream_id, 'ERROR', 'stream failed: ' || _fail_streams.error);
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._fail_streams(bigint, text) IS 'internal: fail the streams a run is still syncing, release their locks and log it';

/*
 * _advance_bookmark: the one place a stream's bookmark or resume position
 * moves, and never backwards.  vals and types are a position's values and
 * their columns' types (pgpull._position_columns).  key_based: the
 * bookmark becomes the greater of it and vals[1], compared in the
 * replication key's own type (so "2024-10-01" never passes "2024-9-30" as
 * text would), stored as its ISO text; full_table: the resume position
 * becomes vals when that row is after the stored one, compared as a row of
 * the key columns' types.  Returns the bookmark (key_based, ISO text) or
 * resume position (full_table, JSON array text) after the call, and
 * whether it moved.  Callers lock the stream row first.
 */
CREATE FUNCTION pgpull._advance_bookmark(stream pgpull.stream, vals text[], types text[],
										 OUT moved boolean, OUT after text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_type pg_catalog.regtype;
BEGIN
	IF (_advance_bookmark.stream).method = 'key_based' THEN
		v_type := _advance_bookmark.types[1]::pg_catalog.regtype;
		EXECUTE pg_catalog.format('SELECT %s FROM (SELECT GREATEST(%L::%s, %L::%s) AS v) AS s',
								  pgpull._key_text_expr('s.v', v_type), (_advance_bookmark.stream).bookmark, v_type,
								  _advance_bookmark.vals[1], v_type)
		   INTO after;
		moved := after IS DISTINCT FROM (_advance_bookmark.stream).bookmark;
		IF moved THEN
			UPDATE pgpull.stream s SET bookmark = _advance_bookmark.after, bookmark_type = v_type,
				   updated_at = pg_catalog.now()
			 WHERE s.stream_id = (_advance_bookmark.stream).stream_id;
		END IF;
	ELSE
		IF (_advance_bookmark.stream).resume_position IS NULL THEN
			moved := true;
		ELSE
			EXECUTE pg_catalog.format('SELECT %s > %s',
									  pgpull._row_literal(_advance_bookmark.vals, _advance_bookmark.types),
									  pgpull._row_literal((_advance_bookmark.stream).resume_position,
														  _advance_bookmark.types))
			   INTO moved;
		END IF;
		IF moved THEN
			UPDATE pgpull.stream s SET resume_position = _advance_bookmark.vals, updated_at = pg_catalog.now()
			 WHERE s.stream_id = (_advance_bookmark.stream).stream_id;
			after := pg_catalog.array_to_json(_advance_bookmark.vals)::text;
		ELSE
			after := pg_catalog.array_to_json((_advance_bookmark.stream).resume_position)::text;
		END IF;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._advance_bookmark(pgpull.stream, text[], text[]) IS 'internal: move a stream''s bookmark or resume position forward (never backwards, compared in the key''s own type)';

REVOKE EXECUTE ON FUNCTION pgpull._fail_streams(bigint, text),
	pgpull._advance_bookmark(pgpull.stream, text[], text[])
	FROM PUBLIC;

/*
 * begin_run: start a run of an integration.  Marks as abandoned the
 * integration's earlier runs still "running" whose puller is gone (no other
 * session holds their run lock, and no session the lock of any of their
 * running streams), marks
 * streams whose relation was dropped as in error, and returns one row per
 * stream (by destination table), or one row of NULLs but run_id when the
 * integration has none.  The calling session holds the run's advisory lock
 * until end_run.
 */
CREATE OR REPLACE FUNCTION pgpull.begin_run(integration text, puller_version text, target_kind text)
RETURNS TABLE (run_id bigint, stream_id bigint, relation_name text, destination_table text,
			   method text, replication_key name, bookmark text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run_id bigint;
	v_old record;
	v_count integer;
BEGIN
	IF begin_run.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A run syncs the streams of one integration.',
				  HINT = 'Name the integration to sync, such as "default".';
	END IF;
	PERFORM pgpull._require_integration(begin_run.integration);
	IF begin_run.target_kind IS NULL OR begin_run.target_kind NOT IN ('import_api', 'singer') THEN
		RAISE EXCEPTION 'unrecognized target kind: %', COALESCE(begin_run.target_kind, 'NULL')
			USING ERRCODE = '22023',
				  DETAIL = 'The run records the kind of destination only.',
				  HINT = 'Use "import_api" or "singer"; never a URL or a token.';
	END IF;

	INSERT INTO pgpull.runs AS r (integration, puller_version, target)
	VALUES (begin_run.integration, begin_run.puller_version, begin_run.target_kind)
	RETURNING r.run_id INTO v_run_id;
	PERFORM pg_catalog.pg_try_advisory_lock(pgpull._run_lock_class(), v_run_id::integer);

	/*
	 * Runs whose puller died: no other session holds their run lock (this
	 * one starting a new run is done with its old one), and no session holds
	 * the lock of a stream they sync.
	 */
	FOR v_old IN
		SELECT r.run_id
		  FROM pgpull.runs r
		 WHERE r.integration = begin_run.integration
		   AND r.status = 'running'
		   AND r.run_id <> v_run_id
		   AND COALESCE(pgpull._lock_holder(pgpull._run_lock_class(), r.run_id), pg_catalog.pg_backend_pid())
			   = pg_catalog.pg_backend_pid()
		   AND NOT EXISTS (SELECT FROM pgpull.run_streams rs
							WHERE rs.run_id = r.run_id AND rs.status = 'running'
							  AND (pgpull._lock_holder(pgpull._lock_class(), rs.stream_id) IS NOT NULL
								   OR pgpull._range_held_by_run(rs.stream_id, r.run_id, NULL)))
		 ORDER BY r.run_id
		   FOR UPDATE OF r SKIP LOCKED
	LOOP
		UPDATE pgpull.runs r
		   SET status = 'abandoned', ended_at = pg_catalog.now(),
			   error = 'the puller ended without ending the run'
		 WHERE r.run_id = v_old.run_id;
		PERFORM pgpull._fail_streams(v_old.run_id, 'the puller ended without ending the stream');
		PERFORM pgpull._log_line(v_old.run_id, NULL, 'WARNING',
				pg_catalog.format('run abandoned: its puller ended without ending it (found by run %s)', v_run_id));
		PERFORM pgpull._unlock(pgpull._run_lock_class(), v_old.run_id);
	END LOOP;

	/*
	 * Renamed relations get their new name; dropped ones put the stream in
	 * error.  (The commit-safe cap's samples are taken as streams are taken:
	 * a run with nothing new takes none.)
	 */
	UPDATE pgpull.stream s
	   SET status = 'error', last_error = pgpull._relation_missing(s), updated_at = pg_catalog.now()
	 WHERE s.integration = begin_run.integration
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation)
	   AND (s.status, s.last_error) IS DISTINCT FROM ('error', pgpull._relation_missing(s));
	UPDATE pgpull.stream s
	   SET relation_name = pgpull._relation_label(s.relation)
	 WHERE s.integration = begin_run.integration
	   AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation)
	   AND s.relation_name IS DISTINCT FROM pgpull._relation_label(s.relation);

	SELECT pg_catalog.count(*) INTO v_count FROM pgpull.stream s WHERE s.integration = begin_run.integration;
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (v_run_id, NULL, 'INFO',
			pg_catalog.format('run started: puller %s, target %s, %s stream%s',
							  COALESCE(begin_run.puller_version, 'unknown'), begin_run.target_kind,
							  v_count, CASE WHEN v_count = 1 THEN '' ELSE 's' END));

	RETURN QUERY
	SELECT v_run_id, s.stream_id, s.relation_name, s.destination_table, s.method, s.replication_key,
		   s.bookmark
	  FROM pgpull.stream s
	 WHERE s.integration = begin_run.integration
	 ORDER BY s.destination_table COLLATE "C";
	IF NOT FOUND THEN
		RETURN QUERY SELECT v_run_id, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::name, NULL::text;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull.begin_run(text, text, text) IS 'start a run of an integration: its run_id and one row per stream to sync';

/*
 * record_batch: the destination accepted a batch of a stream: count it and
 * advance the stream's bookmark (key_based) or resume position
 * (full_table) with _advance_bookmark, never backwards, so calling it again
 * for the same batch changes nothing but the counts.  A key_based bookmark
 * goes no further than the run's commit-safe cap (record_cap).
 */
CREATE OR REPLACE FUNCTION pgpull.record_batch(run_id bigint, stream_id bigint, rows bigint, bytes bigint,
									last_position text, lossy bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_pos record;
	v_values text[];
	v_after text;
	v_range pgpull.stream_range;
BEGIN
	v_run := pgpull._run(record_batch.run_id, true);
	v_stream := pgpull._stream(v_run, record_batch.stream_id);
	v_rs := pgpull._running_stream(v_run, v_stream);
	IF record_batch.rows IS NULL OR record_batch.bytes IS NULL OR record_batch.lossy IS NULL THEN
		RAISE EXCEPTION 'rows, bytes and lossy must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A batch is counted in rows, bytes and values mapped lossily.',
				  HINT = 'Pass 0 for none.';
	END IF;
	IF record_batch.rows < 0 OR record_batch.bytes < 0 OR record_batch.lossy < 0 THEN
		RAISE EXCEPTION 'rows, bytes and lossy must not be negative'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('The batch has rows %s, bytes %s, lossy %s.', record_batch.rows,
											 record_batch.bytes, record_batch.lossy),
				  HINT = 'Pass the counts of the batch the destination accepted.';
	END IF;

	IF record_batch.last_position IS NOT NULL AND v_rs.streaming THEN
		/* changes from the slot: the position is the LSN they were accepted to */
		v_after := pgpull._advance_lsn(v_stream, record_batch.last_position);
	ELSIF record_batch.last_position IS NOT NULL THEN
		v_pos := pgpull._position_columns(v_stream);
		v_values := pgpull._position_parse(record_batch.last_position, v_pos.types, v_stream.destination_table,
										   v_stream.method = 'key_based');
		IF v_stream.method = 'key_based' THEN
			v_values[1] := pgpull._before_cap(v_values[1], v_rs.cap, v_pos.types[1]);
		ELSE
			v_range := pgpull._held_range(v_stream.stream_id);
		END IF;
		IF v_range.run_id = v_run.run_id THEN
			PERFORM pgpull._advance_range(v_stream, v_range, v_values, v_pos.types);
		ELSIF (v_stream.method = 'key_based' AND v_values[1] IS NOT NULL)
		   OR (v_stream.method IN ('full_table', 'log_based') AND pg_catalog.cardinality(v_values) > 0) THEN
			v_after := (pgpull._advance_bookmark(v_stream, v_values, v_pos.types)).after;
		END IF;
	END IF;

	UPDATE pgpull.run_streams rs
	   SET rows_loaded = rs.rows_loaded + record_batch.rows,
		   batches = rs.batches + 1,
		   bytes = rs.bytes + record_batch.bytes,
		   lossy_values = rs.lossy_values + record_batch.lossy,
		   last_batch_at = pg_catalog.now(),
		   bookmark_after = COALESCE(v_after, rs.bookmark_after)
	 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id;
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (v_run.run_id, v_stream.stream_id, 'INFO',
			pg_catalog.format('batch %s accepted: %s row%s, %s byte%s%s', v_rs.batches + 1,
							  record_batch.rows, CASE WHEN record_batch.rows = 1 THEN '' ELSE 's' END,
							  record_batch.bytes, CASE WHEN record_batch.bytes = 1 THEN '' ELSE 's' END,
							  CASE WHEN record_batch.lossy > 0
								   THEN pg_catalog.format(', %s value%s mapped lossily', record_batch.lossy,
														  CASE WHEN record_batch.lossy = 1 THEN '' ELSE 's' END)
								   ELSE '' END));
END
$fn$;
COMMENT ON FUNCTION pgpull.record_batch(bigint, bigint, bigint, bigint, text, bigint) IS 'count a batch the destination accepted and advance the stream''s bookmark or resume position (never backwards)';

/*
 * _below_cap: a key value (text of type typ) no greater than the run's
 * commit-safe cap (NULL: none): the value, or the cap.
 */
CREATE FUNCTION pgpull._below_cap(value text, cap text, typ text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_below boolean;
BEGIN
	IF _below_cap.value IS NULL OR _below_cap.cap IS NULL THEN
		RETURN _below_cap.value;
	END IF;
	EXECUTE pg_catalog.format('SELECT %L::%s <= %L::%2$s', _below_cap.value, _below_cap.typ, _below_cap.cap)
	   INTO v_below;
	RETURN CASE WHEN v_below THEN _below_cap.value ELSE _below_cap.cap END;
END
$fn$;
COMMENT ON FUNCTION pgpull._below_cap(text, text, text) IS 'internal: a key value, lowered to the run''s commit-safe cap';

/*
 * record_cap: a chunk about to be sent has rows rows at or after the
 * commit-safe cap cap (the ISO text of the cap column of the extraction
 * query; -infinity when no sample was valid).  From now on in this run the
 * stream's bookmark goes no further than the lowest such cap (record_batch,
 * record_emitted), so the next run reads those rows again, with any row a
 * transaction open at the cap commits late.  Counts them in rows_resent,
 * and logs which transaction held the cap when it is set or lowered.
 */
CREATE FUNCTION pgpull.record_cap(run_id bigint, stream_id bigint, cap text, rows bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_type pg_catalog.regtype;
	v_cap text;
	v_sample pgpull.watermark_sample;
	v_holder text;
BEGIN
	v_run := pgpull._run(record_cap.run_id, true);
	v_stream := pgpull._stream(v_run, record_cap.stream_id);
	v_rs := pgpull._running_stream(v_run, v_stream);
	IF record_cap.cap IS NULL OR record_cap.rows IS NULL THEN
		RAISE EXCEPTION 'cap and rows must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A cap is recorded with the rows read at or after it.',
				  HINT = 'Pass the cap column of the extraction query''s rows, and how many rows carried it.';
	END IF;
	IF record_cap.rows < 0 THEN
		RAISE EXCEPTION 'rows must not be negative'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('rows is %s.', record_cap.rows),
				  HINT = 'Pass how many rows carried the cap.';
	END IF;
	IF v_stream.method <> 'key_based' THEN
		RAISE EXCEPTION 'stream "%" has no commit-safe cap', v_stream.destination_table
			USING ERRCODE = '22023',
				  DETAIL = 'Only key_based streams with a date or time replication key are capped.',
				  HINT = 'Record a cap only for rows whose cap column is not null.';
	END IF;
	v_type := (pgpull._position_columns(v_stream)).types[1]::pg_catalog.regtype;
	BEGIN
		EXECUTE pg_catalog.format('SELECT %s FROM (SELECT %L::%s AS v) AS s',
								  pgpull._key_text_expr('s.v', v_type), record_cap.cap, v_type)
		   INTO v_cap;
	EXCEPTION WHEN data_exception THEN
		RAISE EXCEPTION 'cap "%" of stream "%" does not read as type %', record_cap.cap,
						v_stream.destination_table, v_type
			USING ERRCODE = '22P02',
				  DETAIL = 'A cap is a value of the replication key''s type.',
				  HINT = 'Pass the cap column of the extraction query''s rows as it is.';
	END;

	UPDATE pgpull.run_streams rs
	   SET cap = pgpull._below_cap(v_cap, rs.cap, v_type::text),
		   rows_resent = rs.rows_resent + record_cap.rows
	 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id;
	IF v_rs.cap IS NOT NULL AND pgpull._below_cap(v_rs.cap, v_cap, v_type::text) = v_rs.cap THEN
		RETURN;		/* no lower than before: said already */
	END IF;

	IF v_cap = '-infinity' THEN
		v_holder := 'no sample of the open transactions was valid for the chunk''s snapshot (a standby behind its primary), so the bookmark does not move in this run';
	ELSE
		SELECT w.* INTO v_sample FROM pgpull.watermark_sample w ORDER BY w.taken_at DESC LIMIT 1;
		v_holder := CASE WHEN v_sample.oldest_pid IS NULL
						 THEN 'no open transaction held it: the rows were written moments before the chunk was read'
						 ELSE pg_catalog.format('the cap was held by the transaction of process %s (application "%s"), open for %s',
												v_sample.oldest_pid, COALESCE(v_sample.oldest_application, ''),
												pg_catalog.date_trunc('second', v_sample.taken_at - v_sample.oldest_start)) END;
	END IF;
	PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'INFO',
		pg_catalog.format('%s row%s with %I at or after the commit-safe cap %s: sent now and again by the next run, and the bookmark stays at or below the cap; %s',
						  record_cap.rows, CASE WHEN record_cap.rows = 1 THEN '' ELSE 's' END,
						  v_stream.replication_key, v_cap, v_holder));
END
$fn$;
COMMENT ON FUNCTION pgpull.record_cap(bigint, bigint, text, bigint) IS 'keep the bookmark of a stream at or below the commit-safe cap of rows read past it, and count them';


/*
 * commit_state: a state value a Singer target echoed after storing the
 * rows sent before it.  For each entry of its bookmarks, in destination
 * table order, advances the stream's bookmark (key_based) or resume
 * position (full_table), never backwards (see the top of this file), and
 * returns a row: the destination table, whether anything moved, the
 * bookmark after (key_based: the key's ISO text; full_table: the resume
 * position, NULL when none), and what happened.  Moves are logged in the
 * extraction log of the run that sent the state.  22023 for a value that
 * is not a pgpull state, and for an entry whose stream is not that
 * destination table of the state's integration.
 */
CREATE OR REPLACE FUNCTION pgpull.commit_state(state jsonb)
RETURNS TABLE (stream text, moved boolean, bookmark text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_header jsonb;
	v_reject text;
	v_integration text;
	v_run_id bigint;
	v_run pgpull.runs;
	v_key text;
	v_entry jsonb;
	v_stream_id bigint;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_has_rs boolean;
	v_pos record;
	v_type pg_catalog.regtype;
	v_value text;
	v_after text;
	v_stale boolean;
	v_version bigint;
	v_values text[];
	v_moved boolean;
	v_bookmark text;
	v_detail text;
	v_from text;
BEGIN
	IF commit_state.state IS NULL THEN
		RAISE EXCEPTION 'state must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A state is the value of a STATE message a Singer target echoed.',
				  HINT = 'Pass the state value as the target printed it.';
	END IF;
	IF pg_catalog.jsonb_typeof(commit_state.state) <> 'object' THEN
		PERFORM pgpull._state_error('state is not a JSON object',
			pg_catalog.format('The value is a JSON %s.', pg_catalog.jsonb_typeof(commit_state.state)));
	END IF;
	v_header := commit_state.state -> 'pgpull';
	IF pg_catalog.jsonb_typeof(v_header) IS DISTINCT FROM 'object'
	   OR (v_header -> 'version') IS DISTINCT FROM '1'::jsonb THEN
		PERFORM pgpull._state_error('state was not written by pgpull',
			'A pgpull state has a "pgpull" object with "version": 1.');
	END IF;
	IF pg_catalog.jsonb_typeof(v_header -> 'integration') IS DISTINCT FROM 'string' THEN
		PERFORM pgpull._state_error('state names no integration',
			'The "pgpull" object of a state has the integration as a string.');
	END IF;
	v_integration := v_header ->> 'integration';
	PERFORM pgpull._require_integration(v_integration);
	IF pg_catalog.jsonb_typeof(commit_state.state -> 'bookmarks') IS DISTINCT FROM 'object' THEN
		PERFORM pgpull._state_error('state has no bookmarks object',
			'A pgpull state has a "bookmarks" object, one member per destination table.');
	END IF;
	IF pgpull._is_count(v_header -> 'run_id') THEN
		v_run_id := (v_header ->> 'run_id')::bigint;
		SELECT * INTO v_run FROM pgpull.runs r WHERE r.run_id = v_run_id;
		IF FOUND AND (v_run.integration <> v_integration OR v_run.target IS DISTINCT FROM 'singer') THEN
			PERFORM pgpull._state_error(
				pg_catalog.format('state of run %s does not match the catalog', v_run_id),
				pg_catalog.format('Run %s is of integration "%s" with target kind %s; the state says integration "%s".',
								  v_run_id, v_run.integration, COALESCE(v_run.target, 'unknown'), v_integration));
		END IF;
		IF NOT FOUND THEN
			v_reject := pg_catalog.format('rejected: run %s no longer exists', v_run_id);
			v_run_id := NULL;
		END IF;
	ELSIF (v_header -> 'run_id') IS NOT NULL AND (v_header -> 'run_id') <> 'null'::jsonb THEN
		PERFORM pgpull._state_error('state has an invalid run_id', 'The run_id of a state is a positive integer.');
	ELSE
		v_reject := 'rejected: the state names no run of pgpull';
	END IF;

	FOR v_key, v_entry IN
		SELECT e.key, e.value FROM pg_catalog.jsonb_each(commit_state.state -> 'bookmarks') AS e
		 ORDER BY e.key COLLATE "C"
	LOOP
		stream := v_key;
		moved := false;
		bookmark := NULL;
		/* only what pgpull wrote for this run moves anything */
		detail := COALESCE(v_reject,
			CASE WHEN pg_catalog.jsonb_typeof(v_entry) <> 'object'
					  OR (v_entry ->> 'mac') IS DISTINCT FROM pgpull._entry_mac(v_integration, v_run_id, v_entry)
				 THEN 'rejected: its MAC does not verify: pgpull did not write this bookmark for this run, or it was changed' END);
		IF detail IS NOT NULL THEN
			IF v_run_id IS NOT NULL THEN
				INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
				VALUES (v_run_id, NULL, 'WARNING',
						pg_catalog.format('state bookmark of destination table "%s" %s', v_key, detail));
			END IF;
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF pg_catalog.jsonb_typeof(v_entry) <> 'object' OR NOT pgpull._is_count(v_entry -> 'stream_id') THEN
			PERFORM pgpull._state_error(pg_catalog.format('invalid bookmark of destination table "%s" in state', v_key),
				'A bookmark is a JSON object with the stream_id of its catalog stream.');
		END IF;
		v_stream_id := (v_entry ->> 'stream_id')::bigint;
		SELECT * INTO v_stream FROM pgpull.stream s WHERE s.stream_id = v_stream_id FOR UPDATE;
		IF NOT FOUND THEN
			detail := pg_catalog.format('stream %s is no longer tracked', v_stream_id);
			RETURN NEXT;
			CONTINUE;
		END IF;
		IF v_stream.integration <> v_integration OR v_stream.destination_table <> v_key THEN
			RAISE EXCEPTION 'bookmark of destination table "%" does not match stream %', v_key, v_stream_id
				USING ERRCODE = '22023',
					  DETAIL = pg_catalog.format('Stream %s loads destination table "%s" of integration "%s"; the state names destination table "%s" of integration "%s".',
												 v_stream_id, v_stream.destination_table, v_stream.integration,
												 v_key, v_integration),
					  HINT = 'Confirm a state with the catalog and integration of the run that sent it.';
		END IF;
		SELECT * INTO v_rs FROM pgpull.run_streams rs
		 WHERE rs.run_id = v_run_id AND rs.stream_id = v_stream.stream_id FOR UPDATE;
		v_has_rs := FOUND;
		v_moved := false;
		v_detail := NULL;
		v_after := NULL;
		bookmark := CASE WHEN v_stream.method = 'key_based' THEN v_stream.bookmark
						 ELSE pg_catalog.array_to_json(v_stream.resume_position)::text END;

		IF (v_entry ->> 'method') IS NULL OR (v_entry ->> 'method') NOT IN ('key_based', 'full_table', 'log_based')
		   OR (v_entry ->> 'method' = 'key_based'
			   AND pg_catalog.jsonb_typeof(v_entry -> 'replication_key_value') NOT IN ('string', 'null'))
		   OR (v_entry ->> 'method' = 'log_based' AND (v_entry -> 'lsn') IS NOT NULL
			   AND pg_catalog.jsonb_typeof(v_entry -> 'lsn') IS DISTINCT FROM 'string')
		   OR (v_entry ->> 'method' IN ('full_table', 'log_based') AND (v_entry -> 'lsn') IS NULL
			   AND (pg_catalog.jsonb_typeof(v_entry -> 'complete') IS DISTINCT FROM 'boolean'
					OR NOT pgpull._is_count(v_entry -> 'version')
					OR pg_catalog.jsonb_typeof(v_entry -> 'position') NOT IN ('string', 'null'))) THEN
			PERFORM pgpull._state_error(pg_catalog.format('invalid bookmark of destination table "%s" in state', v_key),
				'A key_based bookmark has a replication_key_value string or null; a full_table bookmark, or a log_based one of its copy, an integer version, complete true or false, and a position string or null; a log_based one of its changes an lsn string.');
		END IF;

		IF (v_entry ->> 'method') IS DISTINCT FROM v_stream.method
		   OR (v_entry ->> 'replication_key') IS DISTINCT FROM v_stream.replication_key::text THEN
			v_detail := 'the stream''s replication method or key changed after the state was written';
		ELSIF v_stream.status = 'pending' THEN
			v_detail := 'the stream was reset after the state was written';
		ELSIF pgpull._relation_missing(v_stream) IS NOT NULL THEN
			v_detail := pgpull._relation_missing(v_stream);
		ELSIF (v_entry -> 'lsn') IS NOT NULL THEN
			/* log_based changes: the slot itself is confirmed by the state's slot entry */
			IF (v_entry -> 'complete') = 'true'::jsonb AND v_stream.bookmark IS NULL
			   AND (v_entry ->> 'version')::bigint IS NOT DISTINCT FROM v_stream.table_version THEN
				/* and the run's copy, which the changes follow */
				UPDATE pgpull.stream s
				   SET resume_position = NULL, completed_version = s.table_version,
					   bookmark = '0/0', updated_at = pg_catalog.now()
				 WHERE s.stream_id = v_stream.stream_id
				RETURNING * INTO v_stream;
				INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
				VALUES (v_run_id, v_stream.stream_id, 'INFO',
						'the Singer target confirmed the copy of the stream complete: its changes come from the replication slot');
			END IF;
			v_after := pgpull._lsn_of(v_stream, pg_catalog.jsonb_build_array(v_entry ->> 'lsn')::text);
			bookmark := v_stream.bookmark;
			IF v_stream.bookmark IS NOT NULL AND v_after::pg_catalog.pg_lsn > v_stream.bookmark::pg_catalog.pg_lsn THEN
				UPDATE pgpull.stream s SET bookmark = v_after, updated_at = pg_catalog.now()
				 WHERE s.stream_id = v_stream.stream_id;
				v_moved := true;
				bookmark := v_after;
				v_detail := pg_catalog.format('changes confirmed up to %s', v_after);
			ELSE
				v_detail := pg_catalog.format('changes up to %s confirmed already', v_after);
				v_after := NULL;
			END IF;
		ELSIF v_stream.method = 'key_based' THEN
			v_value := v_entry ->> 'replication_key_value';
			v_type := pgpull._column_type(v_stream.relation, v_stream.replication_key);
			IF v_value IS NOT NULL THEN
				BEGIN
					EXECUTE pg_catalog.format('SELECT %L::%s', v_value, v_type);
				EXCEPTION WHEN data_exception THEN
					PERFORM pgpull._state_error(pg_catalog.format('invalid bookmark of destination table "%s" in state', v_key),
						pg_catalog.format('Its replication_key_value "%s" does not read as type %s.', v_value, v_type));
				END;
			END IF;
			/* a bookmark below the one the run started from: reset since */
			IF v_has_rs AND v_rs.bookmark_before IS NOT NULL THEN
				EXECUTE pg_catalog.format('SELECT %L::%s IS NULL OR %L::%s > %L::%s', v_stream.bookmark, v_type,
										  v_rs.bookmark_before, v_type, v_stream.bookmark, v_type)
				   INTO v_stale;
			ELSE
				v_stale := false;
			END IF;
			IF v_stale THEN
				v_detail := 'the stream was reset after the state was written';
			ELSIF v_value IS NULL THEN
				v_detail := 'no row with a replication key value confirmed yet';
			ELSE
				SELECT a.moved, a.after INTO v_moved, v_after
				  FROM pgpull._advance_bookmark(v_stream, ARRAY[v_value], ARRAY[v_type::text]) a;
				/* what the next run reads: after the bookmark, or from its ties on */
				v_from := CASE WHEN pgpull._capped_type(pgpull._base_type(v_type)) THEN '>' ELSE '>=' END;
				IF v_moved THEN
					bookmark := v_after;
					v_detail := pg_catalog.format('bookmark moved to %I %s %s', v_stream.replication_key,
												  v_from, v_after);
				ELSE
					v_detail := pg_catalog.format('the bookmark is already at %I %s %s', v_stream.replication_key,
												  v_from, v_stream.bookmark);
				END IF;
			END IF;
		ELSE
			v_version := (v_entry ->> 'version')::bigint;
			IF v_stream.table_version IS NULL OR v_version <> v_stream.table_version THEN
				v_detail := pg_catalog.format('table version %s is not the stream''s current one (%s)', v_version,
											  COALESCE(v_stream.table_version::text, 'none'));
			ELSIF v_version = v_stream.completed_version THEN
				v_detail := pg_catalog.format('table version %s was confirmed complete already', v_version);
			ELSIF (v_entry -> 'complete') = 'true'::jsonb THEN
				UPDATE pgpull.stream s
				   SET resume_position = NULL, completed_version = v_version, updated_at = pg_catalog.now(),
					   /* log_based: the copy is complete; the changes since are the slot's */
					   bookmark = CASE WHEN s.method = 'log_based' AND s.bookmark IS NULL
									   THEN pg_catalog.pg_current_wal_lsn()::text ELSE s.bookmark END
				 WHERE s.stream_id = v_stream.stream_id;
				v_moved := true;
				bookmark := NULL;
				v_detail := pg_catalog.format('table version %s confirmed complete: the next run starts a new version',
											  v_version);
			ELSIF (v_entry ->> 'position') IS NULL THEN
				v_detail := pg_catalog.format('no position of table version %s confirmed yet', v_version);
			ELSE
				v_pos := pgpull._position_columns(v_stream);
				v_values := pgpull._position_parse(v_entry ->> 'position', v_pos.types, v_stream.destination_table,
												   false);
				IF pg_catalog.cardinality(v_values) = 0 THEN
					v_detail := 'the stream is read in one pass: it resumes from the start';
				ELSE
					v_moved := (pgpull._advance_bookmark(v_stream, v_values, v_pos.types)).moved;
					v_after := pg_catalog.array_to_json(v_values)::text;
					IF v_moved THEN
						bookmark := v_after;
						v_detail := pg_catalog.format('table version %s confirmed up to position %s: the next run resumes after it',
													  v_version, v_after);
					ELSE
						v_detail := pg_catalog.format('position %s of table version %s is not after the confirmed one',
													  v_after, v_version);
						v_after := NULL;
					END IF;
				END IF;
			END IF;
		END IF;

		IF v_has_rs THEN
			UPDATE pgpull.run_streams rs
			   SET rows_loaded = CASE WHEN pgpull._is_count(v_entry -> 'rows')
									  THEN GREATEST(rs.rows_loaded, (v_entry ->> 'rows')::bigint)
									  ELSE rs.rows_loaded END,
				   last_batch_at = CASE WHEN v_moved OR (pgpull._is_count(v_entry -> 'rows')
														 AND (v_entry ->> 'rows')::bigint > rs.rows_loaded)
										THEN pg_catalog.now() ELSE rs.last_batch_at END,
				   bookmark_after = COALESCE(v_after, rs.bookmark_after)
			 WHERE rs.run_id = v_rs.run_id AND rs.stream_id = v_rs.stream_id;
		END IF;
		IF v_moved THEN
			INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
			VALUES (v_run_id, v_stream.stream_id, 'INFO',
					'the Singer target confirmed ' || COALESCE('run ' || v_run_id || ': ', '') || v_detail);
		END IF;
		moved := v_moved;
		detail := v_detail;
		RETURN NEXT;
	END LOOP;

	/* log_based: the slot is confirmed up to the changes the target stored */
	IF (v_header -> 'slot') IS NOT NULL THEN
		SELECT * INTO stream, moved, bookmark, detail
		  FROM pgpull._commit_slot(v_integration, v_run_id, v_reject, v_header -> 'slot');
		RETURN NEXT;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull.commit_state(jsonb) IS 'advance the bookmarks named by a state value a Singer target echoed after loading (never backwards)';

/*
 * Only the session that took a stream reports it, and only the session
 * that began a run ends it: record_batch, record_emitted, extraction_query
 * (through _running_stream), end_stream, end_singer_stream (through
 * _end_stream) and end_run check the advisory lock.
 */

/*
 * _require_lock: an error (55000) unless this session holds advisory lock
 * (class, id) of pgpull: only the session that took a stream (take_stream)
 * or began a run (begin_run) reports it, so a role granted the run
 * protocol cannot move the bookmarks of another puller's streams.  what
 * names the object in the message.
 */
CREATE FUNCTION pgpull._require_lock(class integer, id bigint, what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_holder integer := pgpull._lock_holder(_require_lock.class, _require_lock.id);
BEGIN
	IF v_holder IS DISTINCT FROM pg_catalog.pg_backend_pid() THEN
		RAISE EXCEPTION '% is not held by this session', _require_lock.what
			USING ERRCODE = '55000',
				  DETAIL = CASE WHEN v_holder IS NULL
								THEN 'No session holds it: the session that took it has ended or released it.'
								ELSE pg_catalog.format('The session with PID %s holds it.', v_holder) END,
				  HINT = 'Report a run and its streams from the session that began the run and took the streams.';
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._require_lock(integer, bigint, text) IS 'internal: an error unless this session holds a pgpull advisory lock';

REVOKE EXECUTE ON FUNCTION pgpull._require_lock(integer, bigint, text) FROM PUBLIC;

/*
 * _running_stream: the run's row of a stream it has taken and not yet
 * ended, locked; an error (55000) when the run is not syncing it, or when
 * this session does not hold the stream's lock.
 */
CREATE OR REPLACE FUNCTION pgpull._running_stream(run pgpull.runs, stream pgpull.stream)
RETURNS pgpull.run_streams
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_rs pgpull.run_streams;
	v_range pgpull.stream_range;
BEGIN
	SELECT * INTO v_rs FROM pgpull.run_streams rs
	 WHERE rs.run_id = (_running_stream.run).run_id
	   AND rs.stream_id = (_running_stream.stream).stream_id FOR UPDATE;
	IF NOT FOUND OR v_rs.status <> 'running' THEN
		RAISE EXCEPTION 'stream % is not being synced by run %',
			(_running_stream.stream).stream_id, (_running_stream.run).run_id
			USING ERRCODE = '55000',
				  DETAIL = CASE WHEN FOUND THEN pg_catalog.format('Its status in the run is %s.', v_rs.status)
								ELSE 'The run has not taken it.' END,
				  HINT = 'Take the stream with pgpull.take_stream first.';
	END IF;
	v_range := pgpull._held_range((_running_stream.stream).stream_id);
	IF v_range.run_id IS DISTINCT FROM (_running_stream.run).run_id THEN
		PERFORM pgpull._require_lock(pgpull._lock_class(), (_running_stream.stream).stream_id,
									 pg_catalog.format('stream %s of run %s', (_running_stream.stream).stream_id,
													   (_running_stream.run).run_id));
	END IF;
	RETURN v_rs;
END
$fn$;
COMMENT ON FUNCTION pgpull._running_stream(pgpull.runs, pgpull.stream) IS 'internal: the run''s row of a stream it is syncing, locked, or an error';

/*
 * _end_stream: the outcome of a stream in a run, 'succeeded' or 'failed'
 * (end_stream, and end_singer_stream of 80_singer.sql).  A full_table
 * stream that succeeded starts from scratch (a new table version) next
 * time, unless its rows went to a Singer target (singer): then only the
 * target's confirmation (commit_state) moves anything.  Only the session
 * holding the stream's lock ends a stream the run took, and releases the
 * lock.  Also records, as failed, a stream the run could not take
 * (take_stream raised an error), leaving alone a stream another run is
 * syncing.
 */
CREATE OR REPLACE FUNCTION pgpull._end_stream(run_id bigint, stream_id bigint, status text, rows_extracted bigint, error text,
								   singer boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_taken boolean;
	v_range pgpull.stream_range;
BEGIN
	IF _end_stream.status IS NULL OR _end_stream.status NOT IN ('succeeded', 'failed') THEN
		RAISE EXCEPTION 'unrecognized stream status: %', COALESCE(_end_stream.status, 'NULL')
			USING ERRCODE = '22023',
				  DETAIL = 'A stream ends as succeeded or failed.',
				  HINT = 'Use "succeeded" or "failed".';
	END IF;
	IF _end_stream.rows_extracted < 0 THEN
		RAISE EXCEPTION 'rows_extracted must not be negative'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('rows_extracted is %s.', _end_stream.rows_extracted),
				  HINT = 'Pass the number of rows the extraction queries gave.';
	END IF;
	v_run := pgpull._run(_end_stream.run_id, false);
	v_stream := pgpull._stream(v_run, _end_stream.stream_id);
	v_range := pgpull._held_range(v_stream.stream_id);
	IF v_range.run_id = v_run.run_id THEN
		PERFORM pgpull._end_range(v_run, v_stream, v_range, _end_stream.status, _end_stream.rows_extracted,
								  _end_stream.error);
		RETURN;
	END IF;
	SELECT * INTO v_rs FROM pgpull.run_streams rs
	 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id FOR UPDATE;
	IF FOUND AND v_rs.status = 'skipped' THEN
		RAISE EXCEPTION 'stream % was skipped by run %', v_stream.stream_id, v_run.run_id
			USING ERRCODE = '55000',
				  DETAIL = 'Another puller was syncing it when the run tried to take it.',
				  HINT = 'End only the streams pgpull.take_stream returned as taken.';
	END IF;
	v_taken := FOUND AND v_rs.status = 'running';
	IF v_taken THEN
		PERFORM pgpull._require_lock(pgpull._lock_class(), v_stream.stream_id,
									 pg_catalog.format('stream %s of run %s', v_stream.stream_id, v_run.run_id));
	ELSIF _end_stream.status = 'succeeded' THEN
		RAISE EXCEPTION 'stream % is not being synced by run %', v_stream.stream_id, v_run.run_id
			USING ERRCODE = '55000',
				  DETAIL = CASE WHEN FOUND THEN pg_catalog.format('Its status in the run is %s.', v_rs.status)
								ELSE 'The run has not taken it.' END,
				  HINT = 'A stream succeeds only in the run that took it; end a stream the run could not take as failed.';
	END IF;

	INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, ended_at, rows_extracted, error,
										  bookmark_before, bookmark_after)
	VALUES (v_run.run_id, v_stream.stream_id, _end_stream.status, pg_catalog.now(),
			COALESCE(_end_stream.rows_extracted, 0), _end_stream.error, v_stream.bookmark, v_stream.bookmark)
	ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
	   SET status = _end_stream.status,
		   ended_at = pg_catalog.now(),
		   rows_extracted = COALESCE(_end_stream.rows_extracted, rs.rows_extracted),
		   error = _end_stream.error,
		   copied = rs.copied OR (_end_stream.status = 'succeeded' AND v_stream.method = 'log_based'
								  AND NOT rs.streaming);
	UPDATE pgpull.stream s
	   SET status = CASE WHEN _end_stream.status = 'succeeded' THEN 'succeeded' ELSE 'error' END,
		   last_error = CASE WHEN _end_stream.status = 'succeeded' THEN NULL
							 ELSE COALESCE(_end_stream.error, 'the stream failed') END,
		   resume_position = CASE WHEN _end_stream.status = 'succeeded' AND s.method IN ('full_table', 'log_based')
									   AND NOT _end_stream.singer AND NOT v_rs.streaming
								  THEN NULL ELSE s.resume_position END,
		   /* log_based: a complete copy; the changes since are the slot's */
		   bookmark = CASE WHEN _end_stream.status = 'succeeded' AND s.method = 'log_based'
								AND NOT _end_stream.singer AND NOT v_rs.streaming AND s.bookmark IS NULL
						   THEN pg_catalog.pg_current_wal_lsn()::text ELSE s.bookmark END,
		   updated_at = pg_catalog.now()
	 WHERE s.stream_id = v_stream.stream_id
	   AND (v_taken OR s.status <> 'running');
	PERFORM pgpull._unlock(pgpull._lock_class(), v_stream.stream_id);

	SELECT * INTO v_rs FROM pgpull.run_streams rs
	 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id;
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (v_run.run_id, v_stream.stream_id,
			CASE WHEN _end_stream.status = 'succeeded' THEN 'INFO' ELSE 'ERROR' END,
			CASE WHEN _end_stream.singer THEN
				pg_catalog.format('stream %s: %s row%s extracted, sent to the Singer target in %s batch%s%s', _end_stream.status,
								  v_rs.rows_extracted, CASE WHEN v_rs.rows_extracted = 1 THEN '' ELSE 's' END,
								  v_rs.batches, CASE WHEN v_rs.batches = 1 THEN '' ELSE 'es' END,
								  CASE WHEN _end_stream.error IS NOT NULL THEN ': ' || _end_stream.error
									   ELSE '; bookmarks move when the target confirms them' END)
			ELSE
				pg_catalog.format('stream %s: %s row%s extracted, %s loaded in %s batch%s%s', _end_stream.status,
								  v_rs.rows_extracted, CASE WHEN v_rs.rows_extracted = 1 THEN '' ELSE 's' END,
								  v_rs.rows_loaded, v_rs.batches, CASE WHEN v_rs.batches = 1 THEN '' ELSE 'es' END,
								  CASE WHEN _end_stream.error IS NOT NULL THEN ': ' || _end_stream.error
									   WHEN v_stream.method = 'key_based' AND v_rs.bookmark_after IS NOT NULL
									   THEN pg_catalog.format('; bookmark %s: %s', v_stream.replication_key,
															  v_rs.bookmark_after)
									   ELSE '' END) END
			|| CASE WHEN v_rs.rows_resent > 0
					THEN pg_catalog.format('; %s row%s at or after the commit-safe cap go again next run',
										   v_rs.rows_resent, CASE WHEN v_rs.rows_resent = 1 THEN '' ELSE 's' END)
					ELSE '' END);
END
$fn$;
COMMENT ON FUNCTION pgpull._end_stream(bigint, bigint, text, bigint, text, boolean) IS 'internal: record the outcome of a stream in a run and release its lock';

/*
 * end_run: the outcome of a run, 'succeeded' or 'failed'.  Streams still
 * running in it fail; their locks and the run's are released.
 */
CREATE OR REPLACE FUNCTION pgpull.end_run(run_id bigint, status text, error text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
BEGIN
	IF end_run.status IS NULL OR end_run.status NOT IN ('succeeded', 'failed') THEN
		RAISE EXCEPTION 'unrecognized run status: %', COALESCE(end_run.status, 'NULL')
			USING ERRCODE = '22023',
				  DETAIL = 'A run ends as succeeded or failed.',
				  HINT = 'Use "succeeded" or "failed".';
	END IF;
	v_run := pgpull._run(end_run.run_id, false);
	PERFORM pgpull._require_lock(pgpull._run_lock_class(), v_run.run_id, pg_catalog.format('run %s', v_run.run_id));
	PERFORM pgpull._fail_streams(v_run.run_id, 'the run ended before the stream');
	UPDATE pgpull.runs r
	   SET status = end_run.status, ended_at = pg_catalog.now(), error = end_run.error
	 WHERE r.run_id = v_run.run_id;
	PERFORM pgpull._unlock(pgpull._run_lock_class(), v_run.run_id);
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (v_run.run_id, NULL, CASE WHEN end_run.status = 'succeeded' THEN 'INFO' ELSE 'ERROR' END,
			'run ' || end_run.status || COALESCE(': ' || end_run.error, ''));
END
$fn$;

/*
 * The database's identity, which the puller compares on its source and
 * state connections, and the function that reads it; grant_script grants
 * it from now on, and the roles that could run the puller before get it
 * below, with the integrations.
 */

/*
 * The identity of the database the extension was created in: one row, a
 * random UUID.  A streaming standby replays it, so a replica has the
 * identity of its primary; it is not registered for pg_dump, so a restored
 * copy gets a new one from CREATE EXTENSION.  The puller compares it on its
 * source and state connections (pgpull.database_id()), which must be the
 * same database or a replica of it.
 */
CREATE TABLE pgpull.database_identity (
	database_id		uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid() PRIMARY KEY,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	one_row			boolean NOT NULL DEFAULT true UNIQUE CHECK (one_row)
);
COMMENT ON TABLE pgpull.database_identity IS 'the identity of this database (one row): the same on its replicas, new in a restored copy';
INSERT INTO pgpull.database_identity DEFAULT VALUES;


/*
 * database_id: the identity of this database, the same on its streaming
 * replicas and new in a copy restored from a dump.  The puller refuses a
 * source and a state connection whose identities differ: the commit-safe
 * watermark samples the state database's transactions, which says nothing
 * of another database's.
 */
CREATE FUNCTION pgpull.database_id()
RETURNS uuid
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT i.database_id FROM pgpull.database_identity i;
$fn$;
COMMENT ON FUNCTION pgpull.database_id() IS 'the identity of this database: the same on its replicas, new in a restored copy';

REVOKE ALL ON pgpull.database_identity FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull.database_id() FROM PUBLIC;

/*
 * _puller_functions: the functions the replication role may execute, as
 * regprocedure text.  grant_script grants EXECUTE on each, revoke_script
 * revokes it.  The one list: a function the puller calls goes here (the
 * run protocol, the Singer state, the standby check, pgpull discover and
 * pgpull status).
 */
CREATE OR REPLACE FUNCTION pgpull._puller_functions()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT ARRAY[
		'pgpull.version()',
		'pgpull.database_id()',
		'pgpull.check_standby()',
		'pgpull.discover(name[])',
		'pgpull.begin_run(text,text,text)',
		'pgpull.take_stream(bigint,bigint)',
		'pgpull.take_range(bigint,bigint,integer,integer)',
		'pgpull.extraction_query(bigint,bigint,text,integer)',
		'pgpull.record_batch(bigint,bigint,bigint,bigint,text,bigint)',
		'pgpull.record_cap(bigint,bigint,text,bigint)',
		'pgpull.probe_query(bigint)',
		'pgpull.record_unchanged(bigint,bigint[])',
		'pgpull.log(bigint,bigint,text,text)',
		'pgpull.end_stream(bigint,bigint,text,bigint,text)',
		'pgpull.end_run(bigint,text,text)',
		'pgpull.record_emitted(bigint,bigint,bigint,bigint,text,bigint,boolean)',
		'pgpull.end_singer_stream(bigint,bigint,text,bigint,text)',
		'pgpull.commit_state(jsonb)',
		'pgpull.status(text)',
		'pgpull.status_attention(text)',
		'pgpull.status_standby(text)',
		'pgpull.prune_runs(bigint)',
		'pgpull.stream_metrics(text)',
		'pgpull.plan(text,integer,boolean)',
		'pgpull.slot_plan(bigint)',
		'pgpull.slot_created(bigint,pg_lsn)',
		'pgpull.slot_dropped(bigint)',
		'pgpull.slot_confirmed(bigint,pg_lsn)',
		'pgpull.copy_sequence(bigint,bigint)',
		'pgpull.take_log_stream(bigint,bigint)',
		'pgpull.log_query(bigint,bigint,name[])',
		'pgpull.slot_blockers(bigint)',
		'pgpull.slot_state_entry(bigint,pg_lsn)'
	]::text[];
$fn$;
COMMENT ON FUNCTION pgpull._puller_functions() IS 'internal: the functions grant_script lets the replication role execute';

/*
 * Integrations belong to roles: only the roles an integration is granted
 * to (and their members, and the extension owner) may run it, report its
 * runs or confirm its Singer states.  Every run-protocol function checks
 * it (begin_run, log and commit_state directly, the others through _run);
 * grant_script takes the integrations to grant; check_privileges reports
 * them.  So that no working setup breaks, every integration that has
 * streams or runs is granted, below, to every role that could run the
 * puller before (EXECUTE on begin_run).
 */

/*
 * The roles that may run an integration (35_integrations.sql), by name, so
 * that grants survive a dump restored where the roles have other OIDs.
 */
CREATE TABLE pgpull.integration_grant (
	integration		text NOT NULL,
	role_name		name NOT NULL,
	granted_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (integration, role_name)
);
COMMENT ON TABLE pgpull.integration_grant IS 'the roles that may run each integration (pgpull.grant_integration)';

SELECT pg_catalog.pg_extension_config_dump('pgpull.integration_grant', '');
REVOKE ALL ON pgpull.integration_grant FROM PUBLIC;

/*
 * grant_integration: let a role run an integration; true when it was not
 * granted before.  The integration need not have streams yet.
 */
CREATE FUNCTION pgpull.grant_integration(integration text, role name)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF grant_integration.integration IS NULL OR grant_integration.role IS NULL THEN
		RAISE EXCEPTION 'integration and role must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A grant lets one role run one integration.',
				  HINT = 'Name the integration, such as "default", and the role the puller logs in as.';
	END IF;
	PERFORM pgpull._role_oid(grant_integration.role);
	INSERT INTO pgpull.integration_grant (integration, role_name)
	VALUES (grant_integration.integration, grant_integration.role)
	ON CONFLICT DO NOTHING;
	RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION pgpull.grant_integration(text, name) IS 'let a role run an integration; true when it was not granted before';

/*
 * revoke_integration: take the grant back; true when there was one.  The
 * role may still run the integration through a role it is a member of.
 */
CREATE FUNCTION pgpull.revoke_integration(integration text, role name)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF revoke_integration.integration IS NULL OR revoke_integration.role IS NULL THEN
		RAISE EXCEPTION 'integration and role must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A grant lets one role run one integration.',
				  HINT = 'Name the integration and the role, as pgpull.grant_integration was given them.';
	END IF;
	DELETE FROM pgpull.integration_grant g
	 WHERE g.integration = revoke_integration.integration AND g.role_name = revoke_integration.role;
	RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION pgpull.revoke_integration(text, name) IS 'stop a role running an integration; true when it had a grant';

/*
 * _may_run: whether a role may run an integration: it is a member of the
 * extension owner, or of a role the integration is granted to.  SECURITY
 * DEFINER, so that check_privileges run by an administrator it is granted
 * to can read the grants.
 */
CREATE FUNCTION pgpull._may_run(role pg_catalog.oid, integration text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.pg_has_role(_may_run.role,
								  (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'pgpull'),
								  'MEMBER')
		OR EXISTS (SELECT FROM pgpull.integration_grant g
					 JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name
					WHERE g.integration = _may_run.integration
					  AND pg_catalog.pg_has_role(_may_run.role, r.oid, 'MEMBER'));
$fn$;
COMMENT ON FUNCTION pgpull._may_run(pg_catalog.oid, text) IS 'internal: whether a role may run an integration';

/*
 * _integrations: the integrations that have streams or grants, for the
 * audit.  SECURITY DEFINER for the same reason as _may_run.
 */
CREATE FUNCTION pgpull._integrations()
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.integration FROM pgpull.stream s
	UNION
	SELECT g.integration FROM pgpull.integration_grant g
	ORDER BY 1;
$fn$;
COMMENT ON FUNCTION pgpull._integrations() IS 'internal: the integrations that have streams or grants';

/*
 * _require_integration: an error (42501) unless the session's role may run
 * the integration.
 */
CREATE FUNCTION pgpull._require_integration(integration text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF NOT pgpull._may_run((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER),
						   _require_integration.integration) THEN
		RAISE EXCEPTION 'role "%" may not run integration "%"', SESSION_USER, _require_integration.integration
			USING ERRCODE = '42501',
				  DETAIL = 'An integration is run only by the roles it is granted to, their members and the extension owner.',
				  HINT = pg_catalog.format('As the extension owner: SELECT pgpull.grant_integration(%L, %L);',
										   _require_integration.integration, SESSION_USER);
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._require_integration(text) IS 'internal: an error unless the session''s role may run an integration';

REVOKE EXECUTE ON FUNCTION pgpull.grant_integration(text, name),
	pgpull.revoke_integration(text, name),
	pgpull._require_integration(text)
	FROM PUBLIC;

/*
 * grant_script: the statements that give a replication role what pgpull
 * needs on some schemas, one per row, for psql's \gexec:
 *
 *   CREATE ROLE ... LOGIN when the role does not exist (with a password,
 *     only as a SCRAM-SHA-256 verifier computed here; without one, a
 *     comment row says to set it with psql's \password); for an existing
 *     role, a given password becomes ALTER ROLE ... PASSWORD '<verifier>';
 *   GRANT CONNECT on the current database;
 *   GRANT USAGE ON SCHEMA pgpull and EXECUTE on the puller's functions;
 *   SELECT pgpull.grant_integration(...) for each integration given (by
 *     default "default"): the role may run those integrations only;
 *   for each schema, in the order given: GRANT USAGE, GRANT SELECT ON ALL
 *     TABLES IN SCHEMA, and ALTER DEFAULT PRIVILEGES FOR ROLE r IN SCHEMA s
 *     GRANT SELECT ON TABLES for every role r that can create tables there
 *     (pgpull._table_creators), or a comment row where the current role is
 *     not a member of r and so cannot set them; a comment row also flags
 *     CREATE granted to PUBLIC, which default privileges cannot cover.
 *
 * The password never appears in the rows, but it is an argument of this
 * very call, which log_statement = all (or an error in it) logs: where
 * statements are logged, pass NULL and use psql's \password, which hashes
 * on the client.
 */
CREATE FUNCTION pgpull.grant_script(role name, schemas name[], password text DEFAULT NULL,
									integrations text[] DEFAULT '{default}')
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_exists boolean;
	v_schema record;
	v_creator name;
	v_function text;
	v_integration text;
	v_statement text;
	v_super boolean;
	v_createrole boolean;
	v_log_based text;
BEGIN
	IF grant_script.role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Name the replication role; it is created when it does not exist.';
	END IF;
	IF grant_script.schemas IS NULL THEN
		RAISE EXCEPTION 'schemas must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Pass an empty array to grant only CONNECT and the pgpull functions.';
	END IF;
	IF grant_script.integrations IS NULL OR pg_catalog.array_position(grant_script.integrations, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'integrations must not be null or hold nulls'
			USING ERRCODE = '22004',
				  HINT = 'Name the integrations the role may run, such as ''{default}'', or pass ''{}'' for none.';
	END IF;
	/* check every schema before the first row goes out */
	PERFORM pgpull._schema_list(grant_script.schemas);
	v_exists := EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role);

	/*
	 * A script whose first statement fails leaves every later one failing on
	 * the missing role: refuse up front when the current role, which runs
	 * the \gexec, could not create the role, or set the password of an
	 * existing one.  That takes a superuser or CREATEROLE (from PostgreSQL
	 * 16, ADMIN OPTION on an existing role too); a role may always set its
	 * own password.
	 */
	SELECT r.rolsuper, r.rolcreaterole INTO v_super, v_createrole
	  FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER;
	IF NOT v_exists AND NOT (v_super OR v_createrole) THEN
		RAISE EXCEPTION 'role "%" does not exist and the current role "%" cannot create it',
			grant_script.role, CURRENT_USER
			USING ERRCODE = '42501',
				  DETAIL = 'The script''s first statement is CREATE ROLE, which takes a superuser or a role with CREATEROLE; every later statement needs the role.',
				  HINT = pg_catalog.format('Run grant_script as a role with CREATEROLE, or have one run CREATE ROLE %I LOGIN first.',
										   grant_script.role);
	END IF;
	IF v_exists AND grant_script.password IS NOT NULL AND grant_script.role <> CURRENT_USER
	   AND NOT v_super
	   AND NOT (v_createrole
				AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role)
				AND (pg_catalog.current_setting('server_version_num')::integer < 160000
					 OR pg_catalog.pg_has_role(CURRENT_USER, grant_script.role, 'MEMBER WITH ADMIN OPTION'))) THEN
		RAISE EXCEPTION 'the current role "%" cannot set the password of role "%"', CURRENT_USER, grant_script.role
			USING ERRCODE = '42501',
				  DETAIL = 'The script''s first statement would be ALTER ROLE ... PASSWORD, which takes a superuser or a role with CREATEROLE.',
				  HINT = pg_catalog.format('Omit the password and have role %s set it with psql''s \password, or run grant_script as a role with CREATEROLE.',
										   pgpull._quoted(grant_script.role));
	END IF;
	IF NOT v_exists THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'run as a superuser or a role with CREATEROLE, or create role %s first: the next statement creates it',
			pgpull._quoted(grant_script.role)));
	END IF;

	IF NOT v_exists AND grant_script.password IS NULL THEN
		RETURN NEXT pg_catalog.format('CREATE ROLE %I LOGIN', grant_script.role);
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'no password given: set one with psql''s \password %s (it sends only a SCRAM verifier)',
			pg_catalog.quote_ident(grant_script.role)));
	ELSIF NOT v_exists THEN
		RETURN NEXT pg_catalog.format('CREATE ROLE %I LOGIN PASSWORD %L', grant_script.role,
									  pgpull._scram_sha256(grant_script.password));
	ELSIF grant_script.password IS NOT NULL THEN
		RETURN NEXT pg_catalog.format('ALTER ROLE %I PASSWORD %L', grant_script.role,
									  pgpull._scram_sha256(grant_script.password));
	END IF;

	RETURN NEXT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I',
								  pg_catalog.current_database(), grant_script.role);
	RETURN NEXT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', 'pgpull', grant_script.role);
	FOREACH v_function IN ARRAY pgpull._puller_functions() LOOP
		RETURN NEXT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I',
									  v_function::pg_catalog.regprocedure, grant_script.role);
	END LOOP;
	FOREACH v_integration IN ARRAY grant_script.integrations LOOP
		RETURN NEXT pg_catalog.format('SELECT pgpull.grant_integration(%L, %L)', v_integration, grant_script.role);
	END LOOP;
	SELECT pg_catalog.string_agg(pgpull._quoted(x.integration), ', ' ORDER BY x.integration COLLATE "C")
	  INTO v_log_based
	  FROM (SELECT DISTINCT l.integration FROM pgpull._log_based_streams(NULL) l
			 WHERE l.integration = ANY (grant_script.integrations)) x;
	IF v_log_based IS NOT NULL THEN
		RETURN QUERY SELECT * FROM pgpull._replication_comments(
			grant_script.role, (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role), v_log_based);
	END IF;

	FOR v_schema IN SELECT * FROM pgpull._schema_list(grant_script.schemas) LOOP
		RETURN NEXT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', v_schema.schema_name, grant_script.role);
		RETURN NEXT pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I',
									  v_schema.schema_name, grant_script.role);
		FOR v_creator IN SELECT * FROM pgpull._table_creators(grant_script.role, v_schema.schema_oid) LOOP
			v_statement := pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I',
											 v_creator, v_schema.schema_name, grant_script.role);
			IF pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER') THEN
				RETURN NEXT v_statement;
			ELSE
				RETURN NEXT pgpull._comment(pg_catalog.format(
					'cannot set default privileges for role %s in schema %s: the current role %s is not a member of it; run as %s or a member of it: %s',
					pgpull._quoted(v_creator), pgpull._quoted(v_schema.schema_name),
					pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), v_statement));
			END IF;
		END LOOP;
		IF pgpull._public_creates(v_schema.schema_oid) THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'schema %s grants CREATE to PUBLIC: default privileges cannot cover the tables every role may create there; consider: REVOKE CREATE ON SCHEMA %I FROM PUBLIC',
				pgpull._quoted(v_schema.schema_name), v_schema.schema_name));
		END IF;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.grant_script(name, name[], text, text[]) IS 'statements (one per row, for \gexec) that create a replication role if needed and grant it CONNECT, schema USAGE, SELECT, default privileges per creating role and the integrations it may run';

REVOKE EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text, text[]) FROM PUBLIC;

/*
 * No working setup breaks: every role (but the owner and superusers, who
 * need no grant) keeps what it could do before the update.  A role that
 * could run the puller (EXECUTE on begin_run) may call database_id and run
 * every integration that has streams or runs; one that could call
 * grant_script may call the new one.
 */
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		 ORDER BY r.rolname
	LOOP
		IF pg_catalog.has_function_privilege(v_role, 'pgpull.begin_run(text,text,text)', 'EXECUTE') THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.database_id() TO %I', v_role);
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.record_cap(bigint, bigint, text, bigint) TO %I',
									  v_role);
			INSERT INTO pgpull.integration_grant (integration, role_name)
			SELECT i.integration, v_role
			  FROM (SELECT s.integration FROM pgpull.stream s UNION SELECT u.integration FROM pgpull.runs u) AS i
			ON CONFLICT DO NOTHING;
		END IF;
		IF pg_catalog.has_function_privilege(v_role, 'pgpull.grant_script(name,name[],text)', 'EXECUTE') THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text, text[]) TO %I',
									  v_role);
		END IF;
	END LOOP;
END
$update$;
DROP FUNCTION pgpull.grant_script(name, name[], text);

/*
 * _run: the run row, locked; P0002 when there is none, 42501 when the
 * session's role may not run its integration, 55000 when it must be
 * running and is not.
 */
CREATE OR REPLACE FUNCTION pgpull._run(run_id bigint, running boolean)
RETURNS pgpull.runs
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
BEGIN
	IF _run.run_id IS NULL THEN
		RAISE EXCEPTION 'run_id must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'Every call of a run names it by the run_id that began it.',
				  HINT = 'Pass the run_id pgpull.begin_run returned.';
	END IF;
	SELECT * INTO v_run FROM pgpull.runs r WHERE r.run_id = _run.run_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'run % does not exist', _run.run_id
			USING ERRCODE = 'P0002',
				  DETAIL = 'No row of pgpull.runs has this run_id.',
				  HINT = 'Pass the run_id pgpull.begin_run returned.';
	END IF;
	PERFORM pgpull._require_integration(v_run.integration);
	IF _run.running AND v_run.status NOT IN ('running', 'abandoned') THEN
		RAISE EXCEPTION 'run % is not running', _run.run_id
			USING ERRCODE = '55000',
				  DETAIL = pg_catalog.format('The run ended with status %s.', v_run.status),
				  HINT = 'Begin a new run with pgpull.begin_run.';
	END IF;
	IF v_run.status = 'abandoned' AND _run.running THEN
		/* marked abandoned by another puller while this one was between streams */
		UPDATE pgpull.runs r SET status = 'running', ended_at = NULL, error = NULL
		 WHERE r.run_id = v_run.run_id;
		v_run.status := 'running';
	END IF;
	RETURN v_run;
END
$fn$;

/*
 * log: append a line to the extraction log of a run (stream_id NULL for a
 * run-level line).  Levels DEBUG, INFO, WARNING, ERROR, CRITICAL.
 */
CREATE OR REPLACE FUNCTION pgpull.log(run_id bigint, stream_id bigint, level text, message text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_level text := pg_catalog.upper(log.level);
BEGIN
	IF v_level IS NULL OR v_level NOT IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL') THEN
		RAISE EXCEPTION 'unrecognized log level: %', COALESCE(log.level, 'NULL')
			USING ERRCODE = '22023',
				  DETAIL = 'The extraction log has the levels of Stitch''s extraction logs.',
				  HINT = 'Use DEBUG, INFO, WARNING, ERROR or CRITICAL.';
	END IF;
	IF log.message IS NULL THEN
		RAISE EXCEPTION 'message must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A log line needs a text.',
				  HINT = 'Pass an empty string for an empty line.';
	END IF;
	SELECT * INTO v_run FROM pgpull.runs r WHERE r.run_id = log.run_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'run % does not exist', COALESCE(log.run_id::text, 'NULL')
			USING ERRCODE = 'P0002',
				  DETAIL = 'Every log line belongs to a run.',
				  HINT = 'Pass the run_id pgpull.begin_run returned.';
	END IF;
	PERFORM pgpull._require_integration(v_run.integration);
	IF log.stream_id IS NOT NULL
	   AND NOT EXISTS (SELECT FROM pgpull.stream s
					    WHERE s.stream_id = log.stream_id AND s.integration = v_run.integration) THEN
		RAISE EXCEPTION 'stream % does not exist in the integration of run %', log.stream_id, log.run_id
			USING ERRCODE = 'P0002',
				  DETAIL = pg_catalog.format('Integration "%s" has no stream with this stream_id.', v_run.integration),
				  HINT = 'Pass a stream_id pgpull.begin_run returned for this run, or NULL for a run-level line.';
	END IF;
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (log.run_id, log.stream_id, v_level, log.message);
END
$fn$;

/*
 * check_privileges: the audit of a replication role, one row per required
 * privilege (kind 'required') and per hazard (kind 'hazard'); ok says
 * whether the privilege is held (required) or the hazard absent (hazard);
 * detail explains, and fix is a ready, quoted statement when ok is false.
 *
 * Required: CONNECT on the database; EXECUTE on the functions the puller
 * calls; for each integration with streams or grants, that the role may
 * run it (pgpull.grant_integration); USAGE on schema pgpull and on each
 * schema; SELECT on every table, partitioned table (and partition), view,
 * materialized view and foreign table there; SELECT on each column tracked
 * streams there replicate (pgpull._stream_columns); and per schema and per
 * creating role (pgpull._table_creators), a default privilege that gives
 * the role SELECT on that role's new tables: a pg_default_acl entry of the
 * creator, for the schema or database-wide, granting SELECT on tables to
 * the role, to PUBLIC or to a role it inherits (or the role is a
 * superuser, or inherits the creator itself).
 *
 * Hazards: the extension owner cannot read other roles' activity (neither
 * superuser nor a member of pg_read_all_stats), which leaves date and time
 * bookmarks without their commit-safe cap; the role is a superuser; it holds INSERT, UPDATE, DELETE or
 * TRUNCATE on a checked relation; CREATE on the database, on schema pgpull
 * or a checked schema; CREATE granted to PUBLIC on a checked schema (the
 * tables any role creates there cannot be covered by default privileges);
 * row-level security that filters its reads of a table or partitioned
 * table (enabled, and the role neither owner without FORCE, superuser nor
 * BYPASSRLS).  The RLS fix is ALTER ROLE ... BYPASSRLS (which needs a
 * superuser); its detail names the policies that apply.  BYPASSRLS and
 * TEMP are not hazards.
 *
 * schemas NULL means the schemas of all tracked streams.
 */
CREATE OR REPLACE FUNCTION pgpull.check_privileges(role name, schemas name[] DEFAULT NULL)
RETURNS TABLE (object_type text, object_name text, privilege text, ok boolean,
			   detail text, fix text, kind text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_role pg_catalog.oid;
	v_rolname name := check_privileges.role;
	v_super boolean;
	v_bypass boolean;
	v_schemas name[] := check_privileges.schemas;
	v_db record;
	v_schema record;
	v_nsp record;
	v_rel record;
	v_creator name;
	v_priv text;
	v_via record;
	v_col name;
	v_policies text;
	v_has_streams boolean;
	v_tracked pg_catalog.oid[];
	v_member boolean;
	v_function text;
	v_integration text;
	v_owner name := (SELECT r.rolname FROM pg_catalog.pg_extension e
					   JOIN pg_catalog.pg_roles r ON r.oid = e.extowner WHERE e.extname = 'pgpull');
BEGIN
	v_role := pgpull._role_oid(check_privileges.role);
	SELECT COALESCE(pg_catalog.array_agg(t.relation), '{}') INTO v_tracked FROM pgpull._tracked_relations() t;
	SELECT r.rolsuper, r.rolbypassrls INTO v_super, v_bypass FROM pg_catalog.pg_roles r WHERE r.oid = v_role;
	IF v_schemas IS NULL THEN
		SELECT COALESCE(pg_catalog.array_agg(n.nspname ORDER BY n.nspname COLLATE "C"), '{}') INTO v_schemas
		  FROM pg_catalog.pg_namespace n
		 WHERE n.oid IN (SELECT c.relnamespace
						   FROM pgpull._tracked_relations() t
						   JOIN pg_catalog.pg_class c ON c.oid = t.relation);
	END IF;
	PERFORM pgpull._schema_list(v_schemas);

	SELECT d.oid, d.datname, COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba)) AS acl INTO v_db
	  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();

	/* the database */
	kind := 'required';
	object_type := 'database';
	object_name := pg_catalog.quote_ident(v_db.datname);
	privilege := 'CONNECT';
	ok := pg_catalog.has_database_privilege(v_role, v_db.oid, 'CONNECT');
	SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_db.acl, 'CONNECT');
	detail := CASE WHEN ok THEN pgpull._via_detail(v_via.via, v_via.via_role)
				   ELSE 'the role cannot connect to the database' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', v_db.datname, v_rolname) END;
	RETURN NEXT;

	kind := 'hazard';
	privilege := 'CREATE';
	SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_db.acl, 'CREATE');
	ok := NOT pg_catalog.has_database_privilege(v_role, v_db.oid, 'CREATE');
	detail := CASE WHEN ok THEN 'the role cannot create schemas in the database'
				   ELSE 'the role can create schemas in the database: ' || pgpull._via_detail(v_via.via, v_via.via_role) END;
	fix := CASE WHEN NOT ok THEN pgpull._revoke_fix(v_rolname, v_via.via, v_via.via_member, 'CREATE',
													pg_catalog.format('DATABASE %I', v_db.datname)) END;
	RETURN NEXT;

	/* the role */
	kind := 'hazard';
	object_type := 'role';
	object_name := pg_catalog.quote_ident(v_rolname);
	privilege := 'SUPERUSER';
	ok := NOT v_super;
	detail := CASE WHEN ok THEN 'the role is not a superuser'
				   ELSE 'the role is a superuser: it can read and write everything' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER ROLE %I NOSUPERUSER', v_rolname) END;
	RETURN NEXT;

	/* the commit-safe watermark reads every role's transactions as the owner */
	kind := 'hazard';
	object_type := 'role';
	object_name := v_owner;
	privilege := 'pg_read_all_stats';
	ok := pg_catalog.pg_has_role(v_owner, 'pg_read_all_stats', 'USAGE');
	detail := CASE WHEN ok THEN 'the extension owner sees the transactions of every role: the commit-safe watermark works'
				   ELSE 'the extension owner cannot see other roles'' transactions: date and time bookmarks get no commit-safe cap, and a late commit may be skipped' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT pg_read_all_stats TO %I', v_owner) END;
	RETURN NEXT;

	/* the functions the puller calls */
	kind := 'required';
	object_type := 'function';
	privilege := 'EXECUTE';
	FOREACH v_function IN ARRAY pgpull._puller_functions() LOOP
		object_name := v_function;
		ok := pg_catalog.has_function_privilege(v_role, v_function::pg_catalog.regprocedure, 'EXECUTE');
		detail := CASE WHEN ok THEN 'the puller can call it'
					   ELSE 'the puller cannot call it: its runs fail' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', v_function, v_rolname) END;
		RETURN NEXT;
	END LOOP;

	/* the integrations it may run */
	object_type := 'integration';
	privilege := 'RUN';
	FOR v_integration IN SELECT i FROM pgpull._integrations() i LOOP
		object_name := v_integration;
		ok := pgpull._may_run(v_role, v_integration);
		detail := CASE WHEN ok THEN 'the role may run the integration'
					   ELSE 'the role may not run the integration: pgpull.grant_integration grants it' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('SELECT pgpull.grant_integration(%L, %L)',
														v_integration, v_rolname) END;
		RETURN NEXT;
	END LOOP;

	/* log_based streams of the integrations it may run */
	RETURN QUERY
	SELECT c.object_type, c.object_name, c.privilege, c.ok, c.detail, c.fix, c.kind
	  FROM pgpull._log_based_checks(v_rolname,
									ARRAY(SELECT DISTINCT l.integration FROM pgpull._log_based_streams(NULL) l
										   WHERE pgpull._may_run(v_role, l.integration))) c;

	/* schema pgpull, then each schema */
	FOR v_schema IN
		SELECT x.schema_oid, x.schema_name, x.checked
		  FROM (SELECT 0::bigint AS ord, n.oid AS schema_oid, n.nspname AS schema_name, false AS checked
				  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgpull'
				UNION ALL
				SELECT l.ord, l.schema_oid, l.schema_name, true
				  FROM pgpull._schema_list(v_schemas) WITH ORDINALITY AS l(schema_oid, schema_name, ord)
				 WHERE l.schema_name <> 'pgpull') x
		 ORDER BY x.ord
	LOOP
		SELECT n.oid, COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner)) AS acl INTO v_nsp
		  FROM pg_catalog.pg_namespace n WHERE n.oid = v_schema.schema_oid;
		object_type := 'schema';
		object_name := pg_catalog.quote_ident(v_schema.schema_name);

		kind := 'required';
		privilege := 'USAGE';
		ok := pg_catalog.has_schema_privilege(v_role, v_schema.schema_oid, 'USAGE');
		SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_nsp.acl, 'USAGE');
		detail := CASE WHEN ok THEN pgpull._via_detail(v_via.via, v_via.via_role)
					   ELSE 'the role cannot look up objects in the schema' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', v_schema.schema_name, v_rolname) END;
		RETURN NEXT;

		kind := 'hazard';
		privilege := 'CREATE';
		ok := NOT pg_catalog.has_schema_privilege(v_role, v_schema.schema_oid, 'CREATE');
		SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_nsp.acl, 'CREATE');
		detail := CASE WHEN ok THEN 'the role cannot create objects in the schema'
					   ELSE 'the role can create objects in the schema: ' || pgpull._via_detail(v_via.via, v_via.via_role) END;
		fix := CASE WHEN NOT ok THEN pgpull._revoke_fix(v_rolname, v_via.via, v_via.via_member, 'CREATE',
														pg_catalog.format('SCHEMA %I', v_schema.schema_name)) END;
		RETURN NEXT;

		CONTINUE WHEN NOT v_schema.checked;

		privilege := 'CREATE TO PUBLIC';
		ok := NOT pgpull._public_creates(v_schema.schema_oid);
		detail := CASE WHEN ok THEN 'PUBLIC cannot create objects in the schema'
					   ELSE 'every role can create tables in the schema, and default privileges cannot cover tables of every role' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', v_schema.schema_name) END;
		RETURN NEXT;

		/* default privileges, per creating role */
		kind := 'required';
		object_type := 'default privilege';
		FOR v_creator IN SELECT * FROM pgpull._table_creators(v_rolname, v_schema.schema_oid) LOOP
			privilege := pg_catalog.format('DEFAULT SELECT FOR ROLE %I', v_creator);
			SELECT pg_catalog.string_agg(CASE WHEN d.defaclnamespace = 0 THEN 'a database-wide' ELSE 'a schema' END
										 || ' default privilege', ' and ' ORDER BY d.defaclnamespace)
			  INTO detail
			  FROM pg_catalog.pg_default_acl d
			  JOIN pg_catalog.pg_roles c ON c.oid = d.defaclrole
			 WHERE c.rolname = v_creator
			   AND d.defaclnamespace IN (v_schema.schema_oid, 0)
			   AND d.defaclobjtype = 'r'
			   AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) a
							WHERE a.privilege_type = 'SELECT'
							  AND (a.grantee = 0 OR a.grantee = v_role
								   OR pg_catalog.pg_has_role(v_role, a.grantee, 'USAGE')));
			IF v_super THEN
				ok := true;
				detail := 'the role is a superuser';
			ELSIF pg_catalog.pg_has_role(v_role, v_creator, 'USAGE') THEN
				ok := true;
				detail := pg_catalog.format('the role inherits the privileges of role %s', pgpull._quoted(v_creator));
			ELSIF detail IS NOT NULL THEN
				ok := true;
				detail := pg_catalog.format('tables role %s creates here are readable: %s',
											pgpull._quoted(v_creator), detail);
			ELSE
				ok := false;
				v_member := pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER');
				detail := pg_catalog.format('tables role %s creates in the schema will not be readable', pgpull._quoted(v_creator))
					|| CASE WHEN v_member THEN ''
							ELSE pg_catalog.format('; the current role %s is not a member of role %s and cannot set its default privileges: run the fix as %s or a member of it',
												   pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), pgpull._quoted(v_creator)) END;
			END IF;
			fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I',
														   v_creator, v_schema.schema_name, v_rolname) END;
			RETURN NEXT;
		END LOOP;

		/* relations */
		FOR v_rel IN
			SELECT c.oid, c.relname, c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
				   COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner)) AS acl
			  FROM pg_catalog.pg_class c
			 WHERE c.relnamespace = v_schema.schema_oid
			   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
			 ORDER BY c.relname COLLATE "C"
		LOOP
			object_type := CASE v_rel.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
							   WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
							   ELSE 'foreign table' END;
			object_name := pg_catalog.format('%I.%I', v_schema.schema_name, v_rel.relname);

			kind := 'required';
			privilege := 'SELECT';
			ok := pg_catalog.has_table_privilege(v_role, v_rel.oid, 'SELECT');
			SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_rel.acl, 'SELECT');
			detail := CASE WHEN ok THEN pgpull._via_detail(v_via.via, v_via.via_role)
						   ELSE 'the role cannot read the ' || object_type END;
			fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT SELECT ON %I.%I TO %I',
														   v_schema.schema_name, v_rel.relname, v_rolname) END;
			RETURN NEXT;

			/* the columns tracked streams select */
			v_has_streams := v_rel.oid = ANY (v_tracked);
			IF v_has_streams THEN
				object_type := 'column';
				FOR v_col IN
					SELECT a.attname
					  FROM pg_catalog.pg_attribute a
					 WHERE a.attrelid = v_rel.oid
					   AND a.attnum > 0 AND NOT a.attisdropped
					   AND a.attname IN (SELECT pg_catalog.unnest(t.columns)
										   FROM pgpull._tracked_relations() t WHERE t.relation = v_rel.oid)
					 ORDER BY a.attnum
				LOOP
					object_name := pg_catalog.format('%I.%I.%I', v_schema.schema_name, v_rel.relname, v_col);
					ok := pg_catalog.has_column_privilege(v_role, v_rel.oid, v_col, 'SELECT');
					detail := CASE WHEN ok THEN 'a tracked stream replicates the column, and the role can read it'
								   ELSE 'a tracked stream replicates the column, and the role cannot read it' END;
					fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT SELECT (%I) ON %I.%I TO %I',
																   v_col, v_schema.schema_name, v_rel.relname, v_rolname) END;
					RETURN NEXT;
				END LOOP;
				object_type := CASE v_rel.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
								   WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
								   ELSE 'foreign table' END;
				object_name := pg_catalog.format('%I.%I', v_schema.schema_name, v_rel.relname);
			END IF;

			/* write privileges */
			kind := 'hazard';
			FOREACH v_priv IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
				privilege := v_priv;
				ok := NOT pg_catalog.has_table_privilege(v_role, v_rel.oid, v_priv);
				SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_rel.acl, v_priv);
				detail := CASE WHEN ok THEN 'the role cannot ' || pg_catalog.lower(v_priv)
							   ELSE 'a replication role needs no write privilege: ' || pgpull._via_detail(v_via.via, v_via.via_role) END;
				fix := CASE WHEN NOT ok THEN pgpull._revoke_fix(v_rolname, v_via.via, v_via.via_member, v_priv,
																pg_catalog.format('%I.%I', v_schema.schema_name, v_rel.relname)) END;
				RETURN NEXT;
			END LOOP;

			/* row-level security */
			IF v_rel.relkind IN ('r', 'p') THEN
				object_type := 'policy';
				privilege := 'ROW LEVEL SECURITY';
				IF NOT v_rel.relrowsecurity THEN
					ok := true;
					detail := 'row-level security is not enabled';
				ELSIF v_super OR v_bypass THEN
					ok := true;
					detail := 'row-level security is enabled; the role bypasses it as '
						|| CASE WHEN v_super THEN 'superuser' ELSE 'BYPASSRLS' END;
				ELSIF NOT v_rel.relforcerowsecurity AND pg_catalog.pg_has_role(v_role, v_rel.relowner, 'USAGE') THEN
					ok := true;
					detail := 'row-level security is enabled; the role bypasses it as owner';
				ELSE
					ok := false;
					SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.polname), ', ' ORDER BY p.polname COLLATE "C")
					  INTO v_policies
					  FROM pg_catalog.pg_policy p
					 WHERE p.polrelid = v_rel.oid
					   AND p.polcmd IN ('r', '*')
					   AND EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) g
									WHERE g = 0 OR pg_catalog.pg_has_role(v_role, g, 'USAGE'));
					detail := CASE WHEN v_policies IS NULL
								   THEN 'row-level security is enabled and no policy lets the role read: it reads no rows'
								   ELSE 'row-level security filters the rows the role reads through policies ' || v_policies END;
				END IF;
				fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER ROLE %I BYPASSRLS', v_rolname) END;
				RETURN NEXT;
			END IF;
		END LOOP;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.check_privileges(name, name[]) IS 'audit of a replication role: one row per required privilege and per hazard, with a ready fix for each one not ok';

/*
 * A Singer state moves a bookmark only if pgpull wrote it: each bookmark
 * entry carries a MAC keyed by a per-integration secret the puller's role
 * cannot read, and commit_state returns entries that do not verify, or of
 * a state without a run, as rejected rows.
 */

/*
 * The secret of each integration, for the MAC of the bookmarks in its
 * Singer states (80_singer.sql): made on first use, read only by the
 * extension's functions.  Not registered for pg_dump: a restored database
 * makes new secrets, and states written before are rejected, so their rows
 * are sent again (at-least-once).
 */
CREATE TABLE pgpull.integration_secret (
	integration		text PRIMARY KEY,
	secret			bytea NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pgpull.integration_secret IS 'internal: the key of the MACs in each integration''s Singer states (never readable by the puller''s role)';

REVOKE ALL ON pgpull.integration_secret FROM PUBLIC;

/*
 * _entry_mac: the MAC of a bookmark entry of a Singer state: HMAC-SHA-256,
 * keyed by the integration's secret (made on first use), of the run's ID
 * and the entry's canonical jsonb text without its "mac" member, in hex.
 * Targets re-serialise the states they echo (whitespace, key order), which
 * the jsonb text does not see; a changed value, another run's entry or an
 * entry written by hand does not verify.
 */
CREATE FUNCTION pgpull._entry_mac(integration text, run_id bigint, entry jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_secret bytea;
BEGIN
	SELECT s.secret INTO v_secret FROM pgpull.integration_secret s WHERE s.integration = _entry_mac.integration;
	IF NOT FOUND THEN
		v_secret := pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.gen_random_uuid()::text
															|| pg_catalog.gen_random_uuid()::text
															|| pg_catalog.gen_random_uuid()::text, 'UTF8'));
		INSERT INTO pgpull.integration_secret AS s (integration, secret)
		VALUES (_entry_mac.integration, v_secret)
		ON CONFLICT ON CONSTRAINT integration_secret_pkey DO UPDATE SET secret = s.secret
		RETURNING s.secret INTO v_secret;
	END IF;
	RETURN pg_catalog.encode(pgpull._hmac_sha256(v_secret,
						pg_catalog.convert_to(_entry_mac.run_id::text || ' ' || (_entry_mac.entry - 'mac')::text, 'UTF8')),
						'hex');
END
$fn$;
COMMENT ON FUNCTION pgpull._entry_mac(text, bigint, jsonb) IS 'internal: the MAC of a bookmark entry of a Singer state';

REVOKE EXECUTE ON FUNCTION pgpull._entry_mac(text, bigint, jsonb) FROM PUBLIC;

/*
 * record_emitted: rows of a stream were sent to the Singer target (rows 0:
 * none since the last call).  Counts them in the run (rows extracted,
 * batches, bytes, values mapped lossily) without moving the bookmark or
 * the resume position, and returns the stream's bookmark entry as of the
 * last row sent (last_position: its position; NULL while none was sent in
 * this run; complete: the stream was sent to its end) for the STATE
 * message that follows these rows.  A key_based entry goes no further than
 * the run's commit-safe cap (record_cap).
 */
CREATE OR REPLACE FUNCTION pgpull.record_emitted(run_id bigint, stream_id bigint, rows bigint, bytes bigint,
									  last_position text, lossy bigint, complete boolean)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_pos record;
	v_values text[];
	v_type pg_catalog.regtype;
	v_key_value text;
BEGIN
	v_run := pgpull._singer_run(record_emitted.run_id, true);
	v_stream := pgpull._stream(v_run, record_emitted.stream_id);
	v_rs := pgpull._running_stream(v_run, v_stream);
	IF record_emitted.rows IS NULL OR record_emitted.bytes IS NULL OR record_emitted.lossy IS NULL
	   OR record_emitted.complete IS NULL THEN
		RAISE EXCEPTION 'rows, bytes, lossy and complete must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'Rows sent are counted in rows, bytes and values mapped lossily.',
				  HINT = 'Pass 0 for none, and whether the stream was sent to its end.';
	END IF;
	IF record_emitted.rows < 0 OR record_emitted.bytes < 0 OR record_emitted.lossy < 0 THEN
		RAISE EXCEPTION 'rows, bytes and lossy must not be negative'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('The rows sent have rows %s, bytes %s, lossy %s.', record_emitted.rows,
											 record_emitted.bytes, record_emitted.lossy),
				  HINT = 'Pass the counts of the rows sent since the last call.';
	END IF;

	v_pos := pgpull._position_columns(v_stream);
	IF v_rs.streaming THEN
		/* changes from the slot: the position is an LSN (77_logical.sql) */
		v_key_value := CASE WHEN record_emitted.last_position IS NOT NULL
							THEN pgpull._lsn_of(v_stream, record_emitted.last_position)
							ELSE COALESCE(v_stream.bookmark, '0/0') END;
	ELSIF record_emitted.last_position IS NOT NULL THEN
		v_values := pgpull._position_parse(record_emitted.last_position, v_pos.types, v_stream.destination_table,
										   v_stream.method = 'key_based');
	END IF;
	IF v_stream.method = 'key_based' THEN
		v_key_value := v_rs.bookmark_before;
		v_values[1] := pgpull._before_cap(v_values[1], v_rs.cap, v_pos.types[1]);
		IF v_values[1] IS NOT NULL THEN
			/* the ISO text of the key, whatever the spelling of the position */
			v_type := v_pos.types[1]::pg_catalog.regtype;
			EXECUTE pg_catalog.format('SELECT %s FROM (SELECT %L::%s AS v) AS s',
									  pgpull._key_text_expr('s.v', v_type), v_values[1], v_type)
			   INTO v_key_value;
		END IF;
	END IF;

	IF record_emitted.rows > 0 THEN
		UPDATE pgpull.run_streams rs
		   SET rows_extracted = rs.rows_extracted + record_emitted.rows,
			   batches = rs.batches + 1,
			   bytes = rs.bytes + record_emitted.bytes,
			   lossy_values = rs.lossy_values + record_emitted.lossy
		 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id
		RETURNING * INTO v_rs;
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (v_run.run_id, v_stream.stream_id, 'INFO',
				pg_catalog.format('batch %s sent to the Singer target: %s row%s, %s byte%s%s', v_rs.batches,
								  record_emitted.rows, CASE WHEN record_emitted.rows = 1 THEN '' ELSE 's' END,
								  record_emitted.bytes, CASE WHEN record_emitted.bytes = 1 THEN '' ELSE 's' END,
								  CASE WHEN record_emitted.lossy > 0
									   THEN pg_catalog.format(', %s value%s mapped lossily', record_emitted.lossy,
															  CASE WHEN record_emitted.lossy = 1 THEN '' ELSE 's' END)
									   ELSE '' END));
	END IF;

	IF v_rs.streaming THEN
		RETURN pgpull._log_state_entry(v_run, v_stream, v_key_value, v_rs.rows_extracted, v_rs.copied);
	END IF;
	RETURN pgpull._state_entry(v_run, v_stream, v_key_value,
							   CASE WHEN pg_catalog.cardinality(v_values) > 0 THEN record_emitted.last_position END,
							   record_emitted.complete, v_rs.rows_extracted);
END
$fn$;
COMMENT ON FUNCTION pgpull.record_emitted(bigint, bigint, bigint, bigint, text, bigint, boolean) IS 'count rows sent to a Singer target (no bookmark moves) and return the stream''s entry for the next STATE message';

/*
 * Fresh rows are not held back by backends that never write rows: the
 * commit-safe cap ignores them (_holds_cap, the one list).
 */

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

REVOKE EXECUTE ON FUNCTION pgpull._holds_cap(text) FROM PUBLIC;

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
CREATE OR REPLACE FUNCTION pgpull._watermark_sample()
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
 * Fresh rows are never held back: the commit-safe cap no longer filters a
 * chunk's rows, it keeps the bookmark at or below it (record_cap); the
 * extraction query gains the cap column, and the columns of a stream are
 * fixed for the run when it is taken (run_streams.columns).  The samples
 * name the application of the transaction holding the cap.
 */
ALTER TABLE pgpull.run_streams
	ADD COLUMN columns name[],
	ADD COLUMN cap text,
	ADD COLUMN rows_resent bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN pgpull.run_streams.columns IS 'the columns the run extracts, fixed when it took the stream: a column added meanwhile is sent from the next run on';
COMMENT ON COLUMN pgpull.run_streams.cap IS 'the lowest commit-safe cap of the rows the run read at or after it (ISO text): the bookmark stays at or below it';
COMMENT ON COLUMN pgpull.run_streams.rows_resent IS 'rows the run read at or after its commit-safe cap: sent now, and again by the next run';
ALTER TABLE pgpull.watermark_sample ADD COLUMN oldest_application text;
DROP FUNCTION pgpull._watermark_cap_expr(pgpull.watermark_sample, pg_catalog.oid);

/*
 * take_stream: lock a stream for this session (session-level advisory
 * lock on the state connection) and start it in the run, or skip it when
 * another session holds it.  Fixes the columns the run extracts (a column
 * added while the run goes on is sent from the next run on, with the
 * schema that has it).  Returns its JSON schema as of now, key names,
 * bookmark properties, whether it is read in keyset chunks, and (full_table)
 * its table version: new when the stream starts from scratch, kept when
 * it resumes.  42P01 (lock not taken) when its relation was dropped.
 */
CREATE OR REPLACE FUNCTION pgpull.take_stream(run_id bigint, stream_id bigint)
RETURNS TABLE (taken boolean, json_schema jsonb, key_names text[], bookmark_properties text[],
			   chunked boolean, table_version bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_label text;
	v_columns record;
	v_mine boolean;
	v_version bigint;
	v_before text;
	v_nulls bigint;
	v_schema jsonb;
	v_stream_columns name[];
	v_message text;
BEGIN
	v_run := pgpull._run(take_stream.run_id, true);
	v_stream := pgpull._stream(v_run, take_stream.stream_id);
	IF pgpull._range_pending(v_run, v_stream) THEN
		RETURN QUERY
		SELECT r.taken, r.json_schema, r.key_names, r.bookmark_properties, r.chunked, r.table_version
		  FROM pgpull.take_range(take_stream.run_id, take_stream.stream_id, 1, NULL) AS r;
		RETURN;
	END IF;
	/* checked before locking: a dropped relation or column never holds the lock */
	v_label := pgpull._stream_relation(v_stream);
	v_columns := pgpull._position_columns(v_stream);
	IF v_stream.method = 'log_based' THEN
		/* its changes come from the slot: one missing from the publication is never copied */
		PERFORM pgpull._require_published(v_stream);
		IF v_stream.bookmark IS NOT NULL THEN
			RAISE EXCEPTION 'stream % has no copy to make', v_stream.stream_id
				USING ERRCODE = '55000',
					  DETAIL = 'Its initial copy is complete: its changes come from the replication slot.',
					  HINT = 'Take it with pgpull.take_log_stream to send its changes.';
		END IF;
	END IF;

	v_mine := pgpull._lock_holder(pgpull._lock_class(), v_stream.stream_id)
			  IS NOT DISTINCT FROM pg_catalog.pg_backend_pid();
	IF NOT v_mine AND NOT pg_catalog.pg_try_advisory_lock(pgpull._lock_class(), v_stream.stream_id::integer) THEN
		INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, ended_at)
		VALUES (v_run.run_id, v_stream.stream_id, 'skipped', pg_catalog.now())
		ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
		   SET status = 'skipped', ended_at = pg_catalog.now();
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (v_run.run_id, v_stream.stream_id, 'INFO', 'stream is being synced by another puller, skipped');
		RETURN QUERY SELECT false, NULL::jsonb, NULL::text[], NULL::text[], NULL::boolean, NULL::bigint;
		RETURN;
	END IF;

	BEGIN
		v_stream_columns := pgpull._stream_columns(v_stream.stream_id);
		v_schema := pgpull._json_schema_of(v_stream.relation, v_stream_columns);
		IF v_stream.method = 'log_based' THEN
			v_schema := pgpull._log_schema(v_schema);
		END IF;
		IF v_stream.method IN ('full_table', 'log_based') THEN
			v_version := v_stream.table_version;
			IF v_stream.resume_position IS NULL OR v_version IS NULL THEN
				v_version := GREATEST(
					(pg_catalog.extract('epoch', pg_catalog.clock_timestamp()) * 1000)::bigint,
					v_version + 1);
			END IF;
			v_before := pg_catalog.array_to_json(v_stream.resume_position)::text;
		ELSE
			v_before := v_stream.bookmark;
		END IF;

		UPDATE pgpull.stream s
		   SET status = 'running', table_version = v_version, updated_at = pg_catalog.now()
		 WHERE s.stream_id = v_stream.stream_id;
		INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, bookmark_before, bookmark_after, columns)
		VALUES (v_run.run_id, v_stream.stream_id, 'running', v_before, v_before, v_stream_columns)
		ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
		   SET status = 'running', ended_at = NULL, error = NULL, columns = EXCLUDED.columns;

		IF v_stream.method = 'key_based' THEN
			/* no bookmark now, one before: reset (pgpull.reset, or a new method or key) */
			v_message := CASE WHEN v_stream.bookmark IS NULL
								   AND EXISTS (SELECT FROM pgpull.run_streams rs
												WHERE rs.stream_id = v_stream.stream_id AND rs.run_id <> v_run.run_id
												  AND rs.bookmark_after IS NOT NULL)
							  THEN 'stream taken: reset: every row (NULL replication keys first)'
							  WHEN v_stream.bookmark IS NULL
							  THEN 'stream taken: first run, every row (NULL replication keys first)'
							  ELSE pg_catalog.format('stream taken: rows with %I %s %s', v_stream.replication_key,
								  CASE WHEN pgpull._capped_type(pgpull._base_type(v_stream.bookmark_type)) THEN '>'
									   ELSE '>=' END, v_stream.bookmark) END;
		ELSIF v_stream.method = 'log_based' THEN
			v_message := pg_catalog.format('stream taken: initial copy, %s; its changes since come from replication slot %s',
				CASE WHEN v_stream.resume_position IS NULL THEN 'from the start'
					 ELSE 'resuming after ' || v_before END,
				pgpull.slot_name(v_stream.integration));
		ELSE
			v_message := pg_catalog.format('stream taken: table version %s, %s', v_version,
				CASE WHEN v_stream.resume_position IS NULL THEN 'from the start'
					 ELSE 'resuming after ' || v_before END);
		END IF;
		PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'INFO', v_message);
		IF v_stream.method = 'full_table' AND pg_catalog.cardinality(v_stream.key_columns) = 0
		   AND v_run.target = 'import_api' THEN
			PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'WARNING',
					'the stream has no key columns: this run appends a full copy of the relation to the destination table, beside the copies earlier runs loaded');
		END IF;

		/*
		 * Later runs skip NULL replication keys: say how many, when counting
		 * them is cheap (an index led by the key finds them) or on the first
		 * run after the bookmark appeared; never a scan of the whole relation
		 * every run.
		 */
		IF v_stream.method = 'key_based' AND v_stream.bookmark IS NOT NULL
		   AND (EXISTS (SELECT FROM pg_catalog.pg_index i
						 JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
						 JOIN pg_catalog.pg_am am ON am.oid = ic.relam
						 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
						WHERE i.indrelid = v_stream.relation AND i.indisvalid AND i.indpred IS NULL
						  AND am.amname = 'btree' AND a.attname = v_stream.replication_key)
				OR NOT EXISTS (SELECT FROM pgpull.run_streams rs
								WHERE rs.stream_id = v_stream.stream_id AND rs.run_id <> v_run.run_id
								  AND rs.bookmark_before IS NOT NULL AND rs.status <> 'skipped')) THEN
			BEGIN
				EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %I IS NULL',
										  v_label, v_stream.replication_key) INTO v_nulls;
				IF v_nulls > 0 THEN
					PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'INFO',
							pg_catalog.format('%s row%s with a NULL %I skipped: NULL replication keys are sent on the first run only',
											  v_nulls, CASE WHEN v_nulls = 1 THEN '' ELSE 's' END,
											  v_stream.replication_key));
				END IF;
			EXCEPTION WHEN insufficient_privilege THEN
				INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
				VALUES (v_run.run_id, v_stream.stream_id, 'DEBUG',
						'rows with a NULL replication key not counted: the extension owner cannot read the relation');
			END;
		END IF;
		/* the commit-safe cap of every chunk of the stream (extraction_query) */
		IF v_stream.method = 'key_based' THEN
			PERFORM pgpull._watermark_sample();
		END IF;
	EXCEPTION WHEN OTHERS THEN
		IF NOT v_mine THEN
			PERFORM pgpull._unlock(pgpull._lock_class(), v_stream.stream_id);
		END IF;
		RAISE;
	END;

	RETURN QUERY
	SELECT true, v_schema, v_stream.key_columns::text[],
		   CASE WHEN v_stream.method = 'key_based' THEN ARRAY[v_stream.replication_key::text]
				ELSE '{}'::text[] END,
		   pg_catalog.cardinality(v_stream.key_columns) > 0,
		   v_version;
END
$fn$;
COMMENT ON FUNCTION pgpull.take_stream(bigint, bigint) IS 'lock a stream of a run for this session and start it, or skip it when another puller has it';

/*
 * extraction_query: the SELECT of the next chunk of a taken stream, to run
 * as COPY (...) TO STDOUT on the source: columns position (text), lossy
 * (integer), row_json (text) and cap (text: the commit-safe cap, on the
 * rows at or after it; see record_cap), in position order, of the columns
 * fixed when the run took the stream.  after_position NULL: the
 * first chunk (from the bookmark, inclusive, or after the resume position);
 * else strictly after it.  LIMIT chunk_rows when the stream is chunked and
 * chunk_rows is not NULL; a chunk with fewer rows is the last.
 */
CREATE OR REPLACE FUNCTION pgpull.extraction_query(run_id bigint, stream_id bigint, after_position text, chunk_rows integer)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_range pgpull.stream_range;
	v_sample pgpull.watermark_sample;
	v_select record;
	v_label text;
	v_missing text;
BEGIN
	v_run := pgpull._run(extraction_query.run_id, true);
	v_stream := pgpull._stream(v_run, extraction_query.stream_id);
	v_rs := pgpull._running_stream(v_run, v_stream);
	v_label := pgpull._stream_relation(v_stream);
	/*
	 * The query runs on the source as the role pgpull connects as, the
	 * session's role here too: say what it lacks rather than let the COPY
	 * fail with a bare "permission denied".
	 */
	v_missing := pgpull._missing_read((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER),
									  v_stream.stream_id);
	IF v_missing IS NOT NULL THEN
		RAISE EXCEPTION 'role "%" cannot read relation "%": it lacks %', SESSION_USER, v_label, v_missing
			USING ERRCODE = '42501',
				  DETAIL = 'pgpull reads the relation as the role it connects as.',
				  HINT = pgpull._grant_hint(SESSION_USER,
					(SELECT n.nspname FROM pg_catalog.pg_class c
					   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
					  WHERE c.oid = v_stream.relation));
	END IF;
	IF v_stream.method IN ('full_table', 'log_based') THEN
		v_range := pgpull._held_range(v_stream.stream_id);
		IF v_range.run_id IS DISTINCT FROM v_run.run_id THEN
			v_range := NULL;
		END IF;
	ELSE
		/*
		 * The newest sample serves: the one take_stream took for the stream
		 * precedes every chunk's snapshot (a sample per chunk would only let
		 * the cap move on during the stream; an earlier one makes it more
		 * careful).
		 */
		SELECT w.* INTO v_sample FROM pgpull.watermark_sample w ORDER BY w.taken_at DESC LIMIT 1;
		IF NOT FOUND THEN
			v_sample := pgpull._watermark_sample();
		END IF;
	END IF;
	v_select := pgpull._extraction_select(v_stream, COALESCE(v_rs.columns, pgpull._stream_columns(v_stream.stream_id)),
										  v_rs.bookmark_before IS NULL, extraction_query.after_position,
										  extraction_query.chunk_rows, v_range, v_sample);
	IF v_select.warning IS NOT NULL AND NOT v_rs.watermark_warned THEN
		PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'WARNING', v_select.warning);
		UPDATE pgpull.run_streams rs SET watermark_warned = true
		 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id;
	END IF;
	IF extraction_query.after_position IS NULL THEN
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (v_run.run_id, v_stream.stream_id, 'DEBUG', 'extraction query: ' || v_select.query);
	END IF;
	RETURN v_select.query;
END
$fn$;
COMMENT ON FUNCTION pgpull.extraction_query(bigint, bigint, text, integer) IS 'the SELECT (lossy, row_json, cap, position columns) of the next chunk of a taken stream, for COPY on the source';

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

REVOKE EXECUTE ON FUNCTION pgpull._watermark_cap_expr(pgpull.watermark_sample, pg_catalog.oid, boolean),
	pgpull._below_cap(text, text, text),
	pgpull.record_cap(bigint, bigint, text, bigint)
	FROM PUBLIC;

/*
 * numeric(p,s) bounds are inclusive (10^(p-s) - 10^(-s)): Draft 4's boolean
 * exclusiveMaximum is a number in later drafts, and targets validating with
 * them refused every value.
 */
/*
 * _type_schema: the JSON Schema (Draft 4) of the JSON values of a type.
 * nullable: whether the value may be NULL (a domain's NOT NULL overrides);
 * the types whose values the mapping may turn into null (numbers but
 * integers, date and time stamps) and json are nullable regardless.
 * ndims: the declared dimensions of an array column (0 = unknown, 1 used);
 * the schema nests that many arrays, so a value of other dimensions than
 * declared (PostgreSQL does not enforce them) does not validate.
 */
CREATE OR REPLACE FUNCTION pgpull._type_schema(typ pg_catalog.oid, typmod integer, ndims integer,
									nullable boolean, depth integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_info record;
	v_type jsonb;
	v_schema jsonb;
	v_nullable boolean;
	v_precision integer;
	v_scale integer;
	v_bound numeric;
	v_ndims integer;
BEGIN
	IF _type_schema.depth > 32 THEN
		RAISE EXCEPTION 'type % nests too deeply to map', _type_schema.typ::pg_catalog.regtype
			USING ERRCODE = '54001';
	END IF;
	v_info := pgpull._type_info(_type_schema.typ, _type_schema.typmod);
	v_nullable := _type_schema.nullable AND NOT v_info.not_null;

	CASE v_info.kind
	WHEN 'array' THEN
		v_schema := pgpull._type_schema(v_info.sub_type, v_info.base_typmod, 0, true,
										_type_schema.depth + 1);
		v_ndims := GREATEST(CASE WHEN v_info.ndims > 0 THEN v_info.ndims
								 ELSE _type_schema.ndims END, 1);
		/* the sub-arrays of a multidimensional array are never null */
		FOR k IN 2 .. v_ndims LOOP
			v_schema := pg_catalog.jsonb_build_object('type', 'array', 'items', v_schema);
		END LOOP;
		v_type := '"array"';
		v_schema := pg_catalog.jsonb_build_object('items', v_schema);
	WHEN 'composite' THEN
		v_type := '"object"';
		SELECT pg_catalog.jsonb_build_object('properties', COALESCE(pg_catalog.jsonb_object_agg(
					a.attname,
					pgpull._type_schema(a.atttypid, a.atttypmod, a.attndims, true,
										_type_schema.depth + 1)), '{}'))
		  INTO v_schema
		  FROM pgpull._attributes(v_info.sub_type) a;
	WHEN 'int2' THEN
		v_type := '"integer"';
		v_schema := '{"minimum": -32768, "maximum": 32767}';
	WHEN 'int4' THEN
		v_type := '"integer"';
		v_schema := '{"minimum": -2147483648, "maximum": 2147483647}';
	WHEN 'int8' THEN
		v_type := '"integer"';
		v_schema := '{"minimum": -9223372036854775808, "maximum": 9223372036854775807}';
	WHEN 'numeric' THEN
		v_type := '"number"';
		v_nullable := true;
		v_schema := '{}';
		IF v_info.base_typmod >= 4 THEN
			/*
			 * numeric(p,s): |value| <= 10^(p-s) - 10^(-s), inclusive bounds,
			 * which every draft reads alike (Draft 4's boolean exclusive*
			 * is a number in Draft 6 and later, and a target validating
			 * with a later draft would refuse every value).  Left out past
			 * 10^308, which validators reading numbers as doubles would take
			 * for infinity.
			 */
			v_precision := ((v_info.base_typmod - 4) >> 16) & 65535;
			v_scale := (((v_info.base_typmod - 4) & 2047) # 1024) - 1024;
		END IF;
		IF v_info.base_typmod >= 4 AND v_precision - v_scale <= 308 THEN
			v_bound := pg_catalog.trim_scale(10::numeric ^ (v_precision - v_scale) - 10::numeric ^ (-v_scale));
			v_schema := pg_catalog.jsonb_build_object('minimum', -v_bound, 'maximum', v_bound);
		END IF;
	WHEN 'float4', 'float8', 'money' THEN
		v_type := '"number"';
		v_nullable := true;
	WHEN 'bool' THEN
		v_type := '"boolean"';
	WHEN 'date' THEN
		v_type := '"string"';
		v_nullable := true;
		v_schema := '{"format": "date"}';
	WHEN 'timestamp', 'timestamptz' THEN
		v_type := '"string"';
		v_nullable := true;
		v_schema := '{"format": "date-time"}';
	WHEN 'bytea' THEN
		v_type := '"string"';
		v_schema := '{"contentEncoding": "base64"}';
	WHEN 'json', 'jsonb', 'json_cast' THEN
		/* any JSON value, JSON null included */
		RETURN '{"type": ["null", "boolean", "number", "string", "object", "array"]}';
	WHEN 'varchar', 'bpchar' THEN
		v_type := '"string"';
		IF v_info.base_typmod >= 4 THEN
			v_schema := pg_catalog.jsonb_build_object('maxLength', v_info.base_typmod - 4);
		END IF;
	ELSE
		v_type := '"string"';
	END CASE;

	IF v_nullable THEN
		v_type := pg_catalog.jsonb_build_array('null', v_type);
	END IF;
	RETURN pg_catalog.jsonb_build_object('type', v_type) || COALESCE(v_schema, '{}');
END
$fn$;
COMMENT ON FUNCTION pgpull._type_schema(pg_catalog.oid, integer, integer, boolean, integer) IS 'internal: the JSON Schema (Draft 4) of the JSON values of a type';

CREATE FUNCTION pgpull._capped_type(typ pg_catalog.oid)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT COALESCE(_capped_type.typ IN ('pg_catalog.timestamptz'::pg_catalog.regtype,
									 'pg_catalog.timestamp'::pg_catalog.regtype,
									 'pg_catalog.date'::pg_catalog.regtype), false)
$fn$;
COMMENT ON FUNCTION pgpull._capped_type(pg_catalog.oid) IS 'internal: whether a key type has a commit-safe cap';

CREATE FUNCTION pgpull._before_cap(value text, cap text, typ text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_base pg_catalog.oid;
	v_bookmark text;
BEGIN
	IF _before_cap.value IS NULL OR _before_cap.cap IS NULL THEN
		RETURN _before_cap.value;
	END IF;
	v_base := pgpull._base_type(_before_cap.typ::pg_catalog.regtype);
	EXECUTE pg_catalog.format(
		'SELECT CASE WHEN %1$L::%2$s < %3$L::%2$s THEN %1$L ELSE (SELECT %4$s FROM (SELECT %3$L::%2$s - %5$s AS v) AS c) END',
		_before_cap.value, _before_cap.typ, _before_cap.cap, pgpull._key_text_expr('c.v', v_base),
		CASE WHEN v_base = 'pg_catalog.date'::pg_catalog.regtype THEN '1'
			 ELSE '''1 microsecond''::pg_catalog.interval' END)
	   INTO v_bookmark;
	RETURN v_bookmark;
END
$fn$;
COMMENT ON FUNCTION pgpull._before_cap(text, text, text) IS 'internal: a bookmark from a key value, strictly below the run''s commit-safe cap';
REVOKE EXECUTE ON FUNCTION pgpull._before_cap(text, text, text), pgpull._capped_type(pg_catalog.oid) FROM PUBLIC;

/*
 * Date and time replication keys are now continued strictly after the
 * bookmark, which stays below the commit-safe cap (_before_cap).  A
 * bookmark that 1.0 stored may sit at a key a late commit can still add:
 * lower it by the type's least step once, so that the first run after the
 * update takes its ties again, as 1.0's runs did.
 */
UPDATE pgpull.stream s
   SET bookmark = pgpull._before_cap(s.bookmark, s.bookmark, s.bookmark_type::text)
 WHERE s.method = 'key_based' AND s.bookmark IS NOT NULL
   AND pgpull._capped_type(pgpull._base_type(s.bookmark_type));

CREATE FUNCTION pgpull._state_entry(run pgpull.runs, stream pgpull.stream, key_value text, "position" text,
									complete boolean, rows bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_entry jsonb := pg_catalog.jsonb_build_object(
		'stream_id', (_state_entry.stream).stream_id,
		'relation', (_state_entry.stream).relation_name,
		'method', (_state_entry.stream).method,
		'replication_key', (_state_entry.stream).replication_key,
		'replication_key_value', _state_entry.key_value,
		'position', _state_entry."position",
		'version', CASE WHEN (_state_entry.stream).method IN ('full_table', 'log_based') THEN (_state_entry.stream).table_version END,
		'complete', _state_entry.complete,
		'rows', _state_entry.rows);
BEGIN
	RETURN v_entry || pg_catalog.jsonb_build_object('mac', pgpull._entry_mac((_state_entry.run).integration,
																			  (_state_entry.run).run_id, v_entry));
END
$fn$;
COMMENT ON FUNCTION pgpull._state_entry(pgpull.runs, pgpull.stream, text, text, boolean, bigint) IS 'internal: a stream''s bookmark entry for a STATE message, with its MAC';

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

REVOKE EXECUTE ON FUNCTION pgpull._state_entry(pgpull.runs, pgpull.stream, text, text, boolean, bigint),
	pgpull.probe_query(bigint),
	pgpull.record_unchanged(bigint, bigint[])
	FROM PUBLIC;

/* a role that could run the puller may find and record the streams with nothing new */
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		   AND pg_catalog.has_function_privilege(r.oid, 'pgpull.begin_run(text,text,text)', 'EXECUTE')
		 ORDER BY r.rolname
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.probe_query(bigint) TO %I', v_role);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.record_unchanged(bigint, bigint[]) TO %I', v_role);
	END LOOP;
END
$update$;

/*
 * sync --jobs: a full_table stream read in key ranges by several sessions
 * at once (72_ranges.sql).  A range remembers the run reading it; the run
 * protocol's functions serve a session holding a range as one holding the
 * stream; take_range is new for the puller.
 */
ALTER TABLE pgpull.stream_range ADD COLUMN run_id bigint;
COMMENT ON COLUMN pgpull.stream_range.run_id IS 'the run reading the range (status running), or the run that read it last';

CREATE FUNCTION pgpull._range_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT -547456841;
$fn$;
COMMENT ON FUNCTION pgpull._range_lock_class() IS 'internal: first key of the advisory lock on range 0 of a stream (range n: plus n; the second key is its stream_id)';

CREATE FUNCTION pgpull._held_range(stream_id bigint)
RETURNS pgpull.stream_range
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT sr.*
	  FROM pgpull.stream_range sr
	 WHERE sr.stream_id = _held_range.stream_id
	   AND EXISTS (SELECT FROM pg_catalog.pg_locks l
					WHERE l.locktype = 'advisory'
					  AND l.pid = pg_catalog.pg_backend_pid()
					  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
										 WHERE d.datname = pg_catalog.current_database())
					  AND l.classid = (pgpull._range_lock_class() + sr.range_no)::pg_catalog.oid
					  AND l.objid = sr.stream_id::integer::pg_catalog.oid
					  AND l.objsubid = 2
					  AND l.granted)
	 ORDER BY sr.range_no
	 LIMIT 1;
$fn$;
COMMENT ON FUNCTION pgpull._held_range(bigint) IS 'internal: the range of a stream this session holds, or NULL';

CREATE FUNCTION pgpull._range_held_by_run(stream_id bigint, run_id bigint, except_no integer)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT EXISTS (SELECT FROM pgpull.stream_range sr
					WHERE sr.stream_id = _range_held_by_run.stream_id
					  AND sr.run_id = _range_held_by_run.run_id
					  AND sr.status = 'running'
					  AND sr.range_no IS DISTINCT FROM _range_held_by_run.except_no
					  AND pgpull._lock_holder(pgpull._range_lock_class() + sr.range_no, sr.stream_id) IS NOT NULL);
$fn$;
COMMENT ON FUNCTION pgpull._range_held_by_run(bigint, bigint, integer) IS 'internal: whether a session reads another range of a stream for a run';

CREATE FUNCTION pgpull._range_pending(run pgpull.runs, stream pgpull.stream)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT (_range_pending.stream).method = 'full_table'
		   AND pg_catalog.cardinality((_range_pending.stream).key_columns) > 0
		   AND (_range_pending.run).target IS DISTINCT FROM 'singer'
		   AND EXISTS (SELECT FROM pgpull.stream_range sr
						WHERE sr.stream_id = (_range_pending.stream).stream_id
						  AND sr.table_version = (_range_pending.stream).table_version
						  AND sr.status <> 'done');
$fn$;
COMMENT ON FUNCTION pgpull._range_pending(pgpull.runs, pgpull.stream) IS 'internal: whether a stream has ranges of its table version left to read';

CREATE FUNCTION pgpull._range_value(bound text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _range_value.bound::jsonb ->> 0;
$fn$;
COMMENT ON FUNCTION pgpull._range_value(text) IS 'internal: the value of a range bound';

CREATE FUNCTION pgpull._range_label(col name, lower_position text, upper_position text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT '(' || pg_catalog.concat_ws(' and ',
		CASE WHEN l.v IS NOT NULL
			 THEN pg_catalog.format('%I > %s', _range_label.col,
									CASE WHEN l.v ~ '^-?[0-9.]+$' THEN l.v ELSE pg_catalog.quote_literal(l.v) END) END,
		CASE WHEN u.v IS NOT NULL
			 THEN pg_catalog.format('%I <= %s', _range_label.col,
									CASE WHEN u.v ~ '^-?[0-9.]+$' THEN u.v ELSE pg_catalog.quote_literal(u.v) END) END)
		|| ')'
	  FROM (SELECT pgpull._range_value(_range_label.lower_position) AS v) AS l,
		   (SELECT pgpull._range_value(_range_label.upper_position) AS v) AS u;
$fn$;
COMMENT ON FUNCTION pgpull._range_label(name, text, text) IS 'internal: a range as "(id > 125000 and id <= 250000)"';

CREATE FUNCTION pgpull._range_where(range pgpull.stream_range, key_expr text, key_type text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT NULLIF(pg_catalog.concat_ws(' AND ',
		CASE WHEN (_range_where.range).lower_position IS NOT NULL
			 THEN pg_catalog.format('%s > %L::%s', _range_where.key_expr,
									pgpull._range_value((_range_where.range).lower_position), _range_where.key_type) END,
		CASE WHEN (_range_where.range).upper_position IS NOT NULL
			 THEN pg_catalog.format('%s <= %L::%s', _range_where.key_expr,
									pgpull._range_value((_range_where.range).upper_position), _range_where.key_type) END), '');
$fn$;
COMMENT ON FUNCTION pgpull._range_where(pgpull.stream_range, text, text) IS 'internal: the SQL condition of a range on the first key column';

CREATE FUNCTION pgpull._cut_ranges(run pgpull.runs, stream pgpull.stream, jobs integer, chunk_rows integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_label text;
	v_col name := ((_cut_ranges.stream).key_columns)[1];
	v_type pg_catalog.regtype;
	v_kind "char";
	v_tuples double precision;
	v_nsp name;
	v_rel name;
	v_pages double precision;
	v_pct double precision;
	v_estimate double precision;
	v_sampled bigint;
	v_bounds text;
	v_cuts text[];
	v_how text;
	v_version bigint;
	v_chunk integer;
	v_want integer;
	v_n integer;
BEGIN
	v_label := pgpull._stream_relation(_cut_ranges.stream);
	v_type := pgpull._column_type((_cut_ranges.stream).relation, v_col);
	SELECT c.relkind, c.reltuples, n.nspname, c.relname INTO v_kind, v_tuples, v_nsp, v_rel
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = (_cut_ranges.stream).relation;
	IF v_kind NOT IN ('r', 'm') THEN
		RETURN 0;
	END IF;
	v_pages := pg_catalog.pg_relation_size((_cut_ranges.stream).relation)
			   / pg_catalog.current_setting('block_size')::double precision;
	IF v_pages < 1 THEN
		RETURN 0;
	END IF;
	BEGIN
		v_pct := LEAST(100, 100 * 500 / v_pages);
		IF v_tuples > 0 THEN
			v_estimate := v_tuples;
		ELSE
			/* never analyzed: count a sample of about 500 pages */
			EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s AS t TABLESAMPLE SYSTEM (%s)', v_label, v_pct)
			   INTO v_sampled;
			v_estimate := v_sampled * 100 / v_pct;
		END IF;
		v_chunk := COALESCE(_cut_ranges.chunk_rows, 100000);
		IF v_estimate <= 2 * v_chunk::double precision THEN
			RETURN 0;
		END IF;
		v_want := LEAST(64, 4 * _cut_ranges.jobs,
						GREATEST(_cut_ranges.jobs, pg_catalog.floor(v_estimate / v_chunk)::integer));

		SELECT s.histogram_bounds::text INTO v_bounds
		  FROM pg_catalog.pg_stats s
		 WHERE s.schemaname = v_nsp AND s.tablename = v_rel AND s.attname = v_col AND NOT s.inherited;
		IF v_tuples > 0 AND v_bounds IS NOT NULL THEN
			v_how := 'statistics';
			/* the quantiles of the histogram's bounds */
			EXECUTE pg_catalog.format(
				'WITH b AS (SELECT h.v, h.n FROM pg_catalog.unnest($1::pg_catalog.text::%s[]) WITH ORDINALITY AS h(v, n)),'
				' p AS (SELECT DISTINCT 1 + pg_catalog.round(k * (m.n - 1)::numeric / $2)::bigint AS n'
				' FROM (SELECT pg_catalog.count(*) AS n FROM b) AS m, pg_catalog.generate_series(1, $2 - 1) AS k)'
				' SELECT pg_catalog.array_agg(b.v ORDER BY b.n)::pg_catalog.text FROM b JOIN p ON p.n = b.n', v_type)
			   INTO v_bounds USING v_bounds, v_want;
		ELSE
			/* the quantiles of a sample of about 500 pages */
			EXECUTE pg_catalog.format(
				'SELECT (pg_catalog.percentile_disc($1) WITHIN GROUP (ORDER BY t.%I))::pg_catalog.text'
				' FROM %s AS t TABLESAMPLE SYSTEM (%s)', v_col, v_label, v_pct)
			   INTO v_bounds
			  USING ARRAY(SELECT k::double precision / v_want FROM pg_catalog.generate_series(1, v_want - 1) AS k);
			v_how := pg_catalog.format('a sample of %s%% of its pages', pg_catalog.round(v_pct::numeric, 1));
		END IF;
		IF v_bounds IS NULL THEN
			RETURN 0;
		END IF;
		/* the distinct cuts, in the key's order, as the ISO text of positions */
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.array_agg(%s ORDER BY d.v) FROM (SELECT DISTINCT c.v FROM pg_catalog.unnest($1::pg_catalog.text::%s[]) AS c(v) WHERE c.v IS NOT NULL) AS d',
			pgpull._key_text_expr('d.v', v_type), v_type)
		   INTO v_cuts USING v_bounds;
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES ((_cut_ranges.run).run_id, (_cut_ranges.stream).stream_id, 'DEBUG',
				'stream read by one session: its key ranges could not be cut: ' || SQLERRM);
		RETURN 0;
	END;
	v_n := COALESCE(pg_catalog.cardinality(v_cuts), 0) + 1;
	IF v_n < 2 THEN
		RETURN 0;
	END IF;

	v_version := GREATEST((pg_catalog.extract('epoch', pg_catalog.clock_timestamp()) * 1000)::bigint,
						  (_cut_ranges.stream).table_version + 1);
	DELETE FROM pgpull.stream_range sr WHERE sr.stream_id = (_cut_ranges.stream).stream_id;
	INSERT INTO pgpull.stream_range (stream_id, range_no, table_version, lower_position, upper_position)
	SELECT (_cut_ranges.stream).stream_id, k, v_version,
		   CASE WHEN k > 1 THEN pg_catalog.json_build_array(v_cuts[k - 1])::text END,
		   CASE WHEN k < v_n THEN pg_catalog.json_build_array(v_cuts[k])::text END
	  FROM pg_catalog.generate_series(1, v_n) AS k;
	UPDATE pgpull.stream s SET table_version = v_version, updated_at = pg_catalog.now()
	 WHERE s.stream_id = (_cut_ranges.stream).stream_id;
	PERFORM pgpull._log_line((_cut_ranges.run).run_id, (_cut_ranges.stream).stream_id, 'INFO',
		pg_catalog.format('table version %s cut into %s ranges of %I (about %s rows each, from %s)',
						  v_version, v_n, v_col, (v_estimate / v_n)::bigint, v_how));
	RETURN v_n;
END
$fn$;
COMMENT ON FUNCTION pgpull._cut_ranges(pgpull.runs, pgpull.stream, integer, integer) IS 'internal: cut a large full_table stream into key ranges of its first key column';

CREATE FUNCTION pgpull.take_range(run_id bigint, stream_id bigint, jobs integer, chunk_rows integer)
RETURNS TABLE (taken boolean, json_schema jsonb, key_names text[], bookmark_properties text[],
			   chunked boolean, table_version bigint, range_no integer, range_count integer, range_label text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
	v_run pgpull.runs;
	v_stream pgpull.stream;
	v_rs pgpull.run_streams;
	v_has_rs boolean;
	v_range pgpull.stream_range;
	v_got boolean := false;
	v_count integer;
	v_columns name[];
	v_schema jsonb;
	v_label text;
BEGIN
	IF take_range.jobs IS NULL OR take_range.jobs < 1 OR take_range.jobs > 64 THEN
		RAISE EXCEPTION 'jobs must be between 1 and 64'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('jobs is %s.', COALESCE(take_range.jobs::text, 'NULL')),
				  HINT = 'Pass the number of sessions the puller reads with (--jobs).';
	END IF;
	IF take_range.chunk_rows < 1 THEN
		RAISE EXCEPTION 'chunk_rows must be positive'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('chunk_rows is %s.', take_range.chunk_rows),
				  HINT = 'Pass the chunk size the puller reads with, or NULL.';
	END IF;
	v_run := pgpull._run(take_range.run_id, true);
	v_stream := pgpull._stream(v_run, take_range.stream_id);
	PERFORM pgpull._stream_relation(v_stream);

	SELECT * INTO v_rs FROM pgpull.run_streams rs
	 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id FOR UPDATE;
	v_has_rs := FOUND AND v_rs.status <> 'skipped';
	IF NOT pgpull._range_pending(v_run, v_stream) THEN
		IF v_has_rs THEN
			/* the run read it already (its ranges are all done): not again */
			RETURN QUERY SELECT false, NULL::jsonb, NULL::text[], NULL::text[], NULL::boolean, NULL::bigint,
								NULL::integer, NULL::integer, NULL::text;
			RETURN;
		END IF;
		/* cut only a stream starting from scratch that no session reads whole */
		IF take_range.jobs > 1 AND v_stream.method = 'full_table'
		   AND pg_catalog.cardinality(v_stream.key_columns) > 0
		   AND v_run.target IS DISTINCT FROM 'singer'
		   AND v_stream.resume_position IS NULL
		   AND pgpull._lock_holder(pgpull._lock_class(), v_stream.stream_id) IS NULL
		   AND pgpull._cut_ranges(v_run, v_stream, take_range.jobs, take_range.chunk_rows) > 0 THEN
			v_stream := pgpull._stream(v_run, take_range.stream_id);
		ELSE
			RETURN QUERY
			SELECT t.taken, t.json_schema, t.key_names, t.bookmark_properties, t.chunked, t.table_version,
				   NULL::integer, NULL::integer, NULL::text
			  FROM pgpull.take_stream(take_range.run_id, take_range.stream_id) AS t;
			RETURN;
		END IF;
	END IF;

	IF v_has_rs AND v_rs.error IS NOT NULL THEN
		/* a range of it failed in this run: the next run takes it up */
		RETURN QUERY SELECT false, NULL::jsonb, NULL::text[], NULL::text[], NULL::boolean, NULL::bigint,
							NULL::integer, NULL::integer, NULL::text;
		RETURN;
	END IF;
	FOR v_range IN
		SELECT * FROM pgpull.stream_range sr
		 WHERE sr.stream_id = v_stream.stream_id AND sr.table_version = v_stream.table_version
		   AND sr.status <> 'done'
		 ORDER BY sr.range_no
	LOOP
		IF pg_catalog.pg_try_advisory_lock(pgpull._range_lock_class() + v_range.range_no,
										   v_stream.stream_id::integer) THEN
			v_got := true;
			EXIT;
		END IF;
	END LOOP;
	IF NOT v_got THEN
		IF NOT v_has_rs THEN
			INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, ended_at)
			VALUES (v_run.run_id, v_stream.stream_id, 'skipped', pg_catalog.now())
			ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE SET ended_at = pg_catalog.now();
			INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
			VALUES (v_run.run_id, v_stream.stream_id, 'INFO',
					'every range left of the stream is being read by another session, skipped');
		END IF;
		RETURN QUERY SELECT false, NULL::jsonb, NULL::text[], NULL::text[], NULL::boolean, NULL::bigint,
							NULL::integer, NULL::integer, NULL::text;
		RETURN;
	END IF;

	BEGIN
		SELECT pg_catalog.count(*) INTO v_count FROM pgpull.stream_range sr
		 WHERE sr.stream_id = v_stream.stream_id AND sr.table_version = v_stream.table_version;
		v_columns := CASE WHEN v_rs.columns IS NOT NULL THEN v_rs.columns
						  ELSE pgpull._stream_columns(v_stream.stream_id) END;
		v_schema := pgpull._json_schema_of(v_stream.relation, v_columns);
		v_label := pgpull._range_label(v_stream.key_columns[1], v_range.lower_position, v_range.upper_position);
		UPDATE pgpull.stream_range sr
		   SET status = 'running', run_id = v_run.run_id, updated_at = pg_catalog.now()
		 WHERE sr.stream_id = v_range.stream_id AND sr.range_no = v_range.range_no;
		UPDATE pgpull.stream s SET status = 'running', updated_at = pg_catalog.now()
		 WHERE s.stream_id = v_stream.stream_id;
		INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, columns)
		VALUES (v_run.run_id, v_stream.stream_id, 'running', v_columns)
		ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
		   SET status = 'running', ended_at = NULL, columns = COALESCE(rs.columns, EXCLUDED.columns);
		PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'INFO',
			pg_catalog.format('stream taken: table version %s, range %s of %s: %s, %s', v_stream.table_version,
							  v_range.range_no, v_count, v_label,
							  CASE WHEN v_range.resume_position IS NULL THEN 'from its start'
								   ELSE 'resuming after ' || v_range.resume_position END));
	EXCEPTION WHEN OTHERS THEN
		PERFORM pgpull._unlock(pgpull._range_lock_class() + v_range.range_no, v_stream.stream_id);
		RAISE;
	END;

	RETURN QUERY
	SELECT true, v_schema, v_stream.key_columns::text[], '{}'::text[], true, v_stream.table_version,
		   v_range.range_no, v_count, v_label;
END
$fn$;
COMMENT ON FUNCTION pgpull.take_range(bigint, bigint, integer, integer) IS 'take a stream for a puller reading with several sessions: a free key range of a large full_table stream (cut if need be), or the whole stream';

CREATE FUNCTION pgpull._advance_range(stream pgpull.stream, range pgpull.stream_range, vals text[], types text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_inside boolean;
	v_moved boolean := true;
	v_lower text := pgpull._range_value((_advance_range.range).lower_position);
	v_upper text := pgpull._range_value((_advance_range.range).upper_position);
BEGIN
	EXECUTE pg_catalog.format('SELECT COALESCE(%1$L::%2$s > %3$L::%2$s, true) AND COALESCE(%1$L::%2$s <= %4$L::%2$s, true)',
							  _advance_range.vals[1], _advance_range.types[1], v_lower, v_upper)
	   INTO v_inside;
	IF NOT v_inside THEN
		RAISE EXCEPTION 'position % is outside range % of stream "%"', pg_catalog.array_to_json(_advance_range.vals),
						(_advance_range.range).range_no, (_advance_range.stream).destination_table
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('The range is %s.', pgpull._range_label(((_advance_range.stream).key_columns)[1],
																					(_advance_range.range).lower_position,
																					(_advance_range.range).upper_position)),
				  HINT = 'Pass back a position the range''s extraction query gave, unchanged.';
	END IF;
	IF (_advance_range.range).resume_position IS NOT NULL THEN
		EXECUTE pg_catalog.format('SELECT %s > %s', pgpull._row_literal(_advance_range.vals, _advance_range.types),
								  pgpull._row_literal(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(
																(_advance_range.range).resume_position::jsonb)),
													  _advance_range.types))
		   INTO v_moved;
	END IF;
	IF v_moved THEN
		UPDATE pgpull.stream_range sr
		   SET resume_position = pg_catalog.array_to_json(_advance_range.vals)::text, updated_at = pg_catalog.now()
		 WHERE sr.stream_id = (_advance_range.range).stream_id AND sr.range_no = (_advance_range.range).range_no;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._advance_range(pgpull.stream, pgpull.stream_range, text[], text[]) IS 'internal: move a range''s resume position forward, within its bounds';

CREATE FUNCTION pgpull._end_range(run pgpull.runs, stream pgpull.stream, range pgpull.stream_range, status text,
								  rows_extracted bigint, error text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_ok boolean := _end_range.status = 'succeeded';
	v_count integer;
	v_left integer;
	v_others boolean;
	v_rs pgpull.run_streams;
	v_label text := pg_catalog.format('range %s of ', (_end_range.range).range_no);
BEGIN
	UPDATE pgpull.stream_range sr
	   SET status = CASE WHEN v_ok THEN 'done' ELSE 'pending' END, updated_at = pg_catalog.now()
	 WHERE sr.stream_id = (_end_range.range).stream_id AND sr.range_no = (_end_range.range).range_no;
	PERFORM pgpull._unlock(pgpull._range_lock_class() + (_end_range.range).range_no, (_end_range.range).stream_id);
	SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE sr.status <> 'done')
	  INTO v_count, v_left
	  FROM pgpull.stream_range sr
	 WHERE sr.stream_id = (_end_range.range).stream_id AND sr.table_version = (_end_range.range).table_version;
	v_label := v_label || v_count;
	v_others := pgpull._range_held_by_run((_end_range.stream).stream_id, (_end_range.run).run_id, NULL);

	UPDATE pgpull.run_streams rs
	   SET rows_extracted = rs.rows_extracted + COALESCE(_end_range.rows_extracted, 0),
		   error = CASE WHEN v_ok THEN rs.error
						ELSE COALESCE(rs.error, v_label || ': ' || COALESCE(_end_range.error, 'the range failed')) END
	 WHERE rs.run_id = (_end_range.run).run_id AND rs.stream_id = (_end_range.stream).stream_id
	RETURNING * INTO v_rs;
	UPDATE pgpull.run_streams rs
	   SET status = CASE WHEN v_others THEN 'running' WHEN rs.error IS NULL THEN 'succeeded' ELSE 'failed' END,
		   ended_at = CASE WHEN v_others THEN NULL ELSE pg_catalog.now() END
	 WHERE rs.run_id = (_end_range.run).run_id AND rs.stream_id = (_end_range.stream).stream_id;

	IF v_ok AND v_left = 0 THEN
		DELETE FROM pgpull.stream_range sr WHERE sr.stream_id = (_end_range.stream).stream_id;
		UPDATE pgpull.stream s
		   SET status = 'succeeded', last_error = NULL, resume_position = NULL, updated_at = pg_catalog.now()
		 WHERE s.stream_id = (_end_range.stream).stream_id;
		PERFORM pgpull._log_line((_end_range.run).run_id, (_end_range.stream).stream_id, 'INFO',
			pg_catalog.format('%s done: %s row%s extracted; stream succeeded: every range of table version %s is done (this run: %s row%s loaded in %s batch%s)',
							  v_label, _end_range.rows_extracted, CASE WHEN _end_range.rows_extracted = 1 THEN '' ELSE 's' END,
							  (_end_range.range).table_version, v_rs.rows_loaded,
							  CASE WHEN v_rs.rows_loaded = 1 THEN '' ELSE 's' END,
							  v_rs.batches, CASE WHEN v_rs.batches = 1 THEN '' ELSE 'es' END));
	ELSIF v_ok THEN
		UPDATE pgpull.stream s SET status = 'pending', updated_at = pg_catalog.now()
		 WHERE s.stream_id = (_end_range.stream).stream_id AND s.status = 'running'
		   AND NOT EXISTS (SELECT FROM pgpull.stream_range sr
							WHERE sr.stream_id = s.stream_id
							  AND pgpull._lock_holder(pgpull._range_lock_class() + sr.range_no, sr.stream_id) IS NOT NULL);
		PERFORM pgpull._log_line((_end_range.run).run_id, (_end_range.stream).stream_id, 'INFO',
			pg_catalog.format('%s done: %s row%s extracted; %s range%s of the stream left',
							  v_label, _end_range.rows_extracted, CASE WHEN _end_range.rows_extracted = 1 THEN '' ELSE 's' END,
							  v_left, CASE WHEN v_left = 1 THEN '' ELSE 's' END));
	ELSE
		UPDATE pgpull.stream s
		   SET status = 'error', last_error = COALESCE(_end_range.error, 'a range failed'), updated_at = pg_catalog.now()
		 WHERE s.stream_id = (_end_range.stream).stream_id;
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES ((_end_range.run).run_id, (_end_range.stream).stream_id, 'ERROR',
				pg_catalog.format('%s failed: %s; it resumes after its last accepted position', v_label,
								  COALESCE(_end_range.error, 'no error given')));
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._end_range(pgpull.runs, pgpull.stream, pgpull.stream_range, text, bigint, text) IS 'internal: end the range of a stream this session holds, and complete the stream after its last range';

REVOKE EXECUTE ON FUNCTION pgpull._range_lock_class(),
	pgpull._held_range(bigint),
	pgpull._range_held_by_run(bigint, bigint, integer),
	pgpull._range_pending(pgpull.runs, pgpull.stream),
	pgpull._range_value(text),
	pgpull._range_label(name, text, text),
	pgpull._range_where(pgpull.stream_range, text, text),
	pgpull._cut_ranges(pgpull.runs, pgpull.stream, integer, integer),
	pgpull.take_range(bigint, bigint, integer, integer),
	pgpull._advance_range(pgpull.stream, pgpull.stream_range, text[], text[]),
	pgpull._end_range(pgpull.runs, pgpull.stream, pgpull.stream_range, text, bigint, text)
	FROM PUBLIC;

/* a role that could run the puller may take ranges */
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		 ORDER BY r.rolname
	LOOP
		IF pg_catalog.has_function_privilege(v_role, 'pgpull.begin_run(text,text,text)', 'EXECUTE') THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.take_range(bigint, bigint, integer, integer) TO %I',
									  v_role);
		END IF;
	END LOOP;
END
$update$;

/*
 * discover (45_discover.sql): the relations a role can see and what
 * choosing their streams needs; track and discover share the test of a
 * replication key's type.
 */
CREATE FUNCTION pgpull._replication_key_type(base_type pg_catalog.regtype)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _replication_key_type.base_type IN ('smallint'::pg_catalog.regtype, 'integer', 'bigint', 'numeric',
											   'date', 'timestamp without time zone', 'timestamp with time zone');
$fn$;
COMMENT ON FUNCTION pgpull._replication_key_type(pg_catalog.regtype) IS 'internal: whether a column of a (base) type can be a replication key';

CREATE OR REPLACE FUNCTION pgpull.track(relation pg_catalog.regclass, method text,
							 replication_key name DEFAULT NULL,
							 columns name[] DEFAULT NULL,
							 key_columns name[] DEFAULT NULL,
							 integration text DEFAULT 'default')
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_relkind "char";
	v_nspname name;
	v_relname name;
	v_label text;
	v_key_columns name[];
	v_key_type pg_catalog.regtype;
	v_old pgpull.stream;
	v_dest text;
	v_col name;
	v_id bigint;
	v_role record;
	v_missing text;
BEGIN
	IF track.relation IS NULL THEN
		RAISE EXCEPTION 'relation must not be null'
			USING ERRCODE = '22004';
	END IF;
	IF track.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Omit the argument to use the integration "default".';
	END IF;
	PERFORM pgpull.destination_schema_name(track.integration);

	SELECT c.relkind, n.nspname, c.relname INTO v_relkind, v_nspname, v_relname
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = track.relation;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation with OID % does not exist', track.relation::oid
			USING ERRCODE = '42P01';
	END IF;
	v_label := pg_catalog.format('%I.%I', v_nspname, v_relname);
	IF v_relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		RAISE EXCEPTION 'cannot track relation "%"', v_label
			USING ERRCODE = '42809',
				  DETAIL = pg_catalog.format('"%s" is %s.', v_label,
					CASE v_relkind WHEN 'S' THEN 'a sequence' WHEN 'i' THEN 'an index'
						WHEN 'I' THEN 'a partitioned index' WHEN 'c' THEN 'a composite type'
						WHEN 't' THEN 'a TOAST table' ELSE 'not a table' END),
				  HINT = 'Track tables, partitioned tables, views, materialized views or foreign tables.';
	END IF;

	IF track.method IS NULL OR track.method NOT IN ('full_table', 'key_based', 'log_based') THEN
		RAISE EXCEPTION 'unrecognized replication method: %', COALESCE(track.method, 'NULL')
			USING ERRCODE = '22023',
				  HINT = 'Use "full_table", "key_based" or "log_based".';
	END IF;
	IF track.method = 'log_based' AND v_relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'relation "%" cannot be replicated log-based', v_label
			USING ERRCODE = '42809',
				  DETAIL = pg_catalog.format('"%s" is %s, whose changes the write-ahead log does not carry.', v_label,
					CASE v_relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
						ELSE 'a foreign table' END),
				  HINT = 'Track it with method "full_table", or "key_based" with a replication key.';
	END IF;
	IF track.method = 'log_based' AND track.replication_key IS NOT NULL THEN
		RAISE EXCEPTION 'a log_based stream takes no replication key'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Replication key "%s" was given for relation "%s".',
											 track.replication_key, v_label),
				  HINT = 'A log_based stream reads every change from the write-ahead log: omit the key.';
	END IF;
	IF track.method = 'key_based' AND track.replication_key IS NULL THEN
		RAISE EXCEPTION 'a key_based stream needs a replication key'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('No replication key was given for relation "%s".', v_label),
				  HINT = 'Name a column whose value grows with every change, such as updated_at.';
	END IF;
	IF track.method = 'full_table' AND track.replication_key IS NOT NULL THEN
		RAISE EXCEPTION 'a full_table stream takes no replication key'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('Replication key "%s" was given for relation "%s".',
											 track.replication_key, v_label),
				  HINT = 'Use method "key_based" to replicate by key, or omit the key.';
	END IF;

	IF track.replication_key IS NOT NULL THEN
		v_key_type := pgpull._column_type(track.relation, track.replication_key, true);
		IF NOT pgpull._replication_key_type(v_key_type) THEN
			RAISE EXCEPTION 'column "%" of relation "%" cannot be a replication key',
				track.replication_key, v_label
				USING ERRCODE = '42804',
					  DETAIL = pg_catalog.format('Its type is %s.', v_key_type),
					  HINT = 'A replication key is an integer, numeric, date, timestamp or timestamptz column.';
		END IF;
	END IF;

	IF track.columns IS NOT NULL THEN
		FOREACH v_col IN ARRAY track.columns LOOP
			PERFORM pgpull._column_type(track.relation, v_col);
		END LOOP;
	END IF;

	IF track.key_columns IS NOT NULL THEN
		v_key_columns := track.key_columns;
	ELSIF v_relkind IN ('r', 'p') THEN
		SELECT COALESCE(pg_catalog.array_agg(a.attname ORDER BY k.ord), '{}') INTO v_key_columns
		  FROM pg_catalog.pg_index i
		 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		 WHERE i.indrelid = track.relation AND i.indisprimary;
	ELSE
		RAISE EXCEPTION 'relation "%" needs key_columns', v_label
			USING ERRCODE = '22023',
				  DETAIL = 'Views, materialized views and foreign tables have no primary key.',
				  HINT = 'Name the columns that identify a row in key_columns, or pass an empty array to load it append-only.';
	END IF;
	/*
	 * log_based: the write-ahead log identifies a changed row by the
	 * table's replica identity, so the key columns must be it (the primary
	 * key, or the index REPLICA IDENTITY USING INDEX names), or the table
	 * logs whole old rows (REPLICA IDENTITY FULL).
	 */
	IF track.method = 'log_based' THEN
		IF pg_catalog.cardinality(v_key_columns) = 0 THEN
			RAISE EXCEPTION 'relation "%" has no key columns for a log_based stream', v_label
				USING ERRCODE = '22023',
					  DETAIL = 'A log_based stream sends each change under its key, and deletes by key; it cannot be append-only.',
					  HINT = pg_catalog.format('Give the relation a primary key, or name the columns that identify a row in key_columns and run ALTER TABLE %s REPLICA IDENTITY FULL.', v_label);
		END IF;
		IF (SELECT c.relreplident FROM pg_catalog.pg_class c WHERE c.oid = track.relation) <> 'f'
		   AND v_key_columns IS DISTINCT FROM
			   (SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)
				  FROM pg_catalog.pg_class c
				  JOIN pg_catalog.pg_index i ON i.indrelid = c.oid
					   AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
				 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
				  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
				 WHERE c.oid = track.relation) THEN
			RAISE EXCEPTION 'key columns of relation "%" are not its replica identity', v_label
				USING ERRCODE = '22023',
					  DETAIL = pg_catalog.format('key_columns %s: the write-ahead log identifies the rows of "%s" by %s.',
						v_key_columns, v_label,
						CASE (SELECT c.relreplident FROM pg_catalog.pg_class c WHERE c.oid = track.relation)
							WHEN 'n' THEN 'nothing (REPLICA IDENTITY NOTHING)'
							WHEN 'i' THEN 'the index of REPLICA IDENTITY USING INDEX'
							ELSE 'its primary key, which it does not have or which differs' END),
					  HINT = pg_catalog.format('Run ALTER TABLE %s REPLICA IDENTITY FULL, so that every change carries the whole old row, then track it again.', v_label);
		END IF;
	END IF;
	IF (SELECT pg_catalog.count(DISTINCT k) <> pg_catalog.count(*)
		  FROM pg_catalog.unnest(v_key_columns) AS k) THEN
		RAISE EXCEPTION 'key_columns name a column twice'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('key_columns: %s.', v_key_columns);
	END IF;
	FOREACH v_col IN ARRAY v_key_columns LOOP
		v_key_type := pgpull._column_type(track.relation, v_col);
		BEGIN
			EXECUTE pg_catalog.format('SELECT FROM (SELECT NULL::%s AS k) s ORDER BY k', v_key_type);
		EXCEPTION WHEN undefined_function THEN
			RAISE EXCEPTION 'column "%" of relation "%" cannot be a key column', v_col, v_label
				USING ERRCODE = '42804',
					  DETAIL = pg_catalog.format('Type %s has no ordering.', v_key_type),
					  HINT = 'Key columns must be sortable: choose others, or pass an empty array for append-only.';
		END;
	END LOOP;

	SELECT * INTO v_old FROM pgpull.stream s
	 WHERE s.integration = track.integration AND s.relation = track.relation
	   FOR UPDATE;

	IF FOUND THEN
		UPDATE pgpull.stream s
		   SET relation_name = v_label,
			   method = track.method,
			   replication_key = track.replication_key,
			   key_columns = v_key_columns,
			   columns = track.columns,
			   bookmark_type = CASE WHEN track.replication_key IS NOT NULL
									THEN pgpull._column_type(track.relation, track.replication_key) END,
			   updated_at = pg_catalog.now()
		 WHERE s.stream_id = v_old.stream_id;
		/* a new key or method means the old bookmark means nothing: start over */
		IF v_old.method IS DISTINCT FROM track.method
		   OR v_old.replication_key IS DISTINCT FROM track.replication_key
		   OR v_old.key_columns IS DISTINCT FROM v_key_columns THEN
			PERFORM pgpull._reset_stream(v_old.stream_id);
			RAISE NOTICE 'stream "%" of relation "%" reset: % becomes %', v_old.destination_table, v_label,
				pgpull._stream_keys(v_old.method, v_old.replication_key, v_old.key_columns),
				pgpull._stream_keys(track.method, track.replication_key, v_key_columns)
				USING DETAIL = CASE WHEN v_old.bookmark IS NOT NULL
									THEN pg_catalog.format('Its bookmark %s is forgotten: the next run replicates every row.', v_old.bookmark)
									WHEN v_old.resume_position IS NOT NULL
									THEN 'Its resume position is forgotten: the next run replicates every row from the start.'
									ELSE 'It had no bookmark yet: the next run replicates every row.' END;
		END IF;
		v_id := v_old.stream_id;
		v_dest := v_old.destination_table;
	ELSE
		/* the destination name is fixed now; a name taken in this integration gets the schema prefixed */
		v_dest := v_relname;
		IF EXISTS (SELECT FROM pgpull.stream s
					WHERE s.integration = track.integration AND s.destination_table = v_dest) THEN
			v_dest := v_nspname || '__' || v_relname;
			IF EXISTS (SELECT FROM pgpull.stream s
						WHERE s.integration = track.integration AND s.destination_table = v_dest) THEN
				RAISE EXCEPTION 'destination table "%" is taken in integration "%"', v_dest, track.integration
					USING ERRCODE = '42710',
						  DETAIL = pg_catalog.format('Relation "%s" would load into it.', v_label),
						  HINT = 'Track the relation in another integration.';
			END IF;
		END IF;

		INSERT INTO pgpull.stream AS s (integration, relation, relation_name, method, replication_key,
										key_columns, columns, destination_table, bookmark_type)
		VALUES (track.integration, track.relation, v_label, track.method, track.replication_key,
				v_key_columns, track.columns, v_dest,
				CASE WHEN track.replication_key IS NOT NULL
					 THEN pgpull._column_type(track.relation, track.replication_key) END)
		RETURNING s.stream_id INTO v_id;
	END IF;

	IF track.method = 'full_table' AND pg_catalog.cardinality(v_key_columns) = 0 THEN
		RAISE NOTICE 'stream "%" has no key columns: every run appends a full copy of relation "%" to an Import API destination', v_dest, v_label
			USING DETAIL = 'A full_table stream without key columns is loaded append-only: nothing says which destination row a source row replaces.  (A Singer target that honours ACTIVATE_VERSION keeps the latest copy only.)',
				  HINT = 'Name the columns that identify a row in key_columns, or give the relation a primary key and call track again.';
	END IF;

	/* the roles that run the integration: can they read it? */
	FOR v_role IN
		SELECT r.oid, r.rolname
		  FROM pgpull.integration_grant g
		  JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name
		 WHERE g.integration = track.integration
		 ORDER BY r.rolname COLLATE "C"
	LOOP
		v_missing := pgpull._missing_read(v_role.oid, v_id);
		IF v_missing IS NOT NULL THEN
			RAISE NOTICE 'role "%" cannot read relation "%": it lacks %', v_role.rolname, v_label, v_missing
				USING DETAIL = pg_catalog.format('The role may run integration "%s"; its runs fail on stream "%s" until it can read the relation.',
												 track.integration, v_dest),
					  HINT = pgpull._grant_hint(v_role.rolname, v_nspname);
		END IF;
	END LOOP;
	RETURN v_dest;
END
$fn$;
COMMENT ON FUNCTION pgpull.track(pg_catalog.regclass, text, name, name[], name[], text) IS 'add or update the stream of a relation; returns its destination table name';

CREATE FUNCTION pgpull._relation_visible(role name, relation pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.pg_has_role(_relation_visible.role, c.relowner, 'USAGE')
		   OR pg_catalog.has_table_privilege(_relation_visible.role, c.oid,
											 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
		   OR pg_catalog.has_any_column_privilege(_relation_visible.role, c.oid,
												  'SELECT, INSERT, UPDATE, REFERENCES')
	  FROM pg_catalog.pg_class c
	 WHERE c.oid = _relation_visible.relation;
$fn$;
COMMENT ON FUNCTION pgpull._relation_visible(name, pg_catalog.oid) IS 'internal: whether a role owns a relation or holds a privilege on it or on one of its columns';

CREATE FUNCTION pgpull._discover_streams()
RETURNS TABLE (relation pg_catalog.oid, integration text, method text, replication_key name)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.relation::pg_catalog.oid, s.integration, s.method, s.replication_key
	  FROM pgpull.stream s
	 WHERE pgpull._relation_visible(SESSION_USER, s.relation);
$fn$;
COMMENT ON FUNCTION pgpull._discover_streams() IS 'internal: integration, method and replication key of the streams whose relations the session''s role can see';

CREATE FUNCTION pgpull._type_problem(typ pg_catalog.oid, typmod integer)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF (pgpull._type_info(_type_problem.typ, _type_problem.typmod)).kind
	   NOT IN ('array', 'composite', 'range', 'multirange') THEN
		RETURN NULL;
	END IF;
	PERFORM pgpull._type_schema(_type_problem.typ, _type_problem.typmod, 0, true),
			pgpull._value_expr('v', _type_problem.typ, _type_problem.typmod);
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLERRM;
END
$fn$;
COMMENT ON FUNCTION pgpull._type_problem(pg_catalog.oid, integer) IS 'internal: why the type mapping cannot map a type, or NULL';

CREATE FUNCTION pgpull.discover(schemas name[] DEFAULT NULL)
RETURNS TABLE (schema_name name, relation_name name, relation pg_catalog.regclass, kind text,
			   estimated_rows bigint, primary_key name[], replication_keys name[],
			   unreadable_columns name[], unsupported_columns name[], tracked jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	/* 22004 for a NULL element, 3F000 for a schema that does not exist */
	PERFORM pgpull._schema_list(discover.schemas);
	RETURN QUERY
	WITH rel AS (
		SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples,
			   pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS usable
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
		   AND NOT c.relispartition
		   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgpull')
		   AND n.nspname !~ '^pg_(toast|temp_)'
		   AND (discover.schemas IS NULL OR n.nspname = ANY (discover.schemas))
		   AND pgpull._relation_visible(CURRENT_USER, c.oid)
	), col AS (
		SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
			   r.usable AND pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT') AS readable,
			   EXISTS (SELECT FROM pg_catalog.pg_index i
						WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum AND i.indisvalid) AS indexed
		  FROM rel r
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid
		 WHERE a.attnum > 0 AND NOT a.attisdropped
	), typ AS MATERIALIZED (
		/* each type once: the mapping's checks cost a few function calls */
		SELECT t.atttypid, t.atttypmod,
			   pgpull._type_problem(t.atttypid, t.atttypmod) AS problem,
			   pgpull._replication_key_type((pgpull._type_info(t.atttypid, t.atttypmod)).base_type) AS key_ok
		  FROM (SELECT DISTINCT c.atttypid, c.atttypmod FROM col c) t
	), cols AS (
		SELECT c.attrelid,
			   pg_catalog.array_agg(c.attname ORDER BY c.indexed DESC, c.attnum)
				   FILTER (WHERE c.readable AND t.key_ok AND t.problem IS NULL) AS keys,
			   pg_catalog.array_agg(c.attname ORDER BY c.attnum) FILTER (WHERE NOT c.readable) AS unreadable,
			   pg_catalog.array_agg(c.attname ORDER BY c.attnum) FILTER (WHERE t.problem IS NOT NULL) AS unsupported
		  FROM col c
		  JOIN typ t ON t.atttypid = c.atttypid AND t.atttypmod = c.atttypmod
		 GROUP BY c.attrelid
	), stream AS (
		SELECT s.relation,
			   pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('integration', s.integration,
																  'method', s.method,
																  'replication_key', s.replication_key)
									ORDER BY s.integration) AS streams
		  FROM pgpull._discover_streams() s
		 GROUP BY s.relation
	)
	SELECT r.nspname, r.relname, r.oid::pg_catalog.regclass,
		   CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
			   WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END,
		   CASE WHEN r.relkind = 'v' THEN NULL
				WHEN r.reltuples >= 0 THEN r.reltuples::bigint
				WHEN r.relkind = 'p' THEN
					(SELECT pg_catalog.sum(lc.reltuples)::bigint
					   FROM pg_catalog.pg_partition_tree(r.oid) pt
					   JOIN pg_catalog.pg_class lc ON lc.oid = pt.relid
					  WHERE pt.isleaf AND lc.reltuples >= 0) END,
		   CASE WHEN r.relkind IN ('r', 'p') THEN
				(SELECT COALESCE(pg_catalog.array_agg(a.attname ORDER BY k.ord), '{}')
				   FROM pg_catalog.pg_index i
				  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
				  WHERE i.indrelid = r.oid AND i.indisprimary) END,
		   COALESCE(c.keys, '{}'), COALESCE(c.unreadable, '{}'), COALESCE(c.unsupported, '{}'),
		   COALESCE(s.streams, '[]')
	  FROM rel r
	  LEFT JOIN cols c ON c.attrelid = r.oid
	  LEFT JOIN stream s ON s.relation = r.oid
	 ORDER BY r.nspname, r.relname;
END
$fn$;
COMMENT ON FUNCTION pgpull.discover(name[]) IS 'the relations the calling role can see, with kind, estimated rows, primary key, candidate replication keys, columns it cannot read or map, and their streams';
REVOKE EXECUTE ON FUNCTION pgpull.discover(name[]) FROM PUBLIC;

/* a role that could run the puller may discover what it could replicate */
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		   AND pg_catalog.has_function_privilege(r.oid, 'pgpull.begin_run(text,text,text)', 'EXECUTE')
		 ORDER BY r.rolname
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.discover(name[]) TO %I', v_role);
	END LOOP;
END
$update$;

/*
 * pgpull status (85_status.sql): the view stream_status and the functions
 * status, status_standby and status_attention, which grant_script grants
 * to the replication role (_puller_functions); loading_report gains the
 * last sync's duration, its rows per second and the staleness, at its end.
 */
CREATE OR REPLACE VIEW pgpull.loading_report AS
SELECT s.integration,
	   s.destination_table,
	   CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation)
			THEN pgpull._relation_label(s.relation)
			ELSE s.relation_name END AS relation,
	   s.method,
	   GREATEST(a.last_succeeded, a.last_batch_at) AS last_load_at,
	   l.status AS last_status,
	   COALESCE(a.rows_24h, 0)::bigint AS rows_loaded_24h,
	   CASE WHEN s.method = 'key_based' AND s.bookmark IS NOT NULL
			THEN s.replication_key || ': ' || s.bookmark
			ELSE 'Bookmark Unavailable' END AS max_bookmark,
	   l.ended_at - l.started_at AS last_run_duration,
	   CASE WHEN l.ended_at > l.started_at
			THEN pg_catalog.round(l.rows_loaded / EXTRACT(epoch FROM l.ended_at - l.started_at), 1) END AS rows_per_second,
	   pg_catalog.now() - a.last_success AS staleness
  FROM pgpull.stream s
  LEFT JOIN LATERAL (
		SELECT pg_catalog.max(rs.ended_at) FILTER (WHERE rs.status = 'succeeded' AND rs.rows_loaded > 0) AS last_succeeded,
			   pg_catalog.max(rs.last_batch_at) AS last_batch_at,
			   pg_catalog.sum(rs.rows_loaded) FILTER (WHERE rs.started_at >= pg_catalog.now() - interval '24 hours') AS rows_24h,
			   pg_catalog.max(rs.ended_at) FILTER (WHERE rs.status = 'succeeded') AS last_success
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id) AS a ON true
  LEFT JOIN LATERAL (
		SELECT rs.status, rs.started_at, rs.ended_at, rs.rows_loaded
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id AND rs.status <> 'skipped'
		 ORDER BY rs.started_at DESC, rs.run_id DESC
		 LIMIT 1) AS l ON true;
COMMENT ON VIEW pgpull.loading_report IS 'per stream: last load, last status, rows loaded in 24 hours, bookmark as "column: value", last sync''s duration and rows per second, staleness';

/*
 * stream_status: per stream, the last run (the last one that did not skip
 * it), the rows loaded in 24 hours, whether its relation was dropped,
 * whether a historical sync is pending (every row to read: a key_based
 * stream without a bookmark; a full_table stream never synced, reset, or
 * with an interrupted sync to resume) and the next action of a run.
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
			WHEN s.method = 'log_based' AND s.bookmark IS NOT NULL THEN 'stream changes from slot'
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
		 LIMIT 1) AS l ON true;
COMMENT ON VIEW pgpull.stream_status IS 'per stream: last run and its outcome, rows loaded in 24 hours, next action, whether a historical sync is pending or the relation was dropped';

REVOKE ALL ON pgpull.stream_status FROM PUBLIC;

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

REVOKE EXECUTE ON FUNCTION pgpull._status_integrations(text),
	pgpull.status(text),
	pgpull.status_standby(text),
	pgpull.status_attention(text)
	FROM PUBLIC;
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		   AND pg_catalog.has_function_privilege(r.oid, 'pgpull.begin_run(text,text,text)', 'EXECUTE')
		 ORDER BY r.rolname
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.status(text) TO %I', v_role);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.status_attention(text) TO %I', v_role);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.status_standby(text) TO %I', v_role);
	END LOOP;
END
$update$;

/*
 * Housekeeping and metrics: how long runs are kept (set_retention, 60 days
 * by default), their pruning by the puller at the end of each run
 * (prune_runs), with the figures of pruned runs kept per stream so the
 * counters never go back, and the per stream figures `pgpull sync
 * --metrics-file` writes (stream_metrics).
 */
CREATE TABLE pgpull.retention (
	integration		text,				/* NULL: every integration */
	keep			interval NOT NULL CHECK (keep > interval '0'),
	set_at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE NULLS NOT DISTINCT (integration)
);
COMMENT ON TABLE pgpull.retention IS 'how long runs are kept, per integration (NULL: every integration without a setting of its own); set with pgpull.set_retention';

CREATE TABLE pgpull.stream_pruned (
	stream_id		bigint PRIMARY KEY REFERENCES pgpull.stream ON DELETE CASCADE,
	rows_loaded		bigint NOT NULL DEFAULT 0,
	batches			bigint NOT NULL DEFAULT 0,
	bytes			bigint NOT NULL DEFAULT 0,
	retries			bigint NOT NULL DEFAULT 0,
	pruned_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE pgpull.stream_pruned IS 'per stream, the sums of its runs pruned from pgpull.run_streams, added to the counters of pgpull.stream_metrics';

SELECT pg_catalog.pg_extension_config_dump('pgpull.retention', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_pruned', '');

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

CREATE FUNCTION pgpull._is_retry(level text, message text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _is_retry.level = 'WARNING' AND _is_retry.message ~ 'retry [0-9]+ of [0-9]+';
$fn$;
COMMENT ON FUNCTION pgpull._is_retry(text, text) IS 'internal: whether an extraction log line is a retry of the puller';

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

REVOKE ALL ON pgpull.retention, pgpull.stream_pruned FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._retention_of(text),
	pgpull._is_retry(text, text),
	pgpull.set_retention(interval, text),
	pgpull.prune_runs(bigint),
	pgpull.stream_metrics(text)
	FROM PUBLIC;

/* a role that could run the puller may prune its runs and read its metrics */
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		 ORDER BY r.rolname
	LOOP
		IF pg_catalog.has_function_privilege(v_role, 'pgpull.begin_run(text,text,text)', 'EXECUTE') THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.prune_runs(bigint) TO %I', v_role);
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.stream_metrics(text) TO %I', v_role);
		END IF;
	END LOOP;
END
$update$;

/*
 * What a new user tripped on.  track() says when the roles that run the
 * integration cannot read the relation (_missing_read, _grant_hint), when
 * a full_table stream without key columns appends a full copy at every
 * run, and when it resets a stream (_stream_keys); extraction_query refuses
 * a relation the puller's role cannot read with the same hint; take_stream
 * logs "reset" rather than "first run" and the full copy warning; a dropped
 * relation's hint names untrack_stream, new; grant_script refuses up front
 * when the current role cannot create the role.
 */

CREATE OR REPLACE FUNCTION pgpull._stream_relation(stream pgpull.stream)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_label text;
	v_missing text := pgpull._relation_missing(_stream_relation.stream);
BEGIN
	IF v_missing IS NOT NULL THEN
		RAISE EXCEPTION '%', v_missing
			USING ERRCODE = '42P01',
				  DETAIL = 'The stream keeps the OID of the relation it tracks; no relation has it now.',
				  HINT = pg_catalog.format('Track the relation again if it was recreated, or stop replicating the stream: SELECT pgpull.untrack_stream(%s);',
										   (_stream_relation.stream).stream_id);
	END IF;
	SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO v_label
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = (_stream_relation.stream).relation;
	IF v_label IS DISTINCT FROM (_stream_relation.stream).relation_name THEN
		UPDATE pgpull.stream s SET relation_name = v_label
		 WHERE s.stream_id = (_stream_relation.stream).stream_id;
	END IF;
	RETURN v_label;
END
$fn$;
COMMENT ON FUNCTION pgpull._stream_relation(pgpull.stream) IS 'internal: the name of a stream''s relation, or 42P01 when it was dropped';

CREATE FUNCTION pgpull._missing_read(role pg_catalog.oid, stream_id bigint)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_relation pg_catalog.oid;
	v_nspname name;
	v_label text;
	v_missing text[] := '{}';
	v_columns name[];
BEGIN
	SELECT c.oid, n.nspname, pg_catalog.format('%I.%I', n.nspname, c.relname)
	  INTO v_relation, v_nspname, v_label
	  FROM pgpull.stream s
	  JOIN pg_catalog.pg_class c ON c.oid = s.relation
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE s.stream_id = _missing_read.stream_id;
	IF v_relation IS NULL THEN
		RETURN NULL;
	END IF;
	IF NOT pg_catalog.has_schema_privilege(_missing_read.role, v_nspname, 'USAGE') THEN
		v_missing := v_missing || pg_catalog.format('USAGE on schema %s', pgpull._quoted(v_nspname));
	END IF;
	IF NOT pg_catalog.has_table_privilege(_missing_read.role, v_relation, 'SELECT') THEN
		SELECT pg_catalog.array_agg(c.col ORDER BY c.n) INTO v_columns
		  FROM pg_catalog.unnest(pgpull._stream_columns(_missing_read.stream_id)) WITH ORDINALITY AS c(col, n)
		 WHERE NOT pg_catalog.has_column_privilege(_missing_read.role, v_relation, c.col, 'SELECT');
		IF NOT pg_catalog.has_any_column_privilege(_missing_read.role, v_relation, 'SELECT') THEN
			v_missing := v_missing || pg_catalog.format('SELECT on relation "%s"', v_label);
		ELSIF v_columns IS NOT NULL THEN
			v_missing := v_missing || pg_catalog.format('SELECT on column%s %s of relation "%s"',
				CASE WHEN pg_catalog.cardinality(v_columns) = 1 THEN '' ELSE 's' END,
				(SELECT pg_catalog.string_agg(pgpull._quoted(c), ', ') FROM pg_catalog.unnest(v_columns) AS c),
				v_label);
		END IF;
	END IF;
	IF pg_catalog.cardinality(v_missing) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN pg_catalog.array_to_string(v_missing, ', ');
END
$fn$;
COMMENT ON FUNCTION pgpull._missing_read(pg_catalog.oid, bigint) IS 'internal: the privileges a role lacks to read what a stream replicates, or NULL';

CREATE FUNCTION pgpull._grant_hint(role name, schema_name name)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
	SELECT pg_catalog.format(
		'Run SELECT * FROM pgpull.grant_script(%L, %L) \gexec in psql as a role that may grant these privileges, or grant what is missing; SELECT * FROM pgpull.check_privileges(%L) WHERE NOT ok; lists what the role still lacks.',
		_grant_hint.role, ARRAY[_grant_hint.schema_name]::text, _grant_hint.role);
$fn$;
COMMENT ON FUNCTION pgpull._grant_hint(name, name) IS 'internal: the hint naming the grant_script and check_privileges calls for a role that cannot read a relation';

CREATE FUNCTION pgpull._stream_keys(method text, replication_key name, key_columns name[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _stream_keys.method
		   || COALESCE(' on ' || pg_catalog.quote_ident(_stream_keys.replication_key), '')
		   || CASE WHEN pg_catalog.cardinality(_stream_keys.key_columns) = 0 THEN ', no key columns'
				   ELSE ', key columns (' || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ')
												FROM pg_catalog.unnest(_stream_keys.key_columns) AS k) || ')' END;
$fn$;
COMMENT ON FUNCTION pgpull._stream_keys(text, name, name[]) IS 'internal: a stream''s method, replication key and key columns, for messages';

CREATE FUNCTION pgpull.untrack_stream(stream_id bigint)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_name text;
	v_integration text;
	v_method text;
BEGIN
	IF untrack_stream.stream_id IS NULL THEN
		RAISE EXCEPTION 'stream_id must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Pass a stream_id of pgpull.streams.';
	END IF;
	DELETE FROM pgpull.stream s WHERE s.stream_id = untrack_stream.stream_id
	RETURNING s.relation_name, s.integration, s.method INTO v_name, v_integration, v_method;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'stream % does not exist', untrack_stream.stream_id
			USING ERRCODE = 'P0002',
				  DETAIL = 'No tracked stream has this stream_id.',
				  HINT = 'SELECT stream_id, integration, relation_name FROM pgpull.streams; lists the streams.';
	END IF;
	IF v_method = 'log_based' THEN
		PERFORM pgpull._log_based_left(v_integration);
	END IF;
	RETURN v_name;
END
$fn$;
COMMENT ON FUNCTION pgpull.untrack_stream(bigint) IS 'stop replicating a stream named by its stream_id (for a dropped relation); returns the relation name it last had';
REVOKE EXECUTE ON FUNCTION pgpull._missing_read(pg_catalog.oid, bigint),
	pgpull._grant_hint(name, name),
	pgpull._stream_keys(text, name, name[]),
	pgpull.untrack_stream(bigint)
	FROM PUBLIC;

CREATE FUNCTION pgpull._extraction_select(stream pgpull.stream, columns name[], first_run boolean,
										  after_position text, chunk_rows integer,
										  range pgpull.stream_range, sample pgpull.watermark_sample,
										  OUT query text, OUT warning text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_label text;
	v_pos record;
	v_parts record;
	v_chunked boolean;
	v_after text[];
	v_keys text[] := '{}';
	v_key_types text[];
	v_key_exprs text := '';
	v_rk text;
	v_rk_base pg_catalog.oid;
	v_select text;
	v_order text;
	v_lower text;
	v_cap_col text := 'NULL::pg_catalog.text';
	v_pos_cols text;
	v_pos_refs text;
	v_limit text := '';
	v_null_where text;
	i integer;
BEGIN
	IF _extraction_select.chunk_rows IS NOT NULL AND _extraction_select.chunk_rows < 1 THEN
		RAISE EXCEPTION 'chunk_rows must be positive'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('chunk_rows is %s.', _extraction_select.chunk_rows),
				  HINT = 'Pass NULL to read the stream in one pass.';
	END IF;
	v_label := pgpull._stream_relation(_extraction_select.stream);
	v_pos := pgpull._position_columns(_extraction_select.stream);
	v_chunked := pg_catalog.cardinality(_extraction_select.stream.key_columns) > 0;
	IF _extraction_select.after_position IS NOT NULL AND NOT v_chunked THEN
		RAISE EXCEPTION 'stream "%" is read in one pass', _extraction_select.stream.destination_table
			USING ERRCODE = '22023',
				  DETAIL = 'It has no key columns, so no position to continue from.',
				  HINT = 'Pass after_position NULL.';
	END IF;
	IF v_chunked AND _extraction_select.chunk_rows IS NOT NULL THEN
		v_limit := pg_catalog.format(' LIMIT %s', _extraction_select.chunk_rows);
	END IF;

	v_parts := pgpull._row_json_parts(_extraction_select.stream.relation,
									  _extraction_select.columns, 't');
	v_select := pg_catalog.format(
		'SELECT (%s)::pg_catalog.int4 AS lossy, pg_catalog.row_to_json(r.*)::pg_catalog.text AS row_json, ',
		v_parts.lossy_expr);
	/* the position: one text field per position column, after cap */
	SELECT COALESCE(pg_catalog.string_agg(pg_catalog.format(', %s AS pgpull_p%s',
				pgpull._key_text_expr(pg_catalog.format('t.%I', c.name), c.typ), c.n), '' ORDER BY c.n), ''),
		   COALESCE(pg_catalog.string_agg(pg_catalog.format(', u.pgpull_p%s', c.n), '' ORDER BY c.n), '')
	  INTO v_pos_cols, v_pos_refs
	  FROM ROWS FROM (pg_catalog.unnest(v_pos.names), pg_catalog.unnest(v_pos.base_types)) WITH ORDINALITY AS c(name, typ, n);
	v_keys := ARRAY(SELECT pg_catalog.format('t.%I', k) FROM pg_catalog.unnest(_extraction_select.stream.key_columns) AS k);
	v_key_types := v_pos.types[pg_catalog.cardinality(v_pos.types) - pg_catalog.cardinality(v_keys) + 1 :];
	FOR i IN 1 .. pg_catalog.cardinality(v_keys) LOOP
		v_key_exprs := v_key_exprs || pg_catalog.format(', %s AS pgpull_k%s', v_keys[i], i);
	END LOOP;

	IF _extraction_select.stream.method IN ('full_table', 'log_based') THEN
		v_select := v_select || v_cap_col || ' AS cap' || v_pos_cols;
		IF _extraction_select.after_position IS NOT NULL THEN
			v_after := pgpull._position_parse(_extraction_select.after_position, v_pos.types,
											  _extraction_select.stream.destination_table, false);
		ELSIF (_extraction_select.range).stream_id IS NOT NULL THEN
			IF (_extraction_select.range).resume_position IS NOT NULL THEN
				v_after := pgpull._position_parse((_extraction_select.range).resume_position, v_pos.types,
												  _extraction_select.stream.destination_table, false);
			END IF;
		ELSIF _extraction_select.stream.resume_position IS NOT NULL AND v_chunked THEN
			v_after := pgpull._position_parse(pg_catalog.array_to_json(_extraction_select.stream.resume_position)::text,
											  v_pos.types, _extraction_select.stream.destination_table, false);
		END IF;
		_extraction_select.query := v_select || pg_catalog.format(' FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r',
												 v_label, v_parts.select_list);
		IF v_after IS NOT NULL THEN
			_extraction_select.query := _extraction_select.query || pg_catalog.format(' WHERE (%s) > %s', pg_catalog.array_to_string(v_keys, ', '),
													pgpull._row_literal(v_after, v_pos.types));
		END IF;
		IF (_extraction_select.range).stream_id IS NOT NULL THEN
			_extraction_select.query := _extraction_select.query || COALESCE(CASE WHEN v_after IS NULL THEN ' WHERE ' ELSE ' AND ' END
										   || pgpull._range_where(_extraction_select.range, v_keys[1], v_pos.types[1]), '');
		END IF;
		IF v_chunked THEN
			_extraction_select.query := _extraction_select.query || ' ORDER BY ' || pg_catalog.array_to_string(v_keys, ', ') || v_limit;
		END IF;
	ELSE
		IF _extraction_select.after_position IS NOT NULL THEN
			v_after := pgpull._position_parse(_extraction_select.after_position, v_pos.types,
											  _extraction_select.stream.destination_table, _extraction_select.first_run);
		END IF;
		v_rk := pg_catalog.format('t.%I', _extraction_select.stream.replication_key);
		v_rk_base := v_pos.base_types[1];
		/* the non-NULL keys: from the bookmark, or after the position */
		IF v_after[1] IS NOT NULL THEN
			v_lower := pg_catalog.format('(%s) > %s',
				pg_catalog.array_to_string(ARRAY[v_rk] || v_keys, ', '), pgpull._row_literal(v_after, v_pos.types));
		ELSIF _extraction_select.stream.bookmark IS NOT NULL THEN
			/*
			 * Date and time keys continue strictly after the bookmark: it
			 * stays below the commit-safe cap (_before_cap), and a row a late
			 * commit adds is at or after that cap.  Other keys take the
			 * bookmark's ties again.
			 */
			v_lower := pg_catalog.format('%s %s %L::%s', v_rk,
				CASE WHEN pgpull._capped_type(v_rk_base) THEN '>' ELSE '>=' END,
				_extraction_select.stream.bookmark, v_pos.types[1]);
		ELSE
			v_lower := pg_catalog.format('%s IS NOT NULL', v_rk);
		END IF;
		/*
		 * The commit-safe cap, and the warnings of this run and stream.  Every
		 * row is read; those past the cap (at or after it; after its day for
		 * date keys) carry it in the cap column, and record_cap keeps the
		 * bookmark at or below it.  No valid sample: every row carries
		 * -infinity, and the bookmark stays.
		 */
		IF pgpull._capped_type(v_rk_base) THEN
			v_cap_col := pg_catalog.format(
				'CASE WHEN %1$s IS NOT NULL AND NOT COALESCE(%1$s < %2$s, false) THEN COALESCE(%3$s, ''-infinity'') END',
				v_rk, pgpull._watermark_cap_expr(_extraction_select.sample, v_rk_base), pgpull._watermark_cap_expr(_extraction_select.sample, v_rk_base, true));
			IF _extraction_select.sample.oldest_start < _extraction_select.sample.taken_at - interval '5 minutes' THEN
				_extraction_select.warning := pg_catalog.format(
					'a transaction open since %s (process %s, application "%s") holds back the commit-safe cap: rows with %I at or after it are sent now and again by the next run, and the bookmark stays below it',
					pg_catalog.btrim(pg_catalog.to_json(pg_catalog.timezone('UTC', _extraction_select.sample.oldest_start))::text, '"') || 'Z',
					_extraction_select.sample.oldest_pid, COALESCE(_extraction_select.sample.oldest_application, ''), _extraction_select.stream.replication_key);
			END IF;
		ELSE
			IF _extraction_select.sample.writers > 0 THEN
				_extraction_select.warning := pg_catalog.format(
					'%s transaction%s writing while the chunk was planned: rows %s commit later with a %I below the bookmark will not be extracted (only date and time replication keys are capped)',
					_extraction_select.sample.writers, CASE WHEN _extraction_select.sample.writers = 1 THEN ' was' ELSE 's were' END,
					CASE WHEN _extraction_select.sample.writers = 1 THEN 'it may' ELSE 'they may' END, _extraction_select.stream.replication_key);
			END IF;
		END IF;
		IF _extraction_select.warning IS NULL AND _extraction_select.sample.hidden > 0 AND v_cap_col <> 'NULL::pg_catalog.text' THEN
			_extraction_select.warning := pg_catalog.format(
				'the start of %s open transaction%s of other roles is not visible to the extension owner: the commit-safe cap ignores %s (grant pg_read_all_stats to the extension owner)',
				_extraction_select.sample.hidden, CASE WHEN _extraction_select.sample.hidden = 1 THEN '' ELSE 's' END,
				CASE WHEN _extraction_select.sample.hidden = 1 THEN 'it' ELSE 'them' END);
		END IF;

		v_select := v_select || v_cap_col || ' AS cap' || v_pos_cols;
		v_order := pg_catalog.array_to_string(ARRAY[v_rk] || v_keys, ', ');
		IF NOT _extraction_select.first_run OR v_after[1] IS NOT NULL THEN
			/* later runs, and first runs past the NULL keys */
			_extraction_select.query := v_select || pg_catalog.format(
				' FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r WHERE %s ORDER BY %s%s',
				v_label, v_parts.select_list, v_lower, v_order, v_limit);
		ELSE
			/* a first run: the NULL keys first (after the position in them), then the others */
			v_null_where := v_rk || ' IS NULL';
			IF v_after IS NOT NULL THEN
				v_null_where := v_null_where || pg_catalog.format(' AND (%s) > %s',
					pg_catalog.array_to_string(v_keys, ', '), pgpull._row_literal(v_after[2:], v_key_types));
			END IF;
			IF v_limit = '' THEN
				_extraction_select.query := v_select || pg_catalog.format(
					' FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r WHERE (%s) OR (%s) ORDER BY %s NULLS FIRST%s',
					v_label, v_parts.select_list, v_null_where, v_lower, v_rk,
					CASE WHEN pg_catalog.cardinality(v_keys) > 0
						 THEN ', ' || pg_catalog.array_to_string(v_keys, ', ') ELSE '' END);
			ELSE
				/* each branch can use its own index; the outer sort sees at most 2 chunks */
				_extraction_select.query := pg_catalog.format(
					'SELECT u.lossy, u.row_json, u.cap%13$s FROM ('
					'(%1$s, NULL::%2$s AS pgpull_rk%3$s FROM %4$s AS t CROSS JOIN LATERAL (SELECT %5$s) AS r'
					' WHERE %6$s ORDER BY %7$s%8$s)'
					' UNION ALL '
					'(%1$s, %9$s AS pgpull_rk%3$s FROM %4$s AS t CROSS JOIN LATERAL (SELECT %5$s) AS r'
					' WHERE %10$s ORDER BY %11$s%8$s)'
					') AS u ORDER BY u.pgpull_rk NULLS FIRST%12$s%8$s',
					v_select, v_pos.types[1], v_key_exprs, v_label, v_parts.select_list,
					v_null_where, pg_catalog.array_to_string(v_keys, ', '), v_limit,
					v_rk, v_lower, v_order,
					(SELECT pg_catalog.string_agg(pg_catalog.format(', u.pgpull_k%s', n), '' ORDER BY n)
					   FROM pg_catalog.generate_series(1, pg_catalog.cardinality(v_keys)) AS n),
					v_pos_refs);
			END IF;
		END IF;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._extraction_select(pgpull.stream, name[], boolean, text, integer, pgpull.stream_range, pgpull.watermark_sample) IS 'internal: the SELECT of a chunk of a stream and the commit-safe cap''s warning, built without writing';

CREATE FUNCTION pgpull._estimated_rows(relation pg_catalog.oid)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE
		   WHEN c.relkind IN ('r', 'm', 'f') AND c.reltuples >= 0 THEN c.reltuples::bigint
		   WHEN c.relkind = 'p' THEN
			   (SELECT pg_catalog.sum(pc.reltuples)::bigint
				  FROM pg_catalog.pg_partition_tree(c.oid) AS t
				  JOIN pg_catalog.pg_class pc ON pc.oid = t.relid
				 WHERE t.isleaf
				HAVING pg_catalog.bool_and(pc.reltuples >= 0))
		   END
	  FROM pg_catalog.pg_class c
	 WHERE c.oid = _estimated_rows.relation;
$fn$;
COMMENT ON FUNCTION pgpull._estimated_rows(pg_catalog.oid) IS 'internal: the rows of a relation as reltuples estimates them, or NULL when unknown';

CREATE FUNCTION pgpull.plan(integration text DEFAULT 'default', chunk_rows integer DEFAULT 100000,
							queries boolean DEFAULT true)
RETURNS TABLE (stream_id bigint, relation_name text, destination_table text, method text,
			   replication_key name, bookmark text, resume_position text, chunked boolean,
			   estimated_rows bigint, query text, note text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_stream pgpull.stream;
	v_sample pgpull.watermark_sample;
	v_select record;
	v_missing text;
BEGIN
	IF plan.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A plan is of the streams of one integration.',
				  HINT = 'Name the integration, such as "default".';
	END IF;
	IF plan.chunk_rows IS NOT NULL AND plan.chunk_rows < 1 THEN
		RAISE EXCEPTION 'chunk_rows must be positive'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('chunk_rows is %s.', plan.chunk_rows),
				  HINT = 'Pass NULL to read each stream in one pass.';
	END IF;
	PERFORM pgpull._require_integration(plan.integration);
	SELECT w.* INTO v_sample FROM pgpull.watermark_sample w ORDER BY w.taken_at DESC LIMIT 1;
	IF NOT FOUND THEN
		v_sample.taken_at := pg_catalog.clock_timestamp();
	END IF;

	FOR v_stream IN
		SELECT s.* FROM pgpull.stream s
		 WHERE s.integration = plan.integration
		 ORDER BY s.destination_table COLLATE "C"
	LOOP
		stream_id := v_stream.stream_id;
		relation_name := v_stream.relation_name;
		destination_table := v_stream.destination_table;
		method := v_stream.method;
		replication_key := v_stream.replication_key;
		bookmark := v_stream.bookmark;
		resume_position := pg_catalog.array_to_json(v_stream.resume_position)::text;
		chunked := pg_catalog.cardinality(v_stream.key_columns) > 0;
		estimated_rows := NULL;
		query := NULL;
		note := pgpull._relation_missing(v_stream);
		IF note IS NULL THEN
			relation_name := pgpull._relation_label(v_stream.relation);
			IF (v_stream.method IN ('full_table', 'log_based') AND v_stream.resume_position IS NULL
				AND (v_stream.method = 'full_table' OR v_stream.bookmark IS NULL))
			   OR (v_stream.method = 'key_based' AND v_stream.bookmark IS NULL) THEN
				estimated_rows := pgpull._estimated_rows(v_stream.relation);
			END IF;
			IF v_stream.method = 'log_based' AND v_stream.bookmark IS NOT NULL THEN
				/* no copy to make: the run streams its changes */
				chunked := false;
				IF plan.queries THEN
					note := pg_catalog.format('its changes stream from replication slot %s after %s; there is no copy to make',
											  pgpull.slot_name(v_stream.integration), v_stream.bookmark);
				END IF;
			ELSIF plan.queries THEN
				BEGIN
					v_select := pgpull._extraction_select(v_stream, pgpull._stream_columns(v_stream.stream_id),
														  v_stream.bookmark IS NULL, NULL, plan.chunk_rows, NULL,
														  CASE WHEN v_stream.method = 'key_based' THEN v_sample END);
					query := v_select.query;
				EXCEPTION WHEN OTHERS THEN
					note := SQLERRM;
				END;
			END IF;
			IF note IS NULL THEN
				v_missing := pgpull._missing_read((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER),
												  v_stream.stream_id);
				IF v_missing IS NOT NULL THEN
					note := pg_catalog.format('role "%s" cannot read relation "%s": it lacks %s; the run will fail on this stream',
											  SESSION_USER, relation_name, v_missing);
				END IF;
			END IF;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.plan(text, integer, boolean) IS 'what the next run of an integration would extract, per stream (bookmark, estimated rows, first chunk''s query), without beginning it';

/*
 * sync --dry-run: plan shows what a run would extract without beginning
 * one (76_plan.sql); extraction_query builds its SELECT with
 * _extraction_select, which plan shares.  A role that could run the
 * puller may call plan.
 */
REVOKE EXECUTE ON FUNCTION pgpull._extraction_select(pgpull.stream, name[], boolean, text, integer, pgpull.stream_range,
													 pgpull.watermark_sample),
	pgpull._estimated_rows(pg_catalog.oid),
	pgpull.plan(text, integer, boolean)
	FROM PUBLIC;
DO $update$
DECLARE
	v_role name;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		   AND pg_catalog.has_function_privilege(r.oid, 'pgpull.begin_run(text,text,text)', 'EXECUTE')
		 ORDER BY r.rolname
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION pgpull.plan(text, integer, boolean) TO %I', v_role);
	END LOOP;
END
$update$;

/*
 * Log-based replication (77_logical.sql): a third replication method, and
 * the slot each integration with log_based streams has.
 */
ALTER TABLE pgpull.stream DROP CONSTRAINT stream_method_check,
	ADD CONSTRAINT stream_method_check CHECK (method IN ('full_table', 'key_based', 'log_based'));
CREATE TABLE pgpull.integration_slot (
	integration		text PRIMARY KEY,
	slot_name		name NOT NULL UNIQUE,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_run_id	bigint,
	consistent_lsn	pg_catalog.pg_lsn NOT NULL,	/* the slot's first change is after it */
	confirmed_lsn	pg_catalog.pg_lsn,			/* the last flush position the puller confirmed */
	confirmed_at	timestamptz
);
COMMENT ON TABLE pgpull.integration_slot IS 'the logical replication slot of each integration with log-based streams, as the puller made it';

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

CREATE FUNCTION pgpull.slot_name(integration text DEFAULT 'default')
RETURNS name
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._logical_name(ARRAY[pg_catalog.current_database()::text, slot_name.integration])
$fn$;
COMMENT ON FUNCTION pgpull.slot_name(text) IS 'the name of the logical replication slot of an integration in this database';

CREATE FUNCTION pgpull.publication_name(integration text DEFAULT 'default')
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._logical_name(ARRAY[publication_name.integration])
$fn$;
COMMENT ON FUNCTION pgpull.publication_name(text) IS 'the name of the publication of an integration''s log_based streams';
REVOKE ALL ON pgpull.integration_slot FROM PUBLIC;
ALTER TABLE pgpull.run_streams ADD COLUMN streaming boolean NOT NULL DEFAULT false,
	ADD COLUMN copied boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pgpull.run_streams.copied IS 'log_based: the run copied the relation to its end (a Singer target confirms it with the stream''s changes)';
COMMENT ON COLUMN pgpull.run_streams.streaming IS 'log_based: the run sends the stream''s changes from the replication slot (after its copy, if it made one)';

CREATE FUNCTION pgpull._slot_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT 1397702237;
$fn$;
COMMENT ON FUNCTION pgpull._slot_lock_class() IS 'internal: first key of the advisory lock on an integration''s replication slot';

CREATE FUNCTION pgpull._log_schema(json_schema jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.jsonb_set(json_schema, '{properties,_sdc_deleted_at}',
								'{"type": ["null", "string"], "format": "date-time"}')
$fn$;
COMMENT ON FUNCTION pgpull._log_schema(jsonb) IS 'internal: the JSON Schema of a log_based stream: its columns'' and _sdc_deleted_at';

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


/*
 * Log-based replication, the DBA's side (62_logical_admin.sql):
 * publication_script, check_primary and slot_status; the REPLICATION
 * attribute in grant_script and check_privileges, wal_level, publications
 * and slots in check_privileges and status_attention; the next action of
 * log_based streams in stream_status; NOTICEs of untrack and reset.
 */

CREATE FUNCTION pgpull._log_based_streams(integration text)
RETURNS TABLE (integration text, stream_id bigint, relation pg_catalog.oid, relation_name text, dropped boolean,
			   key_columns name[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.integration, s.stream_id, s.relation::pg_catalog.oid, s.relation_name,
		   NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation), s.key_columns
	  FROM pgpull.stream s
	 WHERE s.method = 'log_based'
	   AND (_log_based_streams.integration IS NULL OR s.integration = _log_based_streams.integration)
	 ORDER BY s.integration COLLATE "C", s.relation_name COLLATE "C", s.stream_id;
$fn$;
COMMENT ON FUNCTION pgpull._log_based_streams(text) IS 'internal: the log_based streams of an integration (NULL: of all), and whether their relation still exists';

CREATE FUNCTION pgpull._slot_integrations()
RETURNS TABLE (integration text, slot_name name)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	RETURN QUERY
	SELECT x.integration, pgpull.slot_name(x.integration)
	  FROM (SELECT i AS integration FROM pgpull._integrations() i
			UNION
			SELECT l.integration FROM pgpull.integration_slot l) x
	 ORDER BY x.integration COLLATE "C";
END
$fn$;
COMMENT ON FUNCTION pgpull._slot_integrations() IS 'internal: the integrations that may have a replication slot in this database, with its name';

CREATE FUNCTION pgpull._has_replication(role pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT COALESCE((SELECT r.rolsuper OR r.rolreplication FROM pg_catalog.pg_roles r WHERE r.oid = _has_replication.role), false)
		OR EXISTS (SELECT FROM pg_catalog.pg_roles g
					WHERE g.rolname = 'rds_replication'
					  AND pg_catalog.pg_has_role(_has_replication.role, g.oid, 'MEMBER'));
$fn$;
COMMENT ON FUNCTION pgpull._has_replication(pg_catalog.oid) IS 'internal: whether a role may open replication connections (superuser, REPLICATION, or rds_replication)';

CREATE FUNCTION pgpull._replication_comments(role name, role_oid pg_catalog.oid, integrations text)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF _replication_comments.role_oid IS NOT NULL AND pgpull._has_replication(_replication_comments.role_oid) THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'log_based streams of integration %s are read over a replication connection: role %s may open one (superuser, REPLICATION or rds_replication)',
			_replication_comments.integrations, pgpull._quoted(_replication_comments.role)));
	ELSE
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'log_based streams of integration %s are read over a replication connection, which takes the REPLICATION attribute; on PostgreSQL 15 only a superuser can give it: as a superuser, run: ALTER ROLE %I REPLICATION;',
			_replication_comments.integrations, _replication_comments.role));
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'on RDS and Aurora, instead: GRANT rds_replication TO %I; with rds.logical_replication = 1 in the DB parameter group (the DB cluster parameter group on Aurora), which takes a reboot',
			_replication_comments.role));
	END IF;
	RETURN NEXT pgpull._comment(
		'the replication connection (replication=database) logs in as the role, with LOGIN, and pg_hba.conf matches it with the lines for the database, as its other connections: the "replication" keyword is for physical replication only, so no line is needed for it');
END
$fn$;
COMMENT ON FUNCTION pgpull._replication_comments(name, pg_catalog.oid, text) IS 'internal: grant_script''s comment rows on the REPLICATION attribute log_based streams need';

CREATE FUNCTION pgpull._publication_state(integration text,
										  OUT publication name, OUT pub_exists boolean, OUT pub_owner name,
										  OUT all_tables boolean, OUT has_schemas boolean,
										  OUT publishes_all boolean, OUT via_root boolean,
										  OUT live text[], OUT missing text[], OUT extra text[], OUT filtered text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_oid pg_catalog.oid;
BEGIN
	publication := pgpull.publication_name(_publication_state.integration);
	SELECT p.oid, r.rolname, p.puballtables,
		   p.pubinsert AND p.pubupdate AND p.pubdelete AND p.pubtruncate, p.pubviaroot
	  INTO v_oid, pub_owner, all_tables, publishes_all, via_root
	  FROM pg_catalog.pg_publication p
	  JOIN pg_catalog.pg_roles r ON r.oid = p.pubowner
	 WHERE p.pubname = publication;
	pub_exists := v_oid IS NOT NULL;
	has_schemas := pub_exists
		AND EXISTS (SELECT FROM pg_catalog.pg_publication_namespace pn WHERE pn.pnpubid = v_oid);

	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}'),
		   COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C")
					FILTER (WHERE NOT (pub_exists
				AND (all_tables
					 OR EXISTS (SELECT FROM pg_catalog.pg_publication_rel pr
								 WHERE pr.prpubid = v_oid AND pr.prrelid = l.relation)
					 OR EXISTS (SELECT FROM pg_catalog.pg_publication_namespace pn
								 WHERE pn.pnpubid = v_oid AND pn.pnnspid = c.relnamespace)))), '{}')
	  INTO live, missing
	  FROM pgpull._log_based_streams(_publication_state.integration) l
	  JOIN pg_catalog.pg_class c ON c.oid = l.relation
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE NOT l.dropped;

	/* the tables listed in it that no log_based stream of the integration tracks */
	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}')
	  INTO extra
	  FROM pg_catalog.pg_publication_rel pr
	  JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE pr.prpubid = v_oid
	   AND pr.prrelid NOT IN (SELECT l.relation FROM pgpull._log_based_streams(_publication_state.integration) l
							  WHERE NOT l.dropped);

	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}')
	  INTO filtered
	  FROM pg_catalog.pg_publication_rel pr
	  JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE pr.prpubid = v_oid
	   AND (pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL);
END
$fn$;
COMMENT ON FUNCTION pgpull._publication_state(text) IS 'internal: the publication of an integration against its log_based streams: missing, extra and filtered tables, options';

CREATE FUNCTION pgpull._log_based_checks(role name, integrations text[])
RETURNS TABLE (object_type text, object_name text, privilege text, ok boolean,
			   detail text, fix text, kind text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_role pg_catalog.oid;
	v_integrations text[];
	v_list text;
	v_pub record;
	v_stream record;
BEGIN
	SELECT pg_catalog.array_agg(x.integration ORDER BY x.integration COLLATE "C") INTO v_integrations
	  FROM (SELECT DISTINCT l.integration FROM pgpull._log_based_streams(NULL) l
			 WHERE l.integration = ANY (_log_based_checks.integrations)) x;
	IF v_integrations IS NULL THEN
		RETURN;
	END IF;
	v_list := (SELECT pg_catalog.string_agg(pgpull._quoted(i), ', ') FROM pg_catalog.unnest(v_integrations) i);

	kind := 'required';
	IF _log_based_checks.role IS NOT NULL THEN
		v_role := pgpull._role_oid(_log_based_checks.role);
		object_type := 'role';
		object_name := pg_catalog.quote_ident(_log_based_checks.role);
		privilege := 'REPLICATION';
		ok := pgpull._has_replication(v_role);
		SELECT CASE WHEN r.rolsuper THEN 'held as superuser'
					WHEN r.rolreplication THEN 'the role has the REPLICATION attribute'
					WHEN ok THEN pg_catalog.format('held through membership in role %s', pgpull._quoted('rds_replication'))
					ELSE pg_catalog.format('log_based streams of integration %s are read over a replication connection, which takes the REPLICATION attribute: only a superuser can give it; on RDS and Aurora, GRANT rds_replication TO %I instead, with rds.logical_replication = 1',
										   v_list, _log_based_checks.role) END
		  INTO detail
		  FROM pg_catalog.pg_roles r WHERE r.oid = v_role;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER ROLE %I REPLICATION', _log_based_checks.role) END;
		RETURN NEXT;
	END IF;

	object_type := 'setting';
	object_name := 'wal_level';
	privilege := 'logical';
	ok := pg_catalog.current_setting('wal_level') = 'logical';
	detail := CASE WHEN ok THEN 'the write-ahead log can be decoded'
				   ELSE pg_catalog.format('wal_level is %s: the write-ahead log cannot be decoded, so log_based streams of integration %s cannot be read; the setting takes effect after a restart (on RDS and Aurora: rds.logical_replication = 1)',
										  pg_catalog.current_setting('wal_level'), v_list) END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET wal_level = logical; -- then restart the server' END;
	RETURN NEXT;

	object_type := 'publication';
	FOR v_pub IN
		SELECT i AS integration, p.* FROM pg_catalog.unnest(v_integrations) WITH ORDINALITY AS u(i, o)
		 CROSS JOIN LATERAL pgpull._publication_state(u.i) p
		 ORDER BY u.o
	LOOP
		object_name := pg_catalog.quote_ident(v_pub.publication);
		kind := 'required';
		privilege := 'PUBLISH';
		ok := v_pub.pub_exists AND pg_catalog.cardinality(v_pub.missing) = 0
			AND pg_catalog.cardinality(v_pub.filtered) = 0 AND v_pub.publishes_all AND v_pub.via_root;
		detail := CASE WHEN NOT v_pub.pub_exists
					   THEN pg_catalog.format('the publication of integration %s does not exist: its log_based streams fail', pgpull._quoted(v_pub.integration))
					   WHEN ok THEN pg_catalog.format('the publication covers every log_based stream of integration %s', pgpull._quoted(v_pub.integration))
					   ELSE pg_catalog.array_to_string(ARRAY[
							CASE WHEN pg_catalog.cardinality(v_pub.missing) > 0
								 THEN pg_catalog.format('the publication misses log_based streams of integration %s, which fail: %s',
														pgpull._quoted(v_pub.integration), pg_catalog.array_to_string(v_pub.missing, ', ')) END,
							CASE WHEN pg_catalog.cardinality(v_pub.filtered) > 0
								 THEN 'a row filter or column list hides changes of ' || pg_catalog.array_to_string(v_pub.filtered, ', ') END,
							CASE WHEN NOT v_pub.publishes_all
								 THEN 'the publication does not publish every kind of change (insert, update, delete, truncate)' END,
							CASE WHEN NOT v_pub.via_root
								 THEN 'publish_via_partition_root is off: the changes of a partitioned table come under its partitions'' names' END],
							'; ') END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('SELECT * FROM pgpull.publication_script(%L) \gexec', v_pub.integration) END;
		RETURN NEXT;

		kind := 'hazard';
		privilege := 'PUBLISH OTHER TABLES';
		ok := NOT v_pub.pub_exists
			OR NOT (v_pub.all_tables OR v_pub.has_schemas OR pg_catalog.cardinality(v_pub.extra) > 0);
		detail := CASE WHEN ok THEN 'the publication publishes no table but those of log_based streams'
					   WHEN v_pub.all_tables OR v_pub.has_schemas
					   THEN 'the publication publishes every table' || CASE WHEN v_pub.all_tables THEN '' ELSE ' of some schemas' END
							|| ': the changes of tables no log_based stream tracks are decoded and sent for nothing'
					   ELSE 'the publication publishes tables no log_based stream tracks, whose changes are decoded and sent for nothing: '
							|| pg_catalog.array_to_string(v_pub.extra, ', ') END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('SELECT * FROM pgpull.publication_script(%L) \gexec', v_pub.integration) END;
		RETURN NEXT;
	END LOOP;

	/* each stream's key columns are still the replica identity of its table */
	kind := 'required';
	privilege := 'REPLICA IDENTITY';
	FOR v_stream IN
		SELECT l.*, pgpull._relation_label(l.relation) AS label, pgpull._replica_identity(l.relation) AS identity
		  FROM pgpull._log_based_streams(NULL) l
		 WHERE l.integration = ANY (v_integrations) AND NOT l.dropped
		 ORDER BY pgpull._relation_label(l.relation) COLLATE "C", l.integration COLLATE "C"
	LOOP
		object_type := 'table';
		object_name := v_stream.label;
		ok := v_stream.identity = 'full' OR v_stream.identity = v_stream.key_columns::text;
		detail := CASE WHEN v_stream.identity = 'full' THEN 'REPLICA IDENTITY FULL: every change carries the whole old row'
					   WHEN ok THEN pg_catalog.format('the key columns %s are the replica identity', v_stream.key_columns)
					   WHEN v_stream.identity = 'nothing' THEN 'REPLICA IDENTITY NOTHING: the application''s UPDATE and DELETE on the published table fail, and deletes cannot be sent'
					   WHEN v_stream.identity = '{}' THEN 'the table has no primary key left: the application''s UPDATE and DELETE on the published table fail, and deletes cannot be sent'
					   ELSE pg_catalog.format('the write-ahead log names rows by %s, but the stream of integration %s sends them under %s',
											  v_stream.identity, pgpull._quoted(v_stream.integration), v_stream.key_columns) END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', v_stream.label) END;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._log_based_checks(name, text[]) IS 'internal: check_privileges'' rows for log_based streams: REPLICATION, wal_level, each publication';

CREATE FUNCTION pgpull.publication_script(integration text DEFAULT 'default')
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_state record;
	v_stream record;
	v_any boolean;
	v_live text[];
	v_slot name;
	v_slot_exists boolean;
	v_options constant text := 'publish = ''insert, update, delete, truncate'', publish_via_partition_root = true';
BEGIN
	IF publication_script.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Name the integration whose log_based streams the publication covers, such as ''default''.';
	END IF;
	SELECT * INTO v_state FROM pgpull._publication_state(publication_script.integration);
	v_slot := pgpull.slot_name(publication_script.integration);
	v_slot_exists := EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name = v_slot);
	v_any := EXISTS (SELECT FROM pgpull._log_based_streams(publication_script.integration));
	v_live := v_state.live;

	RETURN NEXT pgpull._comment(pg_catalog.format(
		'run as a role that owns the tables (or a superuser): publishing a table takes its ownership, creating the publication CREATE on database %s, and changing it ownership of publication %s',
		pgpull._quoted(pg_catalog.current_database()), pgpull._quoted(v_state.publication)));
	IF v_state.pub_exists AND NOT pg_catalog.pg_has_role(CURRENT_USER, v_state.pub_owner, 'MEMBER') THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'publication %s belongs to role %s, and the current role %s is not a member of it: run the script as %s or a superuser',
			pgpull._quoted(v_state.publication), pgpull._quoted(v_state.pub_owner),
			pgpull._quoted(CURRENT_USER), pgpull._quoted(v_state.pub_owner)));
	END IF;
	FOR v_stream IN SELECT * FROM pgpull._log_based_streams(publication_script.integration) l WHERE l.dropped LOOP
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'relation %s of stream %s no longer exists: skipped; untrack it with SELECT pgpull.untrack_stream(%s)',
			pgpull._quoted(v_stream.relation_name), v_stream.stream_id, v_stream.stream_id));
	END LOOP;

	IF NOT v_any THEN
		IF NOT v_state.pub_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'nothing to do: integration %s has no log_based stream and publication %s does not exist',
				pgpull._quoted(publication_script.integration), pgpull._quoted(v_state.publication)));
		ELSIF v_slot_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'integration %s has no log_based stream left, but its replication slot %s still exists: the next pgpull sync of the integration drops it; run this script again after it to drop publication %s (a slot that decodes a change made after the publication was dropped fails)',
				pgpull._quoted(publication_script.integration), pgpull._quoted(v_slot),
				pgpull._quoted(v_state.publication)));
		ELSE
			RETURN NEXT pg_catalog.format('DROP PUBLICATION %I', v_state.publication);
		END IF;
		RETURN;
	END IF;

	IF NOT v_state.pub_exists THEN
		IF v_slot_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'replication slot %s exists but publication %s does not: if it was dropped after the slot was made, the slot fails on the first change it decodes past the drop, and creating the publication again does not mend that',
				pgpull._quoted(v_slot), pgpull._quoted(v_state.publication)));
		END IF;
		IF pg_catalog.cardinality(v_live) = 0 THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'nothing to do: no relation of a log_based stream of integration %s exists',
				pgpull._quoted(publication_script.integration)));
		ELSE
			RETURN NEXT pg_catalog.format('CREATE PUBLICATION %I FOR TABLE %s WITH (%s)', v_state.publication,
										  pg_catalog.array_to_string(v_live, ', '), v_options);
		END IF;
		RETURN;
	END IF;

	IF v_state.all_tables THEN
		IF v_slot_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'publication %s publishes all tables and cannot be narrowed to a list, and replication slot %s reads it: it publishes the log_based streams, and every other table too',
				pgpull._quoted(v_state.publication), pgpull._quoted(v_slot)));
		ELSE
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'publication %s publishes all tables and cannot be narrowed to a list: the next statements drop it and create it again',
				pgpull._quoted(v_state.publication)));
			RETURN NEXT pg_catalog.format('DROP PUBLICATION %I', v_state.publication);
			IF pg_catalog.cardinality(v_live) > 0 THEN
				RETURN NEXT pg_catalog.format('CREATE PUBLICATION %I FOR TABLE %s WITH (%s)', v_state.publication,
											  pg_catalog.array_to_string(v_live, ', '), v_options);
			END IF;
		END IF;
		RETURN;
	END IF;

	IF pg_catalog.cardinality(v_state.missing) > 0 OR pg_catalog.cardinality(v_state.extra) > 0
	   OR pg_catalog.cardinality(v_state.filtered) > 0 OR v_state.has_schemas THEN
		IF pg_catalog.cardinality(v_live) > 0 THEN
			RETURN NEXT pg_catalog.format('ALTER PUBLICATION %I SET TABLE %s', v_state.publication,
										  pg_catalog.array_to_string(v_live, ', '));
		ELSIF pg_catalog.cardinality(v_state.extra) > 0 THEN
			/* no relation left to publish, and SET TABLE takes at least one */
			RETURN NEXT pg_catalog.format('ALTER PUBLICATION %I DROP TABLE %s', v_state.publication,
										  pg_catalog.array_to_string(v_state.extra, ', '));
		END IF;
	END IF;
	IF NOT v_state.publishes_all OR NOT v_state.via_root THEN
		RETURN NEXT pg_catalog.format('ALTER PUBLICATION %I SET (%s)', v_state.publication, v_options);
	END IF;
	IF pg_catalog.cardinality(v_state.missing) = 0 AND pg_catalog.cardinality(v_state.extra) = 0
	   AND pg_catalog.cardinality(v_state.filtered) = 0 AND NOT v_state.has_schemas
	   AND v_state.publishes_all AND v_state.via_root THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'nothing to do: publication %s covers exactly the log_based streams of integration %s',
			pgpull._quoted(v_state.publication), pgpull._quoted(publication_script.integration)));
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull.publication_script(text) IS 'statements (one per row, for \gexec) that create, update or drop the publication of an integration so it covers exactly its log_based streams';

CREATE FUNCTION pgpull.check_primary()
RETURNS TABLE (setting text, value text, recommended text, ok boolean, detail text, fix text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_standby boolean := pg_catalog.pg_is_in_recovery();
	v_na constant text := 'the server is a standby: the checks are for the primary, where log-based streams are read (a PostgreSQL 15 standby cannot decode the write-ahead log)';
	v_integrations integer;
	v_without_slot integer;
	v_idle integer;
	v_capacity record;
	v_max integer;
	v_ms bigint;
BEGIN
	SELECT pg_catalog.count(DISTINCT l.integration),
		   pg_catalog.count(DISTINCT l.integration)
			   FILTER (WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots r
										  WHERE r.slot_name = pgpull.slot_name(l.integration))),
		   pg_catalog.count(DISTINCT l.integration)
			   FILTER (WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots r
										  WHERE r.slot_name = pgpull.slot_name(l.integration) AND r.active))
	  INTO v_integrations, v_without_slot, v_idle
	  FROM pgpull._log_based_streams(NULL) l;

	setting := 'in_recovery';
	value := v_standby::text;
	recommended := 'false';
	ok := true;
	detail := CASE WHEN v_standby THEN v_na
				   ELSE 'the server is a primary: log-based streams read its write-ahead log' END;
	fix := NULL;
	RETURN NEXT;

	setting := 'wal_level';
	value := pg_catalog.current_setting('wal_level');
	recommended := 'logical';
	ok := v_standby OR value = 'logical';
	detail := CASE WHEN v_standby THEN v_na
				   WHEN ok THEN 'the write-ahead log can be decoded: log-based streams can be read'
				   ELSE pg_catalog.format('the write-ahead log cannot be decoded, so log-based streams cannot be read (integrations with some: %s); the setting takes effect after a restart',
										  v_integrations) END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET wal_level = logical; -- then restart the server' END;
	RETURN NEXT;

	FOR v_capacity IN
		SELECT * FROM (VALUES
			('max_replication_slots', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots)::integer,
			 v_without_slot, 'slots in use', 'integrations with log_based streams and no slot yet, one each to make'),
			('max_wal_senders', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication)::integer,
			 v_idle, 'replication connections open', 'integrations with log_based streams not streaming now, whose runs open one each'))
			AS c(name, used, needed, used_label, needed_label)
	LOOP
		setting := v_capacity.name;
		v_max := pg_catalog.current_setting(v_capacity.name)::integer;
		value := v_max::text;
		recommended := pg_catalog.format('at least %s', v_capacity.used + v_capacity.needed);
		ok := v_standby OR v_max - v_capacity.used >= v_capacity.needed;
		detail := CASE WHEN v_standby THEN v_na
					   ELSE pg_catalog.format('%s: %s; %s: %s', v_capacity.used_label, v_capacity.used,
											  v_capacity.needed_label, v_capacity.needed)
							|| CASE WHEN ok THEN pg_catalog.format('; free after them: %s', v_max - v_capacity.used - v_capacity.needed)
									ELSE '; a run that finds none free fails; the setting takes effect after a restart' END END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER SYSTEM SET %I = %s; -- then restart the server',
													   v_capacity.name, v_capacity.used + v_capacity.needed + 2) END;
		RETURN NEXT;
	END LOOP;

	setting := 'max_slot_wal_keep_size';
	value := pg_catalog.current_setting('max_slot_wal_keep_size');
	recommended := 'a finite size, such as 50GB';
	ok := v_standby OR value <> '-1';
	detail := CASE WHEN v_standby THEN v_na
				   WHEN ok THEN 'a slot keeps at most ' || value || ' of write-ahead log: past it the slot is invalidated and its log-based streams are copied again in full, but the disk never fills'
				   ELSE 'a slot keeps write-ahead log without limit: if its puller stops running, the primary''s disk fills; a limit (a share of the free disk, such as 50GB) invalidates the slot instead, and its log-based streams are copied again in full' END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET max_slot_wal_keep_size = ''50GB''; SELECT pg_reload_conf();' END;
	RETURN NEXT;

	setting := 'wal_sender_timeout';
	SELECT s.setting::bigint INTO v_ms FROM pg_catalog.pg_settings s WHERE s.name = 'wal_sender_timeout';
	value := pg_catalog.current_setting('wal_sender_timeout');
	recommended := '10s or more, not 0';
	ok := v_standby OR v_ms >= 10000;
	detail := CASE WHEN v_standby THEN v_na
				   WHEN v_ms = 0 THEN 'a replication connection whose puller vanished is never timed out: its slot stays active, and the next run cannot use it until TCP gives up on the connection'
				   WHEN NOT ok THEN 'replication connections are dropped after ' || value || ' without a reply: a puller on a slow network or a busy destination may be cut off mid-run'
				   ELSE 'a replication connection whose puller vanished is closed after ' || value END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET wal_sender_timeout = ''60s''; SELECT pg_reload_conf();' END;
	RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION pgpull.check_primary() IS 'primary checks for log-based replication: wal_level, free replication slots and WAL senders, max_slot_wal_keep_size, wal_sender_timeout; all ok on a standby';

CREATE FUNCTION pgpull.slot_status(integration text DEFAULT NULL)
RETURNS TABLE (integration text, slot_name name, active boolean, wal_status text, retained_wal bigint,
			   lag bigint, confirmed_flush_lsn pg_catalog.pg_lsn, restart_lsn pg_catalog.pg_lsn,
			   safe_wal_size bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT i.integration, i.slot_name, r.active, r.wal_status,
		   (w.now - r.restart_lsn)::bigint, (w.now - r.confirmed_flush_lsn)::bigint,
		   r.confirmed_flush_lsn, r.restart_lsn, r.safe_wal_size
	  FROM pgpull._slot_integrations() i
	  JOIN pg_catalog.pg_replication_slots r
		ON r.slot_name = i.slot_name AND r.database = pg_catalog.current_database()
	 CROSS JOIN (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
							 ELSE pg_catalog.pg_current_wal_lsn() END AS now) w
	 WHERE slot_status.integration IS NULL OR i.integration = slot_status.integration
	 ORDER BY i.integration COLLATE "C";
$fn$;
COMMENT ON FUNCTION pgpull.slot_status(text) IS 'the replication slots of the integrations the session''s role may run: active, wal_status, retained WAL and lag in bytes, confirmed position';

CREATE FUNCTION pgpull._log_based_left(integration text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_slot name := pgpull.slot_name(_log_based_left.integration);
	v_publication name := pgpull.publication_name(_log_based_left.integration);
	v_has_slot boolean;
	v_has_publication boolean;
BEGIN
	IF EXISTS (SELECT FROM pgpull.stream s
				WHERE s.integration = _log_based_left.integration AND s.method = 'log_based') THEN
		RETURN;
	END IF;
	v_has_slot := EXISTS (SELECT FROM pgpull.integration_slot l WHERE l.integration = _log_based_left.integration)
		OR EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name = v_slot);
	v_has_publication := EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = v_publication);
	IF NOT v_has_slot AND NOT v_has_publication THEN
		RETURN;
	END IF;
	RAISE NOTICE 'integration "%" has no log_based stream left', _log_based_left.integration
		USING DETAIL = CASE WHEN v_has_slot
							THEN pg_catalog.format('The next pgpull sync of the integration drops its replication slot %s.',
												   pgpull._quoted(v_slot))
							ELSE pg_catalog.format('Its publication %s publishes nothing pgpull reads.', pgpull._quoted(v_publication)) END,
			  HINT = CASE WHEN v_has_publication AND v_has_slot
						  THEN pg_catalog.format('After that run, drop publication %s with: SELECT * FROM pgpull.publication_script(%L) \gexec',
												 pgpull._quoted(v_publication), _log_based_left.integration)
						  WHEN v_has_publication
						  THEN pg_catalog.format('Drop it with: SELECT * FROM pgpull.publication_script(%L) \gexec',
												 _log_based_left.integration)
						  ELSE '' END;
END
$fn$;
COMMENT ON FUNCTION pgpull._log_based_left(text) IS 'internal: a NOTICE when an integration lost its last log_based stream but keeps a slot or publication';

CREATE FUNCTION pgpull._log_based_reset(integration text, relation text, count integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF _log_based_reset.count = 0 THEN
		RETURN;
	END IF;
	RAISE NOTICE '%', CASE WHEN _log_based_reset.relation IS NOT NULL
						   THEN pg_catalog.format('the log_based stream of relation %s in integration %s is copied again in full on its next run',
												  _log_based_reset.relation, pgpull._quoted(_log_based_reset.integration))
						   ELSE pg_catalog.format('integration %s has %s log_based %s: each is copied again in full on its next run',
												  pgpull._quoted(_log_based_reset.integration), _log_based_reset.count,
												  CASE WHEN _log_based_reset.count = 1 THEN 'stream' ELSE 'streams' END) END
		USING DETAIL = pg_catalog.format('After the copy, %s its changes from replication slot %s again.',
										 CASE WHEN _log_based_reset.relation IS NOT NULL THEN 'it streams' ELSE 'each streams' END,
										 pgpull._quoted(pgpull.slot_name(_log_based_reset.integration)));
END
$fn$;
COMMENT ON FUNCTION pgpull._log_based_reset(text, text, integer) IS 'internal: a NOTICE that reset log_based streams are copied again in full';

CREATE OR REPLACE FUNCTION pgpull.untrack(relation pg_catalog.regclass, integration text DEFAULT 'default')
RETURNS boolean
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_method text;
BEGIN
	DELETE FROM pgpull.stream s
	 WHERE s.integration = untrack.integration AND s.relation = untrack.relation
	RETURNING s.method INTO v_method;
	IF v_method = 'log_based' THEN
		PERFORM pgpull._log_based_left(untrack.integration);
	END IF;
	RETURN v_method IS NOT NULL;
END
$fn$;
COMMENT ON FUNCTION pgpull.untrack(pg_catalog.regclass, text) IS 'stop replicating a relation in an integration; true when it was tracked';


REVOKE EXECUTE ON FUNCTION pgpull.publication_script(text),
	pgpull.check_primary(),
	pgpull.slot_status(text)
	FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._log_based_left(text),
	pgpull._log_based_reset(text, text, integer)
	FROM PUBLIC;

CREATE FUNCTION pgpull._reset_streams(integration text, relation pg_catalog.regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_stream record;
	v_count integer := 0;
	v_log_based integer := 0;
BEGIN
	FOR v_stream IN SELECT s.stream_id, s.method FROM pgpull.stream s
					 WHERE s.integration = _reset_streams.integration
					   AND (_reset_streams.relation IS NULL OR s.relation = _reset_streams.relation)
					   FOR UPDATE
	LOOP
		PERFORM pgpull._reset_stream(v_stream.stream_id);
		v_count := v_count + 1;
		IF v_stream.method = 'log_based' THEN
			v_log_based := v_log_based + 1;
		END IF;
	END LOOP;
	PERFORM pgpull._log_based_reset(_reset_streams.integration, pgpull._relation_label(_reset_streams.relation),
									v_log_based);
	RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION pgpull._reset_streams(text, pg_catalog.regclass) IS 'internal: reset the streams of an integration (of one relation, or all); returns how many';
REVOKE EXECUTE ON FUNCTION pgpull._reset_streams(text, pg_catalog.regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgpull.reset(relation pg_catalog.regclass, integration text DEFAULT 'default')
RETURNS integer
LANGUAGE sql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._reset_streams(reset.integration, reset.relation);
$fn$;
COMMENT ON FUNCTION pgpull.reset(pg_catalog.regclass, text) IS 'clear the bookmark and resume position of a stream; returns the number of streams reset';

CREATE OR REPLACE FUNCTION pgpull.reset_integration(integration text)
RETURNS integer
LANGUAGE sql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._reset_streams(reset_integration.integration, NULL);
$fn$;
COMMENT ON FUNCTION pgpull.reset_integration(text) IS 'clear the bookmarks and resume positions of every stream of an integration; returns the number reset';

/* loading_report: the slot's retained WAL and lag of log_based streams */
CREATE OR REPLACE VIEW pgpull.loading_report AS
SELECT s.integration,
	   s.destination_table,
	   CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation)
			THEN pgpull._relation_label(s.relation)
			ELSE s.relation_name END AS relation,
	   s.method,
	   GREATEST(a.last_succeeded, a.last_batch_at) AS last_load_at,
	   l.status AS last_status,
	   COALESCE(a.rows_24h, 0)::bigint AS rows_loaded_24h,
	   CASE WHEN s.method = 'key_based' AND s.bookmark IS NOT NULL
			THEN s.replication_key || ': ' || s.bookmark
			ELSE 'Bookmark Unavailable' END AS max_bookmark,
	   l.ended_at - l.started_at AS last_run_duration,
	   CASE WHEN l.ended_at > l.started_at
			THEN pg_catalog.round(l.rows_loaded / EXTRACT(epoch FROM l.ended_at - l.started_at), 1) END AS rows_per_second,
	   pg_catalog.now() - a.last_success AS staleness,
	   ls.retained_wal AS slot_retained_wal,
	   ls.lag AS slot_lag
  FROM pgpull.stream s
  LEFT JOIN LATERAL (
		SELECT pg_catalog.max(rs.ended_at) FILTER (WHERE rs.status = 'succeeded' AND rs.rows_loaded > 0) AS last_succeeded,
			   pg_catalog.max(rs.last_batch_at) AS last_batch_at,
			   pg_catalog.sum(rs.rows_loaded) FILTER (WHERE rs.started_at >= pg_catalog.now() - interval '24 hours') AS rows_24h,
			   pg_catalog.max(rs.ended_at) FILTER (WHERE rs.status = 'succeeded') AS last_success
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id) AS a ON true
  LEFT JOIN LATERAL (
		SELECT rs.status, rs.started_at, rs.ended_at, rs.rows_loaded
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id AND rs.status <> 'skipped'
		 ORDER BY rs.started_at DESC, rs.run_id DESC
		 LIMIT 1) AS l ON true
  /* log_based: the write-ahead log the integration's slot retains, and its lag, in bytes */
  LEFT JOIN LATERAL (
		SELECT st.retained_wal, st.lag FROM pgpull.slot_status(s.integration) st) AS ls
	ON s.method = 'log_based';
COMMENT ON VIEW pgpull.loading_report IS 'per stream: last load, last status, rows loaded in 24 hours, bookmark as "column: value", last sync''s duration and rows per second, staleness, and for log_based streams their slot''s retained WAL and lag in bytes';
CREATE FUNCTION pgpull._replica_identity(relation pg_catalog.oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE c.relreplident
				WHEN 'f' THEN 'full'
				WHEN 'n' THEN 'nothing'
				ELSE COALESCE((SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)::text
								 FROM pg_catalog.pg_index i,
									  pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord),
									  pg_catalog.pg_attribute a
								WHERE i.indrelid = c.oid
								  AND CASE c.relreplident WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END
								  AND a.attrelid = c.oid AND a.attnum = k.attnum), '{}') END
	  FROM pg_catalog.pg_class c
	 WHERE c.oid = _replica_identity.relation;
$fn$;
COMMENT ON FUNCTION pgpull._replica_identity(pg_catalog.oid) IS 'internal: a table''s replica identity: full, nothing, or its key columns';

/* stream_status: a log_based stream's next action names its slot's retained WAL and lag */
CREATE OR REPLACE VIEW pgpull.stream_status AS
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
REVOKE EXECUTE ON FUNCTION pgpull._require_published(pgpull.stream),
	pgpull._reset_log_streams(pgpull.runs, text),
	pgpull._require_slot(pgpull.runs),
	pgpull._advance_lsn(pgpull.stream, text),
	pgpull.slot_plan(bigint),
	pgpull.slot_created(bigint, pg_catalog.pg_lsn),
	pgpull.slot_dropped(bigint),
	pgpull.slot_confirmed(bigint, pg_catalog.pg_lsn),
	pgpull.copy_sequence(bigint, bigint),
	pgpull.take_log_stream(bigint, bigint),
	pgpull.log_query(bigint, bigint, name[]),
	pgpull.slot_blockers(bigint),
	pgpull.slot_state_entry(bigint, pg_catalog.pg_lsn),
	pgpull._lsn_of(pgpull.stream, text),
	pgpull._log_state_entry(pgpull.runs, pgpull.stream, text, bigint, boolean),
	pgpull._commit_slot(text, bigint, text, jsonb)
	FROM PUBLIC;
DO $update$
DECLARE
	v_role name;
	v_function text;
BEGIN
	FOR v_role IN
		SELECT r.rolname FROM pg_catalog.pg_roles r
		 WHERE r.rolname <> CURRENT_USER AND NOT r.rolsuper
		   AND pg_catalog.has_function_privilege(r.oid, 'pgpull.begin_run(text,text,text)', 'EXECUTE')
		 ORDER BY r.rolname
	LOOP
		FOREACH v_function IN ARRAY ARRAY['pgpull.slot_plan(bigint)', 'pgpull.slot_created(bigint,pg_lsn)',
										  'pgpull.slot_dropped(bigint)', 'pgpull.slot_confirmed(bigint,pg_lsn)',
										  'pgpull.copy_sequence(bigint,bigint)', 'pgpull.take_log_stream(bigint,bigint)',
										  'pgpull.log_query(bigint,bigint,name[])', 'pgpull.slot_blockers(bigint)',
										  'pgpull.slot_state_entry(bigint,pg_lsn)'] LOOP
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', v_function, v_role);
		END LOOP;
	END LOOP;
END
$update$;
