# tests/t/030_sync.pl: pgpull sync end to end, into the reference receiver.
#
# A source with a key_based table, a big full_table table, a column
# selection, a view and an append-only table: the first sync makes the
# destination equal to the source (compared in SQL), batches stay within
# --batch-rows and --batch-bytes, incremental runs send only the changed
# rows (a time key goes on strictly after the bookmark: no tie is sent
# again), reset sends the table again, two
# integrations keep independent bookmarks, an HTTPS destination is verified
# with --cacert, a wrong token fails with exit 3 and moves no bookmark, the
# token stays out of logs and catalog, connection and configuration errors
# exit 3 and 2.  Every pgpull runs under valgrind, which reports nothing.
use strict;
use warnings FATAL => 'all';
use PgPullTest valgrind => 1;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# -- the source, the receiver, the streams
my $node = PgPullTest::source_node('src',
	streaming => 1,
	conf => "listen_addresses = '127.0.0.1'\npassword_encryption = 'scram-sha-256'",
	hba => "local all all trust\nlocal replication all trust\nhost all all 127.0.0.1/32 scram-sha-256\n");
$node->safe_psql('postgres', q{
CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2),
					flag boolean, updated_at timestamptz NOT NULL);
INSERT INTO items
SELECT g, 'item ' || g || CASE WHEN g % 7 = 0 THEN E' "quoted" \\ back\nslash\ttab é ☃' ELSE '' END,
	   g * 1.25, g % 2 = 0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 5000) g;
CREATE TABLE big (id bigint PRIMARY KEY, v text, n numeric(40,0));
INSERT INTO big SELECT g, repeat(chr(97 + g % 26), g % 300), g * 1e30 FROM generate_series(1, 30000) g;
CREATE TABLE wide (id integer PRIMARY KEY, a text, b text, secret text);
INSERT INTO wide SELECT g, 'a' || g, 'b' || g, 'do not copy ' || g FROM generate_series(1, 100) g;
CREATE VIEW items_view AS SELECT id, name FROM items WHERE id % 3 = 0;
CREATE TABLE events (at timestamptz, what text);
INSERT INTO events SELECT timestamptz '2024-06-01 00:00:00+00' + g * interval '1 minute', 'event ' || (g % 5)
  FROM generate_series(1, 50) g;
SELECT pgpull.track('items', 'key_based', 'updated_at');
SELECT pgpull.track('big', 'full_table');
SELECT pgpull.track('wide', 'full_table', columns => '{a}');
SELECT pgpull.track('items_view', 'full_table', key_columns => '{id}');
SELECT pgpull.track('events', 'full_table');
SELECT pgpull.track('items', 'key_based', 'updated_at', integration => 'Staging Area');
});
my $secret_token = 'tok-SECRET-7f3a9c';
my $rcv = PgPullTest::receiver($node,
	tokens => { tok => 'default', 'tok-staging' => 'Staging Area', $secret_token => 'default' });

my $items_cols = 'id, name, price, flag, updated_at';

# -- first sync, within batch limits
my $r = PgPullTest::sync($node, $rcv,
	args => [ '--batch-rows', '1000', '--batch-bytes', '200000', '--chunk-rows', '7000' ]);
is($r->{rc}, 0, 'first sync: exit status 0');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'first sync: items equal');
PgPullTest::same_rows($node, 'big', 'id, v, n', 'default', 'first sync: big equal (numeric(40,0) too)');
PgPullTest::same_rows($node, 'wide', 'id, a', 'default', 'first sync: selected columns equal');
is($node->safe_psql('dest',
		q{SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns
		   WHERE table_schema = 'default' AND table_name = 'wide' AND column_name NOT LIKE '\_sdc\_%'}),
	'a,id', 'columns not selected are not replicated');
PgPullTest::same_rows($node, 'items_view', 'id, name', 'default', 'first sync: view equal');
PgPullTest::same_rows($node, 'events', 'at, what', 'default', 'first sync: append-only table equal');

my @reqs = grep { defined $_->{status} } @{ $rcv->requests };
is(scalar(grep { ($_->{records} // 0) > 1000 || ($_->{bytes} // 0) > 200000 } @reqs), 0,
	'no batch over 1000 rows or 200000 bytes');
my $big_batches = PgPullTest::accepted($rcv, 'big');
my $big_bytes = 0;
$big_bytes += $_->{bytes} for @$big_batches;
cmp_ok(scalar @$big_batches, '>=', int($big_bytes / 200000) + 1, 'big went in batches cut by bytes');
ok(scalar(grep { $_->{records} < 1000 && $_->{bytes} > 190000 } @$big_batches) >= 10,
	'big: batches full by bytes before rows');
ok(scalar(grep { $_->{records} == 1000 } @{ PgPullTest::accepted($rcv, 'items') }) >= 4,
	'items went in batches cut by rows');
is(PgPullTest::records($rcv, 'items'), 5000, 'items: every row sent once');
my @seq = map { ($_->{first_sequence}, $_->{last_sequence}) } grep { defined $_->{first_sequence} } @reqs;
is(scalar(grep { $seq[$_] <= $seq[ $_ - 1 ] } 1 .. $#seq), 0, 'sequences increase across batches');
is_deeply(PgPullTest::accepted($rcv, 'events')->[0]{key_names}, undef,
	'append-only table: no key_names');
is_deeply(PgPullTest::accepted($rcv, 'items')->[0]{key_names}, ['id'], 'items: key_names');
is(PgPullTest::stream_row($node, 'items', q{bookmark::timestamptz = (SELECT max(updated_at) FROM items)}),
	't', 'items: bookmark at the greatest key');
like($r->{stderr}, qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z INFO items /m,
	'run log lines on stderr: timestamp level stream message');
is($node->safe_psql('postgres',
		q{SELECT status || ' ' || target FROM pgpull.runs ORDER BY run_id DESC LIMIT 1}),
	'succeeded import_api', 'the run is recorded');

# -- incremental: only changed rows (a time key: not the tie at the bookmark)
$rcv->clear_requests;
$node->safe_psql('postgres', q{
UPDATE items SET name = name || ' (changed)',
				 updated_at = timestamptz '2025-01-01 00:00:00+00' + id * interval '1 ms'
 WHERE id IN (10, 20, 30);
INSERT INTO items VALUES (5001, 'new', 1.5, true, timestamptz '2025-02-01 00:00:00+00');
});
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'incremental sync: exit status 0');
is(PgPullTest::records($rcv, 'items'), 4, 'incremental: the 4 changed rows, not the tie at the bookmark');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'incremental: items equal');
is(PgPullTest::stream_row($node, 'items', q{bookmark::timestamptz = (SELECT max(updated_at) FROM items)}),
	't', 'incremental: bookmark moved to the greatest key');

$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync without changes: exit status 0');
is(PgPullTest::records($rcv, 'items'), 0, 'no changes: no row sent, not even the tie at the bookmark');

# the endpoint's own URL, as the Import API's documentation writes it, is taken
# as the base URL
$node->safe_psql('postgres', q{UPDATE items SET updated_at = timestamptz '2025-02-15 00:00:00+00' WHERE id = 2});
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, target => $rcv->url . '/v2/import/batch');
is($r->{rc}, 0, '--target ending in /v2/import/batch: exit status 0') or diag($r->{stderr});
is(PgPullTest::records($rcv, 'items'), 1, '--target ending in /v2/import/batch: the changed row arrived');
is(PgPullTest::records($rcv, 'events'), 50, 'append-only full_table: sent in full again');

# -- reset
$node->safe_psql('postgres', q{SELECT pgpull.reset('items')});
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync after reset: exit status 0');
is(PgPullTest::records($rcv, 'items'), 5001, 'reset: the whole table sent again');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'reset: items equal');

# -- two integrations, independent bookmarks
$r = PgPullTest::sync($node, $rcv, token => 'tok-staging', args => [ '--integration', 'Staging Area' ]);
is($r->{rc}, 0, 'second integration: exit status 0');
PgPullTest::same_rows($node, 'items', $items_cols, 'Staging Area', 'second integration: items equal');
my $staging_bookmark = PgPullTest::stream_row($node, 'items', 'bookmark', 'Staging Area');
$node->safe_psql('postgres',
	q{UPDATE items SET name = 'changed again', updated_at = timestamptz '2025-03-01 00:00:00+00' WHERE id = 1});
$r = PgPullTest::sync($node, $rcv);
is($r->{rc}, 0, 'sync of the default integration');
is(PgPullTest::stream_row($node, 'items', 'bookmark', 'Staging Area'), $staging_bookmark,
	'the other integration\'s bookmark did not move');
is(PgPullTest::stream_row($node, 'items', q{bookmark::timestamptz = timestamptz '2025-03-01 00:00:00+00'}),
	't', 'the synced integration\'s bookmark moved');
is($node->safe_psql('dest', q{SELECT name FROM staging_area.items WHERE id = 1}), 'item 1',
	'the other integration\'s destination is untouched');
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, token => 'tok-staging', args => [ '--integration', 'Staging Area' ]);
is($r->{rc}, 0, 'then the other integration syncs');
is(PgPullTest::records($rcv, 'items'), 1, 'it sends what changed since its own bookmark: 1 row');
PgPullTest::same_rows($node, 'items', $items_cols, 'Staging Area', 'second integration: items equal again');

# -- an unknown integration tracks nothing
$r = PgPullTest::sync($node, $rcv, args => [ '--integration', 'nothing here' ]);
ok($r->{rc} == 0 && $r->{stderr} =~ /WARNING - integration "nothing here" tracks no streams/,
	'an integration without streams: a warning, exit status 0');

# -- the token: from a file, never shown
my $tokfile = PostgreSQL::Test::Utils::tempdir() . '/token';
open my $fh, '>', $tokfile or die "could not write $tokfile: $!";
print $fh "tok-staging\n";
close $fh;
chmod 0600, $tokfile;
$r = PgPullTest::sync($node, $rcv, token => 'wrong', args => [ '--integration', 'Staging Area', '--token-file', $tokfile ]);
ok($r->{rc} == 0 && $r->{stderr} !~ /readable by other users/,
	'--token-file (first line) wins over PGPULL_TOKEN');
chmod 0644, $tokfile;
$r = PgPullTest::sync($node, $rcv, token => undef, args => [ '--integration', 'Staging Area', '--token-file', $tokfile ]);
ok($r->{rc} == 0 && $r->{stderr} =~ /warning: token file ".*" is readable by other users/,
	'a token file readable by others: a warning');

my $before = PgPullTest::stream_row($node, 'items', 'bookmark');
$node->safe_psql('postgres',
	q{UPDATE items SET updated_at = timestamptz '2025-04-01 00:00:00+00' WHERE id = 2});
$r = PgPullTest::sync($node, $rcv, token => 'tok-WRONG-c0ffee');
is($r->{rc}, 3, 'wrong token: exit status 3');
like($r->{stderr}, qr/destination rejected the token \(HTTP 401\)/, 'wrong token: the 401 is shown');
like($r->{stderr}, qr/hint: Check the token/, 'wrong token: the hint says to check the token');
is(PgPullTest::stream_row($node, 'items', 'bookmark'), $before, 'wrong token: the bookmark did not move');
unlike($r->{stderr}, qr/c0ffee/, 'the token is not on stderr');
$r = PgPullTest::sync($node, $rcv, token => $secret_token, args => ['--verbose']);
is($r->{rc}, 0, 'a good token again: exit status 0');
unlike($r->{stderr}, qr/7f3a9c/, 'the token is not in verbose output');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pgpull.extraction_log WHERE message ~ '(c0ffee|7f3a9c)'}) +
	$node->safe_psql('postgres', q{
	SELECT count(*) FROM pgpull.runs WHERE concat(target, error, puller_version) ~ '(c0ffee|7f3a9c)'}) +
	$node->safe_psql('postgres', q{
	SELECT count(*) FROM pgpull.run_streams WHERE error ~ '(c0ffee|7f3a9c)'}),
	0, 'the token is nowhere in the catalog');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'after a failed run, the next one catches up');

# -- HTTPS with a private CA
my $tls = PgPullTest::receiver($node, tls => 1, name => 'tls',
	tokens => { 'tok-staging' => 'Staging Area' });
like($tls->url, qr{^https://}, 'an HTTPS receiver');
$node->safe_psql('postgres',
	q{UPDATE items SET name = 'over https', updated_at = timestamptz '2025-05-01 00:00:00+00' WHERE id = 3});
$r = PgPullTest::sync($node, $tls, token => 'tok-staging', no_cacert => 1,
	args => [ '--integration', 'Staging Area', '--max-retries', '0' ]);
ok($r->{rc} == 3 && $r->{stderr} =~ /certificate/ && $r->{stderr} =~ /hint: Name the certificate authority/,
	'HTTPS without --cacert: the certificate is not trusted, exit status 3');
$r = PgPullTest::sync($node, $tls, token => 'tok-staging', args => [ '--integration', 'Staging Area' ]);
is($r->{rc}, 0, 'HTTPS verified with --cacert: exit status 0');
PgPullTest::same_rows($node, 'items', $items_cols, 'Staging Area', 'HTTPS: items equal');

# -- connections and configuration
$node->safe_psql('postgres', q{CREATE ROLE regress_nopw LOGIN PASSWORD 'not given'});
{
	local $ENV{PGPASSFILE} = '/nonexistent/pgpass';
	delete local $ENV{PGPASSWORD};
	$r = PgPullTest::sync($node, $rcv,
		source => 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=regress_nopw');
}
ok($r->{rc} == 3 && $r->{stderr} =~ /a password is required/ && $r->{stderr} =~ /never prompts/,
	'a missing password is a connection error (exit status 3), no prompt');
$r = PgPullTest::sync($node, $rcv, source => 'host=/nonexistent/socket dbname=postgres');
ok($r->{rc} == 3 && $r->{stderr} =~ /could not connect to the state database/,
	'an unreachable database: exit status 3');
like($r->{stderr},
	qr{pgpull: detail: The state connection \(--source, as no --state is given\): host "/nonexistent/socket", port \d+, database "postgres", user "[^"]+"\.},
	'an unreachable database: the error names the connection, its host, port, database and user');
$r = PgPullTest::sync($node, $rcv,
	source => 'host=127.0.0.1 port=1 dbname=crm user=extractor password=s3cr3t-pw',
	args => [ '--state', $node->connstr('postgres') ]);
ok($r->{rc} == 3 && $r->{stderr} =~ /could not connect to the source database/
	  && $r->{stderr} =~ /detail: The source connection \(--source\): host "127\.0\.0\.1", port 1, database "crm", user "extractor"\./,
	'an unreachable source with a good --state: the error names --source');
unlike($r->{stderr}, qr/s3cr3t/, 'the failed connection\'s password is never printed');
$r = PgPullTest::sync($node, $rcv, source => $node->connstr('postgres'),
	args => [ '--state', 'host=/nonexistent/socket dbname=catalog user=keeper' ]);
like($r->{stderr},
	qr{could not connect to the state database.*\n(?:.*\n)*pgpull: detail: The state connection \(--state\): host "/nonexistent/socket", port \d+, database "catalog", user "keeper"\.},
	'an unreachable --state: the error names --state');
$r = PgPullTest::sync($node, $rcv, source => $node->connstr('dest'));
ok($r->{rc} == 2 && $r->{stderr} =~ /extension "pgpull" is not installed in the state database/
	  && $r->{stderr} =~ /hint: Run CREATE EXTENSION pgpull/,
	'no extension: exit status 2 with a hint');
$r = PgPullTest::sync($node, $rcv, source => $node->connstr('dest'),
	args => [ '--state', $node->connstr('postgres') ]);
ok($r->{rc} == 2 && $r->{stderr} =~ /not installed in the source database/,
	'--state apart from --source: each is checked');
$r = PgPullTest::sync($node, $rcv, target => 'http://127.0.0.1:1', args => [ '--max-retries', '1' ]);
ok($r->{rc} == 3 && $r->{stderr} =~ /could not send a batch to the destination/
	  && $r->{stderr} =~ /stream not synced: the destination could not be reached/,
	'an unreachable destination: exit status 3, the other streams wait for the next run');

# -- a read replica as the source, the primary holding the catalog
$node->backup('for_standby');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'for_standby', has_streaming => 1);
$standby->start;
$node->safe_psql('postgres',
	q{UPDATE items SET name = 'from the replica', updated_at = timestamptz '2025-05-15 00:00:00+00' WHERE id = 4});
$node->wait_for_catchup($standby);
$r = PgPullTest::sync($node, $rcv, source => $standby->connstr('postgres'));
ok($r->{rc} == 2 && $r->{stderr} =~ /read-only transaction/ && $r->{stderr} =~ /hint: .*give its primary with --state/,
	'a standby as source and state: exit status 2, hint to give the primary with --state');
$rcv->clear_requests;
$r = PgPullTest::sync($node, $rcv, source => $standby->connstr('postgres'),
	args => [ '--state', $node->connstr('postgres') ]);
is($r->{rc}, 0, 'rows from the standby, catalog on the primary: exit status 0');
PgPullTest::same_rows($node, 'items', $items_cols, 'default', 'read from the standby: items equal');
is(PgPullTest::records($rcv, 'items'), 2, 'read from the standby: the 2 rows changed since the bookmark');
$standby->stop;

# -- more paths for valgrind: small batches, a split batch then a failure,
# HTTPS in several batches
$node->safe_psql('postgres',
	q{UPDATE items SET updated_at = timestamptz '2025-06-01 00:00:00+00' WHERE id < 100});
$r = PgPullTest::sync($node, $rcv, token => 'tok-staging',
	args => [ '--integration', 'Staging Area', '--batch-rows', '40' ]);
is($r->{rc}, 0, 'a sync with several batches: exit status 0');
$node->safe_psql('postgres',
	q{UPDATE items SET updated_at = timestamptz '2025-06-15 00:00:00+00' WHERE id < 100});
$rcv->set_faults([ { kind => 'status', code => 413 }, { kind => 'status', code => 503 } ]);
$r = PgPullTest::sync($node, $rcv, token => 'wrong',
	args => [ '--integration', 'Staging Area', '--max-retries', '0' ]);
is($r->{rc}, 1, 'a batch split after a 413, then a 503 without retries: exit status 1');
$rcv->clear_faults;
$node->safe_psql('postgres',
	q{UPDATE items SET updated_at = timestamptz '2025-07-01 00:00:00+00' WHERE id < 50});
$r = PgPullTest::sync($node, $tls, token => 'tok-staging',
	args => [ '--integration', 'Staging Area', '--batch-rows', '20' ]);
is($r->{rc}, 0, 'a sync over HTTPS in several batches: exit status 0');
$tls->stop;

$rcv->stop;
$node->stop;
done_testing();
