/*
 * 30_streams.sql: the streams.
 *
 * Streams: which relations an integration replicates, and how.
 *
 * pgpull.track, untrack, reset and reset_integration are the only writers
 * of pgpull.stream besides the run protocol.  They are not SECURITY
 * DEFINER: EXECUTE is revoked from PUBLIC, so only the extension owner and
 * roles it grants may call them.
 */

/*
 * destination_schema_name: the destination schema an integration loads
 * into, derived the way Stitch derives it from the integration's name.
 */
CREATE FUNCTION pgpull.destination_schema_name(integration text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_name text;
BEGIN
	v_name := pg_catalog.lower(destination_schema_name.integration COLLATE "C");
	v_name := pg_catalog.regexp_replace(v_name, '[^a-z0-9_]+', '_', 'g');
	v_name := pg_catalog.btrim(v_name, '_');
	IF v_name ~ '^[0-9]' THEN
		v_name := '_' || v_name;
	END IF;
	/* only ASCII is left, so 63 characters are 63 bytes */
	v_name := pg_catalog.rtrim(pg_catalog.left(v_name, 63), '_');
	IF v_name = '' THEN
		RAISE EXCEPTION 'integration name "%" gives an empty destination schema name',
			destination_schema_name.integration
			USING ERRCODE = '22023',
				  DETAIL = 'A destination schema name keeps only ASCII letters, digits and underscores.',
				  HINT = 'Name the integration with at least one ASCII letter or digit.';
	END IF;
	RETURN v_name;
END
$fn$;
COMMENT ON FUNCTION pgpull.destination_schema_name(text) IS 'destination schema of an integration: lower case, runs of other characters as one underscore, at most 63 bytes';

/*
 * _relation_label: the schema-qualified, quoted name of a relation, or its
 * OID in brackets when it no longer exists.
 */
CREATE FUNCTION pgpull._relation_label(relation pg_catalog.oid)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT COALESCE(
		(SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
		   FROM pg_catalog.pg_class c
		   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		  WHERE c.oid = _relation_label.relation),
		pg_catalog.format('[relation %s]', _relation_label.relation));
$fn$;
COMMENT ON FUNCTION pgpull._relation_label(pg_catalog.oid) IS 'internal: the quoted, qualified name of a relation, or its OID when it is gone';

/*
 * _column_type: the type of a relation's column, domains resolved to their
 * base type when base is true; raises 42703 when there is no such column.
 */
CREATE FUNCTION pgpull._column_type(relation pg_catalog.regclass, column_name name, base boolean DEFAULT false)
RETURNS pg_catalog.regtype
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_type pg_catalog.oid;
BEGIN
	SELECT a.atttypid INTO v_type
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = _column_type.relation
	   AND a.attname = _column_type.column_name
	   AND a.attnum > 0 AND NOT a.attisdropped;
	IF v_type IS NULL THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist',
			_column_type.column_name, pgpull._relation_label(_column_type.relation)
			USING ERRCODE = '42703',
				  HINT = 'Name columns as they are spelled in the relation, without quotes.';
	END IF;
	IF base THEN
		WHILE (SELECT t.typtype = 'd' FROM pg_catalog.pg_type t WHERE t.oid = v_type) LOOP
			SELECT t.typbasetype INTO v_type FROM pg_catalog.pg_type t WHERE t.oid = v_type;
		END LOOP;
	END IF;
	RETURN v_type;
END
$fn$;
COMMENT ON FUNCTION pgpull._column_type(pg_catalog.regclass, name, boolean) IS 'internal: the type of a column (its base type when base), or an error naming the column';

/*
 * _stream_columns: the columns a stream replicates, in the relation's
 * column order: every column when the stream selects none, else the
 * selected ones plus the key columns and the replication key.  Columns
 * dropped from the relation since are left out.
 */
CREATE FUNCTION pgpull._stream_columns(stream_id bigint)
RETURNS name[]
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_stream pgpull.stream;
	v_columns name[];
BEGIN
	SELECT * INTO v_stream FROM pgpull.stream s WHERE s.stream_id = _stream_columns.stream_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'stream % does not exist', _stream_columns.stream_id
			USING ERRCODE = '22023';
	END IF;
	SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) INTO v_columns
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = v_stream.relation
	   AND a.attnum > 0 AND NOT a.attisdropped
	   AND (v_stream.columns IS NULL
			OR a.attname = ANY (v_stream.columns)
			OR a.attname = ANY (v_stream.key_columns)
			OR a.attname = v_stream.replication_key);
	RETURN COALESCE(v_columns, '{}');
END
$fn$;
COMMENT ON FUNCTION pgpull._stream_columns(bigint) IS 'internal: the columns a stream replicates, in column order';

/*
 * _missing_read: what a role lacks to read what a stream replicates, as a
 * list for a message ('USAGE on schema "hr", SELECT on table "hr.t"'), or
 * NULL when it can read it all (or the relation is gone): USAGE on the
 * relation's schema, then SELECT on the relation, or, when the role holds
 * SELECT on some of its columns, on the columns of the stream it lacks.
 */
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

/*
 * _grant_hint: the hint of a message saying a role cannot read a stream's
 * relation: the grant_script and check_privileges calls to run.
 */
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

/*
 * _stream_keys: how a stream is replicated, for messages: "key_based on
 * updated_at, key columns (id)", "full_table, no key columns".
 */
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

/*
 * _replication_key_type: whether a column of a type (domains resolved
 * first) can be a replication key: an integer, numeric, date, timestamp or
 * timestamptz, whose values grow and compare as the bookmark's text reads
 * back.  track checks a key with it; discover lists candidates with it.
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

/*
 * track: add or update the stream of a relation in an integration.
 * Returns the stream's destination table name.
 */
CREATE FUNCTION pgpull.track(relation pg_catalog.regclass, method text,
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

/*
 * _reset_stream: forget a stream's bookmark and resume position, so its
 * next run replicates the relation in full.
 */
CREATE FUNCTION pgpull._reset_stream(stream_id bigint)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $fn$
	UPDATE pgpull.stream s
	   SET bookmark = NULL,
		   resume_position = NULL,
		   table_version = NULL,
		   status = 'pending',
		   last_error = NULL,
		   updated_at = pg_catalog.now()
	 WHERE s.stream_id = _reset_stream.stream_id;
	DELETE FROM pgpull.stream_range r WHERE r.stream_id = _reset_stream.stream_id;
$fn$;
COMMENT ON FUNCTION pgpull._reset_stream(bigint) IS 'internal: forget a stream''s bookmark and resume positions';

/*
 * untrack: stop replicating a relation in an integration.  Returns whether
 * there was such a stream.  Its run history goes with it.  When it was the
 * integration's last log_based stream, a NOTICE names the replication slot
 * the next run drops and the publication publication_script then drops
 * (pgpull._log_based_left).
 */
CREATE FUNCTION pgpull.untrack(relation pg_catalog.regclass, integration text DEFAULT 'default')
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

/*
 * untrack_stream: stop replicating a stream, named by its stream_id (a
 * column of pgpull.streams): the way to untrack a relation that was
 * dropped, whose name no longer resolves.  Returns the relation's name as
 * the stream last saw it.  Its run history goes with it.  The NOTICE of
 * untrack when it was the integration's last log_based stream.
 */
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

/*
 * _reset_streams: reset the streams of an integration, of one relation or
 * (NULL) all of them, with a NOTICE when some are log_based: they are
 * copied again, then stream from the slot again (pgpull._log_based_reset).
 * Returns the number of streams reset.
 */
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

/*
 * reset: make a relation's stream replicate in full on its next run.
 * Returns the number of streams reset (0 when the relation is not tracked).
 * A log_based stream is copied again, then streams from the slot again: a
 * NOTICE says so.
 */
CREATE FUNCTION pgpull.reset(relation pg_catalog.regclass, integration text DEFAULT 'default')
RETURNS integer
LANGUAGE sql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._reset_streams(reset.integration, reset.relation);
$fn$;
COMMENT ON FUNCTION pgpull.reset(pg_catalog.regclass, text) IS 'clear the bookmark and resume position of a stream; returns the number of streams reset';

/*
 * reset_integration: reset every stream of an integration, with reset's
 * NOTICE when some are log_based.
 */
CREATE FUNCTION pgpull.reset_integration(integration text)
RETURNS integer
LANGUAGE sql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._reset_streams(reset_integration.integration, NULL);
$fn$;
COMMENT ON FUNCTION pgpull.reset_integration(text) IS 'clear the bookmarks and resume positions of every stream of an integration; returns the number reset';

CREATE VIEW pgpull.streams AS
SELECT s.integration,
	   s.relation,
	   s.method,
	   s.replication_key,
	   s.key_columns,
	   s.columns,
	   s.bookmark,
	   s.destination_table,
	   pgpull.destination_schema_name(s.integration) AS destination_schema,
	   s.status,
	   s.last_error,
	   s.resume_position IS NOT NULL AS resuming,
	   s.table_version,
	   s.tracked_at,
	   s.updated_at,
	   s.stream_id,
	   CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation)
			THEN pgpull._relation_label(s.relation)
			ELSE s.relation_name END AS relation_name
  FROM pgpull.stream s;
COMMENT ON VIEW pgpull.streams IS 'tracked streams: relation, method, keys, columns, bookmark (ISO text, UTC) and destination table';
