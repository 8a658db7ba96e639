# tests/t/001_basic.pl: the pgpull command line, with no database.
#
# The program answers --help and --version and rejects bad options the way
# PostgreSQL's own programs do; each usage error of pgpull sync exits 2 with
# its message and the line pointing at --help (and of pgpull discover); so
# do a sync without a token and one with a token file it cannot read.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

program_help_ok('pgpull');
program_version_ok('pgpull');
program_options_handling_ok('pgpull');

# pgpull with arguments; returns (exit status, stdout, stderr)
sub run_pgpull
{
	my ($args, %env) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, %env);
	IPC::Run::run([ 'pgpull', @$args ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(120));
	return ($? >> 8, $out, $err);
}

# a usage error: exit 2, the message, and the line pointing at --help
sub usage_error_ok
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($args, $re, $name) = @_;
	my ($rc, $out, $err) = run_pgpull($args, PGPULL_TOKEN => 'tok');
	ok($rc == 2 && $err =~ $re && $err =~ /^Try "pgpull --help" for more information\.$/m,
		"usage error: $name")
	  or diag("exit status $rc, stderr: $err");
	return;
}

my @sync = ('sync', '--source', 'host=/nonexistent dbname=nowhere', '--target', 'http://127.0.0.1:9');
usage_error_ok([ @sync, '--batch-bytes', '0' ], qr/^pgpull: error: --batch-bytes must be in range 1\.\.20000000$/m,
	'--batch-bytes 0');
usage_error_ok([ @sync, '--batch-bytes', '20000001' ], qr/--batch-bytes must be in range 1\.\.20000000/,
	'--batch-bytes over 20 MB is not clamped');
usage_error_ok([ @sync, '--batch-rows', '20001' ], qr/--batch-rows must be in range 1\.\.20000/,
	'--batch-rows over 20000');
usage_error_ok([ @sync, '--batch-rows', 'many' ], qr/invalid value "many" for option --batch-rows/,
	'--batch-rows not a number');
usage_error_ok([ @sync, '--max-retries', '-1' ], qr/--max-retries must be in range 0\.\.100/,
	'--max-retries negative');
usage_error_ok([ @sync, '--http-timeout', '0' ], qr/--http-timeout must be in range/,
	'--http-timeout 0');
usage_error_ok([ @sync, '--cacert', '/dev/null' ], qr/--cacert cannot be used with an http:\/\/ --target/,
	'--cacert with an http target names both options');
usage_error_ok([ 'sync', '--source', 'dbname=x' ], qr/no target given/, 'no --target');
usage_error_ok([ 'sync', '--target', 'http://127.0.0.1:9' ], qr/no source database given/, 'no --source');
usage_error_ok([ 'sync', '--source', 'dbname=x', '--target', 'ftp://h' ], qr/invalid value "ftp:\/\/h" for option --target/,
	'a target that is not http(s)');
usage_error_ok([ 'sync', '--source', 'dbname=x', '--target', 'https://user:secret@h' ], qr/must not contain credentials/,
	'a target with credentials');
usage_error_ok([ 'sync', '--source', 'dbname = = x', '--target', 'http://h' ], qr/invalid connection string for --source/,
	'an invalid connection string');
usage_error_ok([ @sync, 'extra' ], qr/too many command-line arguments \(first is "extra"\)/, 'a stray argument');
usage_error_ok([ 'frobnicate' ], qr/unrecognized command "frobnicate"/, 'an unknown command');
usage_error_ok([ @sync, '--bogus' ], qr/unrecognized option "--bogus"/, 'an unknown sync option');
{
	my ($rc, $out, $err) = run_pgpull([ 'sync', '--help' ]);
	ok($rc == 0 && $out =~ /^Usage:/m && $out =~ /--batch-bytes/ && $err eq '', 'sync --help');
	delete local $ENV{PGPULL_TOKEN};
	($rc, $out, $err) = run_pgpull([@sync]);
	ok($rc == 2 && $err =~ /no destination token/, 'no token: exit 2') or diag($err);
	($rc, $out, $err) = run_pgpull([ @sync, '--token-file', '/nonexistent/token' ]);
	ok($rc == 2 && $err =~ /could not open token file "\/nonexistent\/token"/, 'unreadable token file: exit 2')
	  or diag($err);
}

# the puller's files never include each other in a circle: each concern
# depends on the ones below it (the sinks on sink.h, not on sync.c)
{
	my %deps;
	for my $file (glob('puller/*.c'), glob('puller/*.h'))
	{
		my ($module) = $file =~ m{puller/(\w+)\.[ch]$};
		my $text = slurp_file($file);
		$deps{$module}{$_} = 1 for grep { $_ ne $module } $text =~ /^#include "(\w+)\.h"/mg;
	}
	my @cycles;
	my %state;
	my @path;
	my $visit;
	$visit = sub {
		my ($m) = @_;
		$state{$m} = 1;
		push @path, $m;
		for my $d (sort keys %{ $deps{$m} // {} })
		{
			if (($state{$d} // 0) == 1)
			{
				my ($at) = grep { $path[$_] eq $d } 0 .. $#path;
				push @cycles, join(' -> ', @path[ $at .. $#path ], $d);
			}
			$visit->($d) unless $state{$d};
		}
		pop @path;
		$state{$m} = 2;
	};
	$visit->($_) for grep { !$state{$_} } sort keys %deps;
	ok(keys %deps > 10, 'the puller\'s modules are read');
	is(join("\n", @cycles), '', 'no two files of the puller include each other in a circle');
}

# -- what a new user tripped on: no command, an option given twice, the
# Singer stream sent to a terminal
{
	my ($rc, $out, $err) = run_pgpull([]);
	ok($rc == 2 && $err =~ /^Usage:\n  pgpull sync --source=CONNINFO --target=URL/m
		  && $err =~ /^pgpull: error: no command given$/m && $out eq '',
		'no arguments: the usage summary on stderr, exit 2')
	  or diag("exit status $rc, stderr: $err");
}
usage_error_ok([ @sync, '--target', 'http://127.0.0.1:10' ], qr/^pgpull: error: option --target given more than once$/m,
	'a second --target does not replace the first');
usage_error_ok([ 'sync', '--source', 'dbname=a', '--source', 'dbname=b', '--target', '-' ],
	qr/option --source given more than once/, 'a second --source');
usage_error_ok([ 'commit-state', '--source', 'dbname=a', '--integration', 'a', '--integration', 'b', '-' ],
	qr/option --integration given more than once/, 'commit-state: a second --integration');
usage_error_ok([ @sync, '--force' ], qr/--force goes only with --target -/, '--force without --target -');
usage_error_ok([ 'discover' ], qr/no source database given/, 'discover without --source');
usage_error_ok([ 'discover', '--source', 'dbname=x', '--format', 'csv' ], qr/invalid value "csv" for option --format/,
	'discover: an unknown --format');
usage_error_ok([ 'discover', '--source', 'dbname=x', '--format', 'json', '--format', 'json' ],
	qr/option --format given more than once/, 'discover: a second --format');
usage_error_ok([ 'discover', '--source', 'dbname=x', '--target', 'http://h' ], qr/unrecognized option "--target"/,
	'discover takes no --target');
{
	my ($rc, $out, $err) = run_pgpull([ 'discover', '--help' ]);
	ok($rc == 0 && $out =~ /^  pgpull discover --source=CONNINFO \[--schema=SCHEMA\]\.\.\. \[--format=table\|json\]$/m
		  && $out =~ /^Options of discover:$/m, 'discover --help');
}
SKIP:
{
	# script (util-linux) gives pgpull a terminal on standard output
	my $script = `command -v script 2>/dev/null`;
	chomp $script;
	skip 'script(1) is not installed', 2 unless $script;
	my $cmd = q{pgpull sync --source 'host=/nonexistent dbname=nowhere' --target -};
	my ($out, $err) = ('', '');
	IPC::Run::run([ $script, '-qec', $cmd, '/dev/null' ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	my $rc = $? >> 8;
	ok($rc == 2 && $out =~ /--target - would write Singer messages to a terminal/ && $out =~ /hint: .*--force/,
		'--target - with a terminal on stdout: exit 2, the hint names --force')
	  or diag("exit status $rc, output: $out$err");
	($out, $err) = ('', '');
	IPC::Run::run([ $script, '-qec', "$cmd --force", '/dev/null' ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	$rc = $? >> 8;
	ok($rc == 3 && $out =~ /could not connect/, '--force: it goes on (here to a failed connection, exit 3)')
	  or diag("exit status $rc, output: $out$err");
}

done_testing();
