-- logical: log_based streams as the run protocol sees them: what track
-- accepts, the slot and publication names, and the run calls a session may
-- make only when it planned the slot, took the stream, and streams it
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE SCHEMA regress_log;
CREATE TABLE regress_log.t (id integer PRIMARY KEY, v text, big text);
CREATE TABLE regress_log.nokey (a integer, b text);
CREATE TABLE regress_log.byindex (a integer NOT NULL, b integer NOT NULL, c text);
CREATE UNIQUE INDEX byindex_ab ON regress_log.byindex (a, b);
ALTER TABLE regress_log.byindex REPLICA IDENTITY USING INDEX byindex_ab;
CREATE VIEW regress_log.v AS SELECT * FROM regress_log.t;
CREATE MATERIALIZED VIEW regress_log.mv AS SELECT * FROM regress_log.t;
INSERT INTO regress_log.t VALUES (1, 'one', NULL), (2, 'two', repeat('x', 10));

-- what track accepts: tables and partitioned tables whose key is their replica identity
SELECT pgpull.track('regress_log.v', 'log_based', key_columns => '{id}', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('regress_log.mv', 'log_based', key_columns => '{id}', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('regress_log.t', 'log_based', replication_key => 'id', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('regress_log.nokey', 'log_based', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('regress_log.nokey', 'log_based', key_columns => '{a}', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('regress_log.t', 'log_based', key_columns => '{v}', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.track('regress_log.byindex', 'log_based', key_columns => '{a}', integration => 'regress logical');
\echo :LAST_ERROR_SQLSTATE
-- nothing was tracked by the refusals
SELECT count(*) FROM pgpull.streams WHERE integration = 'regress logical';
-- accepted: the primary key, the index of REPLICA IDENTITY USING INDEX, any key under FULL
SELECT pgpull.track('regress_log.t', 'log_based', integration => 'regress logical');
SELECT pgpull.track('regress_log.byindex', 'log_based', key_columns => '{a,b}', integration => 'regress logical');
ALTER TABLE regress_log.nokey REPLICA IDENTITY FULL;
SELECT pgpull.track('regress_log.nokey', 'log_based', key_columns => '{a}', integration => 'regress logical');
SELECT destination_table, method, key_columns, bookmark FROM pgpull.streams
 WHERE integration = 'regress logical' ORDER BY 1;
-- the schema of a log_based stream has _sdc_deleted_at
SELECT pgpull._log_schema(pgpull.json_schema('regress_log.t', 'regress logical')) -> 'properties' -> '_sdc_deleted_at';

-- names: slot names are cluster-wide (the database's name is in them), at most 63 bytes
SELECT pgpull.slot_name('regress logical') = 'pgpull_' || current_database() || '_regress_logical' AS slot_named;
SELECT pgpull.publication_name('regress logical');
SELECT length(pgpull.slot_name(repeat('long integration name ', 5))) AS long_slot,
	   pgpull.publication_name(repeat('a', 70)) <> pgpull.publication_name(repeat('a', 71)) AS distinct_when_cut;

-- a run: the slot's calls need the slot planned by this session
SELECT run_id AS run FROM pgpull.begin_run('regress logical', 'regress', 'import_api') LIMIT 1 \gset
SELECT stream_id AS t FROM pgpull.streams WHERE integration = 'regress logical' AND destination_table = 't' \gset
SELECT regress_pull.masked(format('SELECT pgpull.slot_created(%s, %L)', :run, '0/1'));
SELECT regress_pull.masked(format('SELECT * FROM pgpull.take_log_stream(%s, %s)', :run, :t));
SELECT regress_pull.masked(format('SELECT pgpull.slot_confirmed(%s, %L)', :run, '0/1'));
-- a stream missing from the publication is never copied
SELECT regress_pull.masked(format('SELECT * FROM pgpull.take_stream(%s, %s)', :run, :t));
-- with the publication: the copy is taken, and its chunks get a sequence in epoch microseconds
CREATE PUBLICATION pgpull_regress_logical FOR TABLE regress_log.t, regress_log.byindex, regress_log.nokey;
SELECT taken, chunked, json_schema ? 'properties' AS has_schema FROM pgpull.take_stream(:run, :t);
SELECT pgpull.copy_sequence(:run, :t) BETWEEN (extract(epoch FROM now()) * 1000000)::bigint - 3600000000
										   AND (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS sequence_now;
-- the log query needs the stream streaming in the run
SELECT regress_pull.masked(format('SELECT * FROM pgpull.log_query(%s, %s, %L)', :run, :t, '{id,v,big}'));
SELECT pgpull.end_stream(:run, :t, 'succeeded', 2, NULL);
-- the copy went to its end: the bookmark is an LSN from now on
SELECT bookmark IS NOT NULL AS copied, bookmark::pg_lsn <= pg_current_wal_lsn() AS is_lsn
  FROM pgpull.streams WHERE stream_id = :t;
-- copied: take_stream refuses it, its changes come from the slot
SELECT regress_pull.masked(format('SELECT * FROM pgpull.take_stream(%s, %s)', :run, :t));
-- a position of changes must be an LSN
SELECT pgpull._lsn_of(s, '["0/16B3748"]') FROM pgpull.stream s WHERE stream_id = :t;
SELECT pgpull._lsn_of(s, '["1311"]') FROM pgpull.stream s WHERE stream_id = :t;
\echo :LAST_ERROR_SQLSTATE
SELECT pgpull.end_run(:run, 'succeeded', NULL);
DROP PUBLICATION pgpull_regress_logical;
SELECT pgpull.untrack('regress_log.t', 'regress logical');
SELECT pgpull.untrack('regress_log.byindex', 'regress logical');
SELECT pgpull.untrack('regress_log.nokey', 'regress logical');
DROP SCHEMA regress_log CASCADE;
