# tests/t/032_drift.pl: schema drift between runs.
#
# The JSON schema is taken at each run, so a column added, dropped or
# retyped reaches the destination on the next sync; a renamed table keeps
# loading into its destination table; a dropped table fails its stream
# (exit status 1) while the other streams go on.
use strict;
use warnings FATAL => 'all';
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', q{
CREATE TABLE d1 (id integer PRIMARY KEY, a integer, b text, updated_at timestamptz NOT NULL);
INSERT INTO d1 SELECT i, i * 10, 'b' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 100) i;
CREATE TABLE d2 (id integer PRIMARY KEY, v text);
INSERT INTO d2 SELECT i, 'd2 ' || i FROM generate_series(1, 50) i;
CREATE TABLE d3 (id integer PRIMARY KEY, v text);
INSERT INTO d3 SELECT i, 'd3 ' || i FROM generate_series(1, 20) i;
SELECT pgpull.track('d1', 'key_based', 'updated_at');
SELECT pgpull.track('d2', 'full_table');
SELECT pgpull.track('d3', 'full_table');
});
my $rcv = PgPullTest::receiver($node);

# change some rows of d1, with keys beyond the bookmark
my $tick = 0;
sub touch_d1
{
	my ($set, $where) = @_;
	$tick++;
	$node->safe_psql('postgres', qq{
UPDATE d1 SET $set, updated_at = timestamptz '2025-01-01 00:00:00+00' + interval '1 day' * $tick + id * interval '1 s'
 WHERE $where});
	return;
}

my $r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'first sync');
PgPullTest::same_rows($node, 'd1', 'id, a, b, updated_at', 'default', 'first sync: d1 equal');
PgPullTest::same_rows($node, 'd2', 'id, v', 'default', 'first sync: d2 equal');
PgPullTest::same_rows($node, 'd3', 'id, v', 'default', 'first sync: d3 equal');

# -- a column added
$node->safe_psql('postgres', q{ALTER TABLE d1 ADD COLUMN c text});
touch_d1(q{c = 'c' || id}, 'id <= 10');
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'column added: exit status 0');
PgPullTest::same_rows($node, 'd1', 'id, a, b, c, updated_at', 'default', 'column added: d1 equal, new column included');

# -- a column dropped
$node->safe_psql('postgres', q{ALTER TABLE d1 DROP COLUMN b});
touch_d1('a = a + 1', 'id <= 20');
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'column dropped: exit status 0');
PgPullTest::same_rows($node, 'd1', 'id, a, c, updated_at', 'default', 'column dropped: d1 equal on the other columns');
is($node->safe_psql('dest', q{SELECT count(*) FROM "default".d1 WHERE id <= 20 AND b IS NOT NULL}), 0,
	'column dropped: rows sent since carry no value for it');

# -- a column retyped (integer to text): the destination splits the column
my $bookmark = PgPullTest::stream_row($node, 'd1', 'bookmark::timestamptz');
$node->safe_psql('postgres', q{ALTER TABLE d1 ALTER COLUMN a TYPE text USING 'A' || a::text});
touch_d1(q{a = a || '!'}, 'id <= 5');
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'column retyped: exit status 0');
is($node->safe_psql('dest', q{SELECT string_agg(id || '=' || a__st, ',' ORDER BY id) FROM "default".d1 WHERE a__st IS NOT NULL}),
	$node->safe_psql('postgres', qq{SELECT string_agg(id || '=' || a, ',' ORDER BY id) FROM d1 WHERE updated_at > '$bookmark'}),
	'column retyped: the rows sent since carry the new type');
PgPullTest::same_rows($node, 'd1', 'id, c, updated_at', 'default', 'column retyped: d1 equal on the other columns');

# -- a table renamed: the stream follows it
$node->safe_psql('postgres', q{ALTER TABLE d2 RENAME TO d2_renamed; UPDATE d2_renamed SET v = 'renamed ' || id WHERE id <= 5});
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'table renamed: exit status 0');
PgPullTest::same_rows($node, 'd2_renamed', 'id, v', 'default', 'table renamed: it still loads into d2', 'd2');
is($node->safe_psql('postgres', q{SELECT relation_name FROM pgpull.stream WHERE destination_table = 'd2'}),
	'public.d2_renamed', 'table renamed: the catalog knows the new name');

# -- a table dropped: its stream fails, the others go on
$node->safe_psql('postgres', q{DROP TABLE d3; UPDATE d2_renamed SET v = 'after the drop ' || id WHERE id <= 5});
touch_d1(q{c = 'after the drop'}, 'id > 90');
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 1, 'table dropped: exit status 1');
like($r->{stderr}, qr/ERROR d3 .*no longer exists/, 'table dropped: the error names the stream');
PgPullTest::same_rows($node, 'd1', 'id, c, updated_at', 'default', 'table dropped: d1 still synced');
PgPullTest::same_rows($node, 'd2_renamed', 'id, v', 'default', 'table dropped: d2 still synced', 'd2');
is($node->safe_psql('postgres', q{
	SELECT s.status || ' ' || rs.status FROM pgpull.stream s
	  JOIN pgpull.run_streams rs USING (stream_id)
	 WHERE s.destination_table = 'd3' ORDER BY rs.run_id DESC LIMIT 1}),
	'error failed', 'table dropped: the stream is in error, failed in the run');
is($node->safe_psql('postgres', q{SELECT status FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}),
	'failed', 'table dropped: the run failed');

$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 1, 'the dropped table fails again until it is untracked');
# the hint names the call that untracks it: the name no longer resolves
my $d3 = $node->safe_psql('postgres', q{SELECT stream_id FROM pgpull.streams WHERE destination_table = 'd3'});
like($r->{stderr}, qr/hint: .*SELECT pgpull\.untrack_stream\($d3\);/,
	'table dropped: the hint shows the untrack_stream call of the stream');
like($node->safe_psql('postgres', qq{SELECT error FROM pgpull.run_streams WHERE stream_id = $d3 ORDER BY run_id DESC LIMIT 1}),
	qr/Hint: .*SELECT pgpull\.untrack_stream\($d3\);/, 'table dropped: the run keeps the hint with the error');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT pgpull.untrack('public.d3')});
like($err, qr/relation "public\.d3" does not exist/, 'table dropped: untrack cannot name it');
is($node->safe_psql('postgres', qq{SELECT pgpull.untrack_stream($d3)}), 'public.d3', 'untrack_stream untracks it');
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'without the dropped table: exit status 0');

# -- a full_table stream without key columns appends a full copy at every
# run: track says so, and so does every run, once
my ($notice_ret, $notice_out, $notice_err) = $node->psql('postgres', q{
CREATE TABLE d5 (v text);
INSERT INTO d5 SELECT 'd5 ' || i FROM generate_series(1, 10) i;
SELECT pgpull.track('d5', 'full_table');
});
like($notice_err, qr/NOTICE:  stream "d5" has no key columns: every run appends a full copy of relation "public\.d5"/,
	'no key columns: track says every run appends a full copy');
for my $n (1 .. 2)
{
	$r = PgPullTest::sync($node, $rcv);
	is($r->{rc}, 0, "no key columns, run $n: exit status 0");
	my @lines = ($r->{stderr} =~ /^.*WARNING d5 the stream has no key columns: this run appends a full copy.*$/mg);
	is(scalar(@lines), 1, "no key columns, run $n: the run says it once");
}
is($node->safe_psql('dest', q{SELECT count(*) FROM "default".d5}), '20', 'no key columns: two runs, two copies');

# -- after reset the log says so, not "first run"
$node->safe_psql('postgres', q{SELECT pgpull.reset('d1')});
$r = PgPullTest::sync($node, $rcv);
like($r->{stderr}, qr/INFO d1 stream taken: reset: every row/, 'reset: the run log says reset, every row');
unlike($r->{stderr}, qr/first run/, 'reset: not "first run"');

$rcv->stop;
$node->stop;
done_testing();
