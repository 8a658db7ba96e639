/*
 * 20_typemap.sql: the type map and JSON Schema.
 *
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

