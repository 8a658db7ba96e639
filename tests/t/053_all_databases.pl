# tests/t/053_all_databases.pl: pgpull sync --all-databases.
#
# One cluster: databases "shop" and "crm" with the extension, both
# tracking a table named "items"; "nocatalog" without the extension;
# "closed", with the extension, where PUBLIC lacks CONNECT; template1,
# with the extension, a template.  Run as a non-superuser replication role
# made by pgpull.grant_script in each catalog: the destination gets
# shop__items and crm__items, each with its own database's rows, each
# catalog records its own run and bookmark, nocatalog is logged and not
# failed, closed and the templates are never visited.  --state with
# --all-databases is a usage error (exit 2).  A stream that fails in one
# database makes the exit status 1 while the other database still syncs; a
# database that cannot be connected to makes it 3 while the others sync.
# Singer: the STATEs of "--target -" name both databases and their runs,
# and commit-state of the last one moves the bookmarks in both catalogs;
# "--target-command" confirms in both catalogs as the target echoes.  Under
# valgrind a sync and a commit-state are clean.
use strict;
use warnings FATAL => 'all';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::PP;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tools = abs_path(dirname(__FILE__) . '/../singer');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new;

# -- the cluster: the receiver's database "dest" and "postgres" come with it
my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', "CREATE DATABASE $_") for qw(shop crm nocatalog closed);
my %rows = (shop => 300, crm => 120);
for my $db (qw(shop crm closed template1))
{
	my $n = $rows{$db} // 5;
	$node->safe_psql($db, qq{
CREATE EXTENSION pgpull;
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, '$db item ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, $n) g;
SELECT pgpull.track('items', 'key_based', 'updated_at');
});
}
$node->safe_psql('crm', q{
CREATE TABLE notes (id integer PRIMARY KEY, body text);
INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 10) g;
SELECT pgpull.track('notes', 'full_table');
});
$node->safe_psql('nocatalog', 'CREATE TABLE items (id integer PRIMARY KEY)');
$node->safe_psql('postgres', 'REVOKE CONNECT ON DATABASE closed FROM PUBLIC');

# the replication role, made by grant_script in each database it syncs
for my $db (qw(postgres shop crm))
{
	$node->safe_psql($db, $_) for split /\n/,
	  $node->safe_psql($db, q{SELECT s FROM pgpull.grant_script('pgpull_repl', '{public}') s});
}
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'pgpull_repl'}), 'f',
	'the replication role is not a superuser');
my $server = $node->connstr('postgres') . ' user=pgpull_repl';
my $rcv = PgPullTest::receiver($node);

# pgpull with arguments; returns { rc, stdout, stderr }
sub pgpull { return PgPullTest::pgpull(@_); }

# "pgpull sync --all-databases" as the replication role into the receiver
sub sync_all
{
	my (%o) = @_;
	return PgPullTest::sync($node, $rcv, source => $server,
		args => [ '--all-databases', @{ $o{args} // [] } ], %o);
}

# whether the bookmark of items in a database is its greatest key
sub at_greatest
{
	my ($db) = @_;
	return $node->safe_psql($db, q{SELECT bookmark::timestamptz IS NOT DISTINCT FROM (SELECT max(updated_at) FROM items)
		FROM pgpull.streams WHERE destination_table = 'items'});
}

# a word for /bin/sh
sub shq
{
	my ($s) = @_;
	$s =~ s/'/'\\''/g;
	return "'$s'";
}

# -- the command line
{
	my $r = pgpull(args => [ 'sync', '--all-databases', '--source', $server, '--state', $server,
		'--target', '-' ]);
	ok($r->{rc} == 2 && $r->{stderr} =~ /--state cannot be used with --all-databases/
		  && $r->{stderr} =~ /each database keeps its own catalog/,
		'--state with --all-databases: usage error, each database keeps its own catalog')
	  or diag($r->{stderr});
	$r = pgpull(args => [ '--help' ]);
	like($r->{stdout}, qr/--all-databases\s+sync every database the role can connect to/,
		'--help documents --all-databases');
}

# -- every database the role can reach, each in its own catalog
my $r = sync_all();
is($r->{rc}, 0, 'all databases: exit status 0');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'shop__items holds the rows of shop',
	'shop__items', 'shop');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'crm__items holds the rows of crm',
	'crm__items', 'crm');
PgPullTest::same_rows($node, 'notes', 'id, body', 'default', 'crm__notes holds the rows of crm',
	'crm__notes', 'crm');
my %tables = map { $_->{table_name} => 1 } grep { defined $_->{table_name} } @{ $rcv->requests };
is(join(',', sort keys %tables), 'crm__items,crm__notes,shop__items',
	'every batch names its table <database>__<table>');
is(at_greatest($_), 't', "$_: the catalog's bookmark is the greatest key of its own items") for qw(shop crm);
is($node->safe_psql($_, q{SELECT string_agg(status || ' ' || target, ',') FROM pgpull.runs}), 'succeeded import_api',
	"$_: one run, recorded in its own catalog") for qw(shop crm);
is($node->safe_psql('crm', q{SELECT destination_table FROM pgpull.streams ORDER BY 1 LIMIT 1}), 'items',
	'the catalog still knows the stream by its own destination table');
like($r->{stderr}, qr/database "nocatalog" has no pgpull extension: skipped/, 'a database without the extension is noted');
like($r->{stderr}, qr/database "dest" has no pgpull extension: skipped/, 'so is the receiver\'s database');
unlike($r->{stderr}, qr/"closed"|"template[01]"/, 'a database without CONNECT and the templates are not visited');
is($node->safe_psql($_, 'SELECT count(*) FROM pgpull.runs'), '0', "$_: no run in its catalog")
  for qw(closed template1);
is($node->safe_psql('dest', q{SELECT count(*) FROM pg_tables WHERE tablename LIKE 'closed%' OR tablename LIKE 'template%'}),
	'0', 'nothing of closed or template1 reached the destination');
like($r->{stderr}, qr/INFO shop__items stream synced: 300 rows extracted/, 'the run log names streams as the destination does');

# -- a stream that fails in one database: exit 1, the other database syncs
$node->safe_psql('crm', 'DROP TABLE notes');
$node->safe_psql($_, q{UPDATE items SET name = name || ' (changed)', updated_at = '2025-01-01 00:00:00+00' WHERE id <= 3})
  for qw(shop crm);
$rcv->clear_requests;
$r = sync_all();
is($r->{rc}, 1, 'a stream failed in crm: exit status 1');
like($r->{stderr}, qr/ERROR crm__notes .*no longer exists/, 'the error names the stream with its database');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'shop still synced', 'shop__items', 'shop');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'crm items still synced', 'crm__items', 'crm');
is($node->safe_psql('crm', q{SELECT status FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}), 'failed',
	'crm: its run failed');
is($node->safe_psql('shop', q{SELECT status FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}), 'succeeded',
	'shop: its run succeeded');
$node->safe_psql('crm', q{SELECT pgpull.untrack(relation) FROM pgpull.stream WHERE destination_table = 'notes'});

# -- a database that cannot be connected to: exit 3, the others sync
$node->safe_psql('postgres', 'ALTER DATABASE nocatalog CONNECTION LIMIT 0');
$node->safe_psql('shop', q{INSERT INTO items VALUES (1001, 'shop new', '2025-02-01 00:00:00+00')});
$r = sync_all();
is($r->{rc}, 3, 'a database that cannot be connected to: exit status 3');
like($r->{stderr}, qr/error: database "nocatalog": could not connect/, 'the error names the database');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', 'the databases after it still synced',
	'shop__items', 'shop');
$node->safe_psql('postgres', 'ALTER DATABASE nocatalog CONNECTION LIMIT -1');

# -- under valgrind
$node->safe_psql($_, q{UPDATE items SET updated_at = '2025-03-01 00:00:00+00' WHERE id = 5}) for qw(shop crm);
$r = sync_all(valgrind => 1);
is($r->{rc}, 0, 'a sync of all databases under valgrind: exit status 0');
is(at_greatest($_), 't', "$_: the bookmark moved under valgrind") for qw(shop crm);

# -- Singer, --target -: states span the databases; commit-state confirms each in its catalog
$node->safe_psql($_, q{SELECT pgpull.reset('items')}) for qw(shop crm);
$r = pgpull(args => [ 'sync', '--all-databases', '--source', $server, '--target', '-', '--batch-rows', '50' ]);
is($r->{rc}, 0, 'Singer, all databases: exit status 0');
my @messages = map { $json->decode($_) } grep { $_ ne '' } split /\n/, $r->{stdout};
my @states = map { $_->{value} } grep { $_->{type} eq 'STATE' } @messages;
is(join(',', sort keys %{ { map { $_->{stream} => 1 } grep { $_->{type} eq 'SCHEMA' } @messages } }),
	'crm__items,shop__items', 'the streams are named <database>__<table>');
my %runs = map { $_ => $node->safe_psql($_, 'SELECT max(run_id) FROM pgpull.runs') } qw(postgres shop crm);
is_deeply($states[-1]{pgpull}, { version => 1, integration => 'default', databases => \%runs },
	'the last STATE names every database synced and its run');
is(join(',', sort keys %{ $states[-1]{bookmarks} }), 'crm__items,shop__items',
	'the last STATE carries the bookmarks of both databases');
ok((grep { exists $_->{pgpull}{databases}{shop} } @states)
	  && !grep({ exists $_->{bookmarks}{shop__items} && !exists $_->{bookmarks}{crm__items} } @states),
	'each STATE after crm still carries crm');
is($node->safe_psql($_, q{SELECT coalesce(bookmark, '-') FROM pgpull.streams WHERE destination_table = 'items'}),
	'-', "$_: sending moved no bookmark") for qw(shop crm);

my $state_file = "$tmp/states.jsonl";
PostgreSQL::Test::Utils::append_to_file($state_file, join('', map { $json->encode($_) . "\n" } @states));

# a catalog out of reach: exit 3, the other databases applied
$node->safe_psql('postgres', 'ALTER DATABASE crm CONNECTION LIMIT 0');
$r = pgpull(args => [ 'commit-state', '--source', $server, $state_file ]);
is($r->{rc}, 3, 'commit-state with a catalog out of reach: exit status 3');
like($r->{stderr}, qr/error: database "crm": could not connect/, 'the error names the database');
is(at_greatest('shop'), 't', 'shop: commit-state moved the bookmark in its own catalog');
is($node->safe_psql('crm', q{SELECT coalesce(bookmark, '-') FROM pgpull.streams WHERE destination_table = 'items'}),
	'-', 'crm: nothing moved');
$node->safe_psql('postgres', 'ALTER DATABASE crm CONNECTION LIMIT -1');

$r = pgpull(args => [ 'commit-state', '--source', $server, $state_file ], valgrind => 1);
is($r->{rc}, 0, 'commit-state of states spanning databases: exit status 0');
is(at_greatest('crm'), 't', 'crm: commit-state moved the bookmark in its own catalog');
like($r->{stderr}, qr/INFO crm__items the Singer target confirmed/, 'each confirmation names the stream as sent');

# -- Singer, --target-command: each echoed state confirmed in both catalogs
$node->safe_psql($_, q{SELECT pgpull.reset('items')}) for qw(shop crm);
my $target = join(' ', map { shq($_) } '/usr/bin/python3', "$tools/target_pg.py", '--dsn', $node->connstr('dest'),
	'--schema', 'singer_all', '--batch-size', '40');
$r = pgpull(args => [ 'sync', '--all-databases', '--source', $server, '--target-command', $target,
	'--batch-rows', '50' ]);
is($r->{rc}, 0, 'Singer target command, all databases: exit status 0');
is(at_greatest($_), 't', "$_: the target's confirmations moved the bookmark") for qw(shop crm);
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'singer_all', 'the target loaded shop__items',
	'shop__items', 'shop');
PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'singer_all', 'the target loaded crm__items',
	'crm__items', 'crm');

$rcv->stop;
$node->stop;
done_testing();
