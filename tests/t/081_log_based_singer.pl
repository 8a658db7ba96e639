# tests/t/081_log_based_singer.pl: log-based replication into a Singer
# target (--target-command).
#
# The table and workload of 080 (PgPullTest::log_table, log_workload),
# read by the replication role through the integration's publication, go
# to the test target (tests/singer/target_pg.py), which loads into
# database "dest" and echoes the states it committed; every message pgpull
# sent is also kept (tee).  Each scenario is a subtest:
#
#   first run under a workload, then a run after it stopped: the target's
#     table (rows without _sdc_deleted_at) equals the source, and so does
#     the latest RECORD per key by its sequence, deletes marked by
#     _sdc_deleted_at; the slot was confirmed through the target's states;
#   a target that confirms nothing (echoes no state): the run warns, the
#     slot is not confirmed past the changes; the next run, with a target
#     that confirms, sends them again: equal.
# Every pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::PP;
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $tools = abs_path(dirname(__FILE__) . '/../singer');
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $json = JSON::PP->new;

my $node = PgPullTest::source_node('src', logical => 1);
PgPullTest::log_table($node, 't', 1500);
$node->safe_psql('postgres', q{
SELECT pgpull.track('t', 'log_based');
CREATE SCHEMA verify;
CREATE TABLE verify.latest (k text PRIMARY KEY, msg jsonb NOT NULL);
});
my $repl = PgPullTest::replication_role($node, 'pgpull_repl');
note('publication: ' . PgPullTest::publish($node, 'default'));
my $dest = $node->connstr('dest');

# a word for /bin/sh
sub shq
{
	my ($s) = @_;
	$s =~ s/'/'\\''/g;
	return "'$s'";
}

# pgpull sync as the replication role into the test target (loading into
# schema "default"), every message also appended to FILE
sub sync
{
	my ($file, $target_opts, @args) = @_;
	my $command = 'tee -a ' . shq($file) . ' | ' . join(' ', shq('/usr/bin/python3'),
		shq("$tools/target_pg.py"), '--dsn', shq($dest), '--schema', 'default', @$target_opts);
	return PgPullTest::pgpull(args => [ 'sync', '--source', $repl, '--target-command', $command, @args ]);
}

sub lsn { return PgPullTest::current_lsn($node); }

# The sequence of a RECORD message: where the log-based contract puts it
# (the message's "sequence", or a "_sdc_sequence" property).
sub sequence_of
{
	my ($m) = @_;
	return $m->{sequence} // $m->{record}{_sdc_sequence};
}

# Checks that the latest RECORD of stream t per key, by sequence (the
# later message on a tie), in the message files, equals the source: the
# keys whose latest record has no _sdc_deleted_at are the source's rows,
# with the same values (compared in SQL: each record made a row of t by
# jsonb_populate_record).
sub latest_equals_source
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($name, @files) = @_;
	my (%latest, %seq);
	my ($records, $without) = (0, 0);
	for my $file (@files)
	{
		for my $line (split /\n/, slurp_file($file))
		{
			next unless $line =~ /"type"\s*:\s*"RECORD"/;
			my $m = $json->decode($line);
			next unless $m->{stream} eq 't';
			$records++;
			my $k = $m->{record}{id};
			my $s = sequence_of($m);
			$without++, $s = 0 unless defined $s;
			next if defined $seq{$k} && $s < $seq{$k};
			$seq{$k} = $s;
			$latest{$k} = $line;
		}
	}
	is($without, 0, "$name: every RECORD carries a sequence ($records records)");
	my $sql = "TRUNCATE verify.latest;\n";
	for my $k (sort keys %latest)
	{
		my $tag = '$m$';
		$tag = '$m' . int(rand(1e9)) . '$' while index($latest{$k}, $tag) >= 0;
		$sql .= "INSERT INTO verify.latest VALUES ('$k', $tag$latest{$k}$tag);\n";
	}
	$node->safe_psql('postgres', $sql);
	my $diff = $node->safe_psql('postgres', q{
WITH s AS (SELECT t.id::text AS k, md5(ROW(t.*)::text) AS h FROM t),
	 d AS (SELECT l.k, md5(ROW(r.*)::text) AS h
			 FROM verify.latest l, jsonb_populate_record(NULL::t, l.msg->'record') r
			WHERE l.msg->'record'->>'_sdc_deleted_at' IS NULL)
SELECT coalesce(s.k, d.k) || ':' || CASE WHEN s.k IS NULL THEN 'extra' WHEN d.k IS NULL THEN 'missing'
										 ELSE 'different' END
  FROM s FULL JOIN d ON d.k = s.k
 WHERE s.h IS DISTINCT FROM d.h
 ORDER BY 1 LIMIT 20});
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	is($diff, '', "$name: the latest record per key equals the source ($rows rows)");
	return;
}

# -- the first run under a workload, then the next run: equal
PgPullTest::scenario 'first run under a workload, then equal' => sub {
	my $work = PgPullTest::log_workload($node, 't', maxid => 2500);
	$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM t WHERE txt LIKE 'w %'})
	  or die 'the workload did not start';
	my $r = sync("$tmp/first.jsonl", [ '--batch-size', '50' ], '--batch-rows', '100', '--chunk-rows', '200');
	is($r->{rc}, 0, 'the first run ends by itself while the workload goes on, exit status 0')
	  or diag($r->{stderr});
	like($r->{stderr}, qr/the Singer target echoed \d+ states/, 'the target confirmed states');
	ok(PgPullTest::slot($node, 'default'), 'the run created the slot');
	my $confirmed1 = PgPullTest::confirmed_flush($node, 'default');
	$node->safe_psql('postgres', q{
BEGIN;
INSERT INTO t (id, txt, num, ts, doc, big) VALUES (-1, 'rolled back', -1, now(), '{}', 'rolled back');
UPDATE t SET txt = 'rolled back' WHERE id = 7;
ROLLBACK;
UPDATE t SET num = num + 1000 WHERE id IN (10, 20);
UPDATE t SET id = 1000000 + id WHERE id = 5;
DELETE FROM t WHERE id = 11;
});
	usleep(500_000);
	unlike(PgPullTest::stop_workload($work), qr/error|abort/i, 'the workload ran without errors');
	my $end = lsn();
	$r = sync("$tmp/first.jsonl", [ '--batch-size', '50' ]);
	is($r->{rc}, 0, 'after the workload stopped, the next run: exit status 0') or diag($r->{stderr});
	PgPullTest::same_as_source($node, 't', 'default', 'the target\'s table equals the source', schema => 'default');
	latest_equals_source('the messages', "$tmp/first.jsonl");
	is($node->safe_psql('dest', q{
		SELECT string_agg(id || ':' || (_sdc_deleted_at IS NOT NULL), ' ' ORDER BY id)
		  FROM "default".t WHERE id IN (5, 11, 1000005)}),
		'5:true 11:true 1000005:false', 'a key update and a delete: the old keys marked deleted');
	is($node->safe_psql('dest', q{SELECT count(*) FROM "default".t WHERE id IN (10, 20) AND length(big) = 9600}),
		'2', 'an update leaving the big column unchanged: its value is kept');
	is($node->safe_psql('dest', q{SELECT count(*) FROM "default".t WHERE id = -1 OR txt = 'rolled back'}),
		'0', 'nothing of the rolled-back transactions arrived');
	my $confirmed2 = PgPullTest::confirmed_flush($node, 'default');
	ok(PgPullTest::lsn_ge($node, $confirmed2, $end),
		"the target's states confirmed the slot past the changes ($confirmed1 -> $confirmed2, changes to $end)");
};

# -- a target that confirms nothing, then one that does
PgPullTest::scenario 'a target that confirms nothing: the slot stays, the next run sends again' => sub {
	my $changes = PgPullTest::log_changes($node, 't', 'unconfirmed', 'default');
	my $r = sync("$tmp/noecho.jsonl", ['--no-echo']);
	is($r->{rc}, 0, 'a target that echoes no state: exit status 0') or diag($r->{stderr});
	like($r->{stderr}, qr/WARNING - the Singer target confirmed nothing/, 'with a warning');
	PgPullTest::not_confirmed_past($node, 'default', $changes, 'the slot was not confirmed past the changes');
	$r = sync("$tmp/again.jsonl", [ '--batch-size', '10' ]);
	is($r->{rc}, 0, 'the next run, with a target that confirms: exit status 0') or diag($r->{stderr});
	my @again = grep { /"type"\s*:\s*"RECORD"/ } split /\n/, slurp_file("$tmp/again.jsonl");
	my %ids = map { my $m = $json->decode($_); ($m->{record}{id} => 1) } @again;
	is(scalar(grep { $ids{$_} } 41 .. 61), 21, 'it sent the unconfirmed changes again');
	PgPullTest::same_as_source($node, 't', 'default', 'the target\'s table equals the source', schema => 'default');
	latest_equals_source('the messages of every run', "$tmp/first.jsonl", "$tmp/noecho.jsonl",
		"$tmp/again.jsonl");
	ok(PgPullTest::lsn_ge($node, PgPullTest::confirmed_flush($node, 'default'), $changes->{changed}),
		'the slot was confirmed past the changes this time');
};

$node->stop;
done_testing();
