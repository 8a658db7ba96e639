/*
 * 45_discover.sql: what could be replicated (pgpull.discover, which
 * "pgpull discover" prints).
 *
 * One row per relation the calling role can see, with what choosing a
 * stream needs: kind, estimated rows, primary key, candidate replication
 * keys, the columns it cannot read or the type mapping cannot map, and the
 * streams that already track it.  discover runs with the caller's
 * privileges and reads only the system catalogs, which every role may
 * read; the streams come from _discover_streams, SECURITY DEFINER, which
 * shows a stream only when the session's role can see its relation.
 */

/*
 * _relation_visible: whether a role can see a relation, as
 * information_schema.tables decides it: it owns it (or is a member of its
 * owner), or holds a privilege on it or on one of its columns.  NULL when
 * the relation does not exist.
 */
CREATE FUNCTION pgpull._relation_visible(role name, relation pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.pg_has_role(_relation_visible.role, c.relowner, 'USAGE')
		   OR pg_catalog.has_table_privilege(_relation_visible.role, c.oid,
											 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
		   OR pg_catalog.has_any_column_privilege(_relation_visible.role, c.oid,
												  'SELECT, INSERT, UPDATE, REFERENCES')
	  FROM pg_catalog.pg_class c
	 WHERE c.oid = _relation_visible.relation;
$fn$;
COMMENT ON FUNCTION pgpull._relation_visible(name, pg_catalog.oid) IS 'internal: whether a role owns a relation or holds a privilege on it or on one of its columns';

/*
 * _discover_streams: the streams of the relations the session's role can
 * see (pgpull._relation_visible), for discover.  SECURITY DEFINER, so that
 * the replication role needs no privilege on the catalog tables; it checks
 * session_user, the role the session logged in as, which SET ROLE does not
 * change: what it shows, that role could see by itself.
 */
CREATE FUNCTION pgpull._discover_streams()
RETURNS TABLE (relation pg_catalog.oid, integration text, method text, replication_key name)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.relation::pg_catalog.oid, s.integration, s.method, s.replication_key
	  FROM pgpull.stream s
	 WHERE pgpull._relation_visible(SESSION_USER, s.relation);
$fn$;
COMMENT ON FUNCTION pgpull._discover_streams() IS 'internal: integration, method and replication key of the streams whose relations the session''s role can see';

/*
 * _type_problem: why the type mapping cannot map the values of a type (the
 * message of its error: a composite or array type nesting too deeply), or
 * NULL when it can.  Only types made of others can fail.
 */
CREATE FUNCTION pgpull._type_problem(typ pg_catalog.oid, typmod integer)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF (pgpull._type_info(_type_problem.typ, _type_problem.typmod)).kind
	   NOT IN ('array', 'composite', 'range', 'multirange') THEN
		RETURN NULL;
	END IF;
	PERFORM pgpull._type_schema(_type_problem.typ, _type_problem.typmod, 0, true),
			pgpull._value_expr('v', _type_problem.typ, _type_problem.typmod);
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLERRM;
END
$fn$;
COMMENT ON FUNCTION pgpull._type_problem(pg_catalog.oid, integer) IS 'internal: why the type mapping cannot map a type, or NULL';

/*
 * discover: one row per table, partitioned table, view, materialized view
 * and foreign table the calling role can see (pgpull._relation_visible) in
 * the schemas given (NULL: every schema but pg_catalog,
 * information_schema, pgpull and the TOAST and temporary ones), in schema
 * and name order.  Partitions are left out: their partitioned table
 * replicates their rows.
 *
 *   kind				'table', 'partitioned table', 'view',
 *						'materialized view' or 'foreign table'
 *   estimated_rows		reltuples; for a partitioned table, the sum over
 *						its analysed partitions; NULL when never analysed,
 *						and for a view
 *   primary_key		a table's primary key columns ('{}': none, and
 *						track loads it append-only); NULL for the other
 *						kinds, which track asks key_columns of
 *   replication_keys	the columns track accepts as replication key that
 *						the role can read: the first column of an index
 *						first, then the others, each in column order
 *   unreadable_columns columns the role may not SELECT (every column
 *						without USAGE on the schema)
 *   unsupported_columns columns of a type the mapping cannot map
 *   tracked			the streams of the relation, a JSON array of
 *						{"integration", "method", "replication_key"}
 *						('[]': not tracked)
 */
CREATE FUNCTION pgpull.discover(schemas name[] DEFAULT NULL)
RETURNS TABLE (schema_name name, relation_name name, relation pg_catalog.regclass, kind text,
			   estimated_rows bigint, primary_key name[], replication_keys name[],
			   unreadable_columns name[], unsupported_columns name[], tracked jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	/* 22004 for a NULL element, 3F000 for a schema that does not exist */
	PERFORM pgpull._schema_list(discover.schemas);
	RETURN QUERY
	WITH rel AS (
		SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples,
			   pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS usable
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
		   AND NOT c.relispartition
		   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgpull')
		   AND n.nspname !~ '^pg_(toast|temp_)'
		   AND (discover.schemas IS NULL OR n.nspname = ANY (discover.schemas))
		   AND pgpull._relation_visible(CURRENT_USER, c.oid)
	), col AS (
		SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
			   r.usable AND pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT') AS readable,
			   EXISTS (SELECT FROM pg_catalog.pg_index i
						WHERE i.indrelid = a.attrelid AND i.indkey[0] = a.attnum AND i.indisvalid) AS indexed
		  FROM rel r
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid
		 WHERE a.attnum > 0 AND NOT a.attisdropped
	), typ AS MATERIALIZED (
		/* each type once: the mapping's checks cost a few function calls */
		SELECT t.atttypid, t.atttypmod,
			   pgpull._type_problem(t.atttypid, t.atttypmod) AS problem,
			   pgpull._replication_key_type((pgpull._type_info(t.atttypid, t.atttypmod)).base_type) AS key_ok
		  FROM (SELECT DISTINCT c.atttypid, c.atttypmod FROM col c) t
	), cols AS (
		SELECT c.attrelid,
			   pg_catalog.array_agg(c.attname ORDER BY c.indexed DESC, c.attnum)
				   FILTER (WHERE c.readable AND t.key_ok AND t.problem IS NULL) AS keys,
			   pg_catalog.array_agg(c.attname ORDER BY c.attnum) FILTER (WHERE NOT c.readable) AS unreadable,
			   pg_catalog.array_agg(c.attname ORDER BY c.attnum) FILTER (WHERE t.problem IS NOT NULL) AS unsupported
		  FROM col c
		  JOIN typ t ON t.atttypid = c.atttypid AND t.atttypmod = c.atttypmod
		 GROUP BY c.attrelid
	), stream AS (
		SELECT s.relation,
			   pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('integration', s.integration,
																  'method', s.method,
																  'replication_key', s.replication_key)
									ORDER BY s.integration) AS streams
		  FROM pgpull._discover_streams() s
		 GROUP BY s.relation
	)
	SELECT r.nspname, r.relname, r.oid::pg_catalog.regclass,
		   CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
			   WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END,
		   CASE WHEN r.relkind = 'v' THEN NULL
				WHEN r.reltuples >= 0 THEN r.reltuples::bigint
				WHEN r.relkind = 'p' THEN
					(SELECT pg_catalog.sum(lc.reltuples)::bigint
					   FROM pg_catalog.pg_partition_tree(r.oid) pt
					   JOIN pg_catalog.pg_class lc ON lc.oid = pt.relid
					  WHERE pt.isleaf AND lc.reltuples >= 0) END,
		   CASE WHEN r.relkind IN ('r', 'p') THEN
				(SELECT COALESCE(pg_catalog.array_agg(a.attname ORDER BY k.ord), '{}')
				   FROM pg_catalog.pg_index i
				  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
				   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
				  WHERE i.indrelid = r.oid AND i.indisprimary) END,
		   COALESCE(c.keys, '{}'), COALESCE(c.unreadable, '{}'), COALESCE(c.unsupported, '{}'),
		   COALESCE(s.streams, '[]')
	  FROM rel r
	  LEFT JOIN cols c ON c.attrelid = r.oid
	  LEFT JOIN stream s ON s.relation = r.oid
	 ORDER BY r.nspname, r.relname;
END
$fn$;
COMMENT ON FUNCTION pgpull.discover(name[]) IS 'the relations the calling role can see, with kind, estimated rows, primary key, candidate replication keys, columns it cannot read or map, and their streams';
