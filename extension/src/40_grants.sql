/*
 * 40_grants.sql: the scripts a DBA runs to give a least-privilege
 * replication role what pgpull needs (and to take it back), and the
 * SCRAM-SHA-256 verifier that keeps its password out of them.  The audit of
 * what that role can and cannot do is in 50_audit.sql.
 *
 * The scripts are SETOF text, one statement per row, for psql's \gexec:
 * nothing here changes a privilege by itself.  Every identifier goes
 * through %I and every literal through %L; comment rows have their control
 * characters replaced, so no name can end a comment and start a statement.
 *
 * Default privileges: ALTER DEFAULT PRIVILEGES only covers tables created
 * by the role it names (FOR ROLE), so the scripts and the audit work per
 * creating role: every role that can create tables in the schema, that is
 * every role r with has_schema_privilege(r, s, 'CREATE'), superusers and
 * inherited CREATE included, with pg_database_owner read as the database's
 * owner, and without roles that hold CREATE only through a grant to PUBLIC
 * (those cannot be covered one by one: the audit reports such a grant as a
 * hazard instead).
 */


/*
 * _hmac_sha256: HMAC-SHA-256 (RFC 2104) on pg_catalog.sha256.
 */
CREATE FUNCTION pgpull._hmac_sha256(key bytea, message bytea)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_key bytea := _hmac_sha256.key;
	v_ipad bytea;
	v_opad bytea;
	i integer;
BEGIN
	IF pg_catalog.length(v_key) > 64 THEN
		v_key := pg_catalog.sha256(v_key);
	END IF;
	v_key := v_key || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(v_key)), 'hex');
	v_ipad := v_key;
	v_opad := v_key;
	FOR i IN 0..63 LOOP
		v_ipad := pg_catalog.set_byte(v_ipad, i, pg_catalog.get_byte(v_key, i) # 54);
		v_opad := pg_catalog.set_byte(v_opad, i, pg_catalog.get_byte(v_key, i) # 92);
	END LOOP;
	RETURN pg_catalog.sha256(v_opad || pg_catalog.sha256(v_ipad || _hmac_sha256.message));
END
$fn$;
COMMENT ON FUNCTION pgpull._hmac_sha256(bytea, bytea) IS 'internal: HMAC-SHA-256 of a message under a key';

/*
 * _saslprep: the password as libpq's SCRAM client prepares it before
 * hashing (pg_saslprep, RFC 4013), approximated in SQL:
 *
 * - an ASCII password is used as it is, exactly as PostgreSQL does;
 * - otherwise (UTF8 databases only) non-ASCII spaces become spaces,
 *   "commonly mapped to nothing" characters are removed, and the result is
 *   normalized to NFKC with pg_catalog.normalize;
 * - when the mapped password is empty or holds a prohibited character
 *   (RFC 3454 C.1.2 to C.9), PostgreSQL hashes the password unchanged, and
 *   so does this;
 * - not reproduced: the Unicode 3.2 unassigned-code-point table (A.1) and
 *   the bidirectional rules.  They only matter when normalization changes
 *   the password, so then a password with right-to-left characters is
 *   refused, and one with characters unassigned in Unicode 3.2 (emoji, for
 *   instance) may get a verifier PostgreSQL's clients do not match.  ASCII
 *   passwords, or psql's \password, avoid every approximation.
 */
CREATE FUNCTION pgpull._saslprep(password text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_mapped text;
	v_normalized text;
BEGIN
	IF _saslprep.password !~ '[^\u0001-\u007f]' THEN
		RETURN _saslprep.password;
	END IF;
	IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
		RAISE EXCEPTION 'cannot prepare a non-ASCII password in a % database', pg_catalog.getdatabaseencoding()
			USING ERRCODE = '22023',
				  DETAIL = 'SCRAM hashes the password as UTF-8, and this database does not store UTF-8.',
				  HINT = 'Use an ASCII password, or leave it out and set it with psql''s \password.';
	END IF;
	v_mapped := pg_catalog.regexp_replace(_saslprep.password,
		'[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]', ' ', 'g');
	v_mapped := pg_catalog.regexp_replace(v_mapped,
		'[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]', '', 'g');
	IF v_mapped = ''
	   OR v_mapped ~ ('[\u0001-\u001f\u007f-\u00a0\u0340\u0341\u06dd\u070f\u1680\u180e'
					  '\u2000-\u200f\u2028-\u202f\u205f-\u2063\u206a-\u206f\u2ff0-\u2ffb'
					  '\u3000\ue000-\uf8ff\ufdd0-\ufdef\ufeff\ufff9-\uffff'
					  '\U0001d173-\U0001d17a\U0001fffe\U0001ffff\U0002fffe\U0002ffff'
					  '\U0003fffe\U0003ffff\U0004fffe\U0004ffff\U0005fffe\U0005ffff'
					  '\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff'
					  '\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff'
					  '\U000cfffe\U000cffff\U000dfffe\U000dffff\U000e0001\U000e0020-\U000e007f'
					  '\U000efffe\U000effff\U000f0000-\U0010ffff]') THEN
		/* PostgreSQL's clients hash such a password unprepared */
		RETURN _saslprep.password;
	END IF;
	v_normalized := pg_catalog.normalize(v_mapped, 'NFKC');
	IF v_normalized = _saslprep.password THEN
		RETURN v_normalized;
	END IF;
	IF v_mapped ~ ('[\u05be\u05c0\u05c3\u05d0-\u05ea\u05f0-\u05f4\u061b\u061f\u0621-\u063a'
				   '\u0640-\u064a\u066d-\u066f\u0671-\u06d5\u06dd\u06e5\u06e6\u06fa-\u06fe'
				   '\u0700-\u070d\u0710\u0712-\u072c\u0780-\u07a5\u07b1\u200f\ufb1d'
				   '\ufb1f-\ufb28\ufb2a-\ufb36\ufb38-\ufb3c\ufb3e\ufb40\ufb41\ufb43\ufb44'
				   '\ufb46-\ufbb1\ufbd3-\ufd3d\ufd50-\ufd8f\ufd92-\ufdc7\ufdf0-\ufdfc'
				   '\ufe70-\ufe74\ufe76-\ufefc]') THEN
		RAISE EXCEPTION 'cannot prepare a password with right-to-left characters'
			USING ERRCODE = '22023',
				  DETAIL = 'SASLprep''s bidirectional rules for this password are not reproduced in SQL.',
				  HINT = 'Leave the password out and set it with psql''s \password.';
	END IF;
	RETURN v_normalized;
END
$fn$;
COMMENT ON FUNCTION pgpull._saslprep(text) IS 'internal: a password prepared as SCRAM clients prepare it (SASLprep, approximated: see the source)';

/*
 * _scram_sha256: the SCRAM-SHA-256 verifier of a password, in the form
 * CREATE ROLE ... PASSWORD stores as is (RFC 5802 and 7677):
 * SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, with
 * SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt,
 * iterations), ClientKey = HMAC(SaltedPassword, 'Client Key'), StoredKey =
 * SHA-256(ClientKey) and ServerKey = HMAC(SaltedPassword, 'Server Key').
 * Without a salt, 16 bytes are drawn from gen_random_uuid()'s strong
 * random source (hashed, as UUIDs fix a few bits).
 */
CREATE FUNCTION pgpull._scram_sha256(password text, salt bytea DEFAULT NULL, iterations integer DEFAULT 4096)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_salt bytea := _scram_sha256.salt;
	v_key bytea;
	v_ipad bytea;
	v_opad bytea;
	v_u bytea;
	v_acc bit(256);
	v_hex text := '';
	v_salted bytea;
	i integer;
BEGIN
	IF _scram_sha256.password IS NULL THEN
		RAISE EXCEPTION 'password must not be null'
			USING ERRCODE = '22004';
	END IF;
	IF _scram_sha256.password = '' THEN
		RAISE EXCEPTION 'empty password'
			USING ERRCODE = '22023',
				  DETAIL = 'PostgreSQL refuses empty passwords.',
				  HINT = 'Pass NULL to set the password later with psql''s \password.';
	END IF;
	IF _scram_sha256.iterations IS NULL OR _scram_sha256.iterations < 1 THEN
		RAISE EXCEPTION 'iterations must be at least 1'
			USING ERRCODE = '22023';
	END IF;
	IF v_salt IS NULL THEN
		v_salt := pg_catalog.substr(pg_catalog.sha256(pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
													 || pg_catalog.uuid_send(pg_catalog.gen_random_uuid())), 1, 16);
	END IF;

	/* PBKDF2 with one 32-byte block: U1 = HMAC(P, salt || INT(1)), Ui = HMAC(P, Ui-1) */
	v_key := pg_catalog.convert_to(pgpull._saslprep(_scram_sha256.password), 'UTF8');
	IF pg_catalog.length(v_key) > 64 THEN
		v_key := pg_catalog.sha256(v_key);
	END IF;
	v_key := v_key || pg_catalog.decode(pg_catalog.repeat('00', 64 - pg_catalog.length(v_key)), 'hex');
	v_ipad := v_key;
	v_opad := v_key;
	FOR i IN 0..63 LOOP
		v_ipad := pg_catalog.set_byte(v_ipad, i, pg_catalog.get_byte(v_key, i) # 54);
		v_opad := pg_catalog.set_byte(v_opad, i, pg_catalog.get_byte(v_key, i) # 92);
	END LOOP;
	v_u := pg_catalog.sha256(v_opad || pg_catalog.sha256(v_ipad || v_salt || '\x00000001'::bytea));
	v_acc := ('x' || pg_catalog.encode(v_u, 'hex'))::bit(256);
	FOR i IN 2.._scram_sha256.iterations LOOP
		v_u := pg_catalog.sha256(v_opad || pg_catalog.sha256(v_ipad || v_u));
		v_acc := v_acc # ('x' || pg_catalog.encode(v_u, 'hex'))::bit(256);
	END LOOP;
	FOR i IN 0..3 LOOP
		v_hex := v_hex || pg_catalog.lpad(pg_catalog.to_hex(
			pg_catalog.substring(v_acc, 1 + 64 * i, 64)::bit(64)::bigint), 16, '0');
	END LOOP;
	v_salted := pg_catalog.decode(v_hex, 'hex');

	RETURN pg_catalog.format('SCRAM-SHA-256$%s:%s$%s:%s',
		_scram_sha256.iterations,
		pg_catalog.encode(v_salt, 'base64'),
		pg_catalog.encode(pg_catalog.sha256(pgpull._hmac_sha256(v_salted, 'Client Key'::bytea)), 'base64'),
		pg_catalog.encode(pgpull._hmac_sha256(v_salted, 'Server Key'::bytea), 'base64'));
END
$fn$;
COMMENT ON FUNCTION pgpull._scram_sha256(text, bytea, integer) IS 'internal: the SCRAM-SHA-256 verifier of a password (random salt unless one is given)';

/*
 * _comment: text made safe for a "-- ..." comment row: control characters
 * (a newline would end the comment) become "?".
 */
CREATE FUNCTION pgpull._comment(message text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT '-- ' || pg_catalog.regexp_replace(_comment.message, '[[:cntrl:]]', '?', 'g');
$fn$;
COMMENT ON FUNCTION pgpull._comment(text) IS 'internal: a comment row for a script, with control characters replaced';

/*
 * _quoted: an identifier always in double quotes, for messages.
 */
CREATE FUNCTION pgpull._quoted(ident text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT '"' || pg_catalog.replace(_quoted.ident, '"', '""') || '"';
$fn$;
COMMENT ON FUNCTION pgpull._quoted(text) IS 'internal: an identifier in double quotes, inner quotes doubled';

/*
 * _role_oid: the OID of an existing role; 22004 for NULL, 42704 when there
 * is no such role.
 */
CREATE FUNCTION pgpull._role_oid(role name)
RETURNS pg_catalog.oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_oid pg_catalog.oid;
BEGIN
	IF _role_oid.role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Name the replication role.';
	END IF;
	SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = _role_oid.role;
	IF v_oid IS NULL THEN
		RAISE EXCEPTION 'role "%" does not exist', _role_oid.role
			USING ERRCODE = '42704',
				  HINT = 'Role names are taken as spelled, case-sensitive and without quotes; pgpull.grant_script creates the role.';
	END IF;
	RETURN v_oid;
END
$fn$;
COMMENT ON FUNCTION pgpull._role_oid(name) IS 'internal: the OID of an existing role, or an error';

/*
 * _schema_list: the schemas of an array, first occurrence first, duplicates
 * dropped; 22004 for a NULL element, 3F000 for a schema that does not
 * exist.
 */
CREATE FUNCTION pgpull._schema_list(schemas name[])
RETURNS TABLE (schema_oid pg_catalog.oid, schema_name name)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_name name;
	v_oid pg_catalog.oid;
	v_seen pg_catalog.oid[] := '{}';
BEGIN
	IF _schema_list.schemas IS NULL THEN
		RETURN;
	END IF;
	FOREACH v_name IN ARRAY _schema_list.schemas LOOP
		IF v_name IS NULL THEN
			RAISE EXCEPTION 'schemas must not contain null'
				USING ERRCODE = '22004',
					  HINT = 'Name each schema, as it is spelled.';
		END IF;
		SELECT n.oid INTO v_oid FROM pg_catalog.pg_namespace n WHERE n.nspname = v_name;
		IF v_oid IS NULL THEN
			RAISE EXCEPTION 'schema "%" does not exist', v_name
				USING ERRCODE = '3F000',
					  HINT = 'Schema names are taken as spelled, case-sensitive and without quotes.';
		END IF;
		IF v_oid <> ALL (v_seen) THEN
			v_seen := v_seen || v_oid;
			schema_oid := v_oid;
			schema_name := v_name;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull._schema_list(name[]) IS 'internal: the schemas of an array, checked, in order, without duplicates';

/*
 * _table_creators: the roles whose new tables in a schema need a default
 * privilege for the replication role: every role that can create there
 * (has_schema_privilege CREATE: superusers and inherited CREATE included),
 * pg_database_owner read as the database's owner, except the replication
 * role itself and roles that hold CREATE only through PUBLIC.  In name
 * order.
 */
CREATE FUNCTION pgpull._table_creators(role name, schema_oid pg_catalog.oid)
RETURNS SETOF name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT c.creator
	  FROM (SELECT DISTINCT
				   CASE WHEN r.rolname = 'pg_database_owner' THEN o.rolname ELSE r.rolname END AS creator
			  FROM pg_catalog.pg_namespace n
			 CROSS JOIN pg_catalog.pg_roles r
			 CROSS JOIN pg_catalog.pg_database d
			  JOIN pg_catalog.pg_roles o ON o.oid = d.datdba
			 WHERE n.oid = _table_creators.schema_oid
			   AND d.datname = pg_catalog.current_database()
			   AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')
			   AND (r.rolsuper
					OR EXISTS (SELECT
								 FROM pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
								WHERE a.privilege_type = 'CREATE'
								  AND a.grantee <> 0
								  AND pg_catalog.pg_has_role(r.oid, a.grantee, 'USAGE')))) c
	 WHERE c.creator IS DISTINCT FROM _table_creators.role
	 ORDER BY c.creator COLLATE "C";
$fn$;
COMMENT ON FUNCTION pgpull._table_creators(name, pg_catalog.oid) IS 'internal: the roles that can create tables in a schema, for default privileges';

/*
 * _public_creates: whether PUBLIC holds CREATE on a schema.
 */
CREATE FUNCTION pgpull._public_creates(schema_oid pg_catalog.oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT EXISTS (SELECT
					 FROM pg_catalog.pg_namespace n,
						  pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
					WHERE n.oid = _public_creates.schema_oid
					  AND a.grantee = 0
					  AND a.privilege_type = 'CREATE');
$fn$;
COMMENT ON FUNCTION pgpull._public_creates(pg_catalog.oid) IS 'internal: whether PUBLIC may create objects in a schema';

/*
 * grant_script: the statements that give a replication role what pgpull
 * needs on some schemas, one per row, for psql's \gexec:
 *
 *   CREATE ROLE ... LOGIN when the role does not exist (with a password,
 *     only as a SCRAM-SHA-256 verifier computed here; without one, a
 *     comment row says to set it with psql's \password); for an existing
 *     role, a given password becomes ALTER ROLE ... PASSWORD '<verifier>';
 *   GRANT CONNECT on the current database;
 *   GRANT USAGE ON SCHEMA pgpull and EXECUTE on the puller's functions;
 *   SELECT pgpull.grant_integration(...) for each integration given (by
 *     default "default"): the role may run those integrations only; when
 *     some of them have log_based streams, comment rows on the REPLICATION
 *     attribute their replication connection needs, which only a
 *     superuser can give (pgpull._replication_comments);
 *   for each schema, in the order given: GRANT USAGE, GRANT SELECT ON ALL
 *     TABLES IN SCHEMA, and ALTER DEFAULT PRIVILEGES FOR ROLE r IN SCHEMA s
 *     GRANT SELECT ON TABLES for every role r that can create tables there
 *     (pgpull._table_creators), or a comment row where the current role is
 *     not a member of r and so cannot set them; a comment row also flags
 *     CREATE granted to PUBLIC, which default privileges cannot cover.
 *
 * The password never appears in the rows, but it is an argument of this
 * very call, which log_statement = all (or an error in it) logs: where
 * statements are logged, pass NULL and use psql's \password, which hashes
 * on the client.
 */
CREATE FUNCTION pgpull.grant_script(role name, schemas name[], password text DEFAULT NULL,
									integrations text[] DEFAULT '{default}')
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $fn$
DECLARE
	v_exists boolean;
	v_schema record;
	v_creator name;
	v_function text;
	v_integration text;
	v_statement text;
	v_super boolean;
	v_createrole boolean;
	v_log_based text;
BEGIN
	IF grant_script.role IS NULL THEN
		RAISE EXCEPTION 'role must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Name the replication role; it is created when it does not exist.';
	END IF;
	IF grant_script.schemas IS NULL THEN
		RAISE EXCEPTION 'schemas must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Pass an empty array to grant only CONNECT and the pgpull functions.';
	END IF;
	IF grant_script.integrations IS NULL OR pg_catalog.array_position(grant_script.integrations, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'integrations must not be null or hold nulls'
			USING ERRCODE = '22004',
				  HINT = 'Name the integrations the role may run, such as ''{default}'', or pass ''{}'' for none.';
	END IF;
	/* check every schema before the first row goes out */
	PERFORM pgpull._schema_list(grant_script.schemas);
	v_exists := EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role);

	/*
	 * A script whose first statement fails leaves every later one failing on
	 * the missing role: refuse up front when the current role, which runs
	 * the \gexec, could not create the role, or set the password of an
	 * existing one.  That takes a superuser or CREATEROLE (from PostgreSQL
	 * 16, ADMIN OPTION on an existing role too); a role may always set its
	 * own password.
	 */
	SELECT r.rolsuper, r.rolcreaterole INTO v_super, v_createrole
	  FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER;
	IF NOT v_exists AND NOT (v_super OR v_createrole) THEN
		RAISE EXCEPTION 'role "%" does not exist and the current role "%" cannot create it',
			grant_script.role, CURRENT_USER
			USING ERRCODE = '42501',
				  DETAIL = 'The script''s first statement is CREATE ROLE, which takes a superuser or a role with CREATEROLE; every later statement needs the role.',
				  HINT = pg_catalog.format('Run grant_script as a role with CREATEROLE, or have one run CREATE ROLE %I LOGIN first.',
										   grant_script.role);
	END IF;
	IF v_exists AND grant_script.password IS NOT NULL AND grant_script.role <> CURRENT_USER
	   AND NOT v_super
	   AND NOT (v_createrole
				AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role)
				AND (pg_catalog.current_setting('server_version_num')::integer < 160000
					 OR pg_catalog.pg_has_role(CURRENT_USER, grant_script.role, 'MEMBER WITH ADMIN OPTION'))) THEN
		RAISE EXCEPTION 'the current role "%" cannot set the password of role "%"', CURRENT_USER, grant_script.role
			USING ERRCODE = '42501',
				  DETAIL = 'The script''s first statement would be ALTER ROLE ... PASSWORD, which takes a superuser or a role with CREATEROLE.',
				  HINT = pg_catalog.format('Omit the password and have role %s set it with psql''s \password, or run grant_script as a role with CREATEROLE.',
										   pgpull._quoted(grant_script.role));
	END IF;
	IF NOT v_exists THEN
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'run as a superuser or a role with CREATEROLE, or create role %s first: the next statement creates it',
			pgpull._quoted(grant_script.role)));
	END IF;

	IF NOT v_exists AND grant_script.password IS NULL THEN
		RETURN NEXT pg_catalog.format('CREATE ROLE %I LOGIN', grant_script.role);
		RETURN NEXT pgpull._comment(pg_catalog.format(
			'no password given: set one with psql''s \password %s (it sends only a SCRAM verifier)',
			pg_catalog.quote_ident(grant_script.role)));
	ELSIF NOT v_exists THEN
		RETURN NEXT pg_catalog.format('CREATE ROLE %I LOGIN PASSWORD %L', grant_script.role,
									  pgpull._scram_sha256(grant_script.password));
	ELSIF grant_script.password IS NOT NULL THEN
		RETURN NEXT pg_catalog.format('ALTER ROLE %I PASSWORD %L', grant_script.role,
									  pgpull._scram_sha256(grant_script.password));
	END IF;

	RETURN NEXT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I',
								  pg_catalog.current_database(), grant_script.role);
	RETURN NEXT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', 'pgpull', grant_script.role);
	FOREACH v_function IN ARRAY pgpull._puller_functions() LOOP
		RETURN NEXT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I',
									  v_function::pg_catalog.regprocedure, grant_script.role);
	END LOOP;
	FOREACH v_integration IN ARRAY grant_script.integrations LOOP
		RETURN NEXT pg_catalog.format('SELECT pgpull.grant_integration(%L, %L)', v_integration, grant_script.role);
	END LOOP;
	SELECT pg_catalog.string_agg(pgpull._quoted(x.integration), ', ' ORDER BY x.integration COLLATE "C")
	  INTO v_log_based
	  FROM (SELECT DISTINCT l.integration FROM pgpull._log_based_streams(NULL) l
			 WHERE l.integration = ANY (grant_script.integrations)) x;
	IF v_log_based IS NOT NULL THEN
		RETURN QUERY SELECT * FROM pgpull._replication_comments(
			grant_script.role, (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = grant_script.role), v_log_based);
	END IF;

	FOR v_schema IN SELECT * FROM pgpull._schema_list(grant_script.schemas) LOOP
		RETURN NEXT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', v_schema.schema_name, grant_script.role);
		RETURN NEXT pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I',
									  v_schema.schema_name, grant_script.role);
		FOR v_creator IN SELECT * FROM pgpull._table_creators(grant_script.role, v_schema.schema_oid) LOOP
			v_statement := pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I',
											 v_creator, v_schema.schema_name, grant_script.role);
			IF pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER') THEN
				RETURN NEXT v_statement;
			ELSE
				RETURN NEXT pgpull._comment(pg_catalog.format(
					'cannot set default privileges for role %s in schema %s: the current role %s is not a member of it; run as %s or a member of it: %s',
					pgpull._quoted(v_creator), pgpull._quoted(v_schema.schema_name),
					pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), v_statement));
			END IF;
		END LOOP;
		IF pgpull._public_creates(v_schema.schema_oid) THEN
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'schema %s grants CREATE to PUBLIC: default privileges cannot cover the tables every role may create there; consider: REVOKE CREATE ON SCHEMA %I FROM PUBLIC',
				pgpull._quoted(v_schema.schema_name), v_schema.schema_name));
		END IF;
	END LOOP;
END
$fn$;
COMMENT ON FUNCTION pgpull.grant_script(name, name[], text, text[]) IS 'statements (one per row, for \gexec) that create a replication role if needed and grant it CONNECT, schema USAGE, SELECT, default privileges per creating role and the integrations it may run';

/*
 * revoke_script: the statements that take back what grant_script gave, for
 * some schemas, one per row, for psql's \gexec: per schema, the default
 * privileges that give the role SELECT (one row per creating role that set
 * one, or a comment row where the current role is not a member of it),
 * SELECT on every table (which takes column grants with it) and USAGE.
 * When no other schema stays granted to the role, also the database-wide
 * default privileges, EXECUTE on the puller's functions, USAGE on schema
 * pgpull and CONNECT.  It never drops the role.
 */
CREATE FUNCTION pgpull.revoke_script(role name, schemas name[])
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_role pg_catalog.oid;
	v_schema record;
	v_creator name;
	v_function text;
	v_statement text;
	v_oids pg_catalog.oid[];
BEGIN
	v_role := pgpull._role_oid(revoke_script.role);
	IF revoke_script.schemas IS NULL THEN
		RAISE EXCEPTION 'schemas must not be null'
			USING ERRCODE = '22004',
				  HINT = 'Pass an empty array to revoke only CONNECT and the pgpull functions.';
	END IF;
	SELECT COALESCE(pg_catalog.array_agg(l.schema_oid), '{}') INTO v_oids
	  FROM pgpull._schema_list(revoke_script.schemas) l;

	FOR v_schema IN SELECT * FROM pgpull._schema_list(revoke_script.schemas) LOOP
		FOR v_creator IN
			SELECT r.rolname
			  FROM pg_catalog.pg_default_acl d
			  JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
			 WHERE d.defaclnamespace = v_schema.schema_oid
			   AND d.defaclobjtype = 'r'
			   AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) a
							WHERE a.grantee = v_role AND a.privilege_type = 'SELECT')
			 ORDER BY r.rolname COLLATE "C"
		LOOP
			v_statement := pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I REVOKE SELECT ON TABLES FROM %I',
											 v_creator, v_schema.schema_name, revoke_script.role);
			IF pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER') THEN
				RETURN NEXT v_statement;
			ELSE
				RETURN NEXT pgpull._comment(pg_catalog.format(
					'cannot revoke default privileges of role %s in schema %s: the current role %s is not a member of it; run as %s or a member of it: %s',
					pgpull._quoted(v_creator), pgpull._quoted(v_schema.schema_name),
					pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), v_statement));
			END IF;
		END LOOP;
		RETURN NEXT pg_catalog.format('REVOKE SELECT ON ALL TABLES IN SCHEMA %I FROM %I',
									  v_schema.schema_name, revoke_script.role);
		RETURN NEXT pg_catalog.format('REVOKE USAGE ON SCHEMA %I FROM %I', v_schema.schema_name, revoke_script.role);
	END LOOP;

	/* another schema stays granted: keep what every schema needs */
	IF EXISTS (SELECT
				 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
				WHERE n.oid <> ALL (v_oids)
				  AND n.nspname <> 'pgpull'
				  AND a.grantee = v_role
				  AND a.privilege_type = 'USAGE') THEN
		RETURN;
	END IF;

	FOR v_creator IN
		SELECT r.rolname
		  FROM pg_catalog.pg_default_acl d
		  JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
		 WHERE d.defaclnamespace = 0
		   AND d.defaclobjtype = 'r'
		   AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.defaclacl) a
						WHERE a.grantee = v_role AND a.privilege_type = 'SELECT')
		 ORDER BY r.rolname COLLATE "C"
	LOOP
		v_statement := pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE SELECT ON TABLES FROM %I',
										 v_creator, revoke_script.role);
		IF pg_catalog.pg_has_role(CURRENT_USER, v_creator, 'MEMBER') THEN
			RETURN NEXT v_statement;
		ELSE
			RETURN NEXT pgpull._comment(pg_catalog.format(
				'cannot revoke default privileges of role %s: the current role %s is not a member of it; run as %s or a member of it: %s',
				pgpull._quoted(v_creator), pgpull._quoted(CURRENT_USER), pgpull._quoted(v_creator), v_statement));
		END IF;
	END LOOP;
	FOREACH v_function IN ARRAY pgpull._puller_functions() LOOP
		RETURN NEXT pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %I',
									  v_function::pg_catalog.regprocedure, revoke_script.role);
	END LOOP;
	RETURN NEXT pg_catalog.format('REVOKE USAGE ON SCHEMA %I FROM %I', 'pgpull', revoke_script.role);
	RETURN NEXT pg_catalog.format('REVOKE CONNECT ON DATABASE %I FROM %I',
								  pg_catalog.current_database(), revoke_script.role);
END
$fn$;
COMMENT ON FUNCTION pgpull.revoke_script(name, name[]) IS 'statements (one per row, for \gexec) that revoke what grant_script granted on some schemas; never drops the role';
