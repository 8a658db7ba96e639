/*
 * 90_privileges.sql: what PUBLIC loses and what the replication role gets,
 * in one place.
 *
 * PUBLIC: no USAGE on the schema, no privilege on a table or view, and no
 * EXECUTE on the functions that write the catalog or read what other roles
 * may not see.  The helpers of the type mapping and of the grant scripts
 * keep PUBLIC's EXECUTE: the generated extraction queries call
 * pgpull._float_text and pgpull._json_array_nd, and a DBA granted
 * grant_script needs its helpers; none reads anything a role could not read
 * itself (schema pgpull has no USAGE for PUBLIC anyway).
 *
 * The replication role: EXECUTE on the functions of _puller_functions(),
 * which grant_script grants and revoke_script takes back; nothing else.
 * The DBA's entry points (track, grant_script, check_privileges, ...) are
 * the extension owner's, and of the roles it grants them to.
 */

/*
 * _puller_functions: the functions the replication role may execute, as
 * regprocedure text.  grant_script grants EXECUTE on each, revoke_script
 * revokes it.  The one list: a function the puller calls goes here (the
 * run protocol, the Singer state, the standby check, pgpull discover and
 * pgpull status, and the end of a run's housekeeping and metrics).
 */
CREATE FUNCTION pgpull._puller_functions()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT ARRAY[
		'pgpull.version()',
		'pgpull.database_id()',
		'pgpull.check_standby()',
		'pgpull.discover(name[])',
		'pgpull.begin_run(text,text,text)',
		'pgpull.take_stream(bigint,bigint)',
		'pgpull.take_range(bigint,bigint,integer,integer)',
		'pgpull.extraction_query(bigint,bigint,text,integer)',
		'pgpull.record_batch(bigint,bigint,bigint,bigint,text,bigint)',
		'pgpull.record_cap(bigint,bigint,text,bigint)',
		'pgpull.probe_query(bigint)',
		'pgpull.record_unchanged(bigint,bigint[])',
		'pgpull.log(bigint,bigint,text,text)',
		'pgpull.end_stream(bigint,bigint,text,bigint,text)',
		'pgpull.end_run(bigint,text,text)',
		'pgpull.record_emitted(bigint,bigint,bigint,bigint,text,bigint,boolean)',
		'pgpull.end_singer_stream(bigint,bigint,text,bigint,text)',
		'pgpull.commit_state(jsonb)',
		'pgpull.status(text)',
		'pgpull.status_attention(text)',
		'pgpull.status_standby(text)',
		'pgpull.prune_runs(bigint)',
		'pgpull.stream_metrics(text)',
		'pgpull.plan(text,integer,boolean)',
		'pgpull.slot_plan(bigint)',
		'pgpull.slot_created(bigint,pg_lsn)',
		'pgpull.slot_dropped(bigint)',
		'pgpull.slot_confirmed(bigint,pg_lsn)',
		'pgpull.copy_sequence(bigint,bigint)',
		'pgpull.take_log_stream(bigint,bigint)',
		'pgpull.log_query(bigint,bigint,name[])',
		'pgpull.slot_blockers(bigint)',
		'pgpull.slot_state_entry(bigint,pg_lsn)'
	]::text[];
$fn$;
COMMENT ON FUNCTION pgpull._puller_functions() IS 'internal: the functions grant_script lets the replication role execute';

/* the schema, the catalog and its views */
REVOKE ALL ON SCHEMA pgpull FROM PUBLIC;
REVOKE ALL ON pgpull.stream, pgpull.stream_range, pgpull.runs, pgpull.run_streams, pgpull.extraction_log,
	pgpull.watermark_sample, pgpull.database_identity
	FROM PUBLIC;
REVOKE ALL ON pgpull.streams, pgpull.loading_report, pgpull.stream_status FROM PUBLIC;

/* the type mapping: json_schema reads the catalog */
REVOKE EXECUTE ON FUNCTION pgpull.json_schema(pg_catalog.regclass, text) FROM PUBLIC;

/* the streams: the DBA's */
REVOKE EXECUTE ON FUNCTION pgpull._relation_label(pg_catalog.oid),
	pgpull._column_type(pg_catalog.regclass, name, boolean),
	pgpull._stream_columns(bigint),
	pgpull._missing_read(pg_catalog.oid, bigint),
	pgpull._grant_hint(name, name),
	pgpull._stream_keys(text, name, name[]),
	pgpull.track(pg_catalog.regclass, text, name, name[], name[], text),
	pgpull._reset_stream(bigint),
	pgpull._reset_streams(text, pg_catalog.regclass),
	pgpull.untrack(pg_catalog.regclass, text),
	pgpull.untrack_stream(bigint),
	pgpull.reset(pg_catalog.regclass, text),
	pgpull.reset_integration(text)
	FROM PUBLIC;

/*
 * Grants and audit: the three entry points are the DBA's.  Their helpers
 * keep PUBLIC's EXECUTE (see the top of this file), so that granting an
 * entry point is enough; _tracked_relations, SECURITY DEFINER, shows
 * tracked relation OIDs and column names to whoever may use the schema.
 */
REVOKE EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text, text[]),
	pgpull.revoke_script(name, name[]),
	pgpull.check_privileges(name, name[])
	FROM PUBLIC;

/* who may run an integration: the DBA's, and the run protocol's checks */
REVOKE EXECUTE ON FUNCTION pgpull.grant_integration(text, name),
	pgpull.revoke_integration(text, name),
	pgpull._require_integration(text)
	FROM PUBLIC;
REVOKE ALL ON pgpull.integration_grant FROM PUBLIC;

/* the standby check: the replication role's (grant_script) */
REVOKE EXECUTE ON FUNCTION pgpull.check_standby() FROM PUBLIC;

/*
 * discover: the replication role's (grant_script) and the DBA's; its
 * helpers keep PUBLIC's EXECUTE (_discover_streams shows a stream only to
 * a session whose role can see its relation)
 */
REVOKE EXECUTE ON FUNCTION pgpull.discover(name[]) FROM PUBLIC;

/* the run protocol, the watermark and the Singer state */
REVOKE EXECUTE ON FUNCTION pgpull._log_line(bigint, bigint, text, text),
	pgpull._running_stream(pgpull.runs, pgpull.stream),
	pgpull._fail_streams(bigint, text),
	pgpull._lock_class(),
	pgpull._run_lock_class(),
	pgpull._lock_holder(integer, bigint),
	pgpull._unlock(integer, bigint),
	pgpull._require_lock(integer, bigint, text),
	pgpull._base_type(pg_catalog.oid),
	pgpull._key_text_expr(text, pg_catalog.oid),
	pgpull._run(bigint, boolean),
	pgpull._stream(pgpull.runs, bigint),
	pgpull._relation_missing(pgpull.stream),
	pgpull._stream_relation(pgpull.stream),
	pgpull._position_columns(pgpull.stream),
	pgpull._position_parse(text, text[], text, boolean),
	pgpull._row_literal(text[], text[]),
	pgpull._advance_bookmark(pgpull.stream, text[], text[]),
	pgpull._writer_time_zones(),
	pgpull._watermark_sample(),
	pgpull._holds_cap(text),
	pgpull._watermark_cap_expr(pgpull.watermark_sample, pg_catalog.oid, boolean),
	pgpull._below_cap(text, text, text),
	pgpull._before_cap(text, text, text),
	pgpull._capped_type(pg_catalog.oid),
	pgpull._end_stream(bigint, bigint, text, bigint, text, boolean),
	pgpull.version(),
	pgpull.database_id(),
	pgpull.log(bigint, bigint, text, text),
	pgpull.begin_run(text, text, text),
	pgpull.take_stream(bigint, bigint),
	pgpull.extraction_query(bigint, bigint, text, integer),
	pgpull.record_batch(bigint, bigint, bigint, bigint, text, bigint),
	pgpull.record_cap(bigint, bigint, text, bigint),
	pgpull.end_stream(bigint, bigint, text, bigint, text),
	pgpull.end_run(bigint, text, text),
	pgpull.probe_query(bigint),
	pgpull.record_unchanged(bigint, bigint[]),
	pgpull._extraction_select(pgpull.stream, name[], boolean, text, integer, pgpull.stream_range,
							  pgpull.watermark_sample),
	pgpull._estimated_rows(pg_catalog.oid),
	pgpull.plan(text, integer, boolean)
	FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._range_lock_class(),
	pgpull._held_range(bigint),
	pgpull._range_held_by_run(bigint, bigint, integer),
	pgpull._range_pending(pgpull.runs, pgpull.stream),
	pgpull._range_value(text),
	pgpull._range_label(name, text, text),
	pgpull._range_where(pgpull.stream_range, text, text),
	pgpull._cut_ranges(pgpull.runs, pgpull.stream, integer, integer),
	pgpull.take_range(bigint, bigint, integer, integer),
	pgpull._advance_range(pgpull.stream, pgpull.stream_range, text[], text[]),
	pgpull._end_range(pgpull.runs, pgpull.stream, pgpull.stream_range, text, bigint, text)
	FROM PUBLIC;
REVOKE ALL ON pgpull.integration_secret FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._singer_run(bigint, boolean),
	pgpull._entry_mac(text, bigint, jsonb),
	pgpull._state_entry(pgpull.runs, pgpull.stream, text, text, boolean, bigint),
	pgpull._is_count(jsonb),
	pgpull.record_emitted(bigint, bigint, bigint, bigint, text, bigint, boolean),
	pgpull.end_singer_stream(bigint, bigint, text, bigint, text),
	pgpull._state_error(text, text),
	pgpull.commit_state(jsonb)
	FROM PUBLIC;

/* pgpull status: the replication role's (grant_script) */
REVOKE EXECUTE ON FUNCTION pgpull._status_integrations(text),
	pgpull.status(text),
	pgpull.status_standby(text),
	pgpull.status_attention(text)
	FROM PUBLIC;

/* housekeeping: the retention is the DBA's; pruning and metrics the puller's */
REVOKE ALL ON pgpull.retention, pgpull.stream_pruned FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._retention_of(text),
	pgpull._is_retry(text, text),
	pgpull.set_retention(interval, text),
	pgpull.prune_runs(bigint),
	pgpull.stream_metrics(text)
	FROM PUBLIC;

/* log-based replication (77_logical.sql): the slot table is the owner's */
REVOKE ALL ON pgpull.integration_slot FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._require_published(pgpull.stream),
	pgpull._reset_log_streams(pgpull.runs, text),
	pgpull._require_slot(pgpull.runs),
	pgpull._advance_lsn(pgpull.stream, text),
	pgpull.slot_plan(bigint),
	pgpull.slot_created(bigint, pg_catalog.pg_lsn),
	pgpull.slot_dropped(bigint),
	pgpull.slot_confirmed(bigint, pg_catalog.pg_lsn),
	pgpull.copy_sequence(bigint, bigint),
	pgpull.take_log_stream(bigint, bigint),
	pgpull.log_query(bigint, bigint, name[]),
	pgpull.slot_blockers(bigint),
	pgpull.slot_state_entry(bigint, pg_catalog.pg_lsn),
	pgpull._lsn_of(pgpull.stream, text),
	pgpull._log_state_entry(pgpull.runs, pgpull.stream, text, bigint, boolean),
	pgpull._commit_slot(text, bigint, text, jsonb)
	FROM PUBLIC;

/*
 * log-based administration (62_logical_admin.sql): the DBA's.  The
 * helpers keep PUBLIC's EXECUTE, as those of the grant scripts do;
 * _log_based_streams and _slot_integrations, SECURITY DEFINER, show the
 * relations of log_based streams and the integrations' slot names.
 */
REVOKE EXECUTE ON FUNCTION pgpull.publication_script(text),
	pgpull.check_primary(),
	pgpull.slot_status(text)
	FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pgpull._log_based_left(text),
	pgpull._log_based_reset(text, text, integer)
	FROM PUBLIC;
