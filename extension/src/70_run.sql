/*
 * 70_run.sql: the run protocol.
 *
 * The run protocol: the functions the puller calls, in the order it calls
 * them (README.md, "The run protocol", is the contract):
 *
 *	 version()											the extension's version
 *	 database_id()										the database's identity
 *	 begin_run(integration, puller_version, target_kind)	a run and its streams
 *	 probe_query(run_id), record_unchanged(run_id, stream_ids)
 *														the streams with nothing new
 *														(72_probe.sql)
 *	 take_stream(run_id, stream_id)						lock a stream, or skip it
 *	 (take_range(run_id, stream_id, jobs, chunk_rows)	or a key range of it:
 *														72_ranges.sql)
 *	 extraction_query(run_id, stream_id, after_position, chunk_rows)
 *														the SQL of the next chunk
 *	 record_batch(run_id, stream_id, rows, bytes, last_position, lossy)
 *														a batch the destination accepted
 *	 log(run_id, stream_id, level, message)				an extraction log line
 *	 end_stream(run_id, stream_id, status, rows_extracted, error)
 *	 end_run(run_id, status, error)
 *
 * and the view pgpull.loading_report (80_singer.sql adds record_emitted,
 * end_singer_stream and commit_state).  Every function is SECURITY DEFINER
 * (the puller's role writes the catalog only through them), EXECUTE is
 * revoked from PUBLIC, and grant_script grants it on the list in
 * pgpull._puller_functions() (90_privileges.sql).
 *
 * Positions.  The extraction query gives every row a position: a JSON array
 * of the text of the row's replication key then key columns (key_based) or
 * of its key columns (full_table), each in ISO form (date "2024-02-29",
 * timestamp "2024-02-29T12:34:56.789", timestamptz in UTC with "Z", numbers
 * as their text).  The puller hands positions back without reading them.
 * The next chunk starts strictly after a position (a row comparison on the
 * columns' own types, so equal replication keys never loop or skip across
 * chunks); a key_based stream's first chunk starts at its bookmark,
 * inclusive; a full_table stream's first chunk starts after the position
 * last accepted by the destination when the previous run was interrupted.
 *
 * NULL replication keys.  On a stream's first run (no bookmark when it was
 * taken) the rows whose key is NULL come first, ordered by the key columns:
 * their positions start with null.  Later runs skip them; take_stream
 * counts and logs them.
 *
 * Commit-safe watermark (date and time replication keys).  A transaction
 * still open when a chunk's snapshot is taken may commit later a row whose
 * key is its start time (now()), below keys the chunk sends; a bookmark
 * past it would make ">=" miss that row forever.  So the bookmark never
 * passes a cap no later than the start of any transaction open when the
 * chunk's snapshot was taken: the chunk still reads every row (fresh rows
 * are never held back), marks those at or after the cap, and record_cap
 * keeps the bookmark at or below it, so the next run reads them again
 * (counted in run_streams.rows_resent), with any row committed late.  The cap
 * comes from samples taken on the state connection (the primary):
 * _watermark_sample reads the start of every open transaction of the
 * database (pg_stat_activity.xact_start) and then takes a transaction ID;
 * the sample's cap is the oldest such start (at most the sample's time
 * minus 10 ms).  A sample is valid for a chunk snapshot that is "after"
 * it: on a primary, one whose xmax passed the sample's transaction ID (it
 * was taken after the sample committed); on a standby, one whose xmin
 * passed it (every transaction that had an ID when the sample was taken
 * has finished there); in the sample's own transaction, a later
 * statement's snapshot under READ COMMITTED.  The chunk query carries the
 * newest sample and a few older ones, and uses the newest valid one; none
 * valid (a standby far behind) means the cap -infinity: the bookmark does
 * not move this time.  Keys in the future (and infinity) are past the cap:
 * sent, and again until their time has come.  timestamp keys are
 * capped in the writers' local time (UTC, the database's and the session's
 * time zones, the earliest); date keys at the day of the cap (rows dated
 * after it are past it).  Other key types get no cap: extraction_query logs a
 * warning when writing transactions are open.  A transaction open for more
 * than 5 minutes holds the cap back: extraction_query logs a warning too.
 */


/*
 * _log_line: append a line the extension writes on its own to the
 * extraction log, and raise it to the client as well (a NOTICE, or a
 * WARNING for warnings), so the puller prints it on stderr beside its own
 * lines.  Lines the puller sends through pgpull.log it has printed itself.
 */
CREATE FUNCTION pgpull._log_line(run_id bigint, stream_id bigint, level text, message text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
	VALUES (_log_line.run_id, _log_line.stream_id, _log_line.level, _log_line.message);
	IF _log_line.level IN ('WARNING', 'ERROR', 'CRITICAL') THEN
		RAISE WARNING USING MESSAGE = _log_line.message;
	ELSIF _log_line.level = 'INFO' THEN
		RAISE NOTICE USING MESSAGE = _log_line.message;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._log_line(bigint, bigint, text, text) IS 'internal: an extraction log line written by the extension, also raised to the client';

/*
 * _lock_class, _run_lock_class: the first key of the advisory locks on
 * streams, pg_try_advisory_lock(_lock_class(), stream_id::int4), and on
 * runs (held by the puller's state session from begin_run to end_run).
 * hashtext('pgpull') and hashtext('pgpull run'), frozen.
 */
CREATE FUNCTION pgpull._lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT -431050265;
$fn$;
COMMENT ON FUNCTION pgpull._lock_class() IS 'internal: first key of the advisory lock on a stream (the second is its stream_id)';

CREATE FUNCTION pgpull._run_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT 2012971640;
$fn$;
COMMENT ON FUNCTION pgpull._run_lock_class() IS 'internal: first key of the advisory lock on a run (the second is its run_id)';

/*
 * _lock_holder: the PID of the session holding advisory lock (class, id)
 * in this database, or NULL.
 */
CREATE FUNCTION pgpull._lock_holder(class integer, id bigint)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT l.pid
	  FROM pg_catalog.pg_locks l
	 WHERE l.locktype = 'advisory'
	   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
						  WHERE d.datname = pg_catalog.current_database())
	   AND l.classid = _lock_holder.class::pg_catalog.oid
	   AND l.objid = _lock_holder.id::integer::pg_catalog.oid
	   AND l.objsubid = 2
	   AND l.granted
	 LIMIT 1;
$fn$;
COMMENT ON FUNCTION pgpull._lock_holder(integer, bigint) IS 'internal: the PID holding an advisory lock of pgpull, or NULL';

/*
 * _unlock: release advisory lock (class, id) when this session holds it
 * (every time it holds it), without the warning pg_advisory_unlock gives
 * for a lock not held.
 */
CREATE FUNCTION pgpull._unlock(class integer, id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	WHILE pgpull._lock_holder(_unlock.class, _unlock.id) IS NOT DISTINCT FROM pg_catalog.pg_backend_pid() LOOP
		PERFORM pg_catalog.pg_advisory_unlock(_unlock.class, _unlock.id::integer);
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._unlock(integer, bigint) IS 'internal: release a pgpull advisory lock this session holds';

/*
 * _base_type: a type with its domains resolved.
 */
CREATE FUNCTION pgpull._base_type(typ pg_catalog.oid)
RETURNS pg_catalog.oid
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_type pg_catalog.oid := _base_type.typ;
	v_base pg_catalog.oid;
BEGIN
	LOOP
		SELECT t.typbasetype INTO v_base FROM pg_catalog.pg_type t
		 WHERE t.oid = v_type AND t.typtype = 'd';
		EXIT WHEN v_base IS NULL;
		v_type := v_base;
		v_base := NULL;
	END LOOP;
	RETURN v_type;
END
$fn$;
COMMENT ON FUNCTION pgpull._base_type(pg_catalog.oid) IS 'internal: a type with its domains resolved';

/*
 * _key_text_expr: SQL turning the value of expression expr, of type typ,
 * into the ISO text of positions and bookmarks, whatever the session's
 * TimeZone and DateStyle: date "2024-02-29", timestamp
 * "2024-02-29T12:34:56.789" (the stored fraction), timestamptz the same in
 * UTC with "Z"; " BC" appended before Christ, "infinity" and "-infinity"
 * as such; every other type its text.  Each reads back with a cast to typ.
 * expr is repeated: it must be cheap (a column).
 */
CREATE FUNCTION pgpull._key_text_expr(expr text, typ pg_catalog.oid)
RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_base pg_catalog.oid := pgpull._base_type(_key_text_expr.typ);
	v_v text := _key_text_expr.expr;
BEGIN
	IF v_base <> _key_text_expr.typ THEN
		v_v := pg_catalog.format('(%s)::%s', v_v, pg_catalog.format_type(v_base, NULL));
	END IF;
	CASE v_base
	WHEN 'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype THEN
		RETURN pg_catalog.format(
			'CASE WHEN pg_catalog.isfinite(%1$s) THEN pg_catalog.btrim(pg_catalog.to_json(%1$s)::pg_catalog.text, ''"'')'
			' ELSE %1$s::pg_catalog.text END', v_v);
	WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype THEN
		RETURN pg_catalog.format(
			'CASE WHEN NOT pg_catalog.isfinite(%1$s) THEN %1$s::pg_catalog.text'
			' WHEN %1$s < ''0001-01-01 00:00:00+00''::pg_catalog.timestamptz'
			' THEN pg_catalog.replace(pg_catalog.btrim(pg_catalog.to_json(pg_catalog.timezone(''UTC'', %1$s))::pg_catalog.text, ''"''), '' BC'', ''Z BC'')'
			' ELSE pg_catalog.btrim(pg_catalog.to_json(pg_catalog.timezone(''UTC'', %1$s))::pg_catalog.text, ''"'') || ''Z'' END',
			v_v);
	ELSE
		RETURN pg_catalog.format('(%s)::pg_catalog.text', v_v);
	END CASE;
END
$fn$;
COMMENT ON FUNCTION pgpull._key_text_expr(text, pg_catalog.oid) IS 'internal: SQL giving the ISO text of a position or bookmark value';

/*
 * _capped_type: whether a replication key of base type typ has a
 * commit-safe cap (date and time types): its bookmark then stays below the
 * cap, and a later run continues strictly after it.
 */
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

/*
 * _run: the run row, locked; P0002 when there is none, 42501 when the
 * session's role may not run its integration, 55000 when it must be
 * running and is not.
 */
CREATE FUNCTION pgpull._run(run_id bigint, running boolean)
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
COMMENT ON FUNCTION pgpull._run(bigint, boolean) IS 'internal: a run, locked, or an error';

/*
 * _stream: the stream row of a run's integration, locked; P0002 when there
 * is none, 22023 when it belongs to another integration.
 */
CREATE FUNCTION pgpull._stream(run pgpull.runs, stream_id bigint)
RETURNS pgpull.stream
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_stream pgpull.stream;
BEGIN
	IF _stream.stream_id IS NULL THEN
		RAISE EXCEPTION 'stream_id must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'Streams are named by the stream_id pgpull.begin_run returns.',
				  HINT = 'Pass a stream_id pgpull.begin_run returned.';
	END IF;
	SELECT * INTO v_stream FROM pgpull.stream s WHERE s.stream_id = _stream.stream_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'stream % does not exist', _stream.stream_id
			USING ERRCODE = 'P0002',
				  DETAIL = 'It may have been untracked since the run began.',
				  HINT = 'Pass a stream_id pgpull.begin_run returned.';
	END IF;
	IF v_stream.integration <> (_stream.run).integration THEN
		RAISE EXCEPTION 'stream % does not belong to run %', _stream.stream_id, (_stream.run).run_id
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('The stream is of integration "%s", the run of integration "%s".',
											 v_stream.integration, (_stream.run).integration),
				  HINT = 'Pass a stream_id pgpull.begin_run returned for this run.';
	END IF;
	RETURN v_stream;
END
$fn$;
COMMENT ON FUNCTION pgpull._stream(pgpull.runs, bigint) IS 'internal: a stream of a run''s integration, locked, or an error';

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

/*
 * _running_stream: the run's row of a stream it has taken and not yet
 * ended, locked; an error (55000) when the run is not syncing it, or when
 * this session holds neither the stream's lock nor one of its ranges for
 * the run (72_ranges.sql).
 */
CREATE FUNCTION pgpull._running_stream(run pgpull.runs, stream pgpull.stream)
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
 * _fail_streams: the one way streams of a run fail without their puller
 * saying so (end_run of a run whose streams were not ended, begin_run of a
 * run whose puller died): each stream the run is still syncing gets the
 * error in its row of the run, and in the stream itself while that is
 * running (a stream reset, or synced by another run, since keeps its
 * status); its advisory lock is released when this session holds it, and
 * the ranges the run was reading that no session holds are pending again;
 * and the extraction log says so.
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
 * _relation_missing: the error message of a stream whose relation no
 * longer exists, or NULL when it exists.
 */
CREATE FUNCTION pgpull._relation_missing(stream pgpull.stream)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = (_relation_missing.stream).relation)
				THEN pg_catalog.format('relation "%s" of stream "%s" no longer exists',
									   (_relation_missing.stream).relation_name,
									   (_relation_missing.stream).destination_table) END;
$fn$;
COMMENT ON FUNCTION pgpull._relation_missing(pgpull.stream) IS 'internal: the error of a stream whose relation was dropped, or NULL';

/*
 * _stream_relation: the quoted, qualified name of a stream's relation
 * (refreshed in the catalog when it was renamed), or 42P01.
 */
CREATE FUNCTION pgpull._stream_relation(stream pgpull.stream)
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

/*
 * _position_columns: the columns of a stream's positions, in order (the
 * replication key of a key_based stream, then the key columns), with
 * their declared type (for casts) and its base type; 42703 when one no
 * longer exists.
 */
CREATE FUNCTION pgpull._position_columns(stream pgpull.stream,
										 OUT names name[], OUT types text[], OUT base_types pg_catalog.oid[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_col name;
	v_type pg_catalog.regtype;
BEGIN
	names := '{}';
	types := '{}';
	base_types := '{}';
	IF (_position_columns.stream).method = 'key_based' THEN
		names := ARRAY[(_position_columns.stream).replication_key];
	END IF;
	names := names || (_position_columns.stream).key_columns;
	FOREACH v_col IN ARRAY names LOOP
		v_type := pgpull._column_type((_position_columns.stream).relation, v_col);
		types := types || pg_catalog.format_type(v_type, NULL);
		base_types := base_types || pgpull._base_type(v_type);
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._position_columns(pgpull.stream) IS 'internal: the columns of a stream''s positions and their types';

/*
 * _position_parse: the values of a position (a JSON array of strings or
 * nulls) of n columns, checked to read back as the given types; 22023 when
 * it is not one.  Key columns (all but the first value of a key_based
 * position) must not be null.
 */
CREATE FUNCTION pgpull._position_parse(position_text text, types text[], stream_label text,
									   first_may_be_null boolean)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_json jsonb;
	v_values text[];
	i integer;
BEGIN
	BEGIN
		v_json := _position_parse.position_text::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		v_json := NULL;
	END;
	IF v_json IS NULL OR pg_catalog.jsonb_typeof(v_json) <> 'array'
	   OR pg_catalog.jsonb_array_length(v_json) <> pg_catalog.cardinality(_position_parse.types)
	   OR EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(v_json) AS e(v)
				   WHERE pg_catalog.jsonb_typeof(e.v) NOT IN ('string', 'number', 'null')) THEN
		RAISE EXCEPTION 'invalid position for stream "%": %', _position_parse.stream_label, _position_parse.position_text
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('A position of this stream is a JSON array of %s values.',
											 pg_catalog.cardinality(_position_parse.types)),
				  HINT = 'Pass back a position the stream''s extraction query gave, unchanged.';
	END IF;
	SELECT COALESCE(pg_catalog.array_agg(e.v #>> '{}' ORDER BY e.n), '{}') INTO v_values
	  FROM pg_catalog.jsonb_array_elements(v_json) WITH ORDINALITY AS e(v, n);
	FOR i IN 1 .. pg_catalog.cardinality(v_values) LOOP
		IF v_values[i] IS NULL THEN
			IF i > 1 OR NOT _position_parse.first_may_be_null THEN
				RAISE EXCEPTION 'invalid position for stream "%": %', _position_parse.stream_label, _position_parse.position_text
					USING ERRCODE = '22023',
						  DETAIL = pg_catalog.format('Value %s is null; key columns must not be null.', i),
						  HINT = 'Key columns identify rows: make them NOT NULL, or track the relation with other ones.';
			END IF;
		ELSE
			BEGIN
				EXECUTE pg_catalog.format('SELECT %L::%s', v_values[i], _position_parse.types[i]);
			EXCEPTION WHEN data_exception THEN
				RAISE EXCEPTION 'invalid position for stream "%": %', _position_parse.stream_label, _position_parse.position_text
					USING ERRCODE = '22023',
						  DETAIL = pg_catalog.format('Value %s does not read as type %s.', i, _position_parse.types[i]),
						  HINT = 'Pass back a position the stream''s extraction query gave, unchanged.';
			END;
		END IF;
	END LOOP;
	RETURN v_values;
END
$fn$;
COMMENT ON FUNCTION pgpull._position_parse(text, text[], text, boolean) IS 'internal: the values of a position, checked';

/*
 * _row_literal: "('v1'::type1, 'v2'::type2)" from values and their types
 * (a single value without parentheses' row meaning).
 */
CREATE FUNCTION pgpull._row_literal(vals text[], types text[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT '(' || pg_catalog.string_agg(pg_catalog.format('%L::%s', v.val, v.typ), ', ' ORDER BY v.n) || ')'
	  FROM ROWS FROM (pg_catalog.unnest(_row_literal.vals), pg_catalog.unnest(_row_literal.types)) WITH ORDINALITY AS v(val, typ, n);
$fn$;
COMMENT ON FUNCTION pgpull._row_literal(text[], text[]) IS 'internal: a row of typed literals';

/*
 * version: the version of the extension installed in this database.  The
 * puller refuses to run against another version than its own.
 */
CREATE FUNCTION pgpull.version()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pgpull';
$fn$;
COMMENT ON FUNCTION pgpull.version() IS 'the version of the pgpull extension installed in this database';

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

/*
 * log: append a line to the extraction log of a run (stream_id NULL for a
 * run-level line).  Levels DEBUG, INFO, WARNING, ERROR, CRITICAL.
 */
CREATE FUNCTION pgpull.log(run_id bigint, stream_id bigint, level text, message text)
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
COMMENT ON FUNCTION pgpull.log(bigint, bigint, text, text) IS 'append a line (DEBUG, INFO, WARNING, ERROR, CRITICAL) to the extraction log of a run';

/*
 * begin_run: start a run of an integration.  Marks as abandoned the
 * integration's earlier runs still "running" whose puller is gone (no other
 * session holds their run lock, and no session the lock of any of their
 * running streams or of a range they read), marks
 * streams whose relation was dropped as in error, and returns one row per
 * stream (by destination table), or one row of NULLs but run_id when the
 * integration has none.  The calling session holds the run's advisory lock
 * until end_run.
 */
CREATE FUNCTION pgpull.begin_run(integration text, puller_version text, target_kind text)
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
 * take_stream: lock a stream for this session (session-level advisory
 * lock on the state connection) and start it in the run, or skip it when
 * another session holds it.  Fixes the columns the run extracts (a column
 * added while the run goes on is sent from the next run on, with the
 * schema that has it).  Returns its JSON schema as of now, key names,
 * bookmark properties, whether it is read in keyset chunks, and (full_table)
 * its table version: new when the stream starts from scratch, kept when
 * it resumes.  42P01 (lock not taken) when its relation was dropped.  A
 * stream with key ranges left to read (72_ranges.sql) is taken as one of
 * them, by take_range.
 */
CREATE FUNCTION pgpull.take_stream(run_id bigint, stream_id bigint)
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
 * _extraction_select: the SELECT of a chunk of a stream, as
 * extraction_query documents it, and the warning about the commit-safe cap
 * its run should log (or NULL), built without writing anything: columns
 * are the stream's columns the run extracts; first_run, whether the stream
 * had no bookmark when it was taken; range, the key range read (NULL for
 * the whole stream); sample, the watermark sample of a key_based stream.
 * extraction_query calls it for a run, plan for a dry run.
 */
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

/*
 * extraction_query: the SELECT of the next chunk of a taken stream, to run
 * as COPY (...) TO STDOUT on the source: columns lossy (integer), row_json
 * (text), cap (text: the commit-safe cap, on the rows at or after it; see
 * record_cap), then the row's position as one text column per position
 * column (pgpull_p1, ...; the puller makes them the JSON array of
 * positions), in position order, of the columns fixed when the run took
 * the stream.  after_position NULL: the first chunk (from the bookmark, or
 * after the resume position); else strictly after it.  A bookmark of a
 * date or time key is continued strictly after, of another key from its
 * ties on.  LIMIT chunk_rows when the stream is chunked and
 * chunk_rows is not NULL; a chunk with fewer rows is the last.  A session
 * holding a key range of the stream (72_ranges.sql) reads inside it, from
 * the range's resume position.
 */
CREATE FUNCTION pgpull.extraction_query(run_id bigint, stream_id bigint, after_position text, chunk_rows integer)
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
 * _before_cap: a bookmark from key value (text of type typ) strictly below
 * the run's commit-safe cap (NULL: none): the value when it is below the
 * cap, else the cap less the key type's least step (a microsecond, or a
 * day for dates), as ISO text.  A row a late commit adds has a key at or
 * after the cap, so a run continuing strictly after the bookmark gets it.
 */
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

/*
 * record_batch: the destination accepted a batch of a stream: count it and
 * advance the stream's bookmark (key_based) or resume position
 * (full_table) with _advance_bookmark, never backwards, so calling it again
 * for the same batch changes nothing but the counts.  A key_based bookmark
 * goes no further than the run's commit-safe cap (record_cap).  A session
 * holding a key range of the stream moves the range's resume position
 * instead (72_ranges.sql).
 */
CREATE FUNCTION pgpull.record_batch(run_id bigint, stream_id bigint, rows bigint, bytes bigint,
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
 * _end_stream: the outcome of a stream in a run, 'succeeded' or 'failed'
 * (end_stream, and end_singer_stream of 80_singer.sql).  A full_table
 * stream that succeeded starts from scratch (a new table version) next
 * time, unless its rows went to a Singer target (singer): then only the
 * target's confirmation (commit_state) moves anything.  Only the session
 * holding the stream's lock ends a stream the run took, and releases the
 * lock.  Also records, as failed, a stream the run could not take
 * (take_stream raised an error), leaving alone a stream another run is
 * syncing.  A session holding a key range of the stream ends the range
 * (_end_range).
 */
CREATE FUNCTION pgpull._end_stream(run_id bigint, stream_id bigint, status text, rows_extracted bigint, error text,
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
 * end_stream: the outcome of a stream in a run, 'succeeded' or 'failed'.
 * A full_table stream that succeeded starts from scratch (a new table
 * version) next time.  Releases the stream's advisory lock.  Also records
 * a stream the run could not take (take_stream raised an error).
 */
CREATE FUNCTION pgpull.end_stream(run_id bigint, stream_id bigint, status text, rows_extracted bigint, error text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	PERFORM pgpull._end_stream(end_stream.run_id, end_stream.stream_id, end_stream.status,
							   end_stream.rows_extracted, end_stream.error, false);
END
$fn$;
COMMENT ON FUNCTION pgpull.end_stream(bigint, bigint, text, bigint, text) IS 'record the outcome of a stream in a run and release its lock';

/*
 * end_run: the outcome of a run, 'succeeded' or 'failed'.  Streams still
 * running in it fail; their locks and the run's are released.
 */
CREATE FUNCTION pgpull.end_run(run_id bigint, status text, error text)
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
COMMENT ON FUNCTION pgpull.end_run(bigint, text, text) IS 'record the outcome of a run and release its locks';

/*
 * loading_report: per stream, when the destination last accepted rows of
 * it, the outcome of its last sync, the rows loaded in the last 24 hours
 * and its bookmark ("column: value", or "Bookmark Unavailable"); then the
 * last sync's duration and rows loaded per second (NULL while it runs),
 * and the staleness: the time since its last successful sync ended (the
 * destination was current as of then; NULL before the first).
 */
CREATE VIEW pgpull.loading_report AS
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
