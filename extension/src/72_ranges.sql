/*
 * 72_ranges.sql: one stream read by several sessions at once, in key
 * ranges (pgpull sync --jobs, and several pullers on one integration).
 *
 *	 take_range(run_id, stream_id, jobs, chunk_rows)	take_stream, or a range
 *
 * A full_table stream with key columns, starting from scratch (no resume
 * position) and large (more than 2 x chunk_rows rows, by the planner's
 * estimate or a sample), is cut by take_range (jobs > 1) into 4 x jobs
 * ranges of its first key column (fewer for a table of fewer chunks, at
 * least jobs, at most 64), from the column's distribution: pg_stats.histogram_bounds,
 * or percentile_disc over a TABLESAMPLE SYSTEM sample when the relation has
 * no statistics.  The ranges go to pgpull.stream_range with the stream's
 * new table version; range k covers (cut k-1, cut k], the first from the
 * first row, the last to the last row.  Each range is held by the session
 * that reads it with a session-level advisory lock, (_range_lock_class() +
 * range_no, stream_id), instead of the stream's lock: every session of
 * every run of the integration (another puller's too) takes a free pending
 * range in turn, under the stream row's lock, and a session that finds none
 * free moves on.  The run protocol's other calls (extraction_query,
 * record_batch, end_stream) see that the session holds a range rather than
 * the stream: the chunks stay inside the range, an accepted batch moves the
 * range's own resume position (forward only, and only within its bounds),
 * and end_stream ends the range: done, or back to pending (its resume
 * position kept) when it failed.  The stream completes (status succeeded,
 * resume position cleared, ranges deleted) when the last range of its table
 * version is done; until then any later run, with any --jobs, continues the
 * pending ranges, and the cut is kept.  The run's row of the stream in
 * run_streams adds up the ranges its sessions read.
 *
 * Key-based streams, streams without key columns and runs to a Singer
 * target are never cut: they keep one reader, the stream's lock.
 */

/*
 * _range_lock_class: the first key of the advisory lock on range 0 of a
 * stream; range n has this plus n (at most 64 ranges), the second key is
 * the stream_id.  hashtext('pgpull range'), frozen.
 */
CREATE FUNCTION pgpull._range_lock_class()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT -547456841;
$fn$;
COMMENT ON FUNCTION pgpull._range_lock_class() IS 'internal: first key of the advisory lock on range 0 of a stream (range n: plus n; the second key is its stream_id)';

/*
 * _held_range: the range of a stream this session holds (its advisory
 * lock), or NULL.
 */
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

/*
 * _range_held_by_run: whether a session holds a range of a stream that a
 * run is reading (other than range except_no).
 */
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

/*
 * _range_pending: whether a stream is being read in ranges: it may be
 * (full_table, key columns, a run not to a Singer target) and ranges of its
 * table version are not all done.
 */
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

/*
 * _range_value: the value of a range bound (a one-value JSON array), NULL
 * for none.
 */
CREATE FUNCTION pgpull._range_value(bound text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT _range_value.bound::jsonb ->> 0;
$fn$;
COMMENT ON FUNCTION pgpull._range_value(text) IS 'internal: the value of a range bound';

/*
 * _range_label: a range for people, "(id > 125000 and id <= 250000)";
 * values that are not numbers quoted.
 */
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

/*
 * _range_where: the SQL condition of a range on expression key_expr of
 * type key_type (the first key column), or NULL for a range without
 * bounds.
 */
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

/*
 * _cut_ranges: cut a full_table stream starting from scratch into ranges of
 * its first key column, when it is worth it: a table or materialized view
 * of more than 2 x chunk_rows rows (100,000 when NULL) by
 * pg_class.reltuples, or by a sample when it was never analyzed.  4 x jobs
 * ranges (at most 64, and no more than the chunks the table has, but at
 * least jobs), so that a session done early, and the sessions of other
 * pullers, find ranges left to take.  The cuts are quantiles of pg_stats.histogram_bounds, or percentile_disc over
 * a TABLESAMPLE SYSTEM sample of about 500 pages when there is no
 * histogram.  Gives the stream a new table version and writes the ranges
 * (pending).  Returns how many ranges were cut, 0 when none (too small,
 * too few distinct values, a view, or the extension owner cannot read the
 * relation: the stream keeps one reader).  The caller holds the stream
 * row's lock.
 */
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

/*
 * take_range: take_stream for a puller that reads with jobs sessions.  A
 * stream with ranges left to read (cut by any run), or one take_range cuts
 * now (jobs > 1; see _cut_ranges), gets a free pending range held by this
 * session: range_no (from 1), range_count and range_label say which.
 * Returns taken false when every range left is held by another session,
 * when a range of the stream failed in this run (the run takes no more of
 * it), or when the run has read the stream already (a run reads a stream
 * once: its ranges, or the whole).  Any other stream is taken whole by take_stream (range columns
 * NULL).  The session reads the range with extraction_query, reports it
 * with record_batch and ends it with end_stream, as a stream.
 */
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

/*
 * _advance_range: move the resume position of a range this session holds
 * to position vals (of types), forward only; 22023 when the position is
 * outside the range's bounds (compared on the first key column's type).
 */
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

/*
 * _end_range: end the range this session holds (end_stream): done when it
 * succeeded, back to pending (its resume position kept) when it failed,
 * and its lock released.  The rows add up in the run's row of the stream,
 * which stays running while another session of the run reads a range of
 * it, and then says how the run's part went (failed when one of its ranges
 * did).  When the last range of the table version is done the stream
 * completes: succeeded, its resume position cleared, its ranges deleted.
 */
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
