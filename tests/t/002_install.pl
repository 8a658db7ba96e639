# tests/t/002_install.pl: the extension installs the way pg_tle would run it.
#
# pg_tle is not in Debian, so this checks the nearest thing: the control file
# needs no superuser, every script (the built one and the update scripts
# too) holds none of pg_tle's reserved dollar tags and no psql meta-command
# but the leading \echo guard, and a database owner that is not a superuser
# installs the extension, updates it from the oldest release, and drives the
# API.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $control = slurp_file("$sharedir/extension/pgpull.control");
like($control, qr/^superuser\s*=\s*false\s*$/m, 'control file says superuser = false');
unlike($control, qr/^module_pathname/m, 'control file names no C module');
unlike($control, qr/^trusted\s*=\s*true/m,
	'not trusted: the script runs as the installing role, as under pg_tle');

# every script: the released ones, the one built from extension/src, and
# the update scripts (the pg_tle recipe installs the last two)
my ($current) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
my @scripts = glob("$sharedir/extension/pgpull--*.sql");
my %installed = map { m{([^/]+)$} ? ($1 => 1) : () } @scripts;
for my $want ("pgpull--$current.sql", map { m{([^/]+)$} } glob('extension/updates/pgpull--*.sql'))
{
	ok($installed{$want}, "$want is installed, and checked below");
}
for my $path (@scripts)
{
	my $name = $path;
	$name =~ s{.*/}{};
	my $sql = slurp_file($path);
	unlike($sql, qr/\$_pgtle_[oi]_\$/, "$name holds no pg_tle reserved dollar tag");
	my @meta = grep { /^\s*\\/ && !/^\\echo / } split /\n/, $sql;
	is(scalar @meta, 0, "$name has no psql meta-command but the \\echo guard");
	unlike($sql, qr/^\s*(BEGIN|COMMIT|START TRANSACTION)\s*;/mi,
		"$name has no transaction control");
	unlike($sql, qr/MODULE_PATHNAME|\$libdir|LANGUAGE\s+c\b/i, "$name loads no C code");
	my @unqualified_create = grep { /^CREATE (OR REPLACE )?(FUNCTION|TABLE|VIEW|SCHEMA) (?!pgpull)/ } split /\n/, $sql;
	is(scalar @unqualified_create, 0, "$name qualifies every object it creates");
}

my $node = PostgreSQL::Test::Cluster->new('install');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE regress_dbowner LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB;
	CREATE DATABASE appdb OWNER regress_dbowner;
});
my $connstr = $node->connstr('appdb') . ' user=regress_dbowner';

# the database owner installs it, with search_path as pg_tle would set it
my ($ret, $out, $err) = $node->psql('appdb', q{
	SET search_path = public, pg_temp;
	CREATE EXTENSION pgpull;
}, extra_params => [ '-U', 'regress_dbowner' ]);
is($ret, 0, 'a non-superuser database owner creates the extension') or diag $err;

# and updates it from the oldest release, as pg_tle's install_update_path
# has the owner do
my ($oldest) = sort map { m{/pgpull--([0-9][0-9.]*)\.sql$} ? $1 : () } glob('extension/pgpull--*.sql');
$node->safe_psql('postgres', 'CREATE DATABASE appdb_old OWNER regress_dbowner');
($ret, $out, $err) = $node->psql('appdb_old', qq{
	SET search_path = public, pg_temp;
	CREATE EXTENSION pgpull VERSION '$oldest';
	ALTER EXTENSION pgpull UPDATE;
	SELECT pgpull.version();
}, extra_params => [ '-U', 'regress_dbowner' ]);
is($ret, 0, "the owner updates the extension from $oldest") or diag $err;
is($out, $current, "to $current");

is( $node->safe_psql('appdb', q{
		SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = 'pgpull' AND c.relowner <> 'regress_dbowner'::regrole}),
	'0', 'every catalog object belongs to the installing role');
is( $node->safe_psql('appdb', q{
		SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgpull'::regnamespace
		   AND proowner <> 'regress_dbowner'::regrole}),
	'0', 'every function belongs to the installing role');
is( $node->safe_psql('appdb', q{
		SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgpull'::regnamespace
		   AND NOT EXISTS (SELECT FROM unnest(proconfig) c WHERE c LIKE 'search_path=%')}),
	'0', 'every function pins its search_path');

is( $node->safe_psql('appdb', q{
		SELECT string_agg(x, ', ') FROM (
		SELECT p.oid::regprocedure::text AS x FROM pg_proc p
		 WHERE p.pronamespace = 'pgpull'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
		UNION ALL
		SELECT c.oid::regclass::text FROM pg_class c
		 WHERE c.relnamespace = 'pgpull'::regnamespace AND c.relkind IN ('r', 'v')
		   AND obj_description(c.oid, 'pg_class') IS NULL) s}),
	'', 'every function, table and view has a comment');

# the API, run by that owner
sub owner_sql
{
	my ($sql) = @_;
	return $node->safe_psql('appdb', $sql, extra_params => [ '-U', 'regress_dbowner' ]);
}
owner_sql(q{
	CREATE TABLE public.items (id int PRIMARY KEY, name text, changed timestamptz DEFAULT now());
	INSERT INTO public.items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 10) g;
	CREATE VIEW public.item_names AS SELECT id, name FROM public.items;
});
is(owner_sql(q{SELECT pgpull.track('public.items', 'key_based', 'changed')}), 'items', 'track');
is(owner_sql(q{SELECT pgpull.track('public.item_names', 'full_table', key_columns => '{id}')}),
	'item_names', 'track a view');
is(owner_sql(q{SELECT count(*) FROM pgpull.streams}), '2', 'streams view');
is(owner_sql(q{SELECT pgpull.reset('public.items')}), '1', 'reset');
is(owner_sql(q{SELECT pgpull.reset_integration('default')}), '2', 'reset_integration');
is(owner_sql(q{SELECT pgpull.destination_schema_name('Stitch PostgreSQL')}),
	'stitch_postgresql', 'destination_schema_name');
is(owner_sql(q{SELECT pgpull.untrack('public.item_names')}), 't', 'untrack');

# such an owner cannot see other roles' transactions: the audit says so,
# with the grant a superuser must run
is( owner_sql(q{SELECT ok || ' ' || fix FROM pgpull.check_privileges('regress_dbowner', '{}')
				 WHERE privilege = 'pg_read_all_stats'}),
	'false GRANT pg_read_all_stats TO regress_dbowner',
	'check_privileges flags an owner without pg_read_all_stats, with the fix');

# a role that did not install it gets nothing
$node->safe_psql('postgres', 'CREATE ROLE regress_other LOGIN');
($ret, $out, $err) = $node->psql('appdb', q{SELECT pgpull.track('public.items', 'full_table')},
	extra_params => [ '-U', 'regress_other' ]);
isnt($ret, 0, 'another role cannot call track');
like($err, qr/permission denied/, 'and is told why');

# dump and restore keep the catalog (pg_extension_config_dump)
my $dump = $node->basedir . '/appdb.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('appdb') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE appdb2 OWNER regress_dbowner');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('appdb2'), $dump ], 'pg_restore');
is($node->safe_psql('appdb2', q{SELECT string_agg(destination_table, ',') FROM pgpull.streams}),
	'items', 'the restored catalog keeps its streams');
my $id = $node->safe_psql('appdb', 'SELECT pgpull.database_id()');
like($id, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
	'the database has an identity (a random UUID)');
isnt($node->safe_psql('appdb2', 'SELECT pgpull.database_id()'), $id,
	'and a copy restored from a dump is another database');

# and the owner can drop it again, leaving nothing behind
owner_sql('DROP EXTENSION pgpull');
is(owner_sql(q{SELECT count(*) FROM pg_namespace WHERE nspname = 'pgpull'}), '0',
	'DROP EXTENSION removes the schema');

$node->stop;
done_testing();
