# tests/t/020_grants.pl: the SCRAM verifier pgpull.grant_script puts in
# place of a password lets the role log in with that password (and no
# other), the password itself never reaches the script or the server log,
# and pgpull.check_standby on a streaming standby: defaults flagged, its
# fixes bring every row to ok, the replication role can call it.
use strict;
use warnings FATAL => 'all';
use Encode qw(encode);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $password = 'pa$$ w0rd"';

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1, extra => [ '--encoding=UTF8', '--locale=C' ]);
$primary->append_conf('postgresql.conf', qq{
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
});
# local connections (the harness, the standby's walreceiver) trust; TCP
# asks for a SCRAM password
open my $hba, '>', $primary->data_dir . '/pg_hba.conf' or die "pg_hba.conf: $!";
print $hba "local all all trust\n";
print $hba "local replication all trust\n";
print $hba "host all all 127.0.0.1/32 scram-sha-256\n";
close $hba;
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pgpull');

# the script, with the password given as it is
my $script = $primary->safe_psql('postgres',
	q{SELECT s FROM pgpull.grant_script('regress_repl', '{public}', 'pa$$ w0rd"') s});
my @rows = split /\n/, $script;
like($rows[0], qr{^-- run as a superuser or a role with CREATEROLE, or create role "regress_repl" first},
	'the first row says what running the script takes');
like($rows[1],
	qr{^CREATE ROLE regress_repl LOGIN PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}='$},
	'the role is created with a SCRAM-SHA-256 verifier');
is(scalar(grep { index($_, 'w0rd') >= 0 } @rows), 0, 'the password appears in no row of the script');
ok((grep { $_ eq 'GRANT EXECUTE ON FUNCTION pgpull.check_standby() TO regress_repl' } @rows),
	'the script grants EXECUTE on check_standby');
$primary->safe_psql('postgres', $_) foreach @rows;
my ($verifier) = $rows[1] =~ /PASSWORD '([^']*)'/;
is($primary->safe_psql('postgres', q{SELECT rolpassword FROM pg_authid WHERE rolname = 'regress_repl'}),
	$verifier, 'the server stores the verifier as it is');

my $tcp = 'host=127.0.0.1 dbname=postgres port=';
{
	local $ENV{PGPASSWORD} = $password;
	$primary->connect_ok($tcp . $primary->port . ' user=regress_repl',
		'the role logs in with the password',
		sql => 'SELECT current_user',
		expected_stdout => qr/^regress_repl$/);
}
{
	local $ENV{PGPASSWORD} = 'pa$$ w0rd';
	$primary->connect_fails($tcp . $primary->port . ' user=regress_repl',
		'a wrong password fails',
		expected_stderr => qr/password authentication failed/);
}

# a non-ASCII password, prepared the way libpq's SASLprep prepares it: a
# decomposed a-umlaut and a no-break space log in as their NFKC forms do
my $typed = "pa\x{0308}ss\x{00a0}w\x{fb01}";
my $script_uni = $primary->safe_psql('postgres',
	encode('UTF-8', "SELECT s FROM pgpull.grant_script('regress_uni', '{}', '$typed') s"));
$primary->safe_psql('postgres', $_) foreach split /\n/, $script_uni;
foreach my $form ($typed, "p\x{e4}ss wfi")
{
	local $ENV{PGPASSWORD} = encode('UTF-8', $form);
	$primary->connect_ok($tcp . $primary->port . ' user=regress_uni',
		'a non-ASCII password logs in (' . ($form eq $typed ? 'as typed' : 'normalized') . ')',
		sql => 'SELECT 1');
}
{
	local $ENV{PGPASSWORD} = encode('UTF-8', "p\x{e4}ss w");
	$primary->connect_fails($tcp . $primary->port . ' user=regress_uni',
		'a non-ASCII password: a wrong one fails');
}

# with log_statement = all the server logs the call of grant_script itself
# (which \password avoids), but nothing the script ran
my $log = slurp_file($primary->logfile);
my @seen = grep { index($_, $password) >= 0 } split /\n/, $log;
ok(@seen > 0, 'the call of grant_script is logged with its arguments');
is(scalar(grep { !/statement: SELECT s FROM pgpull\.grant_script\(/ } @seen), 0,
	'the server log has the password only in the call of grant_script');
like($log, qr/CREATE ROLE regress_repl LOGIN PASSWORD 'SCRAM-SHA-256/,
	'the server log saw the verifier (log_statement = all)');

# on the primary every check_standby row is ok
is($primary->safe_psql('postgres', 'SELECT bool_and(ok) AND bool_and(fix IS NULL) FROM pgpull.check_standby()'),
	't', 'on a primary every row is ok and needs no fix');
is($primary->safe_psql('postgres', q{SELECT value FROM pgpull.check_standby() WHERE setting = 'in_recovery'}),
	'false', 'on a primary in_recovery is false');

# a streaming standby
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', 'CREATE TABLE public.after_backup (id int)');
$primary->wait_for_catchup($standby);

my $rows = $standby->safe_psql('postgres',
	q{SELECT setting || '|' || coalesce(value, '') || '|' || ok || '|' || coalesce(fix, '')
	    FROM pgpull.check_standby()});
my %check = map { my @f = split /\|/, $_, 4; ($f[0] => { value => $f[1], ok => $f[2], fix => $f[3] }) }
	split /\n/, $rows;
is($check{in_recovery}{value}, 'true', 'on the standby in_recovery is true');
is($check{in_recovery}{ok}, 'true', 'a standby is what is recommended');
is($check{hot_standby}{ok}, 'true', 'hot_standby is on');
foreach my $setting (qw(max_standby_streaming_delay max_standby_archive_delay))
{
	is($check{$setting}{value}, '30s', "$setting shows the setting's text");
	is($check{$setting}{ok}, 'false', "the default $setting is not ok");
	is($check{$setting}{fix}, "ALTER SYSTEM SET $setting = '12h'; SELECT pg_reload_conf();",
		"$setting comes with its fix");
}
is($check{hot_standby_feedback}{ok}, 'false', 'hot_standby_feedback off is not ok');
like($check{hot_standby_feedback}{fix}, qr/^ALTER SYSTEM SET hot_standby_feedback = 'on'; SELECT pg_reload_conf\(\);$/,
	'hot_standby_feedback comes with its fix');
ok(exists $check{replay_lag}, 'replay_lag is checked');
ok(exists $check{confl_snapshot} && exists $check{confl_lock}, 'conflict counters are checked');

# the fixes, run on the standby, bring every row to ok
my @fixes = split /\n/, $standby->safe_psql('postgres',
	'SELECT fix FROM pgpull.check_standby() WHERE NOT ok');
is(scalar(@fixes), 3, 'three fixes');
$standby->safe_psql('postgres', $_) foreach @fixes;
ok($standby->poll_query_until('postgres', 'SELECT bool_and(ok) FROM pgpull.check_standby()'),
	'after the fixes every row is ok on the standby');
is($standby->safe_psql('postgres',
		q{SELECT value FROM pgpull.check_standby() WHERE setting = 'max_standby_streaming_delay'}),
	'12h', 'the new delay shows');

# the replication role, with its password, calls it on the standby
{
	local $ENV{PGPASSWORD} = $password;
	my ($ret, $stdout, $stderr) = $standby->psql('postgres',
		'SELECT count(*) > 6, bool_and(ok) FROM pgpull.check_standby()',
		connstr => $tcp . $standby->port . ' user=regress_repl');
	is($ret, 0, 'the replication role calls check_standby on the standby');
	is($stdout, 't|t', 'and reads every row');
	is($stderr, '', 'without an error');
}
# a role without the grant cannot
$primary->safe_psql('postgres', 'CREATE ROLE regress_other LOGIN; GRANT USAGE ON SCHEMA pgpull TO regress_other');
$primary->wait_for_catchup($standby);
my ($ret, $stdout, $stderr) = $standby->psql('postgres', 'SELECT count(*) FROM pgpull.check_standby()',
	extra_params => [ '-U', 'regress_other' ]);
like($stderr, qr/permission denied for function check_standby/, 'a role without the grant cannot call it');

$standby->stop;
$primary->stop;

done_testing();
