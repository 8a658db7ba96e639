-- catalog: track, untrack, reset, reset_integration and the streams view
\set SHOW_CONTEXT never
CREATE SCHEMA "we""ird sch";
CREATE TABLE public.orders (id bigint PRIMARY KEY, note text, amount numeric(12,2),
							updated_at timestamptz, created date, doc jsonb, loc point);
CREATE TABLE "we""ird sch"."Mixed Case" ("Id" int, "sub id" int, "Upd" timestamp,
										 PRIMARY KEY ("sub id", "Id"));
CREATE TABLE public.events (at timestamptz, payload text);          -- no primary key
CREATE VIEW public.order_view AS SELECT id, note, updated_at FROM public.orders;
CREATE MATERIALIZED VIEW public.order_mv AS SELECT id, amount FROM public.orders;
CREATE TABLE public.parted (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE public.parted_1 PARTITION OF public.parted FOR VALUES FROM (0) TO (100);
CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
CREATE TABLE public.dom (id posint PRIMARY KEY, k posint);
CREATE SEQUENCE public.seq1;
CREATE INDEX orders_note ON public.orders (note);
CREATE TYPE public.comp AS (a int);

-- good input: returns the destination table
SELECT pgpull.track('public.orders', 'key_based', 'updated_at');
SELECT pgpull.track('"we""ird sch"."Mixed Case"', 'full_table');
SELECT pgpull.track('public.events', 'key_based', 'at');
SELECT pgpull.track('public.order_view', 'full_table', key_columns => '{id}');
SELECT pgpull.track('public.order_mv', 'full_table', key_columns => '{}');
SELECT pgpull.track('public.parted', 'key_based', 'v', columns => '{}');
SELECT pgpull.track('public.dom', 'key_based', 'k');
SELECT pgpull.track('public.orders', 'full_table', columns => '{note}', integration => 'Stitch PostgreSQL');
SELECT integration, relation, method, replication_key, key_columns, columns, bookmark,
	   destination_table, destination_schema, status, resuming, relation_name
  FROM pgpull.streams ORDER BY integration COLLATE "C", destination_table COLLATE "C";
-- effective columns: all when none selected; selected plus keys and replication key otherwise
SELECT destination_table, pgpull._stream_columns(stream_id)
  FROM pgpull.streams ORDER BY integration COLLATE "C", destination_table COLLATE "C";

-- a name taken in the integration gets the schema prefixed, fixed from then on
CREATE TABLE "we""ird sch".orders (id int PRIMARY KEY);
SELECT pgpull.track('"we""ird sch".orders', 'full_table');
ALTER TABLE public.orders RENAME TO orders_renamed;
SELECT pgpull.track('public.orders_renamed', 'key_based', 'updated_at');
SELECT relation, destination_table, relation_name FROM pgpull.streams
 WHERE integration = 'default' AND destination_table LIKE '%orders%'
 ORDER BY destination_table COLLATE "C";
ALTER TABLE public.orders_renamed RENAME TO orders;

-- bookmarks: reset clears them; changing the key or the method resets too
UPDATE pgpull.stream SET bookmark = '2024-01-01T00:00:00Z', resume_position = '{1}'
 WHERE destination_table IN ('orders', 'Mixed Case');
INSERT INTO pgpull.stream_range (stream_id, range_no, resume_position)
SELECT stream_id, 0, '["1"]' FROM pgpull.streams WHERE integration = 'default' AND destination_table = 'orders';
SELECT pgpull.reset('public.orders');
SELECT pgpull.reset('public.orders', 'no such integration');
SELECT count(*) AS ranges_left FROM pgpull.stream_range;
SELECT integration, destination_table, bookmark, resuming FROM pgpull.streams
 WHERE destination_table IN ('orders', 'Mixed Case')
 ORDER BY integration COLLATE "C", destination_table COLLATE "C";
UPDATE pgpull.stream SET bookmark = '5' WHERE destination_table = 'dom';
SELECT pgpull.track('public.dom', 'key_based', 'k', columns => '{k}');   -- columns only: kept
SELECT bookmark FROM pgpull.streams WHERE destination_table = 'dom';
SELECT pgpull.track('public.dom', 'key_based', 'id');                    -- new key: reset
SELECT bookmark, replication_key FROM pgpull.streams WHERE destination_table = 'dom';
UPDATE pgpull.stream SET bookmark = '5' WHERE destination_table = 'dom';
SELECT pgpull.track('public.dom', 'full_table');                          -- new method: reset
SELECT bookmark, method, replication_key FROM pgpull.streams WHERE destination_table = 'dom';
SELECT pgpull.reset_integration('default');
SELECT integration, count(*) FILTER (WHERE bookmark IS NOT NULL OR resuming) AS bookmarked
  FROM pgpull.streams GROUP BY integration ORDER BY integration COLLATE "C";
SELECT pgpull.reset_integration('nobody');

-- bad input, each with its SQLSTATE, and nothing changed
SELECT pgpull.track('public.orders', 'log_based');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'key_based');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', 'updated_at');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'key_based', 'doc');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'key_based', 'loc');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'key_based', 'note');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'key_based', 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', columns => '{note,"no such"}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', key_columns => '{nope}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', key_columns => '{loc}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', key_columns => '{id,id}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.seq1', 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders_note', 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.comp', 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.order_view', 'full_table', integration => 'other');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', integration => '--');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.orders', 'full_table', integration => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track(NULL, 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('public.no_such_table', 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS streams, count(*) FILTER (WHERE integration = 'other') AS in_other FROM pgpull.streams;

-- NULLs: untrack and reset are strict
SELECT pgpull.untrack(NULL) IS NULL AS untrack_null, pgpull.reset(NULL) IS NULL AS reset_null,
	   pgpull.reset_integration(NULL) IS NULL AS reset_integration_null;

-- untrack
SELECT pgpull.untrack('public.orders', 'Stitch PostgreSQL');
SELECT pgpull.untrack('public.orders', 'Stitch PostgreSQL');
SELECT count(*) FROM pgpull.streams WHERE integration = 'Stitch PostgreSQL';

-- an unprivileged role can neither call the functions nor read the tables
CREATE ROLE regress_nobody;
SET ROLE regress_nobody;
SELECT pgpull.track('public.orders', 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.stream;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT USAGE ON SCHEMA pgpull TO regress_nobody;
SET ROLE regress_nobody;
SELECT pgpull.track('public.orders', 'full_table');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.untrack('public.orders');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.reset('public.orders');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.reset_integration('default');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.streams;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.stream;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA pgpull FROM regress_nobody;
DROP ROLE regress_nobody;

-- the catalog is dumped with the database
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS x(oid)
  JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'pgpull' ORDER BY c.relname COLLATE "C";

-- a dropped relation leaves its stream for the puller to report
DROP TABLE public.events;
SELECT destination_table, relation_name FROM pgpull.streams WHERE destination_table = 'events';
SELECT pgpull.untrack('public.orders');

DROP TABLE public.dom, public.parted, "we""ird sch"."Mixed Case", "we""ird sch".orders;
DROP MATERIALIZED VIEW public.order_mv;
DROP VIEW public.order_view;
DROP TABLE public.orders;
DROP SCHEMA "we""ird sch";
DROP DOMAIN public.posint;
DROP SEQUENCE public.seq1;
DROP TYPE public.comp;
SELECT pgpull.reset_integration('default');
