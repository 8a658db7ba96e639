# tests/t/003_upgrade.pl: ALTER EXTENSION pgpull UPDATE gives what a fresh
# install gives, and keeps the catalog's data.
#
# For every released version V (a committed extension/pgpull--V.sql other
# than the control file's default_version): a database where
# CREATE EXTENSION pgpull VERSION 'V' then ALTER EXTENSION pgpull UPDATE ran
# is compared with one where CREATE EXTENSION pgpull ran, object by object
# (tests/fixtures/extension_shape.sql: members, function definitions,
# columns by name with types and defaults, constraints, indexes, comments,
# ACLs, config dump registrations).  Then a stream tracked and synced under V
# (V's run protocol driven from SQL, as the puller of V would) keeps its
# bookmark, resume position and run history through the update, and the
# current puller continues from them.
use strict;
use warnings FATAL => 'all';
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $control = slurp_file('extension/pgpull.control');
my ($current) = $control =~ /^default_version\s*=\s*'([^']+)'/m
  or BAIL_OUT('no default_version in extension/pgpull.control');
my @released = sort grep { $_ ne $current }
  map { m{/pgpull--([0-9][0-9.]*)\.sql$} ? $1 : () } glob('extension/pgpull--*.sql');
ok(@released >= 1, "released versions before $current: @released");
my $shape_sql = slurp_file('tests/fixtures/extension_shape.sql');

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;

# the shape of a database's extension: "object / aspect" => value
sub shape
{
	my ($db) = @_;
	my $out = $node->safe_psql($db, $shape_sql,
		extra_params => [ '-F', "\x1f", '-R', "\x1e" ]);
	my %shape;
	for my $row (split /\x1e/, $out)
	{
		my ($object, $aspect, $value) = split /\x1f/, $row, 3;
		$shape{"$object / $aspect"} .= ($value // '') . "\n";
	}
	return \%shape;
}

# what differs between two shapes, one line per object and aspect
sub differences
{
	my ($want, $got) = @_;
	my @diff;
	my %keys = map { $_ => 1 } keys %$want, keys %$got;
	for my $k (sort keys %keys)
	{
		if (!exists $got->{$k})
		{
			push @diff, "missing after the update: $k";
		}
		elsif (!exists $want->{$k})
		{
			push @diff, "only after the update: $k";
		}
		elsif ($want->{$k} ne $got->{$k})
		{
			push @diff, "differs: $k\n  fresh:   $want->{$k}  updated: $got->{$k}";
		}
	}
	return @diff;
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pgpull');
is($node->safe_psql('fresh', 'SELECT pgpull.version()'), $current, "a fresh install is $current");
my $fresh = shape('fresh');
ok(scalar(grep { / \/ member$/ } keys %$fresh) > 50, 'the shape lists the extension\'s members');

for my $v (@released)
{
	my $db = "updated_$v";
	$db =~ s/\./_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION pgpull VERSION '$v'");
	is($node->safe_psql($db, 'SELECT pgpull.version()'), $v, "$v installs");
	$node->safe_psql($db, 'ALTER EXTENSION pgpull UPDATE');
	is($node->safe_psql($db, 'SELECT pgpull.version()'), $current, "$v updates to $current");
	my @diff = differences($fresh, shape($db));
	is(scalar @diff, 0, "$v updated to $current equals a fresh $current install")
	  or diag(join("\n", @diff));

	# the comparison sees a difference, and names it
	$node->safe_psql($db,
		q{ALTER TABLE pgpull.runs ALTER COLUMN status SET DEFAULT 'succeeded'});
	@diff = differences($fresh, shape($db));
	is_deeply(\@diff,
		[ "differs: column pgpull.runs.status / column\n"
			  . "  fresh:   text not null default 'running'::text\n"
			  . "  updated: text not null default 'succeeded'::text\n" ],
		'a changed default is found and named');
}

# Data: streams tracked and synced under the oldest release, then updated.
my $old = $released[0];
$node->safe_psql('postgres', 'CREATE DATABASE dest');
$node->safe_psql('postgres', qq{
CREATE EXTENSION pgpull VERSION '$old';
CREATE TABLE items (id integer PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT i, 'item ' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour'
  FROM generate_series(1, 20) i;
CREATE TABLE things (id integer PRIMARY KEY, name text);
INSERT INTO things SELECT i, 'thing ' || i FROM generate_series(1, 10) i;
SELECT pgpull.track('items', 'key_based', 'updated_at');
SELECT pgpull.track('things', 'full_table');
});
# an administrator granted the old grant_script, and a replication role
# made by it
$node->safe_psql('postgres', q{
CREATE ROLE regress_admin;
GRANT USAGE ON SCHEMA pgpull TO regress_admin;
GRANT EXECUTE ON FUNCTION pgpull.grant_script(name, name[], text) TO regress_admin;
});
$node->safe_psql('postgres', $_) for split /\n/,
  $node->safe_psql('postgres', q{SELECT s FROM pgpull.grant_script('regress_repl', '{public}') s});
my %sid = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	q{SELECT destination_table, stream_id FROM pgpull.stream});

# One run of the old protocol, from SQL: items sent in full and ended;
# things sent up to id 4 in chunks of 2 rows, then the run fails.
$node->safe_psql('postgres', qq{
DO \$\$
DECLARE
	v_run bigint;
	v_pos text;
	v_n integer;
	r record;
BEGIN
	SELECT b.run_id INTO v_run FROM pgpull.begin_run('default', '$old', 'import_api') b LIMIT 1;
	PERFORM pgpull.take_stream(v_run, $sid{items});
	v_n := 0;
	FOR r IN EXECUTE pgpull.extraction_query(v_run, $sid{items}, NULL, NULL) LOOP
		v_n := v_n + 1;
		v_pos := r.position;
	END LOOP;
	PERFORM pgpull.record_batch(v_run, $sid{items}, v_n, 1000, v_pos, 0);
	PERFORM pgpull.end_stream(v_run, $sid{items}, 'succeeded', v_n, NULL);

	PERFORM pgpull.take_stream(v_run, $sid{things});
	v_pos := NULL;
	FOR i IN 1 .. 2 LOOP
		v_n := 0;
		FOR r IN EXECUTE pgpull.extraction_query(v_run, $sid{things}, v_pos, 2) LOOP
			v_n := v_n + 1;
			v_pos := r.position;
		END LOOP;
		PERFORM pgpull.record_batch(v_run, $sid{things}, v_n, 100, v_pos, 0);
	END LOOP;
	PERFORM pgpull.end_stream(v_run, $sid{things}, 'failed', 4, 'the destination went away');
	PERFORM pgpull.end_run(v_run, 'failed', 'the destination went away');
END
\$\$;
});

my $catalog_sql = q{
SELECT s.destination_table, s.bookmark, s.resume_position, s.status, s.table_version
  FROM pgpull.stream s ORDER BY 1;
SELECT r.run_id, r.status, r.error, rs.stream_id, rs.status, rs.rows_loaded, rs.batches,
	   rs.bookmark_before, rs.bookmark_after
  FROM pgpull.runs r JOIN pgpull.run_streams rs USING (run_id) ORDER BY 1, 4;
SELECT count(*) FROM pgpull.extraction_log;
};
my $before = $node->safe_psql('postgres', $catalog_sql);
like($before, qr/^items\|2024-01-01T20:00:00Z\|\|succeeded\|/m, "under $old: the bookmark is the last key sent");
like($before, qr/^things\|\|\{4\}\|error\|/m, "under $old: the interrupted full-table stream resumes after id 4");

$node->safe_psql('postgres', 'ALTER EXTENSION pgpull UPDATE');
# a time key's bookmark goes one microsecond down, once: 1.1 continues
# strictly after it, so the first run takes the old bookmark's ties again
(my $lowered = $before) =~ s/^items\|2024-01-01T20:00:00Z\|/items|2024-01-01T19:59:59.999999Z|/m;
is($node->safe_psql('postgres', $catalog_sql), $lowered,
	'the update keeps resume positions, runs and the extraction log, and lowers a time key\'s bookmark by a microsecond');

is( $node->safe_psql('postgres', q{
		SELECT string_agg(f, ', ') FROM unnest(pgpull._puller_functions()) f
		 WHERE NOT has_function_privilege('regress_repl', f, 'EXECUTE')}),
	'', 'the replication role of the old grant_script may call every function of the new puller');
is( $node->safe_psql('postgres', q{SELECT string_agg(integration || ':' || role_name, ',') FROM pgpull.integration_grant}),
	'default:regress_repl', 'and may run the integrations it could run before');
is( $node->safe_psql('postgres',
		q{SELECT has_function_privilege('regress_admin', 'pgpull.grant_script(name,name[],text,text[])', 'EXECUTE')}),
	't', 'the administrator may call the new grant_script');

# the current puller goes on from there
$node->safe_psql('postgres', q{
INSERT INTO items VALUES (21, 'item 21', '2024-01-02 00:00:00+00'), (22, 'item 22', '2024-01-02 01:00:00+00');
});
my $rcv = PgPullTest::receiver($node);
my $r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'the current puller syncs the updated catalog');
is( $node->safe_psql('dest', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM "default".items'),
	'20,21,22', 'items: the sync starts at the bookmark (the tie at 20, then what is new)');
is( $node->safe_psql('dest', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM "default".things'),
	'5,6,7,8,9,10', 'things: the sync resumes after the position accepted under the old version');
like($r->{stderr}, qr/resuming after \["4"\]/, 'and says it resumes');
is( $node->safe_psql('postgres', q{SELECT bookmark FROM pgpull.stream WHERE destination_table = 'items'}),
	'2024-01-02T01:00:00Z', 'the bookmark moves on');
is( $node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.runs}), '2',
	'the run history is kept, with the new run beside it');

$rcv->stop;
$node->stop;
done_testing();
