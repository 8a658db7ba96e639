# tests/PgPullTest.pm: shared helpers of the sync tests (tests/t/03*.pl).
#
#   my $node = PgPullTest::source_node('src');      # cluster, extension, db "dest"
#   my $rcv  = PgPullTest::receiver($node, tokens => { tok => 'default' });
#   my $r    = PgPullTest::sync($node, $rcv, args => [...]);  # { rc, stdout, stderr }
#   PgPullTest::same_rows($node, 'items', 'id, name', 'default', 'name');
#
# The source and the receiver's destination live in one cluster: the source
# in database "postgres" (with the extension), the destination in database
# "dest", so source and destination are compared in SQL on the same server
# (same time zone, same output settings).
#
# A file that says "use PgPullTest valgrind => 1;" runs every pgpull under
# valgrind memcheck and ends with one assertion that valgrind reported
# nothing (see VALGRIND below).
package PgPullTest;

use strict;
use warnings FATAL => 'all';

use Carp;
use File::Spec;
use IPC::Run;
use PgPullReceiver;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test2::API;
use Test::More;

=pod

=head1 VALGRIND

    use PgPullTest valgrind => 1;

at the top of a test file runs every pgpull the file starts through this
module under valgrind memcheck: sync, start_sync, pgpull, and the commands
of sync_command and pgpull_command (for the runs a file starts itself).  The
environment variable PGPULL_VALGRIND=1 or 0 overrides the file's choice
(PGPULL_VALGRIND=1 make check runs every file so; 0 none, for a quicker
round), and the option valgrind => 0|1 of one call overrides both (a sync
whose point is volume rather than code paths may stay outside, with a
comment saying why).

Under valgrind, an invalid read or write, a use of uninitialised memory, a
bad free or a definite leak makes pgpull exit with status 99, and writes a
report to tmp_check/log/valgrind/PID.log (the child processes pgpull starts,
ssh and Singer targets, are not traced).  At done_testing a file that ran
pgpull under valgrind gets one more assertion, "valgrind reported nothing",
which fails with the reports as diagnostics when any log is not empty: a
test that checks only that a run failed still fails the file.  make deps-test
installs valgrind: when it is missing, the run dies, and so does the test.

=head1 FUNCTIONS

=over

=cut

# whether the file asked for valgrind, and how many commands went under it
my $valgrind_file = 0;
my $valgrind_runs = 0;

sub import
{
	my ($class, %o) = @_;
	my @unknown = grep { $_ ne 'valgrind' } sort keys %o;
	croak "unrecognized option of PgPullTest: @unknown" if @unknown;
	$valgrind_file = $o{valgrind} if exists $o{valgrind};
	return;
}

Test2::API::test2_add_callback_testing_done(\&valgrind_reported_nothing);

=item source_node(NAME, conf => TEXT, hba => TEXT, streaming => 0|1, logical => 0|1)

A started cluster with the extension in database "postgres" and an empty
database "dest" for the receiver.  conf is appended to postgresql.conf;
hba, when given, replaces pg_hba.conf; streaming makes it a primary that
standbys can stream from; logical makes it one that log-based streams can
read from (wal_level = logical, 10 replication slots and WAL senders;
initdb's pg_hba.conf trusts local replication connections).

=cut

sub source_node
{
	my ($name, %o) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(
		allows_streaming => $o{streaming} // 0,
		extra => [ '--encoding=UTF8', '--locale=C' ]);
	$node->append_conf('postgresql.conf',
		"wal_level = logical\nmax_replication_slots = 10\nmax_wal_senders = 10\nmax_connections = 40")
	  if $o{logical};
	$node->append_conf('postgresql.conf', $o{conf}) if defined $o{conf};
	if (defined $o{hba})
	{
		open my $fh, '>', $node->data_dir . '/pg_hba.conf'
		  or croak "could not write pg_hba.conf: $!";
		print $fh $o{hba};
		close $fh;
	}
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pgpull');
	$node->safe_psql('postgres', 'CREATE DATABASE dest');
	return $node;
}

=item receiver(NODE, tokens => {TOKEN => INTEGRATION}, tls => 0|1, name => LABEL)

A reference receiver loading into database "dest" of NODE.  The default
token is "tok" for the integration "default".

=cut

sub receiver
{
	my ($node, %o) = @_;
	return PgPullReceiver->start(
		dsn => $node->connstr('dest'),
		tokens => $o{tokens} // { tok => 'default' },
		tls => $o{tls} // 0,
		(defined $o{name} ? (name => $o{name}) : ()),
		(defined $o{max_bytes} ? (max_bytes => $o{max_bytes}) : ()),
		(defined $o{max_records} ? (max_records => $o{max_records}) : ()));
}

=item sync_command(NODE, RECEIVER, args => [...], valgrind => 0|1)

The command line of "pgpull sync" from NODE's database "postgres" to the
receiver (target and, for TLS, --cacert), with args appended; under
valgrind as pgpull_command says.

=cut

sub sync_command
{
	my ($node, $rcv, %o) = @_;
	my @args = (
		'sync',
		'--source' => $o{source} // $node->connstr('postgres'),
		'--target' => $o{target} // $rcv->url);
	push @args, '--cacert' => $rcv->cacert
	  if $rcv->cacert && !$o{no_cacert};
	push @args, @{ $o{args} } if $o{args};
	return [ pgpull_command(\@args, valgrind => $o{valgrind}) ];
}

=item valgrind_on()

Whether this file runs pgpull under valgrind (see VALGRIND): for a test
that times a run.

=cut

sub valgrind_on
{
	return $ENV{PGPULL_VALGRIND}
	  if defined $ENV{PGPULL_VALGRIND} && $ENV{PGPULL_VALGRIND} ne '';
	return $valgrind_file;
}

=item pgpull_command([ARGS...], valgrind => 0|1)

The command line (a list) of pgpull with the arguments: under valgrind when
valgrind_on() says so or valgrind is 1, not when it is 0, nor when TMPDIR
names no writable directory (valgrind needs one for its own files).

=cut

sub pgpull_command
{
	my ($args, %o) = @_;
	my @cmd = ('pgpull', @$args);
	return @cmd unless $o{valgrind} // valgrind_on();
	# valgrind writes files of its own in TMPDIR and gives up without one
	if (defined $ENV{TMPDIR} && !(-d $ENV{TMPDIR} && -w $ENV{TMPDIR}))
	{
		note("not under valgrind: TMPDIR $ENV{TMPDIR} is not a writable directory");
		return @cmd;
	}
	return valgrind(@cmd);
}

=item valgrind(COMMAND...)

COMMAND (a list) to run under valgrind memcheck, its report in
tmp_check/log/valgrind/PID.log, empty when it found nothing; an error or a
definite leak makes it exit 99.  Child processes are not traced.

=cut

sub valgrind
{
	my $dir = valgrind_dir();
	mkdir $dir;
	$valgrind_runs++;
	return ('valgrind', '--quiet', '--leak-check=full',
		'--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
		'--error-exitcode=99', '--num-callers=30', "--log-file=$dir/%p.log", @_);
}

# where the valgrind reports of this file go (absolute: valgrind opens the
# log file in pgpull's working directory)
sub valgrind_dir
{
	return File::Spec->rel2abs("$PostgreSQL::Test::Utils::log_path/valgrind");
}

# At done_testing, after any run under valgrind: one assertion that every
# report is empty, the reports as diagnostics when not.
sub valgrind_reported_nothing
{
	return unless $valgrind_runs;
	my @reports = grep { -s $_ } glob(valgrind_dir() . '/*.log');
	ok(!@reports, "valgrind reported nothing (pgpull runs: $valgrind_runs)");
	diag("--- $_\n" . slurp_file($_)) for @reports;
	return;
}

=item sync(NODE, RECEIVER, token => TOKEN, args => [...], valgrind => 0|1)

Runs "pgpull sync" with PGPULL_TOKEN set (default "tok"; undef in token
leaves it unset) and stdin not a terminal.  Returns { rc, stdout, stderr }.
Its stderr goes to the test log.

=cut

sub sync
{
	my ($node, $rcv, %o) = @_;
	my $cmd = sync_command($node, $rcv, %o);
	my ($out, $err) = ('', '');
	local $ENV{PGPULL_TOKEN} = exists $o{token} ? $o{token} : 'tok';
	delete $ENV{PGPULL_TOKEN} unless defined $ENV{PGPULL_TOKEN};
	note('# Running: ' . join(' ', @$cmd));
	IPC::Run::run($cmd, '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($o{timeout} // 600));
	my $rc = exit_status($?);
	note("pgpull exit status $rc; stderr:\n$err");
	return { rc => $rc, stdout => $out, stderr => $err };
}

=item exit_status(WAIT_STATUS)

The exit status of a finished command as a shell gives it: 128 + the
signal's number when a signal killed it, so that a crash (SIGSEGV: 139)
never reads as exit status 0.

=cut

sub exit_status
{
	my ($wait) = @_;
	return $wait & 127 ? 128 + ($wait & 127) : $wait >> 8;
}

=item pgpull(args => [...], stdin => IN, stdout => OUT, valgrind => 0|1)

Runs "pgpull" with the arguments (under valgrind as pgpull_command says),
stdin from IN (default: nothing), stdout to OUT (default: kept), as
IPC::Run takes them.  Returns { rc, stdout, stderr }.  Its stderr goes to
the test log.

=cut

sub pgpull
{
	my (%o) = @_;
	my ($out, $err) = ('', '');
	my @cmd = pgpull_command($o{args}, valgrind => $o{valgrind});
	note('# Running: ' . join(' ', @cmd));
	IPC::Run::run(\@cmd, '<', $o{stdin} // \undef, '>', $o{stdout} // \$out,
		'2>', \$err, IPC::Run::timeout(600));
	my $rc = exit_status($?);
	note("pgpull exit status $rc; stderr:\n$err");
	return { rc => $rc, stdout => $out, stderr => $err };
}

=item start_sync(NODE, RECEIVER, token => TOKEN, args => [...], valgrind => 0|1)

Starts "pgpull sync" in the background; returns { harness, stdout, stderr }
(scalar refs filled as it runs).  finish_sync waits for it.

=cut

sub start_sync
{
	my ($node, $rcv, %o) = @_;
	my $cmd = sync_command($node, $rcv, %o);
	my ($out, $err) = ('', '');
	local $ENV{PGPULL_TOKEN} = $o{token} // 'tok';
	note('# Starting: ' . join(' ', @$cmd));
	my $h = IPC::Run::start($cmd, '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($o{timeout} // 600));
	return { harness => $h, stdout => \$out, stderr => \$err };
}

=item finish_sync(RUN)

Waits for a run from start_sync; returns { rc, stdout, stderr, signal }.

=cut

sub finish_sync
{
	my ($run) = @_;
	my $h = $run->{harness};
	eval { $h->finish; };
	my $result = $h->full_result(0) // -1;
	my %r = (
		rc => $result >= 0 ? $result >> 8 : -1,
		signal => $result >= 0 ? $result & 127 : 0,
		stdout => ${ $run->{stdout} },
		stderr => ${ $run->{stderr} });
	note("pgpull exit status $r{rc} (signal $r{signal}); stderr:\n$r{stderr}");
	return \%r;
}

=item still_running(RUN)

Whether a run from start_sync is still running (it reads what the run
wrote so far).

=cut

sub still_running
{
	my ($run) = @_;
	my $h = $run->{harness};
	my $alive = eval { $h->pump_nb; $h->pumpable };
	return $alive ? 1 : 0;
}

=item dest_table(NODE, TABLE, INTEGRATION)

The quoted, schema-qualified name of a destination table.

=cut

sub dest_table
{
	my ($node, $table, $integration) = @_;
	$integration //= 'default';
	my $schema = $node->safe_psql('postgres',
		"SELECT pgpull.destination_schema_name('$integration')");
	return $node->safe_psql('postgres', "SELECT format('%I.%I', '$schema', '$table')");
}

=item same_rows(NODE, SOURCE_RELATION, COLUMNS, INTEGRATION, TEST_NAME, DEST_TABLE, SOURCE_DB)

Checks that the destination table holds exactly the rows of the source
relation (in database SOURCE_DB, default "postgres"): the listed columns,
ordered by all of them, compared as text.

=cut

sub same_rows
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($node, $relation, $columns, $integration, $name, $table, $source_db) = @_;
	($table = $relation) =~ s/^.*\.// unless defined $table;
	my $dest = dest_table($node, $table, $integration);
	my $src = $node->safe_psql($source_db // 'postgres',
		"SELECT $columns FROM $relation ORDER BY $columns");
	my $dst = $node->safe_psql('dest',
		"SELECT $columns FROM $dest ORDER BY $columns");
	my $n = () = $src =~ /\n/g;
	if ($src eq $dst)
	{
		pass("$name (" . ($src eq '' ? 0 : $n + 1) . ' rows)');
		return 1;
	}
	fail($name);
	my @s = split /\n/, $src;
	my @d = split /\n/, $dst;
	diag(sprintf('source has %d rows, destination %d', scalar @s, scalar @d));
	my %in_dst = map { $_ => 1 } @d;
	my %in_src = map { $_ => 1 } @s;
	my @missing = grep { !$in_dst{$_} } @s;
	my @extra = grep { !$in_src{$_} } @d;
	diag('missing: ' . join(' | ', @missing[ 0 .. ($#missing < 4 ? $#missing : 4) ])) if @missing;
	diag('extra: ' . join(' | ', @extra[ 0 .. ($#extra < 4 ? $#extra : 4) ])) if @extra;
	return 0;
}

=item stream_row(NODE, RELATION, COLUMNS, INTEGRATION)

The given columns of the stream's catalog row, as psql prints them.

=cut

sub stream_row
{
	my ($node, $relation, $columns, $integration) = @_;
	$integration //= 'default';
	return $node->safe_psql('postgres',
		"SELECT $columns FROM pgpull.stream WHERE relation = '$relation'::regclass"
		  . " AND integration = '$integration'");
}

=item accepted(RECEIVER, TABLE)

The batch requests for TABLE the receiver accepted (2xx), in order.

=cut

sub accepted
{
	my ($rcv, $table) = @_;
	return [
		grep {
			defined $_->{status}
			  && $_->{status} >= 200
			  && $_->{status} < 300
			  && defined $_->{table_name}
			  && $_->{table_name} eq $table
		} @{ $rcv->requests }
	];
}

=item records(RECEIVER, TABLE)

How many records the receiver accepted for TABLE since its log was
cleared.

=cut

sub records
{
	my ($rcv, $table) = @_;
	my $n = 0;
	$n += $_->{records} // 0 for @{ accepted($rcv, $table) };
	return $n;
}

=item replication_role(NODE, ROLE, schemas => [...], integrations => [...])

Makes ROLE the replication role of a log-based setup, as the README tells
a superuser: the statements of pgpull.grant_script for the schemas
(default public) and integrations (default "default"), then ALTER ROLE
... REPLICATION.  Returns the connection string of database "postgres"
as that role, for --source.

=cut

sub replication_role
{
	my ($node, $role, %o) = @_;
	my $schemas = join(',', map { qq{"$_"} } @{ $o{schemas} // ['public'] });
	my $integrations = join(',', map { qq{"$_"} } @{ $o{integrations} // ['default'] });
	$node->safe_psql('postgres', qq{
SET client_min_messages = warning;
SELECT * FROM pgpull.grant_script('$role', '{$schemas}', NULL, '{$integrations}') \\gexec
ALTER ROLE "$role" REPLICATION;
});
	return $node->connstr('postgres') . " user=$role";
}

=item publish(NODE, INTEGRATION)

Creates or updates the publication of the integration's log_based streams
as their owner would: with pgpull.publication_script when the extension
has it, else by hand (a publication named pgpull.publication_name, for
exactly the integration's log_based relations, with
publish_via_partition_root; dropped when none is left).  Returns which:
"publication_script" or "by hand".

=cut

sub publish
{
	my ($node, $integration) = @_;
	$integration //= 'default';
	(my $lit = $integration) =~ s/'/''/g;
	if ($node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_proc
		 WHERE proname = 'publication_script' AND pronamespace = 'pgpull'::regnamespace}) ne '0')
	{
		$node->safe_psql('postgres', qq{
SET client_min_messages = warning;
SELECT * FROM pgpull.publication_script('$lit') \\gexec
});
		return 'publication_script';
	}
	$node->safe_psql('postgres', qq{
SET client_min_messages = warning;
DO \$\$
DECLARE
	v_pub text := pgpull.publication_name('$lit');
	v_tables text;
BEGIN
	SELECT string_agg(s.relation::text, ', ' ORDER BY s.stream_id) INTO v_tables
	  FROM pgpull.stream s WHERE s.integration = '$lit' AND s.method = 'log_based';
	IF EXISTS (SELECT FROM pg_publication WHERE pubname = v_pub) THEN
		IF v_tables IS NULL THEN
			EXECUTE format('DROP PUBLICATION %I', v_pub);
		ELSE
			EXECUTE format('ALTER PUBLICATION %I SET TABLE %s', v_pub, v_tables);
		END IF;
	ELSIF v_tables IS NOT NULL THEN
		EXECUTE format('CREATE PUBLICATION %I FOR TABLE %s WITH (publish_via_partition_root = true)',
					   v_pub, v_tables);
	END IF;
END
\$\$;
});
	return 'by hand';
}

=item slot(NODE, INTEGRATION)

The integration's replication slot as pg_replication_slots shows it: a
hash of slot_name, plugin, database, active, confirmed_flush_lsn,
restart_lsn and wal_status (text; '' for NULL), or undef when there is
none.

=cut

sub slot
{
	my ($node, $integration) = @_;
	$integration //= 'default';
	(my $lit = $integration) =~ s/'/''/g;
	my @f = qw(slot_name plugin database active confirmed_flush_lsn restart_lsn wal_status);
	my $row = $node->safe_psql('postgres', 'SELECT '
		  . join(', ', map { "coalesce($_\::text, '')" } @f)
		  . " FROM pg_replication_slots WHERE slot_name = pgpull.slot_name('$lit')");
	return undef if $row eq '';
	my %h;
	@h{@f} = split /\|/, $row, -1;
	return \%h;
}

=item confirmed_flush(NODE, INTEGRATION)

The slot's confirmed_flush_lsn ('' when there is no slot).

=cut

sub confirmed_flush
{
	my ($node, $integration) = @_;
	my $slot = slot($node, $integration);
	return $slot ? $slot->{confirmed_flush_lsn} : '';
}

=item scenario(NAME, CODE)

A subtest NAME running CODE, in which an error (a failed safe_psql, a
timeout) is one failed assertion rather than the end of the file, so the
scenarios after it still run.

=cut

sub scenario
{
	my ($name, $code) = @_;
	subtest $name => sub {
		eval { $code->(); 1 } or fail("died: $@");
	};
	return;
}

=item current_lsn(NODE)

pg_current_wal_lsn() of NODE, as text.

=cut

sub current_lsn
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
}

=item lsn_ge(NODE, A, B)

Whether the LSN A is at or after B (both text, as PostgreSQL prints them).

=cut

sub lsn_ge
{
	my ($node, $a, $b) = @_;
	return 0 if $a eq '' || $b eq '';
	return $node->safe_psql('postgres', "SELECT '$a'::pg_lsn >= '$b'::pg_lsn") eq 't';
}

=item log_changes(NODE, TABLE, LABEL, INTEGRATION)

Changes to a table of log_table in three transactions, for a run that
must not confirm them: txt of rows 41 to 60 set to LABEL and the id, row
61 deleted, a row inserted with txt LABEL.  Returns { start, before,
changed }: the WAL position before and after the changes, and the
integration's slot's confirmed_flush_lsn before them.

=cut

sub log_changes
{
	my ($node, $table, $label, $integration) = @_;
	my %r = (start => current_lsn($node), before => confirmed_flush($node, $integration));
	$node->safe_psql('postgres', qq{
UPDATE $table SET txt = '$label ' || id WHERE id BETWEEN 41 AND 60;
DELETE FROM $table WHERE id = 61;
INSERT INTO $table (txt, num, ts, doc, big) VALUES ('$label', 3, now(), '{"n": null}', 'z');
});
	$r{changed} = current_lsn($node);
	return \%r;
}

=item not_confirmed_past(NODE, INTEGRATION, CHANGES, TEST_NAME)

Checks that the integration's slot was not confirmed past the start of
CHANGES (from log_changes, or any hash with start and before): the
server decodes again every transaction whose commit is at or after the
confirmed position.

=cut

sub not_confirmed_past
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($node, $integration, $changes, $name) = @_;
	my $after = confirmed_flush($node, $integration);
	return ok(lsn_ge($node, $changes->{start}, $after),
		"$name (confirmed_flush_lsn $changes->{before} -> $after, the changes after $changes->{start})");
}

=item wait_slot_released(NODE, INTEGRATION)

Waits until no WAL sender uses the integration's slot (after a puller
was killed, its WAL sender takes a moment to notice); dies after the
usual poll timeout.

=cut

sub wait_slot_released
{
	my ($node, $integration) = @_;
	$integration //= 'default';
	(my $lit = $integration) =~ s/'/''/g;
	$node->poll_query_until('postgres', qq{
		SELECT NOT EXISTS (SELECT FROM pg_replication_slots
							WHERE slot_name = pgpull.slot_name('$lit') AND active)})
	  or croak "the slot of integration $integration stayed active";
	return;
}

=item same_as_source(NODE, RELATION, INTEGRATION, TEST_NAME, keys => [...], table => DEST, schema => DEST_SCHEMA, columns => [...])

Checks that the destination of a log-based stream equals the source
relation: the destination rows whose _sdc_deleted_at is NULL (every row
while that column does not exist yet) hold exactly the source's rows,
every source column compared as text (columns narrows them), and no key
is there twice.  keys defaults to the stream's key columns; the
destination table to the relation's name in the integration's schema
(schema names another one, for a Singer target).  On a difference, the
diagnostics name the keys missing, extra or different, and show a few
rows of both sides.

=cut

sub same_as_source
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($node, $relation, $integration, $name, %o) = @_;
	$integration //= 'default';
	(my $lit = $integration) =~ s/'/''/g;
	my @keys = @{ $o{keys} // [ split /,/, $node->safe_psql('postgres', qq{
		SELECT array_to_string(key_columns, ',') FROM pgpull.stream
		 WHERE relation = '$relation'::regclass AND integration = '$lit'}) ] };
	croak "same_as_source: no key columns for $relation" unless @keys;
	my @cols = @{ $o{columns} // [ split /\n/, $node->safe_psql('postgres', qq{
		SELECT attname FROM pg_attribute WHERE attrelid = '$relation'::regclass
		   AND attnum > 0 AND NOT attisdropped ORDER BY attnum}) ] };
	(my $table = $relation) =~ s/^.*\.//;
	$table = $o{table} if defined $o{table};
	my $schema = $o{schema} // $node->safe_psql('postgres',
		"SELECT pgpull.destination_schema_name('$lit')");
	my $dest = $node->safe_psql('postgres', "SELECT format('%I.%I', '$schema', '$table')");
	my %dest_cols = map { $_ => 1 } split /\n/, $node->safe_psql('dest', qq{
		SELECT column_name FROM information_schema.columns
		 WHERE table_schema = '$schema' AND table_name = '$table'});
	if (!%dest_cols)
	{
		fail("$name: destination table $dest exists");
		return 0;
	}
	my @missing_cols = grep { !$dest_cols{$_} } @cols;
	if (@missing_cols)
	{
		fail("$name: destination table has the columns @missing_cols");
		return 0;
	}
	my $live = $dest_cols{_sdc_deleted_at} ? 'WHERE _sdc_deleted_at IS NULL' : '';
	my $q = sub { join(', ', map { qq{"$_"} } @_) };
	my $key = 'ROW(' . $q->(@keys) . ')::text';
	my $row = 'md5(ROW(' . $q->(@cols) . ')::text)';
	my %src = split /[|\n]/, $node->safe_psql('postgres',
		"SELECT $key, $row FROM $relation");
	my %dst = split /[|\n]/, $node->safe_psql('dest', "SELECT $key, $row FROM $dest $live");
	my $twice = $node->safe_psql('dest',
		"SELECT count(*) - count(DISTINCT $key) FROM $dest");
	my @missing = sort grep { !exists $dst{$_} } keys %src;
	my @extra = sort grep { !exists $src{$_} } keys %dst;
	my @differ = sort grep { exists $dst{$_} && $dst{$_} ne $src{$_} } keys %src;
	my $n = scalar keys %src;
	if (!@missing && !@extra && !@differ && $twice eq '0')
	{
		pass("$name ($n rows)");
		return 1;
	}
	fail("$name ($n rows)");
	diag(sprintf('source %d rows, destination %d live rows; %d missing, %d extra, %d different, %s keys twice',
			$n, scalar keys %dst, scalar @missing, scalar @extra, scalar @differ, $twice));
	for my $what ([ missing => \@missing ], [ extra => \@extra ], [ different => \@differ ])
	{
		my ($label, $list) = @$what;
		next unless @$list;
		my @few = @$list[ 0 .. ($#$list < 2 ? $#$list : 2) ];
		diag("$label: " . join(' ', @$list[ 0 .. ($#$list < 9 ? $#$list : 9) ]));
		for my $k (@few)
		{
			(my $kl = $k) =~ s/'/''/g;
			my $cut = sub { my $t = shift; length($t) > 300 ? substr($t, 0, 300) . '...' : $t };
			diag("  source $k: " . $cut->($node->safe_psql('postgres',
				"SELECT ROW(" . $q->(@cols) . ")::text FROM $relation WHERE $key = '$kl'")));
			diag("  destination $k: " . $cut->($node->safe_psql('dest',
				"SELECT ROW(" . $q->(@cols) . ")::text || coalesce(' (deleted)' || "
				  . ($dest_cols{_sdc_deleted_at} ? '_sdc_deleted_at' : 'NULL')
				  . ", '') FROM $dest WHERE $key = '$kl'")));
		}
	}
	return 0;
}

=item log_table(NODE, TABLE, ROWS)

Creates TABLE in database "postgres" for the log-based tests, with ROWS
rows: id bigserial PRIMARY KEY, txt text (some with quotes, backslashes,
a newline and non-ASCII), num numeric, ts timestamptz, doc jsonb, and big
text, stored out of line uncompressed (STORAGE EXTERNAL): every tenth row
has 9600 incompressible characters there (300 md5 values), the others a
short text.

=cut

sub log_table
{
	my ($node, $table, $rows) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE $table (id bigserial PRIMARY KEY, txt text, num numeric, ts timestamptz, doc jsonb, big text);
ALTER TABLE $table ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO $table (txt, num, ts, doc, big)
SELECT 'row ' || g || CASE WHEN g % 13 = 0 THEN E' "q" \\\\ é\\n☃' ELSE '' END,
	   g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
	   jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 5)),
	   CASE WHEN g % 10 = 0
			THEN (SELECT string_agg(md5(g || '-' || i), '') FROM generate_series(1, 300) i)
			ELSE 'small ' || g END
  FROM generate_series(1, $rows) g;
});
	return;
}

=item log_workload(NODE, TABLE, maxid => N, rate => TPS)

Starts (start_workload) concurrent changes to a table of log_table, in
many small transactions on rows after id 100 only (tests check rows 1 to
100 themselves) up to maxid: inserts (some with a big value), updates
that leave the big column unchanged, updates of it, deletes, several
changes of one row and an insert deleted again in one transaction,
rolled-back transactions (their rows say "rolled back", num -1), and key
updates (id set to the sequence's next value).

=cut

sub log_workload
{
	my ($node, $t, %o) = @_;
	my $md5s = q{(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300))};
	my $id = '\set id random(101, :maxid)' . "\n";
	my %scripts = (
		insert => [ 4, qq{INSERT INTO $t (txt, num, ts, doc, big)
VALUES ('w insert', round((random() * 1000)::numeric, 3), clock_timestamp(),
		jsonb_build_object('client', :client_id), CASE WHEN random() < 0.1 THEN $md5s ELSE 'w small' END);
} ],
		update => [ 6, $id . qq{UPDATE $t SET num = num + 1, ts = clock_timestamp(),
	doc = doc || jsonb_build_object('u', :id) WHERE id = :id;
} ],
		update_big => [ 1, $id . qq{UPDATE $t SET big = $md5s, txt = 'w big' WHERE id = :id;
} ],
		delete => [ 2, $id . qq{DELETE FROM $t WHERE id = :id;
} ],
		several => [ 2, $id . qq{BEGIN;
UPDATE $t SET txt = 'w several 1' WHERE id = :id;
UPDATE $t SET txt = 'w several 2', num = num * 2 WHERE id = :id;
INSERT INTO $t (txt, num, ts, doc, big) VALUES ('w gone', 1, clock_timestamp(), '{}', 'x');
DELETE FROM $t WHERE id = currval('${t}_id_seq');
COMMIT;
} ],
		rollback => [ 1, $id . qq{BEGIN;
INSERT INTO $t (txt, num, ts, doc, big)
VALUES ('rolled back', -1, clock_timestamp(), '{"rolled": "back"}', 'rolled back');
UPDATE $t SET txt = 'rolled back' WHERE id = :id;
DELETE FROM $t WHERE id = :id + 1;
ROLLBACK;
} ],
		key_update => [ 1, $id . qq{UPDATE $t SET id = nextval('${t}_id_seq') WHERE id = :id;
} ]);
	return start_workload($node, scripts => \%scripts, clients => 2, rate => $o{rate} // 100,
		defines => { maxid => $o{maxid} });
}

my %workloads;	# handle => harness of what runs in the background, for the END block

=item open_transaction(NODE, SQL)

Starts psql as the superuser of database "postgres", runs BEGIN and SQL
there and leaves the transaction open.  Returns a handle with the
session's pid (->{pid}) for end_transaction; a session still open when
the test ends is stopped.

=cut

sub open_transaction
{
	my ($node, $sql) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(300));
	my $t = { harness => $h, stdin => \$in, stderr => \$err };
	$workloads{"$t"} = $h;
	$in .= "BEGIN;\n$sql;\nSELECT 'pid ' || pg_backend_pid();\n";
	$h->pump until $out =~ /^pid (\d+)$/m || $err ne '';
	croak "could not open a transaction: $err" unless $out =~ /^pid (\d+)$/m;
	$t->{pid} = $1;
	return $t;
}

=item end_transaction(HANDLE, END)

Ends a transaction of open_transaction with END (default COMMIT) and
waits for its psql to exit.

=cut

sub end_transaction
{
	my ($t, $end) = @_;
	my $h = delete $workloads{"$t"} or return;
	${ $t->{stdin} } .= ($end // 'COMMIT') . ";\n\\q\n";
	eval { $h->finish; };
	return;
}

=item start_workload(NODE, scripts => {NAME => [WEIGHT, SQL]}, clients => N, rate => TPS, defines => {VAR => VALUE})

Starts pgbench in the background as the superuser of database
"postgres": the custom scripts picked by weight, each run one
transaction script, at about rate transactions per second in all (default
100), clients connections (default 2), until stop_workload.  Returns a
handle for stop_workload; every workload still running when the test
ends is stopped.

=cut


sub start_workload
{
	my ($node, %o) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir('workload');
	my @args;
	for my $script (sort keys %{ $o{scripts} })
	{
		my ($weight, $sql) = @{ $o{scripts}{$script} };
		open my $fh, '>', "$dir/$script.sql" or croak "could not write $dir/$script.sql: $!";
		print $fh $sql;
		close $fh;
		push @args, '-f', "$dir/$script.sql\@$weight";
	}
	push @args, '-D', "$_=$o{defines}{$_}" for sort keys %{ $o{defines} // {} };
	my @cmd = ('pgbench', '-n', '-c', $o{clients} // 2, '-j', 1, '-T', 3600,
		'-R', $o{rate} // 100, @args, $node->connstr('postgres'));
	my ($out, $err) = ('', '');
	note('# Starting workload: ' . join(' ', @cmd));
	my $h = IPC::Run::start(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	my $w = { harness => $h, stdout => \$out, stderr => \$err };
	$workloads{"$w"} = $h;
	return $w;
}

=item stop_workload(HANDLE)

Stops a workload from start_workload (SIGINT to pgbench, which ends its
transactions where they are) and waits for it.  Returns pgbench's
standard error.

=cut

sub stop_workload
{
	my ($w) = @_;
	my $h = delete $workloads{"$w"} or return '';
	$h->signal('INT');
	eval { $h->finish; };
	note("workload stopped; pgbench stderr:\n${ $w->{stderr} }");
	return ${ $w->{stderr} };
}

END
{
	local $?;
	for my $h (values %workloads)
	{
		eval { $h->kill_kill(grace => 5); };
	}
}

=back

=cut

1;
