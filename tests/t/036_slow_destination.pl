# tests/t/036_slow_destination.pl: a slow destination holds nothing on the
# source, and reading does not wait for sending.
#
# The puller reads each chunk to its end while a thread of its own sends
# the rows, keeping what the destination has not taken yet in memory, then
# in temporary files: while the destination stalls (30 s on one batch), no
# puller session has a transaction open on the source, and an ALTER TABLE
# with lock_timeout = 2s on the tracked table goes through.  The run still
# loses nothing, and the next one sends the new column.  The same for a
# relation without key columns, read in one pass.  With every batch slowed,
# the next chunk is read while the batches of the one before are still
# being sent.  The temporary files go to $TMPDIR and are never left there;
# a $TMPDIR it cannot write to fails the stream with a clear error and
# moves nothing; a bad PGPULL_SPOOL_MEMORY is a usage error.  Every pgpull
# runs under valgrind (the memory and file paths, both threads), which
# reports nothing.
use strict;
use warnings FATAL => 'all';
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PgPullTest::source_node('slow', conf => 'autovacuum = off');
$node->safe_psql('postgres', q{
CREATE TABLE wide (id integer PRIMARY KEY, v text NOT NULL);
INSERT INTO wide SELECT i, repeat(md5(i::text), 8) FROM generate_series(1, 30000) i;
SELECT pgpull.track('wide', 'full_table', integration => 'keyed');
CREATE TABLE heap (v text NOT NULL, n integer NOT NULL);
INSERT INTO heap SELECT repeat(md5(i::text), 8), i FROM generate_series(1, 20000) i;
SELECT pgpull.track('heap', 'full_table', integration => 'onepass');
});
my $rcv = PgPullTest::receiver($node,
	tokens => { 'tok-keyed' => 'keyed', 'tok-onepass' => 'onepass', 'tok-overlap' => 'overlap' });
my $app = 'pgpull-036';

# poll until check returns a true value, and return it ('' after about 60 s)
sub poll
{
	my ($check) = @_;
	for (1 .. 1200)
	{
		my $v = $check->();
		return $v if $v;
		usleep(50_000);
	}
	return '';
}

# the puller's sessions on the source that have a transaction open
sub open_transactions
{
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_stat_activity
		 WHERE application_name = '$app' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()});
}

# while the batch after the first stalls, an ALTER TABLE with a 2 s lock
# timeout on the relation goes through
sub alter_while_stalled
{
	my ($relation, $token, $integration, $stall, $name) = @_;
	$rcv->clear_requests;
	$rcv->set_faults([ { kind => 'slow', seconds => 0 }, { kind => 'slow', seconds => $stall } ]);
	local $ENV{PGAPPNAME} = $app;
	my $run = PgPullTest::start_sync($node, $rcv, token => $token,
		args => [ '--integration', $integration, '--batch-rows', '1000', '--chunk-rows', '5000' ]);
	ok(poll(sub { @{ $rcv->requests } >= 1 }), "$name: the first batch arrived");
	# the second one is on its way, and stalls: reading goes on to the end
	# of a chunk, then waits with no transaction open
	ok(poll(sub { open_transactions() eq '0' }),
		"$name: while the destination stalls, no puller transaction is open");
	my ($out, $err) = ('', '');
	my $ok = $node->psql('postgres', qq{
		SET lock_timeout = '2s';
		ALTER TABLE $relation ADD COLUMN added text DEFAULT 'new';
		SELECT 'altered'}, stdout => \$out, stderr => \$err);
	is($out, 'altered', "$name: ALTER TABLE with lock_timeout 2s went through while the destination stalled")
	  or diag($err);
	my $r = PgPullTest::finish_sync($run);
	$rcv->clear_faults;
	is($r->{rc}, 0, "$name: the stalled run succeeded") or diag($r->{stderr});
	return $r;
}

# -- a keyed relation: chunks end before sending
alter_while_stalled('wide', 'tok-keyed', 'keyed', 30, 'keyed');
PgPullTest::same_rows($node, 'wide', 'id, v', 'keyed', 'keyed: nothing lost');
my $r = PgPullTest::sync($node, $rcv, token => 'tok-keyed', args => [ '--integration', 'keyed' ]);
is($r->{rc}, 0, 'keyed: the next run succeeded');
PgPullTest::same_rows($node, 'wide', 'id, v, added', 'keyed', 'keyed: the next run sent the new column');

# -- a relation without key columns: read in one pass, spooled, then sent
alter_while_stalled('heap', 'tok-onepass', 'onepass', 5, 'one pass');
PgPullTest::same_rows($node, 'heap', 'v, n', 'onepass', 'one pass: nothing lost');
$r = PgPullTest::sync($node, $rcv, token => 'tok-onepass', args => [ '--integration', 'onepass' ]);
is($r->{rc}, 0, 'one pass: the next run succeeded');
# no key: the destination appends, so the next run's rows are all new ones
is($node->safe_psql('dest', 'SELECT count(*) FROM ' . PgPullTest::dest_table($node, 'heap', 'onepass')
			. q{ WHERE added = 'new'}), '20000',
	'one pass: the next run sent the new column');

# -- reading does not wait for sending: with every batch slowed, chunk 2 is
# read before the last batch of chunk 1 is accepted
$node->safe_psql('postgres', q{SELECT pgpull.track('wide', 'full_table', integration => 'overlap')});
$rcv->clear_requests;
$rcv->set_faults([ map { { kind => 'slow', seconds => 0.2 } } 1 .. 12 ]);
$r = PgPullTest::sync($node, $rcv, token => 'tok-overlap',
	args => [ '--integration', 'overlap', '--chunk-rows', '6000', '--batch-rows', '1000', '--verbose' ]);
$rcv->clear_faults;
is($r->{rc}, 0, 'overlap: the run with slowed batches succeeded') or diag($r->{stderr});
my $chunk2 = index($r->{stderr}, 'DEBUG wide chunk 2 ');
my $batch6 = index($r->{stderr}, 'INFO wide batch 6 accepted');
ok($chunk2 > 0 && $batch6 > 0 && $chunk2 < $batch6,
	'overlap: chunk 2 was read before batch 6, the last of chunk 1, was accepted')
  or diag($r->{stderr});
PgPullTest::same_rows($node, 'wide', 'id, v, added', 'overlap', 'overlap: nothing lost, nothing doubled');
is(PgPullTest::records($rcv, 'wide'), '30000', 'overlap: every row sent once');

# -- the temporary files: in $TMPDIR, never left behind
my $tmp = PostgreSQL::Test::Utils::tempdir();
{
	local $ENV{TMPDIR} = $tmp;
	# a read in one pass keeps every row until it is over: past 1 MB in files
	local $ENV{PGPULL_SPOOL_MEMORY} = '1000000';
	$r = PgPullTest::sync($node, $rcv, token => 'tok-onepass', args => [ '--integration', 'onepass' ]);
}
is($r->{rc}, 0, 'TMPDIR: a run keeping 20,000 rows in files succeeded');
opendir(my $dh, $tmp) or die "could not open $tmp: $!";
my @left = grep { !/^\.\.?$/ } readdir($dh);
closedir($dh);
is(scalar @left, 0, 'TMPDIR: no spool file left behind');

# -- a TMPDIR that cannot be written: the stream fails, nothing moves
$node->safe_psql('postgres', q{UPDATE wide SET v = 'changed' WHERE id % 10 = 0});
my $before = PgPullTest::stream_row($node, 'wide', 'coalesce(resume_position::text, \'none\')', 'keyed');
$rcv->clear_requests;
{
	# not under valgrind, which needs a TMPDIR of its own; no memory: every
	# row goes to a file
	local $ENV{TMPDIR} = "$tmp/missing";
	local $ENV{PGPULL_SPOOL_MEMORY} = '0';
	$r = PgPullTest::sync($node, $rcv, token => 'tok-keyed', valgrind => 0, args => [ '--integration', 'keyed' ]);
}
is($r->{rc}, 1, 'unwritable TMPDIR: exit status 1');
like($r->{stderr}, qr/ERROR wide could not create the spool file in "\Q$tmp\E\/missing": No such file or directory/,
	'unwritable TMPDIR: the error names the spool file, the directory and the cause');
like($r->{stderr}, qr/hint: .*TMPDIR/, 'unwritable TMPDIR: the hint says what to do');
is(scalar @{ $rcv->requests }, 0, 'unwritable TMPDIR: nothing was sent');
is(PgPullTest::stream_row($node, 'wide', 'coalesce(resume_position::text, \'none\')', 'keyed'),
	$before, 'unwritable TMPDIR: the stream did not move');
$r = PgPullTest::sync($node, $rcv, token => 'tok-keyed', args => [ '--integration', 'keyed' ]);
is($r->{rc}, 0, 'unwritable TMPDIR: the next run, with a TMPDIR that works, succeeded');
PgPullTest::same_rows($node, 'wide', 'id, v, added', 'keyed', 'unwritable TMPDIR: then nothing is lost');

{
	local $ENV{PGPULL_SPOOL_MEMORY} = 'lots';
	$r = PgPullTest::sync($node, $rcv, token => 'tok-keyed', args => [ '--integration', 'keyed' ]);
}
is($r->{rc}, 2, 'a bad PGPULL_SPOOL_MEMORY: exit status 2');
like($r->{stderr}, qr/invalid PGPULL_SPOOL_MEMORY: "lots"/, 'a bad PGPULL_SPOOL_MEMORY: named');

$rcv->stop;
$node->stop;
done_testing();
