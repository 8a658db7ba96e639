-- typemap: the row-to-JSON mapping of every type on its edge values
\set SHOW_CONTEXT never

CREATE SCHEMA "we""ird sch";
SET search_path = "we""ird sch", public;

-- the rows of a relation as the puller ships them
CREATE FUNCTION pg_temp.row_jsons(rel regclass, cols name[] DEFAULT NULL)
RETURNS TABLE (row_json json, lossy int)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE pgpull.row_json_query(rel, cols);
END
$$;
-- each value of each row, one line per value
CREATE FUNCTION pg_temp.mapped(rel regclass, cols name[] DEFAULT NULL)
RETURNS TABLE (id int, col text, value text)
LANGUAGE sql AS $$
	SELECT (s.row_json->>'id')::int, k.key, k.value::text
	  FROM pg_temp.row_jsons(rel, cols) s, json_each(s.row_json) WITH ORDINALITY k
	 ORDER BY 1, k.ordinality
$$;
-- the number of lossy values of each row
CREATE FUNCTION pg_temp.lossy(rel regclass)
RETURNS TABLE (id int, lossy int)
LANGUAGE sql AS $$
	SELECT (s.row_json->>'id')::int, s.lossy FROM pg_temp.row_jsons(rel) s ORDER BY 1
$$;

-- numbers
CREATE TABLE num (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric, n52 numeric(5,2),
				  f4 real, f8 double precision, m money);
INSERT INTO num VALUES
	(1, -32768, -2147483648, -9223372036854775808, 12345678901234567890.123456789, -999.99, 1.1, 0.1, '-12.34'),
	(2, 32767, 2147483647, 9223372036854775807, -0.000000000000000000001, 999.99, 3.4028235e38, 1e308, '92233720368547758.07'),
	(3, 0, 0, 0, 'NaN', 0, 'NaN', 'NaN', '-92233720368547758.08'),
	(4, NULL, NULL, NULL, 'Infinity', NULL, 'Infinity', 'Infinity', 0),
	(5, NULL, NULL, NULL, '-Infinity', NULL, '-Infinity', '-Infinity', NULL),
	(6, NULL, NULL, NULL, 0.000, 0.5, '-0', '-0', NULL),
	(7, NULL, NULL, NULL, 100000000000000000000000000000, NULL, 1e-45, 5e-324, NULL),
	(8, NULL, NULL, NULL, NULL, NULL, 16777217, 0.1::float8 + 0.2::float8, NULL),
	(9, NULL, NULL, NULL, NULL, NULL, 1e-5, 1e-5, NULL),
	(10, NULL, NULL, NULL, NULL, NULL, 1e15, 123456789012345678, NULL),
	(11, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM pg_temp.mapped('num');
SELECT * FROM pg_temp.lossy('num');
-- numbers read back exactly
SELECT n.id, (s.row_json->>'n')::numeric = n.n AS n_same, (s.row_json->>'f4')::real = n.f4 AS f4_same,
	   (s.row_json->>'f8')::float8 = n.f8 AS f8_same, (s.row_json->>'m')::numeric = n.m::numeric AS m_same
  FROM num n JOIN pg_temp.row_jsons('num') s ON (s.row_json->>'id')::int = n.id
 ORDER BY n.id;

-- dates, times, intervals
CREATE TABLE tim (id int PRIMARY KEY, d date, ts0 timestamp(0), ts timestamp, tz timestamptz,
				  t time, ttz timetz, iv interval);
INSERT INTO tim VALUES
	(1, '2024-02-29', '2024-02-29 12:34:56', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+05:30',
	 '12:34:56.789', '12:34:56+05:30', '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds'),
	(2, '0001-01-01', '2024-02-29 12:34:56.5', '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.123456-03:30',
	 '24:00:00', '00:00:00-12:45', '-1 year -2 months 3 days -4 hours -5 minutes -6.5 seconds'),
	(3, 'infinity', 'infinity', 'infinity', 'infinity', '00:00:00', NULL, '0'),
	(4, '-infinity', '-infinity', '-infinity', '-infinity', NULL, NULL, '1 day -24 hours'),
	(5, '0044-03-15 BC', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00 BC', '0001-01-01 00:30:00+01',
	 NULL, NULL, '-0.5 seconds'),
	(6, '10000-01-01', '10000-01-01 00:00:00', '10000-01-01 00:00:00', '9999-12-31 23:30:00-01',
	 NULL, NULL, '1000000 hours 0.000001 seconds'),
	(7, '9999-12-31', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999', '0001-01-01 00:00:00+00',
	 NULL, NULL, '14 months'),
	(8, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM pg_temp.mapped('tim');
SELECT * FROM pg_temp.lossy('tim');
-- intervals read as IntervalStyle iso_8601 writes them
SET IntervalStyle = iso_8601;
SELECT m.id, m.value = to_json(t.iv)::text AS same_as_iso_8601
  FROM pg_temp.mapped('tim', '{id,iv}') m JOIN tim t USING (id)
 WHERE m.col = 'iv' ORDER BY m.id;
RESET IntervalStyle;

-- text, binary, JSON and the types that map to their text
CREATE TYPE mood AS ENUM ('sad', 'happy', 'we"ird');
CREATE TABLE txt (id int PRIMARY KEY, tx text, vc varchar(5), ch char(3), nm name, b bool,
				  by bytea, j json, jb jsonb, u uuid, e mood, ip inet, cid cidr, mac macaddr,
				  bt bit(3), vb varbit, x xml, pt point, bx box, tv tsvector, i2v int2vector,
				  r tstzrange, dr daterange, tr tsrange, ir int4range, mr tstzmultirange);
INSERT INTO txt VALUES
	(1, E'q"uo\\te\nnl\ttab \u00fc \u20ac \U0001F600 \x01', 'abc', 'ab', 'nm', true,
	 '\x', '{"a": [1, 2.50, "x"], "b": null}', '{"a": [1, 2.50, "x"], "b": null}',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
	 '101', '1101', '<a b="c">x &amp; y</a>', '(1.5,-0.1)', '((0,0),(1,1))', 'a fat cat', '1 2 3',
	 '[2024-01-01 00:00+05, infinity)', '[2024-01-01,2024-02-01)', '(,2024-01-01 12:00:00.5]', '[1,5)',
	 '{[2024-01-01 00:00+00,2024-01-02 00:00+00), [2024-02-01 00:00+00,)}'),
	(2, '', '', '', '', false, convert_to(repeat('x', 58), 'UTF8'), '42', '"s"', NULL, 'we"ird',
	 NULL, NULL, NULL, NULL, '', NULL, '(0.30000000000000004,1e+300)', NULL, NULL, NULL,
	 'empty', '[-infinity,infinity)', '[0044-03-15 12:00:00 BC,10000-01-01)', 'empty', '{}'),
	(3, NULL, NULL, NULL, NULL, NULL, '\x00', 'null', 'true', NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(4, NULL, NULL, NULL, NULL, NULL, decode(repeat('00ff', 100), 'hex'), '[]', '{}', NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM pg_temp.mapped('txt');
SELECT * FROM pg_temp.lossy('txt');
-- base64 on one line that decodes to the bytes
SELECT m.id, m.value NOT LIKE E'%\n%' AS one_line,
	   decode(m.value::json #>> '{}', 'base64') = t.by AS decodes
  FROM pg_temp.mapped('txt', '{id,by}') m JOIN txt t USING (id)
 WHERE m.col = 'by' AND t.by IS NOT NULL ORDER BY m.id;
-- text comes back as it was
SELECT m.id, m.value::json #>> '{}' = t.tx AS same
  FROM pg_temp.mapped('txt', '{id,tx}') m JOIN txt t USING (id)
 WHERE m.col = 'tx' ORDER BY m.id;

-- arrays and composites
CREATE TYPE plain AS (a int, b text);
CREATE TYPE "we""ird pair" AS ("at" timestamptz, amount numeric, label text, tags float8[]);
CREATE TABLE arr (id int PRIMARY KEY, ai int[], a2 int[][], ats timestamptz[], ats2 timestamptz[][],
				  ats3 timestamptz[][][], an numeric[], af float8[], ab bytea[], ad date[],
				  aiv interval[], atx text[], lb int[], c plain, cp "we""ird pair", acp "we""ird pair"[]);
INSERT INTO arr VALUES
	(1, '{1,NULL,3}', '{{1,2},{3,4}}', '{2024-01-01 00:00:00+00,NULL,infinity}',
	 '{{2024-01-01 00:00+00,NULL},{infinity,2024-01-02 00:00:00.5+00}}',
	 '{{{2024-01-01 00:00+00,NULL}},{{infinity,-infinity}}}', '{1.5,NaN,-Infinity}', '{0.1,NaN,-0}',
	 '{"\\x00ff",NULL}', '{2024-02-29,infinity}', '{1 day,0,-1 month}', '{a,"b c",NULL,"\""}',
	 '[0:1]={5,6}', ROW(1, 'x'), ROW('2024-01-01 00:00+00', 'NaN', 'x', '{1.5,NaN}'),
	 ARRAY[ROW('2024-01-01 00:00+01', 1, 'y', NULL)::"we""ird pair", NULL]),
	(2, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', ROW(NULL, NULL),
	 ROW(NULL, NULL, NULL, NULL), '{}'),
	(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM pg_temp.mapped('arr');
SELECT * FROM pg_temp.lossy('arr');

-- domains map as their base type
CREATE DOMAIN posint AS int NOT NULL CHECK (VALUE > 0);
CREATE DOMAIN num52 AS numeric(5,2);
CREATE DOMAIN utc_ts AS timestamptz;
CREATE DOMAIN ts_list AS timestamptz[];
CREATE TABLE dom (id int PRIMARY KEY, p posint, n num52, u utc_ts, l ts_list, au utc_ts[]);
INSERT INTO dom VALUES
	(1, 1, 'NaN', '2024-01-01 00:00+00', '{2024-01-01 00:00+00,infinity}', '{2024-01-01 00:00+00,infinity}'),
	(2, 2147483647, 999.99, 'infinity', NULL, NULL);
SELECT * FROM pg_temp.mapped('dom');
SELECT * FROM pg_temp.lossy('dom');

-- a type with a cast to json is rendered through it, as row_to_json does
CREATE TYPE level AS ENUM ('low', 'high');
CREATE FUNCTION level_json(level) RETURNS json LANGUAGE sql IMMUTABLE
	AS $$ SELECT json_build_object('level', $1::text) $$;
CREATE CAST (level AS json) WITH FUNCTION level_json(level);
CREATE TABLE casted (id int, l level, al level[]);
INSERT INTO casted VALUES (1, 'high', '{low,NULL}');
SELECT * FROM pg_temp.mapped('casted');

-- hostile identifiers, and columns named like the query's aliases
CREATE TABLE "Mixed ""Tab""" ("we""ird col" text, "MixedCase" timestamptz, r numeric, t float8,
							  pgpull_e0 timestamptz[], pgpull_s date, id int);
INSERT INTO "Mixed ""Tab""" VALUES ('w', '2024-01-01 00:00+00', 'NaN', 1.5,
								   '{2024-01-01 00:00+00}', '2024-01-01', 1);
SELECT * FROM pg_temp.mapped('"Mixed ""Tab"""');
SELECT * FROM pg_temp.lossy('"Mixed ""Tab"""');

-- the pieces, with another alias
CREATE TABLE small (id int, at timestamptz, f real, name text);
SELECT * FROM pgpull._row_json_parts('small', NULL, 'src');
SELECT * FROM pgpull._row_json_parts('small', '{name,id}');
SELECT * FROM pgpull._row_json_parts('small', '{}');
SELECT pgpull.row_json_query('small', '{name,id}');

-- the same JSON under other session settings
CREATE TEMP TABLE under_defaults AS
	SELECT r.relname, s.row_json::text || ' ' || s.lossy AS j
	  FROM pg_class r, pg_temp.row_jsons(r.oid) s
	 WHERE r.relnamespace = '"we""ird sch"'::regnamespace AND r.relkind = 'r';
CREATE TEMP TABLE queries_under_defaults AS
	SELECT r.oid, pgpull.row_json_query(r.oid) AS q
	  FROM pg_class r
	 WHERE r.relnamespace = '"we""ird sch"'::regnamespace AND r.relkind = 'r';
SET TimeZone = 'America/St_Johns';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'postgres_verbose';
SET extra_float_digits = 0;
SET bytea_output = 'escape';
SET lc_monetary = 'C';
-- row_to_json alone does change
SELECT row_to_json(x) FROM tim x WHERE id = 1;
SELECT row_to_json(x) FROM num x WHERE id = 8;
SELECT count(*) AS relations, count(*) FILTER (WHERE q = pgpull.row_json_query(oid)) AS same_query
  FROM queries_under_defaults;
SELECT count(*) AS rows_compared FROM under_defaults;
CREATE TEMP TABLE under_odd_settings AS
	SELECT r.relname, s.row_json::text || ' ' || s.lossy AS j
	  FROM pg_class r, pg_temp.row_jsons(r.oid) s
	 WHERE r.relnamespace = '"we""ird sch"'::regnamespace AND r.relkind = 'r';
SELECT relname, j AS differs_from_defaults FROM under_odd_settings
EXCEPT SELECT relname, j FROM under_defaults;
SELECT relname, j AS missing_under_odd_settings FROM under_defaults
EXCEPT SELECT relname, j FROM under_odd_settings;
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
RESET bytea_output;
RESET lc_monetary;

-- bad input
SELECT pgpull.row_json_query('num', '{id,nosuch}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query('num', '{id,ID}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query('num', '{id,i2,id}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query('num', '{id,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query('num_pkey');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query((SELECT typrelid FROM pg_type WHERE oid = '"we""ird pair"'::regtype)::regclass);
\echo :LAST_ERROR_SQLSTATE
CREATE SEQUENCE seq;
SELECT pgpull.row_json_query('seq');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.row_json_query(0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull._row_json_parts('num', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE

-- a view maps like a table
CREATE VIEW v AS SELECT id, tz, iv FROM tim;
SELECT * FROM pg_temp.mapped('v') WHERE id IN (1, 3);

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA "we""ird sch" CASCADE;
RESET client_min_messages;
