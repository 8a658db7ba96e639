# tests/t/039_discover.pl: "pgpull discover".
#
# A source with every kind of relation, one tracked table, a column the
# replication role may not read and a table name holding control
# characters.  discover prints an aligned table by default and a JSON array
# with --format json; --schema narrows it, and may be given several times;
# run as the role grant_script makes, it shows what that role sees (the
# unreadable column named, the other schema left out).  A database without
# the extension, an unknown schema and bad options exit 2; a server that
# cannot be reached exits 3.  pgpull runs under valgrind, which reports
# nothing.
use strict;
use warnings FATAL => 'all';
use JSON::PP;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('discover');
$node->safe_psql('postgres', q{
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigint PRIMARY KEY, name text, doc json, updated_at timestamptz);
CREATE INDEX ON shop.customers (updated_at);
INSERT INTO shop.customers SELECT g, 'c' || g, '{}', now() FROM generate_series(1, 1000) g;
ANALYZE shop.customers;
CREATE TABLE shop.orders (id integer PRIMARY KEY, customer_id bigint, total numeric(12,2))
  PARTITION BY RANGE (id);
CREATE TABLE shop.orders_1 PARTITION OF shop.orders FOR VALUES FROM (0) TO (1000);
CREATE VIEW shop.big_orders AS SELECT id, total FROM shop.orders WHERE total > 100;
CREATE MATERIALIZED VIEW shop.daily AS SELECT 1 AS n;
CREATE TABLE shop.pay (id integer PRIMARY KEY, salary numeric, changed_at timestamptz);
DO $$ BEGIN EXECUTE format('CREATE TABLE shop.%I (id integer)', E'odd\nname\x1b[31m'); END $$;
CREATE SCHEMA hr;
CREATE TABLE hr.staff (id integer PRIMARY KEY);
SELECT pgpull.track('shop.customers', 'key_based', 'updated_at');
});
# the replication role, as the README makes it, reading shop but not pay.salary
$node->safe_psql('postgres', q{
SET client_min_messages = warning;
SELECT * FROM pgpull.grant_script('pgpull_repl', '{shop}') \gexec
REVOKE SELECT ON shop.pay FROM pgpull_repl;
GRANT SELECT (id, changed_at) ON shop.pay TO pgpull_repl;
});
my $owner = $node->connstr('postgres');
my $repl = $node->connstr('postgres') . ' user=pgpull_repl';

sub discover
{
	my (@args) = @_;
	return PgPullTest::pgpull(args => [ 'discover', @args ]);
}

# -- the table, for people
my $r = discover('--source' => $owner);
is($r->{rc}, 0, 'discover: exit 0');
my @lines = split /\n/, $r->{stdout};
like($lines[0], qr/^RELATION +KIND +ROWS +PRIMARY KEY +REPLICATION KEYS +COLUMNS LEFT OUT +TRACKED$/,
	'the title line');
my ($customers) = grep { /^shop\.customers / } @lines;
like($customers // '',
	qr/^shop\.customers +table +1000  id +id, updated_at +- +default: key_based \(updated_at\)$/,
	'a tracked table: rows, primary key, keys indexed first, its stream');
my $kind_at = index($lines[0], 'KIND');
ok((grep { substr($_, $kind_at - 2, 2) eq '  ' && substr($_, $kind_at, 1) =~ /\S/ } @lines[ 1 .. $#lines - 1 ])
	  == @lines - 2, 'the columns are aligned');
like($r->{stdout}, qr/^shop\.big_orders +view +- +- +id, total +- +-$/m, 'a view: no rows estimate, no primary key');
like($r->{stdout}, qr/^shop\.orders +partitioned table /m, 'a partitioned table');
unlike($r->{stdout}, qr/orders_1/, 'its partitions are left out');
like($r->{stdout}, qr/^shop\.daily +materialized view /m, 'a materialized view');
like($r->{stdout}, qr/^hr\.staff +table /m, 'the other schema');
unlike($r->{stdout}, qr/pgpull\.|pg_catalog|information_schema/, 'no system or pgpull relation');
unlike($r->{stdout}, qr/\x1b/, 'control characters of a name do not reach the terminal');
like($r->{stdout}, qr/^shop\."odd\?name\?\[31m" +table /m, 'they are shown as "?"');
like($lines[-1], qr/^\(7 relations\)$/, 'the count last');
is($r->{stderr}, '', 'nothing on stderr');

# -- JSON, for scripts; --schema may repeat
$r = discover('--source' => $owner, '--format' => 'json', '--schema' => 'hr', '--schema' => 'shop');
is($r->{rc}, 0, '--format json: exit 0');
my $rels = eval { decode_json($r->{stdout}) };
is(ref $rels, 'ARRAY', 'a JSON array') or diag($@);
my %by = map { ($_->{relation} => $_) } @{ $rels // [] };
is_deeply(
	$by{'shop.customers'},
	{
		schema_name => 'shop',
		relation_name => 'customers',
		relation => 'shop.customers',
		kind => 'table',
		estimated_rows => 1000,
		primary_key => ['id'],
		replication_keys => [ 'id', 'updated_at' ],
		unreadable_columns => [],
		unsupported_columns => [],
		tracked => [ { integration => 'default', method => 'key_based', replication_key => 'updated_at' } ]
	},
	'an object per relation, the columns of pgpull.discover()');
is($by{'shop.big_orders'}{primary_key}, undef, 'a view has no primary key (null)');
is($by{'shop.big_orders'}{estimated_rows}, undef, 'nor a rows estimate');
is_deeply([ (map { $_->{relation} } @{ $rels // [] })[ 0, 1 ] ], [ 'hr.staff', 'shop.big_orders' ],
	'in schema and name order');
$r = discover('--source' => $owner, '--format' => 'json', '--schema' => 'hr');
is_deeply([ map { $_->{relation} } @{ decode_json($r->{stdout}) } ], ['hr.staff'], '--schema narrows');

# -- as the replication role grant_script made
$r = discover('--source' => $repl, '--format' => 'json');
is($r->{rc}, 0, 'the replication role may run discover') or diag($r->{stderr});
%by = map { ($_->{relation} => $_) } @{ decode_json($r->{stdout}) };
ok(!exists $by{'hr.staff'}, 'it does not see a schema it was not granted');
is_deeply($by{'shop.pay'}{unreadable_columns}, ['salary'], 'the column it may not read');
is_deeply($by{'shop.pay'}{replication_keys}, [ 'id', 'changed_at' ], 'which is no candidate key');
is($by{'shop.customers'}{tracked}[0]{integration}, 'default', 'it sees the stream of a table it reads');
$r = discover('--source' => $repl);
like($r->{stdout}, qr/^shop\.pay +table +- +id +id, changed_at +salary \(no SELECT\) +-$/m,
	'the table names the column and why');

# -- errors
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$r = discover('--source' => $node->connstr('plain'));
ok($r->{rc} == 2 && $r->{stderr} =~ /extension "pgpull" is not installed in the source database/
	  && $r->{stderr} =~ /hint: Run CREATE EXTENSION pgpull/,
	'a database without the extension: exit 2, with the hint') or diag($r->{stderr});
$r = discover('--source' => $owner, '--schema' => 'nope');
ok($r->{rc} == 2 && $r->{stderr} =~ /schema "nope" does not exist/, 'an unknown schema: exit 2')
  or diag($r->{stderr});
$node->safe_psql('postgres', 'CREATE ROLE nobody LOGIN; GRANT USAGE ON SCHEMA pgpull TO nobody;
	GRANT EXECUTE ON FUNCTION pgpull.version() TO nobody');
$r = discover('--source' => $node->connstr('postgres') . ' user=nobody');
ok($r->{rc} == 2 && $r->{stderr} =~ /permission denied for function discover/
	  && $r->{stderr} =~ /hint: .*grant_script/, 'a role without the grant: exit 2, the hint names grant_script')
  or diag($r->{stderr});
$r = discover('--source' => 'host=/nonexistent dbname=postgres');
ok($r->{rc} == 3 && $r->{stderr} =~ /could not connect to the source database/, 'no server: exit 3')
  or diag($r->{stderr});
for my $bad (
	[ [ '--source', $owner, '--format', 'yaml' ], qr/invalid value "yaml" for option --format/ ],
	[ [ '--source', $owner, '--format', 'json', '--format', 'table' ], qr/option --format given more than once/ ],
	[ [ '--source', $owner, '--source', $owner ], qr/option --source given more than once/ ],
	[ [ '--source', $owner, '--schema', '' ], qr/--schema must not be empty/ ],
	[ [ '--source', $owner, '--integration', 'x' ], qr/unrecognized option "--integration"/ ],
	[ [ '--source', $owner, 'extra' ], qr/too many command-line arguments/ ],
	[ [], qr/no source database given/ ])
{
	my ($args, $re) = @$bad;
	$r = discover(@$args);
	ok($r->{rc} == 2 && $r->{stderr} =~ $re && $r->{stdout} eq '', "usage error: @$args[ 2 .. $#$args ]")
	  or diag("exit status $r->{rc}: $r->{stderr}");
}

done_testing();
