# tests/t/045_metrics.pl: --metrics-file and the pruning of old runs.
#
# "pgpull sync --metrics-file PATH" writes, after each run, the Prometheus
# text format for node_exporter's textfile collector: the file parses with
# the Prometheus client library's parser (prometheus_client.parser), has
# HELP and TYPE lines, the series of every stream labelled database,
# integration and stream (label values escaped: an integration named with a
# double quote, a backslash and a line feed), and no temporary file is left
# beside it.  Counters only grow from one run to the next, also across the
# pruning of old runs; a failed run (exit 1) still writes the file, with
# the time of the last success taken from the catalog; a database that
# cannot be reached (exit 3) leaves the series of the invocation.  Retries
# are counted.  With --jobs 2 the file has every stream once.  Old runs
# (backdated in the catalog) are pruned at the end of a run, each stream's
# last run kept, the log saying how many rows went; another integration's
# retention is its own.  A missing directory or a repeated option is a
# usage error.  The first run is under valgrind.
use strict;
use warnings FATAL => 'all';
use File::Temp qw(tempdir);
use JSON::PP;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $odd = "qu\"ote\\back\nline";
my $node = PgPullTest::source_node('metrics');
$node->safe_psql('postgres', q{
CREATE TABLE orders (id integer PRIMARY KEY, updated_at timestamptz NOT NULL, v text);
INSERT INTO orders SELECT i, now() - interval '1 hour' + i * interval '1 second', 'o' || i FROM generate_series(1, 300) i;
CREATE TABLE items (id integer PRIMARY KEY, v text);
INSERT INTO items SELECT i, 'i' || i FROM generate_series(1, 50) i;
SELECT pgpull.track('orders', 'key_based', 'updated_at');
SELECT pgpull.track('items', 'full_table');
CREATE TABLE other (id integer PRIMARY KEY, v text);
INSERT INTO other VALUES (1, 'x');
});
$node->safe_psql('postgres', "SELECT pgpull.track('other', 'full_table', integration => \$q\$$odd\$q\$)");
my $rcv = PgPullTest::receiver($node, tokens => { tok => 'default', tok2 => $odd });
my $dir = tempdir(CLEANUP => 1);
my $prom = "$dir/pgpull.prom";

# the file parsed by the Prometheus client library: { name => { type, help,
# samples => [ [labels as "k=v,...", value] ] } }
sub parse_metrics
{
	my ($file) = @_;
	my $script = q{
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
	out[f.name] = {'type': f.type, 'help': f.documentation,
				   'samples': [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
};
	my ($out, $err) = ('', '');
	IPC::Run::run([ '/usr/bin/python3', '-c', $script, $file ], '>', \$out, '2>', \$err)
	  or die "the metrics file does not parse: $err";
	return decode_json($out);
}

# the value of a stream series (family name without _total for counters)
sub value
{
	my ($m, $family, $stream, $integration) = @_;
	$integration //= 'default';
	for my $s (@{ $m->{$family}{samples} // [] })
	{
		return $s->[2]
		  if ($s->[1]{stream} // '') eq ($stream // '') && $s->[1]{integration} eq $integration;
	}
	return undef;
}

# -- a first run, under valgrind
my $r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom ], valgrind => 1);
is($r->{rc}, 0, 'first run: exit status 0');
ok(-f $prom, 'the metrics file is written');
my @left = grep { $_ ne $prom } glob("$dir/* $dir/.*[!.]");
is_deeply(\@left, [], 'no temporary file is left beside it');
is(sprintf('%04o', (stat $prom)[2] & 07777), sprintf('%04o', 0666 & ~umask), 'readable as the umask says');
my $text = slurp_file($prom);
note($text);
my $m = parse_metrics($prom);
for my $name (qw(pgpull_rows_loaded pgpull_bytes_sent pgpull_batches pgpull_retries))
{
	is($m->{$name}{type}, 'counter', "$name is a counter");
	like($text, qr/^# HELP ${name}_total \S.*\n# TYPE ${name}_total counter$/m, "${name}_total has HELP and TYPE");
}
for my $name (qw(pgpull_run_duration_seconds pgpull_last_success_timestamp_seconds pgpull_bookmark_age_seconds
	pgpull_last_run_success pgpull_sync_exit_status pgpull_sync_duration_seconds pgpull_sync_end_timestamp_seconds))
{
	is($m->{$name}{type}, 'gauge', "$name is a gauge");
}
is(value($m, 'pgpull_rows_loaded', 'orders'), 300, 'rows loaded: orders');
is(value($m, 'pgpull_rows_loaded', 'items'), 50, 'rows loaded: items');
ok(value($m, 'pgpull_bytes_sent', 'orders') > 300 * 10, 'bytes sent: orders');
is(value($m, 'pgpull_batches', 'orders'), 1, 'batches: orders');
is(value($m, 'pgpull_retries', 'orders'), 0, 'retries: none');
is(value($m, 'pgpull_last_run_success', 'orders'), 1, 'last run succeeded');
my $success = value($m, 'pgpull_last_success_timestamp_seconds', 'orders');
ok(abs($success - time()) < 120, 'last success: just now');
my $age = value($m, 'pgpull_bookmark_age_seconds', 'orders');
ok($age > 3000 && $age < 3700, "bookmark age: about 3300 s ($age)");
is(value($m, 'pgpull_bookmark_age_seconds', 'items'), undef, 'no bookmark age for a full-table stream');
is(value($m, 'pgpull_sync_exit_status', undef), 0, 'exit status 0');
my ($sample) = grep { $_->[1]{stream} eq 'orders' } @{ $m->{pgpull_rows_loaded}{samples} };
is_deeply([ sort keys %{ $sample->[1] } ], [qw(database integration stream)], 'labels: database, integration, stream');
is($sample->[1]{database}, 'postgres', 'the database label');
is(value($m, 'pgpull_rows_loaded', 'other'), undef, 'another integration\'s streams are not in the file');

# -- label values escaped: an integration named with a quote, a backslash and a line feed
my $odd_prom = "$dir/odd.prom";
$r = PgPullTest::sync($node, $rcv, token => 'tok2', args => [ '--integration' => $odd, '--metrics-file' => $odd_prom ]);
is($r->{rc}, 0, 'odd integration: exit status 0');
ok(index(slurp_file($odd_prom),
		'pgpull_rows_loaded_total{database="postgres",integration="qu\\"ote\\\\back\\nline",stream="other"} 1' . "\n") >= 0,
	'label values escaped: backslash, double quote, line feed');
is(value(parse_metrics($odd_prom), 'pgpull_rows_loaded', 'other', $odd), 1, 'and they read back as the name');

# -- counters grow; retries are counted
$node->safe_psql('postgres', q{INSERT INTO orders SELECT i, now(), 'o' || i FROM generate_series(301, 310) i});
$rcv->set_faults([ { kind => 'status', code => 503 } ]);
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom ]);
is($r->{rc}, 0, 'second run, one 503: exit status 0');
my $m2 = parse_metrics($prom);
ok(value($m2, 'pgpull_rows_loaded', 'orders') >= 310, 'rows loaded grew');
is(value($m2, 'pgpull_rows_loaded', 'items'), 100, 'items: twice its rows');
is(value($m2, 'pgpull_retries', 'orders') + value($m2, 'pgpull_retries', 'items'), 1, 'the retry is counted');
ok(value($m2, 'pgpull_batches', 'orders') > value($m, 'pgpull_batches', 'orders'), 'batches grew');
$success = value($m2, 'pgpull_last_success_timestamp_seconds', 'orders');

# -- a failed run (exit 1) writes the file; the last success survives it
$rcv->set_faults([ map { { kind => 'status', code => 500 } } 1 .. 4 ]);
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom, '--max-retries' => 0 ]);
$rcv->clear_faults;
is($r->{rc}, 1, 'failing destination: exit status 1');
my $m3 = parse_metrics($prom);
is(value($m3, 'pgpull_sync_exit_status', undef), 1, 'the file says exit status 1');
is(value($m3, 'pgpull_last_run_success', 'items'), 0, 'last run of items failed');
is(value($m3, 'pgpull_last_success_timestamp_seconds', 'items'),
	value($m2, 'pgpull_last_success_timestamp_seconds', 'items'), 'its last success is the one before');
ok(value($m3, 'pgpull_rows_loaded', 'items') >= value($m2, 'pgpull_rows_loaded', 'items'), 'no counter went back');

# -- a source that cannot be reached (exit 3): the invocation's series
my $port = PostgreSQL::Test::Cluster::get_free_port();
$r = PgPullTest::sync($node, $rcv, source => "host=127.0.0.1 port=$port dbname=postgres connect_timeout=5",
	args => [ '--metrics-file' => $prom ]);
is($r->{rc}, 3, 'no database: exit status 3');
my $m4 = parse_metrics($prom);
is(value($m4, 'pgpull_sync_exit_status', undef), 3, 'the file says exit status 3');
is($m4->{pgpull_rows_loaded}, undef, 'and has no stream series');

# -- --jobs 2: every stream once
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom, '--jobs' => 2 ]);
is($r->{rc}, 0, '--jobs 2: exit status 0');
my $m5 = parse_metrics($prom);
is(scalar @{ $m5->{pgpull_rows_loaded}{samples} }, 2, '--jobs 2: both streams, once each');

# -- usage errors
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => "$dir/nosuch/pgpull.prom" ]);
is($r->{rc}, 2, 'a missing directory: exit status 2');
like($r->{stderr}, qr/^pgpull: error: cannot write metrics file ".*nosuch\/pgpull.prom" in directory ".*nosuch": No such file or directory$/m,
	'it says so');
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom, '--metrics-file' => $prom ]);
is($r->{rc}, 2, '--metrics-file twice: exit status 2');
like($r->{stderr}, qr/option --metrics-file given more than once/, 'it says so');
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $dir ]);
is($r->{rc}, 2, 'a directory: exit status 2');

# -- pruning: every run so far is 100 days old; the retention of default is 30 days
my $backdate = q{
UPDATE pgpull.runs SET started_at = started_at - interval '100 days', ended_at = ended_at - interval '100 days';
UPDATE pgpull.run_streams SET started_at = started_at - interval '100 days', ended_at = ended_at - interval '100 days';
UPDATE pgpull.extraction_log SET logged_at = logged_at - interval '100 days';
};
$node->safe_psql('postgres', $backdate);
$node->safe_psql('postgres', "SELECT pgpull.set_retention('30 days', 'default')");
$node->safe_psql('postgres', "SELECT pgpull.set_retention('1 year', \$q\$$odd\$q\$)");
my $runs_sql = q{SELECT count(*) FROM pgpull.runs r WHERE r.integration = 'default'};
my $before = $node->safe_psql('postgres', $runs_sql);
ok($before >= 4, "runs of default before: $before");
my $odd_runs_sql = q{SELECT count(*) FROM pgpull.runs r WHERE r.integration <> 'default'};
my $odd_before = $node->safe_psql('postgres', $odd_runs_sql);
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom ]);
is($r->{rc}, 0, 'a run with old runs: exit status 0');
like($r->{stderr}, qr/INFO - catalog pruned: \d+ runs, \d+ run streams and \d+ extraction log lines older than 30 days \(the retention of integration "default"\)$/m,
	'the log says what was pruned');
is($node->safe_psql('postgres', $runs_sql . q{ AND r.started_at < now() - interval '30 days'}), 0,
	'old runs of default are gone: the last run and last success of each stream are the new run');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.extraction_log l
	WHERE l.logged_at < now() - interval '30 days' AND NOT EXISTS (SELECT FROM pgpull.runs r WHERE r.run_id = l.run_id)}),
	0, 'no old log line of a pruned run is left');
is($node->safe_psql('postgres', $odd_runs_sql), $odd_before, 'the other integration keeps its runs (its retention is a year)');
my $m6 = parse_metrics($prom);
for my $stream (qw(orders items))
{
	for my $c (qw(pgpull_rows_loaded pgpull_bytes_sent pgpull_batches pgpull_retries))
	{
		ok(value($m6, $c, $stream) >= value($m5, $c, $stream), "pruning: $c of $stream did not go back");
	}
}
ok(value($m6, 'pgpull_last_success_timestamp_seconds', 'orders') > time() - 120, 'last success: this run');
# the last success of a stream is kept, even when older than the retention:
# the other integration's stream fails now, its old success stays
$node->safe_psql('postgres', $backdate);
$node->safe_psql('postgres', "SELECT pgpull.set_retention('1 day')");
$rcv->set_faults([ map { { kind => 'status', code => 500 } } 1 .. 4 ]);
$r = PgPullTest::sync($node, $rcv, token => 'tok2', args => [ '--integration' => $odd, '--max-retries' => 0 ]);
$rcv->clear_faults;
is($r->{rc}, 1, 'the other integration, its retention now 1 day, its stream failing: exit status 1');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgpull.runs r
	WHERE r.integration <> 'default' AND r.started_at < now() - interval '1 day' AND r.status = 'succeeded'}),
	1, 'its last success, 200 days old, is kept');

# -- --all-databases: one file, the series of each database's streams
$node->safe_psql('postgres', 'CREATE DATABASE shop2');
$node->safe_psql('shop2', q{
CREATE EXTENSION pgpull;
CREATE TABLE orders (id integer PRIMARY KEY, v text);
INSERT INTO orders SELECT i, 'o' || i FROM generate_series(1, 7) i;
SELECT pgpull.track('orders', 'full_table');
});
$r = PgPullTest::sync($node, $rcv, args => [ '--metrics-file' => $prom, '--all-databases' ]);
is($r->{rc}, 0, '--all-databases: exit status 0');
my $m7 = parse_metrics($prom);
is(join(' ', sort map { "$_->[1]{database}/$_->[1]{stream}=$_->[2]" } @{ $m7->{pgpull_rows_loaded}{samples} }),
	'postgres/items=' . value($m7, 'pgpull_rows_loaded', 'items') . ' postgres/orders=' . value($m7, 'pgpull_rows_loaded', 'orders')
	  . ' shop2/orders=7',
	'--all-databases: the streams of both databases, told apart by the database label');
is(scalar @{ $m7->{pgpull_sync_exit_status}{samples} }, 1, '--all-databases: one exit status');

done_testing();
