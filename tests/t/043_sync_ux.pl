# tests/t/043_sync_ux.pl: what "pgpull sync" tells its user.
#
# --dry-run prints each stream, its method, bookmark, estimated rows and
# the query it would run, and changes nothing: no run, run stream or
# extraction log row, no bookmark moved, no advisory lock taken (the server
# log shows no call but read-only ones), nothing sent; it works as the
# replication role grant_script makes, in a read-only session, and without
# --target or token.  On a terminal (script(1) gives pgpull one) the stream
# being read has a progress line, drawn in place and erased before each log
# line, then a final line; not without a terminal.  --quiet leaves only
# warnings and errors; --verbose adds each chunk's read time and each
# batch's time waiting for rows and at the destination.  Bad combinations
# are usage errors.  pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('ux', conf => "log_statement = 'all'\n");
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3000) g;
CREATE TABLE events (id integer PRIMARY KEY, at timestamptz NOT NULL, what text);
INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 'e' || g
  FROM generate_series(1, 500) g;
CREATE VIEW items_v AS SELECT id, name FROM items WHERE id <= 10;
ANALYZE items;
ANALYZE events;
SELECT pgpull.track('items', 'full_table');
SELECT pgpull.track('events', 'key_based', 'at');
SELECT pgpull.track('items_v', 'full_table', key_columns => '{id}');
CREATE TABLE gone (id integer PRIMARY KEY);
SELECT pgpull.track('gone', 'full_table', integration => 'q');
DROP TABLE gone;
});
$node->safe_psql('postgres', $_) for split /\n/,
  $node->safe_psql('postgres', q{SELECT s FROM pgpull.grant_script('regress_puller', '{public}') s});
my $rcv = PgPullTest::receiver($node);
my $puller = $node->connstr('postgres') . ' user=regress_puller';

# what a dry run must leave as it was
my $state_sql = q{SELECT (SELECT count(*) FROM pgpull.runs) || '/' || (SELECT count(*) FROM pgpull.run_streams)
	|| '/' || (SELECT count(*) FROM pgpull.extraction_log) || '/'
	|| (SELECT string_agg(destination_table || '=' || coalesce(bookmark, '-') || ':' || status, ' '
		ORDER BY destination_table COLLATE "C") FROM pgpull.stream)};
sub catalog_state { return $node->safe_psql('postgres', $state_sql); }

# -- usage errors
sub usage_error
{
	my ($args, $re, $name) = @_;
	my $r = PgPullTest::pgpull(args => [ 'sync', '--source', 'dbname=x', @$args ], valgrind => 0);
	ok($r->{rc} == 2 && $r->{stderr} =~ $re, $name) or diag("exit status $r->{rc}: $r->{stderr}");
	return;
}
usage_error([ '--target', '-', '--quiet', '--verbose' ], qr/--quiet and --verbose cannot be used together/,
	'--quiet with --verbose: exit 2');
usage_error([ '-q', '-v', '--target', '-' ], qr/--quiet and --verbose cannot be used together/,
	'-q with -v: exit 2');
usage_error([ '--dry-run', '--all-databases' ], qr/--dry-run cannot be used with --all-databases/,
	'--dry-run with --all-databases: exit 2');
usage_error([ '--quiet' ], qr/no target given/, 'without --dry-run a target is still needed');
usage_error([ '--dry-run', '--target', 'ftp://x' ], qr/invalid value "ftp:\/\/x" for option --target/,
	'--dry-run still checks a --target given');
usage_error([ '--dry-run', '--target', '-', '--target', '-' ], qr/option --target given more than once/,
	'--dry-run: a repeated option is still refused');

# -- dry run, as the replication role, in a read-only session, no target, no token
my $before = catalog_state();
my $log_pos = -s $node->logfile;
my $r = PgPullTest::pgpull(args => [ 'sync', '--source',
	"$puller options='-c default_transaction_read_only=on'", '--dry-run', '--chunk-rows', '1000' ]);
my $log = slurp_file($node->logfile, $log_pos);
note("dry run output:\n$r->{stdout}");
is($r->{rc}, 0, 'dry run: exit status 0');
like($r->{stdout}, qr/^dry run of integration "default": 3 streams; nothing is sent/m, 'dry run: its header');
like($r->{stdout},
	qr/^stream events \(relation public\.events\)\n  method:         key_based, replication key at\n  bookmark:       none: first run, every row\n  estimated rows: 500 \(reltuples\)\n  query \(first chunk\):\n    COPY \(SELECT .* FROM public\.events AS t .* LIMIT 1000\) TO STDOUT \(FORMAT binary\)$/m,
	'dry run: the key_based stream, its bookmark, estimate and first chunk\'s query');
like($r->{stdout}, qr/^stream items \(relation public\.items\)\n  method:         full_table\n  bookmark:       none: from the start, every row\n  estimated rows: 3000 \(reltuples\)\n/m,
	'dry run: the full_table stream');
like($r->{stdout}, qr/^stream items_v \(relation public\.items_v\)\n.*\n.*\n  estimated rows: unknown\n/m,
	'dry run: a view has no estimate');
is($r->{stderr}, '', 'dry run: nothing on stderr');
is(catalog_state(), $before, 'dry run: no run, run stream or extraction log row, no bookmark or status changed');
is(scalar @{ $rcv->requests }, 0, 'dry run: the receiver got nothing');
my @calls = $log =~ /(?:statement|execute \S+): (.*pgpull\.\w+\(.*)$/mg;
ok(@calls && !grep({ !/pgpull\.(version|plan|database_id)\(/ } @calls),
	'dry run: only version() and plan() are called, no run protocol function')
  or diag(join("\n", @calls));
unlike($log, qr/advisory_lock/, 'dry run: no advisory lock function runs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'}), '0',
	'dry run: no advisory lock is left');

# a sync, then the dry run shows the bookmark
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync: exit status 0');
$r = PgPullTest::pgpull(args => [ 'sync', '--source', $puller, '--dry-run', '--target', $rcv->url ]);
like($r->{stdout}, qr/^stream events .*\n.*\n  bookmark:       2024-01-01T08:20:00Z\n  estimated rows: unknown\n  query \(first chunk\):\n    COPY \(SELECT .* WHERE t\.at > '2024-01-01T08:20:00Z'.* LIMIT 100000\)/m,
	'dry run after a sync: the bookmark and the query from it');

# a stream the role cannot read: the dry run warns, as the run would fail
$node->safe_psql('postgres', q{
CREATE SCHEMA hidden;
CREATE TABLE hidden.h (id integer PRIMARY KEY);
SELECT pgpull.track('hidden.h', 'full_table', integration => 'secret');
SELECT pgpull.grant_integration('secret', 'regress_puller');
});
$r = PgPullTest::pgpull(args => [ 'sync', '--source', $puller, '--dry-run', '--integration', 'secret' ]);
like($r->{stdout},
	qr/^stream h \(relation hidden\.h\)\n(?:  .*\n)*  warning:        role "regress_puller" cannot read relation "hidden\.h": it lacks USAGE on schema "hidden".*; the run will fail on this stream$/m,
	'dry run: a stream the role cannot read is flagged, with what it lacks');
is($r->{rc}, 0, 'dry run: a warning is not a failure');

# -- no terminal: no progress line
$r = PgPullTest::sync($node, $rcv);
unlike($r->{stderr}, qr/\e\[K|\r|: done, /, 'no terminal: no progress line');
like($r->{stderr}, qr/INFO items batch 1 accepted/, 'no terminal: the run log as before');
unlike($r->{stderr}, qr/DEBUG/, 'without --verbose: no DEBUG line');

# -- --quiet: warnings and errors only
$r = PgPullTest::sync($node, $rcv, args => ['--quiet']);
is($r->{rc}, 0, '--quiet: exit status 0');
is($r->{stderr}, '', '--quiet: nothing printed on a run without warnings');
$r = PgPullTest::sync($node, $rcv, args => [ '-q', '--integration', 'q' ]);
is($r->{rc}, 1, '-q: a failed stream (its table was dropped), exit status 1');
like($r->{stderr}, qr/^\S+ \S+ ERROR gone relation "public\.gone" of stream "gone" no longer exists/m,
	'-q: the error is printed');
unlike($r->{stderr}, qr/ INFO /, '-q: no INFO line');
$r = PgPullTest::sync($node, $rcv, args => [ '--quiet', '--integration', 'none' ]);
like($r->{stderr}, qr/^\S+ \S+ WARNING - integration "none" tracks no streams$/m, '--quiet: warnings are printed');

# -- --verbose: per chunk and per batch timings
$r = PgPullTest::sync($node, $rcv, args => [ '--verbose', '--chunk-rows', '1000', '--batch-rows', '500' ]);
is($r->{rc}, 0, '--verbose: exit status 0');
like($r->{stderr}, qr/^\S+ \S+ DEBUG items chunk 1 read: 1000 rows in \d+\.\d{3} s, after \d+\.\d{3} s waiting for the destination to catch up$/m,
	'--verbose: a chunk\'s read time and its wait for the destination');
like($r->{stderr}, qr/^\S+ \S+ INFO items batch 1 accepted: 500 rows, \d+ bytes$/m, '--verbose: the batch line');
my @times = $r->{stderr} =~ /^\S+ \S+ DEBUG items batch (\d+) times: \d+\.\d{3} s waiting for rows from the source, \d+\.\d{3} s at the destination$/mg;
is_deeply(\@times, [ 1 .. 6 ], '--verbose: each batch, its time waiting for rows and at the destination');

# -- a terminal: the progress line
SKIP:
{
	my $script = `command -v script 2>/dev/null`;
	chomp $script;
	skip 'script(1) is not installed', 6 unless $script;
	# a slow destination, and little memory for rows: the reading waits for it
	$rcv->set_faults([ map { { kind => 'slow', seconds => 0.3 } } 1 .. 6 ]);
	$node->safe_psql('postgres', 'SELECT pgpull.reset(\'items\')');
	my $cmd = join(' ', map { my $w = $_; $w =~ s/'/'\\''/g; "'$w'" } @{ PgPullTest::sync_command($node, $rcv,
		args => [ '--chunk-rows', '500', '--batch-rows', '500' ]) });
	my ($out, $err) = ('', '');
	local $ENV{PGPULL_TOKEN} = 'tok';
	local $ENV{PGPULL_SPOOL_MEMORY} = '1000';
	IPC::Run::run([ $script, '-qec', $cmd, '/dev/null' ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(600));
	my $rc = PgPullTest::exit_status($?);
	$rcv->clear_faults;
	note("terminal output:\n$out$err");
	is($rc, 0, 'terminal: exit status 0');
	like($out, qr/\r\e\[Kitems: [\d,]+ of ~3,000 rows, ETA \S+/,
		'terminal: the progress line, with the estimate and an ETA');
	like($out, qr/\r\e\[Kitems: [1-9][\d,]* of ~3,000 rows, ETA \d+\.\d s, \d+\.\d MB, [\d,]+ rows\/s, \d+\.\d MB\/s/,
		'terminal: a progress line in the middle of the stream, with its ETA in seconds');
	like($out, qr/\r\e\[Kitems: done, 3,000 rows, \d+\.\d MB in \d+\.\d s \([\d,]+ rows\/s, \d+\.\d MB\/s\)\r?\n/,
		'terminal: the final line of the stream');
	like($out, qr/\r\e\[Kitems_v: [\d,]+ rows, ETA unknown/, 'terminal: no ETA without an estimate (a view)');
	# what the terminal shows: each line as it stands after its last erasure
	my @bad;
	for my $line (split /\n/, $out)
	{
		$line =~ s/\r$//;
		$line =~ s/^.*\r\e\[K//s;
		push @bad, $line
		  unless $line =~ /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ |pgpull: |\S+: (done|failed)|$)/;
	}
	is_deeply(\@bad, [], 'terminal: no log line lands on a progress line');
}

done_testing();
