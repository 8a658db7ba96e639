/*
 * 80_singer.sql: Singer state.
 *
 * Singer: bookmarks that move only when the target confirms them.
 *
 * With a Singer target (pgpull sync --target - or --target-command) the
 * puller writes SCHEMA, RECORD, STATE and ACTIVATE_VERSION messages instead
 * of posting batches, and sending moves no bookmark: a Singer target loads
 * rows on its own schedule, and tells what it has stored by echoing, on its
 * standard output, the latest STATE value it received before the rows it
 * has just committed.  The functions of this file:
 *
 *	 record_emitted(run_id, stream_id, rows, bytes, last_position, lossy, complete)
 *		count rows sent to the target (never a bookmark) and return the
 *		stream's entry for the STATE message that follows them
 *	 end_singer_stream(run_id, stream_id, status, rows_extracted, error)
 *		end_stream of a Singer run: records the outcome, moves nothing
 *	 commit_state(state)
 *		a state value a target echoed: advance the bookmarks it names,
 *		never backwards
 *
 * The STATE value the puller writes (each one carries every stream the run
 * has sent so far, as a target echoes only its latest state):
 *
 *	 {"pgpull": {"version": 1, "integration": NAME, "run_id": N},
 *	  "currently_syncing": DESTINATION_TABLE or null,
 *	  "bookmarks": {DESTINATION_TABLE: ENTRY, ...}}
 *
 * ENTRY, built by record_emitted:
 *
 *	 stream_id				the catalog stream (checked against the key and
 *							the integration when confirmed)
 *	 relation				"schema.table", for people
 *	 method					"key_based" or "full_table"
 *	 replication_key		the column, or null
 *	 replication_key_value	key_based: the key of the last row sent (ISO
 *							text), or the bookmark the run started from
 *							while none was sent; null for full_table
 *	 position				the position of the last row sent in this run
 *							(null before the first, and for streams read in
 *							one pass)
 *	 version				full_table: the table version of the run
 *	 complete				the stream was sent to its end
 *	 rows					rows sent in this run so far
 *	 mac					HMAC-SHA-256 of the run and the rest of the
 *							entry, keyed by the integration's secret
 *							(_entry_mac), which the puller's role cannot read
 *
 * Only entries whose MAC verifies, of a run of the state's integration,
 * move anything: commit_state returns the others as rows whose detail
 * starts with "rejected" (a hand-written or edited state, a state without
 * a run, a run deleted since), and logs them.
 *
 * Confirmed, a key_based entry moves the bookmark to its
 * replication_key_value (greatest, in the key's type).  A full_table entry
 * of the stream's current table version moves the resume position to its
 * position (when after the stored one), or, complete, clears it and marks
 * the version complete, so the next run starts a new version; an entry of
 * another version, or of a version already confirmed complete, moves
 * nothing.  An entry of a stream reset since its run took it moves
 * nothing either.  Until a target confirms, the next run starts from the
 * confirmed bookmark and sends again what was not confirmed:
 * at-least-once.
 */

/*
 * _singer_run: the run of a Singer target, locked; 55000 when the run
 * sends elsewhere.
 */
CREATE FUNCTION pgpull._singer_run(run_id bigint, running boolean)
RETURNS pgpull.runs
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_run pgpull.runs := pgpull._run(_singer_run.run_id, _singer_run.running);
BEGIN
	IF v_run.target IS DISTINCT FROM 'singer' THEN
		RAISE EXCEPTION 'run % does not send to a Singer target', v_run.run_id
			USING ERRCODE = '55000',
				  DETAIL = pg_catalog.format('Its target kind is %s.', COALESCE(v_run.target, 'unknown')),
				  HINT = 'Begin the run with target kind "singer", or use pgpull.record_batch and pgpull.end_stream.';
	END IF;
	RETURN v_run;
END
$fn$;
COMMENT ON FUNCTION pgpull._singer_run(bigint, boolean) IS 'internal: a run of a Singer target, locked, or an error';

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

/*
 * _is_count: whether a JSON value is a non-negative integer that fits a
 * bigint.
 */
CREATE FUNCTION pgpull._is_count(value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT COALESCE(pg_catalog.jsonb_typeof(_is_count.value) = 'number'
					AND (_is_count.value #>> '{}') ~ '^[0-9]{1,18}$', false);
$fn$;
COMMENT ON FUNCTION pgpull._is_count(jsonb) IS 'internal: whether a JSON value is a non-negative bigint';

/*
 * _state_entry: a stream's bookmark entry for the STATE messages of a run
 * (see the top of this file), with its MAC: key_value the replication key
 * value (key_based), position that of the last row sent or NULL, complete
 * whether the stream was sent to its end, rows the rows sent in the run.
 */
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
CREATE FUNCTION pgpull.record_emitted(run_id bigint, stream_id bigint, rows bigint, bytes bigint,
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
 * end_singer_stream: the outcome of a stream in a run of a Singer target,
 * 'succeeded' or 'failed'.  Unlike end_stream it moves nothing: a full_table
 * stream keeps its resume position until the target confirms the whole
 * table version (commit_state).  Releases the stream's advisory lock.
 */
CREATE FUNCTION pgpull.end_singer_stream(run_id bigint, stream_id bigint, status text, rows_extracted bigint,
										 error text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	PERFORM pgpull._singer_run(end_singer_stream.run_id, false);
	PERFORM pgpull._end_stream(end_singer_stream.run_id, end_singer_stream.stream_id, end_singer_stream.status,
							   end_singer_stream.rows_extracted, end_singer_stream.error, true);
END
$fn$;
COMMENT ON FUNCTION pgpull.end_singer_stream(bigint, bigint, text, bigint, text) IS 'record the outcome of a stream sent to a Singer target and release its lock; moves no bookmark';

/*
 * _state_error: raise 22023 for a state value that is not what pgpull
 * writes.
 */
CREATE FUNCTION pgpull._state_error(message text, detail text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	RAISE EXCEPTION '%', _state_error.message
		USING ERRCODE = '22023',
			  DETAIL = _state_error.detail,
			  HINT = 'Pass a state value a Singer target echoed after loading the messages of pgpull sync, unchanged.';
END
$fn$;
COMMENT ON FUNCTION pgpull._state_error(text, text) IS 'internal: the error of a state value pgpull did not write';

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
CREATE FUNCTION pgpull.commit_state(state jsonb)
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
