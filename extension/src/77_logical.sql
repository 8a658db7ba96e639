/*
 * 77_logical.sql: log-based replication (README.md, "Log-based
 * replication").
 *
 * An integration with log_based streams has one logical replication slot
 * (pgoutput) in each database it runs in, and one publication that covers
 * exactly its log_based streams.  The puller makes the slot, copies each
 * log_based stream once with the keyset extraction, then streams the
 * changes from the slot; the functions here name the slot and the
 * publication and keep the catalog's side of that.
 */

/*
 * _logical_name: a replication slot or publication name from its parts:
 * "pgpull_" and the parts in lower case, runs of other characters as one
 * underscore (slot names allow nothing else), at most 63 bytes: a longer
 * name is cut and ends with a hash of the parts, so two never meet.
 */
CREATE FUNCTION pgpull._logical_name(parts text[])
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE WHEN pg_catalog.length(n) <= 63 THEN n
				ELSE pg_catalog.rtrim(pg_catalog.left(n, 54), '_') || '_'
					 || pg_catalog.left(pg_catalog.md5(pg_catalog.array_to_string(parts, pg_catalog.chr(0) || '')), 8)
		   END::name
	  FROM (SELECT 'pgpull_' || pg_catalog.array_to_string(ARRAY(
				SELECT pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(p COLLATE "C"), '[^a-z0-9_]+', '_', 'g'), '_')
				  FROM pg_catalog.unnest(parts) WITH ORDINALITY AS u(p, o) ORDER BY o), '_') AS n) AS s
$fn$;
COMMENT ON FUNCTION pgpull._logical_name(text[]) IS 'internal: a slot or publication name made of its parts, at most 63 bytes';

/*
 * slot_name: the logical replication slot of an integration in this
 * database.  Slot names are unique across the cluster, so the name has the
 * database's and the integration's.
 */
CREATE FUNCTION pgpull.slot_name(integration text DEFAULT 'default')
RETURNS name
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._logical_name(ARRAY[pg_catalog.current_database()::text, slot_name.integration])
$fn$;
COMMENT ON FUNCTION pgpull.slot_name(text) IS 'the name of the logical replication slot of an integration in this database';

/*
 * publication_name: the publication of an integration's log_based streams
 * (publications belong to a database).
 */
CREATE FUNCTION pgpull.publication_name(integration text DEFAULT 'default')
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pgpull._logical_name(ARRAY[publication_name.integration])
$fn$;
COMMENT ON FUNCTION pgpull.publication_name(text) IS 'the name of the publication of an integration''s log_based streams';
