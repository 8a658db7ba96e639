# tests/t/035_faults_connections.pl: the fault suite, database side.
#
# Each fault leaves no row lost and the bookmark exact:
# - the source connection terminated mid-COPY (pg_terminate_backend): the
#   puller reconnects and reads on from the last row read;
# - the state connection lost between the destination's 2xx and
#   record_batch: the run fails, the batch goes again next run, nothing is
#   skipped;
# - the database restarted mid-run (pg_ctl restart -m fast): the same.
# Every pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PgPullTest::source_node('faults');
$node->safe_psql('postgres', q{
CREATE TABLE big (id integer PRIMARY KEY, v text NOT NULL);
INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 20000) i;
-- a pause every 2,000 rows keeps the source's COPY open for a while
CREATE VIEW big_slow AS
SELECT b.id, b.v FROM big b
 WHERE CASE WHEN b.id % 2000 = 0 THEN pg_sleep(0.2) IS NOT NULL ELSE true END;
SELECT pgpull.track('big_slow', 'full_table', key_columns => '{id}', integration => 'copy');
CREATE TABLE ev (id integer PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO ev SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 3000) i;
SELECT pgpull.track('ev', 'key_based', 'at', integration => 'state');
});
my $rcv = PgPullTest::receiver($node,
	tokens => { 'tok-copy' => 'copy', 'tok-state' => 'state' });

# poll until check returns a true value, and return it ('' after about 60 s)
sub poll
{
	my ($check) = @_;
	for (1 .. 600)
	{
		my $v = $check->();
		return $v if $v;
		usleep(100_000);
	}
	return '';
}

# the first row of a query on the source, once there is one
sub wait_for
{
	my ($sql) = @_;
	return poll(sub { $node->safe_psql('postgres', $sql) });
}

# until the receiver has seen a request
sub wait_for_request
{
	return poll(sub { @{ $rcv->requests } >= 1 });
}

# -- the source connection terminated mid-COPY
my $run = PgPullTest::start_sync($node, $rcv, token => 'tok-copy',
	args => [ '--integration', 'copy', '--chunk-rows', '20000', '--batch-rows', '1000' ]);
my $pid = wait_for(q{SELECT pid FROM pg_stat_activity
					  WHERE pid <> pg_backend_pid() AND query LIKE 'COPY%' AND state = 'active'});
ok($pid, 'the source COPY is running');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $r = PgPullTest::finish_sync($run);
is($r->{rc}, 0, 'source terminated mid-COPY: the sync succeeds');
like($r->{stderr}, qr/WARNING big_slow .*terminating connection due to administrator command.*reading on from the last row read/s,
	'it says so and reads on from the last row read');
PgPullTest::same_rows($node, 'big', 'id, v', 'copy', 'no row lost', 'big_slow');
is(PgPullTest::stream_row($node, 'big_slow', 'status, resume_position', 'copy'), 'succeeded|',
	'the stream completed: no resume position left');

# -- the state connection lost between a 2xx and record_batch
$rcv->clear_requests;
$rcv->set_faults([ { kind => 'slow', seconds => 3 } ]);
$run = PgPullTest::start_sync($node, $rcv, token => 'tok-state',
	args => [ '--integration', 'state', '--batch-rows', '1000' ]);
# the state session holds the stream's advisory lock
my $state_pid = wait_for(q{SELECT l.pid FROM pg_locks l
							WHERE l.locktype = 'advisory' AND l.classid = hashtext('pgpull')::oid});
ok($state_pid, 'the run took the stream');
wait_for_request();
# the destination holds the first batch's reply: the state goes away now
$node->safe_psql('postgres', "SELECT pg_terminate_backend($state_pid)");
$r = PgPullTest::finish_sync($run);
isnt($r->{rc}, 0, 'state lost before record_batch: the run does not succeed');
like($r->{stderr}, qr/could not record an accepted batch: .*terminating connection/,
	'and says the batch the destination accepted could not be recorded');
$rcv->clear_faults;
my $bookmark = PgPullTest::stream_row($node, 'ev', 'bookmark', 'state');
isnt($bookmark, '2024-01-03T02:00:00Z', 'the bookmark stayed below the unrecorded batch');
my $again = $node->safe_psql('postgres',
	$bookmark eq '' ? 'SELECT count(*) FROM ev' : "SELECT count(*) FROM ev WHERE at > '$bookmark'");
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, token => 'tok-state', args => [ '--integration', 'state', '--batch-rows', '1000' ]);
is($r->{rc}, 0, 'the next run succeeds');
is(PgPullTest::records($rcv, 'ev'), $again,
	'it sends every row from the recorded bookmark on, the unrecorded batch again among them');
PgPullTest::same_rows($node, 'ev', 'id, at', 'state', 'nothing skipped: every row is at the destination');
is(PgPullTest::stream_row($node, 'ev', 'bookmark', 'state'), '2024-01-03T02:00:00Z',
	'the bookmark is exactly the last key');

# -- the database restarted mid-run
$node->safe_psql('postgres', q{
INSERT INTO ev SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(3001, 6000) i;
});
$rcv->clear_requests;
$rcv->set_faults([ { kind => 'slow', seconds => 3 } ]);
$run = PgPullTest::start_sync($node, $rcv, token => 'tok-state',
	args => [ '--integration', 'state', '--batch-rows', '1000' ]);
wait_for_request();
$node->restart(mode => 'fast');
$r = PgPullTest::finish_sync($run);
isnt($r->{rc}, 0, 'database restarted mid-run: the run does not succeed');
$rcv->clear_faults;
$r = PgPullTest::sync($node, $rcv, token => 'tok-state', args => [ '--integration', 'state', '--batch-rows', '1000' ]);
is($r->{rc}, 0, 'the next run succeeds');
PgPullTest::same_rows($node, 'ev', 'id, at', 'state', 'nothing lost after the restart');
is(PgPullTest::stream_row($node, 'ev', 'bookmark', 'state'), '2024-01-05T04:00:00Z',
	'the bookmark is exactly the last key');
is( $node->safe_psql('postgres', q{SELECT string_agg(status, ',' ORDER BY run_id) FROM pgpull.runs WHERE integration = 'state'}),
	'abandoned,succeeded,abandoned,succeeded',
	'the interrupted runs are marked abandoned by the next ones');

$rcv->stop;
$node->stop;
done_testing();
