/*
 * 35_integrations.sql: who may run an integration.
 *
 * An integration belongs to the roles it is granted to: only they (and the
 * roles that are members of them) may begin its runs, report and log them,
 * and confirm its Singer states; the extension owner (and its members,
 * superusers among them) may run every integration.  The run protocol's
 * functions are SECURITY DEFINER, so current_user inside them is the
 * owner: they check session_user, the role that logged in.
 *
 * grant_integration and revoke_integration are the DBA's (EXECUTE is
 * revoked from PUBLIC); grant_script writes the grant_integration calls of
 * the integrations it is given, and check_privileges reports, per
 * integration, whether a role may run it.
 */

/*
 * grant_integration: let a role run an integration; true when it was not
 * granted before.  The integration need not have streams yet.
 */
CREATE FUNCTION pgpull.grant_integration(integration text, role name)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF grant_integration.integration IS NULL OR grant_integration.role IS NULL THEN
		RAISE EXCEPTION 'integration and role must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A grant lets one role run one integration.',
				  HINT = 'Name the integration, such as "default", and the role the puller logs in as.';
	END IF;
	PERFORM pgpull._role_oid(grant_integration.role);
	INSERT INTO pgpull.integration_grant (integration, role_name)
	VALUES (grant_integration.integration, grant_integration.role)
	ON CONFLICT DO NOTHING;
	RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION pgpull.grant_integration(text, name) IS 'let a role run an integration; true when it was not granted before';

/*
 * revoke_integration: take the grant back; true when there was one.  The
 * role may still run the integration through a role it is a member of.
 */
CREATE FUNCTION pgpull.revoke_integration(integration text, role name)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF revoke_integration.integration IS NULL OR revoke_integration.role IS NULL THEN
		RAISE EXCEPTION 'integration and role must not be null'
			USING ERRCODE = '22004',
				  DETAIL = 'A grant lets one role run one integration.',
				  HINT = 'Name the integration and the role, as pgpull.grant_integration was given them.';
	END IF;
	DELETE FROM pgpull.integration_grant g
	 WHERE g.integration = revoke_integration.integration AND g.role_name = revoke_integration.role;
	RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION pgpull.revoke_integration(text, name) IS 'stop a role running an integration; true when it had a grant';

/*
 * _may_run: whether a role may run an integration: it is a member of the
 * extension owner, or of a role the integration is granted to.  SECURITY
 * DEFINER, so that check_privileges run by an administrator it is granted
 * to can read the grants.
 */
CREATE FUNCTION pgpull._may_run(role pg_catalog.oid, integration text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT pg_catalog.pg_has_role(_may_run.role,
								  (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'pgpull'),
								  'MEMBER')
		OR EXISTS (SELECT FROM pgpull.integration_grant g
					 JOIN pg_catalog.pg_roles r ON r.rolname = g.role_name
					WHERE g.integration = _may_run.integration
					  AND pg_catalog.pg_has_role(_may_run.role, r.oid, 'MEMBER'));
$fn$;
COMMENT ON FUNCTION pgpull._may_run(pg_catalog.oid, text) IS 'internal: whether a role may run an integration';

/*
 * _integrations: the integrations that have streams or grants, for the
 * audit.  SECURITY DEFINER for the same reason as _may_run.
 */
CREATE FUNCTION pgpull._integrations()
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT s.integration FROM pgpull.stream s
	UNION
	SELECT g.integration FROM pgpull.integration_grant g
	ORDER BY 1;
$fn$;
COMMENT ON FUNCTION pgpull._integrations() IS 'internal: the integrations that have streams or grants';

/*
 * _require_integration: an error (42501) unless the session's role may run
 * the integration.
 */
CREATE FUNCTION pgpull._require_integration(integration text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
	IF NOT pgpull._may_run((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER),
						   _require_integration.integration) THEN
		RAISE EXCEPTION 'role "%" may not run integration "%"', SESSION_USER, _require_integration.integration
			USING ERRCODE = '42501',
				  DETAIL = 'An integration is run only by the roles it is granted to, their members and the extension owner.',
				  HINT = pg_catalog.format('As the extension owner: SELECT pgpull.grant_integration(%L, %L);',
										   _require_integration.integration, SESSION_USER);
	END IF;
END
$fn$;
COMMENT ON FUNCTION pgpull._require_integration(text) IS 'internal: an error unless the session''s role may run an integration';
