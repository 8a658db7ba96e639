# tests/t/033_watermark.pl: key-based syncs with keys stamped by now().
#
# Rows changed just before a sync go in that sync; and a transaction still
# open when a sync reads (the classic way key-based replication loses rows:
# it commits later with a key below the new bookmark) is not skipped: the
# commit-safe cap keeps the bookmark below its start, and the next sync
# sends its rows.  The open transaction holds back only the bookmark, never
# fresh rows: a row committed after it started goes in the very sync that
# follows, is counted in rows_resent, and the log names the transaction.
# Every pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('src');
$node->safe_psql('postgres', q{
CREATE TABLE w (id integer PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE wl (id integer PRIMARY KEY, v text, changed timestamp NOT NULL DEFAULT localtimestamp);
INSERT INTO w (id, v) SELECT i, 'v' || i FROM generate_series(1, 100) i;
INSERT INTO wl (id, v) SELECT i, 'v' || i FROM generate_series(1, 100) i;
SELECT pgpull.track('w', 'key_based', 'updated_at');
SELECT pgpull.track('wl', 'key_based', 'changed');
});
my $rcv = PgPullTest::receiver($node);

# a timestamp key goes out as UTC and lands in a timestamptz column
sub same_wl
{
	my ($name) = @_;
	is( $node->safe_psql('dest',
			q{SELECT id, v, changed AT TIME ZONE 'UTC' FROM "default".wl ORDER BY id}),
		$node->safe_psql('postgres', q{SELECT id, v, changed FROM wl ORDER BY id}),
		$name);
	return;
}

my $r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'first sync');
PgPullTest::same_rows($node, 'w', 'id, v, updated_at', 'default', 'first sync: w equal');
same_wl('first sync: wl equal');

# changes stamped by now(), then a sync at once: they go in this sync
$node->safe_psql('postgres', q{
UPDATE w SET v = 'changed', updated_at = now() WHERE id % 10 = 0;
INSERT INTO w (id, v) VALUES (101, 'new');
UPDATE wl SET v = 'changed', changed = localtimestamp WHERE id % 10 = 0;
INSERT INTO wl (id, v) VALUES (101, 'new');
});
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync right after changes');
PgPullTest::same_rows($node, 'w', 'id, v, updated_at', 'default',
	'rows changed just before the sync are in the destination (timestamptz key)');
same_wl('rows changed just before the sync are in the destination (timestamp key)');

# a transaction open across a sync: it started first, others commit after
# it with later keys, the sync runs, then it commits
my ($in, $out, $err) = ('', '', '');
my $h;
{
	local $ENV{PGAPPNAME} = 'slow writer';
	$h = IPC::Run::start([ 'psql', '-X', '-q', '-At', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
}
$in .= "BEGIN;\nINSERT INTO w (id, v) VALUES (200, 'slow writer');\nSELECT 'inserted';\n";
$h->pump until $out =~ /inserted/;
sleep 1;	# keys of later transactions are clearly later than its start
$node->safe_psql('postgres', q{UPDATE w SET v = 'after the slow writer', updated_at = now() WHERE id = 5});

$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync while a writer is open');
my $start = $node->safe_psql('postgres',
	q{SELECT bookmark::timestamptz <= (SELECT xact_start FROM pg_stat_activity
	                                    WHERE query LIKE '%inserted%' AND pid <> pg_backend_pid())
	    FROM pgpull.streams WHERE destination_table = 'w'});
is($start, 't', 'the bookmark stays at or below the start of the open transaction');
is($node->safe_psql('dest', q{SELECT v FROM "default".w WHERE id = 5}), 'after the slow writer',
	'a row committed after the open transaction started goes in this very sync');
my $writer = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE application_name = 'slow writer'});
is($node->safe_psql('postgres', q{
	SELECT rs.rows_resent >= 1 AND rs.cap IS NOT NULL
	  FROM pgpull.run_streams rs JOIN pgpull.stream s USING (stream_id)
	 WHERE s.destination_table = 'w' ORDER BY rs.run_id DESC LIMIT 1}),
	't', 'the rows past the cap are counted in rows_resent');
like($r->{stderr}, qr/INFO w \d+ rows? with updated_at at or after the commit-safe cap [0-9T:.-]+Z: sent now and again by the next run, and the bookmark stays at or below the cap; the cap was held by the transaction of process $writer \(application "slow writer"\), open for/,
	'the log names the transaction holding the cap: process, application, age');

$in .= "COMMIT;\n\\q\n";
$h->finish;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync after the writer committed');
PgPullTest::same_rows($node, 'w', 'id, v, updated_at', 'default',
	'nothing lost: the late commit and the rows after it are in the destination');
is($node->safe_psql('dest', q{SELECT v FROM "default".w WHERE id = 200}), 'slow writer',
	'the open transaction\'s own row, committed later, went in the sync after');

$rcv->stop;
$node->stop;
done_testing();
