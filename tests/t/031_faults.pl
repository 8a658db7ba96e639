# tests/t/031_faults.pl: pgpull sync against a destination that fails.
#
# Every fault the reference receiver injects (5xx, 408, 429 with
# Retry-After, dropped connections, slow responses past --http-timeout, a
# batch accepted and the connection dropped before the reply, 413) is
# retried or split, and afterwards no row is lost and the bookmark is
# exact.  Faults that outlast the retries, and a 400, fail the stream (exit
# 1) without moving its bookmark, and the next run catches up.  A run killed
# with SIGKILL in the middle of a stream, and one stopped by SIGTERM, are
# followed by a run that loses nothing.  Two pullers started together share
# an integration's streams: each stream is synced by one at a time, the
# other skips it.  A recovery conflict that cancels a chunk on a standby
# source is read past.  Every pgpull runs under valgrind, which reports
# nothing.
use strict;
use warnings FATAL => 'all';
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PgPullTest::source_node('src', streaming => 1,
	conf => "hot_standby_feedback = off\nautovacuum = off");
$node->safe_psql('postgres', q{
CREATE TABLE f (id integer PRIMARY KEY, v text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO f SELECT g, 'v' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 3000) g;
CREATE TABLE g (id integer PRIMARY KEY, v text);
INSERT INTO g SELECT i, 'g' || i FROM generate_series(1, 2000) i;
SELECT pgpull.track('f', 'key_based', 'updated_at');
SELECT pgpull.track('g', 'full_table');
});
my $rcv = PgPullTest::receiver($node,
	tokens => { tok => 'default', 'tok-big' => 'big', 'tok-pair' => 'pair', 'tok-replica' => 'replica' });

my $bookmark_exact = q{bookmark::timestamptz = (SELECT max(updated_at) FROM f)};

# a change of some rows of both tables, with keys beyond every bookmark
my $tick = 0;
sub change
{
	$tick++;
	$node->safe_psql('postgres', qq{
UPDATE f SET v = 'change $tick of ' || id,
			 updated_at = timestamptz '2025-01-01 00:00:00+00' + interval '1 hour' * $tick + id * interval '1 ms'
 WHERE id % 15 = $tick % 15;
UPDATE g SET v = 'change $tick of ' || id WHERE id % 10 = $tick % 10;
});
	return;
}

# no row lost, the bookmark exact
sub all_there
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($name) = @_;
	PgPullTest::same_rows($node, 'f', 'id, v, updated_at', 'default', "$name: f equal");
	PgPullTest::same_rows($node, 'g', 'id, v', 'default', "$name: g equal");
	is(PgPullTest::stream_row($node, 'f', $bookmark_exact), 't', "$name: bookmark exact");
	return;
}

my $r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'first sync without faults');
all_there('first sync');

# -- faults that retries and splitting overcome
for my $case (
	[ 'HTTP 503 twice', [ { kind => 'status', code => 503, count => 2 } ] ],
	[ 'HTTP 500', [ { kind => 'status', code => 500 } ] ],
	[ 'HTTP 502 and 504', [ { kind => 'status', code => 502 }, { kind => 'status', code => 504 } ] ],
	[ 'HTTP 408', [ { kind => 'status', code => 408 } ] ],
	[ 'HTTP 429 with Retry-After', [ { kind => 'retry_after', code => 429, seconds => 2 } ] ],
	[ 'a dropped connection', [ { kind => 'drop', count => 2 } ] ],
	[ 'a response slower than --http-timeout', [ { kind => 'slow', seconds => 3 } ], [ '--http-timeout', '1' ] ],
	[ 'a slow response within --http-timeout', [ { kind => 'slow', seconds => 1 } ] ],
	[ 'a batch accepted, then the connection dropped', [ { kind => 'accept_then_drop', count => 2 } ] ],
	[ 'HTTP 413: the batch is split', [ { kind => 'status', code => 413, count => 2 } ] ],
	[
		'every fault in a row',
		[
			{ kind => 'status', code => 503 },
			{ kind => 'drop' },
			{ kind => 'status', code => 413 },
			{ kind => 'accept_then_drop' },
			{ kind => 'retry_after', code => 503, seconds => 1 },
			{ kind => 'slow', seconds => 2 }
		],
		[ '--http-timeout', '1', '--max-retries', '8' ]
	])
{
	my ($name, $faults, $args) = @$case;
	change();
	$rcv->clear_requests;
	$rcv->set_faults($faults);
	$r = PgPullTest::sync($node, $rcv, args => [ '--batch-rows', '500', @{ $args // [] } ]);
	is($r->{rc}, 0, "$name: exit status 0");
	is(scalar @{ $rcv->faults }, 0, "$name: every fault was met");
	all_there($name);
	if ($name =~ /Retry-After/)
	{
		my ($delay) = $r->{stderr} =~ /HTTP 429.*; retry 1 of 5 in (\d+\.\d) s/;
		ok(defined $delay && $delay >= 2.0, "$name: the retry waited as asked")
		  or diag("delay: " . ($delay // 'none'));
	}
	if ($name =~ /413/)
	{
		my @splits = $r->{stderr} =~ /rejected a batch of \d+ rows and \d+ bytes as too large, sending it in two halves/g;
		is(scalar @splits, 2, "$name: the batch and one of its halves were split");
	}
}
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pgpull.extraction_log WHERE level = 'WARNING' AND message ~ 'retry \d+ of \d+'}) > 0
	? 1 : 0, 1, 'retries are in the extraction log');

# -- faults that fail the stream: its bookmark stays, the next run catches up
change();
my $before = PgPullTest::stream_row($node, 'f', 'bookmark');
$rcv->set_faults([ { kind => 'status', code => 503, count => 3 } ]);
$r = PgPullTest::sync($node, $rcv, args => [ '--max-retries', '2' ]);
is($r->{rc}, 1, 'retries exhausted: exit status 1');
like($r->{stderr}, qr/ERROR f destination answered HTTP 503.*\n.*Gave up after 3 attempts/,
	'retries exhausted: the error says so');
is(PgPullTest::stream_row($node, 'f', 'bookmark'), $before, 'retries exhausted: the bookmark did not move');
PgPullTest::same_rows($node, 'g', 'id, v', 'default', 'retries exhausted: the other stream still ran');
is(PgPullTest::stream_row($node, 'f', q{status || ': ' || (last_error ~ 'HTTP 503')}), 'error: true',
	'retries exhausted: the stream is in error');

$rcv->set_faults([ { kind => 'status', code => 400,
		body => '{"error":"Record 0 did not conform to schema: #/v: expected: string, found: Bool"}' } ]);
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 1, 'HTTP 400: exit status 1');
like($r->{stderr}, qr/destination rejected a batch of \d+ rows \(HTTP 400\)\npgpull: detail: The destination said: Record 0 did not conform to schema/,
	'HTTP 400: the destination\'s message is shown');
is(PgPullTest::stream_row($node, 'f', 'bookmark'), $before, 'HTTP 400: the bookmark did not move');

$rcv->set_faults([ { kind => 'status', code => 413, count => 4 } ]);
$r = PgPullTest::sync($node, $rcv, args => [ '--batch-rows', '2' ]);
is($r->{rc}, 1, '413 for one row: exit status 1');
like($r->{stderr}, qr/destination rejected a single row of \d+ bytes as too large \(HTTP 413\)\npgpull: detail: The row is at position \[/,
	'413 for one row: the error names the row\'s position');
is(PgPullTest::stream_row($node, 'f', 'bookmark'), $before, '413 for one row: the bookmark did not move');
$rcv->clear_faults;

$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'after the failures, a run without faults');
all_there('after the failures');

# -- SIGKILL in the middle of a stream, then a run that loses nothing
$node->safe_psql('postgres', q{
CREATE TABLE k (id bigint PRIMARY KEY, v text NOT NULL);
INSERT INTO k SELECT i, md5(i::text) FROM generate_series(1, 60000) i;
SELECT pgpull.track('k', 'full_table', integration => 'big');
});
$rcv->clear_requests;
$rcv->set_faults([ map { { kind => 'slow', seconds => 1 } } 1 .. 20 ]);
my $run = PgPullTest::start_sync($node, $rcv, token => 'tok-big',
	args => [ '--integration', 'big', '--batch-rows', '2000', '--chunk-rows', '5000' ]);
my $waited = 0;
while (@{ PgPullTest::accepted($rcv, 'k') } < 3 && $waited++ < 600)
{
	usleep(100_000);
}
$run->{harness}->signal('KILL');
my $killed = PgPullTest::finish_sync($run);
is($killed->{signal}, 9, 'a run killed with SIGKILL mid-stream');
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory'})
  or die 'the killed puller\'s sessions did not go away';
my $loaded = $node->safe_psql('dest', 'SELECT count(*) FROM big.k');
cmp_ok($loaded, '>=', 6000, "the killed run had loaded $loaded rows");
cmp_ok($loaded, '<', 60000, 'the killed run had not finished');
$rcv->clear_faults;
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, token => 'tok-big', args => [ '--integration', 'big' ]);
is($r->{rc}, 0, 'the next run: exit status 0');
PgPullTest::same_rows($node, 'k', 'id, v', 'big', 'after SIGKILL: nothing lost');
cmp_ok(PgPullTest::records($rcv, 'k'), '<', 60000, 'the next run resumed after the accepted rows');
is($node->safe_psql('postgres',
		q{SELECT string_agg(status, ',' ORDER BY run_id) FROM pgpull.runs WHERE integration = 'big'}),
	'abandoned,succeeded', 'the killed run is marked abandoned');

# -- SIGTERM: the run ends failed, and the next one catches up
change();
$rcv->set_faults([ map { { kind => 'slow', seconds => 1 } } 1 .. 10 ]);
$run = PgPullTest::start_sync($node, $rcv, args => [ '--batch-rows', '100' ]);
$waited = 0;
while (@{ PgPullTest::accepted($rcv, 'f') } < 1 && $waited++ < 600)
{
	usleep(100_000);
}
$run->{harness}->signal('TERM');
my $termed = PgPullTest::finish_sync($run);
is($termed->{signal}, 15, 'SIGTERM: pgpull dies by SIGTERM once it has cleaned up');
like($termed->{stderr}, qr/run \d+ failed: 0 synced, 1 failed, 0 skipped, 1 not started/,
	'SIGTERM: the stream it was reading failed, the one after it was not started');
like($termed->{stderr}, qr/WARNING \w+ stream not started: interrupted/,
	'SIGTERM: the stream left is logged as not started');
is($node->safe_psql('postgres',
		q{SELECT status || ': ' || error FROM pgpull.runs WHERE integration = 'default' ORDER BY run_id DESC LIMIT 1}),
	'failed: interrupted by a signal (SIGTERM)', 'SIGTERM: the run ends failed');
$rcv->clear_faults;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'after SIGTERM, a run without faults');
all_there('after SIGTERM');

# -- SIGINT (^C in a terminal): the same, and pgpull dies by SIGINT
change();
$rcv->clear_requests;
$rcv->set_faults([ map { { kind => 'slow', seconds => 1 } } 1 .. 10 ]);
$run = PgPullTest::start_sync($node, $rcv, args => [ '--batch-rows', '100' ]);
$waited = 0;
while (@{ PgPullTest::accepted($rcv, 'f') } < 1 && $waited++ < 600)
{
	usleep(100_000);
}
$run->{harness}->signal('INT');
my $inted = PgPullTest::finish_sync($run);
is($inted->{signal}, 2, 'SIGINT: pgpull dies by SIGINT once it has cleaned up');
is($node->safe_psql('postgres',
		q{SELECT status || ': ' || error FROM pgpull.runs WHERE integration = 'default' ORDER BY run_id DESC LIMIT 1}),
	'failed: interrupted by a signal (SIGINT)', 'SIGINT: the run ends failed, saying by which signal');
$rcv->clear_faults;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'after SIGINT, a run without faults');
all_there('after SIGINT');

# -- two pullers at once share the streams of an integration
$node->safe_psql('postgres', q{
CREATE TABLE p1 (id integer PRIMARY KEY, v text);
CREATE TABLE p2 (id integer PRIMARY KEY, v text);
INSERT INTO p1 SELECT i, 'p1 ' || i FROM generate_series(1, 3000) i;
INSERT INTO p2 SELECT i, 'p2 ' || i FROM generate_series(1, 3000) i;
SELECT pgpull.track('p1', 'full_table', integration => 'pair');
SELECT pgpull.track('p2', 'full_table', integration => 'pair');
});
$rcv->set_faults([ map { { kind => 'slow', seconds => 1 } } 1 .. 12 ]);
my @args = ('--integration', 'pair', '--batch-rows', '1000');
my $first = PgPullTest::start_sync($node, $rcv, token => 'tok-pair', args => \@args);
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
	 WHERE s.integration = 'pair' AND rs.status = 'running'})
  or die 'the first puller never took a stream';
my $second = PgPullTest::start_sync($node, $rcv, token => 'tok-pair', args => \@args);
my $r1 = PgPullTest::finish_sync($first);
my $r2 = PgPullTest::finish_sync($second);
$rcv->clear_faults;
ok($r1->{rc} == 0 && $r2->{rc} == 0, 'two pullers at once: both exit with status 0');
like($r2->{stderr}, qr/INFO p1 stream is being synced by another puller, skipped/,
	'the second puller skips the stream the first one holds');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pgpull.run_streams a JOIN pgpull.run_streams b
	    ON a.stream_id = b.stream_id AND a.run_id < b.run_id
	  JOIN pgpull.stream s ON s.stream_id = a.stream_id
	 WHERE s.integration = 'pair' AND a.status <> 'skipped' AND b.status <> 'skipped'
	   AND tstzrange(a.started_at, a.ended_at) && tstzrange(b.started_at, b.ended_at)}),
	0, 'no stream was synced by both at the same time');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT s.destination_table, ',' ORDER BY s.destination_table)
	  FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
	 WHERE s.integration = 'pair' AND rs.status = 'succeeded'}),
	'p1,p2', 'between them, both streams were synced');
PgPullTest::same_rows($node, 'p1', 'id, v', 'pair', 'two pullers: p1 equal');
PgPullTest::same_rows($node, 'p2', 'id, v', 'pair', 'two pullers: p2 equal');

# -- a recovery conflict on a standby cancels a chunk: the puller reads on.
# The chunk's COPY must still run when vacuum removes row versions its
# snapshot sees: the puller never keeps a COPY open while it sends, so the
# relation is a view whose rows come slowly (20 ms every 100 rows).
$node->safe_psql('postgres', q{
CREATE TABLE c (id integer PRIMARY KEY, v text NOT NULL);
INSERT INTO c SELECT i, repeat(md5(i::text), 60) FROM generate_series(1, 20000) i;
CREATE VIEW c_slow AS SELECT c.id, c.v FROM c WHERE c.id % 100 <> 0 OR pg_sleep(0.02) IS NOT NULL;
SELECT pgpull.track('c_slow', 'full_table', key_columns => '{id}', integration => 'replica');
});
$node->backup('for_standby');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'for_standby', has_streaming => 1);
$standby->append_conf('postgresql.conf', "max_standby_streaming_delay = 0\nhot_standby_feedback = off");
$standby->start;
$node->wait_for_catchup($standby);
$rcv->clear_requests;
$run = PgPullTest::start_sync($node, $rcv, token => 'tok-replica', source => $standby->connstr('postgres'),
	args => [ '--integration', 'replica', '--state', $node->connstr('postgres'),
		'--batch-rows', '1000', '--chunk-rows', '10000' ]);
$waited = 0;
while ($standby->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY (%'}) eq '0'
	&& $waited++ < 600)
{
	usleep(50_000);
}
# while the chunk's COPY runs, vacuum removes row versions its snapshot sees
$node->safe_psql('postgres', q{UPDATE c SET v = 'updated' WHERE id > 15000; VACUUM c});
$r = PgPullTest::finish_sync($run);
is($r->{rc}, 0, 'recovery conflict: exit status 0');
like($r->{stderr}, qr/WARNING c_slow canceling statement due to conflict with recovery; reading on from the last row read/,
	'recovery conflict: the chunk was cancelled, the puller read on');
PgPullTest::same_rows($node, 'c', 'id, v', 'replica', 'recovery conflict: nothing lost', 'c_slow');
$standby->stop;

$rcv->stop;
$node->stop;
done_testing();
