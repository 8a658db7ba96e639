# tests/t/080_log_based.pl: log-based replication into the reference
# receiver (Import API).
#
# A cluster with wal_level = logical, a table of a few thousand rows (a
# bigserial key, text, numeric, timestamptz, jsonb, and a text column with
# incompressible values over 8 kB, stored out of line), tracked log_based,
# read by the replication role grant_script makes (with REPLICATION)
# through the integration's publication.  Each scenario is a subtest:
#
#   first run under a workload: pgbench inserts, updates (most leave the
#     big column unchanged), deletes, changes keys and rolls back in many
#     small transactions while the first run creates the slot and copies
#     the table slowly; the run ends by itself; then a rolled-back
#     transaction, updates that leave the big column unchanged and key
#     updates; after the workload stops, the next run makes the
#     destination equal to the source (the rows without _sdc_deleted_at);
#   a schema change: ADD COLUMN, then values in it: the new columns arrive;
#   a destination that answers 503 until the retries run out: exit 1, the
#     slot not confirmed past the changes, the next run delivers them;
#   SIGKILL while a large transaction is being sent: the slot not
#     confirmed to its commit, the next run delivers it;
#   TRUNCATE: a warning naming the table, the run succeeds;
#   a partitioned table (publish_via_partition_root): changes in two
#     partitions, and a row moved between them, arrive under the parent;
#   a quiet tracked table while an untracked one is busy: the run confirms
#     the slot past the busy table's WAL, so the slot pins none of it;
#   a first copy cut short by 503s, changes in the part copied and in the
#     part not copied yet, then a run that completes it: equal;
#   an open transaction holds up making the slot: past
#     PGPULL_SLOT_TIMEOUT the run fails naming its pid, no slot is left,
#     and the run after it ended succeeds;
#   untrack of the integration's last log-based streams: the next run
#     drops the slot and says so.
# Every pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PgPullTest::source_node('src', logical => 1);
PgPullTest::log_table($node, 't', 3000);
$node->safe_psql('postgres', q{SELECT pgpull.track('t', 'log_based')});
my $repl = PgPullTest::replication_role($node, 'pgpull_repl',
	integrations => [ 'default', 'parts', 'quiet', 'resume', 'waits' ]);
note('publication of "default": ' . PgPullTest::publish($node, 'default'));
my $rcv = PgPullTest::receiver($node,
	tokens => { tok => 'default', 'tok-parts' => 'parts', 'tok-quiet' => 'quiet', 'tok-resume' => 'resume',
		'tok-waits' => 'waits' });
my $slot_name = $node->safe_psql('postgres', q{SELECT pgpull.slot_name('default')});
my $dest_t = PgPullTest::dest_table($node, 't');

# pgpull sync of an integration as the replication role
sub sync
{
	my ($integration, @args) = @_;
	my %tok = (default => 'tok', parts => 'tok-parts', quiet => 'tok-quiet', resume => 'tok-resume',
		waits => 'tok-waits');
	return PgPullTest::sync($node, $rcv, source => $repl, token => $tok{$integration},
		timeout => 180, args => [ '--integration', $integration, @args ]);
}

sub lsn { return PgPullTest::current_lsn($node); }

# -- the first run under a workload, then the next run: equal
PgPullTest::scenario 'first run: copy and changes under a concurrent workload, then equal' => sub {
	my $work = PgPullTest::log_workload($node, 't', maxid => 4000);
	$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM t WHERE txt LIKE 'w %'})
	  or die 'the workload did not start';
	my $max_before = $node->safe_psql('postgres', 'SELECT max(id) FROM t');
	# a slow copy: small chunks and batches, the first batches slowed
	$rcv->set_faults([ { kind => 'slow', seconds => 0.3, count => 12 } ]);
	my $r = sync('default', '--chunk-rows', '250', '--batch-rows', '250');
	$rcv->clear_faults;
	is($r->{rc}, 0, 'the first run ends by itself while the workload goes on, exit status 0')
	  or diag($r->{stderr});
	my $max_after = $node->safe_psql('postgres', 'SELECT max(id) FROM t');
	cmp_ok($max_after, '>', $max_before, 'the workload wrote during the first run');
	my $slot = PgPullTest::slot($node, 'default');
	ok($slot && $slot->{plugin} eq 'pgoutput' && $slot->{database} eq 'postgres',
		"the run created the logical slot $slot_name (pgoutput, database postgres)");
	isnt(PgPullTest::stream_row($node, 't', q{coalesce(bookmark, '')}), '',
		'the copy is complete: the stream has a bookmark');
	cmp_ok(PgPullTest::records($rcv, 't'), '>=', 3000, 'the copy sent every row');
	my $confirmed1 = PgPullTest::confirmed_flush($node, 'default');
	my $consistent = $node->safe_psql('postgres',
		q{SELECT consistent_lsn FROM pgpull.integration_slot WHERE integration = 'default'});
	ok(PgPullTest::lsn_ge($node, $confirmed1, $consistent) && $confirmed1 ne $consistent,
		"the first run streamed the changes made during its copy and confirmed them ($consistent -> $confirmed1)");

	# while the workload goes on: a rolled-back transaction, updates that
	# leave the big column unchanged, key updates, deletes
	$node->safe_psql('postgres', q{
BEGIN;
INSERT INTO t (id, txt, num, ts, doc, big) VALUES (-1, 'rolled back', -1, now(), '{}', 'rolled back');
UPDATE t SET txt = 'rolled back', big = 'rolled back' WHERE id IN (7, 30);
DELETE FROM t WHERE id = 8;
ROLLBACK;
UPDATE t SET num = num + 1000 WHERE id IN (10, 20, 40, 50);
UPDATE t SET ts = ts + interval '1 day' WHERE id = 60;
UPDATE t SET id = 1000000 + id WHERE id IN (5, 6);
DELETE FROM t WHERE id IN (11, 12);
});
	usleep(500_000);
	unlike(PgPullTest::stop_workload($work), qr/error|abort/i, 'the workload ran without errors');
	$r = sync('default');
	is($r->{rc}, 0, 'after the workload stopped, the next run: exit status 0') or diag($r->{stderr});
	unlike($r->{stderr}, qr/initial copy/, 'it streamed the changes, without copying again');
	PgPullTest::same_as_source($node, 't', 'default', 'the destination equals the source');
	is($node->safe_psql('dest', qq{
		SELECT string_agg(id || ':' || (_sdc_deleted_at IS NOT NULL), ' ' ORDER BY id)
		  FROM $dest_t WHERE id IN (5, 6, 1000005, 1000006)}),
		'5:true 6:true 1000005:false 1000006:false',
		'a key update: the old key ends deleted, the new one is there');
	is($node->safe_psql('dest', qq{
		SELECT string_agg(id || ':' || (_sdc_deleted_at IS NOT NULL), ' ' ORDER BY id)
		  FROM $dest_t WHERE id IN (11, 12)}),
		'11:true 12:true', 'deleted rows: marked with _sdc_deleted_at');
	is($node->safe_psql('dest', qq{
		SELECT count(*) FROM $dest_t WHERE id IN (10, 20, 40, 50)
		   AND length(big) = 9600 AND _sdc_deleted_at IS NULL AND num > 1000}),
		'4', 'an update leaving the 9600-character column unchanged: its value is kept, not null');
	is($node->safe_psql('dest', qq{
		SELECT count(*) FROM $dest_t WHERE big IS NULL AND _sdc_deleted_at IS NULL}),
		'0', 'no live row has the big column null');
	is($node->safe_psql('dest', qq{
		SELECT count(*) FROM $dest_t WHERE id = -1 OR txt = 'rolled back' OR big = 'rolled back' OR num = -1}),
		'0', 'nothing of the rolled-back transactions arrived');
	is($node->safe_psql('dest', qq{SELECT count(*) FROM $dest_t WHERE id = 8 AND _sdc_deleted_at IS NULL}),
		'1', 'the row a rolled-back transaction deleted is still there');
	my $confirmed2 = PgPullTest::confirmed_flush($node, 'default');
	ok(PgPullTest::lsn_ge($node, $confirmed2, $confirmed1) && $confirmed2 ne $confirmed1,
		"the slot was confirmed further ($confirmed1 -> $confirmed2)");
};

# -- a schema change: the new columns arrive
PgPullTest::scenario 'schema change: ADD COLUMN, then values in it' => sub {
	$node->safe_psql('postgres', q{
UPDATE t SET txt = 'before the change' WHERE id BETWEEN 21 AND 25;
ALTER TABLE t ADD COLUMN extra text, ADD COLUMN score integer;
UPDATE t SET extra = 'extra ' || id, score = id * 3 WHERE id BETWEEN 21 AND 40;
INSERT INTO t (txt, num, ts, doc, big, extra, score)
VALUES ('after the change', 1, now(), '{}', 'x', 'a new row', 7);
DELETE FROM t WHERE id = 26;
});
	my $r = sync('default');
	is($r->{rc}, 0, 'a run after ADD COLUMN: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 't', 'default', 'the destination equals the source, new columns too');
	is($node->safe_psql('dest', qq{
		SELECT count(*) FROM $dest_t WHERE extra LIKE 'extra %' AND score > 0 AND _sdc_deleted_at IS NULL}),
		'19', 'the values of the new columns arrived');
};

# -- the destination fails until the retries run out
PgPullTest::scenario 'destination fails: the slot stays, the next run delivers' => sub {
	my $changes = PgPullTest::log_changes($node, 't', 'failed run', 'default');
	$rcv->set_faults([ { kind => 'status', code => 503, count => 20 } ]);
	my $r = sync('default', '--max-retries', '1');
	$rcv->clear_faults;
	is($r->{rc}, 1, 'retries exhausted: exit status 1') or diag($r->{stderr});
	like($r->{stderr}, qr/HTTP 503/, 'the error names the 503');
	PgPullTest::not_confirmed_past($node, 'default', $changes, 'the slot was not confirmed past the changes');
	$r = sync('default');
	is($r->{rc}, 0, 'the next run: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 't', 'default', 'the next run delivered everything: equal');
	ok(PgPullTest::lsn_ge($node, PgPullTest::confirmed_flush($node, 'default'), $changes->{changed}),
		'and the slot is confirmed past the changes');
};

# -- SIGKILL while a large transaction is being sent
PgPullTest::scenario 'SIGKILL mid-stream: the slot stays, the next run delivers' => sub {
	# one large transaction: the slot may be confirmed into it (a
	# transaction is decoded again unless its commit is before the
	# confirmed position), never to its commit
	my $before = PgPullTest::confirmed_flush($node, 'default');
	my $before_commit = $node->safe_psql('postgres', q{
BEGIN;
UPDATE t SET txt = 'killed run ' || id, num = num + 1 WHERE id > 100;
SELECT pg_current_wal_insert_lsn();
COMMIT;
});
	$rcv->clear_requests;
	$rcv->set_faults([ { kind => 'slow', seconds => 1, count => 40 } ]);
	my $run = PgPullTest::start_sync($node, $rcv, source => $repl, timeout => 180,
		args => [ '--integration', 'default', '--batch-rows', '100' ]);
	# wait until two batches reached the destination (the second one slowed)
	my $remaining = sub { my $f = $rcv->faults; return @$f ? $f->[0]{remaining} : 0 };
	my $waited = 0;
	while ($remaining->() > 38 && $waited++ < 1200 && PgPullTest::still_running($run))
	{
		usleep(50_000);
	}
	cmp_ok($remaining->(), '<=', 38, 'the destination received batches of the stream');
	$run->{harness}->signal('KILL');
	my $killed = PgPullTest::finish_sync($run);
	$rcv->clear_faults;
	is($killed->{signal}, 9, 'the run was killed with SIGKILL');
	PgPullTest::wait_slot_released($node, 'default');
	$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory'})
	  or die 'the killed puller\'s sessions did not go away';
	PgPullTest::not_confirmed_past($node, 'default', { start => $before_commit, before => $before },
		'the slot was not confirmed to the transaction\'s commit');
	my $r = sync('default');
	is($r->{rc}, 0, 'the next run: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 't', 'default', 'after SIGKILL: nothing lost, equal');
	is($node->safe_psql('dest', qq{SELECT count(*) FROM $dest_t WHERE txt LIKE 'killed run %'}),
		$node->safe_psql('postgres', q{SELECT count(*) FROM t WHERE txt LIKE 'killed run %'}),
		'every row of the killed transaction arrived');
};

# -- TRUNCATE: a warning naming the table
PgPullTest::scenario 'TRUNCATE: a warning naming the table, the run succeeds' => sub {
	$node->safe_psql('postgres', q{
CREATE TABLE tt (id integer PRIMARY KEY, v text);
INSERT INTO tt SELECT g, 'tt ' || g FROM generate_series(1, 50) g;
SELECT pgpull.track('tt', 'log_based');
});
	PgPullTest::publish($node, 'default');
	my $r = sync('default');
	is($r->{rc}, 0, 'a stream added to the integration: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 'tt', 'default', 'the new stream was copied');
	$node->safe_psql('postgres', q{
INSERT INTO tt VALUES (51, 'before truncate');
TRUNCATE tt;
INSERT INTO tt VALUES (100, 'after truncate');
UPDATE t SET txt = 'after truncate' WHERE id = 62;
});
	$r = sync('default');
	is($r->{rc}, 0, 'a run over a TRUNCATE: exit status 0') or diag($r->{stderr});
	my @warnings = grep { /WARNING/ && /truncat/i && /\btt\b/ } split /\n/, $r->{stderr};
	ok(@warnings, 'a warning names the truncated table') or diag($r->{stderr});
	note("the warning: $warnings[0]") if @warnings;
	is($node->safe_psql('dest', q{SELECT v FROM "default".tt WHERE id = 100 AND _sdc_deleted_at IS NULL}),
		'after truncate', 'a row inserted after the TRUNCATE arrived');
	PgPullTest::same_as_source($node, 't', 'default', 'the other stream goes on: equal');
};

# -- a partitioned table, published through its root
PgPullTest::scenario 'partitioned table: changes in two partitions arrive under the parent' => sub {
	$node->safe_psql('postgres', q{
CREATE TABLE pt (id integer, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE pt_east PARTITION OF pt FOR VALUES IN ('east');
CREATE TABLE pt_west PARTITION OF pt FOR VALUES IN ('west');
INSERT INTO pt SELECT g, CASE WHEN g % 2 = 0 THEN 'east' ELSE 'west' END, 'pt ' || g
  FROM generate_series(1, 200) g;
SELECT pgpull.track('pt', 'log_based', integration => 'parts');
});
	PgPullTest::publish($node, 'parts');
	is($node->safe_psql('postgres', q{
		SELECT pubviaroot FROM pg_publication WHERE pubname = pgpull.publication_name('parts')}),
		't', 'the publication publishes through the partition root');
	my $r = sync('parts');
	is($r->{rc}, 0, 'first run of the partitioned table: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 'pt', 'parts', 'the copy: equal');
	$rcv->clear_requests;
	$node->safe_psql('postgres', q{
INSERT INTO pt VALUES (1000, 'east', 'new east'), (1001, 'west', 'new west');
UPDATE pt SET v = 'changed east' WHERE id IN (4, 6);
UPDATE pt SET v = 'changed west' WHERE id IN (5, 7);
DELETE FROM pt WHERE id IN (8, 9);
UPDATE pt SET region = 'west', v = 'moved' WHERE id = 10;
});
	$r = sync('parts');
	is($r->{rc}, 0, 'a run with changes in both partitions: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 'pt', 'parts', 'the destination equals the source');
	my %names = map { ($_->{table_name} // '?') => 1 } grep { defined $_->{status} } @{ $rcv->requests };
	is(join(',', sort keys %names), 'pt', 'every batch went to the parent\'s table');
	is($node->safe_psql('dest', q{
		SELECT string_agg(region || ':' || (_sdc_deleted_at IS NOT NULL), ' ' ORDER BY region)
		  FROM parts.pt WHERE id = 10}),
		'east:true west:false', 'a row moved to the other partition: its old key deleted');
	is($node->safe_psql('dest', q{
		SELECT count(*) FROM information_schema.tables WHERE table_name IN ('pt_east', 'pt_west')}),
		'0', 'no table for a partition');
};

# -- a quiet tracked table while an untracked one is busy
PgPullTest::scenario 'quiet table, busy server: the slot does not pin WAL' => sub {
	$node->safe_psql('postgres', q{
CREATE TABLE calm (id integer PRIMARY KEY, v text);
INSERT INTO calm SELECT g, 'calm ' || g FROM generate_series(1, 20) g;
CREATE TABLE busy (id bigserial PRIMARY KEY, v text);
SELECT pgpull.track('calm', 'log_based', integration => 'quiet');
});
	PgPullTest::publish($node, 'quiet');
	my $r = sync('quiet');
	is($r->{rc}, 0, 'first run of the quiet integration: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 'calm', 'quiet', 'the copy: equal');
	my $before = PgPullTest::confirmed_flush($node, 'quiet');
	$node->safe_psql('postgres', "INSERT INTO busy (v) SELECT repeat('b', 200) FROM generate_series(1, 5000);")
	  for 1 .. 5;
	my $busy_end = lsn();
	$rcv->clear_requests;
	$r = sync('quiet');
	is($r->{rc}, 0, 'a run with nothing for the tracked table: exit status 0') or diag($r->{stderr});
	is(PgPullTest::records($rcv, 'calm'), 0, 'nothing was sent for it');
	my $after = PgPullTest::confirmed_flush($node, 'quiet');
	ok(PgPullTest::lsn_ge($node, $after, $busy_end),
		"the slot was confirmed past the busy table's WAL ($before -> $after, busy table's WAL to $busy_end)");
};

# -- the first copy fails half way; changes; the next run resumes it
PgPullTest::scenario 'a first copy cut short by the destination, changes, then the rest' => sub {
	PgPullTest::log_table($node, 'r', 1000);
	$node->safe_psql('postgres', q{SELECT pgpull.track('r', 'log_based', integration => 'resume')});
	PgPullTest::publish($node, 'resume');
	$rcv->set_faults([ { kind => 'slow', seconds => 0, count => 3 }, { kind => 'status', code => 503, count => 50 } ]);
	my $r = sync('resume', '--batch-rows', '100', '--chunk-rows', '200', '--max-retries', '1');
	$rcv->clear_faults;
	is($r->{rc}, 1, 'the destination fails during the copy: exit status 1') or diag($r->{stderr});
	is(PgPullTest::stream_row($node, 'r', q{coalesce(bookmark, '-')}, 'resume'), '-',
		'the copy is not complete');
	ok(PgPullTest::slot($node, 'resume'), 'the slot was made');
	$node->safe_psql('postgres', q{
UPDATE r SET txt = 'after the cut ' || id WHERE id % 50 = 1;
DELETE FROM r WHERE id IN (150, 950);
UPDATE r SET id = 5000 + id WHERE id IN (151, 951);
INSERT INTO r (txt, num, ts, doc, big) VALUES ('after the cut', 1, now(), '{}', 'x');
UPDATE r SET num = num + 1 WHERE id IN (160, 960);
});
	$r = sync('resume', '--batch-rows', '100', '--chunk-rows', '200');
	is($r->{rc}, 0, 'the next run: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 'r', 'resume', 'the destination equals the source');
	isnt(PgPullTest::stream_row($node, 'r', q{coalesce(bookmark, '-')}, 'resume'), '-',
		'the copy is complete');
};

# -- making the slot waits for open transactions, up to PGPULL_SLOT_TIMEOUT
PgPullTest::scenario 'an open transaction holds up the slot: the run names it, then succeeds once it ends' => sub {
	$node->safe_psql('postgres', q{
CREATE TABLE waits (id integer PRIMARY KEY, v text);
INSERT INTO waits SELECT g, 'w ' || g FROM generate_series(1, 10) g;
SELECT pgpull.track('waits', 'log_based', integration => 'waits');
});
	PgPullTest::publish($node, 'waits');
	my $open = PgPullTest::open_transaction($node, q{INSERT INTO busy (v) VALUES ('open')});
	my $r;
	{
		local $ENV{PGPULL_SLOT_TIMEOUT} = '2';
		$r = sync('waits');
	}
	isnt($r->{rc}, 0, 'the run fails after PGPULL_SLOT_TIMEOUT') or diag($r->{stderr});
	like($r->{stderr}, qr/\b$open->{pid}\b/, "the error names the open transaction's pid ($open->{pid})")
	  or diag($r->{stderr});
	is(PgPullTest::slot($node, 'waits'), undef, 'no slot is left');
	PgPullTest::end_transaction($open);
	$r = sync('waits');
	is($r->{rc}, 0, 'once the transaction ended, the next run: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 'waits', 'waits', 'the destination equals the source');
};

# -- untrack the last log-based streams: the next run drops the slot
PgPullTest::scenario 'untrack: the next run drops the slot' => sub {
	ok(PgPullTest::slot($node, 'default'), 'the slot is there before');
	$node->safe_psql('postgres', q{SELECT pgpull.untrack('t'); SELECT pgpull.untrack('tt');});
	ok(PgPullTest::slot($node, 'default'), 'untrack alone leaves the slot (it only marks it)');
	my $r = sync('default');
	is($r->{rc}, 0, 'the next run: exit status 0') or diag($r->{stderr});
	is(PgPullTest::slot($node, 'default'), undef, "the slot $slot_name is gone from pg_replication_slots");
	ok(scalar(grep { /\Q$slot_name\E/ && /drop/i } split /\n/, $r->{stderr}),
		'the run says it dropped the slot, by name') or diag($r->{stderr});
	ok(PgPullTest::slot($node, 'parts') && PgPullTest::slot($node, 'quiet'),
		'the slots of the other integrations stay');
};

# -- a slot past max_slot_wal_keep_size is invalidated: the next run says
# why, makes it again and copies the stream again (last: it invalidates the
# other integrations' slots too)
PgPullTest::scenario 'an invalidated slot: an error line, a new slot, a new copy, then equal' => sub {
	my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.run_streams rs
		JOIN pgpull.stream s USING (stream_id) WHERE s.integration = 'resume' AND rs.copied});
	$node->safe_psql('postgres', q{ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf();});
	for (1 .. 4)
	{
		$node->safe_psql('postgres', q{CREATE TABLE IF NOT EXISTS filler (g integer);
INSERT INTO filler SELECT g FROM generate_series(1, 100000) g;});
		$node->safe_psql('postgres', q{SELECT pg_switch_wal(); CHECKPOINT;});
	}
	is($node->safe_psql('postgres', q{SELECT wal_status FROM pg_replication_slots WHERE slot_name = pgpull.slot_name('resume')}),
		'lost', 'the slot is invalidated');
	$node->safe_psql('postgres', q{ALTER SYSTEM RESET max_slot_wal_keep_size; SELECT pg_reload_conf();
UPDATE r SET txt = 'after the loss ' || id WHERE id % 40 = 3;});
	my $r = sync('resume');
	is($r->{rc}, 0, 'the next run: exit status 0') or diag($r->{stderr});
	ok(scalar(grep { /invalidated/ && /max_slot_wal_keep_size/ && /copied again/ } split /\n/, $r->{stderr}),
		'the run says the slot was invalidated and the stream is copied again') or diag($r->{stderr});
	is($node->safe_psql('postgres', q{SELECT wal_status FROM pg_replication_slots WHERE slot_name = pgpull.slot_name('resume')}),
		'reserved', 'the slot was made again');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.run_streams rs
		JOIN pgpull.stream s USING (stream_id) WHERE s.integration = 'resume' AND rs.copied}),
		$before + 1, 'the run copied the stream again');
	PgPullTest::same_as_source($node, 'r', 'resume', 'the destination equals the source');
};

$rcv->stop;
$node->stop;
done_testing();
