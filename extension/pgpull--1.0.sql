/* extension/pgpull--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgpull" to load this file. \quit

/*
 * pgpull 1.0: the SQL side of pgpull.
 *
 * Plain SQL and PL/pgSQL only, so the script installs unchanged through
 * pg_tle on managed servers: it creates and qualifies its own schema, needs
 * no superuser, and avoids pg_tle's reserved dollar-quote tags.  Every
 * built-in is pg_catalog-qualified; every function pins its search_path.
 */

CREATE SCHEMA pgpull;
COMMENT ON SCHEMA pgpull IS 'pgpull: replication catalog, grant scripts, privilege audit, type mapping';
REVOKE ALL ON SCHEMA pgpull FROM PUBLIC;

/*
 * The catalog.  Tables are written only through the functions below; no
 * role but the extension owner has any privilege on them.
 */

CREATE TABLE pgpull.stream (
	stream_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	integration		text NOT NULL,
	relation		pg_catalog.regclass NOT NULL,
	relation_name	text NOT NULL,		/* schema-qualified name last seen */
	method			text NOT NULL CHECK (method IN ('full_table', 'key_based')),
	replication_key name,
	key_columns		name[] NOT NULL,	/* '{}' = append-only */
	columns			name[],				/* NULL = all columns */
	destination_table text NOT NULL,
	bookmark		text,				/* greatest accepted key, ISO text */
	bookmark_type	pg_catalog.regtype,
	resume_position text[],			/* full_table: last accepted key tuple */
	table_version	bigint,			/* Singer table version of the current full run */
	status			text NOT NULL DEFAULT 'pending',
	last_error		text,
	tracked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK ((method = 'key_based') = (replication_key IS NOT NULL)),
	UNIQUE (integration, relation),
	UNIQUE (integration, destination_table)
);
COMMENT ON TABLE pgpull.stream IS 'tracked relations, one row per integration and relation; read through pgpull.streams';

/*
 * Key ranges, for pullers that read one stream in parallel (--jobs, a later
 * version): a stream split into ranges of positions (the same JSON-array
 * positions as resume_position, compared on the key types), each read and
 * resumed on its own, the stream complete when every range of its table
 * version is.  Empty while streams are read as one range, whose resume
 * position is pgpull.stream.resume_position.
 */
CREATE TABLE pgpull.stream_range (
	stream_id		bigint NOT NULL REFERENCES pgpull.stream ON DELETE CASCADE,
	range_no		integer NOT NULL CHECK (range_no >= 0),
	table_version	bigint,			/* full_table: the version the ranges were cut for */
	lower_position	text,			/* exclusive; NULL = from the first row */
	upper_position	text,			/* inclusive; NULL = to the last row */
	resume_position text,			/* last accepted position in the range */
	status			text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'running', 'done')),
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (stream_id, range_no)
);
COMMENT ON TABLE pgpull.stream_range IS 'key ranges of a stream read in parallel, each with its own resume position (empty while streams are read as one range)';

CREATE TABLE pgpull.runs (
	run_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	integration		text NOT NULL,
	started_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ended_at		timestamptz,
	status			text NOT NULL DEFAULT 'running'
		CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
	puller_version	text,
	target			text,				/* destination kind, never a token */
	error			text
);
COMMENT ON TABLE pgpull.runs IS 'one row per puller run';

CREATE TABLE pgpull.run_streams (
	run_id			bigint NOT NULL REFERENCES pgpull.runs ON DELETE CASCADE,
	stream_id		bigint NOT NULL REFERENCES pgpull.stream ON DELETE CASCADE,
	started_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	ended_at		timestamptz,
	status			text NOT NULL DEFAULT 'running'
		CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
	rows_extracted	bigint NOT NULL DEFAULT 0,
	rows_loaded		bigint NOT NULL DEFAULT 0,
	batches			bigint NOT NULL DEFAULT 0,
	bytes			bigint NOT NULL DEFAULT 0,
	bookmark_before text,
	bookmark_after	text,
	error			text,
	PRIMARY KEY (run_id, stream_id)
);
COMMENT ON TABLE pgpull.run_streams IS 'one row per stream synced in a run: counts, bookmarks, outcome';

CREATE TABLE pgpull.extraction_log (
	log_id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	logged_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	run_id			bigint REFERENCES pgpull.runs ON DELETE CASCADE,
	stream_id		bigint REFERENCES pgpull.stream ON DELETE SET NULL,
	level			text NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
	message			text NOT NULL
);
COMMENT ON TABLE pgpull.extraction_log IS 'timestamped lines of what each run did, stream by stream';

SELECT pg_catalog.pg_extension_config_dump('pgpull.stream', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.stream_range', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.runs', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.run_streams', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.extraction_log', '');
SELECT pg_catalog.pg_extension_config_dump('pgpull.extraction_log_log_id_seq', '');

REVOKE ALL ON pgpull.stream, pgpull.stream_range, pgpull.runs, pgpull.run_streams, pgpull.extraction_log FROM PUBLIC;

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
 * The type mapping: how the values of a column become JSON, and the JSON
 * Schema (Draft 4, what the Import API validates with) that describes them.
 *
 * Values are rendered by pg_catalog.row_to_json over a LATERAL subquery
 * that converts only the columns whose built-in JSON rendering is not the
 * one we want (or depends on a session setting):
 *
 *	 SELECT pg_catalog.row_to_json(r.*) AS row_json, <lossy_expr> AS lossy
 *	   FROM rel AS t CROSS JOIN LATERAL (SELECT <select_list>) AS r
 *
 *	 integers, text types, bool, json/jsonb, uuid, enums...	as row_to_json does
 *	 numeric				exact JSON number; NaN and +-Infinity -> null
 *	 real, double			shortest exact JSON number; NaN, +-Infinity -> null
 *	 money					JSON number (its numeric value)
 *	 date					"YYYY-MM-DD"; infinite, BC or after 9999 -> null
 *	 timestamp(tz)			RFC 3339 in UTC, "2024-02-29T12:34:56.789Z", the
 *							stored fraction; infinite, BC or after 9999 -> null
 *	 interval				ISO 8601, as IntervalStyle iso_8601 writes it
 *	 bytea					base64, one line
 *	 date/time ranges		range text with RFC 3339 bounds
 *	 geometric types		their text, with shortest exact floats
 *	 arrays, composites		JSON arrays (nesting kept) and objects, their
 *							elements and fields mapped the same way
 *	 domains				as their base type
 *	 anything else			its text
 *
 * Every conversion is independent of TimeZone, DateStyle, IntervalStyle,
 * extra_float_digits and bytea_output (money reads its fraction digits from
 * lc_monetary, as money itself does).  Floats are written by float8out
 * when extra_float_digits > 0 (shortest exact, the default); otherwise by
 * pgpull._float_text, which sets it for the call, so the generated queries
 * call two helpers: pgpull._float_text and pgpull._json_array_nd (arrays of
 * more than one dimension).  Whoever runs them needs USAGE on schema pgpull.
 *
 * All pg_type/pg_attribute lookups of the mapping are in _type_info and
 * _attributes.
 */

/*
 * _float_text: the text of a float (or of a geometric value, whose text is
 * made of floats) as float8out writes it with extra_float_digits = 1: the
 * shortest text that reads back as the same value.  Only evaluated by the
 * generated queries when the session has extra_float_digits <= 0.
 */
CREATE FUNCTION pgpull._float_text(value anyelement)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $fn$
	SELECT $1::pg_catalog.text;
$fn$;
COMMENT ON FUNCTION pgpull._float_text(anyelement) IS 'internal: the text of a float or geometric value with extra_float_digits = 1 (shortest exact)';

/*
 * _json_array_nd: a JSON array of the shape of array "shape" (any number of
 * dimensions) holding "elements", the JSON values of its elements in
 * storage order (NULL elements are JSON null).  The generated queries use
 * it for arrays of more than one dimension whose elements need converting.
 */
CREATE FUNCTION pgpull._json_array_nd(elements json[], shape anyarray)
RETURNS json
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_ndims integer := pg_catalog.array_ndims(_json_array_nd.shape);
	v_block integer[];		/* elements per sub-array of each dimension */
	v_parts text[] := '{}';
	v_opened integer;
	v_count integer := COALESCE(pg_catalog.cardinality(_json_array_nd.elements), 0);
BEGIN
	IF v_ndims IS NULL THEN
		RETURN '[]'::json;
	END IF;
	v_block[v_ndims] := pg_catalog.array_length(_json_array_nd.shape, v_ndims);
	FOR k IN REVERSE v_ndims - 1 .. 1 LOOP
		v_block[k] := v_block[k + 1] * pg_catalog.array_length(_json_array_nd.shape, k);
	END LOOP;
	IF v_count <> v_block[1] THEN
		RAISE EXCEPTION 'array of % elements cannot take the shape of an array of % elements',
			v_count, v_block[1]
			USING ERRCODE = '2202E';
	END IF;
	FOR i IN 0 .. v_count - 1 LOOP
		/* the sub-arrays (below the outermost) that start at element i */
		v_opened := 0;
		FOR k IN 2 .. v_ndims LOOP
			IF i % v_block[k] = 0 THEN
				v_opened := v_opened + 1;
			END IF;
		END LOOP;
		v_parts := v_parts
			|| (CASE WHEN i > 0 THEN pg_catalog.repeat(']', v_opened) || ',' ELSE '' END
				|| pg_catalog.repeat('[', v_opened)
				|| COALESCE(_json_array_nd.elements[i + 1]::text, 'null'));
	END LOOP;
	RETURN ('[' || pg_catalog.array_to_string(v_parts, '')
			|| pg_catalog.repeat(']', v_ndims - 1) || ']')::json;
END
$fn$;
COMMENT ON FUNCTION pgpull._json_array_nd(json[], anyarray) IS 'internal: nest JSON elements in the dimensions of an array';

/*
 * _relation_check: the quoted, schema-qualified name of a relation whose
 * rows the mapping can describe (table, partitioned table, view,
 * materialized view, foreign table); raises an error for anything else.
 */
CREATE FUNCTION pgpull._relation_check(relation pg_catalog.regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_relkind "char";
	v_label text;
BEGIN
	IF _relation_check.relation IS NULL THEN
		RAISE EXCEPTION 'relation must not be null'
			USING ERRCODE = '22004';
	END IF;
	SELECT c.relkind, pg_catalog.format('%I.%I', n.nspname, c.relname)
	  INTO v_relkind, v_label
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = _relation_check.relation;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation with OID % does not exist', _relation_check.relation::oid
			USING ERRCODE = '42P01';
	END IF;
	IF v_relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
		RAISE EXCEPTION 'cannot map the rows of relation "%"', v_label
			USING ERRCODE = '42809',
				  DETAIL = pg_catalog.format('"%s" is %s.', v_label,
					CASE v_relkind WHEN 'S' THEN 'a sequence' WHEN 'i' THEN 'an index'
						WHEN 'I' THEN 'a partitioned index' WHEN 'c' THEN 'a composite type'
						WHEN 't' THEN 'a TOAST table' ELSE 'not a table' END),
				  HINT = 'Map tables, partitioned tables, views, materialized views or foreign tables.';
	END IF;
	RETURN v_label;
END
$fn$;
COMMENT ON FUNCTION pgpull._relation_check(pg_catalog.regclass) IS 'internal: the qualified name of a relation the type mapping can describe, or an error';

/*
 * _attributes: the columns of a relation or composite type: all of them in
 * column order when columns is NULL, else the named ones in the order
 * given.  Raises 42703 for a name that is not a column, 42701 for a name
 * given twice.
 */
CREATE FUNCTION pgpull._attributes(relation pg_catalog.oid, columns name[] DEFAULT NULL)
RETURNS TABLE (attname name, atttypid pg_catalog.oid, atttypmod integer,
			   attnotnull boolean, attndims integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_col name;
	v_pos integer := 0;
BEGIN
	IF _attributes.columns IS NULL THEN
		RETURN QUERY
			SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attndims
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid = _attributes.relation
			   AND a.attnum > 0 AND NOT a.attisdropped
			 ORDER BY a.attnum;
		RETURN;
	END IF;
	FOREACH v_col IN ARRAY _attributes.columns LOOP
		v_pos := v_pos + 1;
		IF v_col IS NULL THEN
			RAISE EXCEPTION 'column names must not be null'
				USING ERRCODE = '22004';
		END IF;
		IF v_col = ANY (_attributes.columns[1 : v_pos - 1]) THEN
			RAISE EXCEPTION 'column "%" is named more than once', v_col
				USING ERRCODE = '42701';
		END IF;
		RETURN QUERY
			SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attndims
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid = _attributes.relation
			   AND a.attname = v_col
			   AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', v_col,
				_attributes.relation::pg_catalog.regclass
				USING ERRCODE = '42703',
					  HINT = 'Name columns as they are spelled in the relation, without quotes.';
		END IF;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._attributes(pg_catalog.oid, name[]) IS 'internal: the named (or all) columns of a relation or composite type, with their types';

/*
 * _type_info: what the mapping needs to know of a type.  Domains are
 * resolved to their base type; not_null says whether a domain on the way
 * forbids NULL, base_typmod and ndims take the domain's when the column has
 * none.  kind is one of: array (sub_type = element type), composite
 * (sub_type = its pg_class row), range (sub_type = subtype), multirange
 * (sub_type = range type), int2, int4, int8, numeric, float4, float8,
 * money, bool, date, timestamp, timestamptz, interval, bytea, json, jsonb,
 * json_cast (a type with a cast to json, which row_to_json uses), varchar,
 * bpchar, geometric, string (everything else: its text).  type_sql is the
 * quoted, qualified name of the base type.
 */
CREATE FUNCTION pgpull._type_info(typ pg_catalog.oid, typmod integer,
								  OUT base_type pg_catalog.oid, OUT base_typmod integer,
								  OUT not_null boolean, OUT ndims integer,
								  OUT kind text, OUT sub_type pg_catalog.oid, OUT type_sql text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_type pg_catalog.pg_type;
BEGIN
	base_type := _type_info.typ;
	base_typmod := COALESCE(_type_info.typmod, -1);
	not_null := false;
	ndims := 0;
	LOOP
		SELECT * INTO v_type FROM pg_catalog.pg_type t WHERE t.oid = base_type;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'type with OID % does not exist', base_type
				USING ERRCODE = '42704';
		END IF;
		EXIT WHEN v_type.typtype <> 'd';
		not_null := not_null OR v_type.typnotnull;
		IF base_typmod < 0 THEN
			base_typmod := v_type.typtypmod;
		END IF;
		IF ndims = 0 THEN
			ndims := v_type.typndims;
		END IF;
		base_type := v_type.typbasetype;
	END LOOP;
	type_sql := pg_catalog.format('%I.%I',
		(SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = v_type.typnamespace),
		v_type.typname);

	/* a true array, as row_to_json tells them (int2vector is one, point is not) */
	IF v_type.typelem <> 0
	   AND v_type.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc THEN
		kind := 'array';
		sub_type := v_type.typelem;
	ELSIF v_type.typtype = 'c' THEN
		kind := 'composite';
		sub_type := v_type.typrelid;
	ELSIF v_type.typtype = 'r' THEN
		kind := 'range';
		SELECT r.rngsubtype INTO sub_type FROM pg_catalog.pg_range r WHERE r.rngtypid = base_type;
	ELSIF v_type.typtype = 'm' THEN
		kind := 'multirange';
		SELECT r.rngtypid INTO sub_type FROM pg_catalog.pg_range r WHERE r.rngmultitypid = base_type;
	ELSE
		kind := CASE base_type
			WHEN 'pg_catalog.int2'::pg_catalog.regtype THEN 'int2'
			WHEN 'pg_catalog.int4'::pg_catalog.regtype THEN 'int4'
			WHEN 'pg_catalog.int8'::pg_catalog.regtype THEN 'int8'
			WHEN 'pg_catalog.numeric'::pg_catalog.regtype THEN 'numeric'
			WHEN 'pg_catalog.float4'::pg_catalog.regtype THEN 'float4'
			WHEN 'pg_catalog.float8'::pg_catalog.regtype THEN 'float8'
			WHEN 'pg_catalog.money'::pg_catalog.regtype THEN 'money'
			WHEN 'pg_catalog.bool'::pg_catalog.regtype THEN 'bool'
			WHEN 'pg_catalog.date'::pg_catalog.regtype THEN 'date'
			WHEN 'pg_catalog.timestamp'::pg_catalog.regtype THEN 'timestamp'
			WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype THEN 'timestamptz'
			WHEN 'pg_catalog.interval'::pg_catalog.regtype THEN 'interval'
			WHEN 'pg_catalog.bytea'::pg_catalog.regtype THEN 'bytea'
			WHEN 'pg_catalog.json'::pg_catalog.regtype THEN 'json'
			WHEN 'pg_catalog.jsonb'::pg_catalog.regtype THEN 'jsonb'
			WHEN 'pg_catalog.varchar'::pg_catalog.regtype THEN 'varchar'
			WHEN 'pg_catalog.bpchar'::pg_catalog.regtype THEN 'bpchar'
			WHEN 'pg_catalog.point'::pg_catalog.regtype THEN 'geometric'
			WHEN 'pg_catalog.line'::pg_catalog.regtype THEN 'geometric'
			WHEN 'pg_catalog.lseg'::pg_catalog.regtype THEN 'geometric'
			WHEN 'pg_catalog.box'::pg_catalog.regtype THEN 'geometric'
			WHEN 'pg_catalog.path'::pg_catalog.regtype THEN 'geometric'
			WHEN 'pg_catalog.polygon'::pg_catalog.regtype THEN 'geometric'
			WHEN 'pg_catalog.circle'::pg_catalog.regtype THEN 'geometric'
			ELSE 'string' END;
		/* row_to_json renders a non-built-in type through its cast to json (hstore) */
		IF kind = 'string' AND base_type >= 16384
		   AND EXISTS (SELECT FROM pg_catalog.pg_cast c
						WHERE c.castsource = base_type
						  AND c.casttarget = 'pg_catalog.json'::pg_catalog.regtype
						  AND c.castmethod = 'f') THEN
			kind := 'json_cast';
		END IF;
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._type_info(pg_catalog.oid, integer) IS 'internal: a type as the type mapping sees it (domains resolved)';

/*
 * _type_schema: the JSON Schema (Draft 4) of the JSON values of a type.
 * nullable: whether the value may be NULL (a domain's NOT NULL overrides);
 * the types whose values the mapping may turn into null (numbers but
 * integers, date and time stamps) and json are nullable regardless.
 * ndims: the declared dimensions of an array column (0 = unknown, 1 used);
 * the schema nests that many arrays, so a value of other dimensions than
 * declared (PostgreSQL does not enforce them) does not validate.
 */
CREATE FUNCTION pgpull._type_schema(typ pg_catalog.oid, typmod integer, ndims integer,
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
			 * numeric(p,s): |value| < 10^(p-s), in Draft 4's words (boolean
			 * exclusive*).  Left out past 10^308, which validators reading
			 * numbers as doubles would take for infinity.
			 */
			v_precision := ((v_info.base_typmod - 4) >> 16) & 65535;
			v_scale := (((v_info.base_typmod - 4) & 2047) # 1024) - 1024;
		END IF;
		IF v_info.base_typmod >= 4 AND v_precision - v_scale <= 308 THEN
			v_bound := CASE WHEN v_precision >= v_scale
							THEN ('1' || pg_catalog.repeat('0', v_precision - v_scale))::numeric
							ELSE ('0.' || pg_catalog.repeat('0', v_scale - v_precision - 1) || '1')::numeric END;
			v_schema := pg_catalog.jsonb_build_object('minimum', -v_bound, 'exclusiveMinimum', true,
													  'maximum', v_bound, 'exclusiveMaximum', true);
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

/*
 * _json_schema_of: the JSON Schema (Draft 4) of the rows of a relation
 * restricted to columns (NULL: every column, in column order):
 * {"type": "object", "properties": {column: schema, ...}}.
 *
 * There is no "$schema" key: the Import API documents none, and whether it
 * accepts one inside "schema" is not known; Draft 4 is what it validates
 * with anyway.
 */
CREATE FUNCTION pgpull._json_schema_of(relation pg_catalog.regclass, columns name[])
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_properties jsonb;
BEGIN
	PERFORM pgpull._relation_check(_json_schema_of.relation);
	SELECT COALESCE(pg_catalog.jsonb_object_agg(a.attname,
				pgpull._type_schema(a.atttypid, a.atttypmod, a.attndims, NOT a.attnotnull)), '{}')
	  INTO v_properties
	  FROM pgpull._attributes(_json_schema_of.relation, _json_schema_of.columns) a;
	RETURN pg_catalog.jsonb_build_object('type', 'object', 'properties', v_properties);
END
$fn$;
COMMENT ON FUNCTION pgpull._json_schema_of(pg_catalog.regclass, name[]) IS 'JSON Schema (Draft 4) of the named (NULL: all) columns of a relation';

/*
 * _value_expr: the SQL expression that maps the value of SQL expression
 * expr, of type typ, to what row_to_json should render (value_expr; NULL
 * when expr needs no conversion), and an integer SQL expression counting
 * the values in it mapped lossily to null (lossy_expr; NULL when there can
 * be none).  expr is repeated in the result, so it must be cheap (a column
 * or a field of one).
 */
CREATE FUNCTION pgpull._value_expr(expr text, typ pg_catalog.oid, typmod integer,
								   depth integer DEFAULT 0,
								   OUT value_expr text, OUT lossy_expr text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_info record;
	v_sub record;
	v_elem record;
	v_field record;
	v_v text;
	v_alias text := 'pgpull_e' || _value_expr.depth;
	v_floats_exact text := '(SELECT pg_catalog.current_setting(''extra_float_digits'')::pg_catalog.int4 > 0)';
	v_fields text[] := '{}';
	v_lossy text[] := '{}';
	v_converted boolean := false;
	v_lo text;
	v_hi text;
	v_bound text;
BEGIN
	IF _value_expr.depth > 32 THEN
		RAISE EXCEPTION 'type % nests too deeply to map', _value_expr.typ::pg_catalog.regtype
			USING ERRCODE = '54001';
	END IF;
	v_info := pgpull._type_info(_value_expr.typ, _value_expr.typmod);
	/* a domain is converted as its base type */
	v_v := CASE WHEN v_info.base_type = _value_expr.typ THEN _value_expr.expr
				ELSE pg_catalog.format('(%s)::%s', _value_expr.expr, v_info.type_sql) END;

	CASE v_info.kind
	WHEN 'numeric' THEN
		value_expr := pg_catalog.format(
			'CASE WHEN %1$s < ''Infinity''::pg_catalog.numeric AND %1$s > ''-Infinity''::pg_catalog.numeric'
			' THEN %1$s END', v_v);
		lossy_expr := pg_catalog.format(
			'CASE WHEN %1$s >= ''Infinity''::pg_catalog.numeric OR %1$s <= ''-Infinity''::pg_catalog.numeric'
			' THEN 1 ELSE 0 END', v_v);
	WHEN 'float4', 'float8' THEN
		/* NaN sorts above Infinity */
		value_expr := pg_catalog.format(
			'CASE WHEN %1$s < ''Infinity''::pg_catalog.%2$s AND %1$s > ''-Infinity''::pg_catalog.%2$s'
			' THEN (CASE WHEN %3$s THEN %1$s::pg_catalog.text ELSE pgpull._float_text(%1$s) END)::pg_catalog.json END',
			v_v, v_info.kind, v_floats_exact);
		lossy_expr := pg_catalog.format(
			'CASE WHEN %1$s >= ''Infinity''::pg_catalog.%2$s OR %1$s <= ''-Infinity''::pg_catalog.%2$s'
			' THEN 1 ELSE 0 END', v_v, v_info.kind);
	WHEN 'money' THEN
		value_expr := pg_catalog.format('%s::pg_catalog.numeric', v_v);
	WHEN 'date' THEN
		value_expr := pg_catalog.format(
			'CASE WHEN %1$s >= ''0001-01-01''::pg_catalog.date AND %1$s <= ''9999-12-31''::pg_catalog.date'
			' THEN %1$s END', v_v);
		lossy_expr := pg_catalog.format(
			'CASE WHEN %1$s < ''0001-01-01''::pg_catalog.date OR %1$s > ''9999-12-31''::pg_catalog.date'
			' THEN 1 ELSE 0 END', v_v);
	WHEN 'timestamp', 'timestamptz' THEN
		/* to_json writes ISO 8601 whatever DateStyle says, trailing fraction zeros trimmed */
		IF v_info.kind = 'timestamp' THEN
			v_lo := '''0001-01-01 00:00:00''::pg_catalog.timestamp';
			v_hi := '''10000-01-01 00:00:00''::pg_catalog.timestamp';
			v_bound := v_v;
		ELSE
			v_lo := '''0001-01-01 00:00:00+00''::pg_catalog.timestamptz';
			v_hi := '''10000-01-01 00:00:00+00''::pg_catalog.timestamptz';
			v_bound := pg_catalog.format('pg_catalog.timezone(''UTC'', %s)', v_v);
		END IF;
		value_expr := pg_catalog.format(
			'CASE WHEN %1$s >= %2$s AND %1$s < %3$s'
			' THEN pg_catalog.replace(pg_catalog.to_json(%4$s)::pg_catalog.text, ''"'', '''') || ''Z'' END',
			v_v, v_lo, v_hi, v_bound);
		lossy_expr := pg_catalog.format(
			'CASE WHEN %1$s < %2$s OR %1$s >= %3$s THEN 1 ELSE 0 END', v_v, v_lo, v_hi);
	WHEN 'interval' THEN
		/* what IntervalStyle iso_8601 writes: P1Y2M3DT4H5M6.5S, P-1Y-2M, PT0S */
		value_expr := pg_catalog.format(
			'CASE WHEN %1$s IS NULL THEN NULL'
			' WHEN pg_catalog.extract(''year'', %1$s) = 0 AND pg_catalog.extract(''month'', %1$s) = 0'
			' AND pg_catalog.extract(''day'', %1$s) = 0 AND pg_catalog.extract(''hour'', %1$s) = 0'
			' AND pg_catalog.extract(''minute'', %1$s) = 0 AND pg_catalog.extract(''second'', %1$s) = 0'
			' THEN ''PT0S'''
			' ELSE ''P'''
			' || CASE WHEN pg_catalog.extract(''year'', %1$s) <> 0 THEN pg_catalog.extract(''year'', %1$s)::pg_catalog.text || ''Y'' ELSE '''' END'
			' || CASE WHEN pg_catalog.extract(''month'', %1$s) <> 0 THEN pg_catalog.extract(''month'', %1$s)::pg_catalog.text || ''M'' ELSE '''' END'
			' || CASE WHEN pg_catalog.extract(''day'', %1$s) <> 0 THEN pg_catalog.extract(''day'', %1$s)::pg_catalog.text || ''D'' ELSE '''' END'
			' || CASE WHEN pg_catalog.extract(''hour'', %1$s) <> 0 OR pg_catalog.extract(''minute'', %1$s) <> 0'
			' OR pg_catalog.extract(''second'', %1$s) <> 0 THEN ''T'' ELSE '''' END'
			' || CASE WHEN pg_catalog.extract(''hour'', %1$s) <> 0 THEN pg_catalog.extract(''hour'', %1$s)::pg_catalog.text || ''H'' ELSE '''' END'
			' || CASE WHEN pg_catalog.extract(''minute'', %1$s) <> 0 THEN pg_catalog.extract(''minute'', %1$s)::pg_catalog.text || ''M'' ELSE '''' END'
			' || CASE WHEN pg_catalog.extract(''second'', %1$s) <> 0'
			' THEN pg_catalog.trim_scale(pg_catalog.extract(''second'', %1$s))::pg_catalog.text || ''S'' ELSE '''' END'
			' END', v_v);
	WHEN 'bytea' THEN
		/* encode() breaks base64 lines every 76 characters */
		value_expr := pg_catalog.format(
			'pg_catalog.translate(pg_catalog.encode(%s, ''base64''), E''\n'', '''')', v_v);
	WHEN 'geometric' THEN
		value_expr := pg_catalog.format(
			'CASE WHEN %2$s THEN %1$s::pg_catalog.text ELSE pgpull._float_text(%1$s) END',
			v_v, v_floats_exact);
	WHEN 'range' THEN
		/* ranges of dates and time stamps: the range's text with RFC 3339 bounds */
		v_sub := pgpull._type_info(v_info.sub_type, -1);
		IF v_sub.kind IN ('date', 'timestamp', 'timestamptz') THEN
			v_bound := CASE v_sub.kind
				WHEN 'date' THEN 'pg_catalog.to_json(%1$s(%2$s))::pg_catalog.text'
				WHEN 'timestamp' THEN 'pg_catalog.to_json(%1$s(%2$s))::pg_catalog.text'
				ELSE 'pg_catalog.to_json(pg_catalog.timezone(''UTC'', %1$s(%2$s)))::pg_catalog.text' END;
			/* infinite bounds as "infinity"; a BC bound keeps its text, quoted */
			v_bound := 'CASE WHEN NOT pg_catalog.isfinite(%1$s(%2$s)) THEN %1$s(%2$s)::pg_catalog.text'
				' WHEN ' || v_bound || ' LIKE ''%% BC"'' THEN ' || v_bound
				|| ' ELSE pg_catalog.replace(' || v_bound || ', ''"'', '''')'
				|| CASE WHEN v_sub.kind = 'date' THEN '' ELSE ' || ''Z''' END || ' END';
			value_expr := pg_catalog.format(
				'CASE WHEN %1$s IS NULL THEN NULL WHEN pg_catalog.isempty(%1$s) THEN ''empty'''
				' ELSE CASE WHEN pg_catalog.lower_inc(%1$s) THEN ''['' ELSE ''('' END'
				' || COALESCE(%2$s, '''') || '','' || COALESCE(%3$s, '''')'
				' || CASE WHEN pg_catalog.upper_inc(%1$s) THEN '']'' ELSE '')'' END END',
				v_v,
				pg_catalog.format(v_bound, 'pg_catalog.lower', v_v),
				pg_catalog.format(v_bound, 'pg_catalog.upper', v_v));
		END IF;
	WHEN 'multirange' THEN
		v_sub := pgpull._value_expr(v_alias, v_info.sub_type, -1, _value_expr.depth + 1);
		IF v_sub.value_expr IS NOT NULL THEN
			value_expr := pg_catalog.format(
				'CASE WHEN %1$s IS NULL THEN NULL ELSE ''{'' || COALESCE((SELECT pg_catalog.string_agg(%2$s, '','')'
				' FROM (SELECT pg_catalog.unnest(%1$s) AS %3$s) AS pgpull_s), '''') || ''}'' END',
				v_v, v_sub.value_expr, v_alias);
		END IF;
	WHEN 'array' THEN
		v_elem := pgpull._value_expr(v_alias, v_info.sub_type, v_info.base_typmod, _value_expr.depth + 1);
		IF v_elem.value_expr IS NOT NULL THEN
			/*
			 * unnest() reads every dimension in storage order; more than one
			 * is rebuilt.  It runs in a select list, where a NULL element of
			 * a composite type stays one value (in FROM it becomes a row of
			 * NULL fields).
			 */
			value_expr := pg_catalog.format(
				'CASE WHEN %1$s IS NULL THEN NULL'
				' WHEN pg_catalog.array_ndims(%1$s) > 1 THEN pgpull._json_array_nd(ARRAY(SELECT pg_catalog.to_json(%2$s)'
				' FROM (SELECT pg_catalog.unnest(%1$s) AS %3$s) AS pgpull_s), %1$s)'
				' ELSE pg_catalog.array_to_json(ARRAY(SELECT %2$s FROM (SELECT pg_catalog.unnest(%1$s) AS %3$s) AS pgpull_s)) END',
				v_v, v_elem.value_expr, v_alias);
		END IF;
		IF v_elem.lossy_expr IS NOT NULL THEN
			lossy_expr := pg_catalog.format(
				'COALESCE((SELECT pg_catalog.sum(%2$s) FROM (SELECT pg_catalog.unnest(%1$s) AS %3$s) AS pgpull_s), 0)::pg_catalog.int4',
				v_v, v_elem.lossy_expr, v_alias);
		END IF;
	WHEN 'composite' THEN
		FOR v_field IN SELECT * FROM pgpull._attributes(v_info.sub_type) LOOP
			v_elem := pgpull._value_expr(pg_catalog.format('(%s).%I', v_v, v_field.attname),
										 v_field.atttypid, v_field.atttypmod, _value_expr.depth + 1);
			v_converted := v_converted OR v_elem.value_expr IS NOT NULL;
			v_fields := v_fields || pg_catalog.format('%s AS %I',
				COALESCE(v_elem.value_expr, pg_catalog.format('(%s).%I', v_v, v_field.attname)),
				v_field.attname);
			IF v_elem.lossy_expr IS NOT NULL THEN
				v_lossy := v_lossy || v_elem.lossy_expr;
			END IF;
		END LOOP;
		IF v_converted THEN
			value_expr := pg_catalog.format(
				'CASE WHEN %1$s IS NOT DISTINCT FROM NULL THEN NULL'
				' ELSE (SELECT pg_catalog.row_to_json(%3$s.*) FROM (SELECT %2$s) AS %3$s) END',
				v_v, pg_catalog.array_to_string(v_fields, ', '), 'pgpull_c' || _value_expr.depth);
		END IF;
		IF pg_catalog.cardinality(v_lossy) > 0 THEN
			lossy_expr := '(' || pg_catalog.array_to_string(v_lossy, ' + ') || ')';
		END IF;
	ELSE
		/* row_to_json's own rendering is the one we want */
		NULL;
	END CASE;
END
$fn$;
COMMENT ON FUNCTION pgpull._value_expr(text, pg_catalog.oid, integer, integer) IS 'internal: SQL mapping a value of a type to what row_to_json should render, and counting its lossy values';

/*
 * _row_json_parts: the pieces of the extraction query of a relation's
 * columns (NULL: all, in column order): select_list, one "<expr> AS col"
 * per column, where <expr> reads the column as alias."col", converted or
 * bare; lossy_expr, an integer expression on alias counting the values of
 * the row mapped lossily to null ("0" when no column can be).  The query:
 *
 *	 SELECT pg_catalog.row_to_json(r.*), <lossy_expr>
 *	   FROM rel AS alias CROSS JOIN LATERAL (SELECT <select_list>) AS r
 *
 * (r.* rather than r, which a column named r would capture.)
 */
CREATE FUNCTION pgpull._row_json_parts(relation pg_catalog.regclass, columns name[],
									   alias text DEFAULT 't',
									   OUT select_list text, OUT lossy_expr text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_col record;
	v_expr record;
	v_ref text;
	v_items text[] := '{}';
	v_lossy text[] := '{}';
BEGIN
	PERFORM pgpull._relation_check(_row_json_parts.relation);
	IF _row_json_parts.alias IS NULL OR _row_json_parts.alias = '' THEN
		RAISE EXCEPTION 'alias must not be null or empty'
			USING ERRCODE = '22004';
	END IF;
	FOR v_col IN SELECT * FROM pgpull._attributes(_row_json_parts.relation, _row_json_parts.columns) LOOP
		v_ref := pg_catalog.format('%I.%I', _row_json_parts.alias, v_col.attname);
		v_expr := pgpull._value_expr(v_ref, v_col.atttypid, v_col.atttypmod);
		v_items := v_items || pg_catalog.format('%s AS %I', COALESCE(v_expr.value_expr, v_ref), v_col.attname);
		IF v_expr.lossy_expr IS NOT NULL THEN
			v_lossy := v_lossy || v_expr.lossy_expr;
		END IF;
	END LOOP;
	select_list := pg_catalog.array_to_string(v_items, ', ');
	lossy_expr := CASE WHEN pg_catalog.cardinality(v_lossy) = 0 THEN '0'
					   ELSE '(' || pg_catalog.array_to_string(v_lossy, ' + ') || ')' END;
END
$fn$;
COMMENT ON FUNCTION pgpull._row_json_parts(pg_catalog.regclass, name[], text) IS 'internal: select list and lossy-value count of the row-to-JSON mapping of a relation';

/*
 * row_json_query: a ready-to-run query giving each row of a relation as
 * the puller ships it (row_json) and the number of its values mapped
 * lossily to null (lossy), for inspecting the mapping.
 */
CREATE FUNCTION pgpull.row_json_query(relation pg_catalog.regclass, columns name[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_label text;
	v_parts record;
BEGIN
	v_label := pgpull._relation_check(row_json_query.relation);
	v_parts := pgpull._row_json_parts(row_json_query.relation, row_json_query.columns, 't');
	RETURN pg_catalog.format(
		'SELECT pg_catalog.row_to_json(r.*) AS row_json, %s AS lossy FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r',
		v_parts.lossy_expr, v_label, v_parts.select_list);
END
$fn$;
COMMENT ON FUNCTION pgpull.row_json_query(pg_catalog.regclass, name[]) IS 'the query that renders the rows of a relation as the puller ships them, with a count of lossily mapped values';

/*
 * json_schema: the JSON Schema (Draft 4) of the rows of a relation as an
 * integration replicates them (its stream's columns).
 */
CREATE FUNCTION pgpull.json_schema(relation pg_catalog.regclass, integration text DEFAULT 'default')
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_label text;
	v_stream_id bigint;
BEGIN
	v_label := pgpull._relation_check(json_schema.relation);
	IF json_schema.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Omit the argument to use the integration "default".';
	END IF;
	SELECT s.stream_id INTO v_stream_id
	  FROM pgpull.stream s
	 WHERE s.integration = json_schema.integration AND s.relation = json_schema.relation;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'relation "%" is not tracked by integration "%"', v_label, json_schema.integration
			USING ERRCODE = '42704',
				  HINT = 'Track it first with pgpull.track().';
	END IF;
	RETURN pgpull._json_schema_of(json_schema.relation, pgpull._stream_columns(v_stream_id));
END
$fn$;
COMMENT ON FUNCTION pgpull.json_schema(pg_catalog.regclass, text) IS 'JSON Schema (Draft 4) of the rows of a tracked relation as its stream replicates them';

REVOKE EXECUTE ON FUNCTION pgpull.json_schema(pg_catalog.regclass, text) FROM PUBLIC;

/*
 * Streams: which relations an integration replicates, and how.
 *
 * pgpull.track, untrack, reset and reset_integration are the only writers
 * of pgpull.stream besides the run protocol.  They are not SECURITY
 * DEFINER: EXECUTE is revoked from PUBLIC, so only the extension owner and
 * roles it grants may call them.
 */

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

	IF track.method IS NULL OR track.method NOT IN ('full_table', 'key_based') THEN
		RAISE EXCEPTION 'unrecognized replication method: %', COALESCE(track.method, 'NULL')
			USING ERRCODE = '22023',
				  HINT = 'Use "full_table" or "key_based".';
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
		IF v_key_type NOT IN ('smallint'::pg_catalog.regtype, 'integer', 'bigint', 'numeric',
							  'date', 'timestamp without time zone', 'timestamp with time zone') THEN
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
		END IF;
		RETURN v_old.destination_table;
	END IF;

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

	INSERT INTO pgpull.stream (integration, relation, relation_name, method, replication_key,
							   key_columns, columns, destination_table, bookmark_type)
	VALUES (track.integration, track.relation, v_label, track.method, track.replication_key,
			v_key_columns, track.columns, v_dest,
			CASE WHEN track.replication_key IS NOT NULL
				 THEN pgpull._column_type(track.relation, track.replication_key) END);
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
 * there was such a stream.  Its run history goes with it.
 */
CREATE FUNCTION pgpull.untrack(relation pg_catalog.regclass, integration text DEFAULT 'default')
RETURNS boolean
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	DELETE FROM pgpull.stream s
	 WHERE s.integration = untrack.integration AND s.relation = untrack.relation;
	RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION pgpull.untrack(pg_catalog.regclass, text) IS 'stop replicating a relation in an integration; true when it was tracked';

/*
 * reset: make a relation's stream replicate in full on its next run.
 * Returns the number of streams reset (0 when the relation is not tracked).
 */
CREATE FUNCTION pgpull.reset(relation pg_catalog.regclass, integration text DEFAULT 'default')
RETURNS integer
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_id bigint;
	v_count integer := 0;
BEGIN
	FOR v_id IN SELECT s.stream_id FROM pgpull.stream s
				 WHERE s.integration = reset.integration AND s.relation = reset.relation
				   FOR UPDATE
	LOOP
		PERFORM pgpull._reset_stream(v_id);
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION pgpull.reset(pg_catalog.regclass, text) IS 'clear the bookmark and resume position of a stream; returns the number of streams reset';

/*
 * reset_integration: reset every stream of an integration.
 */
CREATE FUNCTION pgpull.reset_integration(integration text)
RETURNS integer
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_id bigint;
	v_count integer := 0;
BEGIN
	FOR v_id IN SELECT s.stream_id FROM pgpull.stream s
				 WHERE s.integration = reset_integration.integration
				   FOR UPDATE
	LOOP
		PERFORM pgpull._reset_stream(v_id);
		v_count := v_count + 1;
	END LOOP;
	RETURN v_count;
END
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
REVOKE ALL ON pgpull.streams FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION pgpull._relation_label(pg_catalog.oid),
	pgpull._column_type(pg_catalog.regclass, name, boolean),
	pgpull._stream_columns(bigint),
	pgpull.track(pg_catalog.regclass, text, name, name[], name[], text),
	pgpull._reset_stream(bigint),
	pgpull.untrack(pg_catalog.regclass, text),
	pgpull.reset(pg_catalog.regclass, text),
	pgpull.reset_integration(text)
	FROM PUBLIC;

/*
 * Grants: the scripts a DBA runs to give a least-privilege replication role
 * what pgpull needs (and to take it back), and the audit of what that role
 * can and cannot do.
 *
 * The scripts are SETOF text, one statement per row, for psql's \gexec:
 * nothing here changes a privilege by itself.  Every identifier goes
 * through %I and every literal through %L; comment rows have their control
 * characters replaced, so no name can end a comment and start a statement.
 *
 * Default privileges: ALTER DEFAULT PRIVILEGES only covers tables created
 * by the role it names (FOR ROLE), so the scripts and the audit work per
 * creating role: every role that can create tables in the schema, that is
 * every role r with has_schema_privilege(r, s, 'CREATE'), superusers and
 * inherited CREATE included, with pg_database_owner read as the database's
 * owner, and without roles that hold CREATE only through a grant to PUBLIC
 * (those cannot be covered one by one: the audit reports such a grant as a
 * hazard instead).
 */

/*
 * _puller_functions: the functions the replication role may execute, as
 * regprocedure text.  grant_script grants EXECUTE on each, revoke_script
 * revokes it.  The one list: a function the puller calls goes here (the
 * run protocol of the run part, and the standby check).  The extraction
 * queries also call pgpull._float_text and pgpull._json_array_nd, which
 * PUBLIC may execute.
 */
CREATE FUNCTION pgpull._puller_functions()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT ARRAY[
		'pgpull.version()',
		'pgpull.check_standby()',
		'pgpull.begin_run(text,text,text)',
		'pgpull.take_stream(bigint,bigint)',
		'pgpull.extraction_query(bigint,bigint,text,integer)',
		'pgpull.record_batch(bigint,bigint,bigint,bigint,text,bigint)',
		'pgpull.log(bigint,bigint,text,text)',
		'pgpull.end_stream(bigint,bigint,text,bigint,text)',
		'pgpull.end_run(bigint,text,text)',
		'pgpull.record_emitted(bigint,bigint,bigint,bigint,text,bigint,boolean)',
		'pgpull.end_singer_stream(bigint,bigint,text,bigint,text)',
		'pgpull.commit_state(jsonb)'
	]::text[];
$fn$;
COMMENT ON FUNCTION pgpull._puller_functions() IS 'internal: the functions grant_script lets the replication role execute';

/*
 * _hmac_sha256: HMAC-SHA-256 (RFC 2104) on pg_catalog.sha256.
 */
CREATE FUNCTION pgpull._hmac_sha256(key bytea, message bytea)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_key bytea := _hmac_sha256.key;
	v_ipad bytea;
	v_opad bytea;
	i integer;
BEGIN
	IF pg_catalog.length(v_key) > 64 THEN
		v_key := pg_catalog.sha256(v_key);
	END IF;
	v_key := v_key || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(v_key)), 'hex');
	v_ipad := v_key;
	v_opad := v_key;
	FOR i IN 0..63 LOOP
		v_ipad := pg_catalog.set_byte(v_ipad, i, pg_catalog.get_byte(v_key, i) # 54);
		v_opad := pg_catalog.set_byte(v_opad, i, pg_catalog.get_byte(v_key, i) # 92);
	END LOOP;
	RETURN pg_catalog.sha256(v_opad || pg_catalog.sha256(v_ipad || _hmac_sha256.message));
END
$fn$;
COMMENT ON FUNCTION pgpull._hmac_sha256(bytea, bytea) IS 'internal: HMAC-SHA-256 of a message under a key';

/*
 * _saslprep: the password as libpq's SCRAM client prepares it before
 * hashing (pg_saslprep, RFC 4013), approximated in SQL:
 *
 * - an ASCII password is used as it is, exactly as PostgreSQL does;
 * - otherwise (UTF8 databases only) non-ASCII spaces become spaces,
 *   "commonly mapped to nothing" characters are removed, and the result is
 *   normalized to NFKC with pg_catalog.normalize;
 * - when the mapped password is empty or holds a prohibited character
 *   (RFC 3454 C.1.2 to C.9), PostgreSQL hashes the password unchanged, and
 *   so does this;
 * - not reproduced: the Unicode 3.2 unassigned-code-point table (A.1) and
 *   the bidirectional rules.  They only matter when normalization changes
 *   the password, so then a password with right-to-left characters is
 *   refused, and one with characters unassigned in Unicode 3.2 (emoji, for
 *   instance) may get a verifier PostgreSQL's clients do not match.  ASCII
 *   passwords, or psql's \password, avoid every approximation.
 */
CREATE FUNCTION pgpull._saslprep(password text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_mapped text;
	v_normalized text;
BEGIN
	IF _saslprep.password !~ '[^\u0001-\u007f]' THEN
		RETURN _saslprep.password;
	END IF;
	IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
		RAISE EXCEPTION 'cannot prepare a non-ASCII password in a % database', pg_catalog.getdatabaseencoding()
			USING ERRCODE = '22023',
				  DETAIL = 'SCRAM hashes the password as UTF-8, and this database does not store UTF-8.',
				  HINT = 'Use an ASCII password, or leave it out and set it with psql''s \password.';
	END IF;
	v_mapped := pg_catalog.regexp_replace(_saslprep.password,
		'[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]', ' ', 'g');
	v_mapped := pg_catalog.regexp_replace(v_mapped,
		'[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]', '', 'g');
	IF v_mapped = ''
	   OR v_mapped ~ ('[\u0001-\u001f\u007f-\u00a0\u0340\u0341\u06dd\u070f\u1680\u180e'
					  '\u2000-\u200f\u2028-\u202f\u205f-\u2063\u206a-\u206f\u2ff0-\u2ffb'
					  '\u3000\ue000-\uf8ff\ufdd0-\ufdef\ufeff\ufff9-\uffff'
					  '\U0001d173-\U0001d17a\U0001fffe\U0001ffff\U0002fffe\U0002ffff'
					  '\U0003fffe\U0003ffff\U0004fffe\U0004ffff\U0005fffe\U0005ffff'
					  '\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff'
					  '\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff'
					  '\U000cfffe\U000cffff\U000dfffe\U000dffff\U000e0001\U000e0020-\U000e007f'
					  '\U000efffe\U000effff\U000f0000-\U0010ffff]') THEN
		/* PostgreSQL's clients hash such a password unprepared */
		RETURN _saslprep.password;
	END IF;
	v_normalized := pg_catalog.normalize(v_mapped, 'NFKC');
	IF v_normalized = _saslprep.password THEN
		RETURN v_normalized;
	END IF;
	IF v_mapped ~ ('[\u05be\u05c0\u05c3\u05d0-\u05ea\u05f0-\u05f4\u061b\u061f\u0621-\u063a'
				   '\u0640-\u064a\u066d-\u066f\u0671-\u06d5\u06dd\u06e5\u06e6\u06fa-\u06fe'
				   '\u0700-\u070d\u0710\u0712-\u072c\u0780-\u07a5\u07b1\u200f\ufb1d'
				   '\ufb1f-\ufb28\ufb2a-\ufb36\ufb38-\ufb3c\ufb3e\ufb40\ufb41\ufb43\ufb44'
				   '\ufb46-\ufbb1\ufbd3-\ufd3d\ufd50-\ufd8f\ufd92-\ufdc7\ufdf0-\ufdfc'
				   '\ufe70-\ufe74\ufe76-\ufefc]') THEN
		RAISE EXCEPTION 'cannot prepare a password with right-to-left characters'
			USING ERRCODE = '22023',
				  DETAIL = 'SASLprep''s bidirectional rules for this password are not reproduced in SQL.',
				  HINT = 'Leave the password out and set it with psql''s \password.';
	END IF;
	RETURN v_normalized;
END
$fn$;
COMMENT ON FUNCTION pgpull._saslprep(text) IS 'internal: a password prepared as SCRAM clients prepare it (SASLprep, approximated: see the source)';

/*
 * _scram_sha256: the SCRAM-SHA-256 verifier of a password, in the form
 * CREATE ROLE ... PASSWORD stores as is (RFC 5802 and 7677):
 * SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, with
 * SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt,
 * iterations), ClientKey = HMAC(SaltedPassword, 'Client Key'), StoredKey =
 * SHA-256(ClientKey) and ServerKey = HMAC(SaltedPassword, 'Server Key').
 * Without a salt, 16 bytes are drawn from gen_random_uuid()'s strong
 * random source (hashed, as UUIDs fix a few bits).
 */
CREATE FUNCTION pgpull._scram_sha256(password text, salt bytea DEFAULT NULL, iterations integer DEFAULT 4096)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_salt bytea := _scram_sha256.salt;
	v_key bytea;
	v_ipad bytea;
	v_opad bytea;
	v_u bytea;
	v_acc bit(256);
	v_hex text := '';
	v_salted bytea;
	i integer;
BEGIN
	IF _scram_sha256.password IS NULL THEN
		RAISE EXCEPTION 'password must not be null'
			USING ERRCODE = '22004';
	END IF;
	IF _scram_sha256.password = '' THEN
		RAISE EXCEPTION 'empty password'
			USING ERRCODE = '22023',
				  DETAIL = 'PostgreSQL refuses empty passwords.',
				  HINT = 'Pass NULL to set the password later with psql''s \password.';
	END IF;
	IF _scram_sha256.iterations IS NULL OR _scram_sha256.iterations < 1 THEN
		RAISE EXCEPTION 'iterations must be at least 1'
			USING ERRCODE = '22023';
	END IF;
	IF v_salt IS NULL THEN
		v_salt := pg_catalog.substr(pg_catalog.sha256(pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
													 || pg_catalog.uuid_send(pg_catalog.gen_random_uuid())), 1, 16);
	END IF;

	/* PBKDF2 with one 32-byte block: U1 = HMAC(P, salt || INT(1)), Ui = HMAC(P, Ui-1) */
	v_key := pg_catalog.convert_to(pgpull._saslprep(_scram_sha256.password), 'UTF8');
	IF pg_catalog.length(v_key) > 64 THEN
		v_key := pg_catalog.sha256(v_key);
	END IF;
	v_key := v_key || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(v_key)), 'hex');
	v_ipad := v_key;
	v_opad := v_key;
	FOR i IN 0..63 LOOP
		v_ipad := pg_catalog.set_byte(v_ipad, i, pg_catalog.get_byte(v_key, i) # 54);
		v_opad := pg_catalog.set_byte(v_opad, i, pg_catalog.get_byte(v_key, i) # 92);
	END LOOP;
	v_u := pg_catalog.sha256(v_opad || pg_catalog.sha256(v_ipad || v_salt || '\x00000001'::bytea));
	v_acc := ('x' || pg_catalog.encode(v_u, 'hex'))::bit(256);
	FOR i IN 2.._scram_sha256.iterations LOOP
		v_u := pg_catalog.sha256(v_opad || pg_catalog.sha256(v_ipad || v_u));
		v_acc := v_acc # ('x' || pg_catalog.encode(v_u, 'hex'))::bit(256);
	END LOOP;
	FOR i IN 0..3 LOOP
		v_hex := v_hex || pg_catalog.lpad(pg_catalog.to_hex(
			pg_catalog.substring(v_acc, 1 + 64 * i, 64)::bit(64)::bigint), 16, '0');
	END LOOP;
	v_salted := pg_catalog.decode(v_hex, 'hex');

	RETURN pg_catalog.format('SCRAM-SHA-256$%s:%s$%s:%s',
		_scram_sha256.iterations,
		pg_catalog.encode(v_salt, 'base64'),
		pg_catalog.encode(pg_catalog.sha256(pgpull._hmac_sha256(v_salted, 'Client Key'::bytea)), 'base64'),
		pg_catalog.encode(pgpull._hmac_sha256(v_salted, 'Server Key'::bytea), 'base64'));
END
$fn$;
COMMENT ON FUNCTION pgpull._scram_sha256(text, bytea, integer) IS 'internal: the SCRAM-SHA-256 verifier of a password (random salt unless one is given)';

/*
 * _comment: text made safe for a "-- ..." comment row: control characters
 * (a newline would end the comment) become "?".
 */
CREATE FUNCTION pgpull._comment(message text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT '-- ' || pg_catalog.regexp_replace(_comment.message, '[[:cntrl:]]', '?', 'g');
$fn$;
COMMENT ON FUNCTION pgpull._comment(text) IS 'internal: a comment row for a script, with control characters replaced';

/*
 * _quoted: an identifier always in double quotes, for messages.
 */
CREATE FUNCTION pgpull._quoted(ident text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT '"' || pg_catalog.replace(_quoted.ident, '"', '""') || '"';
$fn$;
COMMENT ON FUNCTION pgpull._quoted(text) IS 'internal: an identifier in double quotes, inner quotes doubled';

/*
 * _role_oid: the OID of an existing role; 22004 for NULL, 42704 when there
 * is no such role.
 */
CREATE FUNCTION pgpull._role_oid(role name)
RETURNS pg_catalog.oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_oid pg_catalog.oid;
BEGIN
	IF _role_oid.role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Name the replication role.';
	END IF;
	SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = _role_oid.role;
	IF v_oid IS NULL THEN
		RAISE EXCEPTION 'role "%" does not exist', _role_oid.role
			USING ERRCODE = '42704',
				  HINT = 'Role names are taken as spelled, case-sensitive and without quotes; pgpull.grant_script creates the role.';
	END IF;
	RETURN v_oid;
END
$fn$;
COMMENT ON FUNCTION pgpull._role_oid(name) IS 'internal: the OID of an existing role, or an error';

/*
 * _schema_list: the schemas of an array, first occurrence first, duplicates
 * dropped; 22004 for a NULL element, 3F000 for a schema that does not
 * exist.
 */
CREATE FUNCTION pgpull._schema_list(schemas name[])
RETURNS TABLE (schema_oid pg_catalog.oid, schema_name name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_name name;
	v_oid pg_catalog.oid;
	v_seen pg_catalog.oid[] := '{}';
BEGIN
	IF _schema_list.schemas IS NULL THEN
		RETURN;
	END IF;
	FOREACH v_name IN ARRAY _schema_list.schemas LOOP
		IF v_name IS NULL THEN
			RAISE EXCEPTION 'schemas must not contain null'
				USING ERRCODE = '22004',
					  HINT = 'Name each schema, as it is spelled.';
		END IF;
		SELECT n.oid INTO v_oid FROM pg_catalog.pg_namespace n WHERE n.nspname = v_name;
		IF v_oid IS NULL THEN
			RAISE EXCEPTION 'schema "%" does not exist', v_name
				USING ERRCODE = '3F000',
					  HINT = 'Schema names are taken as spelled, case-sensitive and without quotes.';
		END IF;
		IF v_oid <> ALL (v_seen) THEN
			v_seen := v_seen || v_oid;
			schema_oid := v_oid;
			schema_name := v_name;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._schema_list(name[]) IS 'internal: the schemas of an array, checked, in order, without duplicates';

/*
 * _table_creators: the roles whose new tables in a schema need a default
 * privilege for the replication role: every role that can create there
 * (has_schema_privilege CREATE: superusers and inherited CREATE included),
 * pg_database_owner read as the database's owner, except the replication
 * role itself and roles that hold CREATE only through PUBLIC.  In name
 * order.
 */
CREATE FUNCTION pgpull._table_creators(role name, schema_oid pg_catalog.oid)
RETURNS SETOF name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT c.creator
	  FROM (SELECT DISTINCT
				   CASE WHEN r.rolname = 'pg_database_owner' THEN o.rolname ELSE r.rolname END AS creator
			  FROM pg_catalog.pg_namespace n
			 CROSS JOIN pg_catalog.pg_roles r
			 CROSS JOIN pg_catalog.pg_database d
			  JOIN pg_catalog.pg_roles o ON o.oid = d.datdba
			 WHERE n.oid = _table_creators.schema_oid
			   AND d.datname = pg_catalog.current_database()
			   AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')
			   AND (r.rolsuper
					OR EXISTS (SELECT
								 FROM pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
								WHERE a.privilege_type = 'CREATE'
								  AND a.grantee <> 0
								  AND pg_catalog.pg_has_role(r.oid, a.grantee, 'USAGE')))) c
	 WHERE c.creator IS DISTINCT FROM _table_creators.role
	 ORDER BY c.creator COLLATE "C";
$fn$;
COMMENT ON FUNCTION pgpull._table_creators(name, pg_catalog.oid) IS 'internal: the roles that can create tables in a schema, for default privileges';

/*
 * _public_creates: whether PUBLIC holds CREATE on a schema.
 */
CREATE FUNCTION pgpull._public_creates(schema_oid pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT EXISTS (SELECT
					 FROM pg_catalog.pg_namespace n,
						  pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
					WHERE n.oid = _public_creates.schema_oid
					  AND a.grantee = 0
					  AND a.privilege_type = 'CREATE');
$fn$;
COMMENT ON FUNCTION pgpull._public_creates(pg_catalog.oid) IS 'internal: whether PUBLIC may create objects in a schema';

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
CREATE FUNCTION pgpull.grant_script(role name, schemas name[], password text DEFAULT NULL)
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
	v_statement text;
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
	/* check every schema before the first row goes out */
	PERFORM pgpull._schema_list(grant_script.schemas);
	v_exists := EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role);

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
COMMENT ON FUNCTION pgpull.grant_script(name, name[], text) IS 'statements (one per row, for \gexec) that create a replication role if needed and grant it CONNECT, schema USAGE, SELECT and default privileges per creating role';

/*
 * revoke_script: the statements that take back what grant_script gave, for
 * some schemas, one per row, for psql's \gexec: per schema, the default
 * privileges that give the role SELECT (one row per creating role that set
 * one, or a comment row where the current role is not a member of it),
 * SELECT on every table (which takes column grants with it) and USAGE.
 * When no other schema stays granted to the role, also the database-wide
 * default privileges, EXECUTE on the puller's functions, USAGE on schema
 * pgpull and CONNECT.  It never drops the role.
 */
CREATE FUNCTION pgpull.revoke_script(role name, schemas name[])
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_role pg_catalog.oid;
	v_schema record;
	v_creator name;
	v_function text;
	v_statement text;
	v_oids pg_catalog.oid[];
BEGIN
	v_role := pgpull._role_oid(revoke_script.role);
	IF revoke_script.schemas IS NULL THEN
		RAISE EXCEPTION 'schemas must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Pass an empty array to revoke only CONNECT and the pgpull functions.';
	END IF;
	SELECT COALESCE(pg_catalog.array_agg(l.schema_oid), '{}') INTO v_oids
	  FROM pgpull._schema_list(revoke_script.schemas) l;

	FOR v_schema IN SELECT * FROM pgpull._schema_list(revoke_script.schemas) LOOP
		FOR v_creator IN
			SELECT r.rolname
			  FROM pg_catalog.pg_default_acl d
			  JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
			 WHERE d.defaclnamespace = v_schema.schema_oid
			   AND d.defaclobjtype = 'r'
			   AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) a
							WHERE a.grantee = v_role AND a.privilege_type = 'SELECT')
			 ORDER BY r.rolname COLLATE "C"
		LOOP
			v_statement := pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I REVOKE SELECT ON TABLES FROM %I',
											 v_creator, v_schema.schema_name, revoke_script.role);
			IF pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER') THEN
				RETURN NEXT v_statement;
			ELSE
				RETURN NEXT pgpull._comment(pg_catalog.format(
					'cannot revoke default privileges of role %s in schema %s: the current role %s is not a member of it; run as %s or a member of it: %s',
					pgpull._quoted(v_creator), pgpull._quoted(v_schema.schema_name),
					pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), v_statement));
			END IF;
		END LOOP;
		RETURN NEXT pg_catalog.format('REVOKE SELECT ON ALL TABLES IN SCHEMA %I FROM %I',
									  v_schema.schema_name, revoke_script.role);
		RETURN NEXT pg_catalog.format('REVOKE USAGE ON SCHEMA %I FROM %I', v_schema.schema_name, revoke_script.role);
	END LOOP;

	/* another schema stays granted: keep what every schema needs */
	IF EXISTS (SELECT
				 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
				WHERE n.oid <> ALL (v_oids)
				  AND n.nspname <> 'pgpull'
				  AND a.grantee = v_role
				  AND a.privilege_type = 'USAGE') THEN
		RETURN;
	END IF;

	FOR v_creator IN
		SELECT r.rolname
		  FROM pg_catalog.pg_default_acl d
		  JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
		 WHERE d.defaclnamespace = 0
		   AND d.defaclobjtype = 'r'
		   AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) a
						WHERE a.grantee = v_role AND a.privilege_type = 'SELECT')
		 ORDER BY r.rolname COLLATE "C"
	LOOP
		v_statement := pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE SELECT ON TABLES FROM %I',
										 v_creator, revoke_script.role);
		IF pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER') THEN
			RETURN NEXT v_statement;
		ELSE
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'cannot revoke default privileges of role %s: the current role %s is not a member of it; run as %s or a member of it: %s',
				pgpull._quoted(v_creator), pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), v_statement));
		END IF;
	END LOOP;
	FOREACH v_function IN ARRAY pgpull._puller_functions() LOOP
		RETURN NEXT pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %I',
									  v_function::pg_catalog.regprocedure, revoke_script.role);
	END LOOP;
	RETURN NEXT pg_catalog.format('REVOKE USAGE ON SCHEMA %I FROM %I', 'pgpull', revoke_script.role);
	RETURN NEXT pg_catalog.format('REVOKE CONNECT ON DATABASE %I FROM %I',
								  pg_catalog.current_database(), revoke_script.role);
END
$fn$;
COMMENT ON FUNCTION pgpull.revoke_script(name, name[]) IS 'statements (one per row, for \gexec) that revoke what grant_script granted on some schemas; never drops the role';

/*
 * _privilege_via: how a role holds a privilege on an object whose ACL is
 * given (NULL ACLs already replaced by acldefault): via = 'superuser',
 * 'direct' (granted to the role itself, owners included), 'public',
 * 'member' (granted to via_role, which the role inherits through its direct
 * membership in via_member; predefined roles such as pg_read_all_data
 * included) or NULL when the role does not hold it.
 */
CREATE FUNCTION pgpull._privilege_via(role pg_catalog.oid, acl pg_catalog.aclitem[], privilege text,
									  OUT via text, OUT via_role name, OUT via_member name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_grantee pg_catalog.oid;
BEGIN
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = _privilege_via.role) THEN
		via := 'superuser';
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.aclexplode(_privilege_via.acl) a
				WHERE a.grantee = _privilege_via.role AND a.privilege_type = _privilege_via.privilege) THEN
		via := 'direct';
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.aclexplode(_privilege_via.acl) a
				WHERE a.grantee = 0 AND a.privilege_type = _privilege_via.privilege) THEN
		via := 'public';
		RETURN;
	END IF;
	SELECT g.oid, g.rolname INTO v_grantee, via_role
	  FROM pg_catalog.aclexplode(_privilege_via.acl) a
	  JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
	 WHERE a.privilege_type = _privilege_via.privilege
	   AND pg_catalog.pg_has_role(_privilege_via.role, a.grantee, 'USAGE')
	 ORDER BY g.rolname COLLATE "C"
	 LIMIT 1;
	IF v_grantee IS NULL THEN
		SELECT g.oid, g.rolname INTO v_grantee, via_role
		  FROM pg_catalog.pg_roles g
		 WHERE (g.rolname = 'pg_read_all_data' AND _privilege_via.privilege IN ('SELECT', 'USAGE')
				OR g.rolname = 'pg_write_all_data' AND _privilege_via.privilege IN ('INSERT', 'UPDATE', 'DELETE', 'USAGE'))
		   AND pg_catalog.pg_has_role(_privilege_via.role, g.oid, 'USAGE')
		 ORDER BY g.rolname COLLATE "C"
		 LIMIT 1;
	END IF;
	IF v_grantee IS NULL THEN
		RETURN;
	END IF;
	via := 'member';
	SELECT p.rolname INTO via_member
	  FROM pg_catalog.pg_auth_members m
	  JOIN pg_catalog.pg_roles p ON p.oid = m.roleid
	 WHERE m.member = _privilege_via.role
	   AND pg_catalog.pg_has_role(m.roleid, v_grantee, 'USAGE')
	 ORDER BY p.rolname COLLATE "C"
	 LIMIT 1;
END
$fn$;
COMMENT ON FUNCTION pgpull._privilege_via(pg_catalog.oid, pg_catalog.aclitem[], text) IS 'internal: how a role holds a privilege: superuser, direct, public or member';

/*
 * _via_detail: the sentence for a privilege held as _privilege_via says.
 */
CREATE FUNCTION pgpull._via_detail(via text, via_role name)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE _via_detail.via
		WHEN 'superuser' THEN 'held as superuser'
		WHEN 'direct' THEN 'granted to the role'
		WHEN 'public' THEN 'granted to PUBLIC'
		WHEN 'member' THEN pg_catalog.format('held through membership in role %s', pgpull._quoted(_via_detail.via_role))
		ELSE 'held'
	END;
$fn$;
COMMENT ON FUNCTION pgpull._via_detail(text, name) IS 'internal: how a privilege is held, as a phrase';

/*
 * _revoke_fix: the statement that takes away a privilege held as
 * _privilege_via says: REVOKE from the role or from PUBLIC, REVOKE of the
 * membership it comes through, or NOSUPERUSER.
 */
CREATE FUNCTION pgpull._revoke_fix(role name, via text, via_member name, privilege text, object text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE _revoke_fix.via
		WHEN 'superuser' THEN pg_catalog.format('ALTER ROLE %I NOSUPERUSER', _revoke_fix.role)
		WHEN 'public' THEN pg_catalog.format('REVOKE %s ON %s FROM PUBLIC', _revoke_fix.privilege, _revoke_fix.object)
		WHEN 'member' THEN pg_catalog.format('REVOKE %I FROM %I', _revoke_fix.via_member, _revoke_fix.role)
		ELSE pg_catalog.format('REVOKE %s ON %s FROM %I', _revoke_fix.privilege, _revoke_fix.object, _revoke_fix.role)
	END;
$fn$;
COMMENT ON FUNCTION pgpull._revoke_fix(name, text, name, text, text) IS 'internal: the statement that takes a privilege away from a role';

/*
 * _tracked_relations: the relations tracked streams replicate, with the
 * columns each stream selects (pgpull._stream_columns), one row per stream.
 * SECURITY DEFINER, so that an administrator granted check_privileges
 * needs no privilege on the catalog tables; it shows only relation OIDs and
 * column names.
 */
CREATE FUNCTION pgpull._tracked_relations()
RETURNS TABLE (relation pg_catalog.oid, columns name[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.relation::pg_catalog.oid, pgpull._stream_columns(s.stream_id)
	  FROM pgpull.stream s
	  JOIN pg_catalog.pg_class c ON c.oid = s.relation;
$fn$;
COMMENT ON FUNCTION pgpull._tracked_relations() IS 'internal: tracked relations and the columns their streams select';

/*
 * check_privileges: the audit of a replication role, one row per required
 * privilege (kind 'required') and per hazard (kind 'hazard'); ok says
 * whether the privilege is held (required) or the hazard absent (hazard);
 * detail explains, and fix is a ready, quoted statement when ok is false.
 *
 * Required: CONNECT on the database; USAGE on schema pgpull and on each
 * schema; SELECT on every table, partitioned table (and partition), view,
 * materialized view and foreign table there; SELECT on each column tracked
 * streams there replicate (pgpull._stream_columns); and per schema and per
 * creating role (pgpull._table_creators), a default privilege that gives
 * the role SELECT on that role's new tables: a pg_default_acl entry of the
 * creator, for the schema or database-wide, granting SELECT on tables to
 * the role, to PUBLIC or to a role it inherits (or the role is a
 * superuser, or inherits the creator itself).
 *
 * Hazards: the role is a superuser; it holds INSERT, UPDATE, DELETE or
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
CREATE FUNCTION pgpull.check_privileges(role name, schemas name[] DEFAULT NULL)
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
 * The three entry points are the DBA's: only the extension owner and the
 * roles it grants them to may call them.  The helpers keep PUBLIC's
 * EXECUTE so that such a grant is enough (schema pgpull has no USAGE for
 * PUBLIC anyway); they read nothing a role could not read itself, but for
 * _tracked_relations, which shows tracked relations and columns.
 */
REVOKE EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text),
	pgpull.revoke_script(name, name[]),
	pgpull.check_privileges(name, name[])
	FROM PUBLIC;

/*
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
REVOKE EXECUTE ON FUNCTION pgpull.check_standby() FROM PUBLIC;

/*
 * The run protocol: the functions the puller calls, in the order it calls
 * them (README.md, "The run protocol", is the contract):
 *
 *	 version()											the extension's version
 *	 begin_run(integration, puller_version, target_kind)	a run and its streams
 *	 take_stream(run_id, stream_id)						lock a stream, or skip it
 *	 extraction_query(run_id, stream_id, after_position, chunk_rows)
 *														the SQL of the next chunk
 *	 record_batch(run_id, stream_id, rows, bytes, last_position, lossy)
 *														a batch the destination accepted
 *	 log(run_id, stream_id, level, message)				an extraction log line
 *	 end_stream(run_id, stream_id, status, rows_extracted, error)
 *	 end_run(run_id, status, error)
 *
 * and the view pgpull.loading_report (the Singer part adds record_emitted,
 * end_singer_stream and commit_state).  Every function is SECURITY DEFINER
 * (the puller's role writes the catalog only through them), EXECUTE is
 * revoked from PUBLIC, and grant_script grants it on the list in
 * pgpull._puller_functions() (in the grants part).
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
 * past it would make ">=" miss that row forever.  So chunks leave for the
 * next run every row whose key is at or after a cap no later than the start
 * of any transaction open when the chunk's snapshot was taken.  The cap
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
 * valid (a standby far behind) means no capped rows this time.  Keys in
 * the future (and infinity) wait for their time.  timestamp keys are
 * capped in the writers' local time (UTC, the database's and the session's
 * time zones, the earliest); date keys at the day of the cap (rows dated
 * after it wait).  Other key types get no cap: extraction_query logs a
 * warning when writing transactions are open.  A transaction open for more
 * than 5 minutes holds the cap back: extraction_query logs a warning too.
 */

/*
 * The catalog additions of the run protocol.
 */
ALTER TABLE pgpull.run_streams
	ADD COLUMN last_batch_at timestamptz,
	ADD COLUMN lossy_values bigint NOT NULL DEFAULT 0,
	ADD COLUMN watermark_warned boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pgpull.run_streams.last_batch_at IS 'when the destination last accepted a batch of the stream in this run';
COMMENT ON COLUMN pgpull.run_streams.lossy_values IS 'values of accepted rows mapped lossily to null (NaN, infinite dates, ...)';
COMMENT ON COLUMN pgpull.run_streams.watermark_warned IS 'whether the run logged its one commit-safe watermark warning for the stream';
CREATE INDEX run_streams_stream_id_started_at_idx ON pgpull.run_streams (stream_id, started_at);

CREATE TABLE pgpull.watermark_sample (
	sample_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	taken_at		timestamptz NOT NULL,
	xid				pg_catalog.xid8 NOT NULL,	/* taken after reading the open transactions */
	cap				timestamptz NOT NULL,		/* no open transaction started before it */
	oldest_pid		integer,					/* the open transaction that set the cap */
	oldest_start	timestamptz,
	writers			integer NOT NULL,			/* open transactions holding an ID */
	hidden			integer NOT NULL			/* open transactions whose start was not visible */
);
CREATE INDEX watermark_sample_taken_at_idx ON pgpull.watermark_sample (taken_at);
COMMENT ON TABLE pgpull.watermark_sample IS 'internal: samples of the open transactions, for the commit-safe cap of date and time replication keys (kept 3 days)';
REVOKE ALL ON pgpull.watermark_sample FROM PUBLIC;

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
 * _run: the run row, locked; P0002 when there is none, 55000 when it must
 * be running and is not.
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
 * _running_stream: the run's row of a stream it has taken and not yet
 * ended, locked; an error (55000) when the run is not syncing it.
 */
CREATE FUNCTION pgpull._running_stream(run pgpull.runs, stream pgpull.stream)
RETURNS pgpull.run_streams
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_rs pgpull.run_streams;
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
	RETURN v_rs;
END
$fn$;
COMMENT ON FUNCTION pgpull._running_stream(pgpull.runs, pgpull.stream) IS 'internal: the run''s row of a stream it is syncing, locked, or an error';

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
				  HINT = 'Track the relation again if it was recreated, or untrack it.';
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
 * _writer_time_zones: the time zones a writer of timestamp (without time
 * zone) values may use: UTC, the session's, the session's default, the
 * database's default.
 */
CREATE FUNCTION pgpull._writer_time_zones()
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_zones text[] := ARRAY['UTC', pg_catalog.current_setting('TimeZone')];
	v_zone text;
	v_ok text[] := '{}';
BEGIN
	v_zones := v_zones || (SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name = 'TimeZone');
	v_zones := v_zones || ARRAY(
		SELECT pg_catalog.substr(c.setting, pg_catalog.strpos(c.setting, '=') + 1)
		  FROM pg_catalog.pg_db_role_setting r
		 CROSS JOIN LATERAL pg_catalog.unnest(r.setconfig) AS c(setting)
		 WHERE r.setrole = 0
		   AND r.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d
								 WHERE d.datname = pg_catalog.current_database())
		   AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) = 'timezone');
	FOREACH v_zone IN ARRAY v_zones LOOP
		CONTINUE WHEN v_zone IS NULL OR v_zone = ANY (v_ok);
		BEGIN
			PERFORM pg_catalog.timezone(v_zone, pg_catalog.now());
			v_ok := v_ok || v_zone;
		EXCEPTION WHEN invalid_parameter_value OR feature_not_supported THEN
			NULL;
		END;
	END LOOP;
	RETURN v_ok;
END
$fn$;
COMMENT ON FUNCTION pgpull._writer_time_zones() IS 'internal: the time zones timestamp keys may be written in';

/*
 * _watermark_sample: a sample of the open transactions of this database
 * (see the commit-safe watermark at the top of this part).  Reads the
 * start of every transaction open in another session, then takes a
 * transaction ID, so a snapshot that sees that ID as finished (xmax past it
 * on a primary, xmin past it on a standby) was taken after the read.
 * Transactions of roles whose activity the extension owner may not read
 * (neither superuser nor pg_read_all_stats) are counted in hidden and
 * otherwise ignored; prepared transactions count from when they were
 * prepared (their start is not recorded anywhere).  Keeps three days.
 */
CREATE FUNCTION pgpull._watermark_sample()
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
	SELECT a.pid, a.xact_start INTO v_sample.oldest_pid, v_sample.oldest_start
	  FROM pg_catalog.pg_stat_activity a
	 WHERE a.datname = pg_catalog.current_database()
	   AND a.pid <> pg_catalog.pg_backend_pid()
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
	   AND a.pid <> pg_catalog.pg_backend_pid();
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
	INSERT INTO pgpull.watermark_sample (taken_at, xid, cap, oldest_pid, oldest_start, writers, hidden)
	VALUES (v_sample.taken_at, v_sample.xid, v_sample.cap, v_sample.oldest_pid, v_sample.oldest_start,
			v_sample.writers, v_sample.hidden)
	RETURNING * INTO v_sample;
	RETURN v_sample;
END
$fn$;
COMMENT ON FUNCTION pgpull._watermark_sample() IS 'internal: record when the oldest open transaction of the database started';

/*
 * _watermark_cap_expr: the scalar subquery, run inside a chunk's snapshot
 * on the source, giving the cap of a replication key of base type typ
 * (timestamptz, timestamp or date) from the newest valid sample among the
 * current one and the newest older than 1 s, 10 s, 1 min, 10 min, 1 h,
 * 1 day and 2 days (NULL when none is valid).
 */
CREATE FUNCTION pgpull._watermark_cap_expr(current_sample pgpull.watermark_sample, typ pg_catalog.oid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_zones text[] := pgpull._writer_time_zones();
	v_values text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.format('(%L::pg_catalog.xid8, %L::%s)', x.xid,
			CASE _watermark_cap_expr.typ
			WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype THEN
				pg_catalog.btrim(pg_catalog.to_json(pg_catalog.timezone('UTC', x.cap))::text, '"') || 'Z'
			WHEN 'pg_catalog.timestamp'::pg_catalog.regtype THEN
				(SELECT pg_catalog.btrim(pg_catalog.to_json(pg_catalog.min(pg_catalog.timezone(z.zone, x.cap)))::text, '"')
				   FROM pg_catalog.unnest(v_zones) AS z(zone))
			ELSE
				(SELECT pg_catalog.btrim(pg_catalog.to_json(pg_catalog.min(pg_catalog.timezone(z.zone, x.cap)::pg_catalog.date))::text, '"')
				   FROM pg_catalog.unnest(v_zones) AS z(zone))
			END,
			pg_catalog.format_type(_watermark_cap_expr.typ, NULL)), ', ' ORDER BY x.taken_at DESC)
	  INTO v_values
	  FROM (SELECT DISTINCT s.sample_id, s.taken_at, s.xid, s.cap
			  FROM (SELECT (_watermark_cap_expr.current_sample).*
					UNION ALL
					SELECT o.*
					  FROM pg_catalog.unnest(ARRAY['1 second', '10 seconds', '1 minute', '10 minutes',
												   '1 hour', '1 day', '2 days']::interval[]) AS b(age)
					 CROSS JOIN LATERAL (
						SELECT w.* FROM pgpull.watermark_sample w
						 WHERE w.taken_at <= (_watermark_cap_expr.current_sample).taken_at - b.age
						 ORDER BY w.taken_at DESC LIMIT 1) AS o) AS s) AS x;
	RETURN pg_catalog.format(
		'(SELECT pg_catalog.max(w.cap) FROM (VALUES %s) AS w(xid, cap)'
		' WHERE w.xid < CASE WHEN pg_catalog.pg_is_in_recovery()'
		' THEN pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())'
		' ELSE pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()) END'
		' OR (w.xid = pg_catalog.pg_current_xact_id_if_assigned()'
		' AND pg_catalog.current_setting(''transaction_isolation'') = ''read committed''))',
		v_values);
END
$fn$;
COMMENT ON FUNCTION pgpull._watermark_cap_expr(pgpull.watermark_sample, pg_catalog.oid) IS 'internal: SQL of the commit-safe cap of a date or time replication key';

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
 * running streams), marks
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
	v_stream pgpull.stream;
	v_missing text;
	v_label text;
	v_count integer;
BEGIN
	IF begin_run.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A run syncs the streams of one integration.',
				  HINT = 'Name the integration to sync, such as "default".';
	END IF;
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
							  AND pgpull._lock_holder(pgpull._lock_class(), rs.stream_id) IS NOT NULL)
		 ORDER BY r.run_id
		   FOR UPDATE OF r SKIP LOCKED
	LOOP
		UPDATE pgpull.runs r
		   SET status = 'abandoned', ended_at = pg_catalog.now(),
			   error = 'the puller ended without ending the run'
		 WHERE r.run_id = v_old.run_id;
		UPDATE pgpull.stream s
		   SET status = 'error', last_error = 'the puller ended without ending the stream',
			   updated_at = pg_catalog.now()
		  FROM pgpull.run_streams rs
		 WHERE rs.run_id = v_old.run_id AND rs.stream_id = s.stream_id
		   AND rs.status = 'running' AND s.status = 'running';
		UPDATE pgpull.run_streams rs
		   SET status = 'failed', ended_at = pg_catalog.now(),
			   error = 'the puller ended without ending the stream'
		 WHERE rs.run_id = v_old.run_id AND rs.status = 'running';
		PERFORM pgpull._log_line(v_old.run_id, NULL, 'WARNING',
				pg_catalog.format('run abandoned: its puller ended without ending it (found by run %s)', v_run_id));
		PERFORM pgpull._unlock(pgpull._run_lock_class(), v_old.run_id);
	END LOOP;

	/* renamed relations get their new name; dropped ones put the stream in error */
	FOR v_stream IN
		SELECT * FROM pgpull.stream s WHERE s.integration = begin_run.integration
		 ORDER BY s.stream_id FOR UPDATE
	LOOP
		v_missing := pgpull._relation_missing(v_stream);
		IF v_missing IS NOT NULL THEN
			UPDATE pgpull.stream s SET status = 'error', last_error = v_missing, updated_at = pg_catalog.now()
			 WHERE s.stream_id = v_stream.stream_id
			   AND (s.status, s.last_error) IS DISTINCT FROM ('error', v_missing);
		ELSE
			v_label := pgpull._stream_relation(v_stream);
		END IF;
	END LOOP;

	/* a sample now gives chunks on a lagging standby a valid commit-safe cap */
	IF EXISTS (SELECT FROM pgpull.stream s
				WHERE s.integration = begin_run.integration AND s.method = 'key_based') THEN
		PERFORM pgpull._watermark_sample();
	END IF;

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
 * another session holds it.  Returns its JSON schema as of now, key names,
 * bookmark properties, whether it is read in keyset chunks, and (full_table)
 * its table version: new when the stream starts from scratch, kept when
 * it resumes.  42P01 (lock not taken) when its relation was dropped.
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
	v_message text;
BEGIN
	v_run := pgpull._run(take_stream.run_id, true);
	v_stream := pgpull._stream(v_run, take_stream.stream_id);
	/* checked before locking: a dropped relation or column never holds the lock */
	v_label := pgpull._stream_relation(v_stream);
	v_columns := pgpull._position_columns(v_stream);

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
		v_schema := pgpull._json_schema_of(v_stream.relation, pgpull._stream_columns(v_stream.stream_id));
		IF v_stream.method = 'full_table' THEN
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
		INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, bookmark_before, bookmark_after)
		VALUES (v_run.run_id, v_stream.stream_id, 'running', v_before, v_before)
		ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
		   SET status = 'running', ended_at = NULL, error = NULL;

		IF v_stream.method = 'key_based' THEN
			v_message := CASE WHEN v_stream.bookmark IS NULL
							  THEN 'stream taken: first run, every row (NULL replication keys first)'
							  ELSE pg_catalog.format('stream taken: rows with %I >= %s', v_stream.replication_key,
													 v_stream.bookmark) END;
		ELSE
			v_message := pg_catalog.format('stream taken: table version %s, %s', v_version,
				CASE WHEN v_stream.resume_position IS NULL THEN 'from the start'
					 ELSE 'resuming after ' || v_before END);
		END IF;
		PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'INFO', v_message);

		/* later runs skip NULL replication keys: say how many */
		IF v_stream.method = 'key_based' AND v_stream.bookmark IS NOT NULL THEN
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
 * (integer), row_json (text), in position order.  after_position NULL: the
 * first chunk (from the bookmark, inclusive, or after the resume position);
 * else strictly after it.  LIMIT chunk_rows when the stream is chunked and
 * chunk_rows is not NULL; a chunk with fewer rows is the last.
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
	v_cap text;
	v_limit text := '';
	v_null_where text;
	v_query text;
	v_sample pgpull.watermark_sample;
	v_message text;
	i integer;
BEGIN
	v_run := pgpull._run(extraction_query.run_id, true);
	v_stream := pgpull._stream(v_run, extraction_query.stream_id);
	v_rs := pgpull._running_stream(v_run, v_stream);
	IF extraction_query.chunk_rows IS NOT NULL AND extraction_query.chunk_rows < 1 THEN
		RAISE EXCEPTION 'chunk_rows must be positive'
			USING ERRCODE = '22023',
				  DETAIL = pg_catalog.format('chunk_rows is %s.', extraction_query.chunk_rows),
				  HINT = 'Pass NULL to read the stream in one pass.';
	END IF;
	v_label := pgpull._stream_relation(v_stream);
	v_pos := pgpull._position_columns(v_stream);
	v_chunked := pg_catalog.cardinality(v_stream.key_columns) > 0;
	IF extraction_query.after_position IS NOT NULL AND NOT v_chunked THEN
		RAISE EXCEPTION 'stream "%" is read in one pass', v_stream.destination_table
			USING ERRCODE = '22023',
				  DETAIL = 'It has no key columns, so no position to continue from.',
				  HINT = 'Pass after_position NULL.';
	END IF;
	IF v_chunked AND extraction_query.chunk_rows IS NOT NULL THEN
		v_limit := pg_catalog.format(' LIMIT %s', extraction_query.chunk_rows);
	END IF;

	v_parts := pgpull._row_json_parts(v_stream.relation, pgpull._stream_columns(v_stream.stream_id), 't');
	v_select := pg_catalog.format(
		'SELECT %s AS "position", (%s)::pg_catalog.int4 AS lossy, pg_catalog.row_to_json(r.*)::pg_catalog.text AS row_json',
		CASE WHEN pg_catalog.cardinality(v_pos.names) = 0 THEN '''[]''::pg_catalog.text'
			 ELSE pg_catalog.format('pg_catalog.array_to_json(ARRAY[%s]::pg_catalog.text[])::pg_catalog.text',
				(SELECT pg_catalog.string_agg(pgpull._key_text_expr(pg_catalog.format('t.%I', c.name), c.typ), ', ' ORDER BY c.n)
				   FROM ROWS FROM (pg_catalog.unnest(v_pos.names), pg_catalog.unnest(v_pos.base_types)) WITH ORDINALITY AS c(name, typ, n))) END,
		v_parts.lossy_expr);
	v_keys := ARRAY(SELECT pg_catalog.format('t.%I', k) FROM pg_catalog.unnest(v_stream.key_columns) AS k);
	v_key_types := v_pos.types[pg_catalog.cardinality(v_pos.types) - pg_catalog.cardinality(v_keys) + 1 :];
	FOR i IN 1 .. pg_catalog.cardinality(v_keys) LOOP
		v_key_exprs := v_key_exprs || pg_catalog.format(', %s AS pgpull_k%s', v_keys[i], i);
	END LOOP;

	IF v_stream.method = 'full_table' THEN
		IF extraction_query.after_position IS NOT NULL THEN
			v_after := pgpull._position_parse(extraction_query.after_position, v_pos.types,
											  v_stream.destination_table, false);
		ELSIF v_stream.resume_position IS NOT NULL AND v_chunked THEN
			v_after := pgpull._position_parse(pg_catalog.array_to_json(v_stream.resume_position)::text,
											  v_pos.types, v_stream.destination_table, false);
		END IF;
		v_query := v_select || pg_catalog.format(' FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r',
												 v_label, v_parts.select_list);
		IF v_after IS NOT NULL THEN
			v_query := v_query || pg_catalog.format(' WHERE (%s) > %s', pg_catalog.array_to_string(v_keys, ', '),
													pgpull._row_literal(v_after, v_pos.types));
		END IF;
		IF v_chunked THEN
			v_query := v_query || ' ORDER BY ' || pg_catalog.array_to_string(v_keys, ', ') || v_limit;
		END IF;
	ELSE
		v_rk := pg_catalog.format('t.%I', v_stream.replication_key);
		v_rk_base := v_pos.base_types[1];
		IF extraction_query.after_position IS NOT NULL THEN
			v_after := pgpull._position_parse(extraction_query.after_position, v_pos.types,
											  v_stream.destination_table, v_rs.bookmark_before IS NULL);
		END IF;
		/* the non-NULL keys: from the bookmark, or after the position */
		IF v_after[1] IS NOT NULL THEN
			v_lower := pg_catalog.format('(%s) > %s',
				pg_catalog.array_to_string(ARRAY[v_rk] || v_keys, ', '), pgpull._row_literal(v_after, v_pos.types));
		ELSIF v_stream.bookmark IS NOT NULL THEN
			v_lower := pg_catalog.format('%s >= %L::%s', v_rk, v_stream.bookmark, v_pos.types[1]);
		ELSE
			v_lower := pg_catalog.format('%s IS NOT NULL', v_rk);
		END IF;
		/* the commit-safe cap, and the warnings of this run and stream */
		v_sample := pgpull._watermark_sample();
		IF v_rk_base IN ('pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
						 'pg_catalog.date'::pg_catalog.regtype) THEN
			v_cap := pg_catalog.format(' AND %s %s %s', v_rk,
				CASE WHEN v_rk_base = 'pg_catalog.date'::pg_catalog.regtype THEN '<=' ELSE '<' END,
				pgpull._watermark_cap_expr(v_sample, v_rk_base));
			IF v_sample.oldest_start < v_sample.taken_at - interval '5 minutes' THEN
				v_message := pg_catalog.format(
					'a transaction open since %s (process %s) holds back the commit-safe cap: rows with %I at or after it are left for the next run',
					pg_catalog.btrim(pg_catalog.to_json(pg_catalog.timezone('UTC', v_sample.oldest_start))::text, '"') || 'Z',
					v_sample.oldest_pid, v_stream.replication_key);
			END IF;
		ELSE
			v_cap := '';
			IF v_sample.writers > 0 THEN
				v_message := pg_catalog.format(
					'%s transaction%s writing while the chunk was planned: rows %s commit later with a %I below the bookmark will not be extracted (only date and time replication keys are capped)',
					v_sample.writers, CASE WHEN v_sample.writers = 1 THEN ' was' ELSE 's were' END,
					CASE WHEN v_sample.writers = 1 THEN 'it may' ELSE 'they may' END, v_stream.replication_key);
			END IF;
		END IF;
		IF v_message IS NULL AND v_sample.hidden > 0 AND v_cap <> '' THEN
			v_message := pg_catalog.format(
				'the start of %s open transaction%s of other roles is not visible to the extension owner: the commit-safe cap ignores %s (grant pg_read_all_stats to the extension owner)',
				v_sample.hidden, CASE WHEN v_sample.hidden = 1 THEN '' ELSE 's' END,
				CASE WHEN v_sample.hidden = 1 THEN 'it' ELSE 'them' END);
		END IF;
		IF v_message IS NOT NULL AND NOT v_rs.watermark_warned THEN
			PERFORM pgpull._log_line(v_run.run_id, v_stream.stream_id, 'WARNING', v_message);
			UPDATE pgpull.run_streams rs SET watermark_warned = true
			 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id;
		END IF;

		v_order := pg_catalog.array_to_string(ARRAY[v_rk] || v_keys, ', ');
		IF v_rs.bookmark_before IS NOT NULL OR v_after[1] IS NOT NULL THEN
			/* later runs, and first runs past the NULL keys */
			v_query := v_select || pg_catalog.format(
				' FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r WHERE %s%s ORDER BY %s%s',
				v_label, v_parts.select_list, v_lower, v_cap, v_order, v_limit);
		ELSE
			/* a first run: the NULL keys first (after the position in them), then the others */
			v_null_where := v_rk || ' IS NULL';
			IF v_after IS NOT NULL THEN
				v_null_where := v_null_where || pg_catalog.format(' AND (%s) > %s',
					pg_catalog.array_to_string(v_keys, ', '), pgpull._row_literal(v_after[2:], v_key_types));
			END IF;
			IF v_limit = '' THEN
				v_query := v_select || pg_catalog.format(
					' FROM %s AS t CROSS JOIN LATERAL (SELECT %s) AS r WHERE (%s) OR (%s%s) ORDER BY %s NULLS FIRST%s',
					v_label, v_parts.select_list, v_null_where, v_lower, v_cap, v_rk,
					CASE WHEN pg_catalog.cardinality(v_keys) > 0
						 THEN ', ' || pg_catalog.array_to_string(v_keys, ', ') ELSE '' END);
			ELSE
				/* each branch can use its own index; the outer sort sees at most 2 chunks */
				v_query := pg_catalog.format(
					'SELECT u."position", u.lossy, u.row_json FROM ('
					'(%1$s, NULL::%2$s AS pgpull_rk%3$s FROM %4$s AS t CROSS JOIN LATERAL (SELECT %5$s) AS r'
					' WHERE %6$s ORDER BY %7$s%8$s)'
					' UNION ALL '
					'(%1$s, %9$s AS pgpull_rk%3$s FROM %4$s AS t CROSS JOIN LATERAL (SELECT %5$s) AS r'
					' WHERE %10$s%11$s ORDER BY %12$s%8$s)'
					') AS u ORDER BY u.pgpull_rk NULLS FIRST%13$s%8$s',
					v_select, v_pos.types[1], v_key_exprs, v_label, v_parts.select_list,
					v_null_where, pg_catalog.array_to_string(v_keys, ', '), v_limit,
					v_rk, v_lower, v_cap, v_order,
					(SELECT pg_catalog.string_agg(pg_catalog.format(', u.pgpull_k%s', n), '' ORDER BY n)
					   FROM pg_catalog.generate_series(1, pg_catalog.cardinality(v_keys)) AS n));
			END IF;
		END IF;
	END IF;

	IF extraction_query.after_position IS NULL THEN
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (v_run.run_id, v_stream.stream_id, 'DEBUG', 'extraction query: ' || v_query);
	END IF;
	RETURN v_query;
END
$fn$;
COMMENT ON FUNCTION pgpull.extraction_query(bigint, bigint, text, integer) IS 'the SELECT (position, lossy, row_json) of the next chunk of a taken stream, for COPY on the source';

/*
 * record_batch: the destination accepted a batch of a stream: count it and
 * advance the stream's bookmark (key_based: the greatest replication key,
 * compared as its type, never backwards) or resume position (full_table:
 * never backwards either), so calling it again for the same batch changes
 * nothing but the counts.
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
	v_newer boolean;
	v_type pg_catalog.regtype;
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

	IF record_batch.last_position IS NOT NULL THEN
		v_pos := pgpull._position_columns(v_stream);
		v_values := pgpull._position_parse(record_batch.last_position, v_pos.types, v_stream.destination_table,
										   v_stream.method = 'key_based');
		IF v_stream.method = 'key_based' AND v_values[1] IS NOT NULL THEN
			v_type := v_pos.types[1]::pg_catalog.regtype;
			EXECUTE pg_catalog.format('SELECT %s FROM (SELECT GREATEST(%L::%s, %L::%s) AS v) AS s',
									  pgpull._key_text_expr('s.v', v_type), v_stream.bookmark, v_type,
									  v_values[1], v_type)
			   INTO v_after;
			UPDATE pgpull.stream s SET bookmark = v_after, bookmark_type = v_type, updated_at = pg_catalog.now()
			 WHERE s.stream_id = v_stream.stream_id AND s.bookmark IS DISTINCT FROM v_after;
		ELSIF v_stream.method = 'full_table' AND pg_catalog.cardinality(v_values) > 0 THEN
			IF v_stream.resume_position IS NULL THEN
				v_newer := true;
			ELSE
				EXECUTE pg_catalog.format('SELECT %s > %s', pgpull._row_literal(v_values, v_pos.types),
										  pgpull._row_literal(v_stream.resume_position, v_pos.types))
				   INTO v_newer;
			END IF;
			IF v_newer THEN
				UPDATE pgpull.stream s SET resume_position = v_values, updated_at = pg_catalog.now()
				 WHERE s.stream_id = v_stream.stream_id;
				v_after := pg_catalog.array_to_json(v_values)::text;
			ELSE
				v_after := pg_catalog.array_to_json(v_stream.resume_position)::text;
			END IF;
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
 * _end_stream: the outcome of a stream in a run, 'succeeded' or 'failed'
 * (end_stream, and end_singer_stream of the Singer part).  A full_table
 * stream that succeeded starts from scratch (a new table version) next
 * time, unless its rows went to a Singer target (singer): then only the
 * target's confirmation (commit_state) moves anything.  Releases the
 * stream's advisory lock.  Also records a stream the run could not take
 * (take_stream raised an error).
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
	SELECT * INTO v_rs FROM pgpull.run_streams rs
	 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream.stream_id FOR UPDATE;
	IF FOUND AND v_rs.status = 'skipped' THEN
		RAISE EXCEPTION 'stream % was skipped by run %', v_stream.stream_id, v_run.run_id
			USING ERRCODE = '55000',
				  DETAIL = 'Another puller was syncing it when the run tried to take it.',
				  HINT = 'End only the streams pgpull.take_stream returned as taken.';
	END IF;

	INSERT INTO pgpull.run_streams AS rs (run_id, stream_id, status, ended_at, rows_extracted, error,
										  bookmark_before, bookmark_after)
	VALUES (v_run.run_id, v_stream.stream_id, _end_stream.status, pg_catalog.now(),
			COALESCE(_end_stream.rows_extracted, 0), _end_stream.error, v_stream.bookmark, v_stream.bookmark)
	ON CONFLICT ON CONSTRAINT run_streams_pkey DO UPDATE
	   SET status = _end_stream.status,
		   ended_at = pg_catalog.now(),
		   rows_extracted = COALESCE(_end_stream.rows_extracted, rs.rows_extracted),
		   error = _end_stream.error;
	UPDATE pgpull.stream s
	   SET status = CASE WHEN _end_stream.status = 'succeeded' THEN 'succeeded' ELSE 'error' END,
		   last_error = CASE WHEN _end_stream.status = 'succeeded' THEN NULL
							 ELSE COALESCE(_end_stream.error, 'the stream failed') END,
		   resume_position = CASE WHEN _end_stream.status = 'succeeded' AND s.method = 'full_table'
									   AND NOT _end_stream.singer
								  THEN NULL ELSE s.resume_position END,
		   updated_at = pg_catalog.now()
	 WHERE s.stream_id = v_stream.stream_id;
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
									   ELSE '' END) END);
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
	v_stream_id bigint;
BEGIN
	IF end_run.status IS NULL OR end_run.status NOT IN ('succeeded', 'failed') THEN
		RAISE EXCEPTION 'unrecognized run status: %', COALESCE(end_run.status, 'NULL')
			USING ERRCODE = '22023',
				  DETAIL = 'A run ends as succeeded or failed.',
				  HINT = 'Use "succeeded" or "failed".';
	END IF;
	v_run := pgpull._run(end_run.run_id, false);
	FOR v_stream_id IN
		SELECT rs.stream_id FROM pgpull.run_streams rs
		 WHERE rs.run_id = v_run.run_id AND rs.status = 'running'
		 ORDER BY rs.stream_id
	LOOP
		UPDATE pgpull.run_streams rs
		   SET status = 'failed', ended_at = pg_catalog.now(), error = 'the run ended before the stream'
		 WHERE rs.run_id = v_run.run_id AND rs.stream_id = v_stream_id;
		UPDATE pgpull.stream s
		   SET status = 'error', last_error = 'the run ended before the stream', updated_at = pg_catalog.now()
		 WHERE s.stream_id = v_stream_id;
		PERFORM pgpull._unlock(pgpull._lock_class(), v_stream_id);
		INSERT INTO pgpull.extraction_log (run_id, stream_id, level, message)
		VALUES (v_run.run_id, v_stream_id, 'ERROR', 'stream failed: the run ended before the stream');
	END LOOP;
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
 * and its bookmark ("column: value", or "Bookmark Unavailable").
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
			ELSE 'Bookmark Unavailable' END AS max_bookmark
  FROM pgpull.stream s
  LEFT JOIN LATERAL (
		SELECT pg_catalog.max(rs.ended_at) FILTER (WHERE rs.status = 'succeeded' AND rs.rows_loaded > 0) AS last_succeeded,
			   pg_catalog.max(rs.last_batch_at) AS last_batch_at,
			   pg_catalog.sum(rs.rows_loaded) FILTER (WHERE rs.started_at >= pg_catalog.now() - interval '24 hours') AS rows_24h
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id) AS a ON true
  LEFT JOIN LATERAL (
		SELECT rs.status
		  FROM pgpull.run_streams rs
		 WHERE rs.stream_id = s.stream_id AND rs.status <> 'skipped'
		 ORDER BY rs.started_at DESC, rs.run_id DESC
		 LIMIT 1) AS l ON true;
COMMENT ON VIEW pgpull.loading_report IS 'per stream: last load, last status, rows loaded in 24 hours, bookmark as "column: value"';
REVOKE ALL ON pgpull.loading_report FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION pgpull._log_line(bigint, bigint, text, text),
	pgpull._running_stream(pgpull.runs, pgpull.stream),
	pgpull._lock_class(),
	pgpull._run_lock_class(),
	pgpull._lock_holder(integer, bigint),
	pgpull._unlock(integer, bigint),
	pgpull._base_type(pg_catalog.oid),
	pgpull._key_text_expr(text, pg_catalog.oid),
	pgpull._run(bigint, boolean),
	pgpull._stream(pgpull.runs, bigint),
	pgpull._relation_missing(pgpull.stream),
	pgpull._stream_relation(pgpull.stream),
	pgpull._position_columns(pgpull.stream),
	pgpull._position_parse(text, text[], text, boolean),
	pgpull._row_literal(text[], text[]),
	pgpull._writer_time_zones(),
	pgpull._watermark_sample(),
	pgpull._watermark_cap_expr(pgpull.watermark_sample, pg_catalog.oid),
	pgpull._end_stream(bigint, bigint, text, bigint, text, boolean),
	pgpull.version(),
	pgpull.log(bigint, bigint, text, text),
	pgpull.begin_run(text, text, text),
	pgpull.take_stream(bigint, bigint),
	pgpull.extraction_query(bigint, bigint, text, integer),
	pgpull.record_batch(bigint, bigint, bigint, bigint, text, bigint),
	pgpull.end_stream(bigint, bigint, text, bigint, text),
	pgpull.end_run(bigint, text, text)
	FROM PUBLIC;

/*
 * Singer: bookmarks that move only when the target confirms them.
 *
 * With a Singer target (pgpull sync --target - or --target-command) the
 * puller writes SCHEMA, RECORD, STATE and ACTIVATE_VERSION messages instead
 * of posting batches, and sending moves no bookmark: a Singer target loads
 * rows on its own schedule, and tells what it has stored by echoing, on its
 * standard output, the latest STATE value it received before the rows it
 * has just committed.  The functions of this part:
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

ALTER TABLE pgpull.stream ADD COLUMN completed_version bigint;
COMMENT ON COLUMN pgpull.stream.completed_version IS 'full_table: the last table version a Singer target confirmed complete (pgpull.commit_state)';

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
 * record_emitted: rows of a stream were sent to the Singer target (rows 0:
 * none since the last call).  Counts them in the run (rows extracted,
 * batches, bytes, values mapped lossily) without moving the bookmark or
 * the resume position, and returns the stream's bookmark entry as of the
 * last row sent (last_position: its position; NULL while none was sent in
 * this run; complete: the stream was sent to its end) for the STATE
 * message that follows these rows.
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
	IF record_emitted.last_position IS NOT NULL THEN
		v_values := pgpull._position_parse(record_emitted.last_position, v_pos.types, v_stream.destination_table,
										   v_stream.method = 'key_based');
	END IF;
	IF v_stream.method = 'key_based' THEN
		v_key_value := v_rs.bookmark_before;
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

	RETURN pg_catalog.jsonb_build_object(
		'stream_id', v_stream.stream_id,
		'relation', v_stream.relation_name,
		'method', v_stream.method,
		'replication_key', v_stream.replication_key,
		'replication_key_value', v_key_value,
		'position', CASE WHEN pg_catalog.cardinality(v_values) > 0 THEN record_emitted.last_position END,
		'version', CASE WHEN v_stream.method = 'full_table' THEN v_stream.table_version END,
		'complete', record_emitted.complete,
		'rows', v_rs.rows_extracted);
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
 * position (full_table), never backwards (see the top of this part), and
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
	v_newer boolean;
	v_stale boolean;
	v_version bigint;
	v_values text[];
	v_moved boolean;
	v_bookmark text;
	v_detail text;
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
			v_run_id := NULL;	/* the run was deleted: log without it */
		END IF;
	ELSIF (v_header -> 'run_id') IS NOT NULL AND (v_header -> 'run_id') <> 'null'::jsonb THEN
		PERFORM pgpull._state_error('state has an invalid run_id', 'The run_id of a state is a positive integer.');
	END IF;

	FOR v_key, v_entry IN
		SELECT e.key, e.value FROM pg_catalog.jsonb_each(commit_state.state -> 'bookmarks') AS e
		 ORDER BY e.key COLLATE "C"
	LOOP
		stream := v_key;
		moved := false;
		bookmark := NULL;
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

		IF (v_entry ->> 'method') IS NULL OR (v_entry ->> 'method') NOT IN ('key_based', 'full_table')
		   OR (v_entry ->> 'method' = 'key_based'
			   AND pg_catalog.jsonb_typeof(v_entry -> 'replication_key_value') NOT IN ('string', 'null'))
		   OR (v_entry ->> 'method' = 'full_table'
			   AND (pg_catalog.jsonb_typeof(v_entry -> 'complete') IS DISTINCT FROM 'boolean'
					OR NOT pgpull._is_count(v_entry -> 'version')
					OR pg_catalog.jsonb_typeof(v_entry -> 'position') NOT IN ('string', 'null'))) THEN
			PERFORM pgpull._state_error(pg_catalog.format('invalid bookmark of destination table "%s" in state', v_key),
				'A key_based bookmark has a replication_key_value string or null; a full_table bookmark an integer version, complete true or false, and a position string or null.');
		END IF;

		IF (v_entry ->> 'method') IS DISTINCT FROM v_stream.method
		   OR (v_entry ->> 'replication_key') IS DISTINCT FROM v_stream.replication_key::text THEN
			v_detail := 'the stream''s replication method or key changed after the state was written';
		ELSIF v_stream.status = 'pending' THEN
			v_detail := 'the stream was reset after the state was written';
		ELSIF pgpull._relation_missing(v_stream) IS NOT NULL THEN
			v_detail := pgpull._relation_missing(v_stream);
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
				EXECUTE pg_catalog.format('SELECT %s FROM (SELECT GREATEST(%L::%s, %L::%s) AS v) AS s',
										  pgpull._key_text_expr('s.v', v_type), v_stream.bookmark, v_type,
										  v_value, v_type)
				   INTO v_after;
				IF v_after IS DISTINCT FROM v_stream.bookmark THEN
					UPDATE pgpull.stream s
					   SET bookmark = v_after, bookmark_type = v_type, updated_at = pg_catalog.now()
					 WHERE s.stream_id = v_stream.stream_id;
					v_moved := true;
					bookmark := v_after;
					v_detail := pg_catalog.format('bookmark moved to %I >= %s', v_stream.replication_key, v_after);
				ELSE
					v_detail := pg_catalog.format('the bookmark is already at %I >= %s', v_stream.replication_key,
												  v_stream.bookmark);
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
				   SET resume_position = NULL, completed_version = v_version, updated_at = pg_catalog.now()
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
					IF v_stream.resume_position IS NULL THEN
						v_newer := true;
					ELSE
						EXECUTE pg_catalog.format('SELECT %s > %s', pgpull._row_literal(v_values, v_pos.types),
												  pgpull._row_literal(v_stream.resume_position, v_pos.types))
						   INTO v_newer;
					END IF;
					v_after := pg_catalog.array_to_json(v_values)::text;
					IF v_newer THEN
						UPDATE pgpull.stream s SET resume_position = v_values, updated_at = pg_catalog.now()
						 WHERE s.stream_id = v_stream.stream_id;
						v_moved := true;
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
END
$fn$;
COMMENT ON FUNCTION pgpull.commit_state(jsonb) IS 'advance the bookmarks named by a state value a Singer target echoed after loading (never backwards)';

REVOKE EXECUTE ON FUNCTION pgpull._singer_run(bigint, boolean),
	pgpull._is_count(jsonb),
	pgpull.record_emitted(bigint, bigint, bigint, bigint, text, bigint, boolean),
	pgpull.end_singer_stream(bigint, bigint, text, bigint, text),
	pgpull._state_error(text, text),
	pgpull.commit_state(jsonb)
	FROM PUBLIC;
