# tests/t/007_pgoutput.pl: the pgoutput decoder (puller/pgoutput.c).
#
# Builds the unit test puller/fuzz/test_pgoutput.c (make pgoutput-test) and
# runs it under valgrind: each of its "ok" lines is an assertion here.  Then
# a cluster with wal_level = logical makes changes to published tables (a
# key column, a value over 8 kB stored out of line, an enum, a table with
# REPLICA IDENTITY FULL, a truncate, a logical decoding message), and the
# decoder, under valgrind again, decodes every message the slot gives
# through pg_logical_slot_peek_binary_changes with protocol version 1: an
# update that leaves the big value alone must show it as unchanged ('u').
use strict;
use warnings FATAL => 'all';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PgPullTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = abs_path(dirname(__FILE__) . '/../..');
my $unit = "$src/puller/fuzz/build/test_pgoutput";

my ($out, $err) = ('', '');
IPC::Run::run([ 'make', '-s', '--no-print-directory', '-C', $src, 'pgoutput-test' ],
	'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(300));
die "make pgoutput-test failed: $out$err" if $?;

# -- the unit tests, an assertion each
($out, $err) = ('', '');
IPC::Run::run([ PgPullTest::valgrind($unit) ],
	'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(300));
my $rc = $? >> 8;
my ($count, $plan) = (0, undef);
for my $line (split /\n/, $out)
{
	if ($line =~ /^(not )?ok \d+ - (.*)$/)
	{
		ok(!defined $1, "unit: $2");
		$count++;
	}
	elsif ($line =~ /^1\.\.(\d+)$/)
	{
		$plan = $1;
	}
	elsif ($line =~ /^# (.*)$/)
	{
		diag($1);
	}
}
is($rc, 0, 'unit: exit status 0');
ok($count > 50 && defined $plan && $plan == $count, "unit: all $count tests ran")
  or diag("stderr: $err");

# -- a real server's messages
my $node = PostgreSQL::Test::Cluster->new('pgoutput');
$node->init(allows_streaming => 'logical', extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE items (id int PRIMARY KEY, name text, big text, m mood, price numeric(10,2));
ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE audit (a int, b text);
ALTER TABLE audit REPLICA IDENTITY FULL;
CREATE PUBLICATION pub FOR TABLE items, audit;
SELECT pg_create_logical_replication_slot('pgo', 'pgoutput');
});
$node->safe_psql(
	'postgres', q{
INSERT INTO items VALUES
  (1, 'one', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i), 'ok', 1.50),
  (2, NULL, NULL, NULL, NULL);
UPDATE items SET name = 'uno' WHERE id = 1;
UPDATE items SET id = 3 WHERE id = 2;
DELETE FROM items WHERE id = 3;
INSERT INTO audit VALUES (1, 'x'), (2, NULL);
UPDATE audit SET b = 'y' WHERE a = 1;
DELETE FROM audit WHERE a = 2;
});
my $toast = $node->safe_psql('postgres',
	q{SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'items'});
cmp_ok($toast, '>', 8192, "the big value is stored out of line ($toast bytes of TOAST)");
$node->safe_psql(
	'postgres', q{
BEGIN;
SELECT pg_logical_emit_message(true, 'pgpull_test', 'hello');
TRUNCATE items, audit;
COMMIT;
});
my $relid = $node->safe_psql('postgres', "SELECT 'items'::regclass::oid");
my $audit = $node->safe_psql('postgres', "SELECT 'audit'::regclass::oid");
my $hex = $node->safe_psql('postgres',
	q{SELECT encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('pgo', NULL, NULL,
	  'proto_version', '1', 'publication_names', 'pub', 'messages', 'true')});
my $hexfile = "$PostgreSQL::Test::Utils::tmp_check/pgoutput.hex";
PostgreSQL::Test::Utils::append_to_file($hexfile, "$hex\n");

($out, $err) = ('', '');
IPC::Run::run([ PgPullTest::valgrind($unit, $hexfile) ],
	'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(300));
is($? >> 8, 0, 'every message of the slot decodes') or diag("$out\n$err");
my @lines = split /\n/, $out;
note($_) for @lines;
my $n = () = $hex =~ /\n/g;
is(scalar @lines, $n + 1, 'a line per message');
is(scalar(grep { /^B xid=\d+$/ } @lines), 8, 'a Begin message for each of the eight transactions');
is(scalar(grep { /^C end=[0-9A-F]+$/ } @lines), 8, 'a Commit message for each');
ok((grep { /^R $relid public\.items d id:23:key name:25 big:25 m:\d+ price:1700$/ } @lines),
	'Relation of items: names, types, the key');
ok((grep { /^R $audit public\.audit f a:23:key b:25:key$/ } @lines),
	'Relation of audit: REPLICA IDENTITY FULL, every column a key');
ok((grep { /^Y \d+ public\.mood$/ } @lines), 'a Type message for the enum');
ok((grep { /^I $relid new=t1,t3,t(\d+),t2,t4$/ && $1 > 8192 } @lines),
	'Insert of the big value, as text');
ok((grep { /^I $relid new=t1,n,n,n,n$/ } @lines), 'Insert of NULLs');
ok((grep { /^U $relid new=t1,t3,u,t2,t4$/ } @lines),
	'Update leaving the big value alone: unchanged TOAST (u)');
ok((grep { /^U $relid K old=t1,n,n,n,n new=t1,n,n,n,n$/ } @lines),
	'Update of the key: the old key (K)');
ok((grep { /^D $relid K old=t1,n,n,n,n$/ } @lines), 'Delete: the key (K)');
ok((grep { /^U $audit O old=t1,t1 new=t1,t1$/ } @lines),
	'Update under REPLICA IDENTITY FULL: the old row (O)');
ok((grep { /^D $audit O old=t1,n$/ } @lines), 'Delete under REPLICA IDENTITY FULL: the old row (O)');
my $both = join(' ', sort ($relid, $audit));
ok((grep { /^T options=0 (\d+) (\d+)$/ && join(' ', sort ($1, $2)) eq $both } @lines),
	'Truncate of both tables');
ok((grep { /^M pgpull_test 5$/ } @lines), 'the logical decoding message');
$node->stop;

done_testing();
