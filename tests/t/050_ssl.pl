# tests/t/050_ssl.pl: pgpull over SSL, with libpq's own settings.
#
# A test CA signs a server certificate for localhost and 127.0.0.1 and a
# client certificate for the replication role; a second CA signs nothing
# of ours.  The cluster runs with ssl = on and a pg_hba.conf that lets the
# replication role in only over SSL with a client certificate (hostssl ...
# cert).  pgpull passes the conninfo (or the PG* variables) to libpq, so
# every sslmode, sslrootcert, sslcert/sslkey and sslcrl works as libpq
# documents it; here: verify-full with the right CA syncs, the wrong CA,
# the wrong host name, a revoked server certificate and a missing client
# certificate fail with exit status 3 and libpq's reason.
use strict;
use warnings FATAL => 'all';
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $dir = PostgreSQL::Test::Utils::tempdir();

sub openssl
{
	my @args = @_;
	my ($ok, $out, $err) = (0, '', '');
	$ok = IPC::Run::run([ 'openssl', @args ], '<', \undef, '>', \$out, '2>', \$err);
	BAIL_OUT("openssl @args: $err") unless $ok;
	return;
}

sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
	return;
}

# a CA with what "openssl ca" needs to revoke and write a CRL
sub make_ca
{
	my ($name) = @_;
	my $ca = "$dir/$name";
	mkdir $ca;
	write_file("$ca/index.txt", '');
	write_file("$ca/crlnumber", "01\n");
	write_file("$ca/ca.cnf", <<"EOF");
[ca]
default_ca = test_ca
[test_ca]
database = $ca/index.txt
crlnumber = $ca/crlnumber
certificate = $ca/ca.crt
private_key = $ca/ca.key
default_md = sha256
default_crl_days = 2
EOF
	openssl('req', '-new', '-x509', '-days', '2', '-nodes', '-newkey', 'rsa:2048',
		'-subj', "/CN=pgpull $name", '-keyout', "$ca/ca.key", '-out', "$ca/ca.crt",
		'-addext', 'basicConstraints=critical,CA:TRUE',
		'-addext', 'keyUsage=critical,keyCertSign,cRLSign');
	return $ca;
}

# a certificate signed by a CA: NAME.crt and NAME.key (mode 0600) in $dir
sub make_cert
{
	my ($ca, $name, $cn, $san) = @_;
	openssl('req', '-new', '-nodes', '-newkey', 'rsa:2048', '-subj', "/CN=$cn",
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr");
	my @ext;
	if ($san)
	{
		write_file("$dir/$name.ext", "subjectAltName = $san\n");
		@ext = ('-extfile', "$dir/$name.ext");
	}
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$ca/ca.crt", '-CAkey', "$ca/ca.key",
		'-CAcreateserial', '-days', '2', '-out', "$dir/$name.crt", @ext);
	chmod 0600, "$dir/$name.key";
	return;
}

my $ca = make_ca('ca');
my $other_ca = make_ca('other_ca');
make_cert($ca, 'server', 'localhost', 'DNS:localhost,IP:127.0.0.1');
make_cert($ca, 'client', 'regress_repl');
make_cert($other_ca, 'stranger', 'regress_repl');

# a CRL of the CA that revokes nothing, and one that revokes the server's
openssl('ca', '-config', "$ca/ca.cnf", '-gencrl', '-out', "$dir/empty.crl");
openssl('ca', '-config', "$ca/ca.cnf", '-revoke', "$dir/server.crt");
openssl('ca', '-config', "$ca/ca.cnf", '-gencrl', '-out', "$dir/revoked.crl");

my $node = PgPullTest::source_node('ssl',
	conf => qq{
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
ssl_ca_file = '$ca/ca.crt'
},
	hba => "local all all trust\n"
	  . "hostssl all regress_repl 127.0.0.1/32 cert\n"
	  . "host all all 127.0.0.1/32 reject\n");
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text);
INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 50) i;
SELECT pgpull.track('items', 'full_table');
});
$node->safe_psql('postgres', $_) for split /\n/,
  $node->safe_psql('postgres', q{SELECT s FROM pgpull.grant_script('regress_repl', '{public}') s});
my $rcv = PgPullTest::receiver($node);

my $port = $node->port;
my $base = "host=localhost hostaddr=127.0.0.1 port=$port dbname=postgres user=regress_repl";
my $client = "sslcert=$dir/client.crt sslkey=$dir/client.key";

sub sync_with
{
	my ($conninfo, %env) = @_;
	local @ENV{ keys %env } = values %env;
	return PgPullTest::sync($node, $rcv, source => $conninfo);
}

my $r = sync_with("$base sslmode=verify-full sslrootcert=$ca/ca.crt $client");
is($r->{rc}, 0, 'verify-full with the right CA and a client certificate syncs');
PgPullTest::same_rows($node, 'items', 'id, name', 'default', 'and the rows arrive');
like( $node->safe_psql('postgres', q{
		SELECT string_agg(DISTINCT s.ssl::text || ' ' || COALESCE(s.client_dn, ''), ',')
		  FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
		 WHERE a.usename = 'regress_repl'}),
	qr/^(|true \/CN=regress_repl)$/, 'connections of the role are SSL with its certificate');

# the same through libpq's environment variables
$r = sync_with($base,
	PGSSLMODE => 'verify-full', PGSSLROOTCERT => "$ca/ca.crt",
	PGSSLCERT => "$dir/client.crt", PGSSLKEY => "$dir/client.key",
	PGSSLCRL => "$dir/empty.crl");
is($r->{rc}, 0, 'PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY and PGSSLCRL work as well');

# every sslmode that sends the certificate gets in; disable cannot
for my $mode (qw(allow prefer require verify-ca))
{
	$r = sync_with("$base sslmode=$mode sslrootcert=$ca/ca.crt $client");
	is($r->{rc}, 0, "sslmode=$mode syncs");
}
$r = sync_with("$base sslmode=disable $client");
is($r->{rc}, 3, 'sslmode=disable: refused by hostssl, exit status 3');
like($r->{stderr}, qr/no encryption/, 'and libpq says the server wants encryption');

# what verification refuses
$r = sync_with("$base sslmode=verify-full sslrootcert=$other_ca/ca.crt $client");
is($r->{rc}, 3, 'the wrong CA: exit status 3');
like($r->{stderr}, qr/certificate verify failed/, 'with the certificate problem named');

$r = sync_with("host=wrong.name hostaddr=127.0.0.1 port=$port dbname=postgres user=regress_repl"
	  . " sslmode=verify-full sslrootcert=$ca/ca.crt $client");
is($r->{rc}, 3, 'a host name the certificate does not name: exit status 3');
like($r->{stderr}, qr/server certificate for "localhost".*does not match host name "wrong\.name"/,
	'with both names');

$r = sync_with("$base sslmode=verify-full sslrootcert=$ca/ca.crt sslcrl=$dir/revoked.crl $client");
is($r->{rc}, 3, 'a server certificate the CRL revokes: exit status 3');
like($r->{stderr}, qr/certificate verify failed/, 'as a certificate that does not verify (with the empty CRL it did)');

# what the server refuses
$r = sync_with("$base sslmode=verify-full sslrootcert=$ca/ca.crt sslcert=$dir/none.crt sslkey=$dir/none.key");
is($r->{rc}, 3, 'no client certificate: refused, exit status 3');
like($r->{stderr}, qr/connection requires a valid client certificate|certificate authentication failed/,
	'and the server says it wants one');
$r = sync_with("$base sslmode=verify-full sslrootcert=$ca/ca.crt sslcert=$dir/stranger.crt sslkey=$dir/stranger.key");
is($r->{rc}, 3, 'a client certificate of another CA: refused, exit status 3');
unlike($r->{stderr} . $r->{stdout}, qr/PRIVATE KEY|BEGIN CERTIFICATE/, 'no key material in the output');

$rcv->stop;
$node->stop;
done_testing();
