-- audit: pgpull.check_privileges catches each kind of missing privilege and
-- each hazard, and its fix repairs it.
\set SHOW_CONTEXT never
SELECT current_database() AS dbname \gset

-- every kind of relation, in a plain schema and a hostile one
CREATE SCHEMA regress_audit;
CREATE TABLE regress_audit.plain (id int PRIMARY KEY, a text, b text);
INSERT INTO regress_audit.plain VALUES (1, 'a1', 'b1'), (2, 'a2', 'b2'), (3, 'a3', 'b3');
CREATE TABLE regress_audit.parted (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE regress_audit.parted_1 PARTITION OF regress_audit.parted FOR VALUES FROM (0) TO (100);
CREATE VIEW regress_audit.a_view AS SELECT id, a FROM regress_audit.plain;
CREATE MATERIALIZED VIEW regress_audit.a_matview AS SELECT id FROM regress_audit.plain;
CREATE FOREIGN DATA WRAPPER regress_fdw;
CREATE SERVER regress_server FOREIGN DATA WRAPPER regress_fdw;
CREATE FOREIGN TABLE regress_audit.a_foreign (id int) SERVER regress_server;
CREATE SCHEMA "we""ird sch";
CREATE TABLE "we""ird sch"."Mixed Case" (id int PRIMARY KEY, "Some Col" text);
-- roles that create tables there, besides the superuser who owns both
CREATE ROLE regress_creator;
GRANT USAGE, CREATE ON SCHEMA regress_audit, "we""ird sch" TO regress_creator;
-- a tracked stream selecting some columns of plain (id is its key)
SELECT pgpull.track('regress_audit.plain', 'full_table', columns => '{a}');

-- rows not ok, and a fixer that runs each distinct fix once
CREATE FUNCTION pg_temp.not_ok(schemas name[] DEFAULT '{regress_audit,"we\"ird sch"}')
RETURNS TABLE (kind text, object_type text, object_name text, privilege text, detail text, fix text)
LANGUAGE sql AS $$
	SELECT c.kind, c.object_type, c.object_name, c.privilege, c.detail, c.fix
	  FROM pgpull.check_privileges('regress_Audit "r"', schemas) c
	 WHERE NOT c.ok
	 ORDER BY c.kind COLLATE "C", c.object_type COLLATE "C", c.object_name COLLATE "C", c.privilege COLLATE "C";
$$;
CREATE FUNCTION pg_temp.fix_all(schemas name[] DEFAULT '{regress_audit,"we\"ird sch"}')
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	v_fix text;
BEGIN
	FOR v_fix IN SELECT x.fix
				   FROM (SELECT DISTINCT c.fix FROM pgpull.check_privileges('regress_Audit "r"', schemas) c
						  WHERE NOT c.ok) x
				  ORDER BY x.fix COLLATE "C" LOOP
		EXECUTE v_fix;
		RETURN NEXT v_fix;
	END LOOP;
END
$$;

-- bad input
SELECT * FROM pgpull.check_privileges(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.check_privileges('regress_Audit "r"');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.check_privileges('regress_creator', '{regress_audit,no_such_schema}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.check_privileges('regress_creator', '{NULL}');
\echo :LAST_ERROR_SQLSTATE

-- right after grant_script, every required row is ok, and so is every
-- hazard row
SELECT * FROM pgpull.grant_script('regress_Audit "r"', '{regress_audit,"we\"ird sch"}') \gexec
SELECT kind, object_type, object_name, privilege, ok, detail, fix
  FROM pgpull.check_privileges('regress_Audit "r"', '{regress_audit,"we\"ird sch"}')
 ORDER BY kind COLLATE "C", object_type COLLATE "C", object_name COLLATE "C", privilege COLLATE "C";
-- NULL schemas: the schemas of tracked streams
SELECT object_name
  FROM pgpull.check_privileges('regress_Audit "r"')
 WHERE object_type = 'schema'
 GROUP BY object_name
 ORDER BY object_name COLLATE "C";

-- CONNECT
REVOKE CONNECT ON DATABASE :"dbname" FROM PUBLIC, "regress_Audit ""r""";
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();
GRANT CONNECT ON DATABASE :"dbname" TO PUBLIC;

-- USAGE on a schema, and on pgpull
REVOKE USAGE ON SCHEMA "we""ird sch", pgpull FROM "regress_Audit ""r""";
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- EXECUTE on a function the puller calls
REVOKE EXECUTE ON FUNCTION pgpull.record_batch(bigint, bigint, bigint, bigint, text, bigint)
  FROM "regress_Audit ""r""";
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- SELECT on a partition, a foreign table and a view
REVOKE SELECT ON regress_audit.parted_1, regress_audit.a_foreign, regress_audit.a_view FROM "regress_Audit ""r""";
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- the columns a tracked stream selects: a column grant on the key alone
-- leaves the selected column unreadable
REVOKE SELECT ON regress_audit.plain FROM "regress_Audit ""r""";
GRANT SELECT (id, b) ON regress_audit.plain TO "regress_Audit ""r""";
SELECT object_type, object_name, privilege, ok
  FROM pgpull.check_privileges('regress_Audit "r"', '{regress_audit}')
 WHERE object_name LIKE 'regress_audit.plain%' AND kind = 'required'
 ORDER BY object_name COLLATE "C";
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- the default privilege of one creating role removed: tables it creates
-- would not be readable
ALTER DEFAULT PRIVILEGES FOR ROLE regress_creator IN SCHEMA regress_audit
	REVOKE SELECT ON TABLES FROM "regress_Audit ""r""";
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();
SET ROLE regress_creator;
CREATE TABLE regress_audit.by_creator (v text);
INSERT INTO regress_audit.by_creator VALUES ('readable');
SET ROLE 'regress_Audit "r"';
SELECT * FROM regress_audit.by_creator;
RESET ROLE;
-- a role that newly can create tables (through a group) needs its own
CREATE ROLE regress_creators NOLOGIN;
GRANT CREATE ON SCHEMA "we""ird sch" TO regress_creators;
CREATE ROLE "regress_Late Creator" IN ROLE regress_creators;
SELECT * FROM pg_temp.not_ok();
-- an administrator that is not a member of those roles cannot fix it
-- itself, and the detail says so
CREATE ROLE regress_admin;
GRANT USAGE ON SCHEMA pgpull TO regress_admin;
GRANT EXECUTE ON FUNCTION pgpull.check_privileges(name, name[]) TO regress_admin;
SET ROLE regress_admin;
SELECT privilege, ok, detail, fix
  FROM pgpull.check_privileges('regress_Audit "r"', '{"we\"ird sch"}')
 WHERE NOT ok;
RESET ROLE;
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- row-level security: a policy filters the role's reads without an error
ALTER TABLE regress_audit.plain ENABLE ROW LEVEL SECURITY;
CREATE POLICY "only One" ON regress_audit.plain FOR SELECT USING (id = 1);
CREATE POLICY other_role ON regress_audit.plain FOR SELECT TO regress_creator USING (true);
SELECT * FROM pg_temp.not_ok();
SET ROLE 'regress_Audit "r"';
SELECT count(*) AS rows_seen FROM regress_audit.plain;
RESET ROLE;
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();
SET ROLE 'regress_Audit "r"';
SELECT count(*) AS rows_seen FROM regress_audit.plain;
RESET ROLE;
-- BYPASSRLS is no hazard; without it and with no policy for the role, it
-- reads nothing
SELECT count(*) AS hazards FROM pg_temp.not_ok() WHERE kind = 'hazard';
ALTER ROLE "regress_Audit ""r""" NOBYPASSRLS;
DROP POLICY "only One" ON regress_audit.plain;
SELECT detail FROM pg_temp.not_ok();
-- an owner reads past RLS, unless it is forced
ALTER TABLE regress_audit.plain DISABLE ROW LEVEL SECURITY;
ALTER TABLE "we""ird sch"."Mixed Case" OWNER TO "regress_Audit ""r""";
ALTER TABLE "we""ird sch"."Mixed Case" ENABLE ROW LEVEL SECURITY;
SELECT object_name, privilege, ok, detail
  FROM pgpull.check_privileges('regress_Audit "r"', '{"we\"ird sch"}')
 WHERE privilege = 'ROW LEVEL SECURITY';
ALTER TABLE "we""ird sch"."Mixed Case" FORCE ROW LEVEL SECURITY;
SELECT * FROM pg_temp.not_ok();
ALTER TABLE "we""ird sch"."Mixed Case" NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
-- (an owner holds the write privileges: hazards)
SELECT * FROM pg_temp.not_ok();
ALTER TABLE "we""ird sch"."Mixed Case" OWNER TO CURRENT_USER;
SELECT * FROM pg_temp.not_ok();

-- hazards: write privileges granted directly, to PUBLIC, through a group
-- and through pg_write_all_data
GRANT INSERT ON regress_audit.plain TO "regress_Audit ""r""";
GRANT UPDATE ON "we""ird sch"."Mixed Case" TO PUBLIC;
CREATE ROLE regress_writers;
GRANT DELETE ON regress_audit.a_view TO regress_writers;
GRANT regress_writers TO "regress_Audit ""r""";
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();
GRANT pg_write_all_data TO "regress_Audit ""r""";
SELECT count(*) AS write_hazards, min(fix) AS fix FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- hazards: CREATE on the database and on a schema, CREATE granted to
-- PUBLIC on a schema; TEMP is no hazard
GRANT CREATE ON DATABASE :"dbname" TO "regress_Audit ""r""";
GRANT CREATE ON SCHEMA regress_audit TO "regress_Audit ""r""";
GRANT CREATE ON SCHEMA "we""ird sch" TO PUBLIC;
SELECT has_database_privilege('regress_Audit "r"', :'dbname', 'TEMP') AS temp;
SELECT * FROM pg_temp.not_ok();
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- hazard: superuser (every write privilege then comes with it)
ALTER ROLE "regress_Audit ""r""" SUPERUSER;
SELECT object_type, privilege, count(*) AS not_ok, min(fix) AS fix
  FROM pg_temp.not_ok()
 GROUP BY object_type, privilege
 ORDER BY object_type COLLATE "C", privilege COLLATE "C";
SELECT * FROM pg_temp.fix_all();
SELECT * FROM pg_temp.not_ok();

-- the revoke script leaves the role unable to read, and the audit agrees
SELECT * FROM pgpull.revoke_script('regress_Audit "r"', '{regress_audit,"we\"ird sch"}') \gexec
SET ROLE 'regress_Audit "r"';
SELECT * FROM regress_audit.plain;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM "we""ird sch"."Mixed Case";
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT USAGE ON SCHEMA regress_audit TO "regress_Audit ""r""";
SET ROLE 'regress_Audit "r"';
SELECT * FROM regress_audit.plain;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT kind, object_type, privilege, count(*) AS not_ok
  FROM pg_temp.not_ok()
 GROUP BY kind, object_type, privilege
 ORDER BY kind COLLATE "C", object_type COLLATE "C", privilege COLLATE "C";

-- cleanup
SELECT pgpull.untrack('regress_audit.plain');
SET client_min_messages = warning;
DROP SCHEMA regress_audit, "we""ird sch" CASCADE;
DROP SERVER regress_server;
DROP FOREIGN DATA WRAPPER regress_fdw;
DROP OWNED BY regress_creator, regress_creators, "regress_Late Creator", regress_admin,
	regress_writers, "regress_Audit ""r""";
DROP ROLE regress_creator, regress_creators, "regress_Late Creator", regress_admin,
	regress_writers, "regress_Audit ""r""";
RESET client_min_messages;
