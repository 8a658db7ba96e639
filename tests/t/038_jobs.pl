# tests/t/038_jobs.pl: sync --jobs N: key ranges and streams read by
# several processes and several pullers at once.
#
# Two pullers with --jobs 2 each, started together on one integration,
# read one 200,000-row table against a slowed receiver: it is cut into key
# ranges (from a sample: the table has no statistics), each puller names
# the ranges it reads, two source sessions are seen reading at once, every
# row arrives exactly once, and the stream completes (ranges deleted, one
# run row per puller, the rows adding up).  Then, after a reset (with
# statistics now), a run interrupted by SIGTERM leaves its ranges pending
# with their resume positions and is recorded as interrupted; the next run,
# with --jobs 1, reads only what is left and completes the stream.  A
# puller killed with SIGKILL takes its worker with it, and the next run
# resumes its ranges.
# --jobs 2 syncs several small streams; --jobs is checked.
use strict;
use warnings FATAL => 'all';
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $app = 'pgpull-038';
my $node = PgPullTest::source_node('jobs', conf => "autovacuum = off\nmax_connections = 40");
$node->safe_psql('postgres', q{
CREATE TABLE big (id bigint PRIMARY KEY, v text NOT NULL, n integer NOT NULL);
INSERT INTO big SELECT i, md5(i::text), i % 1000 FROM generate_series(1, 200000) i;
SELECT pgpull.track('big', 'full_table');
});
# the most sessions of application app seen running a COPY at once, sampling
# for at most the given seconds or until two are seen
$node->safe_psql('postgres', q{
CREATE FUNCTION most_reading(app text, seconds float8) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_most integer := 0;
	v_n integer;
	v_end timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
	WHILE clock_timestamp() < v_end AND v_most < 2 LOOP
		PERFORM pg_stat_clear_snapshot();
		SELECT count(*) INTO v_n FROM pg_stat_activity
		 WHERE application_name = app AND state = 'active' AND query LIKE 'COPY %';
		v_most := greatest(v_most, v_n);
		PERFORM pg_sleep(0.002);
	END LOOP;
	RETURN v_most;
END
$$;
});
my $rcv = PgPullTest::receiver($node,
	tokens => { tok => 'default', 'tok-many' => 'many' });

# poll until check returns a true value, and return it ('' after about 60 s)
sub poll
{
	my ($check) = @_;
	for (1 .. 6000)
	{
		my $v = $check->();
		return $v if $v;
		usleep(10_000);
	}
	return '';
}

# -- option checks
for my $bad ('0', 'two', '65', '')
{
	my $r = PgPullTest::pgpull(args => [ 'sync', '--source', $node->connstr('postgres'),
			'--target', $rcv->url, '--jobs', $bad ], valgrind => 0);
	is($r->{rc}, 2, "--jobs '$bad': exit status 2");
	like($r->{stderr}, qr/pgpull: error: (--jobs must be in range 1\.\.64|invalid value "$bad" for option --jobs)/,
		"--jobs '$bad': says why");
}
my $r = PgPullTest::pgpull(args => [ 'sync', '--source', $node->connstr('postgres'), '--target', '-',
		'--jobs', '2' ], valgrind => 0);
is($r->{rc}, 2, '--jobs 2 with a Singer target: exit status 2');
like($r->{stderr}, qr/pgpull: error: --jobs cannot be used with --target -\n.*detail: A Singer target reads one stream of messages/s,
	'--jobs with a Singer target: the error says why');

# -- two pullers, --jobs 2 each, one large stream, a slowed receiver
$rcv->set_faults([ { kind => 'slow', seconds => 0.02, count => 100000 } ]);
my @runs;
{
	local $ENV{PGAPPNAME} = $app;
	for (1 .. 2)
	{
		push @runs, PgPullTest::start_sync($node, $rcv, valgrind => 0,
			args => [ '--jobs', '2', '--chunk-rows', '10000', '--batch-rows', '2000' ]);
	}
}
# two source sessions reading (a COPY running) at once, sampled every 2 ms
my $most = $node->safe_psql('postgres', q{SELECT most_reading('} . $app . q{', 60)});
my @done = map { PgPullTest::finish_sync($_) } @runs;
$rcv->clear_faults;
cmp_ok($most, '>=', 2, "two source sessions seen reading at once (most: $most)");
for my $i (0, 1)
{
	is($done[$i]{rc}, 0, "puller " . ($i + 1) . ": exit status 0");
	like($done[$i]{stderr}, qr/INFO big stream taken: table version \d+, range \d+ of \d+: \(id (>|<=) \d+/,
		"puller " . ($i + 1) . ": its log names a range it read");
	like($done[$i]{stderr}, qr/INFO big range \d+ of 8 synced: \d+ rows extracted, \d+ loaded/,
		"puller " . ($i + 1) . ": its log says which ranges it synced");
	like($done[$i]{stderr}, qr/reading with 2 processes/, "puller " . ($i + 1) . ": it read with 2 processes");
}
like($done[0]{stderr} . $done[1]{stderr}, qr/table version \d+ cut into 8 ranges of id \(about \d+ rows each, from a sample/,
	'one of them cut the table into 4 x 2 ranges, from a sample (no statistics)');
is(PgPullTest::records($rcv, 'big'), 200000, 'every row was sent once');
PgPullTest::same_rows($node, 'big', 'id, v, n', 'default', 'every row is at the destination');
is($node->safe_psql('postgres', q{
	SELECT status || ' ' || (resume_position IS NULL) || ' ' || (SELECT count(*) FROM pgpull.stream_range)
	  FROM pgpull.stream}),
	'succeeded true 0', 'the stream completed: succeeded, no resume position, its ranges deleted');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(rs.rows_loaded) || ' ' || bool_and(r.status = 'succeeded')
	  FROM pgpull.run_streams rs JOIN pgpull.runs r USING (run_id) WHERE rs.status = 'succeeded'}),
	'2 200000 true', 'one run row per puller, their rows adding up to the table');

# -- a run interrupted mid-range resumes its ranges only
$node->safe_psql('postgres', q{
	SELECT pgpull.reset('big');
	UPDATE big SET v = 'second' WHERE id % 7 = 0;
	ANALYZE big;
});
$rcv->clear_requests;
$rcv->set_faults([ { kind => 'slow', seconds => 0.2, count => 100000 } ]);
my $run = PgPullTest::start_sync($node, $rcv, valgrind => 0,
	args => [ '--jobs', '2', '--chunk-rows', '10000', '--batch-rows', '1000' ]);
ok(poll(sub {
	$node->safe_psql('postgres',
		q{SELECT count(*) >= 2 FROM pgpull.stream_range WHERE resume_position IS NOT NULL}) eq 't' }),
	'interrupt: two ranges have accepted rows');
$run->{harness}->signal('TERM');
my $killed = PgPullTest::finish_sync($run);
$rcv->clear_faults;
is($killed->{signal}, 15, 'interrupt: pgpull dies by SIGTERM');
like($killed->{stderr}, qr/cut into 8 ranges of id \(about \d+ rows each, from statistics\)/,
	'interrupt: the ranges were cut from the statistics');
is($node->safe_psql('postgres', q{SELECT status || ': ' || error FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}),
	'failed: interrupted by a signal (SIGTERM)', 'interrupt: the run is recorded as interrupted');
my $sent = PgPullTest::records($rcv, 'big');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE status = 'pending') >= 1
	   AND count(*) FILTER (WHERE status = 'running') = 0
	   AND count(*) FILTER (WHERE resume_position IS NOT NULL) >= 2
	  FROM pgpull.stream_range}),
	't', 'interrupt: the ranges left are pending, with their resume positions');
my $cut = $node->safe_psql('postgres',
	q{SELECT string_agg(range_no || ':' || coalesce(lower_position, '') || coalesce(upper_position, ''), ' ' ORDER BY range_no)
	    FROM pgpull.stream_range});
my $left = $node->safe_psql('postgres', q{
	SELECT count(*) FROM big b
	 WHERE EXISTS (SELECT FROM pgpull.stream_range r
				    WHERE r.status <> 'done'
					  AND (r.lower_position IS NULL OR b.id > (r.lower_position::jsonb ->> 0)::bigint)
					  AND (r.upper_position IS NULL OR b.id <= (r.upper_position::jsonb ->> 0)::bigint)
					  AND (r.resume_position IS NULL OR b.id > (r.resume_position::jsonb ->> 0)::bigint))});
cmp_ok($left, '<', 200000, "interrupt: $left rows are left to read");

$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, args => [ '--chunk-rows', '10000' ]);
is($r->{rc}, 0, 'resume: the next run, with --jobs 1, succeeded');
like($r->{stderr}, qr/range \d+ of 8: .*resuming after \["\d+"\]/, 'resume: a range resumed after its position');
unlike($r->{stderr}, qr/cut into/, 'resume: the cut was kept');
is(PgPullTest::records($rcv, 'big'), $left, 'resume: it sent only the rows left in the pending ranges');
PgPullTest::same_rows($node, 'big', 'id, v, n', 'default', 'resume: every row is at the destination');
is($node->safe_psql('postgres', q{
	SELECT status || ' ' || (resume_position IS NULL) || ' ' || (SELECT count(*) FROM pgpull.stream_range)
	  FROM pgpull.stream}),
	'succeeded true 0', 'resume: the stream completed');
ok($cut ne '', "resume: the ranges were $cut");

# -- a puller killed outright: its workers follow it, and the next run resumes
$node->safe_psql('postgres', q{SELECT pgpull.reset('big')});
$rcv->clear_requests;
$rcv->set_faults([ { kind => 'slow', seconds => 0.2, count => 100000 } ]);
{
	local $ENV{PGAPPNAME} = $app;
	$run = PgPullTest::start_sync($node, $rcv, valgrind => 0,
		args => [ '--jobs', '2', '--chunk-rows', '10000', '--batch-rows', '1000' ]);
}
ok(poll(sub {
	$node->safe_psql('postgres',
		q{SELECT count(*) >= 2 FROM pgpull.stream_range WHERE resume_position IS NOT NULL}) eq 't' }),
	'kill: two ranges have accepted rows');
$run->{harness}->signal('KILL');
PgPullTest::finish_sync($run);
$rcv->clear_faults;
ok(poll(sub {
	$node->safe_psql('postgres', qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = '$app'}) eq 't' }),
	'kill: the worker process ended with the puller');
$r = PgPullTest::sync($node, $rcv, args => [ '--chunk-rows', '10000' ]);
is($r->{rc}, 0, 'kill: the next run succeeded');
like($r->{stderr}, qr/run abandoned: its puller ended without ending it/, 'kill: it marked the killed run abandoned');
like($r->{stderr}, qr/range \d+ of 8: .*resuming after/, 'kill: it resumed the ranges');
PgPullTest::same_rows($node, 'big', 'id, v, n', 'default', 'kill: every row is at the destination');
is($node->safe_psql('postgres', q{SELECT status || ' ' || (SELECT count(*) FROM pgpull.stream_range) FROM pgpull.stream}),
	'succeeded 0', 'kill: the stream completed');

# -- --jobs 2, several small streams
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', qq{
		CREATE TABLE small_$i (id integer PRIMARY KEY, v text);
		INSERT INTO small_$i SELECT g, 'v' || g FROM generate_series(1, 100) g;
		SELECT pgpull.track('small_$i', 'full_table', integration => 'many');
	});
}
$r = PgPullTest::sync($node, $rcv, token => 'tok-many', valgrind => 0,
	args => [ '--integration', 'many', '--jobs', '2' ]);
is($r->{rc}, 0, 'many streams: exit status 0');
like($r->{stderr}, qr/run \d+ succeeded: 6 synced, 0 failed, 0 skipped/, 'many streams: the summary counts each stream once');
unlike($r->{stderr}, qr/range \d+ of/, 'many streams: small tables are not cut');
PgPullTest::same_rows($node, "small_$_", 'id, v', 'many', "many streams: small_$_ synced") for 1 .. 6;
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT rs.run_id) || ' ' || count(*) FROM pgpull.run_streams rs
	  JOIN pgpull.stream s USING (stream_id) WHERE s.integration = 'many' AND rs.status = 'succeeded'}),
	'1 6', 'many streams: one run, six streams');

$rcv->stop;
$node->stop;
done_testing();
