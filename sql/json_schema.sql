-- json_schema: the JSON Schema (Draft 4) of a relation's rows
\set SHOW_CONTEXT never

CREATE SCHEMA "we""ird sch";
SET search_path = "we""ird sch", public;

-- each property of a schema, in column order
CREATE FUNCTION pg_temp.props(rel regclass, s jsonb)
RETURNS TABLE (col name, schema jsonb)
LANGUAGE sql AS $$
	SELECT a.attname, p.value
	  FROM jsonb_each(s->'properties') p
	  JOIN pg_attribute a ON a.attrelid = rel AND a.attname = p.key
	 ORDER BY a.attnum
$$;

CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS ("at" timestamptz, amount numeric(4,1), tags float8[], note varchar(3));
CREATE TYPE level AS ENUM ('low', 'high');
CREATE FUNCTION level_json(level) RETURNS json LANGUAGE sql IMMUTABLE
	AS $$ SELECT json_build_object('level', $1::text) $$;
CREATE CAST (level AS json) WITH FUNCTION level_json(level);
CREATE DOMAIN posint AS int NOT NULL CHECK (VALUE > 0);
CREATE DOMAIN maybe_int AS int;
CREATE DOMAIN code AS varchar(3);
CREATE DOMAIN num52 AS numeric(5,2);
CREATE DOMAIN ts_list AS timestamptz[];
CREATE DOMAIN posint_over AS posint;

-- every type, nullable
CREATE TABLE types (i2 int2, i4 int4, i8 int8, n numeric, n52 numeric(5,2), n30 numeric(3,0),
					n25 numeric(2,5), nneg numeric(3,-2), nbig numeric(400,0), f4 real, f8 float8, m money, b bool,
					d date, ts timestamp(3), tz timestamptz, t time, ttz timetz, iv interval,
					by bytea, j json, jb jsonb, tx text, vc varchar(10), vcn varchar, ch char(3),
					nm name, u uuid, e mood, ip inet, bt bit(1), vb varbit, x xml, pt point,
					r tstzrange, ir int4range, mr int4multirange, i2v int2vector, o oid,
					ai int[], a2 int[][], ats timestamptz[], an numeric(5,2)[], c pair, ac pair[],
					lv level, alv level[], dp posint, dm maybe_int, dc code, dn num52,
					dl ts_list, dpo posint_over, "we""ird col" text, "MixedCase" int);
SELECT s->>'type' AS type, jsonb_typeof(s->'properties') AS properties, (SELECT count(*) FROM jsonb_object_keys(s)) AS keys
  FROM pgpull._json_schema_of('types', NULL) s;
SELECT * FROM pg_temp.props('types', pgpull._json_schema_of('types', NULL));

-- NOT NULL columns: nullable still when the mapping can give null
CREATE TABLE nn (i4 int4 NOT NULL, n numeric NOT NULL, f8 float8 NOT NULL, m money NOT NULL,
					  b bool NOT NULL, d date NOT NULL, ts timestamp NOT NULL, tz timestamptz NOT NULL,
					  iv interval NOT NULL, by bytea NOT NULL, j json NOT NULL, jb jsonb NOT NULL,
					  tx text NOT NULL, ai int[] NOT NULL, c pair NOT NULL, dm maybe_int NOT NULL,
					  dp posint, e mood NOT NULL);
SELECT * FROM pg_temp.props('nn', pgpull._json_schema_of('nn', NULL));

-- some columns
SELECT * FROM jsonb_each(pgpull._json_schema_of('types', ARRAY['MixedCase', 'we"ird col', 'i2'])->'properties')
 ORDER BY key COLLATE "C";
SELECT pgpull._json_schema_of('types', '{}');
CREATE TABLE nocols ();
SELECT pgpull._json_schema_of('nocols', NULL);
-- views, materialized views and partitioned tables
CREATE VIEW v AS SELECT i4, tz, ai FROM types;
SELECT pgpull._json_schema_of('v', NULL);
CREATE MATERIALIZED VIEW mv AS SELECT i4 + 1 AS i4, n52 FROM types;
SELECT pgpull._json_schema_of('mv', NULL);
CREATE TABLE part (id int NOT NULL, at date) PARTITION BY RANGE (at);
SELECT pgpull._json_schema_of('part', NULL);

-- bad input
SELECT pgpull._json_schema_of('types', '{i2,nosuch}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull._json_schema_of('types', '{i2,i2}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull._json_schema_of('types', '{i2,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull._json_schema_of(NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX types_i4 ON types (i4);
SELECT pgpull._json_schema_of('types_i4', NULL);
\echo :LAST_ERROR_SQLSTATE

-- json_schema: the schema of a tracked stream's columns
CREATE TABLE orders (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, total numeric(10,2),
					 note text, secret text, "Odd ""Col""" int);
SELECT pgpull.json_schema('orders');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('orders', 'key_based', 'updated_at', columns => '{total,"Odd \"Col\""}');
SELECT * FROM pg_temp.props('orders', pgpull.json_schema('orders'));
SELECT pgpull.json_schema('orders') = pgpull._json_schema_of('orders', '{id,updated_at,total,"Odd \"Col\""}') AS same;
SELECT pgpull.json_schema('orders', 'other');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('orders', 'full_table', integration => 'other');
SELECT * FROM pg_temp.props('orders', pgpull.json_schema('orders', 'other'));
SELECT pgpull.json_schema('orders', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.json_schema(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.untrack('orders');
SELECT pgpull.untrack('orders', 'other');
SELECT pgpull.json_schema('orders');
\echo :LAST_ERROR_SQLSTATE

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA "we""ird sch" CASCADE;
RESET client_min_messages;
