/*
 * 62_logical_admin.sql: what a DBA runs and reads to set up and watch
 * log-based replication (README.md, "Log-based replication"); the run
 * protocol's side is in 77_logical.sql.
 *
 *	 publication_script(integration)	the statements that make the
 *										integration's publication cover
 *										exactly its log_based streams
 *	 check_primary()					the primary's settings log-based
 *										replication needs (check_standby's
 *										counterpart)
 *	 slot_status(integration)			each integration's replication slot
 *										as pg_replication_slots shows it:
 *										the WAL it retains and its lag
 *
 * check_privileges (50_audit.sql), grant_script (40_grants.sql) and
 * status_attention (85_status.sql) use the helpers here for their
 * log-based rows.
 */

/*
 * _log_based_streams: the log_based streams, of one integration or (NULL)
 * of all, with their relation's OID, the name the stream last saw,
 * whether the relation still exists, and their key columns.  SECURITY DEFINER, as
 * _tracked_relations, so that a DBA granted publication_script or
 * check_privileges needs no privilege on the catalog; it shows relation
 * names the catalogs show anyway.
 */
CREATE FUNCTION pgpull._log_based_streams(integration text)
RETURNS TABLE (integration text, stream_id bigint, relation pg_catalog.oid, relation_name text, dropped boolean,
			   key_columns name[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.integration, s.stream_id, s.relation::pg_catalog.oid, s.relation_name,
		   NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = s.relation), s.key_columns
	  FROM pgpull.stream s
	 WHERE s.method = 'log_based'
	   AND (_log_based_streams.integration IS NULL OR s.integration = _log_based_streams.integration)
	 ORDER BY s.integration COLLATE "C", s.relation_name COLLATE "C", s.stream_id;
$fn$;
COMMENT ON FUNCTION pgpull._log_based_streams(text) IS 'internal: the log_based streams of an integration (NULL: of all), and whether their relation still exists';

/*
 * _slot_integrations: the integrations that may have a replication slot in
 * this database, with its name: those with streams or grants, and those
 * whose slot the puller made (pgpull.integration_slot).  SECURITY DEFINER
 * for the same reason as _integrations; PL/pgSQL, as slot_name is created
 * after this file.
 */
CREATE FUNCTION pgpull._slot_integrations()
RETURNS TABLE (integration text, slot_name name)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	RETURN QUERY
	SELECT x.integration, pgpull.slot_name(x.integration)
	  FROM (SELECT i AS integration FROM pgpull._integrations() i
			UNION
			SELECT l.integration FROM pgpull.integration_slot l) x
	 ORDER BY x.integration COLLATE "C";
END
$fn$;
COMMENT ON FUNCTION pgpull._slot_integrations() IS 'internal: the integrations that may have a replication slot in this database, with its name';

/*
 * _has_replication: whether a role may open replication connections: a
 * superuser, the REPLICATION attribute, or on RDS and Aurora membership in
 * rds_replication.
 */
CREATE FUNCTION pgpull._has_replication(role pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT COALESCE((SELECT r.rolsuper OR r.rolreplication FROM pg_catalog.pg_roles r WHERE r.oid = _has_replication.role), false)
		OR EXISTS (SELECT FROM pg_catalog.pg_roles g
					WHERE g.rolname = 'rds_replication'
					  AND pg_catalog.pg_has_role(_has_replication.role, g.oid, 'MEMBER'));
$fn$;
COMMENT ON FUNCTION pgpull._has_replication(pg_catalog.oid) IS 'internal: whether a role may open replication connections (superuser, REPLICATION, or rds_replication)';

/*
 * _replication_comments: grant_script's comment rows for a role whose
 * integrations have log_based streams (named, quoted and joined, in
 * integrations): the REPLICATION attribute, which grant_script cannot
 * give (on PostgreSQL 15 only a superuser can), its RDS and Aurora
 * equivalent, and what pg_hba.conf needs (nothing more: a replication=
 * database connection matches the database's lines, not the "replication"
 * keyword, which is for physical replication).  role is NULL when the role
 * does not exist yet.
 */
CREATE FUNCTION pgpull._replication_comments(role name, role_oid pg_catalog.oid, integrations text)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF _replication_comments.role_oid IS NOT NULL AND pgpull._has_replication(_replication_comments.role_oid) THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'log_based streams of integration %s are read over a replication connection: role %s may open one (superuser, REPLICATION or rds_replication)',
			_replication_comments.integrations, pgpull._quoted(_replication_comments.role)));
	ELSE
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'log_based streams of integration %s are read over a replication connection, which takes the REPLICATION attribute; on PostgreSQL 15 only a superuser can give it: as a superuser, run: ALTER ROLE %I REPLICATION;',
			_replication_comments.integrations, _replication_comments.role));
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'on RDS and Aurora, instead: GRANT rds_replication TO %I; with rds.logical_replication = 1 in the DB parameter group (the DB cluster parameter group on Aurora), which takes a reboot',
			_replication_comments.role));
	END IF;
	RETURN NEXT pgpull._comment(
		'the replication connection (replication=database) logs in as the role, with LOGIN, and pg_hba.conf matches it with the lines for the database, as its other connections: the "replication" keyword is for physical replication only, so no line is needed for it');
END
$fn$;
COMMENT ON FUNCTION pgpull._replication_comments(name, pg_catalog.oid, text) IS 'internal: grant_script''s comment rows on the REPLICATION attribute log_based streams need';

/*
 * _replica_identity: how the write-ahead log names the rows of a table:
 * 'full' (whole old rows), 'nothing', or the columns of its primary key
 * (REPLICA IDENTITY DEFAULT) or of the index REPLICA IDENTITY USING INDEX
 * names, in index order, as text ('{}' when the default has no primary key).
 */
CREATE FUNCTION pgpull._replica_identity(relation pg_catalog.oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT CASE c.relreplident
				WHEN 'f' THEN 'full'
				WHEN 'n' THEN 'nothing'
				ELSE COALESCE((SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)::text
								 FROM pg_catalog.pg_index i,
									  pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord),
									  pg_catalog.pg_attribute a
								WHERE i.indrelid = c.oid
								  AND CASE c.relreplident WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END
								  AND a.attrelid = c.oid AND a.attnum = k.attnum), '{}') END
	  FROM pg_catalog.pg_class c
	 WHERE c.oid = _replica_identity.relation;
$fn$;
COMMENT ON FUNCTION pgpull._replica_identity(pg_catalog.oid) IS 'internal: a table''s replica identity: full, nothing, or its key columns';

/*
 * _publication_state: how the publication of an integration stands
 * against its log_based streams whose relation exists: whether it exists,
 * publishes all tables (or schemas), publishes every kind of change and
 * through the partition root; those relations (live), the ones it misses, those it holds that
 * no log_based stream tracks, and those it holds with a row filter or
 * column list (which would hide changes), each as qualified, quoted names
 * in name order.
 */
CREATE FUNCTION pgpull._publication_state(integration text,
										  OUT publication name, OUT pub_exists boolean, OUT pub_owner name,
										  OUT all_tables boolean, OUT has_schemas boolean,
										  OUT publishes_all boolean, OUT via_root boolean,
										  OUT live text[], OUT missing text[], OUT extra text[], OUT filtered text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_oid pg_catalog.oid;
BEGIN
	publication := pgpull.publication_name(_publication_state.integration);
	SELECT p.oid, r.rolname, p.puballtables,
		   p.pubinsert AND p.pubupdate AND p.pubdelete AND p.pubtruncate, p.pubviaroot
	  INTO v_oid, pub_owner, all_tables, publishes_all, via_root
	  FROM pg_catalog.pg_publication p
	  JOIN pg_catalog.pg_roles r ON r.oid = p.pubowner
	 WHERE p.pubname = publication;
	pub_exists := v_oid IS NOT NULL;
	has_schemas := pub_exists
		AND EXISTS (SELECT FROM pg_catalog.pg_publication_namespace pn WHERE pn.pnpubid = v_oid);

	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}'),
		   COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C")
					FILTER (WHERE NOT (pub_exists
				AND (all_tables
					 OR EXISTS (SELECT FROM pg_catalog.pg_publication_rel pr
								 WHERE pr.prpubid = v_oid AND pr.prrelid = l.relation)
					 OR EXISTS (SELECT FROM pg_catalog.pg_publication_namespace pn
								 WHERE pn.pnpubid = v_oid AND pn.pnnspid = c.relnamespace)))), '{}')
	  INTO live, missing
	  FROM pgpull._log_based_streams(_publication_state.integration) l
	  JOIN pg_catalog.pg_class c ON c.oid = l.relation
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE NOT l.dropped;

	/* the tables listed in it that no log_based stream of the integration tracks */
	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}')
	  INTO extra
	  FROM pg_catalog.pg_publication_rel pr
	  JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE pr.prpubid = v_oid
	   AND pr.prrelid NOT IN (SELECT l.relation FROM pgpull._log_based_streams(_publication_state.integration) l
							  WHERE NOT l.dropped);

	SELECT COALESCE(pg_catalog.array_agg(pg_catalog.format('%I.%I', n.nspname, c.relname)
										 ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"), '{}')
	  INTO filtered
	  FROM pg_catalog.pg_publication_rel pr
	  JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE pr.prpubid = v_oid
	   AND (pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL);
END
$fn$;
COMMENT ON FUNCTION pgpull._publication_state(text) IS 'internal: the publication of an integration against its log_based streams: missing, extra and filtered tables, options';

/*
 * _log_based_checks: check_privileges' rows for the log_based streams of
 * some integrations (none when none of them has one), in its row shape:
 * the REPLICATION attribute of role (skipped when role is NULL), wal_level,
 * and per integration, in name order, its publication: covering every
 * log_based stream (required) and publishing no other table (hazard);
 * then per log_based stream, its key columns still the replica identity
 * of its table, or REPLICA IDENTITY FULL (required: with NOTHING, or no
 * primary key left, the application's own UPDATE and DELETE on a published
 * table fail).
 * status_attention reads the last two kinds for its integrations.
 */
CREATE FUNCTION pgpull._log_based_checks(role name, integrations text[])
RETURNS TABLE (object_type text, object_name text, privilege text, ok boolean,
			   detail text, fix text, kind text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_role pg_catalog.oid;
	v_integrations text[];
	v_list text;
	v_pub record;
	v_stream record;
BEGIN
	SELECT pg_catalog.array_agg(x.integration ORDER BY x.integration COLLATE "C") INTO v_integrations
	  FROM (SELECT DISTINCT l.integration FROM pgpull._log_based_streams(NULL) l
			 WHERE l.integration = ANY (_log_based_checks.integrations)) x;
	IF v_integrations IS NULL THEN
		RETURN;
	END IF;
	v_list := (SELECT pg_catalog.string_agg(pgpull._quoted(i), ', ') FROM pg_catalog.unnest(v_integrations) i);

	kind := 'required';
	IF _log_based_checks.role IS NOT NULL THEN
		v_role := pgpull._role_oid(_log_based_checks.role);
		object_type := 'role';
		object_name := pg_catalog.quote_ident(_log_based_checks.role);
		privilege := 'REPLICATION';
		ok := pgpull._has_replication(v_role);
		SELECT CASE WHEN r.rolsuper THEN 'held as superuser'
					WHEN r.rolreplication THEN 'the role has the REPLICATION attribute'
					WHEN ok THEN pg_catalog.format('held through membership in role %s', pgpull._quoted('rds_replication'))
					ELSE pg_catalog.format('log_based streams of integration %s are read over a replication connection, which takes the REPLICATION attribute: only a superuser can give it; on RDS and Aurora, GRANT rds_replication TO %I instead, with rds.logical_replication = 1',
										   v_list, _log_based_checks.role) END
		  INTO detail
		  FROM pg_catalog.pg_roles r WHERE r.oid = v_role;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER ROLE %I REPLICATION', _log_based_checks.role) END;
		RETURN NEXT;
	END IF;

	object_type := 'setting';
	object_name := 'wal_level';
	privilege := 'logical';
	ok := pg_catalog.current_setting('wal_level') = 'logical';
	detail := CASE WHEN ok THEN 'the write-ahead log can be decoded'
				   ELSE pg_catalog.format('wal_level is %s: the write-ahead log cannot be decoded, so log_based streams of integration %s cannot be read; the setting takes effect after a restart (on RDS and Aurora: rds.logical_replication = 1)',
										  pg_catalog.current_setting('wal_level'), v_list) END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET wal_level = logical; -- then restart the server' END;
	RETURN NEXT;

	object_type := 'publication';
	FOR v_pub IN
		SELECT i AS integration, p.* FROM pg_catalog.unnest(v_integrations) WITH ORDINALITY AS u(i, o)
		 CROSS JOIN LATERAL pgpull._publication_state(u.i) p
		 ORDER BY u.o
	LOOP
		object_name := pg_catalog.quote_ident(v_pub.publication);
		kind := 'required';
		privilege := 'PUBLISH';
		ok := v_pub.pub_exists AND pg_catalog.cardinality(v_pub.missing) = 0
			AND pg_catalog.cardinality(v_pub.filtered) = 0 AND v_pub.publishes_all AND v_pub.via_root;
		detail := CASE WHEN NOT v_pub.pub_exists
					   THEN pg_catalog.format('the publication of integration %s does not exist: its log_based streams fail', pgpull._quoted(v_pub.integration))
					   WHEN ok THEN pg_catalog.format('the publication covers every log_based stream of integration %s', pgpull._quoted(v_pub.integration))
					   ELSE pg_catalog.array_to_string(ARRAY[
							CASE WHEN pg_catalog.cardinality(v_pub.missing) > 0
								 THEN pg_catalog.format('the publication misses log_based streams of integration %s, which fail: %s',
														pgpull._quoted(v_pub.integration), pg_catalog.array_to_string(v_pub.missing, ', ')) END,
							CASE WHEN pg_catalog.cardinality(v_pub.filtered) > 0
								 THEN 'a row filter or column list hides changes of ' || pg_catalog.array_to_string(v_pub.filtered, ', ') END,
							CASE WHEN NOT v_pub.publishes_all
								 THEN 'the publication does not publish every kind of change (insert, update, delete, truncate)' END,
							CASE WHEN NOT v_pub.via_root
								 THEN 'publish_via_partition_root is off: the changes of a partitioned table come under its partitions'' names' END],
							'; ') END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('SELECT * FROM pgpull.publication_script(%L) \gexec', v_pub.integration) END;
		RETURN NEXT;

		kind := 'hazard';
		privilege := 'PUBLISH OTHER TABLES';
		ok := NOT v_pub.pub_exists
			OR NOT (v_pub.all_tables OR v_pub.has_schemas OR pg_catalog.cardinality(v_pub.extra) > 0);
		detail := CASE WHEN ok THEN 'the publication publishes no table but those of log_based streams'
					   WHEN v_pub.all_tables OR v_pub.has_schemas
					   THEN 'the publication publishes every table' || CASE WHEN v_pub.all_tables THEN '' ELSE ' of some schemas' END
							|| ': the changes of tables no log_based stream tracks are decoded and sent for nothing'
					   ELSE 'the publication publishes tables no log_based stream tracks, whose changes are decoded and sent for nothing: '
							|| pg_catalog.array_to_string(v_pub.extra, ', ') END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('SELECT * FROM pgpull.publication_script(%L) \gexec', v_pub.integration) END;
		RETURN NEXT;
	END LOOP;

	/* each stream's key columns are still the replica identity of its table */
	kind := 'required';
	privilege := 'REPLICA IDENTITY';
	FOR v_stream IN
		SELECT l.*, pgpull._relation_label(l.relation) AS label, pgpull._replica_identity(l.relation) AS identity
		  FROM pgpull._log_based_streams(NULL) l
		 WHERE l.integration = ANY (v_integrations) AND NOT l.dropped
		 ORDER BY pgpull._relation_label(l.relation) COLLATE "C", l.integration COLLATE "C"
	LOOP
		object_type := 'table';
		object_name := v_stream.label;
		ok := v_stream.identity = 'full' OR v_stream.identity = v_stream.key_columns::text;
		detail := CASE WHEN v_stream.identity = 'full' THEN 'REPLICA IDENTITY FULL: every change carries the whole old row'
					   WHEN ok THEN pg_catalog.format('the key columns %s are the replica identity', v_stream.key_columns)
					   WHEN v_stream.identity = 'nothing' THEN 'REPLICA IDENTITY NOTHING: the application''s UPDATE and DELETE on the published table fail, and deletes cannot be sent'
					   WHEN v_stream.identity = '{}' THEN 'the table has no primary key left: the application''s UPDATE and DELETE on the published table fail, and deletes cannot be sent'
					   ELSE pg_catalog.format('the write-ahead log names rows by %s, but the stream of integration %s sends them under %s',
											  v_stream.identity, pgpull._quoted(v_stream.integration), v_stream.key_columns) END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', v_stream.label) END;
		RETURN NEXT;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._log_based_checks(name, text[]) IS 'internal: check_privileges'' rows for log_based streams: REPLICATION, wal_level, each publication';

/*
 * publication_script: the statements that create or update the
 * publication of an integration (pgpull.publication_name) so that it
 * covers exactly the integration's log_based streams, one per row, for
 * psql's \gexec, as grant_script's:
 *
 *   a first comment row: who can run it (a role that owns the tables,
 *     with CREATE on the database for a new publication, and owns the
 *     publication to change it; or a superuser);
 *   a comment row per log_based stream whose relation no longer exists
 *     (skipped: untrack_stream is the fix);
 *   CREATE PUBLICATION ... FOR TABLE ... WITH (publish = 'insert, update,
 *     delete, truncate', publish_via_partition_root = true) when it does
 *     not exist (with a comment row when the integration's slot exists:
 *     a slot outlives a dropped publication only until it decodes a change
 *     made after the drop);
 *   when it exists: ALTER PUBLICATION ... SET TABLE ... when its tables
 *     differ (one statement, so no change is missed in between: dropping a
 *     table and adding it again in two would lose the changes between;
 *     row filters and column lists are cleared), and ALTER PUBLICATION
 *     ... SET (publish ..., publish_via_partition_root = true) when an
 *     option differs.  A publication FOR ALL TABLES cannot be narrowed: it
 *     is dropped and created again, but only while the integration's
 *     replication slot does not exist (see below); otherwise a comment row
 *     says so;
 *   DROP PUBLICATION when the integration has no log_based stream left,
 *     once its replication slot is gone: pgoutput looks the publication up
 *     for every change it decodes, and a slot that decodes a change made
 *     after the drop fails on it, so until the next pgpull sync has
 *     dropped the slot a comment row says to run the script again then;
 *   a comment row saying so when there is nothing to do.
 *
 * Reads the catalogs only; changes nothing.
 */
CREATE FUNCTION pgpull.publication_script(integration text DEFAULT 'default')
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_state record;
	v_stream record;
	v_any boolean;
	v_live text[];
	v_slot name;
	v_slot_exists boolean;
	v_options constant text := 'publish = ''insert, update, delete, truncate'', publish_via_partition_root = true';
BEGIN
	IF publication_script.integration IS NULL THEN
		RAISE EXCEPTION 'integration must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Name the integration whose log_based streams the publication covers, such as ''default''.';
	END IF;
	SELECT * INTO v_state FROM pgpull._publication_state(publication_script.integration);
	v_slot := pgpull.slot_name(publication_script.integration);
	v_slot_exists := EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name = v_slot);
	v_any := EXISTS (SELECT FROM pgpull._log_based_streams(publication_script.integration));
	v_live := v_state.live;

	RETURN NEXT pgpull._comment(pg_catalog.format(
		'run as a role that owns the tables (or a superuser): publishing a table takes its ownership, creating the publication CREATE on database %s, and changing it ownership of publication %s',
		pgpull._quoted(pg_catalog.current_database()), pgpull._quoted(v_state.publication)));
	IF v_state.pub_exists AND NOT pg_catalog.pg_has_role(CURRENT_USER, v_state.pub_owner, 'MEMBER') THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'publication %s belongs to role %s, and the current role %s is not a member of it: run the script as %s or a superuser',
			pgpull._quoted(v_state.publication), pgpull._quoted(v_state.pub_owner),
			pgpull._quoted(CURRENT_USER), pgpull._quoted(v_state.pub_owner)));
	END IF;
	FOR v_stream IN SELECT * FROM pgpull._log_based_streams(publication_script.integration) l WHERE l.dropped LOOP
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'relation %s of stream %s no longer exists: skipped; untrack it with SELECT pgpull.untrack_stream(%s)',
			pgpull._quoted(v_stream.relation_name), v_stream.stream_id, v_stream.stream_id));
	END LOOP;

	IF NOT v_any THEN
		IF NOT v_state.pub_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'nothing to do: integration %s has no log_based stream and publication %s does not exist',
				pgpull._quoted(publication_script.integration), pgpull._quoted(v_state.publication)));
		ELSIF v_slot_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'integration %s has no log_based stream left, but its replication slot %s still exists: the next pgpull sync of the integration drops it; run this script again after it to drop publication %s (a slot that decodes a change made after the publication was dropped fails)',
				pgpull._quoted(publication_script.integration), pgpull._quoted(v_slot),
				pgpull._quoted(v_state.publication)));
		ELSE
			RETURN NEXT pg_catalog.format('DROP PUBLICATION %I', v_state.publication);
		END IF;
		RETURN;
	END IF;

	IF NOT v_state.pub_exists THEN
		IF v_slot_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'replication slot %s exists but publication %s does not: if it was dropped after the slot was made, the slot fails on the first change it decodes past the drop, and creating the publication again does not mend that',
				pgpull._quoted(v_slot), pgpull._quoted(v_state.publication)));
		END IF;
		IF pg_catalog.cardinality(v_live) = 0 THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'nothing to do: no relation of a log_based stream of integration %s exists',
				pgpull._quoted(publication_script.integration)));
		ELSE
			RETURN NEXT pg_catalog.format('CREATE PUBLICATION %I FOR TABLE %s WITH (%s)', v_state.publication,
										  pg_catalog.array_to_string(v_live, ', '), v_options);
		END IF;
		RETURN;
	END IF;

	IF v_state.all_tables THEN
		IF v_slot_exists THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'publication %s publishes all tables and cannot be narrowed to a list, and replication slot %s reads it: it publishes the log_based streams, and every other table too',
				pgpull._quoted(v_state.publication), pgpull._quoted(v_slot)));
		ELSE
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'publication %s publishes all tables and cannot be narrowed to a list: the next statements drop it and create it again',
				pgpull._quoted(v_state.publication)));
			RETURN NEXT pg_catalog.format('DROP PUBLICATION %I', v_state.publication);
			IF pg_catalog.cardinality(v_live) > 0 THEN
				RETURN NEXT pg_catalog.format('CREATE PUBLICATION %I FOR TABLE %s WITH (%s)', v_state.publication,
											  pg_catalog.array_to_string(v_live, ', '), v_options);
			END IF;
		END IF;
		RETURN;
	END IF;

	IF pg_catalog.cardinality(v_state.missing) > 0 OR pg_catalog.cardinality(v_state.extra) > 0
	   OR pg_catalog.cardinality(v_state.filtered) > 0 OR v_state.has_schemas THEN
		IF pg_catalog.cardinality(v_live) > 0 THEN
			RETURN NEXT pg_catalog.format('ALTER PUBLICATION %I SET TABLE %s', v_state.publication,
										  pg_catalog.array_to_string(v_live, ', '));
		ELSIF pg_catalog.cardinality(v_state.extra) > 0 THEN
			/* no relation left to publish, and SET TABLE takes at least one */
			RETURN NEXT pg_catalog.format('ALTER PUBLICATION %I DROP TABLE %s', v_state.publication,
										  pg_catalog.array_to_string(v_state.extra, ', '));
		END IF;
	END IF;
	IF NOT v_state.publishes_all OR NOT v_state.via_root THEN
		RETURN NEXT pg_catalog.format('ALTER PUBLICATION %I SET (%s)', v_state.publication, v_options);
	END IF;
	IF pg_catalog.cardinality(v_state.missing) = 0 AND pg_catalog.cardinality(v_state.extra) = 0
	   AND pg_catalog.cardinality(v_state.filtered) = 0 AND NOT v_state.has_schemas
	   AND v_state.publishes_all AND v_state.via_root THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'nothing to do: publication %s covers exactly the log_based streams of integration %s',
			pgpull._quoted(v_state.publication), pgpull._quoted(publication_script.integration)));
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull.publication_script(text) IS 'statements (one per row, for \gexec) that create, update or drop the publication of an integration so it covers exactly its log_based streams';

/*
 * check_primary: is this server ready to serve log-based streams?
 * check_standby's counterpart, with its row shape; one row per check,
 * always the same rows in the same order:
 *   in_recovery             whether the server is a standby (the checks
 *                           are for the primary: on PostgreSQL 15 a
 *                           standby cannot decode)
 *   wal_level               logical, for log-based replication at all
 *   max_replication_slots   room for one slot per integration with
 *                           log_based streams that has none yet
 *   max_wal_senders         room for one replication connection per such
 *                           integration that is not streaming now
 *   max_slot_wal_keep_size  finite, so a slot whose puller stopped
 *                           running cannot fill the disk
 *   wal_sender_timeout      not 0 and not under 10 seconds
 * fix is the ALTER SYSTEM statement and the reload or restart it takes.
 * On a standby the rows are the same, all ok, and say the checks do not
 * apply there.
 */
CREATE FUNCTION pgpull.check_primary()
RETURNS TABLE (setting text, value text, recommended text, ok boolean, detail text, fix text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_standby boolean := pg_catalog.pg_is_in_recovery();
	v_na constant text := 'the server is a standby: the checks are for the primary, where log-based streams are read (a PostgreSQL 15 standby cannot decode the write-ahead log)';
	v_integrations integer;
	v_without_slot integer;
	v_idle integer;
	v_capacity record;
	v_max integer;
	v_ms bigint;
BEGIN
	SELECT pg_catalog.count(DISTINCT l.integration),
		   pg_catalog.count(DISTINCT l.integration)
			   FILTER (WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots r
										  WHERE r.slot_name = pgpull.slot_name(l.integration))),
		   pg_catalog.count(DISTINCT l.integration)
			   FILTER (WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots r
										  WHERE r.slot_name = pgpull.slot_name(l.integration) AND r.active))
	  INTO v_integrations, v_without_slot, v_idle
	  FROM pgpull._log_based_streams(NULL) l;

	setting := 'in_recovery';
	value := v_standby::text;
	recommended := 'false';
	ok := true;
	detail := CASE WHEN v_standby THEN v_na
				   ELSE 'the server is a primary: log-based streams read its write-ahead log' END;
	fix := NULL;
	RETURN NEXT;

	setting := 'wal_level';
	value := pg_catalog.current_setting('wal_level');
	recommended := 'logical';
	ok := v_standby OR value = 'logical';
	detail := CASE WHEN v_standby THEN v_na
				   WHEN ok THEN 'the write-ahead log can be decoded: log-based streams can be read'
				   ELSE pg_catalog.format('the write-ahead log cannot be decoded, so log-based streams cannot be read (integrations with some: %s); the setting takes effect after a restart',
										  v_integrations) END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET wal_level = logical; -- then restart the server' END;
	RETURN NEXT;

	FOR v_capacity IN
		SELECT * FROM (VALUES
			('max_replication_slots', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_replication_slots)::integer,
			 v_without_slot, 'slots in use', 'integrations with log_based streams and no slot yet, one each to make'),
			('max_wal_senders', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication)::integer,
			 v_idle, 'replication connections open', 'integrations with log_based streams not streaming now, whose runs open one each'))
			AS c(name, used, needed, used_label, needed_label)
	LOOP
		setting := v_capacity.name;
		v_max := pg_catalog.current_setting(v_capacity.name)::integer;
		value := v_max::text;
		recommended := pg_catalog.format('at least %s', v_capacity.used + v_capacity.needed);
		ok := v_standby OR v_max - v_capacity.used >= v_capacity.needed;
		detail := CASE WHEN v_standby THEN v_na
					   ELSE pg_catalog.format('%s: %s; %s: %s', v_capacity.used_label, v_capacity.used,
											  v_capacity.needed_label, v_capacity.needed)
							|| CASE WHEN ok THEN pg_catalog.format('; free after them: %s', v_max - v_capacity.used - v_capacity.needed)
									ELSE '; a run that finds none free fails; the setting takes effect after a restart' END END;
		fix := CASE WHEN NOT ok THEN pg_catalog.format('ALTER SYSTEM SET %I = %s; -- then restart the server',
													   v_capacity.name, v_capacity.used + v_capacity.needed + 2) END;
		RETURN NEXT;
	END LOOP;

	setting := 'max_slot_wal_keep_size';
	value := pg_catalog.current_setting('max_slot_wal_keep_size');
	recommended := 'a finite size, such as 50GB';
	ok := v_standby OR value <> '-1';
	detail := CASE WHEN v_standby THEN v_na
				   WHEN ok THEN 'a slot keeps at most ' || value || ' of write-ahead log: past it the slot is invalidated and its log-based streams are copied again in full, but the disk never fills'
				   ELSE 'a slot keeps write-ahead log without limit: if its puller stops running, the primary''s disk fills; a limit (a share of the free disk, such as 50GB) invalidates the slot instead, and its log-based streams are copied again in full' END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET max_slot_wal_keep_size = ''50GB''; SELECT pg_reload_conf();' END;
	RETURN NEXT;

	setting := 'wal_sender_timeout';
	SELECT s.setting::bigint INTO v_ms FROM pg_catalog.pg_settings s WHERE s.name = 'wal_sender_timeout';
	value := pg_catalog.current_setting('wal_sender_timeout');
	recommended := '10s or more, not 0';
	ok := v_standby OR v_ms >= 10000;
	detail := CASE WHEN v_standby THEN v_na
				   WHEN v_ms = 0 THEN 'a replication connection whose puller vanished is never timed out: its slot stays active, and the next run cannot use it until TCP gives up on the connection'
				   WHEN NOT ok THEN 'replication connections are dropped after ' || value || ' without a reply: a puller on a slow network or a busy destination may be cut off mid-run'
				   ELSE 'a replication connection whose puller vanished is closed after ' || value END;
	fix := CASE WHEN NOT ok THEN 'ALTER SYSTEM SET wal_sender_timeout = ''60s''; SELECT pg_reload_conf();' END;
	RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION pgpull.check_primary() IS 'primary checks for log-based replication: wal_level, free replication slots and WAL senders, max_slot_wal_keep_size, wal_sender_timeout; all ok on a standby';

/*
 * slot_status: the replication slots of the integrations (or of the one
 * named), one row per slot that exists in pg_replication_slots (which
 * any role may read, so this needs no SECURITY DEFINER): whether a run streams from it now, its wal_status (reserved,
 * extended, unreserved: past max_slot_wal_keep_size and lost at the next
 * checkpoint unless it catches up, lost: invalidated), the write-ahead
 * log it retains (bytes from restart_lsn to the current position), its
 * lag (bytes from the position the puller confirmed to the current one),
 * and safe_wal_size (bytes it may still fall behind before it is lost;
 * NULL without max_slot_wal_keep_size).
 */
CREATE FUNCTION pgpull.slot_status(integration text DEFAULT NULL)
RETURNS TABLE (integration text, slot_name name, active boolean, wal_status text, retained_wal bigint,
			   lag bigint, confirmed_flush_lsn pg_catalog.pg_lsn, restart_lsn pg_catalog.pg_lsn,
			   safe_wal_size bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT i.integration, i.slot_name, r.active, r.wal_status,
		   (w.now - r.restart_lsn)::bigint, (w.now - r.confirmed_flush_lsn)::bigint,
		   r.confirmed_flush_lsn, r.restart_lsn, r.safe_wal_size
	  FROM pgpull._slot_integrations() i
	  JOIN pg_catalog.pg_replication_slots r
		ON r.slot_name = i.slot_name AND r.database = pg_catalog.current_database()
	 CROSS JOIN (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn()
							 ELSE pg_catalog.pg_current_wal_lsn() END AS now) w
	 WHERE slot_status.integration IS NULL OR i.integration = slot_status.integration
	 ORDER BY i.integration COLLATE "C";
$fn$;
COMMENT ON FUNCTION pgpull.slot_status(text) IS 'the replication slots of the integrations the session''s role may run: active, wal_status, retained WAL and lag in bytes, confirmed position';

/*
 * _log_based_left: after a stream of an integration went (untrack,
 * untrack_stream), a NOTICE when the integration has no log_based stream
 * left but still has a replication slot (made by the puller, or in
 * pg_replication_slots) or a publication: the next run drops the slot (the
 * extension owner usually lacks REPLICATION, so nothing here can), and
 * publication_script then drops the publication.
 */
CREATE FUNCTION pgpull._log_based_left(integration text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_slot name := pgpull.slot_name(_log_based_left.integration);
	v_publication name := pgpull.publication_name(_log_based_left.integration);
	v_has_slot boolean;
	v_has_publication boolean;
BEGIN
	IF EXISTS (SELECT FROM pgpull.stream s
				WHERE s.integration = _log_based_left.integration AND s.method = 'log_based') THEN
		RETURN;
	END IF;
	v_has_slot := EXISTS (SELECT FROM pgpull.integration_slot l WHERE l.integration = _log_based_left.integration)
		OR EXISTS (SELECT FROM pg_catalog.pg_replication_slots r WHERE r.slot_name = v_slot);
	v_has_publication := EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = v_publication);
	IF NOT v_has_slot AND NOT v_has_publication THEN
		RETURN;
	END IF;
	RAISE NOTICE 'integration "%" has no log_based stream left', _log_based_left.integration
		USING DETAIL = CASE WHEN v_has_slot
							THEN pg_catalog.format('The next pgpull sync of the integration drops its replication slot %s.',
												   pgpull._quoted(v_slot))
							ELSE pg_catalog.format('Its publication %s publishes nothing pgpull reads.', pgpull._quoted(v_publication)) END,
			  HINT = CASE WHEN v_has_publication AND v_has_slot
						  THEN pg_catalog.format('After that run, drop publication %s with: SELECT * FROM pgpull.publication_script(%L) \gexec',
												 pgpull._quoted(v_publication), _log_based_left.integration)
						  WHEN v_has_publication
						  THEN pg_catalog.format('Drop it with: SELECT * FROM pgpull.publication_script(%L) \gexec',
												 _log_based_left.integration)
						  ELSE '' END;
END
$fn$;
COMMENT ON FUNCTION pgpull._log_based_left(text) IS 'internal: a NOTICE when an integration lost its last log_based stream but keeps a slot or publication';

/*
 * _log_based_reset: after reset or reset_integration, a NOTICE when they
 * reset log_based streams (count of them, of the relation named, or of the
 * integration when relation is NULL): each is copied again in full, then
 * streams its changes from the integration's slot again.
 */
CREATE FUNCTION pgpull._log_based_reset(integration text, relation text, count integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF _log_based_reset.count = 0 THEN
		RETURN;
	END IF;
	RAISE NOTICE '%', CASE WHEN _log_based_reset.relation IS NOT NULL
						   THEN pg_catalog.format('the log_based stream of relation %s in integration %s is copied again in full on its next run',
												  _log_based_reset.relation, pgpull._quoted(_log_based_reset.integration))
						   ELSE pg_catalog.format('integration %s has %s log_based %s: each is copied again in full on its next run',
												  pgpull._quoted(_log_based_reset.integration), _log_based_reset.count,
												  CASE WHEN _log_based_reset.count = 1 THEN 'stream' ELSE 'streams' END) END
		USING DETAIL = pg_catalog.format('After the copy, %s its changes from replication slot %s again.',
										 CASE WHEN _log_based_reset.relation IS NOT NULL THEN 'it streams' ELSE 'each streams' END,
										 pgpull._quoted(pgpull.slot_name(_log_based_reset.integration)));
END
$fn$;
COMMENT ON FUNCTION pgpull._log_based_reset(text, text, integer) IS 'internal: a NOTICE that reset log_based streams are copied again in full';
