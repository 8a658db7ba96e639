# tests/t/051_replica.pl: a streaming standby as the source.
#
# --source is the standby, --state the primary (the standby's catalog is
# read-only): rows come from the standby, bookmarks land on the primary.
# The two connections must be one database or its replica: a --state of
# another database is refused.  At start pgpull runs check_standby on a
# source in recovery and warns when its delays are under the
# recommendation.  Recovery conflicts are real here: the standby has
# max_standby_streaming_delay = 0, its COPY is kept open from the source
# side (a tracked view that sleeps every few thousand rows, never a slow
# destination), and VACUUM on the primary removes row versions the
# standby's snapshot still sees; the puller reads on, nothing is lost, and
# pg_stat_database_conflicts rose.
use strict;
use warnings FATAL => 'all';
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $primary = PgPullTest::source_node('primary', streaming => 1);
$primary->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT i, 'item ' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 1000) i;
SELECT pgpull.track('items', 'key_based', 'updated_at');
CREATE TABLE big (id integer PRIMARY KEY, v text NOT NULL);
INSERT INTO big SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 40000) i;
-- read slowly on the source: a pause every 2,000 rows keeps the COPY open
CREATE VIEW big_slow AS
SELECT b.id, b.v FROM big b
 WHERE CASE WHEN b.id % 2000 = 0 THEN pg_sleep(0.25) IS NOT NULL ELSE true END;
SELECT pgpull.track('big_slow', 'full_table', key_columns => '{id}', integration => 'slow');
});
$primary->safe_psql('postgres', 'CREATE DATABASE other');
$primary->safe_psql('other', 'CREATE EXTENSION pgpull');
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
max_standby_streaming_delay = 0
max_standby_archive_delay = 0
hot_standby_feedback = off
});
$standby->start;
$primary->wait_for_catchup($standby);
my $rcv = PgPullTest::receiver($primary, tokens => { tok => 'default', 'tok-slow' => 'slow' });

is( $standby->safe_psql('postgres', 'SELECT pgpull.database_id()'),
	$primary->safe_psql('postgres', 'SELECT pgpull.database_id()'),
	'the standby has the identity of its primary');

# -- the standby as the source, the primary as the state
my $r = PgPullTest::sync($primary, $rcv, source => $standby->connstr('postgres'),
	args => [ '--state', $primary->connstr('postgres') ]);
is($r->{rc}, 0, 'a sync from the standby, with the catalog on the primary');
PgPullTest::same_rows($primary, 'items', 'id, name, updated_at', 'default', 'the rows arrive');
is(PgPullTest::stream_row($primary, 'items', 'bookmark'), '2024-01-01T16:40:00Z',
	'the bookmark lands on the primary');
like($r->{stderr}, qr/WARNING.*max_standby_streaming_delay.*ALTER SYSTEM/,
	'the low standby delays are a warning at start, with the fix');

$primary->safe_psql('postgres', q{
INSERT INTO items VALUES (1001, 'new', '2024-01-02 00:00:00+00');
});
$primary->wait_for_catchup($standby);
$r = PgPullTest::sync($primary, $rcv, source => $standby->connstr('postgres'),
	args => [ '--state', $primary->connstr('postgres') ]);
is($r->{rc}, 0, 'the next sync from the standby');
PgPullTest::same_rows($primary, 'items', 'id, name, updated_at', 'default', 'it sends what is new');

# -- the state of another database: refused, naming both
$r = PgPullTest::sync($primary, $rcv, source => $standby->connstr('postgres'),
	args => [ '--state', $primary->connstr('other') ]);
is($r->{rc}, 2, 'a --state of another database: exit status 2');
like($r->{stderr}, qr/different databases/, 'saying the two are different databases');
like($r->{stderr}, qr/dbname=postgres|database "postgres"/, 'naming the source database');
like($r->{stderr}, qr/dbname=other|database "other"/, 'and the state database');

# -- recovery conflicts, forced on the source side
my $conflicts_before = $standby->safe_psql('postgres',
	q{SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = 'postgres'});
my $run = PgPullTest::start_sync($primary, $rcv, token => 'tok-slow', source => $standby->connstr('postgres'),
	args => [ '--integration', 'slow', '--state', $primary->connstr('postgres'),
		'--chunk-rows', '20000' ]);
# while the standby's COPY reads, the primary deletes and vacuums rows the
# COPY's snapshot still sees; again until a conflict cancelled it
my $conflicts = $conflicts_before;
for (my $i = 0; $i < 100 && $conflicts == $conflicts_before; $i++)
{
	usleep(200_000);
	$primary->safe_psql('postgres',
		"DELETE FROM big WHERE id % 97 = $i % 97 AND id > 30000; VACUUM big");
	$conflicts = $standby->safe_psql('postgres',
		q{SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = 'postgres'});
}
$r = PgPullTest::finish_sync($run);
cmp_ok($conflicts, '>', $conflicts_before, 'pg_stat_database_conflicts rose on the standby');
is($r->{rc}, 0, 'recovery conflicts: the sync succeeds');
like($r->{stderr}, qr/conflict with recovery; reading on from the last row read/,
	'each conflict is logged, and the puller reads on');
my $dest = PgPullTest::dest_table($primary, 'big_slow', 'slow');
my %sent = map { $_ => 1 } split /\n/, $primary->safe_psql('dest', "SELECT id FROM $dest");
my @missing = grep { !$sent{$_} } split /\n/, $primary->safe_psql('postgres', 'SELECT id FROM big');
is(scalar @missing, 0, 'no row of the source is missing at the destination');

$rcv->stop;
$standby->stop;
$primary->stop;
done_testing();
