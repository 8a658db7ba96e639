# tests/PgPullReceiver.pm: start, drive and stop the reference Import API
# receiver (tests/receiver/receiver.py) from a TAP test.
#
#   my $rcv = PgPullReceiver->start(
#       dsn    => $node->connstr('postgres'),          # destination database
#       tokens => { 'tok-a' => 'Stitch PostgreSQL' },  # token => integration
#       tls    => 1,                                   # optional: HTTPS, test CA
#       max_bytes => 20000, max_records => 50);        # optional limits
#   $rcv->url;        # "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"
#   $rcv->cacert;     # with tls: the CA certificate to trust
#   $rcv->set_faults([ { kind => 'status', code => 503 } ]);
#   my $log = $rcv->requests;   # the batch requests seen, decoded JSON
#   $rcv->stop;       # SIGTERM, wait; returns the exit status (0)
#
# The receiver listens on loopback only; its control API is always on a
# second, plain-HTTP loopback port, so HTTP::Tiny can drive it without TLS
# support.  A receiver not stopped explicitly is stopped when its object is
# destroyed or the test ends, and it stops by itself if the test process dies.
package PgPullReceiver;

use strict;
use warnings FATAL => 'all';

use Carp;
use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

my $receiver_dir =
  File::Spec->rel2abs(File::Spec->catdir(dirname(__FILE__), 'receiver'));
my $json = JSON::PP->new->utf8->canonical;
my %running;    # pid => 1, for the END block
my $serial = 0;

=pod

=head1 METHODS

=over

=item PgPullReceiver->start(dsn => CONNINFO, tokens => {TOKEN => NAME}, tls => 0|1, max_bytes => N, max_records => N, name => LABEL, python => PATH)

Starts a receiver loading into the database CONNINFO and waits until it
listens.  Its output goes to tmp_check/log/receiver_LABEL.log.

=back

=cut

sub start
{
	my ($class, %args) = @_;
	croak 'PgPullReceiver->start: dsn is required' unless defined $args{dsn};
	my $tokens = $args{tokens} // {};
	my $name = $args{name} // ++$serial;
	my $python = $args{python} // '/usr/bin/python3';

	my $dir = PostgreSQL::Test::Utils::tempdir("receiver_$name");
	my $tokens_file = "$dir/tokens.json";
	open my $fh, '>', $tokens_file or croak "could not write $tokens_file: $!";
	chmod 0600, $tokens_file;
	print $fh $json->encode($tokens);
	close $fh;

	my @cmd = (
		$python, "$receiver_dir/receiver.py",
		'--listen' => '127.0.0.1:0',
		'--dsn' => $args{dsn},
		'--tokens' => $tokens_file,
		'--port-file' => "$dir/port",
		'--control-listen' => '127.0.0.1:0',
		'--control-port-file' => "$dir/control_port",
		'--exit-with-parent');
	my $cacert;
	if ($args{tls})
	{
		system("$receiver_dir/make_certs.sh", "$dir/certs") == 0
		  or croak "make_certs.sh failed with status $?";
		$cacert = "$dir/certs/ca.crt";
		push @cmd,
		  '--tls-cert' => "$dir/certs/server.crt",
		  '--tls-key' => "$dir/certs/server.key";
	}
	push @cmd, '--max-bytes' => $args{max_bytes} if defined $args{max_bytes};
	push @cmd, '--max-records' => $args{max_records}
	  if defined $args{max_records};

	my $log = "$PostgreSQL::Test::Utils::log_path/receiver_$name.log";
	my $pid = fork;
	croak "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		# the test's STDOUT/STDERR are tied to its log: untie before reopening
		untie *STDOUT;
		untie *STDERR;
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or POSIX::_exit(126);
		open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
		exec { $cmd[0] } @cmd or POSIX::_exit(127);
	}
	$running{$pid} = 1;

	my $self = bless {
		pid => $pid,
		dir => $dir,
		log => $log,
		cacert => $cacert,
		scheme => $args{tls} ? 'https' : 'http',
		http => HTTP::Tiny->new(
			timeout => 30,
			keep_alive => 0,
			proxy => undef,
			http_proxy => undef,
			https_proxy => undef),
	}, $class;

	# wait for the port files (written, control port first, once listening)
	my $deadline = time + 60;
	while (!-s "$dir/port")
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			delete $running{$pid};
			$self->{pid} = undef;
			croak "receiver exited with status $? before listening:\n"
			  . slurp_file($log);
		}
		if (time > $deadline)
		{
			$self->stop;
			croak "receiver did not listen within 60 s:\n" . slurp_file($log);
		}
		usleep(20_000);
	}
	($self->{port}) = slurp_file("$dir/port") =~ /(\d+)/;
	($self->{control_port}) = slurp_file("$dir/control_port") =~ /(\d+)/;
	_note("receiver $name (pid $pid) on $self->{scheme}://127.0.0.1:$self->{port},"
	  . " control port $self->{control_port}, log $log");
	return $self;
}

# the path of receiver.py (for tests that run it by hand)
sub script { return "$receiver_dir/receiver.py"; }

# accessors
sub url { my $self = shift; return "$self->{scheme}://127.0.0.1:$self->{port}"; }
sub port { return $_[0]->{port}; }
sub cacert { return $_[0]->{cacert}; }
sub pid { return $_[0]->{pid}; }
sub log_file { return $_[0]->{log}; }
sub control_url { return "http://127.0.0.1:$_[0]->{control_port}"; }

sub _note
{
	Test::More::note(@_) if Test::More->can('note');
	return;
}

# One call to the control API; returns the decoded JSON reply.
sub _control
{
	my ($self, $method, $path, $body) = @_;
	croak 'receiver is not running' unless $self->{pid};
	my %opt;
	if (defined $body)
	{
		$opt{content} = $json->encode($body);
		$opt{headers} = { 'Content-Type' => 'application/json' };
	}
	my $res =
	  $self->{http}->request($method, $self->control_url . $path, \%opt);
	croak "receiver control $method $path: $res->{status} $res->{reason}: "
	  . ($res->{content} // '')
	  unless $res->{success};
	return $json->decode($res->{content});
}

# Faults for the next batch requests, in order (replaces any queued ones).
sub set_faults
{
	my ($self, $faults) = @_;
	return $self->_control('POST', '/__control/faults', $faults);
}

sub faults { return $_[0]->_control('GET', '/__control/faults'); }
sub clear_faults { return $_[0]->_control('DELETE', '/__control/faults'); }

# The log of batch requests seen: an array ref of hashes.
sub requests { return $_[0]->_control('GET', '/__control/requests'); }
sub clear_requests { return $_[0]->_control('DELETE', '/__control/requests'); }

# SIGTERM, wait (SIGKILL after 20 s); returns the exit status.
sub stop
{
	my $self = shift;
	my $pid = $self->{pid};
	return $self->{exit_status} unless $pid;
	my $status = _reap($pid);
	$self->{pid} = undef;
	$self->{exit_status} =
	    $status == -1 ? -1
	  : $status & 127 ? 128 + ($status & 127)
	  :                 $status >> 8;
	return $self->{exit_status};
}

# Stop one receiver process by its pid; returns its wait status (-1: gone).
sub _reap
{
	my $pid = shift;
	kill 'TERM', $pid;
	my $deadline = time + 20;
	my $status;
	while (1)
	{
		my $got = waitpid($pid, WNOHANG);
		if ($got == $pid || $got == -1)
		{
			$status = $got == $pid ? $? : -1;
			last;
		}
		if (time > $deadline)
		{
			kill 'KILL', $pid;
			waitpid($pid, 0);
			$status = $?;
			last;
		}
		usleep(20_000);
	}
	delete $running{$pid};
	return $status;
}

sub DESTROY
{
	my $self = shift;
	local ($?, $!, $@);
	$self->stop if $self->{pid};
	return;
}

END
{
	local $?;
	_reap($_) for keys %running;
}

1;
