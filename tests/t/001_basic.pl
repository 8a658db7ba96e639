# tests/t/001_basic.pl: the pgpull program answers --help, --version and
# rejects bad options the way PostgreSQL's own programs do.
use strict;
use warnings FATAL => 'all';
use PostgreSQL::Test::Utils;
use Test::More;

program_help_ok('pgpull');
program_version_ok('pgpull');
program_options_handling_ok('pgpull');

done_testing();
