/*
 * 50_audit.sql: the privilege audit of a replication role
 * (check_privileges): one row per required privilege and per hazard, each
 * with the statement that fixes it.  How default privileges are covered
 * per creating role is explained at the top of 40_grants.sql.
 */

/*
 * _privilege_via: how a role holds a privilege on an object whose ACL is
 * given (NULL ACLs already replaced by acldefault): via = 'superuser',
 * 'direct' (granted to the role itself, owners included), 'public',
 * 'member' (granted to via_role, which the role inherits through its direct
 * membership in via_member; predefined roles such as pg_read_all_data
 * included) or NULL when the role does not hold it.
 */
CREATE FUNCTION pgpull._privilege_via(role pg_catalog.oid, acl pg_catalog.aclitem[], privilege text,
									  OUT via text, OUT via_role name, OUT via_member name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_grantee pg_catalog.oid;
BEGIN
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = _privilege_via.role) THEN
		via := 'superuser';
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.aclexplode(_privilege_via.acl) a
				WHERE a.grantee = _privilege_via.role AND a.privilege_type = _privilege_via.privilege) THEN
		via := 'direct';
		RETURN;
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.aclexplode(_privilege_via.acl) a
				WHERE a.grantee = 0 AND a.privilege_type = _privilege_via.privilege) THEN
		via := 'public';
		RETURN;
	END IF;
	SELECT g.oid, g.rolname INTO v_grantee, via_role
	  FROM pg_catalog.aclexplode(_privilege_via.acl) a
	  JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
	 WHERE a.privilege_type = _privilege_via.privilege
	   AND pg_catalog.pg_has_role(_privilege_via.role, a.grantee, 'USAGE')
	 ORDER BY g.rolname COLLATE "C"
	 LIMIT 1;
	IF v_grantee IS NULL THEN
		SELECT g.oid, g.rolname INTO v_grantee, via_role
		  FROM pg_catalog.pg_roles g
		 WHERE (g.rolname = 'pg_read_all_data' AND _privilege_via.privilege IN ('SELECT', 'USAGE')
				OR g.rolname = 'pg_write_all_data' AND _privilege_via.privilege IN ('INSERT', 'UPDATE', 'DELETE', 'USAGE'))
		   AND pg_catalog.pg_has_role(_privilege_via.role, g.oid, 'USAGE')
		 ORDER BY g.rolname COLLATE "C"
		 LIMIT 1;
	END IF;
	IF v_grantee IS NULL THEN
		RETURN;
	END IF;
	via := 'member';
	SELECT p.rolname INTO via_member
	  FROM pg_catalog.pg_auth_members m
	  JOIN pg_catalog.pg_roles p ON p.oid = m.roleid
	 WHERE m.member = _privilege_via.role
	   AND pg_catalog.pg_has_role(m.roleid, v_grantee, 'USAGE')
	 ORDER BY p.rolname COLLATE "C"
	 LIMIT 1;
END
$fn$;
COMMENT ON FUNCTION pgpull._privilege_via(pg_catalog.oid, pg_catalog.aclitem[], text) IS 'internal: how a role holds a privilege: superuser, direct, public or member';

/*
 * _via_detail: the sentence for a privilege held as _privilege_via says.
 */
CREATE FUNCTION pgpull._via_detail(via text, via_role name)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE _via_detail.via
		WHEN 'superuser' THEN 'held as superuser'
		WHEN 'direct' THEN 'granted to the role'
		WHEN 'public' THEN 'granted to PUBLIC'
		WHEN 'member' THEN pg_catalog.format('held through membership in role %s', pgpull._quoted(_via_detail.via_role))
		ELSE 'held'
	END;
$fn$;
COMMENT ON FUNCTION pgpull._via_detail(text, name) IS 'internal: how a privilege is held, as a phrase';

/*
 * _revoke_fix: the statement that takes away a privilege held as
 * _privilege_via says: REVOKE from the role or from PUBLIC, REVOKE of the
 * membership it comes through, or NOSUPERUSER.
 */
CREATE FUNCTION pgpull._revoke_fix(role name, via text, via_member name, privilege text, object text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE _revoke_fix.via
		WHEN 'superuser' THEN pg_catalog.format('ALTER ROLE %I NOSUPERUSER', _revoke_fix.role)
		WHEN 'public' THEN pg_catalog.format('REVOKE %s ON %s FROM PUBLIC', _revoke_fix.privilege, _revoke_fix.object)
		WHEN 'member' THEN pg_catalog.format('REVOKE %I FROM %I', _revoke_fix.via_member, _revoke_fix.role)
		ELSE pg_catalog.format('REVOKE %s ON %s FROM %I', _revoke_fix.privilege, _revoke_fix.object, _revoke_fix.role)
	END;
$fn$;
COMMENT ON FUNCTION pgpull._revoke_fix(name, text, name, text, text) IS 'internal: the statement that takes a privilege away from a role';

/*
 * _tracked_relations: the relations tracked streams replicate, with the
 * columns each stream selects (pgpull._stream_columns), one row per stream.
 * SECURITY DEFINER, so that an administrator granted check_privileges
 * needs no privilege on the catalog tables; it shows only relation OIDs and
 * column names.
 */
CREATE FUNCTION pgpull._tracked_relations()
RETURNS TABLE (relation pg_catalog.oid, columns name[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.relation::pg_catalog.oid, pgpull._stream_columns(s.stream_id)
	  FROM pgpull.stream s
	  JOIN pg_catalog.pg_class c ON c.oid = s.relation;
$fn$;
COMMENT ON FUNCTION pgpull._tracked_relations() IS 'internal: tracked relations and the columns their streams select';

/*
 * check_privileges: the audit of a replication role, one row per required
 * privilege (kind 'required') and per hazard (kind 'hazard'); ok says
 * whether the privilege is held (required) or the hazard absent (hazard);
 * detail explains, and fix is a ready, quoted statement when ok is false.
 *
 * Required: CONNECT on the database; EXECUTE on the functions the puller
 * calls; for each integration with streams or grants, that the role may
 * run it (pgpull.grant_integration); USAGE on schema pgpull and on each
 * schema; SELECT on every table, partitioned table (and partition), view,
 * materialized view and foreign table there; SELECT on each column tracked
 * streams there replicate (pgpull._stream_columns); and per schema and per
 * creating role (pgpull._table_creators), a default privilege that gives
 * the role SELECT on that role's new tables: a pg_default_acl entry of the
 * creator, for the schema or database-wide, granting SELECT on tables to
 * the role, to PUBLIC or to a role it inherits (or the role is a
 * superuser, or inherits the creator itself).
 *
 * For log_based streams of the integrations the role may run (only then,
 * after the integrations' rows): the REPLICATION attribute their
 * replication connection takes (required; membership in rds_replication
 * counts, as on RDS and Aurora; its fix needs a superuser), wal_level =
 * logical (required), and per integration its publication: covering
 * every log_based stream with every kind of change, through the partition
 * root and without row filter or column list (required), and publishing
 * no other table (hazard); the fix of both is publication_script's \gexec;
 * and per log_based stream, its key columns still the replica identity of
 * its table (required; the fix is REPLICA IDENTITY FULL)
 * (pgpull._log_based_checks).
 *
 * Hazards: the extension owner cannot read other roles' activity (neither
 * superuser nor a member of pg_read_all_stats), which leaves date and time
 * bookmarks without their commit-safe cap; the role is a superuser; it holds INSERT, UPDATE, DELETE or
 * TRUNCATE on a checked relation; CREATE on the database, on schema pgpull
 * or a checked schema; CREATE granted to PUBLIC on a checked schema (the
 * tables any role creates there cannot be covered by default privileges);
 * row-level security that filters its reads of a table or partitioned
 * table (enabled, and the role neither owner without FORCE, superuser nor
 * BYPASSRLS).  The RLS fix is ALTER ROLE ... BYPASSRLS (which needs a
 * superuser); its detail names the policies that apply.  BYPASSRLS and
 * TEMP are not hazards.
 *
 * schemas NULL means the schemas of all tracked streams.
 */
CREATE FUNCTION pgpull.check_privileges(role name, schemas name[] DEFAULT NULL)
RETURNS TABLE (object_type text, object_name text, privilege text, ok boolean,
			   detail text, fix text, kind text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_role pg_catalog.oid;
	v_rolname name := check_privileges.role;
	v_super boolean;
	v_bypass boolean;
	v_schemas name[] := check_privileges.schemas;
	v_db record;
	v_schema record;
	v_nsp record;
	v_rel record;
	v_creator name;
	v_priv text;
	v_via record;
	v_col name;
	v_policies text;
	v_has_streams boolean;
	v_tracked pg_catalog.oid[];
	v_member boolean;
	v_function text;
	v_integration text;
	v_owner name := (SELECT r.rolname FROM pg_catalog.pg_extension e
					   JOIN pg_catalog.pg_roles r ON r.oid = e.extowner WHERE e.extname = 'pgpull');
BEGIN
	v_role := pgpull._role_oid(check_privileges.role);
	SELECT COALESCE(pg_catalog.array_agg(t.relation), '{}') INTO v_tracked FROM pgpull._tracked_relations() t;
	SELECT r.rolsuper, r.rolbypassrls INTO v_super, v_bypass FROM pg_catalog.pg_roles r WHERE r.oid = v_role;
	IF v_schemas IS NULL THEN
		SELECT COALESCE(pg_catalog.array_agg(n.nspname ORDER BY n.nspname COLLATE "C"), '{}') INTO v_schemas
		  FROM pg_catalog.pg_namespace n
		 WHERE n.oid IN (SELECT c.relnamespace
						   FROM pgpull._tracked_relations() t
						   JOIN pg_catalog.pg_class c ON c.oid = t.relation);
	END IF;
	PERFORM pgpull._schema_list(v_schemas);

	SELECT d.oid, d.datname, COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba)) AS acl INTO v_db
	  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database();

	/* the database */
	kind := 'required';
	object_type := 'database';
	object_name := pg_catalog.quote_ident(v_db.datname);
	privilege := 'CONNECT';
	ok := pg_catalog.has_database_privilege(v_role, v_db.oid, 'CONNECT');
	SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_db.acl, 'CONNECT');
	detail := CASE WHEN ok THEN pgpull._via_detail(v_via.via, v_via.via_role)
				   ELSE 'the role cannot connect to the database' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', v_db.datname, v_rolname) END;
	RETURN NEXT;

	kind := 'hazard';
	privilege := 'CREATE';
	SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_db.acl, 'CREATE');
	ok := NOT pg_catalog.has_database_privilege(v_role, v_db.oid, 'CREATE');
	detail := CASE WHEN ok THEN 'the role cannot create schemas in the database'
				   ELSE 'the role can create schemas in the database: ' || pgpull._via_detail(v_via.via, v_via.via_role) END;
	fix := CASE WHEN NOT ok THEN pgpull._revoke_fix(v_rolname, v_via.via, v_via.via_member, 'CREATE',
													pg_catalog.format('DATABASE %I', v_db.datname)) END;
	RETURN NEXT;

	/* the role */
	kind := 'hazard';
	object_type := 'role';
	object_name := pg_catalog.quote_ident(v_rolname);
	privilege := 'SUPERUSER';
	ok := NOT v_super;
	detail := CASE WHEN ok THEN 'the role is not a superuser'
				   ELSE 'the role is a superuser: it can read and write everything' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER ROLE %I NOSUPERUSER', v_rolname) END;
	RETURN NEXT;

	/* the commit-safe watermark reads every role's transactions as the owner */
	kind := 'hazard';
	object_type := 'role';
	object_name := v_owner;
	privilege := 'pg_read_all_stats';
	ok := pg_catalog.pg_has_role(v_owner, 'pg_read_all_stats', 'USAGE');
	detail := CASE WHEN ok THEN 'the extension owner sees the transactions of every role: the commit-safe watermark works'
				   ELSE 'the extension owner cannot see other roles'' transactions: date and time bookmarks get no commit-safe cap, and a late commit may be skipped' END;
	fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT pg_read_all_stats TO %I', v_owner) END;
	RETURN NEXT;

	/* the functions the puller calls */
	kind := 'required';
	object_type := 'function';
	privilege := 'EXECUTE';
	FOREACH v_function IN ARRAY pgpull._puller_functions() LOOP
		object_name := v_function;
		ok := pg_catalog.has_function_privilege(v_role, v_function::pg_catalog.regprocedure, 'EXECUTE');
		detail := CASE WHEN ok THEN 'the puller can call it'
					   ELSE 'the puller cannot call it: its runs fail' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', v_function, v_rolname) END;
		RETURN NEXT;
	END LOOP;

	/* the integrations it may run */
	object_type := 'integration';
	privilege := 'RUN';
	FOR v_integration IN SELECT i FROM pgpull._integrations() i LOOP
		object_name := v_integration;
		ok := pgpull._may_run(v_role, v_integration);
		detail := CASE WHEN ok THEN 'the role may run the integration'
					   ELSE 'the role may not run the integration: pgpull.grant_integration grants it' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('SELECT pgpull.grant_integration(%L, %L)',
														v_integration, v_rolname) END;
		RETURN NEXT;
	END LOOP;

	/* log_based streams of the integrations it may run */
	RETURN QUERY
	SELECT c.object_type, c.object_name, c.privilege, c.ok, c.detail, c.fix, c.kind
	  FROM pgpull._log_based_checks(v_rolname,
									ARRAY(SELECT DISTINCT l.integration FROM pgpull._log_based_streams(NULL) l
										   WHERE pgpull._may_run(v_role, l.integration))) c;

	/* schema pgpull, then each schema */
	FOR v_schema IN
		SELECT x.schema_oid, x.schema_name, x.checked
		  FROM (SELECT 0::bigint AS ord, n.oid AS schema_oid, n.nspname AS schema_name, false AS checked
				  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgpull'
				UNION ALL
				SELECT l.ord, l.schema_oid, l.schema_name, true
				  FROM pgpull._schema_list(v_schemas) WITH ORDINALITY AS l(schema_oid, schema_name, ord)
				 WHERE l.schema_name <> 'pgpull') x
		 ORDER BY x.ord
	LOOP
		SELECT n.oid, COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner)) AS acl INTO v_nsp
		  FROM pg_catalog.pg_namespace n WHERE n.oid = v_schema.schema_oid;
		object_type := 'schema';
		object_name := pg_catalog.quote_ident(v_schema.schema_name);

		kind := 'required';
		privilege := 'USAGE';
		ok := pg_catalog.has_schema_privilege(v_role, v_schema.schema_oid, 'USAGE');
		SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_nsp.acl, 'USAGE');
		detail := CASE WHEN ok THEN pgpull._via_detail(v_via.via, v_via.via_role)
					   ELSE 'the role cannot look up objects in the schema' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', v_schema.schema_name, v_rolname) END;
		RETURN NEXT;

		kind := 'hazard';
		privilege := 'CREATE';
		ok := NOT pg_catalog.has_schema_privilege(v_role, v_schema.schema_oid, 'CREATE');
		SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_nsp.acl, 'CREATE');
		detail := CASE WHEN ok THEN 'the role cannot create objects in the schema'
					   ELSE 'the role can create objects in the schema: ' || pgpull._via_detail(v_via.via, v_via.via_role) END;
		fix := CASE WHEN NOT ok THEN pgpull._revoke_fix(v_rolname, v_via.via, v_via.via_member, 'CREATE',
														pg_catalog.format('SCHEMA %I', v_schema.schema_name)) END;
		RETURN NEXT;

		CONTINUE WHEN NOT v_schema.checked;

		privilege := 'CREATE TO PUBLIC';
		ok := NOT pgpull._public_creates(v_schema.schema_oid);
		detail := CASE WHEN ok THEN 'PUBLIC cannot create objects in the schema'
					   ELSE 'every role can create tables in the schema, and default privileges cannot cover tables of every role' END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC', v_schema.schema_name) END;
		RETURN NEXT;

		/* default privileges, per creating role */
		kind := 'required';
		object_type := 'default privilege';
		FOR v_creator IN SELECT * FROM pgpull._table_creators(v_rolname, v_schema.schema_oid) LOOP
			privilege := pg_catalog.format('DEFAULT SELECT FOR ROLE %I', v_creator);
			SELECT pg_catalog.string_agg(CASE WHEN d.defaclnamespace = 0 THEN 'a database-wide' ELSE 'a schema' END
										 || ' default privilege', ' and ' ORDER BY d.defaclnamespace)
			  INTO detail
			  FROM pg_catalog.pg_default_acl d
			  JOIN pg_catalog.pg_roles c ON c.oid = d.defaclrole
			 WHERE c.rolname = v_creator
			   AND d.defaclnamespace IN (v_schema.schema_oid, 0)
			   AND d.defaclobjtype = 'r'
			   AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) a
							WHERE a.privilege_type = 'SELECT'
							  AND (a.grantee = 0 OR a.grantee = v_role
								   OR pg_catalog.pg_has_role(v_role, a.grantee, 'USAGE')));
			IF v_super THEN
				ok := true;
				detail := 'the role is a superuser';
			ELSIF pg_catalog.pg_has_role(v_role, v_creator, 'USAGE') THEN
				ok := true;
				detail := pg_catalog.format('the role inherits the privileges of role %s', pgpull._quoted(v_creator));
			ELSIF detail IS NOT NULL THEN
				ok := true;
				detail := pg_catalog.format('tables role %s creates here are readable: %s',
											pgpull._quoted(v_creator), detail);
			ELSE
				ok := false;
				v_member := pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER');
				detail := pg_catalog.format('tables role %s creates in the schema will not be readable', pgpull._quoted(v_creator))
					|| CASE WHEN v_member THEN ''
							ELSE pg_catalog.format('; the current role %s is not a member of role %s and cannot set its default privileges: run the fix as %s or a member of it',
												   pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), pgpull._quoted(v_creator)) END;
			END IF;
			fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I',
														   v_creator, v_schema.schema_name, v_rolname) END;
			RETURN NEXT;
		END LOOP;

		/* relations */
		FOR v_rel IN
			SELECT c.oid, c.relname, c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
				   COALESCE(c.relacl, pg_catalog.acldefault('r', c.relowner)) AS acl
			  FROM pg_catalog.pg_class c
			 WHERE c.relnamespace = v_schema.schema_oid
			   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
			 ORDER BY c.relname COLLATE "C"
		LOOP
			object_type := CASE v_rel.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
							   WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
							   ELSE 'foreign table' END;
			object_name := pg_catalog.format('%I.%I', v_schema.schema_name, v_rel.relname);

			kind := 'required';
			privilege := 'SELECT';
			ok := pg_catalog.has_table_privilege(v_role, v_rel.oid, 'SELECT');
			SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_rel.acl, 'SELECT');
			detail := CASE WHEN ok THEN pgpull._via_detail(v_via.via, v_via.via_role)
						   ELSE 'the role cannot read the ' || object_type END;
			fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT SELECT ON %I.%I TO %I',
														   v_schema.schema_name, v_rel.relname, v_rolname) END;
			RETURN NEXT;

			/* the columns tracked streams select */
			v_has_streams := v_rel.oid = ANY (v_tracked);
			IF v_has_streams THEN
				object_type := 'column';
				FOR v_col IN
					SELECT a.attname
					  FROM pg_catalog.pg_attribute a
					 WHERE a.attrelid = v_rel.oid
					   AND a.attnum > 0 AND NOT a.attisdropped
					   AND a.attname IN (SELECT pg_catalog.unnest(t.columns)
										   FROM pgpull._tracked_relations() t WHERE t.relation = v_rel.oid)
					 ORDER BY a.attnum
				LOOP
					object_name := pg_catalog.format('%I.%I.%I', v_schema.schema_name, v_rel.relname, v_col);
					ok := pg_catalog.has_column_privilege(v_role, v_rel.oid, v_col, 'SELECT');
					detail := CASE WHEN ok THEN 'a tracked stream replicates the column, and the role can read it'
								   ELSE 'a tracked stream replicates the column, and the role cannot read it' END;
					fix := CASE WHEN NOT ok THEN pg_catalog.format('GRANT SELECT (%I) ON %I.%I TO %I',
																   v_col, v_schema.schema_name, v_rel.relname, v_rolname) END;
					RETURN NEXT;
				END LOOP;
				object_type := CASE v_rel.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
								   WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
								   ELSE 'foreign table' END;
				object_name := pg_catalog.format('%I.%I', v_schema.schema_name, v_rel.relname);
			END IF;

			/* write privileges */
			kind := 'hazard';
			FOREACH v_priv IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
				privilege := v_priv;
				ok := NOT pg_catalog.has_table_privilege(v_role, v_rel.oid, v_priv);
				SELECT * INTO v_via FROM pgpull._privilege_via(v_role, v_rel.acl, v_priv);
				detail := CASE WHEN ok THEN 'the role cannot ' || pg_catalog.lower(v_priv)
							   ELSE 'a replication role needs no write privilege: ' || pgpull._via_detail(v_via.via, v_via.via_role) END;
				fix := CASE WHEN NOT ok THEN pgpull._revoke_fix(v_rolname, v_via.via, v_via.via_member, v_priv,
																pg_catalog.format('%I.%I', v_schema.schema_name, v_rel.relname)) END;
				RETURN NEXT;
			END LOOP;

			/* row-level security */
			IF v_rel.relkind IN ('r', 'p') THEN
				object_type := 'policy';
				privilege := 'ROW LEVEL SECURITY';
				IF NOT v_rel.relrowsecurity THEN
					ok := true;
					detail := 'row-level security is not enabled';
				ELSIF v_super OR v_bypass THEN
					ok := true;
					detail := 'row-level security is enabled; the role bypasses it as '
						|| CASE WHEN v_super THEN 'superuser' ELSE 'BYPASSRLS' END;
				ELSIF NOT v_rel.relforcerowsecurity AND pg_catalog.pg_has_role(v_role, v_rel.relowner, 'USAGE') THEN
					ok := true;
					detail := 'row-level security is enabled; the role bypasses it as owner';
				ELSE
					ok := false;
					SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.polname), ', ' ORDER BY p.polname COLLATE "C")
					  INTO v_policies
					  FROM pg_catalog.pg_policy p
					 WHERE p.polrelid = v_rel.oid
					   AND p.polcmd IN ('r', '*')
					   AND EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) g
									WHERE g = 0 OR pg_catalog.pg_has_role(v_role, g, 'USAGE'));
					detail := CASE WHEN v_policies IS NULL
								   THEN 'row-level security is enabled and no policy lets the role read: it reads no rows'
								   ELSE 'row-level security filters the rows the role reads through policies ' || v_policies END;
				END IF;
				fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER ROLE %I BYPASSRLS', v_rolname) END;
				RETURN NEXT;
			END IF;
		END LOOP;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.check_privileges(name, name[]) IS 'audit of a replication role: one row per required privilege and per hazard, with a ready fix for each one not ok';
