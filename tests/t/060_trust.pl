# tests/t/060_trust.pl: only the roles an integration is granted to run it,
# and only the session that took a stream reports it.
#
# A role may begin, report, log and confirm the runs of the integrations
# granted to it (pgpull.grant_integration; grant_script grants "default");
# another integration's calls are refused with SQLSTATE 42501, naming the
# integration and the role.
#
# A role granted the run protocol by grant_script, in a session of its own,
# tries to move the bookmark of a stream another puller's session has
# taken: record_batch, end_stream and end_run of that puller's run, and of
# its own run for a stream it did not take, and record_unchanged,
# probe_query and prune_runs of that puller's run.  Each is refused with
# SQLSTATE 55000 and a message naming the stream or run (record_unchanged
# of its own run leaves out the stream the other session holds), and the
# bookmark does not move; the session that took the stream goes on as
# before.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PgPullTest::source_node('trust');
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, updated_at timestamptz NOT NULL);
INSERT INTO items SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 day' FROM generate_series(1, 10) i;
SELECT pgpull.track('items', 'key_based', 'updated_at');
});
for my $role (qw(regress_puller regress_attacker))
{
	$node->safe_psql('postgres', $_) for split /\n/,
	  $node->safe_psql('postgres', "SELECT s FROM pgpull.grant_script('$role', '{public}') s");
}
my $sid = $node->safe_psql('postgres', 'SELECT stream_id FROM pgpull.stream');

# the puller's session: begins a run, takes the stream, reads a chunk, and
# stays connected
my ($in, $out, $err) = ('', '', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' user=regress_puller' ],
	'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
sub puller
{
	my ($sql, $marker) = @_;
	$in .= "$sql\nSELECT '$marker';\n";
	$h->pump until $out =~ /\Q$marker\E\n/ || $err =~ /ERROR/;
	return $out;
}
puller(q{SELECT run_id FROM pgpull.begin_run('default', '1.1', 'import_api') LIMIT 1 \gset
SELECT taken FROM pgpull.take_stream(:run_id, } . $sid . q{);
SELECT pgpull.record_batch(:run_id, } . $sid . q{, 3, 30, '["2024-01-04T00:00:00Z","3"]', 0);}, 'taken');
unlike($err, qr/ERROR/, 'the puller begins a run, takes the stream and records a batch');
my $run = $node->safe_psql('postgres', q{SELECT max(run_id) FROM pgpull.runs});
my $bookmark = sub { $node->safe_psql('postgres', "SELECT bookmark FROM pgpull.stream WHERE stream_id = $sid") };
is($bookmark->(), '2024-01-04T00:00:00Z', 'its batch moved the bookmark');

# the other role, in its own session
my $attacker = $node->connstr('postgres') . ' user=regress_attacker';
sub attack
{
	my ($sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql,
		connstr => $attacker, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $stderr;
}
my $far = q{'["9999-12-31T00:00:00Z","0"]'};
like(attack("SELECT pgpull.record_batch($run, $sid, 0, 0, $far, 0)"),
	qr/55000: stream $sid of run $run is not held by this session/,
	'record_batch on the puller\'s run from another session: refused, naming the stream and run');
like(attack("SELECT pgpull.record_cap($run, $sid, '-infinity', 1)"),
	qr/55000: stream $sid of run $run is not held by this session/,
	'record_cap on the puller\'s stream from another session (a cap that would stall its bookmark): refused');
like(attack("SELECT pgpull.end_stream($run, $sid, 'succeeded', 0, NULL)"),
	qr/55000: stream $sid of run $run is not held by this session/,
	'end_stream of the puller\'s stream from another session: refused');
like(attack("SELECT pgpull.end_run($run, 'succeeded', NULL)"),
	qr/55000: run $run is not held by this session/,
	'end_run of the puller\'s run from another session: refused');
like(attack("SELECT * FROM pgpull.record_unchanged($run, ARRAY[$sid]::bigint[])"),
	qr/55000: run $run is not held by this session/,
	'record_unchanged on the puller\'s run from another session: refused, naming the run');
like(attack("SELECT pgpull.probe_query($run)"),
	qr/55000: run $run is not held by this session/,
	'probe_query of the puller\'s run from another session: refused');
like(attack("SELECT * FROM pgpull.prune_runs($run)"),
	qr/55000: run $run is not held by this session/,
	'prune_runs of the puller\'s run from another session: refused');
is($node->safe_psql('postgres',
		"SELECT cap IS NULL AND rows_resent = 0 FROM pgpull.run_streams WHERE run_id = $run AND stream_id = $sid"),
	't', 'the puller\'s run has no cap and no rows counted from the attacks');

# its own run, and the stream it did not take
my $own = $node->safe_psql('postgres',
	q{SELECT run_id FROM pgpull.begin_run('default', '1.1', 'import_api') LIMIT 1},
	connstr => $attacker);
like(attack("SELECT pgpull.record_batch($own, $sid, 0, 0, $far, 0)"),
	qr/55000: stream $sid is not being synced by run $own/,
	'record_batch on its own run for a stream it did not take: refused');
like(attack("SELECT pgpull.record_cap($own, $sid, '-infinity', 1)"),
	qr/55000: stream $sid is not being synced by run $own/,
	'record_cap on its own run for a stream it did not take: refused');
like(attack("SELECT pgpull.end_stream($own, $sid, 'succeeded', 0, NULL)"),
	qr/55000: stream $sid is not being synced by run $own/,
	'end_stream succeeded for a stream it did not take: refused');
like(attack(qq{SELECT taken FROM pgpull.take_stream($own, $sid)}), qr/^$/,
	'take_stream of a stream another session holds is no error');
is($node->safe_psql('postgres', qq{SELECT status FROM pgpull.run_streams WHERE run_id = $own}),
	'skipped', 'it is skipped');
is($bookmark->(), '2024-01-04T00:00:00Z', 'the bookmark did not move');
is($node->safe_psql('postgres', "SELECT status FROM pgpull.stream WHERE stream_id = $sid"), 'running',
	'the stream is still the puller\'s');
my ($left, $quiet_run) = $node->safe_psql('postgres', qq{
		SELECT run_id AS r FROM pgpull.begin_run('default', '1.1', 'import_api') LIMIT 1 \\gset
		SELECT count(*) || ' ' || :r FROM pgpull.record_unchanged(:r, ARRAY[$sid]::bigint[]);
		SELECT pgpull.end_run(:r, 'succeeded', NULL);}, connstr => $attacker) =~ /^(\d+) (\d+)/;
is($left, '0', 'record_unchanged in a run of its own, of a stream another session holds: left out');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM pgpull.run_streams WHERE run_id = $quiet_run}),
	'0', 'it is not recorded in that run');
is($bookmark->(), '2024-01-04T00:00:00Z', 'the bookmark did not move');

# -- a state moves a bookmark only when pgpull wrote it for the run
my $singer_run = $node->safe_psql('postgres',
	q{SELECT run_id FROM pgpull.begin_run('default', '1.1', 'singer') LIMIT 1}, connstr => $attacker);
my $forged = qq({"pgpull": {"version": 1, "integration": "default", "run_id": $singer_run}, "bookmarks": {"items": {"stream_id": $sid, "method": "key_based", "replication_key": "updated_at", "replication_key_value": "9999-12-31T00:00:00Z", "position": null, "version": null, "complete": true, "rows": 1, "mac": "00"}}});
is( $node->safe_psql('postgres', "SELECT moved || ' ' || detail FROM pgpull.commit_state('$forged')",
		connstr => $attacker),
	'false rejected: its MAC does not verify: pgpull did not write this bookmark for this run, or it was changed',
	'a hand-written state from another session: rejected, not applied');
# pgpull commit-state says so, and fails
my $cli = PgPullTest::pgpull(args => [ 'commit-state', '--source', $attacker, '-' ], stdin => \"$forged\n");
is($cli->{rc}, 1, 'commit-state of a forged state: exit status 1');
like($cli->{stderr}, qr/WARNING items nothing moved: rejected: its MAC does not verify/,
	'commit-state: the rejected entry is a WARNING naming the stream');
like($cli->{stderr}, qr/WARNING - 1 bookmark entry was rejected: pgpull did not write it/,
	'commit-state: the summary counts it');
$forged =~ s/"run_id": $singer_run/"run_id": null/;
like( $node->safe_psql('postgres', "SELECT detail FROM pgpull.commit_state('$forged')", connstr => $attacker),
	qr/^rejected: the state names no run of pgpull$/, 'and without a run_id too');
is($bookmark->(), '2024-01-04T00:00:00Z', 'the bookmark did not move');

# -- integrations belong to roles
$node->safe_psql('postgres', q{
CREATE TABLE secrets (id integer PRIMARY KEY);
SELECT pgpull.track('secrets', 'full_table', integration => 'secret');
SELECT pgpull.grant_integration('secret', 'regress_puller');
});
my $sid2 = $node->safe_psql('postgres', q{SELECT stream_id FROM pgpull.stream WHERE integration = 'secret'});
like(attack(q{SELECT * FROM pgpull.begin_run('secret', '1.1', 'import_api')}),
	qr/42501: role "regress_attacker" may not run integration "secret".*HINT:  As the extension owner: SELECT pgpull.grant_integration\('secret', 'regress_attacker'\);/s,
	'begin_run of an integration not granted: refused, naming it and the role, with the fix');
my $secret_run = $node->safe_psql('postgres',
	q{SELECT run_id FROM pgpull.begin_run('secret', '1.1', 'singer') LIMIT 1});
like(attack("SELECT * FROM pgpull.take_stream($secret_run, $sid2)"),
	qr/42501: role "regress_attacker" may not run integration "secret"/,
	'take_stream of its run: refused');
like(attack("SELECT pgpull.log($secret_run, NULL, 'INFO', 'hello')"),
	qr/42501: role "regress_attacker" may not run integration "secret"/,
	'log to its run: refused');
like(attack("SELECT * FROM pgpull.record_unchanged($secret_run, ARRAY[$sid2]::bigint[])"),
	qr/42501: role "regress_attacker" may not run integration "secret"/,
	'record_unchanged of its run: refused');
like(attack("SELECT pgpull.probe_query($secret_run)"),
	qr/42501: role "regress_attacker" may not run integration "secret"/,
	'probe_query of its run: refused');
like(attack(q{SELECT * FROM pgpull.commit_state('{"pgpull": {"version": 1, "integration": "secret"}, "bookmarks": {}}')}),
	qr/42501: role "regress_attacker" may not run integration "secret"/,
	'commit_state of its state: refused');
is( $node->safe_psql('postgres', q{
		SELECT ok || ' ' || coalesce(fix, '') FROM pgpull.check_privileges('regress_attacker', '{}')
		 WHERE object_type = 'integration' AND object_name = 'secret'}),
	q{false SELECT pgpull.grant_integration('secret', 'regress_attacker')},
	'check_privileges reports it, with the fix');
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM pgpull.begin_run('secret', '1.1', 'import_api')},
		connstr => $node->connstr('postgres') . ' user=regress_puller'),
	'1', 'the role it is granted to runs it');

# the puller goes on
puller(qq{SELECT pgpull.record_batch(:run_id, $sid, 7, 70, '["2024-01-11T00:00:00Z","10"]', 0);
SELECT pgpull.end_stream(:run_id, $sid, 'succeeded', 10, NULL);
SELECT pgpull.end_run(:run_id, 'succeeded', NULL);}, 'ended');
unlike($err, qr/ERROR/, 'the puller records its next batch and ends the stream and the run');
is($bookmark->(), '2024-01-11T00:00:00Z', 'its bookmark moved');
$in .= "\\q\n";
$h->finish;

$node->stop;
done_testing();
