# tests/t/044_scheduling.pl: README's "Scheduling" section, checked.
#
# The systemd service and timer README shows (the ```ini blocks that follow
# a "<!-- scheduling: NAME -->" line) pass "systemd-analyze verify" with
# nothing to say (its warnings, such as an unknown key, fail the test: a
# misspelt key is shown to be caught), ExecStart pointing at the installed
# pgpull when /usr/local/bin/pgpull is not there.  The timer has
# Persistent= and RandomizedDelaySec=, the service takes the token as a
# credential.  The pgpull command lines of the cron line and of ExecStart
# use only options pgpull knows (each is run with --help appended).
# Overlapping runs: while a first run holds the stream (a slow
# destination), a second run exits at once with status 0, saying that it
# skipped the stream and why; the first then ends as usual.
use strict;
use warnings FATAL => 'all';
use File::Temp qw(tempdir);
use FindBin;
use IPC::Run;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $readme = slurp_file("$FindBin::RealBin/../../README.md");

# the block of README that follows "<!-- scheduling: NAME -->"
sub block
{
	my ($name) = @_;
	$readme =~ /^<!-- scheduling: \Q$name\E -->\n```\w*\n(.*?)^```$/ms
	  or die "README has no block marked \"scheduling: $name\"";
	return $1;
}

my $service = block('pgpull.service');
my $timer = block('pgpull.timer');
my $cron = block('crontab');
like($timer, qr/^Persistent=true$/m, 'the timer catches up on runs missed while the machine was off');
like($timer, qr/^RandomizedDelaySec=\S+$/m, 'the timer spreads its start');
like($service, qr/^LoadCredential=(\S+):/m, 'the service loads the token as a credential');
my ($credential) = $service =~ /^LoadCredential=([^:]+):/m;
like($service, qr/--token-file=\$\{CREDENTIALS_DIRECTORY\}\/\Q$credential\E(\s|$)/m,
	'and gives pgpull its file');

# -- systemd-analyze verify, on copies in a directory of their own
my $dir = tempdir(CLEANUP => 1);
my ($pgpull) = grep { -x $_ } ('/usr/local/bin/pgpull', map { "$_/pgpull" } split /:/, $ENV{PATH});
ok(defined $pgpull, "pgpull is installed ($pgpull)");
(my $installed = $service) =~ s{^ExecStart=/usr/local/bin/pgpull }{ExecStart=$pgpull }m;

sub verify
{
	my (%units) = @_;
	for my $name (keys %units)
	{
		open my $fh, '>', "$dir/$name" or die "could not write $dir/$name: $!";
		print $fh $units{$name};
		close $fh;
	}
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'systemd-analyze', 'verify', map { "$dir/$_" } sort keys %units ],
		'>', \$out, '2>', \$err);
	my $rc = $? >> 8;
	unlink "$dir/$_" for keys %units;
	return ($rc, $out . $err);
}

my ($rc, $said) = verify('pgpull.service' => $installed, 'pgpull.timer' => $timer);
is($rc, 0, 'systemd-analyze verify: exit status 0');
is($said, '', 'systemd-analyze verify: nothing to say');
($rc, $said) = verify('pgpull.service' => $installed, 'pgpull.timer' => $timer =~ s/^Persistent=/Persistant=/mr);
like($said, qr/Unknown key 'Persistant'/, 'a misspelt key would be caught');
($rc, $said) = verify('pgpull.service' => $installed =~ s{^ExecStart=\S+}{ExecStart=$dir/nosuch}mr,
	'pgpull.timer' => $timer);
isnt($rc, 0, 'so would a program that is not there');

# -- the command lines use options pgpull knows
my ($exec) = $service =~ /^ExecStart=\S+ (.*)$/m;
$exec =~ s/\$\{CREDENTIALS_DIRECTORY\}/\/run\/credentials\/pgpull.service/g;
my ($cron_cmd) = $cron =~ /^(?:\S+\s+){6}pgpull (.*?)\s*(?:>>.*)?$/m;
ok(defined $cron_cmd, 'the cron line runs pgpull as a user');
for my $case ([ 'ExecStart', $exec ], [ 'cron', $cron_cmd ])
{
	my @args = split ' ', $case->[1];
	s/^'(.*)'$/$1/ for @args;
	s/^(--\w[\w-]*=)'(.*)'$/$1$2/ for @args;
	my $r = PgPullTest::pgpull(args => [ @args, '--help' ], valgrind => 0);
	is($r->{rc}, 0, "$case->[0]: pgpull takes its options ($case->[1])");
}

# -- overlapping runs: the second skips what the first holds, at once
my $node = PgPullTest::source_node('sched');
$node->safe_psql('postgres', q{
CREATE TABLE t (id integer PRIMARY KEY, v text);
INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 3000) i;
SELECT pgpull.track('t', 'full_table');
});
my $rcv = PgPullTest::receiver($node);
$rcv->set_faults([ map { { kind => 'slow', seconds => 2 } } 1 .. 3 ]);
my $first = PgPullTest::start_sync($node, $rcv, args => [ '--batch-rows' => 1000 ]);
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pgpull.run_streams WHERE status = 'running'})
  or die 'the first run never took the stream';
my $t0 = time();
my $second = PgPullTest::sync($node, $rcv, args => [ '--batch-rows' => 1000 ]);
my $took = time() - $t0;
is($second->{rc}, 0, 'the second run: exit status 0');
like($second->{stderr}, qr/^\S+ \S+ INFO t stream is being synced by another puller, skipped$/m,
	'it says which stream it skipped and why');
like($second->{stderr}, qr/INFO - run \d+ succeeded: 0 synced, 0 failed, 1 skipped$/m, 'and sums it up');
ok($took < 5, sprintf('it exits at once (%.1f s) while the first goes on', $took));
my $r1 = PgPullTest::finish_sync($first);
$rcv->clear_faults;
is($r1->{rc}, 0, 'the first run: exit status 0');
like($r1->{stderr}, qr/INFO - run \d+ succeeded: 1 synced, 0 failed, 0 skipped$/m, 'it synced the stream');
is($node->safe_psql('postgres', q{SELECT string_agg(status, ',' ORDER BY run_id) FROM pgpull.run_streams}),
	'succeeded,skipped', 'the catalog: one run synced it, the other skipped it');
PgPullTest::same_rows($node, 't', 'id, v', 'default', 'every row is at the destination');

done_testing();
