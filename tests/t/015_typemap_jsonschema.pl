# tests/t/015_typemap_jsonschema.pl: the type mapping's JSON Schema is valid
# Draft 4 and every row the mapping renders validates against it.
#
# A table with a column of every kind of type holds edge values; the
# schema comes from pgpull._json_schema_of, the rows from the query of
# pgpull.row_json_query, and /usr/bin/python3 with jsonschema checks them
# (date-time, date and base64 checked too: jsonschema leaves formats to
# optional packages).  The rows must not change under other TimeZone,
# DateStyle, IntervalStyle, extra_float_digits and bytea_output settings.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# make deps-test installs python3-jsonschema: a machine without it is broken, and
# the test fails (it does not skip)
my $python = '/usr/bin/python3';
my (undef, $probe_err) = run_command([ $python, '-c', 'import jsonschema' ]);
die "python3 cannot import jsonschema (make deps-test installs python3-jsonschema): $probe_err"
  if $probe_err ne '';

my $validate = <<'PY';
import base64, datetime, json, re, sys
import jsonschema
from jsonschema import Draft4Validator, FormatChecker, validators

schema = json.load(open(sys.argv[1]))
Draft4Validator.check_schema(schema)

formats = FormatChecker()
RFC3339_UTC = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$')

@formats.checks('date-time', raises=ValueError)
def date_time(value):
    if isinstance(value, str):
        if not RFC3339_UTC.match(value):
            raise ValueError('not an RFC 3339 UTC time: %r' % value)
        datetime.datetime.fromisoformat(value[:-1] + '+00:00')
    return True

@formats.checks('date', raises=ValueError)
def date(value):
    if isinstance(value, str):
        if not re.match(r'^\d{4}-\d{2}-\d{2}$', value):
            raise ValueError('not a full-date: %r' % value)
        datetime.date.fromisoformat(value)
    return True

def content_encoding(validator, encoding, instance, schema):
    if encoding == 'base64' and isinstance(instance, str):
        try:
            base64.b64decode(instance, validate=True)
        except ValueError:
            yield jsonschema.ValidationError('not base64: %r' % instance)

Validator = validators.extend(Draft4Validator, {'contentEncoding': content_encoding})
validator = Validator(schema, format_checker=formats)
rows = invalid = 0
for line in open(sys.argv[2]):
    row = json.loads(line)
    rows += 1
    errors = list(validator.iter_errors(row))
    for e in errors:
        print('row %d: %s: %s' % (rows, '/'.join(str(p) for p in e.absolute_path), e.message))
    invalid += bool(errors)
print('%d rows, %d invalid' % (rows, invalid))
PY

my $node = PostgreSQL::Test::Cluster->new('typemap');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgpull');

$node->safe_psql('postgres', q{
	CREATE SCHEMA "we""ird sch";
	SET search_path = "we""ird sch";
	CREATE TYPE mood AS ENUM ('sad', 'happy', 'we"ird');
	CREATE TYPE pair AS ("at" timestamptz, amount numeric(6,2), tags float8[], note varchar(3), raw bytea);
	CREATE DOMAIN posint AS int NOT NULL CHECK (VALUE > 0);
	CREATE DOMAIN num52 AS numeric(5,2);
	CREATE DOMAIN ts_list AS timestamptz[];
	CREATE TABLE every (
		id int PRIMARY KEY, i2 int2, i4 int4 NOT NULL DEFAULT 0, i8 int8, n numeric, n52 numeric(5,2),
		n25 numeric(2,5), f4 real, f8 float8 NOT NULL DEFAULT 0, m money, b bool, d date NOT NULL DEFAULT '2000-01-01',
		ts0 timestamp(0), ts timestamp, tz timestamptz, t time, ttz timetz, iv interval,
		by bytea, j json, jb jsonb NOT NULL DEFAULT '{}', tx text, vc varchar(5), ch char(3), u uuid,
		e mood, ip inet, bt bit(3), vb varbit, x xml, pt point, r tstzrange, dr daterange, mr int4multirange,
		i2v int2vector, o oid, ai int[], a2 int[][], ats timestamptz[], ats2 timestamptz[][], an numeric[],
		af float8[], ab bytea[], c pair, ac pair[], dp posint, dn num52, dl ts_list,
		"we""ird col" text, "MixedCase" timestamptz);
	INSERT INTO every VALUES
		(1, -32768, -2147483648, -9223372036854775808, 12345678901234567890.123456789, -999.99,
		 0.00099, 1.1, 0.1, '-12.34', true, '2024-02-29',
		 '2024-02-29 12:34:56', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+05:30',
		 '12:34:56.789', '12:34:56+05:30', '1 year 2 months 3 days 4 hours 5 minutes 6.5 seconds',
		 '\x', '{"a": [1, 2.50, "x"], "b": null}', '[1, "two", {"three": 3}]',
		 E'q"uo\\te\nnl\ttab \u00fc \U0001F600 \x01', 'abc', 'ab',
		 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'we"ird', '192.168.0.1/24', '101', '1101',
		 '<a b="c">x &amp; y</a>', '(1.5,-0.1)', '[2024-01-01 00:00+05, infinity)',
		 '[2024-01-01,2024-02-01)', '{[1,3), [5,)}', '1 2 3', 4294967295,
		 '{1,NULL,3}', '{{1,2},{3,4}}', '{2024-01-01 00:00:00+00,NULL,infinity}',
		 '{{2024-01-01 00:00+00,NULL},{infinity,2024-01-02 00:00:00.5+00}}',
		 '{1.5,NaN,-Infinity}', '{0.1,NaN,-0,1e308}', '{"\\x00ff",NULL}',
		 ROW('2024-01-01 00:00+00', 'NaN', '{1.5,NaN}', 'abc', '\x00'),
		 ARRAY[ROW('2024-01-01 00:00+01', 1, NULL, NULL, NULL)::pair, NULL], 1, 'NaN',
		 '{2024-01-01 00:00+00,infinity}', 'w', '2024-01-01 00:00+00');
	INSERT INTO every (id, i2, i4, i8, n, n52, n25, f4, f8, m, b, d, ts0, ts, tz, t, ttz, iv, by,
					   j, jb, tx, vc, ch, e, vb, pt, r, dr, mr, i2v, o, ai, a2, ats, ats2, an, af, ab,
					   c, ac, dp, dn, dl, "MixedCase")
	VALUES (2, 32767, 2147483647, 9223372036854775807, 'NaN', 999.99, -0.00099, 'NaN', 'Infinity',
			'92233720368547758.07', false, 'infinity', 'infinity', '0044-03-15 12:00:00 BC',
			'10000-01-01 00:00+00', '24:00:00', '00:00:00-12:45',
			'-1 year -2 months 3 days -4 hours -5 minutes -6.5 seconds',
			convert_to(repeat('x', 58), 'UTF8'), '42', '"s"', '', '', '', 'sad', '',
			'(0.30000000000000004,1e+300)', 'empty', '[-infinity,infinity)', '{}', '', 0,
			'{}', '{}', '{}', '{}', '{}', '{}', '{}', ROW(NULL, NULL, NULL, NULL, NULL), '{}',
			2147483647, 999.99, '{}', 'infinity');
	INSERT INTO every (id, n, f4, f8, d, ts0, ts, tz, iv, by, j, jb, dp)
	VALUES (3, '-Infinity', '-Infinity', '-0', '-infinity', '-infinity', '9999-12-31 23:59:59.999999',
			'0001-01-01 00:00:00+00', '0', decode(repeat('00ff', 100), 'hex'), 'null', 'null', 3);
	INSERT INTO every (id, n, n52, f4, f8, d, ts0, ts, tz, iv, j, jb, dp)
	VALUES (4, 0.000, 0, 1e-45, 5e-324, '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00',
			'0001-01-01 00:30:00+01', '1 day -24 hours', 'true', '[]', 4);
	INSERT INTO every (id, f4, f8, d, ts0, ts, tz, iv, dp)
	VALUES (5, 3.4028235e38, 1e308, '9999-12-31', '10000-01-01 00:00:00', '-infinity',
			'9999-12-31 23:30:00-01', '1000000 hours 0.000001 seconds', 5);
	INSERT INTO every (id, dp) VALUES (6, 6);
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my $schema = $node->safe_psql('postgres', q{SELECT pgpull._json_schema_of('"we""ird sch".every', NULL)});
my $query = $node->safe_psql('postgres', q{SELECT pgpull.row_json_query('"we""ird sch".every')});
my $rows_sql = "SELECT row_json FROM ($query) s ORDER BY (row_json->>'id')::int";
my $rows = $node->safe_psql('postgres', $rows_sql);
my @rows = split /\n/, $rows;
is(scalar @rows, 6, 'one line of JSON per row');

append_to_file("$dir/schema.json", $schema);
append_to_file("$dir/rows.json", "$rows\n");
my ($out, $err) = run_command([ $python, '-c', $validate, "$dir/schema.json", "$dir/rows.json" ]);
is($err, '', 'the schema is valid Draft 4');
is($out, '6 rows, 0 invalid', 'every row validates against the schema') or diag $out;

# the checks do catch what they should
append_to_file("$dir/bad.json", join("\n",
	'{"i4": "1"}', '{"i4": null}', '{"i2": 40000}', '{"n52": 1000}', '{"ts": "2024-02-29 12:34:56"}',
	'{"tz": "2024-02-29T12:34:56+00:00"}', '{"d": "2024-02-30"}', '{"by": "a b"}', '{"dp": null}',
	'{"ai": [[1]]}', '{"a2": [1]}', '{"c": {"amount": 10000}}', '{"vc": "abcdef"}')
	. "\n");
($out, $err) = run_command([ $python, '-c', $validate, "$dir/schema.json", "$dir/bad.json" ]);
like($out, qr/^13 rows, 13 invalid$/m, 'wrong values are caught') or diag $out, $err;

# the same JSON, byte for byte, whatever the session's settings
my $odd = $node->safe_psql('postgres', qq{
	SET TimeZone = 'America/St_Johns';
	SET DateStyle = 'SQL, DMY';
	SET IntervalStyle = 'postgres_verbose';
	SET extra_float_digits = 0;
	SET bytea_output = 'escape';
	$rows_sql});
is($odd, $rows, 'the same rows under other TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output');
my $odd_query = $node->safe_psql('postgres', q{
	SET TimeZone = 'Asia/Kathmandu';
	SET DateStyle = 'German';
	SET IntervalStyle = 'sql_standard';
	SET search_path = "we""ird sch", public;
	SELECT pgpull.row_json_query('every')});
is($odd_query, $query, 'the same query whatever the settings and search_path');
isnt($node->safe_psql('postgres', q{
		SET TimeZone = 'America/St_Johns';
		SET IntervalStyle = 'postgres_verbose';
		SELECT row_to_json(zz) FROM "we""ird sch".every zz WHERE id = 1}),
	$rows[0], 'row_to_json alone does depend on them');

# values mapped to null are counted
is($node->safe_psql('postgres', "SELECT string_agg(lossy::text, ',' ORDER BY (row_json->>'id')::int) FROM ($query) s"),
	'9,8,4,1,3,0', 'lossy values counted per row');

$node->stop;
done_testing();
