# tests/t/070_packaging.pl: "make deb", the man page, and make install.
#
# Builds the Debian packages the way "make deb" does (dpkg-buildpackage on
# debian/, pg_buildext building out of the tree), with lintian reporting no
# error; then compares what each package holds with what "make install
# DESTDIR=..." installs, path by path and byte by byte, where the package
# puts a file elsewhere on purpose:
#
#   make install                                package
#   $(bindir)/pgpull                            pgpull: /usr/bin/pgpull
#   $(mandir)/man1/pgpull.1                     pgpull: /usr/share/man/man1/pgpull.1.gz
#   $(sharedir)/extension/pgpull*               postgresql-MAJOR-pgpull: the same path
#   /usr/local/bin/pgpull, .../man1/pgpull.1    none: links to the two above,
#                                               which the package has on PATH
#   none                                        both: /usr/share/doc/PACKAGE/ (copyright,
#                                               changelog.Debian.gz, README.md.gz)
#
# The program in the package is built with Debian's flags and stripped, so
# it is run rather than compared.  Also: the man page has no groff warning,
# renders with man, and names every command and long option of --help.
use strict;
use warnings FATAL => 'all';
use IPC::Run;
use File::Find;
use File::Path qw(make_path);
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();

# run a command; returns (exit status, stdout and stderr together)
sub run_all
{
	my ($cmd, %env) = @_;
	my $out = '';
	local %ENV = (%ENV, %env);
	IPC::Run::run($cmd, '<', \undef, '>&', \$out, IPC::Run::timeout(600));
	return ($? >> 8, $out);
}

sub pg_config
{
	my ($what) = @_;
	my $v = `pg_config --$what`;
	chomp $v;
	return $v;
}

my $bindir   = pg_config('bindir');
my $sharedir = pg_config('sharedir');
my $mandir   = pg_config('mandir');
my ($major)  = pg_config('version') =~ /(\d+)/;
my ($version) = slurp_file('extension/pgpull.control') =~ /^default_version\s*=\s*'([^']+)'/m;

# the man page
my ($rc, $out) = run_all([ 'groff', '-man', '-Tutf8', '-ww', '-z', 'puller/pgpull.1' ]);
is("$rc $out", '0 ', 'groff -man -ww: no warning on puller/pgpull.1');
($rc, $out) = run_all([ 'man', '-l', 'puller/pgpull.1' ], MANWIDTH => 80, MANPAGER => 'cat', PAGER => 'cat');
ok($rc == 0 && $out =~ /^NAME\n\s+pgpull\s+-\s+replicate/m && $out !~ /troff:|warning:/,
	'man -l renders puller/pgpull.1') or diag($out);
my $page = slurp_file('puller/pgpull.1');
(undef, my $help) = run_all([ 'puller/pgpull', '--help' ]);
my %long = map { $_ => 1 } $help =~ /(--[a-z][a-z-]*)/g;
my @missing = grep { my $o = $_ =~ s/-/\\-/gr; index($page, $o) < 0 } sort keys %long;
is("@missing", '', 'the man page names every long option of --help');
my ($commands) = $help =~ /^Commands:\n(.*?)\n\n/ms;
my @commands = $commands =~ /^  ([a-z][a-z-]*)/mg;
ok(scalar @commands >= 2, 'pgpull --help lists its commands');
@missing = grep { my $c = $_ =~ s/-/\\-/gr; $page !~ /^\.TP\n\.B \Q$c\E$/m } @commands;
is("@missing", '', 'the man page has a paragraph on every command of --help');

# debian/control is generated: it must be what pg_buildext makes of
# debian/control.in and debian/pgversions on this system
($rc, $out) = run_all([ 'pg_buildext', 'checkcontrol' ], PG_UPDATECONTROL => 'no');
is($rc, 0, 'debian/control is up to date (pg_buildext checkcontrol)') or diag($out);

# make deb: the packages and lintian
my $debdir = "$tmp/deb";
($rc, $out) = run_all([ 'make', '--no-print-directory', 'deb', "DEB_DIR=$debdir" ]);
is($rc, 0, 'make deb succeeds') or diag($out);
ok(-f "$debdir/lintian.log", 'make deb ran lintian');
my @errors = grep { /^E: / } split /\n/, $out . (-f "$debdir/lintian.log" ? slurp_file("$debdir/lintian.log") : "");
is(scalar @errors, 0, 'lintian reports no error') or diag(join "\n", @errors);
like(slurp_file("$debdir/build.log"), qr/build-$major/,
	'pg_buildext built out of the tree, in build-MAJOR');
my $ext_deb = "$debdir/postgresql-${major}-pgpull_${version}-1_all.deb";
my ($prog_deb) = glob("$debdir/pgpull_${version}-1_*.deb");
ok(-f $ext_deb, "postgresql-$major-pgpull is built");
ok(defined $prog_deb && -f $prog_deb, 'pgpull is built');

# make install DESTDIR=...: every file and link, relative to DESTDIR
my $destdir = "$tmp/destdir";
($rc, $out) = run_all([ 'make', '-s', '--no-print-directory', 'install', "DESTDIR=$destdir" ]);
is($rc, 0, 'make install DESTDIR=... succeeds') or diag($out);
my %installed;
find({ no_chdir => 1, wanted => sub {
	return if -d $_ && !-l $_;
	my $rel = substr($_, length $destdir);
	$installed{$rel} = -l $_ ? '-> ' . readlink($_) : 'file';
} }, $destdir);
is($installed{'/usr/local/bin/pgpull'}, "-> $bindir/pgpull",
	'the /usr/local/bin link is made under DESTDIR');
is($installed{'/usr/local/share/man/man1/pgpull.1'}, "-> $mandir/man1/pgpull.1",
	'so is the man page\'s');

# what each package should hold, from the make install list
my %want;
for my $path (sort keys %installed)
{
	if ($path eq "$bindir/pgpull")
	{
		$want{pgpull}{'/usr/bin/pgpull'} = [ 'file' ];
	}
	elsif ($path eq "$mandir/man1/pgpull.1")
	{
		$want{pgpull}{'/usr/share/man/man1/pgpull.1.gz'} = [ 'file' ];
	}
	elsif ($path =~ m{^\Q$sharedir\E/extension/pgpull[^/]*$})
	{
		$want{ext}{$path} = [ 'file', "$destdir$path" ];
	}
	elsif ($path =~ m{^/usr/local/})
	{
		# the links, not packaged
	}
	else
	{
		fail("make install puts $path where no package has it");
	}
}

# what a package holds: its files and links, less its directories and
# Debian's /usr/share/doc/PACKAGE/
sub deb_contents
{
	my ($deb) = @_;
	my %have;
	my ($rc, $list) = run_all([ 'dpkg-deb', '-c', $deb ]);
	die "dpkg-deb -c $deb: $list" if $rc;
	for (split /\n/, $list)
	{
		my ($mode, $path) = /^(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\.(\/\S*)/ or next;
		next if $mode =~ /^d/ || $path =~ m{^/usr/share/doc/};
		$have{$path} = 'file';
	}
	return \%have;
}

my %debs = (ext => $ext_deb, pgpull => $prog_deb);
for my $pkg (sort keys %debs)
{
	my $have = deb_contents($debs{$pkg});
	is_deeply([ sort keys %$have ], [ sort keys %{ $want{$pkg} } ],
		"$pkg package holds what make install installs (mapped)")
	  or diag(explain($have));
	my $x = "$tmp/x-$pkg";
	make_path($x);
	my ($xrc, $xout) = run_all([ 'dpkg-deb', '-x', $debs{$pkg}, $x ]);
	die "dpkg-deb -x: $xout" if $xrc;
	for my $path (sort keys %{ $want{$pkg} })
	{
		my $src = $want{$pkg}{$path}[1] or next;
		ok(-f "$x$path" && slurp_file("$x$path") eq slurp_file($src),
			"$path in the package equals make install's");
	}
}

# the packaged program runs, and its man page is the tree's
($rc, $out) = run_all([ "$tmp/x-pgpull/usr/bin/pgpull", '--version' ]);
is("$rc $out", "0 pgpull $version\n", 'the packaged pgpull runs');
($rc, $out) = run_all([ 'sh', '-c', "gzip -dc $tmp/x-pgpull/usr/share/man/man1/pgpull.1.gz" ]);
ok($rc == 0 && $out eq $page, 'the packaged man page is puller/pgpull.1');

# the packages' build leaves none of its products in the tree
ok(!-e "build-$major" && !-e "debian/postgresql-$major-pgpull", 'make deb builds in a copy of the tree');

# PGPULL_LINK_DIR= (as debian/rules sets it) makes no link
my $nolink = "$tmp/nolink";
($rc, $out) = run_all([ 'make', '-s', '--no-print-directory', 'install', "DESTDIR=$nolink", 'PGPULL_LINK_DIR=' ]);
ok($rc == 0 && -f "$nolink$bindir/pgpull" && !-e "$nolink/usr/local", 'PGPULL_LINK_DIR= makes no link')
  or diag($out);

done_testing();
