# tests/t/052_ssh.pl: pgpull sync and commit-state through an SSH tunnel.
#
# A real sshd (Debian's openssh-server) runs as the test user on a loopback
# port, with its own host key, authorized key and configuration; the
# cluster listens on 127.0.0.1.  A sync through the tunnel ships every row,
# says where the tunnel goes, and sshd forwarded the connection; --source
# and --state going to two places share one ssh process (the state
# database reached on its Unix socket, as the SSH server sees it);
# commit-state goes through it too; so does a service file's host and port;
# ~/.pgpass matches the database's own port, not the forward's.  An unknown host key, a changed host key, a
# refused key and an unreachable server exit 3 with a message saying which
# and what to do.  Usage errors exit 2 before any ssh starts.  After every
# run, SIGTERM and SIGKILL of pgpull included, no ssh process is left.
# Under valgrind a sync through the tunnel is clean.
use strict;
use warnings FATAL => 'all';
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $user = getpwuid($<);
my $json = JSON::PP->new;

# -- keys: the server's, another server's (for a changed key), the user's
# authorized one, one authorized for one forward only (as the README
# shows), and one the server does not know
for my $key (qw(host_key other_host_key client_key restricted_key stranger_key))
{
	system_or_bail('ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', "pgpull test $key",
		'-f', "$tmp/$key");
}

my $ssh_port = PostgreSQL::Test::Cluster::get_free_port();
my $dead_port = PostgreSQL::Test::Cluster::get_free_port();
my $sshd_log = "$tmp/sshd.log";
PostgreSQL::Test::Utils::append_to_file("$tmp/sshd_config", <<"EOF");
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $tmp/host_key
AuthorizedKeysFile $tmp/authorized_keys
PidFile $tmp/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding local
AllowStreamLocalForwarding local
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
LogLevel DEBUG1
EOF

my $sshd = IPC::Run::start(
	[ '/usr/sbin/sshd', '-D', '-f', "$tmp/sshd_config", '-E', $sshd_log ],
	'<', \undef, '>', \my $sshd_out, '2>', \my $sshd_err);

END
{
	local $?;
	if ($sshd)
	{
		$sshd->signal('TERM');
		eval { $sshd->finish; };
	}
}

my $waited = 0;
until (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ssh_port))
{
	BAIL_OUT("sshd did not start:\n" . (-e $sshd_log ? slurp_file($sshd_log) : ''))
	  if $waited++ > 100;
	usleep(100_000);
}

# the documented setup step: ssh-keyscan, and the fingerprint checked
my ($scanned) = run_command([ 'ssh-keyscan', '-p', $ssh_port, '-t', 'ed25519', '127.0.0.1' ]);
my ($host_type, $host_key) = split / /, slurp_file("$tmp/host_key.pub");
like($scanned, qr/^\[127\.0\.0\.1\]:$ssh_port \Q$host_type $host_key\E$/m,
	'ssh-keyscan gives the key of the server (the fingerprint check of the README)');
PostgreSQL::Test::Utils::append_to_file("$tmp/known_hosts", "$scanned\n");
PostgreSQL::Test::Utils::append_to_file("$tmp/empty_known_hosts", '');
my ($other_type, $other_key) = split / /, slurp_file("$tmp/other_host_key.pub");
PostgreSQL::Test::Utils::append_to_file("$tmp/changed_known_hosts",
	"[127.0.0.1]:$ssh_port $other_type $other_key\n");

my $node = PgPullTest::source_node('src',
	conf => "listen_addresses = '127.0.0.1'",
	hba => "local all all trust\n"
	  . "host all pwuser 127.0.0.1/32 scram-sha-256\n"
	  . "host all all 127.0.0.1/32 trust\n");
my $pgport = $node->port;
PostgreSQL::Test::Utils::append_to_file("$tmp/authorized_keys", slurp_file("$tmp/client_key.pub")
	  . qq{restrict,port-forwarding,permitopen="127.0.0.1:$pgport" } . slurp_file("$tmp/restricted_key.pub"));
chmod 0600, "$tmp/authorized_keys";
$node->safe_psql('postgres', q{
CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD 'pw secret';
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 300) g;
SELECT pgpull.track('items', 'key_based', 'updated_at');
CREATE TABLE big (id integer PRIMARY KEY, v text NOT NULL);
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
SELECT pgpull.track('big', 'full_table', integration => 'slow');
});
my $rcv = PgPullTest::receiver($node, tokens => { tok => 'default', 'tok-slow' => 'slow' });

my $tcp_source = "host=127.0.0.1 port=$pgport dbname=postgres";
my $socket_state = "host=" . $node->host . " port=$pgport dbname=postgres";
my @ssh = ('--ssh', "$user\@127.0.0.1:$ssh_port", '--ssh-identity', "$tmp/client_key",
	'--ssh-known-hosts', "$tmp/known_hosts");

# the ssh processes of this test still running (zombies do not count)
sub ssh_processes
{
	my @pids;
	for my $dir (glob '/proc/[0-9]*')
	{
		my ($pid) = $dir =~ m{(\d+)$};
		open my $fh, '<', "$dir/cmdline" or next;
		my @argv = split /\0/, do { local $/; <$fh> } // '';
		close $fh;
		next unless @argv && $argv[0] eq 'ssh';
		next unless grep { $_ eq $ssh_port || $_ eq $dead_port } @argv;
		open my $st, '<', "$dir/stat" or next;
		my $stat = <$st> // '';
		close $st;
		push @pids, $pid unless $stat =~ /\) Z /;
	}
	return @pids;
}

# whether process pid runs (a zombie does not)
sub running
{
	my ($pid) = @_;
	open my $st, '<', "/proc/$pid/stat" or return 0;
	my $stat = <$st> // '';
	close $st;
	return $stat !~ /\) Z /;
}

# the ssh processes a verbose run says it started
sub ssh_pids
{
	my ($stderr) = @_;
	return $stderr =~ /DEBUG - ssh tunnel: process (\d+):/g;
}

sub sync
{
	my (%o) = @_;
	return PgPullTest::sync($node, $rcv, source => $o{source} // $tcp_source, %o,
		args => [ '-v', @{ $o{ssh} // \@ssh }, @{ $o{args} // [] } ]);
}

# -- a sync through the tunnel
my $r = sync();
is($r->{rc}, 0, 'a sync through the tunnel: exit status 0');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'the rows arrived');
like($r->{stderr}, qr/INFO - ssh tunnel to \Q$user\E\@127\.0\.0\.1:$ssh_port: 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:$pgport\n/,
	'the log says where the tunnel goes');
my @pids = ssh_pids($r->{stderr});
is(scalar @pids, 1, 'one ssh process');
ok(!running($pids[0]), 'it is gone after the run');
like(slurp_file($sshd_log), qr/direct_tcpip: originator 127\.0\.0\.1 port \d+, target 127\.0\.0\.1 port $pgport/,
	'sshd forwarded the connections to the database');
unlike($r->{stderr}, qr/ssh tunnel: process \d+: [^\n]*tok/, 'no token on the ssh command line');

# -- source and state in two places: one ssh process, two forwards
$node->safe_psql('postgres', q{INSERT INTO items VALUES (301, 'item 301', '2025-01-01 00:00:00+00')});
$r = sync(args => [ '--state', $socket_state ]);
is($r->{rc}, 0, '--source and --state through the tunnel: exit status 0');
like($r->{stderr}, qr/ssh tunnel to [^\n]*: 127\.0\.0\.1:\d+ -> \Q${\ $node->host }\E\/\.s\.PGSQL\.$pgport, 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:$pgport\n/,
	'two forwards: the state database on its socket, the source on TCP');
@pids = ssh_pids($r->{stderr});
is(scalar @pids, 1, 'one ssh process carries both');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'the new row arrived');

# -- commit-state through the tunnel
$r = sync(target => '-', args => [ '--integration', 'slow', '--batch-rows', '2000' ]);
is($r->{rc}, 0, 'Singer messages through the tunnel: exit status 0');
my @states = map { $json->encode($_->{value}) }
  grep { $_->{type} eq 'STATE' } map { $json->decode($_) } split /\n/, $r->{stdout};
PostgreSQL::Test::Utils::append_to_file("$tmp/states.jsonl", join("\n", @states) . "\n");
my ($out, $err) = ('', '');
IPC::Run::run([ 'pgpull', 'commit-state', '-v', '--source', $tcp_source, '--integration', 'slow', @ssh,
		"$tmp/states.jsonl" ], '<', \undef, '>', \$out, '2>', \$err);
is($? >> 8, 0, 'commit-state through the tunnel: exit status 0');
like($err, qr/ssh tunnel to .* -> 127\.0\.0\.1:$pgport\n.*states? of \S+ applied: 1 bookmark moved/s,
	'it applied the state through the tunnel');
ok(!running($_), 'its ssh is gone') for ssh_pids($err);

# -- a service file's host and port are forwarded
PostgreSQL::Test::Utils::append_to_file("$tmp/pg_service.conf",
	"[pgpull_tunnel]\nhost=127.0.0.1\nport=$pgport\ndbname=postgres\n");
{
	local $ENV{PGSERVICEFILE} = "$tmp/pg_service.conf";
	$r = sync(source => 'service=pgpull_tunnel');
	is($r->{rc}, 0, 'a service through the tunnel: exit status 0');
	like($r->{stderr}, qr/ssh tunnel to [^\n]*: 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:$pgport\n/,
		'the service\'s host and port are forwarded');
}

# -- ~/.pgpass is matched with the database's port, not the forward's
my $pw_source = "$tcp_source user=pwuser";
PostgreSQL::Test::Utils::append_to_file("$tmp/pgpass_other_port", "127.0.0.1:1:postgres:pwuser:pw secret\n");
PostgreSQL::Test::Utils::append_to_file("$tmp/pgpass", "# the database's own port\n127.0.0.1:$pgport:postgres:pwuser:pw\\ secret\n");
chmod 0600, "$tmp/pgpass", "$tmp/pgpass_other_port";
{
	local $ENV{PGPASSFILE} = "$tmp/pgpass_other_port";
	$r = sync(source => $pw_source);
	is($r->{rc}, 3, 'no password file line for the database: exit status 3');
	like($r->{stderr}, qr/a password is required/, 'a password is required');
	$ENV{PGPASSFILE} = "$tmp/pgpass";
	$r = sync(source => $pw_source);
	is($r->{rc}, 0, 'the password file line of the database\'s host and port: exit status 0');
}

# -- a key allowed to forward to the database only
my @restricted = ('--ssh', "$user\@127.0.0.1:$ssh_port", '--ssh-identity', "$tmp/restricted_key",
	'--ssh-known-hosts', "$tmp/known_hosts");
$r = sync(ssh => \@restricted);
is($r->{rc}, 0, 'a key restricted to the database\'s forward: exit status 0');
$r = sync(ssh => \@restricted, source => "host=127.0.0.1 port=$dead_port dbname=postgres");
is($r->{rc}, 3, 'a forward the key does not allow: exit status 3');
like($r->{stderr}, qr/detail: ssh: channel \d+: open failed: administratively prohibited: open failed\npgpull: hint: The ssh server does not allow forwarding to this host and port/,
	'a forward the key does not allow: the error says so');

# -- the failures: exit status 3, which, and what to do
$r = sync(ssh => [ @ssh[ 0 .. 3 ], '--ssh-known-hosts', "$tmp/empty_known_hosts" ]);
is($r->{rc}, 3, 'unknown host key: exit status 3');
like($r->{stderr}, qr/error: could not open the ssh tunnel to \S+: the host key of the ssh server is not known\n.*detail: .*No ED25519 host key is known for \[127\.0\.0\.1\]:$ssh_port.*\n.*hint: Add the server's key with "ssh-keyscan -p $ssh_port 127\.0\.0\.1 >> /s,
	'unknown host key: the message says so and how to add it');
ok(!running($_), 'unknown host key: no ssh left') for ssh_pids($r->{stderr});

$r = sync(ssh => [ @ssh[ 0 .. 3 ], '--ssh-known-hosts', "$tmp/changed_known_hosts" ]);
is($r->{rc}, 3, 'changed host key: exit status 3');
like($r->{stderr}, qr/the host key of the ssh server has changed\n.*\n.*hint: If the server's key was replaced on purpose, remove the old one with "ssh-keygen -R '\[127\.0\.0\.1\]:$ssh_port'/,
	'changed host key: the message says so and what to do');

$r = sync(ssh => [ '--ssh', "$user\@127.0.0.1:$ssh_port", '--ssh-identity', "$tmp/stranger_key",
		'--ssh-known-hosts', "$tmp/known_hosts" ]);
is($r->{rc}, 3, 'refused key: exit status 3');
like($r->{stderr}, qr/the ssh server refused the key\n.*Permission denied \(publickey\).*\n.*hint: Check that the public key of \S+stranger_key is in ~\/\.ssh\/authorized_keys/,
	'refused key: the message says so and what to check');

$r = sync(ssh => [ '--ssh', "$user\@127.0.0.1:$dead_port", @ssh[ 2 .. 5 ] ]);
is($r->{rc}, 3, 'unreachable ssh server: exit status 3');
like($r->{stderr}, qr/the ssh server is unreachable\n.*detail: .*port $dead_port: Connection refused/,
	'unreachable ssh server: the message says so');

$r = sync(source => "host=127.0.0.1 port=$dead_port dbname=postgres");
is($r->{rc}, 3, 'a database the ssh server cannot reach: exit status 3');
like($r->{stderr}, qr/could not connect to the state database: .*\n(?:.*\n)*?pgpull: detail: ssh: channel \d+: open failed: connect failed: Connection refused\npgpull: hint: The ssh server could not reach the database/,
	'the error says the ssh server could not reach it');
is(join(',', ssh_processes()), '', 'no ssh process left after the failures');

# -- usage errors: exit status 2, no ssh started
my @usage = (
	[ [ '--ssh-identity', "$tmp/client_key" ], qr/--ssh-identity needs --ssh/, '--ssh-identity alone' ],
	[ [ '--ssh', '-oProxyCommand=true' ], qr/invalid value "-oProxyCommand=true" for option --ssh/,
		'a --ssh that ssh would take for an option' ],
	[ [ @ssh[ 0 .. 1 ], '--ssh-identity', "$tmp/no_such_key" ], qr/could not read --ssh-identity file/,
		'a missing identity file' ],
	[ [@ssh], qr/--source lists several hosts: --ssh forwards one/, 'several hosts',
		'host=127.0.0.1,127.0.0.2 port=1,2' ]);
for my $u (@usage)
{
	my ($args, $re, $name, $source) = @$u;
	$r = sync(ssh => [], args => $args, $source ? (source => $source) : ());
	is($r->{rc}, 2, "$name: exit status 2");
	like($r->{stderr}, $re, "$name: the message");
}
is(join(',', ssh_processes()), '', 'no ssh process left after the usage errors');

# -- SIGTERM during a run: the run is recorded as interrupted (through the
# tunnel), then ssh stops
sub slow_run
{
	$rcv->set_faults([ map { { kind => 'slow', seconds => 1 } } 1 .. 30 ]);
	$rcv->clear_requests;
	my $run = PgPullTest::start_sync($node, $rcv, token => 'tok-slow', source => $tcp_source,
		args => [ '-v', @ssh, '--integration', 'slow', '--batch-rows', '100' ]);
	my $waited = 0;
	while ((${ $run->{stderr} } !~ /ssh tunnel: process \d+/ || @{ PgPullTest::accepted($rcv, 'big') } < 1)
		&& $waited++ < 600)
	{
		$run->{harness}->pump_nb;
		usleep(100_000);
	}
	return $run;
}
my $run = slow_run();
my ($pid) = ssh_pids(${ $run->{stderr} });
ok(running($pid), 'SIGTERM: ssh runs while the run does');
unlike(slurp_file("/proc/$pid/environ"), qr/(?:^|\0)PGPULL_TOKEN=/, 'the token is not in ssh\'s environment');
$run->{harness}->signal('TERM');
my $termed = PgPullTest::finish_sync($run);
is($termed->{signal}, 15, 'SIGTERM: pgpull dies by SIGTERM');
is($node->safe_psql('postgres',
		q{SELECT status || ': ' || error FROM pgpull.runs WHERE integration = 'slow' ORDER BY run_id DESC LIMIT 1}),
	'failed: interrupted by a signal (SIGTERM)', 'SIGTERM: the run is recorded through the tunnel');
ok(!running($pid), 'SIGTERM: ssh is gone');

# -- SIGKILL: ssh dies with pgpull
$run = slow_run();
($pid) = ssh_pids(${ $run->{stderr} });
ok(running($pid), 'SIGKILL: ssh runs while the run does');
$run->{harness}->signal('KILL');
my $killed = PgPullTest::finish_sync($run);
is($killed->{signal}, 9, 'SIGKILL: pgpull killed');
$waited = 0;
usleep(100_000) while running($pid) && $waited++ < 100;
ok(!running($pid), 'SIGKILL: ssh is gone too');
$rcv->clear_faults;
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory'})
  or die 'the killed puller\'s sessions did not go away';

# -- valgrind, through the tunnel
$node->safe_psql('postgres', q{INSERT INTO items VALUES (302, 'item 302', '2025-02-01 00:00:00+00')});
$r = sync(valgrind => 1, timeout => 900);
is($r->{rc}, 0, 'under valgrind: exit status 0');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'under valgrind: the rows arrived');
ok(!running($_), 'under valgrind: ssh is gone') for ssh_pids($r->{stderr});

is(join(',', ssh_processes()), '', 'no ssh process of the test is left');
$rcv->stop;
done_testing();
