# tests/t/037_noop.pl: runs with nothing new.
#
# 200 key_based tables (196 with a timestamptz replication key, 4 with an
# integer one) and a full_table table, synced once into the reference
# receiver.  The next run, with nothing new, finds the quiet streams with
# one probe on the source (pgpull.probe_query) and records them with one
# call (pgpull.record_unchanged): the timestamptz streams send nothing and
# each logs "nothing new", their bookmarks stay; the integer-key streams
# still send their ties at the bookmark (read from the bookmark inclusive),
# the full_table stream is sent again, and the run's summary line adds up.
# A row inserted in one table is sent by the next run, and only it.  As a
# Singer target, a run with nothing new still writes a STATE carrying every
# stream's bookmark, which commit-state confirms without moving anything.
# A puller role that may not read one table makes the probe fail: a
# warning, then every stream is synced as usual and only that table fails.
# pgpull runs under valgrind, which reports nothing, except for the first
# sync (volume).
use strict;
use warnings FATAL => 'all';
use JSON::PP;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('noop');
$node->safe_psql('postgres', q{
DO $$
BEGIN
	FOR i IN 1 .. 196 LOOP
		EXECUTE format('CREATE TABLE t%s (id integer PRIMARY KEY, at timestamptz NOT NULL, v text)', i);
		EXECUTE format('INSERT INTO t%s SELECT g, timestamptz ''2024-01-01 00:00:00+00'' + g * interval ''1 hour'', ''v'' || g
						 FROM generate_series(1, 5) g', i);
		EXECUTE format('CREATE INDEX ON t%s (at)', i);
		PERFORM pgpull.track(format('t%s', i)::regclass, 'key_based', 'at');
	END LOOP;
	FOR i IN 1 .. 4 LOOP
		EXECUTE format('CREATE TABLE n%s (id integer PRIMARY KEY, n integer NOT NULL)', i);
		EXECUTE format('INSERT INTO n%s SELECT g, g * 10 FROM generate_series(1, 5) g', i);
		PERFORM pgpull.track(format('n%s', i)::regclass, 'key_based', 'n');
	END LOOP;
END $$;
CREATE TABLE ft (id integer PRIMARY KEY, v text);
INSERT INTO ft SELECT g, 'f' || g FROM generate_series(1, 3) g;
SELECT pgpull.track('ft', 'full_table');
});
my $rcv = PgPullTest::receiver($node);

# every stream's bookmark, to see that nothing moves
my $bookmarks_sql = q{SELECT string_agg(destination_table || '=' || coalesce(bookmark, '-'), ' '
		ORDER BY destination_table COLLATE "C") FROM pgpull.stream};
sub bookmarks { return $node->safe_psql('postgres', $bookmarks_sql); }
sub quiet_records
{
	my $n = 0;
	$n += PgPullTest::records($rcv, "t$_") for 1 .. 196;
	return $n;
}
sub last_run { return $node->safe_psql('postgres', 'SELECT max(run_id) FROM pgpull.runs'); }

# -- the first sync (not under valgrind: 201 streams)
my $r = PgPullTest::sync($node, $rcv, valgrind => 0);
is($r->{rc}, 0, 'first sync: exit status 0');
is(quiet_records(), 196 * 5, 'first sync: every row of the timestamptz tables');
like($r->{stderr}, qr/INFO - run \d+ succeeded: 201 synced, 0 failed, 0 skipped$/m, 'first sync: 201 synced');
my $before = bookmarks();

# -- nothing new
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'nothing new: exit status 0');
is(quiet_records(), 0, 'nothing new: no row of the 196 timestamptz streams is sent');
is(scalar(grep { $_->{table_name} =~ /^t\d+$/ } @{ $rcv->requests }), 0,
	'nothing new: no batch at all for them');
is(PgPullTest::records($rcv, "n$_"), 1, "nothing new: integer key n$_ sends its tie at the bookmark again")
  for 1 .. 4;
is(PgPullTest::records($rcv, 'ft'), 3, 'nothing new: the full_table stream is sent in full again');
my @quiet = $r->{stderr} =~ /^\S+ \S+ INFO (t\d+) nothing new: no row with at > \S+, nothing sent; the bookmark stays$/mg;
is(scalar @quiet, 196, 'nothing new: one "nothing new" line per timestamptz stream');
unlike($r->{stderr}, qr/INFO n\d+ nothing new/, 'nothing new: none for the integer keys, whose ties go again');
like($r->{stderr}, qr/INFO - run \d+ succeeded: 201 synced, 0 failed, 0 skipped$/m,
	'nothing new: the summary line adds up');
is(bookmarks(), $before, 'nothing new: no bookmark moved');
my $run = last_run();
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FILTER (WHERE rs.status = 'succeeded' AND rs.rows_extracted = 0 AND rs.batches = 0
								  AND rs.bookmark_before = rs.bookmark_after),
			   count(*)
		  FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
		 WHERE rs.run_id = $run AND s.destination_table ~ '^t\\d+\$'}),
	'196|196', 'nothing new: each timestamptz stream succeeded in the run with 0 rows, bookmark kept');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pgpull.extraction_log
		 WHERE run_id = $run AND level = 'INFO' AND message LIKE 'nothing new: no row with at > %'}),
	'196', 'nothing new: the extraction log has the lines');
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pgpull.loading_report WHERE destination_table ~ '^t\\d+\$' AND last_status = 'succeeded'}),
	'196', 'the loading report shows them succeeded');

# -- a new row in one table: sent, and only it
$node->safe_psql('postgres', q{INSERT INTO t7 VALUES (6, timestamptz '2025-01-01 00:00:00+00', 'new')});
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'a new row: exit status 0');
cmp_ok(PgPullTest::records($rcv, 't7'), '>=', 1, 'a new row: it is sent');
is(quiet_records(), PgPullTest::records($rcv, 't7'), 'a new row: nothing of the other timestamptz streams');
is(PgPullTest::stream_row($node, 't7', 'bookmark'), '2025-01-01T00:00:00Z', 'a new row: its bookmark moved');
like($r->{stderr}, qr/INFO - run \d+ succeeded: 201 synced, 0 failed, 0 skipped$/m, 'a new row: the summary adds up');
PgPullTest::same_rows($node, 't7', 'id, at, v', 'default', 'a new row: t7 equal');

# -- a Singer target: a STATE carries every stream's bookmark
my $tmp = PostgreSQL::Test::Utils::tempdir;
$before = bookmarks();
$r = PgPullTest::pgpull(args => [ 'sync', '--source', $node->connstr('postgres'), '--target', '-' ],
	stdout => "$tmp/singer.jsonl");
is($r->{rc}, 0, 'Singer, nothing new: exit status 0');
my @msgs = map { decode_json($_) } grep { $_ ne '' } split /\n/, slurp_file("$tmp/singer.jsonl");
my @states = grep { $_->{type} eq 'STATE' } @msgs;
my $last = $states[-1]{value};
is(scalar(grep { $_->{type} eq 'RECORD' && $_->{stream} =~ /^t\d+$/ } @msgs), 0,
	'Singer, nothing new: no RECORD of the timestamptz streams');
is(scalar(grep { exists $last->{bookmarks}{"t$_"} } 1 .. 196), 196,
	'Singer, nothing new: the last STATE carries the bookmark of every quiet stream');
is($last->{bookmarks}{t7}{replication_key_value}, '2025-01-01T00:00:00Z', 'Singer: with the bookmark as it is');
is(scalar(keys %{ $last->{bookmarks} }), 201, 'Singer: and those of the other streams');
# what a Singer target echoes: the value of the last STATE
open my $fh, '>', "$tmp/state.json" or die $!;
print $fh encode_json($last), "\n";
close $fh;
my $c = PgPullTest::pgpull(args => [ 'commit-state', '--source', $node->connstr('postgres'), "$tmp/state.json" ]);
is($c->{rc}, 0, 'commit-state of that STATE: exit status 0') or diag($c->{stderr});
unlike($c->{stderr}, qr/rejected/, 'commit-state: no entry rejected');
is(bookmarks(), $before, 'commit-state: no bookmark moved');

# -- the probe fails: a warning, then every stream synced as usual
$node->safe_psql('postgres', $_) for split /\n/,
  $node->safe_psql('postgres', q{SELECT s FROM pgpull.grant_script('regress_puller', '{public}') s});
$node->safe_psql('postgres', 'REVOKE SELECT ON t9 FROM regress_puller');
$before = bookmarks();
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, source => $node->connstr('postgres') . ' user=regress_puller');
is($r->{rc}, 1, 'a table the puller may not read: exit status 1');
like($r->{stderr}, qr/WARNING - could not find the streams with nothing new, so every stream is synced: .*permission denied for table t9/,
	'a table the puller may not read: the probe fails with a warning');
like($r->{stderr}, qr/ERROR t9 .*role "regress_puller" cannot read relation "public\.t9": it lacks SELECT on relation "public\.t9"/,
	'that table fails with its own error, naming the privilege it lacks');
like($r->{stderr}, qr/hint: .*pgpull\.grant_script\('regress_puller', '\{public\}'\) \\gexec .*pgpull\.check_privileges\('regress_puller'\)/,
	'and a hint with the grant_script and check_privileges calls');
unlike($r->{stderr}, qr/nothing new: no row/, 'no stream is recorded as quiet');
like($r->{stderr}, qr/INFO - run \d+ failed: 200 synced, 1 failed, 0 skipped$/m, 'the summary line adds up');
cmp_ok(quiet_records(), '<=', 195, 'the other timestamptz streams send at most their ties');
is(bookmarks(), $before, 'no bookmark moved');

$node->stop;
done_testing();
