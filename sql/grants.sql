-- grants: pgpull.grant_script and pgpull.revoke_script, the SCRAM verifier
-- they put in place of a password, and hostile names.
\set SHOW_CONTEXT never
SELECT current_database() AS dbname, pg_get_userbyid(datdba) AS dbowner
  FROM pg_database WHERE datname = current_database() \gset

-- fixtures: a table a hostile name would drop, a schema with a hostile
-- name, and roles that can create tables in it in every way
CREATE TABLE public.t (id int);
CREATE SCHEMA "we""ird sch";
CREATE TABLE "we""ird sch"."Mixed Case" (id int PRIMARY KEY, "Some Col" text);
INSERT INTO "we""ird sch"."Mixed Case" VALUES (1, 'one');
CREATE SCHEMA "Mixed Sch";
CREATE VIEW "Mixed Sch"."A View" AS SELECT 1 AS one;
CREATE ROLE regress_app;
GRANT USAGE, CREATE ON SCHEMA "we""ird sch" TO regress_app;
CREATE ROLE regress_owners NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA "we""ird sch" TO regress_owners;
CREATE ROLE "regress_App Two" IN ROLE regress_owners;
CREATE ROLE regress_dbowner;
ALTER DATABASE :"dbname" OWNER TO regress_dbowner;

-- bad input
SELECT * FROM pgpull.grant_script(NULL, '{public}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.grant_script('regress_repl', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.grant_script('regress_repl', '{public,no_such_schema}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.grant_script('regress_repl', '{"We\"ird sch"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.grant_script('regress_repl', '{public,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.grant_script('regress_repl', '{public}', '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.revoke_script(NULL, '{public}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.revoke_script('regress_no_such_role', '{public}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.revoke_script('regress_app', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.revoke_script('regress_app', '{no_such_schema}');
\echo :LAST_ERROR_SQLSTATE
-- nothing was created on the way
SELECT count(*) AS roles FROM pg_roles WHERE rolname = 'regress_repl';

-- no schema: the role, CONNECT and the pgpull functions only
SELECT * FROM pgpull.grant_script('regress_repl', '{}');

-- a hostile role on a hostile schema, a mixed-case one and public
-- (pg_database_owner, the owner of public, read as the database's owner;
-- the schema named twice is granted once)
SELECT * FROM pgpull.grant_script('regress_x"; DROP TABLE t; --', '{"we\"ird sch","Mixed Sch",public,"we\"ird sch"}');
SELECT * FROM pgpull.grant_script('regress_x"; DROP TABLE t; --', '{"we\"ird sch","Mixed Sch",public}') \gexec
-- the role exists under its exact name, and t is still there
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname LIKE 'regress\_x%';
SELECT count(*) AS t_rows FROM public.t;
-- what it was given
SELECT has_database_privilege('regress_x"; DROP TABLE t; --', :'dbname', 'CONNECT') AS connect,
	   has_schema_privilege('regress_x"; DROP TABLE t; --', 'pgpull', 'USAGE') AS pgpull_usage,
	   has_function_privilege('regress_x"; DROP TABLE t; --', 'pgpull.check_standby()', 'EXECUTE') AS check_standby,
	   has_schema_privilege('regress_x"; DROP TABLE t; --', 'we"ird sch', 'USAGE') AS schema_usage,
	   has_table_privilege('regress_x"; DROP TABLE t; --', '"we""ird sch"."Mixed Case"', 'SELECT') AS table_select,
	   has_table_privilege('regress_x"; DROP TABLE t; --', '"Mixed Sch"."A View"', 'SELECT') AS view_select;
SELECT n.nspname AS schema, pg_get_userbyid(d.defaclrole) AS creator, d.defaclacl
  FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
 ORDER BY n.nspname COLLATE "C", pg_get_userbyid(d.defaclrole) COLLATE "C";

-- every role that can create tables there does, after the script ran:
-- the replication role reads them all
SET ROLE regress_app;
CREATE TABLE "we""ird sch".by_app (v text);
INSERT INTO "we""ird sch".by_app VALUES ('app');
SET ROLE "regress_App Two";
CREATE TABLE "we""ird sch"."by App Two" (v text);
INSERT INTO "we""ird sch"."by App Two" VALUES ('app two');
SET ROLE regress_owners;
CREATE TABLE "we""ird sch".by_owners (v text);
INSERT INTO "we""ird sch".by_owners VALUES ('owners');
SET ROLE regress_dbowner;
CREATE TABLE public.by_dbowner (v text);
INSERT INTO public.by_dbowner VALUES ('database owner');
RESET ROLE;
CREATE TABLE "we""ird sch".by_superuser (v text);
INSERT INTO "we""ird sch".by_superuser VALUES ('superuser');
CREATE MATERIALIZED VIEW "Mixed Sch".by_superuser AS SELECT 'matview'::text AS v;
SET ROLE 'regress_x"; DROP TABLE t; --';
SELECT v FROM "we""ird sch".by_app
UNION ALL SELECT v FROM "we""ird sch"."by App Two"
UNION ALL SELECT v FROM "we""ird sch".by_owners
UNION ALL SELECT v FROM public.by_dbowner
UNION ALL SELECT v FROM "we""ird sch".by_superuser
UNION ALL SELECT v FROM "Mixed Sch".by_superuser
UNION ALL SELECT "Some Col" FROM "we""ird sch"."Mixed Case"
UNION ALL SELECT one::text FROM "Mixed Sch"."A View";
SELECT * FROM pgpull.check_standby() WHERE setting = 'in_recovery';
-- but it writes nothing
INSERT INTO "we""ird sch".by_app VALUES ('no');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the script again for the existing role: no CREATE ROLE; with a
-- password, ALTER ROLE with a verifier
SELECT * FROM pgpull.grant_script('regress_x"; DROP TABLE t; --', '{"Mixed Sch"}');
SELECT regexp_replace(s, '''SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=''', '''<verifier>''') AS script
  FROM pgpull.grant_script('regress_x"; DROP TABLE t; --', '{"Mixed Sch"}', 'a password') s;

-- a password: only its SCRAM verifier goes into the script, and the server
-- stores that verifier as it is
SELECT regexp_replace(s, '''SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=''', '''<verifier>''') AS script
  FROM pgpull.grant_script('regress_pw', '{}', 'pa$$ w0rd"') s;
SELECT count(*) AS rows_with_password
  FROM pgpull.grant_script('regress_pw', '{}', 'pa$$ w0rd"') s
 WHERE strpos(s, 'pa$$ w0rd"') > 0 OR strpos(s, 'pa$$ w0rd""') > 0;
SELECT s AS create_role FROM pgpull.grant_script('regress_pw', '{}', 'pa$$ w0rd"') s
 WHERE s LIKE 'CREATE ROLE%' \gset
:create_role;
SELECT rolpassword = substring(:'create_role' FROM '''(.*)''') AS stored_as_given,
	   rolpassword LIKE 'SCRAM-SHA-256$4096:%' AS scram
  FROM pg_authid WHERE rolname = 'regress_pw';
-- a fresh salt each time
SELECT count(DISTINCT s) AS distinct_scripts
  FROM (SELECT s FROM pgpull.grant_script('regress_pw2', '{}', 'same') s WHERE s LIKE 'CREATE%'
		UNION ALL
		SELECT s FROM pgpull.grant_script('regress_pw2', '{}', 'same') s WHERE s LIKE 'CREATE%') x;

-- the verifier itself: RFC 7677's example (the verifier PostgreSQL stores
-- for it), a salt of bytes 0..15 against values computed with Python's
-- hashlib, a password longer than a SHA-256 block, and SASLprep: non-ASCII
-- spaces, characters mapped to nothing, NFKC; prohibited characters leave
-- the password as it is, as in PostgreSQL
SELECT pgpull._scram_sha256('pencil', decode('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64')) =
	   'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=' AS rfc7677;
SELECT pgpull._scram_sha256('pa$$ w0rd"', decode('000102030405060708090a0b0c0d0e0f', 'hex'));
SELECT pgpull._scram_sha256(repeat('x', 100), decode('000102030405060708090a0b0c0d0e0f', 'hex'));
SELECT pgpull._scram_sha256(U&'\FF50\00E4ss\2168', decode('000102030405060708090a0b0c0d0e0f', 'hex')) =
	   pgpull._scram_sha256(U&'p\00E4ssIX', decode('000102030405060708090a0b0c0d0e0f', 'hex')) AS nfkc;
SELECT pgpull._scram_sha256(U&'p\00E4ssIX', decode('000102030405060708090a0b0c0d0e0f', 'hex'));
SELECT pgpull._saslprep(U&'a\00A0b\3000c') = 'a b c' AS spaces,
	   pgpull._saslprep(U&'\00E4\00ADb\200Bc\FEFF') = U&'\00E4b c' AS nothing,
	   pgpull._saslprep(U&'\00E4\0007\FF41') = U&'\00E4\0007\FF41' AS prohibited_kept,
	   pgpull._saslprep(U&'\00AD') = U&'\00AD' AS empty_kept,
	   pgpull._saslprep(U&'ctl\0001') = U&'ctl\0001' AS ascii_kept;
SELECT pgpull._saslprep(U&'\05D0\FB21');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull._scram_sha256(NULL);
\echo :LAST_ERROR_SQLSTATE

-- a role name with a newline cannot turn a comment row into a statement
SELECT * FROM pgpull.grant_script(E'regress_nl\nDROP TABLE t', '{}');

-- an administrator that is not a superuser (as on managed servers) cannot
-- set default privileges for roles it is not a member of: comment rows
CREATE ROLE regress_admin CREATEROLE;
GRANT USAGE ON SCHEMA pgpull TO regress_admin;
GRANT EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text, text[]),
	pgpull.revoke_script(name, name[]) TO regress_admin;
GRANT regress_app TO regress_admin;
SET ROLE regress_admin;
SELECT * FROM pgpull.grant_script('regress_repl', '{"we\"ird sch"}');
RESET ROLE;

-- CREATE granted to PUBLIC: every role can create there, and no default
-- privilege covers them all; the roles that can create only through
-- PUBLIC are left out, and a comment row says so
GRANT CREATE ON SCHEMA "Mixed Sch" TO PUBLIC;
SELECT * FROM pgpull.grant_script('regress_repl', '{"Mixed Sch"}');
REVOKE CREATE ON SCHEMA "Mixed Sch" FROM PUBLIC;

-- revoke: for the schemas given, default privileges, SELECT and USAGE;
-- CONNECT and the pgpull functions only once no other schema stays granted
SELECT * FROM pgpull.revoke_script('regress_x"; DROP TABLE t; --', '{"we\"ird sch"}');
SELECT * FROM pgpull.revoke_script('regress_x"; DROP TABLE t; --', '{"we\"ird sch"}') \gexec
SET ROLE 'regress_x"; DROP TABLE t; --';
SELECT * FROM "we""ird sch".by_app;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM public.by_dbowner;
RESET ROLE;
SELECT * FROM pgpull.revoke_script('regress_x"; DROP TABLE t; --', '{"Mixed Sch",public}');
SELECT * FROM pgpull.revoke_script('regress_x"; DROP TABLE t; --', '{"Mixed Sch",public}') \gexec
SET ROLE 'regress_x"; DROP TABLE t; --';
SELECT * FROM public.by_dbowner;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM "Mixed Sch"."A View";
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- nothing left: no default privilege, no grant; the role itself stays
SELECT count(*) AS default_acls
  FROM pg_default_acl d, aclexplode(d.defaclacl) a
 WHERE a.grantee = '"regress_x""; DROP TABLE t; --"'::regrole;
SELECT has_database_privilege('regress_x"; DROP TABLE t; --', :'dbname', 'CONNECT') AS connect_through_public,
	   has_schema_privilege('regress_x"; DROP TABLE t; --', 'pgpull', 'USAGE') AS pgpull_usage,
	   has_function_privilege('regress_x"; DROP TABLE t; --', 'pgpull.check_standby()', 'EXECUTE') AS check_standby,
	   has_schema_privilege('regress_x"; DROP TABLE t; --', 'we"ird sch', 'USAGE') AS schema_usage;
SELECT count(*) AS role_kept FROM pg_roles WHERE rolname = 'regress_x"; DROP TABLE t; --';
SELECT count(*) AS acl_entries
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE a.grantee = '"regress_x""; DROP TABLE t; --"'::regrole;
-- column grants go with the table's
SELECT * FROM pgpull.grant_script('regress_x"; DROP TABLE t; --', '{}') \gexec
GRANT USAGE ON SCHEMA "we""ird sch" TO "regress_x""; DROP TABLE t; --";
GRANT SELECT ("Some Col") ON "we""ird sch"."Mixed Case" TO "regress_x""; DROP TABLE t; --";
SELECT * FROM pgpull.revoke_script('regress_x"; DROP TABLE t; --', '{"we\"ird sch"}') \gexec
SELECT has_column_privilege('regress_x"; DROP TABLE t; --', '"we""ird sch"."Mixed Case"', 'Some Col', 'SELECT') AS column_select;

-- integrations: granted by name, to roles that exist; NULLs are errors
SELECT s FROM pgpull.grant_script('regress_pw', '{}', integrations => '{sales,"Odd ''name"}') s
 WHERE s LIKE '%grant_integration%';
SELECT * FROM pgpull.grant_script('regress_pw', '{}', integrations => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.grant_script('regress_pw', '{}', integrations => '{sales,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.grant_integration('sales', 'regress_pw') AS granted,
	   pgpull.grant_integration('sales', 'regress_pw') AS granted_again;
SELECT pgpull.grant_integration('sales', 'regress_no_such_role');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.grant_integration(NULL, 'regress_pw');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.revoke_integration('sales', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT object_name, ok, fix FROM pgpull.check_privileges('regress_pw', '{}') WHERE object_type = 'integration';
SELECT pgpull.revoke_integration('sales', 'regress_pw') AS revoked,
	   pgpull.revoke_integration('sales', 'regress_pw') AS revoked_again;
SELECT object_name, ok, fix FROM pgpull.check_privileges('regress_pw', '{}') WHERE object_type = 'integration';
SELECT pgpull.revoke_integration('default', 'regress_pw');

-- the database owner without CREATEROLE (a new DBA's first try): refused
-- up front, not a script whose CREATE ROLE fails and takes every later
-- statement with it
GRANT USAGE ON SCHEMA pgpull TO regress_dbowner;
GRANT EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text, text[]) TO regress_dbowner;
SET ROLE regress_dbowner;
SELECT * FROM pgpull.grant_script('regress_new', '{public}');
\echo :LAST_ERROR_SQLSTATE
-- nor may it set another role's password
SELECT * FROM pgpull.grant_script('regress_pw', '{}', 'secret');
\echo :LAST_ERROR_SQLSTATE
-- an existing role without a password needs neither
SELECT count(*) > 0 AS statements, count(*) FILTER (WHERE s ~ '^(CREATE|ALTER) ROLE') AS role_statements
  FROM pgpull.grant_script('regress_pw', '{public}') s;
-- its own password it may set
SELECT count(*) AS alter_role FROM pgpull.grant_script('regress_dbowner', '{}', 'secret') s
 WHERE s LIKE 'ALTER ROLE regress_dbowner PASSWORD %';
RESET ROLE;
-- CREATEROLE is enough: the first row says what running the script takes
ALTER ROLE regress_dbowner CREATEROLE;
SET ROLE regress_dbowner;
SELECT * FROM pgpull.grant_script('regress_new', '{public}') LIMIT 3;
SELECT count(*) AS alter_role FROM pgpull.grant_script('regress_pw', '{}', 'secret') s
 WHERE s LIKE 'ALTER ROLE regress_pw PASSWORD %';
RESET ROLE;
SELECT count(*) AS roles FROM pg_roles WHERE rolname = 'regress_new';

-- cleanup
SET client_min_messages = warning;
ALTER DATABASE :"dbname" OWNER TO :"dbowner";
DROP SCHEMA "we""ird sch" CASCADE;
DROP SCHEMA "Mixed Sch" CASCADE;
DROP TABLE public.t, public.by_dbowner;
DROP OWNED BY regress_app, regress_owners, "regress_App Two", regress_dbowner, regress_admin,
	"regress_x""; DROP TABLE t; --", regress_pw;
DROP ROLE regress_app, "regress_App Two", regress_owners, regress_dbowner, regress_admin,
	"regress_x""; DROP TABLE t; --", regress_pw;
RESET client_min_messages;
