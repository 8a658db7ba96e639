# tests/t/006_singer_tools.pl: the Singer test tools work as their contract says.
#
# tests/singer/validate_singer.py checks a Singer stream against the spec and
# pgpull's contract; tests/singer/target_pg.py loads one into PostgreSQL and
# echoes the states it has committed.  pgpull's Singer tests lean on both, so
# this feeds them hand-written streams: the validator must accept a good one
# and catch each kind of violation; the target must load rows equal to the
# input, upsert on keys, append without them, honour ACTIVATE_VERSION, echo a
# state only once the rows before it are committed, and fail the way it is
# told to.
use strict;
use warnings FATAL => 'all';
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use IPC::Open2;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tools = abs_path(dirname(__FILE__) . '/../singer');
my $python = '/usr/bin/python3';
my $validator = "$tools/validate_singer.py";
my $target = "$tools/target_pg.py";

my $node = PostgreSQL::Test::Cluster->new('dest');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
my $dsn = $node->connstr('postgres');

# Run a command with $stdin on its standard input; returns (exit status,
# stdout, stderr).
sub run_cmd
{
	my ($stdin, @cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \$stdin, '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	return ($? >> 8, $out, $err);
}

sub validate { return run_cmd($_[0], $python, $validator, '-'); }

sub load
{
	my ($stream, @opts) = @_;
	return run_cmd($stream, $python, $target, '--dsn', $dsn,
		'--schema', 'dest', @opts);
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Rows of $query that differ from the rows of $expected (a VALUES list), both
# ways, counting duplicates: 0 when they hold the same rows.
sub diff_rows
{
	my ($query, $expected) = @_;
	return sql(
		"SELECT count(*) FROM (($query EXCEPT ALL $expected)
		                       UNION ALL ($expected EXCEPT ALL $query)) d");
}

# Two streams: key-based orders (every column type the target maps) and
# full-table items with a table version activated before and after its rows.
my $good = <<'EOS';
{"type":"SCHEMA","stream":"public-orders","schema":{"type":"object","properties":{"id":{"type":"integer"},"amount":{"type":["null","number"]},"paid":{"type":["null","boolean"]},"at":{"type":["null","string"],"format":"date-time"},"day":{"type":["null","string"],"format":"date"},"note":{"type":["null","string"]},"doc":{"type":["null","object"]},"tags":{"type":["null","array"],"items":{"type":"string"}}}},"key_properties":["id"],"bookmark_properties":["at"]}
{"type":"STATE","value":{"bookmarks":{}}}
{"type":"RECORD","stream":"public-orders","record":{"id":1,"amount":12345678901234567890.123456789,"paid":true,"at":"2024-01-02T03:04:05.123456Z","day":"2024-01-02","note":"caf\u00e9 \"q\" 'x'","doc":{"a":[1,2.50,null]},"tags":["x","y"]},"time_extracted":"2024-06-01T00:00:00.000000Z"}
{"type":"RECORD","stream":"public-orders","record":{"id":2,"amount":null,"paid":false,"at":"2024-01-03T00:00:00+02:00","day":null,"note":null,"doc":null,"tags":null},"time_extracted":"2024-06-01T00:00:00.000000Z"}
{"type":"STATE","value":{"bookmarks":{"public-orders":{"replication_key":"at","replication_key_value":"2024-01-02T22:00:00Z"}}}}
{"type":"SCHEMA","stream":"public-items","schema":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":["null","integer"]}}},"key_properties":["sku"]}
{"type":"ACTIVATE_VERSION","stream":"public-items","version":1700000000000}
{"type":"RECORD","stream":"public-items","record":{"sku":"a","qty":1},"version":1700000000000,"time_extracted":"2024-06-01T00:00:00Z"}
{"type":"RECORD","stream":"public-items","record":{"sku":"b","qty":2},"version":1700000000000,"time_extracted":"2024-06-01T00:00:00Z"}
{"type":"ACTIVATE_VERSION","stream":"public-items","version":1700000000000}
{"type":"STATE","value":{"bookmarks":{"public-orders":{"replication_key":"at","replication_key_value":"2024-01-02T22:00:00Z"},"public-items":{"version":1700000000000}}}}
EOS

my ($rc, $out, $err);

# ---- validator ----------------------------------------------------------

($rc, $out, $err) = validate($good);
is($rc, 0, 'validator accepts a good stream') or diag $err;
is( $out,
	"11 messages: 2 SCHEMA, 4 RECORD, 3 STATE, 2 ACTIVATE_VERSION\n",
	'validator prints its one-line summary');

my $tmp = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$tmp/good.jsonl" or die "could not write $tmp/good.jsonl: $!";
print $fh $good;
close $fh;
($rc, $out, $err) = run_cmd('', $python, $validator, "$tmp/good.jsonl");
is($rc, 0, 'validator reads a file named on its command line');

my $orders_schema = '{"type":"SCHEMA","stream":"o","schema":{"type":"object","properties":{"id":{"type":"integer"},"at":{"type":["null","string"],"format":"date-time"}}},"key_properties":["id"]}';
my $items_schema = '{"type":"SCHEMA","stream":"i","schema":{"type":"object","properties":{"sku":{"type":"string"}}},"key_properties":[]}';
my $state = '{"type":"STATE","value":{"bookmarks":{}}}';

# [ what, stream, the violation it must report ]
my @violations = (
	[   'record before its SCHEMA',
		qq($state\n{"type":"RECORD","stream":"o","record":{"id":1}}\n),
		qr/^line 2: RECORD for stream "o" before any SCHEMA for it$/m
	],
	[   'record not matching its schema',
		qq($orders_schema\n$state\n{"type":"RECORD","stream":"o","record":{"id":"x"}}\n),
		qr/^line 3: record of stream "o" does not match its schema: id: 'x' is not of type 'integer'$/m
	],
	[   'date-time value without an offset',
		qq($orders_schema\n$state\n{"type":"RECORD","stream":"o","record":{"id":1,"at":"2024-01-02 03:04:05"}}\n),
		qr/^line 3: record of stream "o" does not match its schema: at: .* is not a 'date-time'$/m
	],
	[   'record property the schema does not declare',
		qq($orders_schema\n$state\n{"type":"RECORD","stream":"o","record":{"id":1,"extra":2}}\n),
		qr/^line 3: .*properties its schema does not declare: extra$/m
	],
	[   'record without its key',
		qq($orders_schema\n$state\n{"type":"RECORD","stream":"o","record":{"at":null}}\n),
		qr/^line 3: record of stream "o" lacks key property "id"/m
	],
	[   'key property not in the schema',
		qq({"type":"SCHEMA","stream":"o","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":["order_id"]}\n),
		qr/^line 1: key property "order_id" is not a property of the schema$/m
	],
	[   'schema that is not Draft 4',
		qq({"type":"SCHEMA","stream":"o","schema":{"type":"object","properties":{"id":{"type":"integr"}}},"key_properties":[]}\n),
		qr/^line 1: schema is not a valid Draft 4 JSON Schema/m
	],
	[   'no STATE before the first RECORD',
		qq($orders_schema\n{"type":"RECORD","stream":"o","record":{"id":1}}\n$state\n),
		qr/^line 2: first RECORD comes before any STATE$/m
	],
	[   'records of another version than the one activated',
		qq($items_schema\n$state\n{"type":"RECORD","stream":"i","record":{"sku":"a"},"version":1}\n{"type":"ACTIVATE_VERSION","stream":"i","version":2}\n),
		qr/^line 4: ACTIVATE_VERSION 2 for stream "i" but its records on lines 3-3 carry version 1$/m
	],
	[   'a record without the version of its segment',
		qq($items_schema\n$state\n{"type":"RECORD","stream":"i","record":{"sku":"a"},"version":5}\n{"type":"RECORD","stream":"i","record":{"sku":"b"}}\n),
		qr/^line 4: record of stream "i" carries version null but the one on line 3 carries 5$/m
	],
	[   'a version that is not an integer',
		qq($items_schema\n$state\n{"type":"ACTIVATE_VERSION","stream":"i","version":"7"}\n),
		qr/^line 3: ACTIVATE_VERSION has no integer version: "7"$/m
	],
	[   'time_extracted without an offset',
		qq($items_schema\n$state\n{"type":"RECORD","stream":"i","record":{"sku":"a"},"time_extracted":"2024-06-01T00:00:00"}\n),
		qr/^line 3: time_extracted is not an RFC 3339 date-time/m
	],
	[   'a line that is not JSON',
		qq($state\nnot json\n),
		qr/^line 2: not valid JSON/m
	],
	[   'NaN', qq({"type":"STATE","value":NaN}\n), qr/^line 1: NaN is not a JSON number$/m ],
	[   'an unknown message type',
		qq({"type":"BATCH","stream":"o"}\n),
		qr/^line 1: unrecognized message type: "BATCH"$/m
	],
	[   'a STATE that drops a bookmark',
		qq({"type":"STATE","value":{"bookmarks":{"o":{}}}}\n{"type":"STATE","value":{"bookmarks":{}}}\n),
		qr/^line 2: STATE drops the bookmark\(s\) of "o" present on line 1$/m
	]);
for my $v (@violations)
{
	my ($what, $stream, $expect) = @$v;
	($rc, $out, $err) = validate($stream);
	ok($rc == 1 && $err =~ $expect, "validator catches $what")
	  or diag "exit $rc, stderr:\n$err";
}

# 60 bad records: the first 50 violations, then how many more
my $many = "$orders_schema\n$state\n"
  . join('', map { qq({"type":"RECORD","stream":"o","record":{"id":"$_"}}\n) } 1 .. 60);
($rc, $out, $err) = validate($many);
my @lines = grep { /^line \d+: / } split /\n/, $err;
ok( $rc == 1
	  && @lines == 50
	  && $err =~ /^\.\.\. and 10 more$/m
	  && $err =~ /60 violation\(s\) in 62 messages/,
	'validator lists the first 50 violations and counts the rest')
  or diag $err;

# ---- target: loading --------------------------------------------------------

($rc, $out, $err) = load($good);
is($rc, 0, 'target loads a good stream') or diag $err;
is( $out,
	'{"bookmarks":{"public-orders":{"replication_key":"at","replication_key_value":"2024-01-02T22:00:00Z"}}}'
	  . "\n"
	  . '{"bookmarks":{"public-orders":{"replication_key":"at","replication_key_value":"2024-01-02T22:00:00Z"},"public-items":{"version":1700000000000}}}'
	  . "\n",
	'target echoes the state flushed at ACTIVATE_VERSION, then the last one');

is( sql(q{
		SELECT string_agg(table_name || '.' || column_name || ' ' || data_type, ', '
		                  ORDER BY table_name COLLATE "C", ordinal_position)
		  FROM information_schema.columns WHERE table_schema = 'dest'}),
	'public-items.sku text, public-items.qty bigint, '
	  . 'public-items._sdc_table_version bigint, '
	  . 'public-items._sdc_extracted_at timestamp with time zone, '
	  . 'public-orders.id bigint, public-orders.amount numeric, '
	  . 'public-orders.paid boolean, '
	  . 'public-orders.at timestamp with time zone, public-orders.day date, '
	  . 'public-orders.note text, public-orders.doc jsonb, public-orders.tags jsonb, '
	  . 'public-orders._sdc_table_version bigint, '
	  . 'public-orders._sdc_extracted_at timestamp with time zone',
	'columns typed from the JSON Schema, plus the _sdc_ columns');

my $orders_v1 = q{VALUES
	(1::bigint, 12345678901234567890.123456789::numeric, true,
	 '2024-01-02T03:04:05.123456Z'::timestamptz, '2024-01-02'::date,
	 U&'caf\00e9 "q" ''x''', '{"a":[1,2.50,null]}'::jsonb, '["x","y"]'::jsonb,
	 NULL::bigint, '2024-06-01T00:00:00Z'::timestamptz),
	(2, NULL, false, '2024-01-02T22:00:00Z', NULL, NULL, NULL, NULL,
	 NULL, '2024-06-01T00:00:00Z')};
is(diff_rows('TABLE dest."public-orders"', $orders_v1),
	'0', 'orders loaded equal to the input');
is( sql(q{SELECT amount::text || ' ' || doc::text FROM dest."public-orders" WHERE id = 1}),
	'12345678901234567890.123456789 {"a": [1, 2.50, null]}',
	'numbers kept exactly, digits and scale');
is( diff_rows(
		'TABLE dest."public-items"',
		q{VALUES ('a', 1::bigint, 1700000000000::bigint, '2024-06-01Z'::timestamptz),
		         ('b', 2, 1700000000000, '2024-06-01Z')}),
	'0',
	'items loaded with their table version');

# upsert on the key: id 1 twice in one batch (the last wins), id 3 new
($rc, $out, $err) = load(<<'EOS');
{"type":"SCHEMA","stream":"public-orders","schema":{"type":"object","properties":{"id":{"type":"integer"},"amount":{"type":["null","number"]},"paid":{"type":["null","boolean"]},"at":{"type":["null","string"],"format":"date-time"},"day":{"type":["null","string"],"format":"date"},"note":{"type":["null","string"]},"doc":{"type":["null","object"]},"tags":{"type":["null","array"],"items":{"type":"string"}}}},"key_properties":["id"]}
{"type":"STATE","value":{"n":1}}
{"type":"RECORD","stream":"public-orders","record":{"id":1,"amount":1,"paid":null,"at":null,"day":null,"note":"first","doc":null,"tags":null},"time_extracted":"2024-07-01T00:00:00Z"}
{"type":"RECORD","stream":"public-orders","record":{"id":3,"amount":-0.001,"paid":true,"at":null,"day":"2024-02-29","note":"","doc":{},"tags":[]},"time_extracted":"2024-07-01T00:00:00Z"}
{"type":"RECORD","stream":"public-orders","record":{"id":1,"amount":2,"paid":null,"at":null,"day":null,"note":"second","doc":null,"tags":null},"time_extracted":"2024-07-01T00:00:00Z"}
{"type":"STATE","value":{"n":2}}
EOS
is($rc, 0, 'target loads an update of the same stream') or diag $err;
is($out, qq({"n":2}\n), 'only the last state is echoed after one flush');
is( diff_rows(
		'TABLE dest."public-orders"',
		q{VALUES
		(1::bigint, 2::numeric, NULL::boolean, NULL::timestamptz, NULL::date,
		 'second', NULL::jsonb, NULL::jsonb, NULL::bigint, '2024-07-01Z'::timestamptz),
		(2, NULL, false, '2024-01-02T22:00:00Z', NULL, NULL, NULL, NULL,
		 NULL, '2024-06-01T00:00:00Z'),
		(3, -0.001, true, NULL, '2024-02-29', '', '{}', '[]', NULL, '2024-07-01Z')}),
	'0',
	'records with keys are upserts: the row is replaced, the last one wins');

# append without keys: the same two records twice, and a column added later
my $log = <<'EOS';
{"type":"SCHEMA","stream":"public-log","schema":{"type":"object","properties":{"msg":{"type":["null","string"]}}},"key_properties":[]}
{"type":"STATE","value":{"n":1}}
{"type":"RECORD","stream":"public-log","record":{"msg":"a"}}
{"type":"RECORD","stream":"public-log","record":{"msg":"a"}}
EOS
($rc, $out, $err) = load($log);
is($rc, 0, 'target loads a stream without keys') or diag $err;
($rc, $out, $err) = load($log
	  . '{"type":"SCHEMA","stream":"public-log","schema":{"type":"object","properties":{"msg":{"type":["null","string"]},"lvl":{"type":["null","integer"]}}},"key_properties":[]}'
	  . "\n"
	  . '{"type":"RECORD","stream":"public-log","record":{"msg":"b","lvl":3}}'
	  . "\n");
is($rc, 0, 'target loads it again with a new property') or diag $err;
is( diff_rows(
		'SELECT msg, lvl, _sdc_table_version, _sdc_extracted_at FROM dest."public-log"',
		q{VALUES ('a', NULL::bigint, NULL::bigint, NULL::timestamptz), ('a', NULL, NULL, NULL),
		         ('a', NULL, NULL, NULL), ('a', NULL, NULL, NULL), ('b', 3, NULL, NULL)}),
	'0',
	'records without keys are appended; a new property adds a column');

# ACTIVATE_VERSION: rows of other versions, NULL included, go
sql(q{INSERT INTO dest."public-items" VALUES ('z', 9, NULL, NULL)});
($rc, $out, $err) = load(<<'EOS');
{"type":"SCHEMA","stream":"public-items","schema":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":["null","integer"]}}},"key_properties":["sku"]}
{"type":"STATE","value":{"n":1}}
{"type":"RECORD","stream":"public-items","record":{"sku":"a","qty":10},"version":1800000000000}
{"type":"RECORD","stream":"public-items","record":{"sku":"c","qty":3},"version":1800000000000}
EOS
is($rc, 0, 'target loads a new table version without activating it') or diag $err;
is( diff_rows(
		'SELECT sku, qty, _sdc_table_version FROM dest."public-items"',
		q{VALUES ('a', 10::bigint, 1800000000000::bigint), ('b', 2, 1700000000000),
		         ('c', 3, 1800000000000), ('z', 9, NULL)}),
	'0',
	'before ACTIVATE_VERSION both versions are there');
($rc, $out, $err) = load(<<'EOS');
{"type":"SCHEMA","stream":"public-items","schema":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":["null","integer"]}}},"key_properties":["sku"]}
{"type":"STATE","value":{"n":2}}
{"type":"ACTIVATE_VERSION","stream":"public-items","version":1800000000000}
EOS
is($rc, 0, 'target activates the new version') or diag $err;
is($out, qq({"n":2}\n), 'and echoes the state before it once committed');
is( diff_rows(
		'SELECT sku, qty, _sdc_table_version FROM dest."public-items"',
		q{VALUES ('a', 10::bigint, 1800000000000::bigint), ('c', 3, 1800000000000)}),
	'0',
	'ACTIVATE_VERSION deleted the rows of other versions and NULL');

# ---- target: states echoed only after commit ----------------------------

# SCHEMA of a stream of integer ids, then STATE {"pos":0} and, for id 1..5,
# RECORD {"id":n} followed by STATE {"pos":n}.
sub seq_schema
{
	my ($stream) = @_;
	return qq({"type":"SCHEMA","stream":"$stream","schema":{"type":"object",)
	  . qq("properties":{"id":{"type":"integer"}}},"key_properties":["id"]}\n);
}

sub seq_stream
{
	my ($stream) = @_;
	return seq_schema($stream)
	  . qq({"type":"STATE","value":{"pos":0}}\n)
	  . join('',
		map { qq({"type":"RECORD","stream":"$stream","record":{"id":$_}}\n{"type":"STATE","value":{"pos":$_}}\n) }
		  1 .. 5);
}

# Feed it line by line and look at the table, from another session, each
# time a state comes back.
sub seq_rows
{
	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', q{SELECT count(*) FROM dest."public-seq"});
	return $ret == 0 ? $stdout : 'no table';
}
{
	my ($to, $from);
	my $pid = IPC::Open2::open2($from, $to, $python, $target, '--dsn', $dsn,
		'--schema', 'dest', '--batch-size', '2');
	$to->autoflush(1);
	my (@seen, $all);
	local $SIG{ALRM} = sub { die "timed out waiting for target_pg.py\n" };
	alarm 60;
	for my $line (split /(?<=\n)/, seq_stream('public-seq'))
	{
		print $to $line;
		next unless $line =~ /"record":\{"id":[24]\}/;
		my $echoed = <$from>;    # the batch of 2 is flushed: a state comes back
		$all .= $echoed;
		chomp $echoed;
		push @seen, "$echoed with " . seq_rows() . ' rows';
	}
	close $to;
	my $rest = join('', <$from>);
	waitpid($pid, 0);
	alarm 0;
	is($? >> 8, 0, 'target with --batch-size 2 loads 5 records');
	$all .= $rest;
	chomp $rest;
	push @seen, "$rest with " . seq_rows() . ' rows';
	is( join("\n", @seen),
		qq({"pos":1} with 2 rows\n{"pos":3} with 4 rows\n{"pos":5} with 5 rows),
		'each echoed state came after its batch was committed, seen from another session');
	is($all, qq({"pos":1}\n{"pos":3}\n{"pos":5}\n),
		'intermediate states are echoed, one compact JSON value a line');
}

($rc, $out, $err) = load(seq_stream('public-quiet'), '--batch-size', '2', '--no-echo');
is($rc, 0, 'target with --no-echo loads') or diag $err;
is($out, '', '--no-echo echoes nothing');
is(sql(q{SELECT count(*) FROM dest."public-quiet"}), '5', '--no-echo still commits');

# ---- target: failures ---------------------------------------------------

($rc, $out, $err) = load(seq_stream('public-fail'),
	'--batch-size', '2', '--fail-after-records', '4', '--exit-code-on-fail', '7');
is($rc, 7, '--fail-after-records exits with --exit-code-on-fail');
is($out, qq({"pos":1}\n), 'the states echoed before the failure');
like($err, qr/failing on record 4 as asked/, 'the failure is reported');
is( sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM dest."public-fail"}),
	'1,2', 'only the committed batch is in the table');
is( sql(q{SELECT count(*) FILTER (WHERE id <= 1) FROM dest."public-fail"}),
	'1', 'every record the last echoed state covers is committed');

# resuming from the echoed state re-sends records 2..5: nothing lost, nothing doubled
my $resume = seq_stream('public-fail');
$resume =~ s/^\{"type":"RECORD"[^\n]*"id":1\}\}\n//m;
($rc, $out, $err) = load($resume, '--batch-size', '2');
is($rc, 0, 'a run resumed from the echoed state loads') or diag $err;
is( sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM dest."public-fail"}),
	'1,2,3,4,5', 'the resumed run leaves every record once');

($rc, $out, $err) = load(seq_stream('public-fail1'), '--fail-after-records', '1');
is($rc, 1, '--fail-after-records exits 1 by default');
is( sql(q{SELECT to_regclass('dest."public-fail1"') IS NULL}),
	't', 'nothing was committed, not even the table');

($rc, $out, $err) = load(seq_stream('public-stop'), '--batch-size', '2',
	'--stop-reading-after-lines', '6');
ok( $rc == 1 && $err =~ /stopped reading input after 6 lines/,
	'--stop-reading-after-lines exits 1')
  or diag "exit $rc: $err";
is( sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM dest."public-stop"}),
	'1,2', 'what was committed before it stopped reading stays');
is($out, qq({"pos":1}\n), 'and its state was echoed');

my @bad_input = (
	[ 'a line that is not JSON', "not json\n", qr/line 1: not valid JSON/ ],
	[ 'a JSON array', "[1]\n", qr/line 1: not a JSON object/ ],
	[ 'an unknown type', qq({"type":"BATCH"}\n), qr/line 1: unrecognized message type: "BATCH"/ ],
	[   'a RECORD before its SCHEMA',
		qq({"type":"RECORD","stream":"nope","record":{}}\n),
		qr/line 1: RECORD for stream "nope" before any SCHEMA for it/
	],
	[ 'NaN', qq({"type":"STATE","value":NaN}\n), qr/line 1: NaN is not a JSON number/ ],
	[   'a SCHEMA without key_properties',
		qq({"type":"SCHEMA","stream":"x","schema":{"type":"object","properties":{}}}\n),
		qr/line 1: SCHEMA has no key_properties/
	]);
for my $b (@bad_input)
{
	my ($what, $stream, $expect) = @$b;
	($rc, $out, $err) = load($stream);
	ok($rc == 2 && $err =~ $expect, "target exits 2 on $what")
	  or diag "exit $rc: $err";
}

($rc, $out, $err) = load(
	seq_schema('SEQ')
	  . qq({"type":"STATE","value":{"pos":0}}\n{"type":"RECORD","stream":"SEQ","record":{"id":1.5}}\n));
ok( $rc == 3
	  && $err =~ /line 3: record of stream "SEQ" does not match its schema: id: .* is not of type 'integer'/,
	'target exits 3 on a record that does not match its schema')
  or diag "exit $rc: $err";
is(sql(q{SELECT to_regclass('dest."SEQ"') IS NULL}), 't', 'and commits nothing');

($rc, $out, $err) = run_cmd('', $python, $target, '--schema', 'dest');
is($rc, 2, 'target without --dsn is a usage error');

$node->stop;
done_testing();
