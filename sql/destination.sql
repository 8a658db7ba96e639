-- destination: pgpull.destination_schema_name canonicalises integration names
\set SHOW_CONTEXT never
SELECT n, pgpull.destination_schema_name(n)
  FROM (VALUES ('Stitch PostgreSQL'), ('2024 Sales'), ('default'), ('Recurly Stitch'),
			   ('  --Mixed.Case (Prod)--  '), ('a__b'), ('ÉtÉ données'), ('x"; DROP TABLE t; --'),
			   ('_already_ok_'), ('9'), ('tab	and
newline')) AS v(n)
 ORDER BY n COLLATE "C";
-- at most 63 bytes, and no trailing underscore left by the cut
SELECT length(pgpull.destination_schema_name(repeat('a', 100))) AS len_100;
SELECT pgpull.destination_schema_name(repeat('a', 62) || ' b') AS cut;
SELECT octet_length(pgpull.destination_schema_name(repeat('é', 40) || repeat('b', 80))) AS bytes;
-- NULL in, NULL out
SELECT pgpull.destination_schema_name(NULL) IS NULL AS null_is_null;
-- nothing usable left: an error
SELECT pgpull.destination_schema_name('');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.destination_schema_name('___');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.destination_schema_name('ü€');
\echo :LAST_ERROR_SQLSTATE
