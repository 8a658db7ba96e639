-- discover: pgpull.discover, what it lists of each kind of relation, for the
-- role that calls it (column privileges, schemas without USAGE), the types
-- the mapping cannot map, the streams, and who may call it.
\set SHOW_CONTEXT never

-- fixtures: every kind of relation, analysed or not (autovacuum would
-- analyse some at its own time)
CREATE SCHEMA regress_disc;
CREATE TABLE regress_disc.customers (id bigint PRIMARY KEY, name text, doc json,
									 created date, updated_at timestamptz, seq integer);
CREATE INDEX ON regress_disc.customers (updated_at);
INSERT INTO regress_disc.customers
SELECT g, 'c' || g, '{}', '2024-01-01', '2024-01-01', g FROM generate_series(1, 100) g;
ANALYZE regress_disc.customers;
CREATE TABLE regress_disc.orders (id integer, placed_at timestamp, total numeric(12,2),
								  PRIMARY KEY (id, placed_at)) PARTITION BY RANGE (id);
CREATE TABLE regress_disc.orders_1 PARTITION OF regress_disc.orders FOR VALUES FROM (0) TO (100)
  WITH (autovacuum_enabled = false);
CREATE TABLE regress_disc.orders_2 PARTITION OF regress_disc.orders FOR VALUES FROM (100) TO (200)
  WITH (autovacuum_enabled = false);
INSERT INTO regress_disc.orders SELECT g, '2024-01-01', g FROM generate_series(0, 199) g;
ANALYZE regress_disc.orders_1;
CREATE VIEW regress_disc.big_orders AS SELECT id, total FROM regress_disc.orders WHERE total > 100;
CREATE MATERIALIZED VIEW regress_disc.daily WITH (autovacuum_enabled = false) AS SELECT placed_at::date AS day, count(*) AS n
  FROM regress_disc.orders GROUP BY 1;
CREATE FOREIGN DATA WRAPPER regress_disc_fdw;
CREATE SERVER regress_disc_server FOREIGN DATA WRAPPER regress_disc_fdw;
CREATE FOREIGN TABLE regress_disc.remote (id integer, at timestamptz) SERVER regress_disc_server;
-- no primary key; a domain over timestamptz is a replication key as its base type is
CREATE DOMAIN regress_disc.stamp AS timestamptz;
CREATE TABLE regress_disc.events (body text, pos point, at regress_disc.stamp);
-- a composite type nesting deeper than the mapping goes (32 levels)
DO $$
BEGIN
	CREATE TYPE regress_disc.n0 AS (x integer);
	FOR i IN 1 .. 33 LOOP
		EXECUTE format('CREATE TYPE regress_disc.n%s AS (x regress_disc.n%s)', i, i - 1);
	END LOOP;
END
$$;
CREATE TABLE regress_disc.deep (id integer PRIMARY KEY, shallow regress_disc.n1,
								nested regress_disc.n33, nested_list regress_disc.n33[]);
-- a table with a salary column the replication role is not to read
CREATE TABLE regress_disc.pay (id integer PRIMARY KEY, salary numeric, changed_at timestamptz);
-- another schema: its table is tracked, and the replication role cannot see it
CREATE SCHEMA regress_disc_other;
CREATE TABLE regress_disc_other.audit (id integer PRIMARY KEY, at timestamptz);
-- a schema without USAGE for the replication role, where it may read a table
CREATE SCHEMA regress_disc_closed;
CREATE TABLE regress_disc_closed.t (id integer);

SELECT pgpull.track('regress_disc.customers', 'key_based', 'updated_at');
SELECT pgpull.track('regress_disc.customers', 'full_table', integration => 'staging');
SELECT pgpull.track('regress_disc_other.audit', 'full_table');

-- what the extension owner sees
SELECT relation, kind, estimated_rows, primary_key, replication_keys,
	   unreadable_columns, unsupported_columns, tracked
  FROM pgpull.discover('{regress_disc}');
-- several schemas, each once; partitions are left out
SELECT schema_name, relation_name FROM pgpull.discover('{regress_disc_other,regress_disc_closed,regress_disc_other}');
-- every schema: never pgpull's own, the system's or TOAST's
SELECT count(*) AS listed, count(*) FILTER (WHERE schema_name IN ('pgpull', 'pg_catalog', 'information_schema')
											 OR schema_name LIKE 'pg\_toast%') AS system
  FROM pgpull.discover() WHERE schema_name LIKE 'regress\_disc%' OR schema_name LIKE 'pg%'
	   OR schema_name = 'information_schema';
-- analysed since: estimates follow
ANALYZE regress_disc.orders_2, regress_disc.daily;
SELECT relation, estimated_rows FROM pgpull.discover('{regress_disc}') WHERE kind IN ('partitioned table', 'materialized view');
-- the refused key types are the ones discover leaves out
SELECT pgpull.track('regress_disc.customers', 'key_based', 'doc');
\echo :LAST_ERROR_SQLSTATE

-- bad input
SELECT * FROM pgpull.discover('{regress_disc,no_such_schema}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.discover('{NULL}');
\echo :LAST_ERROR_SQLSTATE

-- the replication role grant_script makes may call it (the script grants it)
SELECT count(*) AS grant_rows FROM pgpull.grant_script('regress_disc_repl', '{}') s
 WHERE s = 'GRANT EXECUTE ON FUNCTION pgpull.discover(name[]) TO regress_disc_repl';
SET client_min_messages = warning;
SELECT * FROM pgpull.grant_script('regress_disc_repl', '{regress_disc}') \gexec
RESET client_min_messages;
REVOKE SELECT ON regress_disc.pay FROM regress_disc_repl;
GRANT SELECT (id, changed_at) ON regress_disc.pay TO regress_disc_repl;
GRANT SELECT ON regress_disc_closed.t TO regress_disc_repl;
SET SESSION AUTHORIZATION regress_disc_repl;
-- salary is not readable, so not a key; the closed schema's table lists
-- every column as unreadable; the other schema's table is not seen
SELECT relation, replication_keys, unreadable_columns, tracked
  FROM pgpull.discover('{regress_disc,regress_disc_closed,regress_disc_other}')
 WHERE relation_name IN ('customers', 'pay', 't', 'audit');
-- the streams helper shows only the streams of what this session's role sees
SELECT relation::regclass, integration, method FROM pgpull._discover_streams() ORDER BY 1, 2;
-- and the catalog table itself stays closed
SELECT count(*) FROM pgpull.stream;
RESET SESSION AUTHORIZATION;

-- a role with USAGE on pgpull but without the grant: 42501
CREATE ROLE regress_disc_nobody;
GRANT USAGE ON SCHEMA pgpull TO regress_disc_nobody;
SET ROLE regress_disc_nobody;
SELECT count(*) FROM pgpull.discover('{regress_disc}');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- clean up
SELECT pgpull.untrack('regress_disc.customers'), pgpull.untrack('regress_disc.customers', 'staging'),
	   pgpull.untrack('regress_disc_other.audit');
SELECT pgpull.revoke_integration('default', 'regress_disc_repl');
DROP OWNED BY regress_disc_repl, regress_disc_nobody;
DROP ROLE regress_disc_repl, regress_disc_nobody;
SET client_min_messages = warning;
DROP SCHEMA regress_disc, regress_disc_other, regress_disc_closed CASCADE;
DROP SERVER regress_disc_server;
DROP FOREIGN DATA WRAPPER regress_disc_fdw;
RESET client_min_messages;
