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

=item source_node(NAME, conf => TEXT, hba => TEXT, streaming => 0|1)

A started cluster with the extension in database "postgres" and an empty
database "dest" for the receiver.  conf is appended to postgresql.conf;
hba, when given, replaces pg_hba.conf; streaming makes it a primary that
standbys can stream from.

=cut

sub source_node
{
	my ($name, %o) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(
		allows_streaming => $o{streaming} // 0,
		extra => [ '--encoding=UTF8', '--locale=C' ]);
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

=back

=cut

1;
