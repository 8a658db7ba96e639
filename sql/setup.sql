-- setup: create the extension, quietly
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION pgpull;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'pgpull';

-- what the tests after this one share, in a schema cleanup drops: a small
-- puller in PL/pgSQL (run and singer drive the run protocol with it) and a
-- way to show errors whose text holds IDs
CREATE SCHEMA regress_pull;

-- the entries of the STATE messages a Singer run sends: n counts them by run
CREATE TABLE regress_pull.states (run bigint, n integer, stream bigint, entry jsonb);

-- what the puller does with a taken stream: chunks of chunk_rows rows (all
-- rows in one when NULL), returned as it reads them; stops after max_chunks
-- chunks, as a puller that dies would.  Rows past the commit-safe cap are
-- recorded before their chunk (record_cap).  An Import API run (singer false)
-- records each chunk as one accepted batch; a Singer run records each as
-- emitted, keeping in regress_pull.states the entry of the STATE that
-- follows it, and of the one before the first row
CREATE FUNCTION regress_pull.pull(run bigint, stream bigint, chunk_rows integer, max_chunks integer,
								  singer boolean)
RETURNS TABLE (chunk integer, pos text, lossy integer, row_json text)
LANGUAGE plpgsql AS $$
DECLARE
	v_after text;
	v_n integer;
	v_chunk integer := 0;
	v_lossy integer;
	v_bytes bigint;
	v_last boolean;
	v_capped integer;
	v_cap text;
	r record;
BEGIN
	IF pull.singer THEN
		PERFORM regress_pull.keep(pull.run, pull.stream,
								  pgpull.record_emitted(pull.run, pull.stream, 0, 0, NULL, 0, false));
	END IF;
	LOOP
		v_chunk := v_chunk + 1;
		v_n := 0;
		v_lossy := 0;
		v_bytes := 0;
		v_capped := 0;
		FOR r IN EXECUTE pgpull.extraction_query(pull.run, pull.stream, v_after, pull.chunk_rows) LOOP
			v_n := v_n + 1;
			v_lossy := v_lossy + r.lossy;
			v_bytes := v_bytes + octet_length(r.row_json);
			-- the position: the JSON array of the position columns, as the puller makes it
			v_after := (SELECT COALESCE(array_to_json(array_agg(e.value ORDER BY substr(e.key, 9)::integer))::text, '[]')
						  FROM jsonb_each_text(to_jsonb(r)) AS e WHERE e.key LIKE 'pgpull\_p%');
			IF r.cap IS NOT NULL THEN
				v_capped := v_capped + 1;
				v_cap := r.cap;
			END IF;
			chunk := v_chunk;
			pos := v_after;
			lossy := r.lossy;
			row_json := r.row_json;
			RETURN NEXT;
		END LOOP;
		v_last := pull.chunk_rows IS NULL OR v_n < pull.chunk_rows;
		IF v_capped > 0 THEN
			PERFORM pgpull.record_cap(pull.run, pull.stream, v_cap, v_capped);
		END IF;
		IF NOT pull.singer THEN
			IF v_n > 0 THEN
				PERFORM pgpull.record_batch(pull.run, pull.stream, v_n, v_bytes, v_after, v_lossy);
			END IF;
			EXIT WHEN v_last OR v_chunk = pull.max_chunks;
		ELSE
			-- a Singer puller that dies sends no STATE after its last chunk
			EXIT WHEN v_chunk = pull.max_chunks;
			PERFORM regress_pull.keep(pull.run, pull.stream,
									  pgpull.record_emitted(pull.run, pull.stream, v_n, v_bytes, v_after,
															v_lossy, v_last));
			EXIT WHEN v_last;
		END IF;
	END LOOP;
END
$$;

CREATE FUNCTION regress_pull.keep(run bigint, stream bigint, entry jsonb) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO regress_pull.states
	SELECT keep.run, count(*) + 1, keep.stream, keep.entry FROM regress_pull.states s WHERE s.run = keep.run;
$$;

-- an Import API run: each chunk is a batch
CREATE FUNCTION regress_pull.sync(run bigint, stream bigint, chunk_rows integer, max_batches integer DEFAULT NULL)
RETURNS TABLE (batch integer, pos text, lossy integer, row_json text)
LANGUAGE sql AS $$
	SELECT * FROM regress_pull.pull(run, stream, chunk_rows, max_batches, false)
$$;

-- a Singer run: each chunk is followed by a STATE
CREATE FUNCTION regress_pull.send(run bigint, stream bigint, chunk_rows integer, max_chunks integer DEFAULT NULL)
RETURNS TABLE (chunk integer, pos text, row_json text)
LANGUAGE sql AS $$
	SELECT p.chunk, p.pos, p.row_json FROM regress_pull.pull(run, stream, chunk_rows, max_chunks, true) p
$$;

-- run a statement, its error with run and stream IDs masked (they depend on
-- the tests run before)
CREATE FUNCTION regress_pull.masked(statement text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_state text;
	v_message text;
	v_detail text;
	v_hint text;
BEGIN
	EXECUTE statement;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
		v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
	v_message := regexp_replace(v_message, '(run|stream) \d+', '\1 N', 'g');
	v_detail := regexp_replace(v_detail, '(Run|Stream|run|stream) \d+', '\1 N', 'g');
	v_hint := regexp_replace(v_hint, 'untrack_stream\(\d+\)', 'untrack_stream(N)', 'g');
	IF v_detail <> '' THEN
		RAISE EXCEPTION '%', v_message USING ERRCODE = v_state, DETAIL = v_detail, HINT = v_hint;
	END IF;
	RAISE EXCEPTION '%', v_message USING ERRCODE = v_state, HINT = v_hint;
END
$$;
