# tests/t/005_receiver.pl: the reference Import API receiver does what the
# other tests rely on: it accepts valid batches and loads them into the
# destination database (upsert where the highest sequence wins, append
# without keys), refuses what the Import API refuses with the documented
# codes and bodies, injects the faults a test asks for, logs the requests,
# serves HTTPS with a test CA, and stops.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use JSON::PP;
use PgPullReceiver;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $json = JSON::PP->new->utf8->canonical;
my $tmp = PostgreSQL::Test::Utils::tempdir('receiver_test');

my $node = PostgreSQL::Test::Cluster->new('dest');
$node->init;
$node->start;

command_fails_like(
	[ '/usr/bin/python3', PgPullReceiver->script, '--listen', '0.0.0.0:0', '--dsn', 'x', '--tokens', 'x' ],
	qr/is not a loopback address/,
	'receiver refuses to listen beyond loopback');

my $rcv = PgPullReceiver->start(
	dsn => $node->connstr('postgres'),
	tokens => { 'tok-a' => 'Stitch PostgreSQL', 'tok-b' => 'Other: Integration' },
	max_bytes => 20000,
	max_records => 50);
like($rcv->url, qr{^http://127\.0\.0\.1:\d+$}, 'receiver listens on loopback over http');

# POST a body (a string, or a structure to encode) with the command-line
# curl; returns { code, body, json, headers, rc, seconds }.
my $n_call = 0;
sub post
{
	my (%o) = @_;
	my $r = $o{receiver} // $rcv;
	$n_call++;
	my ($in, $out, $hdr) = map { "$tmp/$n_call.$_" } qw(in out hdr);
	my @cmd = (
		'curl', '-sS', '--noproxy', '*', '--max-time', '20',
		'-o', $out, '-D', $hdr, '-w', '%{http_code}');
	if (defined $o{body})    # a POST; without a body a GET
	{
		open my $fh, '>', $in or die "could not write $in: $!";
		print $fh (ref $o{body} ? $json->encode($o{body}) : $o{body});
		close $fh;
		push @cmd, '--data-binary', "\@$in";
	}
	push @cmd, '-H', 'Content-Type: ' . ($o{ctype} // 'application/json');
	push @cmd, '-H', "Authorization: Bearer $o{token}" if defined $o{token};
	push @cmd, '--cacert', $o{cacert} if defined $o{cacert};
	push @cmd, @{ $o{curl} } if $o{curl};
	push @cmd, ($o{url} // $r->url) . ($o{path} // '/v2/import/batch');
	my $t0 = time;
	IPC::Run::run(\@cmd, '>', \my $code, '2>', \my $err);
	my %res = (rc => $? >> 8, code => $code + 0, seconds => time - $t0);
	$res{body} = -e $out ? slurp_file($out) : '';
	$res{headers} = -e $hdr ? slurp_file($hdr) : '';
	$res{json} = eval { $json->decode($res{body}) };
	return \%res;
}

# a batch body: table, {property => schema}, [[sequence, {data}]...], keys
sub batch
{
	my ($table, $props, $records, $keys) = @_;
	my %b = (
		table_name => $table,
		schema => { properties => $props },
		messages => [
			map { { action => 'upsert', sequence => $_->[0], data => $_->[1] } }
			  @$records
		]);
	$b{key_names} = $keys if defined $keys;
	return \%b;
}

sub sql { return $node->safe_psql('postgres', shift); }

# -- status, routing
my $r = post(path => '/v2/import/status');
is($r->{code}, 200, 'GET /v2/import/status: 200');
is($r->{json}{status}, 'OK', 'status body says OK');
$r = post(path => '/v2/import/batch', token => 'tok-a');
is($r->{code}, 405, 'GET on the batch endpoint: 405');
$r = post(path => '/v2/import/batch', curl => ['-X', 'PUT'], token => 'tok-a');
is($r->{code}, 405, 'PUT: 405');
$r = post(path => '/v2/import/nothing', token => 'tok-a');
is($r->{code}, 404, 'unknown path: 404');

# -- a good batch lands, typed
my %props = (
	id => { type => 'integer' },
	name => { type => [ 'null', 'string' ] },
	amount => { type => 'number' },
	ok => { type => 'boolean' },
	ts => { type => 'string', format => 'date-time' },
	day => { type => [ 'null', 'string' ], format => 'date' },
	doc => { type => 'object' },
	tags => { type => 'array' });
my $props_json = $json->encode(\%props);
$r = post(
	token => 'tok-a',
	body => qq({"table_name":"customers","schema":{"properties":$props_json},)
	  . qq("key_names":["id"],"messages":[)
	  . qq({"action":"upsert","sequence":5,"data":{"id":1,"name":"five",)
	  . qq("amount":123456789012345678901234567890.123456789,"ok":true,)
	  . qq("ts":"2020-01-13T21:25:03+0000","day":"2020-01-02",)
	  . qq("doc":{"a":1.50,"b":[null,"x"]},"tags":["t"]}},)
	  . qq({"action":"upsert","sequence":6,"data":{"id":2,"name":null,)
	  . qq("amount":-0.5,"ok":false,"ts":"2021-06-30T23:59:59.123456Z",)
	  . qq("day":null,"doc":{},"tags":[]}}]}));
is($r->{code}, 201, 'valid batch: 201');
is($r->{body}, '{"status":"OK","message":"Batch Accepted!"}', 'documented 201 body');
like($r->{headers}, qr/^Content-Length: 43\r?$/mi, 'reply has a Content-Length');
is( sql(
		q{SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_name)
		  FROM information_schema.columns
		  WHERE table_schema = 'stitch_postgresql' AND table_name = 'customers'}),
	'_sdc_batched_at timestamp with time zone, _sdc_received_at timestamp with time zone, '
	  . '_sdc_sequence bigint, _sdc_table_version bigint, amount numeric, day date, '
	  . 'doc jsonb, id bigint, name text, ok boolean, tags jsonb, '
	  . 'ts timestamp with time zone',
	'table created in the integration schema with typed columns');
is( sql(
		q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', id, name,
				amount, ok, ts = '2020-01-13 21:25:03+00',
				ts = '2021-06-30 23:59:59.123456+00', day, doc, tags, _sdc_sequence,
				_sdc_table_version IS NULL, _sdc_received_at <= _sdc_batched_at),
				E'\n' ORDER BY id)
		  FROM stitch_postgresql.customers}),
	"1|five|123456789012345678901234567890.123456789|t|t|f|2020-01-02|"
	  . qq({"a": 1.50, "b": [null, "x"]}|["t"]|5|t|t\n)
	  . "2||-0.5|f|f|t||{}|[]|6|t|t",
	'values land exactly, with _sdc columns');

# -- upsert: the highest sequence wins, whatever the arrival order
my %kv = (id => { type => 'integer' }, v => { type => [ 'null', 'string' ] });
is(post(token => 'tok-a', body => batch('kv', \%kv, [ [ 5, { id => 1, v => 'five' } ] ], ['id']))->{code},
	201, 'upsert seq 5');
is(post(token => 'tok-a', body => batch('kv', \%kv, [ [ 3, { id => 1, v => 'three' } ] ], ['id']))->{code},
	201, 'upsert seq 3 for the same key');
is(sql('SELECT v || _sdc_sequence FROM stitch_postgresql.kv'), 'five5', 'a lower sequence does not overwrite');
post(token => 'tok-a', body => batch('kv', \%kv, [ [ 5, { id => 1, v => 'again' } ] ], ['id']));
is(sql('SELECT v FROM stitch_postgresql.kv'), 'five', 'an equal sequence keeps the existing row');
post(
	token => 'tok-a',
	body => batch(
		'kv', \%kv,
		[
			[ 9, { id => 1, v => 'nine' } ], [ 12, { id => 2, v => 'twelve' } ],
			[ 8, { id => 1, v => 'eight' } ], [ 11, { id => 2, v => 'eleven' } ]
		],
		['id']));
is(sql(q{SELECT string_agg(id || v || _sdc_sequence, ',' ORDER BY id) FROM stitch_postgresql.kv}),
	'1nine9,2twelve12', 'within a batch the highest sequence per key wins');

# -- append-only without keys
post(token => 'tok-a', body => batch('log', \%kv, [ [ 1, { id => 1, v => 'a' } ], [ 2, { id => 1, v => 'b' } ] ]));
$r = post(token => 'tok-a', body => batch('log', \%kv, [ [ 1, { id => 1, v => 'a' } ] ], []));
is($r->{code}, 201, 'key_names [] accepted');
is(sql(q{SELECT string_agg(v, ',' ORDER BY v) FROM stitch_postgresql.log}), 'a,a,b',
	'without key_names every record is appended');

# -- a second integration, a new property, a type change
$r = post(token => 'tok-b', body => batch('kv', \%kv, [ [ 1, { id => 7, v => 'b' } ] ], ['id']));
is(sql('SELECT id || v FROM other_integration.kv'), '7b', 'token of another integration loads into its schema');
$r = post(
	token => 'tok-b',
	body => batch('kv', { %kv, extra => { type => 'boolean' } }, [ [ 2, { id => 7, v => 'c', extra => JSON::PP::true } ] ], ['id']));
is(sql('SELECT v || extra FROM other_integration.kv'), 'ctrue', 'a new property adds a column');
$r = post(
	token => 'tok-b',
	body => batch('kv', { id => { type => 'integer' }, v => { type => 'integer' } }, [ [ 3, { id => 7, v => 42 } ] ], ['id']));
is(sql(q{SELECT coalesce(v, 'null') || v__bi FROM other_integration.kv}), 'null42',
	'a property changing type loads into a suffixed column');

# -- refusals: 401, 415, 413
my $ok_body = batch('kv', \%kv, [ [ 1, { id => 1, v => 'x' } ] ], ['id']);
$r = post(body => $ok_body);
is($r->{code}, 401, 'no bearer token: 401');
is($r->{body}, '{"message":"Not Authorized"}', '401 body');
is(post(token => 'tok-zzz', body => $ok_body)->{code}, 401, 'unknown token: 401');
$r = post(token => 'tok-a', body => $ok_body, ctype => 'text/plain');
is($r->{code}, 415, 'other content type: 415');
is($r->{body}, 'Content-Type must be application/json', '415 body is a plain string');
$r = post(token => 'tok-a', body => batch('kv', \%kv, [ [ 1, { id => 1, v => 'x' x 20000 } ] ], ['id']));
is($r->{code}, 413, 'body over --max-bytes: 413');
like($r->{json}{message}, qr/^Request rejected: request size \(\d+ bytes\) exceeds the maximum$/, '413 body');

# -- 400 for each validation rule
my @bad = (
	[ 'malformed JSON', '{"table_name":', qr/malformed JSON/ ],
	[ 'missing table_name', { schema => {}, messages => [] },
		qr/^Request failed validation:#: required key \[table_name\] not found$/ ],
	[ 'extraneous key', { %$ok_body, table_version => 1 },
		qr/^Request failed validation:#: extraneous key \[table_version\] is not permitted$/ ],
	[ 'schema not an object', { %$ok_body, schema => [] },
		qr/^Request failed validation:#\/schema: expected type: JSONObject, found: JSONArray$/ ],
	[ 'no records', { %$ok_body, messages => [] }, qr/minimum item count: 1, found: 0/ ],
	[ 'too many records', batch('kv', \%kv, [ map { [ $_, { id => $_ } ] } 1 .. 51 ]),
		qr/maximum item count: 50, found: 51/ ],
	[ 'message without data', { %$ok_body, messages => [ { action => 'upsert', sequence => 1 } ] },
		qr/#\/messages\/0: #: 0 subschemas matched instead of one: required key \[data\] not found/ ],
	[ 'action not upsert', { %$ok_body, messages => [ { action => 'delete', sequence => 1, data => { id => 1 } } ] },
		qr/is not a valid enum value/ ],
	[ 'sequence not an integer', batch('kv', \%kv, [ [ '1', { id => 1 } ] ]),
		qr/#\/messages\/0\/sequence: expected type: Integer, found: String/ ],
	[ 'sequence above int64',
		'{"table_name":"kv","schema":{},"messages":[{"action":"upsert","sequence":9223372036854775808,"data":{}}]}',
		qr/^sequence can not be above 9223372036854775807$/ ],
	[ 'negative sequence', batch('kv', \%kv, [ [ -1, { id => 1 } ] ]), qr/^sequence can not be below 0$/ ],
	[ 'record not matching the schema', batch('kv', \%kv, [ [ 1, { id => 1 } ], [ 2, { id => 'two' } ] ]),
		qr/^Record 1 did not conform to schema: #\/id: expected: integer, found: string$/ ],
	[ 'bad date-time', batch('t', { ts => { type => 'string', format => 'date-time' } }, [ [ 1, { ts => 'yesterday' } ] ]),
		qr/^Record 0 did not conform to schema: #\/ts: / ],
	[ 'unknown schema type', batch('kv', { id => { type => 'int' } }, [ [ 1, { id => 1 } ] ]),
		qr/^Invalid JSON schema: unknown type: \[int\]$/ ],
	[ 'invalid schema', batch('kv', { id => { type => 'string', minLength => 'x' } }, [ [ 1, { id => 1 } ] ]),
		qr/^Invalid JSON schema: / ],
	[ 'key not a top-level property', batch('kv', \%kv, [ [ 1, { id => 1 } ] ], ['nope']),
		qr/^Key property nope is not a top-level property of the schema$/ ],
	[ 'missing key property', batch('kv', \%kv, [ [ 1, { v => 'x' } ] ], ['id']),
		qr/^Record is missing key property id$/ ],
	[ 'null key', batch('kv', { id => { type => [ 'null', 'integer' ] } }, [ [ 1, { id => undef } ] ], ['id']),
		qr/^Record is missing key property id$/ ],
	[ 'key string of 256 characters', batch('kv', \%kv, [ [ 1, { v => 'k' x 256 } ] ], ['v']),
		qr/string keys cannot be longer than 255 characters/ ]);
for my $case (@bad)
{
	my ($what, $body, $re) = @$case;
	$r = post(token => 'tok-a', body => $body);
	is($r->{code}, 400, "$what: 400");
	like($r->{json}{error} // $r->{body}, $re, "$what: error text");
}
is(post(token => 'tok-a', body => batch('kv255', \%kv, [ [ 1, { id => 1, v => 'k' x 255 } ] ], ['v']))->{code},
	201, 'key string of 255 characters accepted');
$r = post(
	token => 'tok-a',
	body => batch('dates', { d => { type => 'string', format => 'date' } },
		[ [ 1, { d => '2020-02-28' } ], [ 2, { d => '2020-02-30' } ] ]));
is($r->{code}, 400, 'a value PostgreSQL refuses: 400');
is(sql(q{SELECT count(*) FROM pg_tables WHERE tablename = 'dates'}), '0',
	'and nothing of that batch is committed');

# -- faults, in order, and the request log
$rcv->clear_requests;
$rcv->set_faults(
	[
		{ kind => 'status', code => 503 },
		{ kind => 'retry_after', code => 429, seconds => 1 },
		{ kind => 'drop' },
		{ kind => 'slow', seconds => 1.5 },
		{ kind => 'accept_then_drop' },
		{ kind => 'status', code => 500, body => 'oops', count => 2 }
	]);
is(scalar @{ $rcv->faults }, 6, 'faults queued');
my @f;
push @f, post(token => 'tok-a', body => batch('f', \%kv, [ [ $_, { id => $_ } ] ], ['id'])) for 1 .. 8;
is($f[0]{code}, 503, 'fault status 503');
is($f[1]{code}, 429, 'fault 429');
like($f[1]{headers}, qr/^Retry-After: 1\r?$/m, '429 carries Retry-After');
is($f[2]{rc}, 52, 'fault drop: curl gets an empty reply');
is($f[3]{code}, 201, 'fault slow: then accepted');
cmp_ok($f[3]{seconds}, '>=', 1.5, 'fault slow: the reply took the time asked');
is($f[4]{rc}, 52, 'fault accept_then_drop: no reply');
is_deeply([ map { $_->{code} } @f[ 5 .. 7 ] ], [ 500, 500, 201 ], 'count repeats a fault, then normal service');
is($f[5]{body}, 'oops', 'status fault with a body');
is(sql(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM stitch_postgresql.f}), '4,5,8',
	'rows: the slow batch, the accepted-then-dropped one and the last; not the failed ones');

my $log = $rcv->requests;
is_deeply(
	[ map { [ $_->{status}, $_->{fault} ? $_->{fault}{kind} : undef, $_->{replied} ? 1 : 0, $_->{committed} ? 1 : 0 ] } @$log ],
	[
		[ 503, 'status', 1, 0 ], [ 429, 'retry_after', 1, 0 ],
		[ undef, 'drop', 0, 0 ], [ 201, 'slow', 1, 1 ],
		[ 201, 'accept_then_drop', 0, 1 ], [ 500, 'status', 1, 0 ],
		[ 500, 'status', 1, 0 ], [ 201, undef, 1, 1 ]
	],
	'request log: status, fault, replied, committed');
is_deeply(
	[ @{ $log->[7] }{qw(table_name records first_sequence last_sequence)}, $log->[7]{key_names}, $log->[7]{token_ok} ? 1 : 0 ],
	[ 'f', 1, 8, 8, ['id'], 1 ],
	'request log: table, records, sequences, keys, token');
cmp_ok($log->[7]{bytes}, '>', 0, 'request log: bytes');
$rcv->clear_requests;
post(body => $ok_body);
$log = $rcv->requests;
is_deeply([ scalar @$log, $log->[0]{status}, $log->[0]{token_ok} ? 1 : 0 ], [ 1, 401, 0 ],
	'request log after clear: the refused request, token not ok');
$rcv->set_faults([ { kind => 'drop' } ]);
$rcv->clear_faults;
is(post(token => 'tok-a', body => $ok_body)->{code}, 201, 'cleared faults do not fire');

# -- https with the test CA
my $tls = PgPullReceiver->start(
	dsn => $node->connstr('postgres'),
	tokens => { 'tok-s' => 'Secure One' },
	tls => 1,
	name => 'tls');
like($tls->url, qr{^https://127\.0\.0\.1:\d+$}, 'https receiver');
$r = post(receiver => $tls, token => 'tok-s', cacert => $tls->cacert, body => $ok_body);
is($r->{code}, 201, 'https batch with the test CA: 201');
$r = post(receiver => $tls, token => 'tok-s', cacert => $tls->cacert, url => 'https://localhost:' . $tls->port, body => $ok_body);
is($r->{code}, 201, 'certificate valid for localhost too');
$r = post(receiver => $tls, token => 'tok-s', body => $ok_body);
is($r->{rc}, 60, 'without the CA curl refuses the certificate');
is(sql('SELECT count(*) FROM secure_one.kv'), '1', 'https batches land');
$tls->set_faults([ { kind => 'accept_then_drop' } ]);
$r = post(receiver => $tls, token => 'tok-s', cacert => $tls->cacert,
	body => batch('kv', \%kv, [ [ 2, { id => 2 } ] ], ['id']));
isnt($r->{rc}, 0, 'https accept_then_drop: no reply');
is(sql('SELECT count(*) FROM secure_one.kv'), '2', 'https accept_then_drop: committed');
my $tls_pid = $tls->pid;
is($tls->stop, 0, 'https receiver exits 0 on SIGTERM');
ok(!kill(0, $tls_pid), 'https receiver process gone');

# -- the destination down: 503, nothing accepted
$node->stop;
$r = post(token => 'tok-a', body => $ok_body);
is($r->{code}, 503, 'destination database down: 503');
my $pid = $rcv->pid;
is($rcv->stop, 0, 'receiver exits 0 on SIGTERM');
ok(!kill(0, $pid), 'receiver process gone');

done_testing();
