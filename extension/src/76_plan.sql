/*
 * 76_plan.sql: what a run of an integration would extract, without
 * starting one ("pgpull sync --dry-run"), and the rows a run can expect to
 * read (the progress line's ETA).
 */

/*
 * _estimated_rows: the rows a relation holds as the planner's statistics
 * estimate them (pg_class.reltuples; of a partitioned table, the sum over
 * its leaf partitions), or NULL when they are unknown: a view, or a
 * relation never vacuumed nor analyzed (reltuples -1).
 */
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

/*
 * plan: one row per stream of an integration, by destination table: what
 * the next run would extract, without beginning it.  It writes nothing,
 * takes no advisory lock and runs on a standby too.  bookmark and
 * resume_position are the stream's; estimated_rows, the rows the run would
 * read when it reads the whole relation (a full_table stream from its
 * start, a key_based stream's first run: _estimated_rows), else NULL;
 * query (queries true), the SELECT of the first chunk (LIMIT chunk_rows
 * when the stream is chunked and chunk_rows is not NULL), as
 * extraction_query would give it, but that the commit-safe cap's sample is
 * the newest one stored (a run takes its own) and that a stream read in
 * key ranges (--jobs) shows the whole stream.  note says why a stream has
 * no query: its relation was dropped, or building the query failed; or,
 * with a query, what the session's role lacks to read the relation (the
 * run would fail on that stream).
 */
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
