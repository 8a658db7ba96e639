-- logical_admin: the DBA's side of log-based replication: publication_script
-- (each state of the publication, run with \gexec), check_primary, the
-- REPLICATION rows of grant_script and check_privileges, the log-based rows
-- of status_attention and stream_status, slot_status, and the NOTICEs of
-- untrack and reset.  The regress cluster has wal_level = replica (no
-- logical slot can be made here): the wal_level rows show it as it is.
\set SHOW_CONTEXT never
SHOW wal_level;

CREATE SCHEMA regress_logical;
CREATE TABLE regress_logical.orders (id integer PRIMARY KEY, total numeric);
CREATE TABLE regress_logical."Odd ""Name""" (id integer PRIMARY KEY);
CREATE TABLE regress_logical.parted (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE regress_logical.parted_1 PARTITION OF regress_logical.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE regress_logical.keyless (a integer, b text);
ALTER TABLE regress_logical.keyless REPLICA IDENTITY FULL;
CREATE TABLE regress_logical.other (id integer PRIMARY KEY);
CREATE TABLE regress_logical.gone (id integer PRIMARY KEY);
SELECT pgpull.track('regress_logical.orders', 'log_based', integration => 'regress log');
SELECT pgpull.track('regress_logical."Odd ""Name"""', 'log_based', integration => 'regress log');
SELECT pgpull.track('regress_logical.parted', 'log_based', integration => 'regress log');
SELECT pgpull.track('regress_logical.other', 'full_table', integration => 'regress log');
SELECT pgpull.publication_name('regress log') AS pub, pgpull.slot_name('regress log') AS slot;

-- no publication yet: CREATE PUBLICATION, for the log_based streams only
SELECT * FROM pgpull.publication_script('regress log');
SELECT * FROM pgpull.publication_script('regress log') \gexec
SELECT pubname, puballtables, pubinsert AND pubupdate AND pubdelete AND pubtruncate AS every_change, pubviaroot
  FROM pg_publication WHERE pubname = 'pgpull_regress_log';
SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 'pgpull_regress_log'
 ORDER BY schemaname COLLATE "C", tablename COLLATE "C";
-- run again: nothing to do
SELECT * FROM pgpull.publication_script('regress log');

-- a stream tracked after: SET TABLE, one statement, so no change is missed
SELECT pgpull.track('regress_logical.keyless', 'log_based', key_columns => '{a}', integration => 'regress log');
SELECT * FROM pgpull.publication_script('regress log');
SELECT * FROM pgpull.publication_script('regress log') \gexec
SELECT count(*) AS tables FROM pg_publication_tables WHERE pubname = 'pgpull_regress_log';

-- someone changed it: an extra table, a row filter, fewer kinds of
-- change, publish_via_partition_root off
ALTER PUBLICATION pgpull_regress_log ADD TABLE regress_logical.gone;
ALTER PUBLICATION pgpull_regress_log DROP TABLE regress_logical.orders;
ALTER PUBLICATION pgpull_regress_log ADD TABLE regress_logical.orders WHERE (id > 10);
ALTER PUBLICATION pgpull_regress_log SET (publish = 'insert', publish_via_partition_root = false);
SELECT * FROM pgpull.publication_script('regress log');
SELECT * FROM pgpull.publication_script('regress log') \gexec
SELECT * FROM pgpull.publication_script('regress log');
SELECT count(*) AS filtered FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
 WHERE p.pubname = 'pgpull_regress_log' AND (pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL);

-- a tracked relation dropped: skipped, with the untrack call
SELECT pgpull.track('regress_logical.gone', 'log_based', integration => 'regress log');
SELECT stream_id AS gone FROM pgpull.stream WHERE relation = 'regress_logical.gone'::regclass \gset
SELECT * FROM pgpull.publication_script('regress log') \gexec
DROP TABLE regress_logical.gone;
SELECT regexp_replace(s, '\d+', 'N', 'g') AS publication_script FROM pgpull.publication_script('regress log') s;

-- the publication belongs to another role: the script says who can run it,
-- and a role that does not own the tables cannot
CREATE ROLE regress_pub_owner;
GRANT CREATE ON DATABASE :"DBNAME" TO regress_pub_owner;
ALTER PUBLICATION pgpull_regress_log OWNER TO regress_pub_owner;
GRANT USAGE ON SCHEMA regress_logical TO regress_pub_owner;
CREATE ROLE regress_dba;
GRANT USAGE ON SCHEMA pgpull TO regress_dba;
GRANT EXECUTE ON FUNCTION pgpull.publication_script(text) TO regress_dba;
SET ROLE regress_dba;
SELECT * FROM pgpull.publication_script('regress log') WHERE starts_with(publication_script, '-- publication');
RESET ROLE;
SELECT pgpull.track('regress_logical.other', 'log_based', integration => 'regress log');
SELECT s AS statement FROM pgpull.publication_script('regress log') s WHERE NOT starts_with(s, '--') \gset
\echo :statement
SET ROLE regress_pub_owner;
:statement;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ALTER PUBLICATION pgpull_regress_log OWNER TO CURRENT_USER;
SELECT pgpull.track('regress_logical.other', 'full_table', integration => 'regress log');

-- bad input: NULL, a hostile integration name, one with no stream
SELECT * FROM pgpull.publication_script(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.publication_script('x''); DROP TABLE regress_logical.orders; --');
SELECT * FROM pgpull.publication_script('regress none');
-- a publication of that name FOR ALL TABLES: dropped and made again (no slot)
CREATE PUBLICATION pgpull_regress_all FOR ALL TABLES;
SELECT pgpull.track('regress_logical.orders', 'log_based', integration => 'regress all');
SELECT * FROM pgpull.publication_script('regress all');
SELECT pgpull.untrack('regress_logical.orders', 'regress all');

-- grant_script: the REPLICATION attribute, which it cannot give
CREATE ROLE regress_log_repl LOGIN;
SELECT * FROM pgpull.grant_script('regress_log_repl', '{regress_logical}', integrations => '{regress log}')
 WHERE starts_with(grant_script, '--');
-- run it (as \gexec would, without echoing the puller's functions, whose
-- list other tests show)
CREATE FUNCTION pg_temp.run_script(script text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	s text;
BEGIN
	FOREACH s IN ARRAY script LOOP
		IF NOT starts_with(s, '--') THEN
			EXECUTE s;
		END IF;
	END LOOP;
END
$$;
SELECT pg_temp.run_script(ARRAY(SELECT pgpull.grant_script('regress_log_repl', '{regress_logical}', integrations => '{regress log}')));
-- an integration without log_based streams: no such rows
SELECT count(*) AS comments FROM pgpull.grant_script('regress_log_repl', '{}', integrations => '{regress none}')
 WHERE starts_with(grant_script, '--');

-- check_privileges: REPLICATION, wal_level and the publication
CREATE FUNCTION pg_temp.log_rows(role name)
RETURNS TABLE (object_type text, object_name text, privilege text, ok boolean, detail text, fix text, kind text)
LANGUAGE sql AS $$
	SELECT c.object_type, c.object_name, c.privilege, c.ok, c.detail, c.fix, c.kind
	  FROM pgpull.check_privileges(role, '{regress_logical}') c
	 WHERE (c.object_type IN ('role', 'setting', 'publication') OR c.privilege = 'REPLICA IDENTITY')
	   AND c.privilege NOT IN ('SUPERUSER', 'pg_read_all_stats')
$$;
SELECT * FROM pg_temp.log_rows('regress_log_repl');
-- the publication misses a stream and publishes another table
ALTER PUBLICATION pgpull_regress_log DROP TABLE regress_logical.keyless;
ALTER PUBLICATION pgpull_regress_log ADD TABLE regress_logical.other;
SELECT privilege, ok, detail, fix, kind FROM pg_temp.log_rows('regress_log_repl') WHERE object_type = 'publication';
-- a replica identity changed after track: NOTHING (the application's own
-- updates fail once the table is published), or another index
ALTER TABLE regress_logical.orders REPLICA IDENTITY NOTHING;
ALTER TABLE regress_logical."Odd ""Name""" ADD t integer NOT NULL;
CREATE UNIQUE INDEX odd_t ON regress_logical."Odd ""Name""" (t);
ALTER TABLE regress_logical."Odd ""Name""" REPLICA IDENTITY USING INDEX odd_t;
SELECT object_name, ok, detail, fix FROM pg_temp.log_rows('regress_log_repl') WHERE privilege = 'REPLICA IDENTITY';
SELECT kind, subject, message, fix FROM pgpull.status_attention('regress log') WHERE subject LIKE 'REPLICA IDENTITY%';
ALTER TABLE regress_logical.orders REPLICA IDENTITY DEFAULT;
ALTER TABLE regress_logical."Odd ""Name""" REPLICA IDENTITY DEFAULT;
SELECT bool_and(ok) AS identities_ok FROM pg_temp.log_rows('regress_log_repl') WHERE privilege = 'REPLICA IDENTITY';
-- REPLICATION given, or through rds_replication as on RDS and Aurora
ALTER ROLE regress_log_repl REPLICATION;
SELECT privilege, ok, detail, fix FROM pg_temp.log_rows('regress_log_repl') WHERE object_type = 'role';
SELECT * FROM pgpull.grant_script('regress_log_repl', '{}', integrations => '{regress log}')
 WHERE starts_with(grant_script, '--');
ALTER ROLE regress_log_repl NOREPLICATION;
CREATE ROLE rds_replication;
GRANT rds_replication TO regress_log_repl;
SELECT privilege, ok, detail, fix FROM pg_temp.log_rows('regress_log_repl') WHERE object_type = 'role';
REVOKE rds_replication FROM regress_log_repl;
DROP ROLE rds_replication;
-- a role that may not run the integration gets no log-based rows
CREATE ROLE regress_log_other;
SELECT count(*) AS log_rows FROM pg_temp.log_rows('regress_log_other');

-- status: the log-based items once per integration, the privilege ones
-- per role; a slot the puller made that is gone
SELECT kind, subject, message, fix, attention FROM pgpull.status_attention('regress log')
 WHERE kind IN ('log_based', 'slot') OR subject LIKE '%REPLICATION%';
INSERT INTO pgpull.integration_slot (integration, slot_name, consistent_lsn)
VALUES ('regress log', pgpull.slot_name('regress log'), '0/1');
SELECT kind, subject, message, fix, attention FROM pgpull.status_attention('regress log') WHERE kind = 'slot';
SELECT * FROM pgpull.publication_script('regress log') WHERE NOT starts_with(publication_script, '-- relation') \gexec
SELECT kind, subject FROM pgpull.status_attention('regress log') WHERE kind IN ('log_based', 'slot');
-- the same, as the replication role runs pgpull status
SET SESSION AUTHORIZATION regress_log_repl;
SELECT kind, subject, attention FROM pgpull.status_attention() WHERE kind IN ('log_based', 'slot', 'privilege');
RESET SESSION AUTHORIZATION;

-- stream_status: the initial copy, then the changes from the slot
SELECT relation, method, bookmark, next_action, historical_pending
  FROM pgpull.status('regress log') ORDER BY relation COLLATE "C";
UPDATE pgpull.stream SET bookmark = '0/16B3748' WHERE relation = 'regress_logical.orders'::regclass;
UPDATE pgpull.stream SET resume_position = '{3}' WHERE relation = 'regress_logical.parted'::regclass;
SELECT relation, method, bookmark, next_action, historical_pending
  FROM pgpull.status('regress log') ORDER BY relation COLLATE "C";

-- reset: copied again in full, then from the slot again
SELECT pgpull.reset('regress_logical.orders', 'regress log');
SELECT pgpull.reset('regress_logical.other', 'regress log');
SELECT pgpull.reset_integration('regress log');
SELECT pgpull.reset_integration('regress none');

-- slot_status: no slot can exist with wal_level = replica
SELECT * FROM pgpull.slot_status();
SELECT * FROM pgpull.slot_status('regress log');

-- check_primary: the same rows always; here wal_level is not logical
SELECT setting, value, recommended, ok, detail, fix FROM pgpull.check_primary();

-- PUBLIC may call none of them
CREATE ROLE regress_log_nobody;
GRANT USAGE ON SCHEMA pgpull TO regress_log_nobody;
SET ROLE regress_log_nobody;
SELECT * FROM pgpull.check_primary();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.slot_status();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgpull.publication_script();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- untrack: the last log_based stream going names the slot the next run
-- drops and the publication the script drops after it
SELECT pgpull.untrack('regress_logical.orders', 'regress log');
SELECT pgpull.untrack('regress_logical.parted', 'regress log');
SELECT pgpull.untrack('regress_logical."Odd ""Name"""', 'regress log');
SELECT pgpull.untrack_stream(:gone) IS NOT NULL AS untracked;
SELECT pgpull.untrack('regress_logical.keyless', 'regress log');
SELECT * FROM pgpull.publication_script('regress log');
-- the run dropped the slot: the script drops the publication
DELETE FROM pgpull.integration_slot WHERE integration = 'regress log';
SELECT * FROM pgpull.publication_script('regress log') \gexec
SELECT count(*) AS publications FROM pg_publication WHERE pubname LIKE 'pgpull\_regress\_%';
SELECT * FROM pgpull.publication_script('regress log');
DROP PUBLICATION pgpull_regress_all;

-- cleanup
SELECT pgpull.untrack('regress_logical.other', 'regress log');
SELECT pgpull.revoke_integration('regress log', 'regress_log_repl');
SELECT pg_temp.run_script(ARRAY(SELECT pgpull.revoke_script('regress_log_repl', '{regress_logical}')));
DROP SCHEMA regress_logical CASCADE;
REVOKE CREATE ON DATABASE :"DBNAME" FROM regress_pub_owner;
REVOKE USAGE ON SCHEMA pgpull FROM regress_dba, regress_log_nobody;
REVOKE EXECUTE ON FUNCTION pgpull.publication_script(text) FROM regress_dba;
DROP ROLE regress_pub_owner, regress_dba, regress_log_repl, regress_log_other, regress_log_nobody;
