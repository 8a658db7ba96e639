# tests/t/040_singer.pl: pgpull sync --target - and pgpull commit-state.
#
# The command line (Singer options refused with Import API ones, exit 2),
# then a source with a key_based table, a full_table table, a view, an
# append-only table and a table of awkward types: "sync --target -" writes
# messages that validate against the Singer spec (every RECORD against its
# SCHEMA), with a STATE before the first RECORD, cumulative STATE values
# naming catalog streams, versions on full_table records and
# ACTIVATE_VERSION; the catalog's bookmarks do not move.  Loaded by the test
# target (tests/singer/target_pg.py), whose echoed states commit-state
# applies, the destination equals the source in SQL and the bookmarks are
# exact.  An older state moves nothing, a file without a state exits 2, an
# unreachable catalog 3, a state of another integration is refused.  An
# unconfirmed run is sent again (at-least-once).  A full_table run cut short
# by a failing target resumes, with the same table version, after the
# position the target confirmed; the target never deletes the rows of the
# first part; the next complete run has a new version.  Every pgpull runs
# under valgrind, which reports nothing.
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

my $tools = abs_path(dirname(__FILE__) . '/../singer');
my $python = '/usr/bin/python3';
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new->allow_bignum;

# pgpull with arguments, stdin from a file or nothing, stdout to a file or
# kept; returns { rc, stdout, stderr }
sub pgpull { return PgPullTest::pgpull(@_); }

# run a program; returns (exit status, stdout, stderr)
sub run_cmd
{
	my ($cmd, $stdin, $stdout) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run($cmd, '<', $stdin // \undef, '>', $stdout // \$out, '2>', \$err,
		IPC::Run::timeout(600));
	return ($? >> 8, $out, $err);
}

sub messages
{
	my ($file) = @_;
	return [ map { $json->decode($_) } grep { $_ ne '' } split /\n/, slurp_file($file) ];
}

# -- the command line
my @src = ('--source', 'host=/nonexistent dbname=nowhere');
for my $case (
	[ [ '--target', '-', '--cacert', '/dev/null' ], qr/--cacert cannot be used with --target -/, '--cacert' ],
	[ [ '--target', '-', '--token-file', '/dev/null' ], qr/--token-file cannot be used with --target -/,
		'--token-file' ],
	[ [ '--target', '-', '--http-timeout', '5' ], qr/--http-timeout cannot be used with --target -/,
		'--http-timeout' ],
	[ [ '--target-command', 'cat', '--max-retries', '1' ],
		qr/--max-retries cannot be used with --target-command/, '--max-retries' ],
	[ [ '--target', '-', '--target-command', 'cat' ], qr/--target and --target-command cannot be used together/,
		'both targets' ],
	[ [ '--target-command', ' ' ], qr/--target-command must not be empty/, 'an empty command' ])
{
	my ($args, $re, $what) = @$case;
	my $r = pgpull(args => [ 'sync', @src, @$args ]);
	ok($r->{rc} == 2 && $r->{stderr} =~ $re && $r->{stderr} =~ /^Try "pgpull --help"/m,
		"usage error: a Singer target with $what")
	  or diag($r->{stderr});
}
{
	my $r = pgpull(args => [ 'commit-state', @src ]);
	ok($r->{rc} == 2 && $r->{stderr} =~ /no state file given/, 'commit-state without a file: exit 2');
	$r = pgpull(args => [ 'commit-state', 'x' ]);
	ok($r->{rc} == 2 && $r->{stderr} =~ /no catalog database given/, 'commit-state without a database: exit 2');
	$r = pgpull(args => [ 'commit-state', @src, 'x', 'y' ]);
	ok($r->{rc} == 2 && $r->{stderr} =~ /too many command-line arguments \(first is "y"\)/,
		'commit-state with two files: exit 2');
	$r = pgpull(args => [ 'commit-state', '--help' ]);
	ok($r->{rc} == 0 && $r->{stdout} =~ /commit-state/ && $r->{stdout} =~ /--target-command/,
		'--help documents commit-state and --target-command');
}

# -- the source
my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2),
					updated_at timestamptz NOT NULL);
INSERT INTO items
SELECT g, 'item ' || g || CASE WHEN g % 7 = 0 THEN E' "quoted" \\ back\nslash\ttab é ☃' ELSE '' END,
	   g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 3000) g;
CREATE TABLE big (id bigint PRIMARY KEY, v text);
INSERT INTO big SELECT g, repeat(chr(97 + g % 26), g % 200) FROM generate_series(1, 5000) g;
CREATE VIEW items_view AS SELECT id, name FROM items WHERE id % 3 = 0;
CREATE TABLE events (at timestamptz, what text);
INSERT INTO events SELECT timestamptz '2024-06-01 00:00:00+00' + g * interval '1 minute', 'event ' || (g % 5)
  FROM generate_series(1, 50) g;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE awkward (id integer PRIMARY KEY, j jsonb, arr integer[], n numeric, f float8,
					  ts timestamp, tstz timestamptz, d date, t time, iv interval, b bytea,
					  u uuid, ip inet, r int4range, bits bit(4), m mood, "Odd ""Name""" text);
INSERT INTO awkward VALUES
	(1, '{"a": [1, 2.5, null], "b": "\u00e9"}', '{1,2,3}', 'NaN', 'Infinity', 'infinity',
	 '-infinity', 'infinity', '24:00', 'P1Y2M3DT4H5M6.5S', '\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	 '192.168.0.1/24', '[1,5)', B'1010', 'happy', E'line\nbreak "q" \\ \u2603'),
	(2, 'null', '{}', 12345678901234567890.123456789, -0.5, '2024-02-29 12:34:56.789',
	 '2024-02-29 12:34:56.789+05', '2024-02-29', '00:00', '-1 day', '', '00000000-0000-0000-0000-000000000000',
	 '::1', 'empty', B'0000', 'sad', ''),
	(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT pgpull.track('items', 'key_based', 'updated_at');
SELECT pgpull.track('big', 'full_table');
SELECT pgpull.track('items_view', 'full_table', key_columns => '{id}');
SELECT pgpull.track('events', 'full_table');
SELECT pgpull.track('awkward', 'full_table');
});
my $source = $node->connstr('postgres');
my $dest = $node->connstr('dest');
my $items_cols = 'id, name, price, updated_at';

# the catalog's bookmarks and resume positions
my $catalog_sql = q{SELECT string_agg(destination_table || '=' || coalesce(bookmark, '-') || '/'
		|| coalesce(resume_position::text, '-') || '/' || coalesce(completed_version::text, '-'), ' '
		ORDER BY destination_table COLLATE "C") FROM pgpull.stream WHERE integration = 'default'};
sub catalog { return $node->safe_psql('postgres', $catalog_sql); }

# the target: loads a file into database "dest", its echoed states in a file
sub load
{
	my ($in, $echo, @opts) = @_;
	my ($rc, undef, $err) = run_cmd(
		[ $python, "$tools/target_pg.py", '--dsn', $dest, '--schema', 'default', @opts ],
		$in, $echo);
	note("target_pg.py exit status $rc: $err");
	return ($rc, $err);
}

# -- sync --target -: messages, nothing moves
my $before = catalog();
my $r = pgpull(args => [ 'sync', '--source', $source, '--target', '-', '--batch-rows', '700' ],
	stdout => "$tmp/run1.jsonl");
is($r->{rc}, 0, '--target -: exit status 0');
like($r->{stderr}, qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z INFO items batch \d+ sent to the Singer target/m,
	'--target -: the run log is on stderr');
my ($rc, $out, $err) = run_cmd([ $python, "$tools/validate_singer.py", "$tmp/run1.jsonl" ]);
is($rc, 0, 'the messages validate against the Singer spec, every RECORD against its SCHEMA') or diag($err);
my $total = 3000 + 5000 + 1000 + 50 + 3;
like($out, qr/^\d+ messages: 5 SCHEMA, $total RECORD, \d+ STATE, 4 ACTIVATE_VERSION$/,
	'one SCHEMA per stream, every row once, ACTIVATE_VERSION for the 4 full_table streams');
is(catalog(), $before, '--target -: the catalog\'s bookmarks did not move');

my $msgs = messages("$tmp/run1.jsonl");
my %catalog_ids = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	q{SELECT destination_table, stream_id FROM pgpull.stream WHERE integration = 'default'});
{
	my (%seen_schema, %version, %activated, @problems, $first_state, $first_record);
	my $n = 0;
	my %streams_in_state;
	for my $m (@$msgs)
	{
		$n++;
		my $t = $m->{type};
		if ($t eq 'SCHEMA')
		{
			$seen_schema{ $m->{stream} } = $m;
		}
		elsif ($t eq 'STATE')
		{
			$first_state //= $n;
			my $v = $m->{value};
			push @problems, "line $n: header"
			  unless $v->{pgpull}{version} == 1 && $v->{pgpull}{integration} eq 'default'
			  && $v->{pgpull}{run_id} > 0;
			my @names = keys %{ $v->{bookmarks} };
			for my $s (keys %streams_in_state)
			{
				push @problems, "line $n: drops $s" unless exists $v->{bookmarks}{$s};
			}
			for my $s (@names)
			{
				$streams_in_state{$s} = 1;
				push @problems, "line $n: $s names stream $v->{bookmarks}{$s}{stream_id}"
				  unless $v->{bookmarks}{$s}{stream_id} == $catalog_ids{$s};
			}
		}
		elsif ($t eq 'RECORD')
		{
			$first_record //= $n;
			push @problems, "line $n: time_extracted"
			  unless $m->{time_extracted} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
			my $s = $m->{stream};
			if ($s eq 'items')
			{
				push @problems, "line $n: a key_based record with a version" if exists $m->{version};
			}
			else
			{
				$version{$s} //= $m->{version};
				push @problems, "line $n: version" unless defined $m->{version} && $m->{version} == $version{$s};
			}
		}
		elsif ($t eq 'ACTIVATE_VERSION')
		{
			push @problems, "line $n: activated $m->{version}, records carry $version{$m->{stream}}"
			  unless $m->{version} == $version{ $m->{stream} };
			$activated{ $m->{stream} } = $m->{version};
		}
	}
	is_deeply([ sort keys %seen_schema ], [ sort keys %catalog_ids ],
		'stream names are the destination tables of the catalog');
	ok($first_state < $first_record, 'a STATE goes out before the first RECORD');
	is_deeply($seen_schema{items}{key_properties}, ['id'], 'SCHEMA: key_properties');
	is_deeply($seen_schema{items}{bookmark_properties}, ['updated_at'], 'SCHEMA: bookmark_properties');
	is_deeply($seen_schema{events}{key_properties}, [], 'SCHEMA: an append-only table has no key properties');
	is(join(',', sort keys %activated), 'awkward,big,events,items_view', 'ACTIVATE_VERSION for full_table streams');
	is(join('; ', @problems), '', 'records carry their table version and time_extracted; every STATE carries every stream sent so far, named by its catalog stream');
	my $last = (grep { $_->{type} eq 'STATE' } @$msgs)[-1]{value};
	is(scalar(keys %{ $last->{bookmarks} }), 5, 'the last STATE carries the 5 streams');
	ok(!grep({ !$last->{bookmarks}{$_}{complete} } keys %{ $last->{bookmarks} }),
		'the last STATE marks every stream complete');
	is($last->{bookmarks}{items}{replication_key_value}, '2024-01-01T00:50:00Z',
		'the key_based bookmark is the key of the last row sent');
}

# -- standard output closed early: the run fails, nothing moves
{
	my ($head, $err) = ('', '');
	my $h = IPC::Run::start([ PgPullTest::pgpull_command([ 'sync', '--source', $source, '--target', '-' ]) ],
		'<', \undef, '2>', \$err, '|', [ 'head', '-c', '100' ], '>', \$head, IPC::Run::timeout(600));
	eval { $h->finish; };
	my $rc = ($h->full_results)[0] >> 8;
	note("exit status $rc, stderr:\n$err");
	ok( $rc == 1
		  && $err =~ /ERROR \S+ the Singer target stopped reading its input/
		  && $err =~ /stream not synced: the Singer target stopped reading/
		  && $node->safe_psql('postgres', q{SELECT status FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}) eq 'failed',
		'standard output closed: the write fails, the other streams wait, the run fails');
	is(catalog(), $before, 'standard output closed: no bookmark moved');
}

# -- the same sync again, unconfirmed: the same rows again (at-least-once)
$r = pgpull(args => [ 'sync', '--source', $source, '--target', '-' ], stdout => "$tmp/run1b.jsonl");
is($r->{rc}, 0, 'a second unconfirmed run: exit status 0');
is(scalar(grep { $_->{type} eq 'RECORD' && $_->{stream} eq 'items' } @{ messages("$tmp/run1b.jsonl") }),
	3000, 'an unconfirmed run leaves the next one sending every row again');
is(catalog(), $before, 'still no bookmark moved');

# -- load the last run, confirm (the first run's full_table states would not
# apply now: the second run took new table versions)
($rc, $err) = load("$tmp/run1b.jsonl", "$tmp/echo1.txt", '--batch-size', '100');
is($rc, 0, 'the test target loads the messages');
$r = pgpull(args => [ 'commit-state', '--source', $source, "$tmp/echo1.txt" ]);
is($r->{rc}, 0, 'commit-state: exit status 0');
like($r->{stderr}, qr/INFO items the Singer target confirmed: bookmark moved to updated_at > 2024-01-01T00:50:00Z/,
	'commit-state says what moved');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'confirmed: items equal');
PgPullTest::same_rows($node, 'big', 'id, v', 'default', 'confirmed: big equal');
PgPullTest::same_rows($node, 'items_view', 'id, name', 'default', 'confirmed: the view equals');
PgPullTest::same_rows($node, 'events', 'at, what', 'default', 'confirmed: the append-only table equals');
PgPullTest::same_rows($node, 'awkward', 'id, u, ip, "Odd ""Name"""', 'default', 'confirmed: the awkward table equals');
is($node->safe_psql('dest', q{SELECT count(*) FROM "default".awkward WHERE "Odd ""Name""" = E'line\nbreak "q" \\ \u2603'}),
	'1', 'awkward: a quoted column name and its text arrive intact');
is(PgPullTest::stream_row($node, 'items', q{bookmark::timestamptz = (SELECT max(updated_at) FROM items)}),
	't', 'items: the bookmark is exactly the greatest key');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.stream
	WHERE method = 'full_table' AND resume_position IS NULL AND completed_version IS NOT NULL}),
	'4', 'full_table streams: confirmed complete, the next run starts a new version');
is($node->safe_psql('postgres', q{SELECT string_agg(s.destination_table || ' ' || rs.rows_loaded, ', '
	ORDER BY s.destination_table COLLATE "C") FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
	WHERE rs.run_id = (SELECT max(run_id) FROM pgpull.runs WHERE target = 'singer')}),
	'awkward 3, big 5000, events 50, items 3000, items_view 1000', 'confirmed rows count as loaded');
my $confirmed = catalog();

# -- an older state moves nothing; files without a state
my @echoed = split /\n/, slurp_file("$tmp/echo1.txt");
cmp_ok(scalar @echoed, '>', 2, 'the target echoed several states');
open my $fh, '>', "$tmp/old.txt" or die;
print $fh "$echoed[0]\n";
close $fh;
$r = pgpull(args => [ 'commit-state', '--source', $source, "$tmp/old.txt" ]);
ok($r->{rc} == 0 && $r->{stderr} =~ /no bookmark moved/, 'commit-state of an older state: exit 0, nothing moved')
  or diag($r->{stderr});
is(catalog(), $confirmed, 'an older state moves nothing');
$r = pgpull(args => [ 'commit-state', '--source', $source, '-' ], stdin => \$echoed[0]);
ok($r->{rc} == 0 && catalog() eq $confirmed, 'commit-state - reads standard input');

open $fh, '>', "$tmp/nostate.txt" or die;
print $fh "target started\n{\"bookmarks\": {}}\n\n";
close $fh;
$r = pgpull(args => [ 'commit-state', '--source', $source, "$tmp/nostate.txt" ]);
ok($r->{rc} == 2 && $r->{stderr} =~ /no pgpull state in .*nostate\.txt/, 'a file without a state: exit 2')
  or diag($r->{stderr});
$r = pgpull(args => [ 'commit-state', '--source', $source, "$tmp/run1.jsonl" ]);
ok($r->{rc} == 2 && $r->{stderr} =~ /no pgpull state/,
	'pgpull\'s own STATE messages are no confirmation: exit 2');
$r = pgpull(args => [ 'commit-state', '--source', $source, '/nonexistent/file' ]);
ok($r->{rc} == 2 && $r->{stderr} =~ /could not open state file/, 'a missing file: exit 2');
$r = pgpull(args => [ 'commit-state', '--source', $source, '--integration', 'other', "$tmp/echo1.txt" ]);
ok($r->{rc} == 2 && $r->{stderr} =~ /are of integration "default", not "other"/,
	'states of another integration: exit 2');
$r = pgpull(args => [ 'commit-state', '--source', 'host=/nonexistent/socket dbname=postgres', "$tmp/echo1.txt" ]);
ok($r->{rc} == 3 && $r->{stderr} =~ /could not connect/, 'an unreachable catalog: exit 3');
(my $forged = $echoed[-1]) =~ s/"items":\{/"renamed":{/;
$r = pgpull(args => [ 'commit-state', '--source', $source, '-' ], stdin => \$forged);
ok($r->{rc} == 2 && $r->{stderr} =~ /does not match stream/, 'a state that does not match the catalog: exit 2')
  or diag($r->{stderr});
is(catalog(), $confirmed, 'refused states move nothing');

# -- incremental: the changed rows (not the tie at the time key's bookmark)
$node->safe_psql('postgres', q{
UPDATE items SET name = name || ' (changed)', updated_at = timestamptz '2025-01-01 00:00:00+00' + id * interval '1 ms'
 WHERE id IN (10, 20, 30)});
$r = pgpull(args => [ 'sync', '--source', $source, '--target', '-' ], stdout => "$tmp/run2.jsonl");
is(scalar(grep { $_->{type} eq 'RECORD' && $_->{stream} eq 'items' } @{ messages("$tmp/run2.jsonl") }),
	3, 'incremental: the 3 changed rows, not the tie at the bookmark');
($rc, $err) = load("$tmp/run2.jsonl", "$tmp/echo2.txt");
$r = pgpull(args => [ 'commit-state', '--source', $source, "$tmp/echo2.txt" ]);
is($r->{rc}, 0, 'incremental: confirmed');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'incremental: items equal');
is(PgPullTest::stream_row($node, 'items', 'bookmark'), '2025-01-01T00:00:00.03Z',
	'incremental: the bookmark moved to the greatest key');

# -- full_table across a resumed run: same version, after the confirmed position
$node->safe_psql('postgres', q{SELECT pgpull.track('big', 'full_table', integration => 'Resume Test')});
my @resume = ('--integration', 'Resume Test');
sub resume_load
{
	my ($in, $echo, @opts) = @_;
	my ($rc, undef, $err) = run_cmd(
		[ $python, "$tools/target_pg.py", '--dsn', $dest, '--schema', 'resume_test', @opts ],
		$in, $echo);
	note("target_pg.py exit status $rc: $err");
	return $rc;
}
$r = pgpull(args => [ 'sync', '--source', $source, '--target', '-', @resume, '--batch-rows', '500',
		'--chunk-rows', '1200' ], stdout => "$tmp/partA.jsonl");
my $partA = messages("$tmp/partA.jsonl");
my ($va) = map { $_->{version} } grep { $_->{type} eq 'RECORD' } @$partA;
$rc = resume_load("$tmp/partA.jsonl", "$tmp/echoA.txt", '--batch-size', '100', '--fail-after-records', '1830');
is($rc, 1, 'the target fails after 1829 records');
my @echoA = split /\n/, slurp_file("$tmp/echoA.txt");
my $lastA = $json->decode($echoA[-1])->{bookmarks}{big};
is($lastA->{position}, '["1500"]', 'its last echoed state covers the rows up to id 1500');
$r = pgpull(args => [ 'commit-state', '--source', $source, @resume, "$tmp/echoA.txt" ]);
is($r->{rc}, 0, 'commit-state of the partial load');
is(PgPullTest::stream_row($node, 'big', q{resume_position::text || ' ' || (table_version = } . $va . ')',
		'Resume Test'),
	'{1500} true', 'the resume position is exactly the one the target echoed, the table version the run\'s');
is($node->safe_psql('dest', 'SELECT count(*), max(id) FROM resume_test.big'), '1800|1800',
	'the target holds the first 1800 rows');

$r = pgpull(args => [ 'sync', '--source', $source, '--target', '-', @resume, '--batch-rows', '500' ],
	stdout => "$tmp/partB.jsonl");
is($r->{rc}, 0, 'the resumed run: exit status 0');
($rc, $out, $err) = run_cmd([ $python, "$tools/validate_singer.py", "$tmp/partB.jsonl" ]);
is($rc, 0, 'the resumed run validates') or diag($err);
my $partB = messages("$tmp/partB.jsonl");
my @recB = grep { $_->{type} eq 'RECORD' } @$partB;
is($recB[0]{record}{id}, 1501, 'it resumes after the confirmed position');
is(scalar(@recB), 3500, 'and sends the rest');
is(scalar(grep { $_->{version} != $va } @recB), 0, 'its records keep the table version of the interrupted run');
my @actB = grep { $_->{type} eq 'ACTIVATE_VERSION' } @$partB;
ok(@actB == 1 && $actB[0]{version} == $va && $partB->[-2]{type} eq 'ACTIVATE_VERSION',
	'ACTIVATE_VERSION of that version after the last record only');
$rc = resume_load("$tmp/partB.jsonl", "$tmp/echoB.txt");
is($rc, 0, 'the target loads the rest');
PgPullTest::same_rows($node, 'big', 'id, v', 'Resume Test', 'resumed: big equals the source, rows of the first part kept');
is($node->safe_psql('dest', 'SELECT count(DISTINCT _sdc_table_version) FROM resume_test.big'), '1',
	'one table version in the destination');
$r = pgpull(args => [ 'commit-state', '--source', $source, @resume, "$tmp/echoB.txt" ]);
is(PgPullTest::stream_row($node, 'big', q{coalesce(resume_position::text, 'none') || ' ' || (completed_version = } . $va . ')',
		'Resume Test'),
	'none true', 'confirmed complete: no resume position');
$r = pgpull(args => [ 'commit-state', '--source', $source, @resume, "$tmp/echoA.txt" ]);
ok($r->{rc} == 0 && $r->{stderr} =~ /no bookmark moved/
	  && PgPullTest::stream_row($node, 'big', q{resume_position IS NULL}, 'Resume Test') eq 't',
	'the partial state again after the complete one moves nothing');

$r = pgpull(args => [ 'sync', '--source', $source, '--target', '-', @resume ], stdout => "$tmp/partC.jsonl");
my $partC = messages("$tmp/partC.jsonl");
my @recC = grep { $_->{type} eq 'RECORD' } @$partC;
my ($actC) = grep { $_->{type} eq 'ACTIVATE_VERSION' } @$partC;
ok(@recC == 5000 && $recC[0]{version} > $va && $actC->{version} == $recC[0]{version},
	'the next run sends the whole table under a new version, activated at the end');
$rc = resume_load("$tmp/partC.jsonl", "$tmp/echoC.txt");
is($node->safe_psql('dest', 'SELECT count(*), count(DISTINCT _sdc_table_version), min(_sdc_table_version) > '
		. $va . ' FROM resume_test.big'),
	'5000|1|t', 'the target keeps only the rows of the new version');

$node->stop;
done_testing();
