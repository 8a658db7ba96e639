# tests/t/042_status.pl: pgpull status, as the replication role
# grant_script made, the role monitors run as.
#
# A healthy integration exits 0; a stream whose last run failed, a tracked
# table dropped and a privilege revoked each exit 1 naming what (and the fix
# each gives repairs it); a streaming standby with its delays under the
# recommendation is a warning (exit 0) until a historical sync is pending
# (a reset), then it needs attention (exit 1), read from the standby alone
# or with --state on the primary.  --format json parses, with the streams
# and the items.  The role sees only the integrations it may run; usage
# errors exit 2, a server that cannot be reached 3.  Every pgpull runs
# under valgrind.
use strict;
use warnings FATAL => 'all';
use JSON::PP;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PgPullTest::source_node('primary', streaming => 1);
$primary->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT i, 'item ' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 100) i;
CREATE TABLE gone (id integer PRIMARY KEY);
INSERT INTO gone VALUES (1), (2);
-- a view whose reading fails while a row has d = 0
CREATE TABLE boom (id integer PRIMARY KEY, d integer NOT NULL);
INSERT INTO boom VALUES (1, 1), (2, 2);
CREATE VIEW boom_v AS SELECT id, 10 / d AS q FROM boom;
SELECT pgpull.track('items', 'key_based', 'updated_at');
SELECT pgpull.track('gone', 'full_table');
SELECT pgpull.track('boom_v', 'full_table', key_columns => '{id}');
SELECT pgpull.track('items', 'full_table', integration => 'other');
});
$primary->safe_psql('postgres', q{SELECT * FROM pgpull.grant_script('monitor', '{public}') \gexec});
my $rcv = PgPullTest::receiver($primary);
my $as_monitor = $primary->connstr('postgres') . ' user=monitor';

# pgpull status ARGS... as the monitor role (or with source => CONNINFO)
sub status
{
	my (%o) = @_;
	return PgPullTest::pgpull(args => [ 'status', '--source', $o{source} // $as_monitor,
		@{ $o{args} // [] } ]);
}

sub sync
{
	return PgPullTest::sync($primary, $rcv, source => $as_monitor);
}

# -- before the first sync: every stream's first full sync is pending
my $r = status();
is($r->{rc}, 0, 'before any sync: exit status 0');
like($r->{stdout}, qr/^INTEGRATION\s+RELATION\s+METHOD\s+BOOKMARK\s+LAST RUN\s+STATUS\s+ROWS 24H\s+NEXT ACTION$/m,
	'a table with its heading');
like($r->{stdout}, qr/^default\s+public\.items\s+key_based\s+-\s+-\s+-\s+0\s+first full sync pending$/m,
	'items: its first full sync pending');
unlike($r->{stdout}, qr/^other/m, 'an integration the role may not run is not shown');
like($r->{stdout}, qr/^3 streams; nothing needs attention$/m, 'the summary');

# -- healthy
$r = sync();
is($r->{rc}, 0, 'the first sync');
$r = status();
is($r->{rc}, 0, 'a healthy integration: exit status 0');
like($r->{stdout}, qr/^default\s+public\.items\s+key_based\s+updated_at: 2024-01-01T01:40:00Z\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+succeeded\s+100\s+incremental$/m,
	'items: bookmark, last run, status, rows, next action');
like($r->{stdout}, qr/^default\s+public\.gone\s+full_table\s+-\s+\S+ \S+Z\s+succeeded\s+2\s+full sync$/m,
	'gone: a full-table stream');
note($r->{stdout});

$r = status(args => [ '--format', 'json' ]);
is($r->{rc}, 0, '--format json: exit status 0');
my $doc = eval { decode_json($r->{stdout}) };
ok($doc, 'the JSON document parses') or diag($@);
is(scalar @{ $doc->{streams} }, 3, 'three streams');
my ($items) = grep { $_->{relation} eq 'public.items' } @{ $doc->{streams} };
is($items->{rows_loaded_24h}, 100, 'rows as a number');
like($items->{last_run_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'the last run in RFC 3339');
ok(JSON::PP::is_bool($items->{historical_pending}) && !$items->{historical_pending},
	'historical_pending a boolean');
is_deeply([ $doc->{attention}, $doc->{warnings} ], [ [], [] ], 'nothing needs attention');

# -- a stream whose last run failed
$primary->safe_psql('postgres', 'INSERT INTO boom VALUES (3, 0)');
$r = sync();
is($r->{rc}, 1, 'a sync with a failing stream exits 1');
$r = status();
is($r->{rc}, 1, 'a failed last run: exit status 1');
like($r->{stdout}, qr/^default\s+public\.boom_v\s+full_table\s+-\s+\S+ \S+Z\s+failed\s/m, 'the table shows it failed');
like($r->{stdout}, qr/^attention: stream public\.boom_v \(integration "default"\): the last run \(\d+\) failed: .*division by zero/m,
	'one line names the stream and its error');
like($r->{stdout}, qr/^3 streams; 1 item needs attention$/m, 'the summary counts it');
$doc = decode_json(status(args => [ '--format=json' ])->{stdout});
is(scalar @{ $doc->{attention} }, 1, 'JSON: one item needs attention');
is($doc->{attention}[0]{kind}, 'stream', 'JSON: its kind');
like($doc->{attention}[0]{subject}, qr/boom_v/, 'JSON: its subject names the stream');
$primary->safe_psql('postgres', 'DELETE FROM boom WHERE d = 0');
is(sync()->{rc}, 0, 'the next sync succeeds');
is(status()->{rc}, 0, 'and status exits 0 again');

# -- a tracked table dropped
$primary->safe_psql('postgres', 'DROP TABLE gone');
$r = status();
is($r->{rc}, 1, 'a dropped tracked table: exit status 1');
like($r->{stdout}, qr/^default\s+public\.gone\s.*relation dropped: untrack$/m, 'its next action');
like($r->{stdout}, qr/^attention: stream public\.gone \(integration "default"\): relation "public\.gone" no longer exists/m,
	'one line names it');
like($r->{stdout}, qr/^  fix: SELECT pgpull\.untrack_stream\(\d+\)$/m, 'with the call that untracks it');
$doc = decode_json(status(args => [ '--format', 'json' ])->{stdout});
my ($fix) = map { $_->{fix} } grep { $_->{subject} =~ /gone/ } @{ $doc->{attention} };
is($primary->safe_psql('postgres', $fix), 'public.gone', 'the fix untracks the stream');
is(status()->{rc}, 0, 'then status exits 0');

# -- a missing privilege
$primary->safe_psql('postgres', 'REVOKE SELECT ON items FROM monitor');
$r = status();
is($r->{rc}, 1, 'a missing privilege: exit status 1');
like($r->{stdout}, qr/^attention: privilege role "monitor": SELECT on table public\.items: the role cannot read the table$/m,
	'one line names the privilege');
like($r->{stdout}, qr/^  fix: GRANT SELECT ON public\.items TO monitor$/m, 'with its fix');
$primary->safe_psql('postgres', 'GRANT SELECT ON items TO monitor');
is(status()->{rc}, 0, 'granted again: exit status 0');

# -- integrations: one the role may not run, one with no stream
$r = status(args => [ '--integration', 'other' ]);
is($r->{rc}, 2, 'an integration the role may not run: exit status 2');
like($r->{stderr}, qr/role "monitor" may not run integration "other"/, 'saying so');
$r = status(source => $primary->connstr('postgres'), args => [ '--integration', 'other' ]);
is($r->{rc}, 0, 'the extension owner may show it');
like($r->{stdout}, qr/^other\s+public\.items\s+full_table\s/m, 'with its stream');
$r = status(source => $primary->connstr('postgres'), args => [ '--integration', 'nothing' ]);
is($r->{rc}, 1, 'an integration that tracks no stream: exit status 1');
like($r->{stdout}, qr/^attention: integration "nothing": the integration tracks no stream$/m, 'saying so');

# -- a standby with its delays under the recommendation
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
max_standby_streaming_delay = 30s
max_standby_archive_delay = 30s
hot_standby_feedback = on
});
$standby->start;
$primary->wait_for_catchup($standby);
my $standby_monitor = $standby->connstr('postgres') . ' user=monitor';
$r = status(source => $standby_monitor);
is($r->{rc}, 0, 'a standby, no historical sync pending: exit status 0');
like($r->{stdout}, qr/^warning: standby max_standby_streaming_delay: max_standby_streaming_delay is 30s \(recommended: 8h to 12h, or -1\)/m,
	'the low delay is a warning');
like($r->{stdout}, qr/^  fix: ALTER SYSTEM SET max_standby_streaming_delay = '12h'; SELECT pg_reload_conf\(\);$/m,
	'with its fix');
like($r->{stdout}, qr/^2 streams; nothing needs attention; 2 warnings$/m, 'the summary counts the warnings');

$primary->safe_psql('postgres', q{SELECT pgpull.reset('items')});
$primary->wait_for_catchup($standby);
$r = status(source => $standby_monitor);
is($r->{rc}, 1, 'a reset (a historical sync pending) on a standby under the recommendation: exit status 1');
like($r->{stdout}, qr/^default\s+public\.items\s.*full sync pending after reset$/m, 'the next action says so');
like($r->{stdout}, qr/^attention: standby max_standby_streaming_delay: .*historical syncs pending: public\.items \(full sync pending after reset\)$/m,
	'the delay needs attention, naming the pending sync');
like($r->{stdout}, qr/^attention: standby max_standby_archive_delay: /m, 'so does the archive delay');
$r = status(source => $standby_monitor, args => [ '--state', $as_monitor, '--format', 'json' ]);
is($r->{rc}, 1, 'with --state on the primary: exit status 1 too');
$doc = decode_json($r->{stdout});
is_deeply([ sort map { "$_->{kind} $_->{subject}" } @{ $doc->{attention} } ],
	[ 'standby max_standby_archive_delay', 'standby max_standby_streaming_delay' ],
	'the standby checks come from the source, once');
$r = status(source => $as_monitor);
is($r->{rc}, 0, 'the primary alone: the standby checks do not apply');

# -- usage and connection errors
$r = status(args => [ '--integration', 'a', '--integration', 'b' ]);
is($r->{rc}, 2, 'a repeated option: exit status 2');
like($r->{stderr}, qr/option --integration given more than once/, 'saying which');
$r = status(args => [ '--format', 'yaml' ]);
is($r->{rc}, 2, 'an unknown format: exit status 2');
$r = PgPullTest::pgpull(args => [ 'status' ]);
is($r->{rc}, 2, 'no --source: exit status 2');
$r = status(source => 'host=/nonexistent');
is($r->{rc}, 3, 'a server that cannot be reached: exit status 3');

$rcv->stop;
$standby->stop;
$primary->stop;
done_testing();
