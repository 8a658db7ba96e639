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
package PgPullTest;

use strict;
use warnings FATAL => 'all';

use Carp;
use IPC::Run;
use PgPullReceiver;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

=pod

=head1 FUNCTIONS

=over

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
receiver (target and, for TLS, --cacert), with args appended.

=cut

sub sync_command
{
	my ($node, $rcv, %o) = @_;
	my @cmd = (
		'pgpull', 'sync',
		'--source' => $o{source} // $node->connstr('postgres'),
		'--target' => $o{target} // $rcv->url);
	push @cmd, '--cacert' => $rcv->cacert
	  if $rcv->cacert && !$o{no_cacert};
	push @cmd, @{ $o{args} } if $o{args};
	@cmd = valgrind(@cmd) if $o{valgrind};
	return \@cmd;
}

=item valgrind(COMMAND...)

COMMAND (a list) to run under valgrind: quiet unless it finds something;
a memory error or a leak (definite, indirect or possible) makes it exit 99
and print lines starting "==PID==".  make deps installs valgrind: when it is
missing, running this command dies, and so does the test.

=cut

sub valgrind
{
	return ('valgrind', '--quiet', '--leak-check=full',
		'--show-leak-kinds=definite,indirect,possible',
		'--errors-for-leak-kinds=definite,indirect,possible',
		'--error-exitcode=99', @_);
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

Runs "pgpull" with the arguments, stdin from IN (default: nothing), stdout
to OUT (default: kept), as IPC::Run takes them.  Returns { rc, stdout,
stderr }.  Its stderr goes to the test log.

=cut

sub pgpull
{
	my (%o) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('pgpull', @{ $o{args} });
	@cmd = valgrind(@cmd) if $o{valgrind};
	note('# Running: ' . join(' ', @cmd));
	IPC::Run::run(\@cmd, '<', $o{stdin} // \undef, '>', $o{stdout} // \$out,
		'2>', \$err, IPC::Run::timeout(600));
	my $rc = exit_status($?);
	note("pgpull exit status $rc; stderr:\n$err");
	return { rc => $rc, stdout => $out, stderr => $err };
}

=item start_sync(NODE, RECEIVER, token => TOKEN, args => [...])

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
