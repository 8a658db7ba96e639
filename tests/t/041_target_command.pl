# tests/t/041_target_command.pl: pgpull sync --target-command.
#
# pgpull runs a Singer target as its child, writes the messages to its
# standard input and confirms each state it echoes at once.  With the test
# target (tests/singer/target_pg.py) one step makes the destination equal
# to the source and the bookmarks exact.  A target that fails after some
# records makes the run exit 1 and leaves each bookmark exactly where its
# last echoed state says; the next run catches up.  A target that stops
# reading fails the run (exit 1); one that echoes nothing is a warning
# (exit 0, nothing moves); one that cannot run fails the run; lines that
# are not states of the integration are skipped.  SIGTERM to pgpull stops
# the target too: no process is left.  Every pgpull runs under valgrind,
# which reports nothing.
use strict;
use warnings FATAL => 'all';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $tools = abs_path(dirname(__FILE__) . '/../singer');
my $python = '/usr/bin/python3';
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new;

# a word for /bin/sh
sub shq
{
	my ($s) = @_;
	$s =~ s/'/'\\''/g;
	return "'$s'";
}

my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'item ' || g || CASE WHEN g % 9 = 0 THEN E' "q" \\ é\n' ELSE '' END,
					 timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 400) g;
CREATE TABLE parts (a integer, b text, qty numeric, PRIMARY KEY (a, b));
INSERT INTO parts SELECT g / 3, 'p' || (g % 3), g * 0.5 FROM generate_series(1, 600) g;
CREATE TABLE bulk (id integer PRIMARY KEY, v text);
INSERT INTO bulk SELECT g, repeat('v', 150) FROM generate_series(1, 60000) g;
SELECT pgpull.track('items', 'key_based', 'updated_at');
SELECT pgpull.track('parts', 'full_table');
SELECT pgpull.track('items', 'key_based', 'updated_at', integration => 'Fail Test');
SELECT pgpull.track('parts', 'full_table', integration => 'Fail Test');
SELECT pgpull.track('bulk', 'full_table', integration => 'Bulk');
});
my $source = $node->connstr('postgres');
my $dest = $node->connstr('dest');

# the test target, loading into a schema of database "dest"
sub target
{
	my ($schema, @opts) = @_;
	return join(' ', shq($python), shq("$tools/target_pg.py"), '--dsn', shq($dest),
		'--schema', shq($schema), @opts);
}

# the same, its standard output also kept in a file, its exit status kept
sub target_tee
{
	my ($file, $schema, @opts) = @_;
	my $rcfile = "$file.rc";
	return '{ ' . target($schema, @opts) . '; echo $? > ' . shq($rcfile) . '; } | tee '
	  . shq($file) . '; exit "$(cat ' . shq($rcfile) . ')"';
}

# pgpull sync into a target command; returns { rc, stdout, stderr }
sub sync
{
	my ($command, @args) = @_;
	return PgPullTest::pgpull(args => [ 'sync', '--source', $source, '--target-command', $command, @args ]);
}

sub catalog
{
	my ($integration) = @_;
	return $node->safe_psql('postgres', qq{SELECT string_agg(destination_table || '=' || coalesce(bookmark, '-')
		|| '/' || coalesce(resume_position::text, '-'), ' ' ORDER BY destination_table COLLATE "C")
		FROM pgpull.stream WHERE integration = '$integration'});
}

# -- one step: the target loads, its states move the bookmarks
my $r = sync(target('default', '--batch-size', '7'), '--batch-rows', '10');
is($r->{rc}, 0, 'one-step sync: exit status 0');
is($r->{stdout}, '', 'nothing on pgpull\'s standard output: the messages went to the target');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'one step: items equal');
PgPullTest::same_rows($node, 'parts', 'a, b, qty', 'default', 'one step: parts equal');
is(PgPullTest::stream_row($node, 'items', q{bookmark::timestamptz = (SELECT max(updated_at) FROM items)}),
	't', 'one step: the key_based bookmark is exactly the greatest key');
is(PgPullTest::stream_row($node, 'parts', q{resume_position IS NULL AND completed_version = table_version}),
	't', 'one step: the full_table stream is confirmed complete');
like($r->{stderr}, qr/INFO items the Singer target confirmed: bookmark moved/,
	'the confirmations are logged as they arrive');
like($r->{stderr}, qr/the Singer target echoed \d+ states: \d+ bookmarks moved/, 'and summed up');
is($node->safe_psql('postgres', q{SELECT status || ' ' || target FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}),
	'succeeded singer', 'the run is recorded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.extraction_log
	WHERE message LIKE 'the Singer target confirmed run %'}) > 0 ? 1 : 0, 1,
	'the confirmations are in the extraction log');

# -- a target that fails: the bookmarks stay exactly at its last echoed state
my $before = catalog('Fail Test');
$r = sync(target_tee("$tmp/fail.txt", 'fail_test', '--batch-size', '7', '--fail-after-records', '95'),
	'--integration', 'Fail Test', '--batch-rows', '10');
is($r->{rc}, 1, 'a target that fails: exit status 1');
like($r->{stderr}, qr/ERROR - the Singer target exited with status 1/, 'its exit status is reported');
my @echoed = split /\n/, slurp_file("$tmp/fail.txt");
cmp_ok(scalar @echoed, '>', 3, 'it echoed states before it failed');
my $last = $json->decode($echoed[-1])->{bookmarks};
is(PgPullTest::stream_row($node, 'items', 'bookmark', 'Fail Test'), $last->{items}{replication_key_value},
	'the bookmark is exactly the one of its last echoed state');
is($last->{items}{replication_key_value}, '2024-01-01T01:30:00Z', 'which covers the rows it committed before record 95');
is(PgPullTest::stream_row($node, 'parts', q{coalesce(resume_position::text, '-')}, 'Fail Test'), '-',
	'a stream it never confirmed did not move');
is($node->safe_psql('postgres', q{SELECT status || ': ' || error FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}),
	'failed: the Singer target exited with status 1', 'the run failed');
$r = sync(target('fail_test', '--batch-size', '50'), '--integration', 'Fail Test');
is($r->{rc}, 0, 'the next run with a good target: exit status 0');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'Fail Test', 'the next run catches up: items equal');
PgPullTest::same_rows($node, 'parts', 'a, b, qty', 'Fail Test', 'the next run catches up: parts equal');

# -- a target that stops reading
$r = sync(target_tee("$tmp/stop.txt", 'bulk', '--batch-size', '50', '--stop-reading-after-lines', '1000'),
	'--integration', 'Bulk', '--batch-rows', '100');
is($r->{rc}, 1, 'a target that stops reading: exit status 1');
like($r->{stderr}, qr/ERROR bulk the Singer target stopped reading its input/, 'the write fails');
@echoed = split /\n/, slurp_file("$tmp/stop.txt");
is(PgPullTest::stream_row($node, 'bulk', 'resume_position::text', 'Bulk'),
	'{' . $json->decode($json->decode($echoed[-1])->{bookmarks}{bulk}{position})->[0] . '}',
	'what it confirmed before it stopped stays confirmed');
is(PgPullTest::stream_row($node, 'bulk', 'status', 'Bulk'), 'error', 'the stream failed');

# -- a target that echoes nothing: a warning, nothing moves
$node->safe_psql('postgres', q{UPDATE items SET updated_at = timestamptz '2025-01-01 00:00:00+00' WHERE id <= 5});
$before = catalog('default');
$r = sync(target('default', '--no-echo'));
is($r->{rc}, 0, 'a target that confirms nothing: exit status 0');
like($r->{stderr}, qr/WARNING - the Singer target confirmed nothing/, 'with a warning');
is(catalog('default'), $before, 'no bookmark moved');

# -- other lines a target prints are skipped; a target that cannot run
$r = sync(q{cat >/dev/null; echo 'not json'; echo '{"bookmarks": {}}'; }
	  . q{echo '{"pgpull": {"version": 1, "integration": "other", "run_id": 1}, "bookmarks": {}}'},
	'--verbose');
ok( $r->{rc} == 0
	  && $r->{stderr} =~ /DEBUG - the Singer target printed a line that is not a pgpull state: skipped/
	  && $r->{stderr} =~ /WARNING - the Singer target printed a state of integration "other": not confirmed/
	  && $r->{stderr} =~ /confirmed nothing/,
	'lines that are not states of the integration are skipped')
  or diag($r->{stderr});
$r = sync('/nonexistent/target');
ok($r->{rc} == 1 && $r->{stderr} =~ /the Singer target exited with status 127/,
	'a target that cannot run: exit status 1')
  or diag($r->{stderr});
is(catalog('default'), $before, 'still no bookmark moved');

# -- SIGTERM: pgpull stops, and its target with it
sub marked
{
	my ($marker) = @_;
	my $ps = `ps -eo pid=,args=`;
	return scalar grep { /\Q$marker\E/ && !/ps -eo/ } split /\n/, $ps;
}
{
	my $marker = 'sleep 287.25';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ PgPullTest::pgpull_command([ 'sync', '--source', $source, '--integration', 'Bulk',
			'--target-command', "$marker; cat >/dev/null" ]) ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my $waited = 0;
	while (marked($marker) < 3 && $waited++ < 600)
	{
		usleep(50_000);
	}
	ok(marked($marker) >= 3, 'the target runs (its shell and its command)');
	usleep(300_000);	# pgpull is blocked writing to a target that does not read
	$h->signal('TERM');
	eval { $h->finish; };
	my $rc = $h->full_result(0);
	note("pgpull wait status $rc; stderr:\n$err");
	is($rc & 127, 15, 'SIGTERM: pgpull dies by SIGTERM once it has cleaned up');
	like($err, qr/interrupted/, 'SIGTERM: the run says it was interrupted');
	$waited = 0;
	while (marked($marker) > 0 && $waited++ < 100)
	{
		usleep(50_000);
	}
	is(marked($marker), 0, 'SIGTERM: no process of the target is left');
	is($node->safe_psql('postgres', q{SELECT status || ': ' || error FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}),
		'failed: interrupted by a signal (SIGTERM)', 'SIGTERM: the run is recorded as interrupted');
}

# -- after the runs that confirmed nothing, a good target catches up
$r = sync(target('default', '--batch-size', '20'), '--batch-rows', '25');
is($r->{rc}, 0, 'a good target again: exit status 0');
is(PgPullTest::stream_row($node, 'items', q{bookmark::timestamptz = (SELECT max(updated_at) FROM items)}),
	't', 'the bookmark moved');

$node->stop;
done_testing();
