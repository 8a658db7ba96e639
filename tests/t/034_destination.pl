# tests/t/034_destination.pl: where the destination token may go, and the
# destination errors no retry can fix.
#
# The token goes to https:// targets, and to http:// only on a loopback
# address (127.0.0.0/8, ::1, localhost, as libcurl parses the host): an
# http:// target elsewhere is a usage error (exit 2) before any connection,
# and an http:// target never goes through a proxy.  A token is at most
# 4096 bytes.  A destination that rejects the token (401) stops the run at
# once: one request, exit 3, the hint, the other streams not tried, no
# bookmark moved.  A TLS handshake that fails (https:// to a plain-HTTP
# port), a certificate that does not verify, a CA file that is no CA file
# and a host name that does not resolve fail at once with exit 3 and say
# what is wrong; a connection cut during the handshake is still retried.
# A --target-command child gets neither PGPULL_TOKEN nor PGPASSWORD.
# Every pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use IO::Socket::INET;
use PgPullTest valgrind => 1;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(time);

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $long_token = 'k' x 4096;

my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', q{
CREATE TABLE a (id integer PRIMARY KEY, updated_at timestamptz NOT NULL);
INSERT INTO a SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 300) g;
CREATE TABLE b (id integer PRIMARY KEY, v text);
INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, 300) g;
SELECT pgpull.track('a', 'key_based', 'updated_at');
SELECT pgpull.track('b', 'full_table');
});
my $rcv = PgPullTest::receiver($node, tokens => { tok => 'default', $long_token => 'default' });
my $nowhere = 'host=/nonexistent dbname=nowhere';

sub runs
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM pgpull.runs');
}

sub bookmarks
{
	return $node->safe_psql('postgres',
		q{SELECT string_agg(relation::text || '=' || coalesce(bookmark, '-') || '/' || coalesce(resume_position::text, '-'),
							' ' ORDER BY relation::text) FROM pgpull.stream});
}

# "at once": seconds within which a run that gives up without a retry
# ends (the retries would add 15 s at least); valgrind starts slower
my $at_once = PgPullTest::valgrind_on() ? 10 : 5;

# a sync, timed: the result of PgPullTest::sync with "seconds"
sub timed_sync
{
	my $start = time;
	my $r = PgPullTest::sync($node, $rcv, @_);
	$r->{seconds} = time - $start;
	return $r;
}

sub no_retry
{
	my ($r) = @_;
	return $r->{stderr} !~ /retry \d+ of \d+/;
}

# -- http:// only to loopback, checked before anything connects
my $runs_before = runs();
for my $t ('http://pgpull-test.invalid', 'http://127.0.0.1.example.com:' . $rcv->port,
	'http://localhost.evil:' . $rcv->port, 'http://[::2]:1', 'http://10.0.0.1')
{
	my $r = PgPullTest::sync($node, $rcv, target => $t);
	ok($r->{rc} == 2
		  && $r->{stderr} =~ /error: --target \Q$t\E would send the destination token unencrypted to /
		  && $r->{stderr} =~ /hint: Use an https:\/\/ target/,
		"http:// to $t: exit status 2, the token would travel unencrypted, use https://")
	  or diag($r->{stderr});
}
is(runs(), $runs_before, 'a refused http:// target: no run was begun');
is(scalar @{ $rcv->requests }, 0, 'a refused http:// target: no request reached the receiver');
for my $t ('http://127.0.0.5:1', 'http://[::1]:1', 'http://LOCALHOST:1', 'http://2130706433:1')
{
	my $r = PgPullTest::sync($node, $rcv, target => $t, source => $nowhere);
	ok($r->{rc} == 3 && $r->{stderr} =~ /could not connect to the state database/
		  && $r->{stderr} !~ /unencrypted/,
		"http:// to $t is a loopback address: accepted")
	  or diag($r->{stderr});
}
my $r;
{
	# a proxy would see the token in clear text: an http:// target uses none
	local $ENV{http_proxy} = 'http://127.0.0.1:1';
	local $ENV{ALL_PROXY} = 'http://127.0.0.1:1';
	$r = PgPullTest::sync($node, $rcv, target => 'http://localhost:' . $rcv->port);
}
is($r->{rc}, 0, 'http://localhost:PORT with a proxy in the environment: synced, not through the proxy');
PgPullTest::same_rows($node, 'a', 'id, updated_at', 'default', 'http://localhost: a equal');
PgPullTest::same_rows($node, 'b', 'id, v', 'default', 'http://localhost: b equal');

# -- the token: at most 4096 bytes, one line of a file
my $tokfile = "$tmp/token";
open my $fh, '>', $tokfile or die "could not write $tokfile: $!";
print $fh "$long_token\r\nsecond line\n";
close $fh;
chmod 0600, $tokfile;
$r = PgPullTest::sync($node, $rcv, token => undef, args => [ '--token-file', $tokfile ]);
is($r->{rc}, 0, 'a token of 4096 bytes (and a CRLF line ending) is used');
open $fh, '>', $tokfile or die "could not write $tokfile: $!";
print $fh "k$long_token\n";
close $fh;
$r = PgPullTest::sync($node, $rcv, token => undef, args => [ '--token-file', $tokfile ]);
ok($r->{rc} == 2 && $r->{stderr} =~ /the first line of token file ".*" is longer than 4096 bytes/,
	'a token file of 4097 bytes: exit status 2, the limit is named')
  or diag($r->{stderr});
$r = PgPullTest::sync($node, $rcv, token => "k$long_token");
ok($r->{rc} == 2 && $r->{stderr} =~ /the destination token in PGPULL_TOKEN is longer than 4096 bytes/,
	'PGPULL_TOKEN of 4097 bytes: exit status 2')
  or diag($r->{stderr});
unlike($r->{stderr}, qr/kkkk/, 'a token too long is not shown');

# -- a rejected token stops the run at once
$node->safe_psql('postgres',
	q{UPDATE a SET updated_at = timestamptz '2025-01-01 00:00:00+00' + id * interval '1 second' WHERE id <= 10});
my $before = bookmarks();
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, token => 'tok-WRONG-c0ffee');
is($r->{rc}, 3, 'wrong token: exit status 3');
is(scalar @{ $rcv->requests }, 1, 'wrong token: one request, the other stream was not tried');
like($r->{stderr}, qr/ERROR \w+ destination rejected the token \(HTTP 401\)/, 'wrong token: the 401 is shown');
like($r->{stderr}, qr/hint: Check the token in PGPULL_TOKEN or in the --token-file file/,
	'wrong token: the hint says to check the token');
like($r->{stderr}, qr/WARNING \w+ stream not synced: the destination rejected the token/,
	'wrong token: the other stream is logged as not synced, and why');
unlike($r->{stderr}, qr/c0ffee/, 'wrong token: the token is not shown');
is(bookmarks(), $before, 'wrong token: no bookmark or resume position moved');
is($node->safe_psql('postgres', q{
	SELECT r.status || ' ' || count(s.stream_id) || ' ' || coalesce(sum(s.rows_loaded + s.batches), 0)
	  FROM pgpull.runs r LEFT JOIN pgpull.run_streams s USING (run_id)
	 WHERE r.run_id = (SELECT max(run_id) FROM pgpull.runs) GROUP BY r.status}),
	'failed 1 0', 'wrong token: the run failed, one stream tried, nothing recorded as loaded');

# -- TLS: a handshake that fails, a certificate that does not verify
my $https_plain = 'https://127.0.0.1:' . $rcv->port;
$r = timed_sync(target => $https_plain);
ok($r->{rc} == 3 && $r->{seconds} < $at_once && no_retry($r),
	sprintf('https:// to a plain-HTTP port: exit status 3 at once (%.1f s), no retry', $r->{seconds}))
  or diag($r->{stderr});
like($r->{stderr}, qr/ERROR \w+ the TLS handshake with the destination failed: .*wrong version number/,
	'https:// to a plain-HTTP port: the message says the TLS handshake failed');
like($r->{stderr}, qr/hint: Check that --target names the destination's HTTPS port/,
	'https:// to a plain-HTTP port: the hint says to check the port');
like($r->{stderr}, qr/stream not synced: the TLS handshake with the destination failed/,
	'https:// to a plain-HTTP port: the other stream is not tried');
is(bookmarks(), $before, 'https:// to a plain-HTTP port: no bookmark moved');

my $tls = PgPullTest::receiver($node, tls => 1, name => 'tls');
$r = timed_sync(target => $tls->url, no_cacert => 1);
ok($r->{rc} == 3 && $r->{seconds} < $at_once && no_retry($r),
	sprintf('https:// without the CA: exit status 3 at once (%.1f s), no retry', $r->{seconds}))
  or diag($r->{stderr});
like($r->{stderr}, qr/ERROR \w+ could not verify the certificate of the destination: SSL certificate problem/,
	'https:// without the CA: the message says the certificate does not verify');
like($r->{stderr}, qr/hint: Name the certificate authority of the destination with --cacert/,
	'https:// without the CA: the hint names --cacert');
my $not_ca = "$tmp/not_a_ca.pem";
open $fh, '>', $not_ca or die "could not write $not_ca: $!";
print $fh "not a certificate\n";
close $fh;
$r = timed_sync(target => $tls->url, no_cacert => 1, args => [ '--cacert', $not_ca ]);
ok($r->{rc} == 3 && $r->{seconds} < $at_once && no_retry($r)
	  && $r->{stderr} =~ /ERROR \w+ could not set up TLS for the destination: error setting certificate file/
	  && $r->{stderr} =~ /hint: Check that the --cacert file/,
	'--cacert naming no certificates: exit status 3 at once, the file is named as the problem')
  or diag($r->{stderr});
$r = PgPullTest::sync($node, $tls);
is($r->{rc}, 0, 'https:// with --cacert: synced');
$tls->stop;
$before = bookmarks();

# -- a host name that does not resolve.  A label of 64 bytes is longer
# than DNS allows: glibc's resolver refuses to build the query, so nothing
# leaves this machine.
my $unresolvable = 'https://' . ('a' x 64) . '.invalid';
$r = timed_sync(target => $unresolvable);
ok($r->{rc} == 3 && $r->{seconds} < $at_once && no_retry($r)
	  && $r->{stderr} =~ /ERROR \w+ could not resolve the host name of the destination: Could not resolve host/
	  && $r->{stderr} =~ /hint: Check the host name in --target/,
	'a host name that does not resolve: exit status 3 at once, the message says so')
  or diag($r->{stderr});

# -- a connection cut during the TLS handshake is network trouble: retried
my $cutter = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 8, ReuseAddr => 1)
  or die "could not listen: $!";
my $cutter_pid = fork;
die "fork failed: $!" unless defined $cutter_pid;
if ($cutter_pid == 0)
{
	# accept, read the ClientHello, close with a reset
	while (my $c = $cutter->accept)
	{
		my $buf;
		sysread($c, $buf, 512);
		setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
		close $c;
	}
	POSIX::_exit(0);
}
$r = PgPullTest::sync($node, $rcv, target => 'https://127.0.0.1:' . $cutter->sockport,
	args => [ '--max-retries', '1' ]);
kill 'KILL', $cutter_pid;
waitpid($cutter_pid, 0);
close $cutter;
ok($r->{rc} == 3 && $r->{stderr} =~ /Connection reset by peer; retry 1 of 1/
	  && $r->{stderr} =~ /Gave up after 2 attempts/,
	'a connection reset during the TLS handshake: retried, then exit status 3')
  or diag($r->{stderr});

# -- the --target-command child does not get the token or the password
my $envfile = "$tmp/target_env";
{
	local $ENV{PGPULL_TOKEN} = 'tok-SECRET-env';
	local $ENV{PGPASSWORD} = 'pw-SECRET-env';
	local $ENV{PGPULL_TEST_MARK} = 'seen';
	$r = PgPullTest::pgpull(args => [ 'sync', '--source', $node->connstr('postgres'),
		'--target-command', "env > '$envfile'; cat > /dev/null" ]);
}
is($r->{rc}, 0, '--target-command: exit status 0');
my $env = slurp_file($envfile);
like($env, qr/^PGPULL_TEST_MARK=seen$/m, '--target-command: the child gets the environment');
unlike($env, qr/^(PGPULL_TOKEN|PGPASSWORD)=/m, '--target-command: but not PGPULL_TOKEN or PGPASSWORD');
unlike($env, qr/SECRET/, '--target-command: no secret anywhere in its environment');

is(bookmarks(), $before, 'after every failure since the https:// sync, no bookmark moved');

$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'a good token again: synced');
PgPullTest::same_rows($node, 'a', 'id, updated_at', 'default', 'in the end: a equal');

$rcv->stop;
done_testing();
