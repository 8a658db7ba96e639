/*
 * 00_schema.sql: the schema everything of pgpull lives in.
 *
 * The extension is plain SQL and PL/pgSQL only, so the script built from
 * these files installs unchanged through pg_tle on managed servers: it
 * creates and qualifies its own schema, needs no superuser, and avoids
 * pg_tle's reserved dollar-quote tags.  Every built-in is
 * pg_catalog-qualified; every function pins its search_path.  What PUBLIC
 * loses and what the replication role gets is in 90_privileges.sql.
 */

CREATE SCHEMA pgpull;
COMMENT ON SCHEMA pgpull IS 'pgpull: replication catalog, grant scripts, privilege audit, type mapping';
