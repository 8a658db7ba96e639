# tests/t/046_dump_restore.pl: pg_dump and pg_restore keep the catalog.
#
# A database with the extension, streams of two integrations, a role made
# by grant_script and granted an integration, and the runs, run streams,
# extraction log and bookmarks of a sync, is dumped (custom format and plain
# SQL) and restored into new databases of the same cluster (its roles are
# the cluster's).  The catalog tables are registered with
# pg_extension_config_dump, so the restored databases have the same
# streams, bookmarks, runs, run streams, log lines and integration grants,
# and the privileges grant_script gave on the extension's objects; a new
# identity (database_id).  A sync from a restored database, as the
# replication role, continues from the bookmarks: it sends only the rows
# added since, and its run_id follows those of the dumped database.
use strict;
use warnings FATAL => 'all';
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 500) g;
CREATE TABLE lines (id integer PRIMARY KEY, qty integer);
INSERT INTO lines SELECT g, g % 7 FROM generate_series(1, 300) g;
SELECT pgpull.track('items', 'key_based', 'updated_at');
SELECT pgpull.track('lines', 'full_table');
SELECT pgpull.track('items', 'full_table', integration => 'Staging');
});
$node->safe_psql('postgres', $_) for split /\n/,
  $node->safe_psql('postgres', q{SELECT s FROM pgpull.grant_script('regress_repl', '{public}') s});
$node->safe_psql('postgres', q{SELECT pgpull.grant_integration('Staging', 'regress_repl')});
my $rcv = PgPullTest::receiver($node);

my $r = PgPullTest::sync($node, $rcv, source => $node->connstr('postgres') . ' user=regress_repl');
is($r->{rc}, 0, 'first sync: exit status 0') or diag($r->{stderr});
is(PgPullTest::stream_row($node, 'items', 'bookmark'), '2024-01-01T08:20:00Z', 'first sync: items has its bookmark');

# every catalog row, as text, table by table; and the privileges on the
# extension's objects
my @tables = (
	[ 'pgpull.stream', 'stream_id' ],
	[ 'pgpull.stream_range', 'stream_id, range_no' ],
	[ 'pgpull.runs', 'run_id' ],
	[ 'pgpull.run_streams', 'run_id, stream_id' ],
	[ 'pgpull.extraction_log', 'log_id' ],
	[ 'pgpull.integration_grant', 'integration, role_name' ]);

sub catalog
{
	my ($db) = @_;
	my %rows;
	for my $t (@tables)
	{
		my ($table, $order) = @$t;
		$rows{$table} = $node->safe_psql($db, "SELECT t::text FROM $table t ORDER BY $order");
	}
	$rows{acl} = $node->safe_psql($db, q{
SELECT p.oid::regprocedure::text || ' ' || COALESCE(p.proacl::text, '')
  FROM pg_proc p WHERE p.pronamespace = 'pgpull'::regnamespace
UNION ALL
SELECT 'schema pgpull ' || n.nspacl::text FROM pg_namespace n WHERE n.nspname = 'pgpull'
ORDER BY 1});
	return \%rows;
}
my $before = catalog('postgres');
like($before->{'pgpull.runs'}, qr/succeeded/, 'the dumped catalog has a succeeded run');
like($before->{'pgpull.extraction_log'}, qr/stream taken/, 'and extraction log lines');
like($before->{acl}, qr/take_stream\(bigint,bigint\) \{.*regress_repl=X/, 'and grant_script\'s grants');
my $id = $node->safe_psql('postgres', 'SELECT pgpull.database_id()');

# unregistered catalog tables would come back empty: every table of the
# extension but the identity, the Singer secrets, the replication slots
# (a slot is not dumped either: a restored database copies its log_based
# streams again) and the watermark samples is registered
is($node->safe_psql('postgres', q{
SELECT string_agg(c.relname, ',' ORDER BY c.relname)
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgpull')
   AND c.relkind IN ('r', 'S')
   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'pgpull')::oid[])}),
	'database_identity,integration_secret,integration_slot,watermark_sample,watermark_sample_sample_id_seq',
	'every catalog table is registered with pg_extension_config_dump but the identity, secrets, slots and samples');

my $tmp = PostgreSQL::Test::Utils::tempdir;
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/db.dump", '-d', 'postgres' ], 'pg_dump -Fc');
$node->command_ok([ 'pg_dump', '-Fp', '-f', "$tmp/db.sql", '-d', 'postgres' ], 'pg_dump -Fp');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', "$tmp/db.dump" ], 'pg_restore');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'restored_plain', '-f', "$tmp/db.sql" ],
	'psql -f of the plain dump');

my $items_lines = 0;
for my $db ('restored', 'restored_plain')
{
	my $after = catalog($db);
	for my $k (sort keys %$before)
	{
		is($after->{$k}, $before->{$k}, "$db: $k as dumped");
	}
	isnt($node->safe_psql($db, 'SELECT pgpull.database_id()'), $id, "$db: a new database identity");

	# new rows, past the bookmark; a sync as the replication role sends them only
	$node->safe_psql($db, q{
INSERT INTO items SELECT g, 'new item ' || g, timestamptz '2024-02-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(501, 520) g;
UPDATE items SET name = 'changed', updated_at = timestamptz '2024-03-01 00:00:00+00' WHERE id = 3});
	$rcv->clear_requests;
	$r = PgPullTest::sync($node, $rcv, source => $node->connstr($db) . ' user=regress_repl');
	is($r->{rc}, 0, "$db: sync as the replication role: exit status 0") or diag($r->{stderr});
	is(PgPullTest::records($rcv, 'items'), 21, "$db: items continues from its bookmark: 21 rows sent");
	like($r->{stderr}, qr/INFO items stream taken: rows with updated_at > 2024-01-01T08:20:00Z/,
		"$db: the run log says where it continues");
	is(PgPullTest::records($rcv, 'lines'), 300, "$db: the full_table stream is sent whole, as every run");
	PgPullTest::same_rows($node, 'items', 'id, name, updated_at', 'default', "$db: items equal", undef, $db);
	is($node->safe_psql($db, q{SELECT bookmark FROM pgpull.streams WHERE destination_table = 'items' AND integration = 'default'}),
		'2024-03-01T00:00:00Z', "$db: the bookmark moved on");
	is($node->safe_psql($db, q{SELECT count(*) || ' ' || (max(run_id) > min(run_id)) FROM pgpull.runs}),
		'2 true', "$db: the new run follows the dumped one");
}

$rcv->stop;
$node->stop;
done_testing();
