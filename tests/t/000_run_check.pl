# tests/t/000_run_check.pl: the counting that make check sums into its last
# line (tests/counts.sh, sourced by tests/run_check.sh).
#
# pg_regress's output in both formats the Makefile accepts: PostgreSQL 15's
# (tests/fixtures/pg_regress_15_*.out, real output of pg_regress 15: this
# suite passing; a failing test, an ignored failure and a test whose psql
# exited 3, one of them in a parallel group) and the TAP of 16 and later
# (tests/fixtures/pg_regress_16_*.out, written after test_status_print,
# emit_tap_output and regression_main of src/test/regress/pg_regress.c:
# a parallel group with a failure, a bail-out between tests, a bail-out
# before the first).  Then TAP as Test::More writes it, from small scripts
# run here: skips, TODO, subtests, a death, a wrong plan, skip_all, a failing
# exit status, no tests at all, a test name holding "#".
use strict;
use warnings FATAL => 'all';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $tests = abs_path(dirname(__FILE__) . '/..');
my $fixtures = "$tests/fixtures";
my $tmp = PostgreSQL::Test::Utils::tempdir;

# a function of tests/counts.sh with arguments; returns (stdout without the
# newline, stderr)
sub counts
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', '-c', '. "$0" && "$@"', "$tests/counts.sh", @args ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	die "counts.sh @args: exit status $?: $err" if $?;
	chomp $out;
	return ($out, $err);
}

# -- pg_regress
for my $case (
	[ 'pg_regress_15_pass.out', 0, 11, '11 0 0', 'PostgreSQL 15: every test ok' ],
	[ 'pg_regress_15_pass.out', 0, 12, '11 1 0', 'PostgreSQL 15: a test given but not reported fails' ],
	[ 'pg_regress_15_pass.out', 2, 11, '11 1 0', 'PostgreSQL 15: a failing exit status with every test ok fails' ],
	[ 'pg_regress_15_fail.out', 1, 5, '2 3 0',
		'PostgreSQL 15: FAILED, failed (ignored) and an exit code fail; a parallel group counts' ],
	[ 'pg_regress_16_fail.out', 1, 6, '4 2 0', 'PostgreSQL 16: ok and not ok, parallel (+) and single (-)' ],
	[ 'pg_regress_16_bail.out', 2, 4, '2 2 0',
		'PostgreSQL 16: a bail-out between tests fails the tests not run, once each' ],
	[ 'pg_regress_16_nodb.out', 2, 11, '0 11 0', 'PostgreSQL 16: a bail-out before the first test fails them all' ])
{
	my ($file, $status, $want, $expected, $name) = @$case;
	is((counts('regress_counts', "$fixtures/$file", $status, $want))[0], $expected, $name);
}
# pg_regress 16 and 17 mark no test "# SKIP", but TAP allows it
my $skipline = "$tmp/regress_skip.out";
open my $fh, '>', $skipline or die "could not write $skipline: $!";
print $fh "ok 1         - setup                                       12 ms\n",
  "ok 2         - catalog                                      9 ms # SKIP not on this platform\n", "1..2\n";
close $fh;
my ($c, $err) = counts('regress_counts', $skipline, 0, 2);
is($c, '1 0 1', 'pg_regress in TAP: "# SKIP" is skipped, not passed');
like($err, qr/^skipped: ok 2 .* # SKIP not on this platform$/m, 'the skipped test is shown');

# -- TAP from Test::More
# name => [ script body, "passed failed skipped", what it shows ]
my @tap = (
	[ 'passing', q{ok(1, 'a'); ok(1, 'b'); done_testing();}, '2 0 0' ],
	[ 'failing', q{ok(1, 'a'); ok(0, 'b'); ok(1, 'c'); done_testing();}, '2 1 0' ],
	[ 'skip', q{ok(1, 'a'); SKIP: { skip 'no reason', 2; ok(1, 'b'); ok(1, 'c'); } done_testing();},
		'1 0 2', qr/^skipped: ok 2 # skip no reason$/m ],
	[ 'todo', q{ok(1, 'a'); TODO: { local $TODO = 'later'; ok(0, 'b'); ok(1, 'c'); } done_testing();},
		'1 0 2', qr/^skipped: not ok 2 - b # TODO later$/m ],
	[ 'subtest', q{subtest 's' => sub { ok(1, 'x'); ok(1, 'y'); ok(1, 'z'); }; ok(1, 'a'); done_testing();},
		'2 0 0' ],
	[ 'failing subtest', q{subtest 's' => sub { ok(1, 'x'); ok(0, 'y'); }; ok(1, 'a'); done_testing();},
		'1 1 0' ],
	[ 'death', q{ok(1, 'a'); die "gone\n";}, '1 1 0' ],
	[ 'death after a failure', q{ok(1, 'a'); ok(0, 'b'); die "gone\n";}, '1 2 0' ],
	[ 'wrong plan', q{plan tests => 3; ok(1, 'a'); ok(1, 'b');}, '2 1 0' ],
	[ 'skip_all', q{plan skip_all => 'not here';}, '0 0 1', qr/^skipped: 1\.\.0 # SKIP not here$/m ],
	[ 'failing exit status', q{ok(1, 'a'); done_testing(); exit 3;}, '1 1 0' ],
	[ 'no tests', q{done_testing();}, '0 1 0' ],
	[ 'a name with #', q{ok(1, 'a # SKIP in the name'); ok(1, 'b # TODO too'); done_testing();}, '2 0 0' ],
	[ 'bail out', q{ok(1, 'a'); BAIL_OUT('stop');}, '1 1 0' ]);
for my $case (@tap)
{
	my ($name, $body, $expected, $shown) = @$case;
	(my $file = "$tmp/$name") =~ s/ /_/g;
	open my $pl, '>', "$file.pl" or die "could not write $file.pl: $!";
	print $pl "use strict;\nuse warnings;\nuse Test::More;\n$body\n";
	close $pl;
	my $out = '';
	IPC::Run::run([ $^X, "$file.pl" ], '<', \undef, '>&', \$out, IPC::Run::timeout(60));
	my $status = $? >> 8;
	open my $o, '>', "$file.out" or die "could not write $file.out: $!";
	print $o $out;
	close $o;
	my ($got, $shown_err) = counts('tap_counts', "$file.out", $status);
	is($got, $expected, "TAP, $name") or diag("exit status $status, output:\n$out");
	like($shown_err, $shown, "TAP, $name: the skipped line is shown") if $shown;
}

is((counts('counts_line', 608, 1, 2))[0], '608 passed, 1 failed, 2 skipped', 'the summary line');

done_testing();
