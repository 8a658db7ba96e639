-- standby: pgpull.check_standby on a primary answers every check, all ok,
-- saying the checks do not apply; a role needs EXECUTE granted to call it.
\set SHOW_CONTEXT never

SELECT setting, value, recommended, ok, detail, fix
  FROM pgpull.check_standby()
 WHERE setting NOT LIKE 'confl\_%';
-- one row per conflict counter of pg_stat_database_conflicts (their
-- number depends on the server version), all ok
SELECT count(*) >= 5 AS counters, bool_and(ok) AS all_ok, bool_and(value = '0') AS zero,
	   bool_and(fix IS NULL) AS no_fix,
	   count(*) = (SELECT count(*) FROM pg_attribute
				   WHERE attrelid = 'pg_stat_database_conflicts'::regclass AND attname LIKE 'confl\_%') AS every_counter
  FROM pgpull.check_standby()
 WHERE setting LIKE 'confl\_%';
SELECT setting FROM pgpull.check_standby() WHERE setting IN ('confl_snapshot', 'confl_lock', 'confl_bufferpin');
SELECT bool_and(ok) AS all_ok, count(*) > 10 AS checks FROM pgpull.check_standby();

-- PUBLIC has no EXECUTE on it: grant_script grants it to the replication role
CREATE ROLE regress_nobody;
GRANT USAGE ON SCHEMA pgpull TO regress_nobody;
SET ROLE regress_nobody;
SELECT count(*) FROM pgpull.check_standby();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION pgpull.check_standby() TO regress_nobody;
SET ROLE regress_nobody;
SELECT bool_and(ok) AS all_ok, count(*) > 6 AS rows FROM pgpull.check_standby();
RESET ROLE;

DROP OWNED BY regress_nobody;
DROP ROLE regress_nobody;
