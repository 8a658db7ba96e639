# tests/t/061_trust_ranges.pl: only the session holding a key range reads
# and advances it.
#
# A puller's session (run 1) takes a large full_table stream with
# pgpull.take_range and gets range 1 of the cut; a second run's session
# takes another range of the same stream.  A third session of a role
# granted the run protocol cannot read or advance either range, nor end it
# (SQLSTATE 55000); the second session cannot move its range's resume
# position outside its bounds (22023) nor backwards; a range that is done
# does not complete the stream while another is being read; the stream
# completes with its last range; and the ranges are deleted.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('ranges');
$node->safe_psql('postgres', q{
CREATE TABLE big (id integer PRIMARY KEY, v text NOT NULL);
INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 20000) i;
ANALYZE big;
SELECT pgpull.track('big', 'full_table');
});
for my $role (qw(regress_puller regress_attacker))
{
	$node->safe_psql('postgres', $_) for split /\n/,
	  $node->safe_psql('postgres', "SELECT s FROM pgpull.grant_script('$role', '{public}') s");
}
my $sid = $node->safe_psql('postgres', 'SELECT stream_id FROM pgpull.stream');

# a psql session that stays connected; returns a function running SQL in it
# and returning what it printed (ERROR lines included) since the last call
sub session
{
	my ($user) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres') . " user=$user" ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my $n = 0;
	my $run = sub {
		my ($sql) = @_;
		my $marker = 'done-' . ++$n;
		($out, $err) = ('', '');
		$in .= "$sql;\nSELECT '$marker';\n";
		$h->pump until $out =~ /\Q$marker\E\n/;
		$out =~ s/\Q$marker\E\n//;
		return $out . $err;
	};
	return ($run, $h, \$in);
}

my ($puller, $ph, $pin) = session('regress_puller');
my $run1 = $puller->(q{SELECT run_id FROM pgpull.begin_run('default', '1.1', 'import_api') LIMIT 1});
chomp $run1;
like($puller->("SELECT taken, range_no, range_count, range_label FROM pgpull.take_range($run1, $sid, 2, 1000)"),
	qr/^t\|1\|8\|\(id <= \d+\)$/m, 'the puller takes range 1 of 8 (4 x 2 ranges)');
my $upper1 = $node->safe_psql('postgres',
	"SELECT upper_position::jsonb ->> 0 FROM pgpull.stream_range WHERE range_no = 1");
is($puller->("SELECT pgpull.record_batch($run1, $sid, 10, 100, '[\"10\"]', 0)"), "\n",
	'it records a batch inside its range');
my $resume1 = sub {
	$node->safe_psql('postgres', 'SELECT resume_position FROM pgpull.stream_range WHERE range_no = 1') };
is($resume1->(), '["10"]', 'the range\'s resume position moved');
like($puller->("SELECT pgpull.extraction_query($run1, $sid, NULL, 1000)"),
	qr/WHERE \(t\.id\) > \('10'::integer\) AND t\.id <= '$upper1'::integer ORDER BY t\.id LIMIT 1000/,
	'its next chunk starts after the resume position, inside the range');

# a second run's session takes another range of the stream
my ($second, $sh, $sin) = session('regress_puller');
my $run2 = $second->(q{SELECT run_id FROM pgpull.begin_run('default', '1.1', 'import_api') LIMIT 1});
chomp $run2;
like($second->("SELECT taken, range_no FROM pgpull.take_range($run2, $sid, 1, 1000)"),
	qr/^t\|2$/m, 'a second run\'s session takes range 2 of the stream the first run reads');
my ($lower2, $upper2) = split /\|/, $node->safe_psql('postgres',
	"SELECT lower_position::jsonb ->> 0, upper_position::jsonb ->> 0 FROM pgpull.stream_range WHERE range_no = 2");
like($second->("SELECT pgpull.record_batch($run2, $sid, 1, 10, '[\"5\"]', 0)"),
	qr/22023: position \["5"\] is outside range 2 of stream "big"/,
	'it cannot move its range\'s resume position outside the range');
my $mid = $lower2 + 5;
is($second->("SELECT pgpull.record_batch($run2, $sid, 5, 50, '[\"$mid\"]', 0)"), "\n",
	'it records a batch inside its range');
$second->("SELECT pgpull.record_batch($run2, $sid, 1, 10, '[\"" . ($lower2 + 1) . "\"]', 0)");
is($node->safe_psql('postgres', 'SELECT resume_position FROM pgpull.stream_range WHERE range_no = 2'),
	"[\"$mid\"]", 'a position before its resume position does not move it back');

# another session, of a role granted the run protocol
my $attacker = $node->connstr('postgres') . ' user=regress_attacker';
sub attack
{
	my ($sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql,
		connstr => $attacker, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $stderr;
}
my $own = $node->safe_psql('postgres',
	q{SELECT run_id FROM pgpull.begin_run('default', '1.1', 'import_api') LIMIT 1}, connstr => $attacker);
like(attack("SELECT pgpull.record_batch($run1, $sid, 0, 0, '[\"$upper1\"]', 0)"),
	qr/55000: stream $sid of run $run1 is not held by this session/,
	'record_batch of the puller\'s range from another session: refused');
like(attack("SELECT pgpull.extraction_query($run1, $sid, NULL, 1000)"),
	qr/55000: stream $sid of run $run1 is not held by this session/,
	'extraction_query of the puller\'s range from another session: refused');
like(attack("SELECT pgpull.end_stream($run1, $sid, 'succeeded', 0, NULL)"),
	qr/55000: stream $sid of run $run1 is not held by this session/,
	'end_stream of the puller\'s range from another session: refused');
like(attack("SELECT pgpull.record_batch($own, $sid, 0, 0, '[\"$upper1\"]', 0)"),
	qr/55000: stream $sid is not being synced by run $own/,
	'record_batch in its own run without a range: refused');
like(attack("SELECT * FROM pgpull.take_range($own, $sid, 0, 1000)"),
	qr/22023: jobs must be between 1 and 64/, 'take_range with jobs 0: refused');
like(attack("SELECT * FROM pgpull.take_range($own, $sid, NULL, 1000)"),
	qr/22023: jobs must be between 1 and 64/, 'take_range with jobs NULL: refused');
like(attack("SELECT * FROM pgpull.take_range($own, $sid, 2, 0)"),
	qr/22023: chunk_rows must be positive/, 'take_range with chunk_rows 0: refused');
is($resume1->(), '["10"]', 'the puller\'s range did not move');
is($puller->("SELECT pgpull.record_batch($run1, $sid, 10, 100, '[\"20\"]', 0)"), "\n",
	'the puller goes on');
is($resume1->(), '["20"]', 'and its range moves');

# ranges end one by one; the stream completes with the last
like($second->("SELECT pgpull.end_stream($run2, $sid, 'succeeded', 100, NULL)"),
	qr/NOTICE:  00000: range 2 of 8 done: 100 rows extracted; 7 ranges of the stream left/,
	'the second run ends its range, and says how many are left');
is($node->safe_psql('postgres', q{
	SELECT string_agg(range_no || ':' || status, ' ' ORDER BY range_no) FROM pgpull.stream_range WHERE range_no <= 2}),
	'1:running 2:done', 'range 2 is done, range 1 still running');
is($node->safe_psql('postgres', "SELECT status FROM pgpull.run_streams WHERE run_id = $run2"),
	'succeeded', 'the second run\'s part succeeded');
is($node->safe_psql('postgres', 'SELECT status FROM pgpull.stream'), 'running', 'the stream is not complete');
$puller->("SELECT pgpull.end_stream($run1, $sid, 'succeeded', 100, NULL)");
for my $n (3 .. 8)
{
	like($puller->("SELECT taken, range_no FROM pgpull.take_range($run1, $sid, 2, 1000)"),
		qr/^t\|$n$/m, "the puller takes range $n");
	$puller->("SELECT pgpull.end_stream($run1, $sid, 'succeeded', 100, NULL)");
}
like($puller->("SELECT taken, range_no FROM pgpull.take_range($run1, $sid, 2, 1000)"),
	qr/^f\|$/m, 'no range is left, and the run does not take the stream again');
is($node->safe_psql('postgres', q{
	SELECT status || ' ' || (resume_position IS NULL) || ' ' || (SELECT count(*) FROM pgpull.stream_range)
	  FROM pgpull.stream}),
	'succeeded true 0', 'the stream completed with its last range: ranges deleted');
is($node->safe_psql('postgres', "SELECT status || ' ' || rows_extracted FROM pgpull.run_streams WHERE run_id = $run1"),
	'succeeded 700', 'the first run\'s row adds up its seven ranges');

$$pin .= "\\q\n";
$ph->finish;
$$sin .= "\\q\n";
$sh->finish;
$node->stop;
done_testing();
