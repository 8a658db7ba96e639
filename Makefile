# Makefile: the one PGXS Makefile of pgpull.
#
# Builds and installs the extension (SQL and PL/pgSQL only: no C module) and
# the pgpull program, and runs the tests.  The targets for people:
#
#   make deps      install what building and running need on Debian 12
#                  (apt-get; as root)
#   make deps-test also the test, fuzz and packaging tools (make check,
#                  demo, bench and fuzz run it)
#   make           build the extension script and the pgpull program
#   make install   install both and the pgpull(1) man page (the program
#                  lands in PostgreSQL's bindir, with links in /usr/local)
#   make deb       Debian packages postgresql-15-pgpull and pgpull, built
#                  as Debian builds extensions (debian/, pg_buildext), into
#                  build/deb/ (DEB_DIR=... elsewhere)
#   make check     deps-test, build, install, then every test against
#                  throwaway clusters and the fuzz harnesses over their
#                  corpora; ends with one line "N passed, N failed, N skipped"
#   make fuzz      each libFuzzer harness of puller/fuzz/ for FUZZ_SECONDS
#                  (default 60); fails on a crash or a sanitizer report
#   make demo      a throwaway cluster with sample data, end to end
#   make bench     one table of figures (README, "Performance"): pgpull's
#                  rates against the server's COPY, peak RSS, no-op runs
#   make installcheck  pg_regress and TAP against a server you run (PGHOST...)
#
# The extension's script of the current version, extension/pgpull--X.Y.sql,
# is built from extension/src/NN_concern.sql (in name order); the released
# scripts and extension/updates/ are installed as they are.
#
# The build works in the source tree and out of it, as pg_buildext runs it:
# make -f SRC/Makefile VPATH=SRC in another directory, which gets the
# objects, the program and the built script.

PG_CONFIG  ?= pg_config
PKG_CONFIG ?= pkg-config
pgpull_src := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
PGPULL_VERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(pgpull_src)/extension/pgpull.control)

PGFILEDESC  = "pgpull - replicate tables and views to an HTTP destination"
MODULEDIR   = extension
# released scripts, kept byte for byte, and the hand-written upgrades
DATA        = extension/pgpull.control extension/pgpull--1.0.sql \
              $(patsubst $(pgpull_src)/%,%,$(wildcard $(pgpull_src)/extension/updates/pgpull--*--*.sql))
DATA_built  = extension/pgpull--$(PGPULL_VERSION).sql
EXTENSION_SRC = $(sort $(wildcard $(pgpull_src)/extension/src/*.sql))
PROGRAM     = puller/pgpull
OBJS        = puller/main.o puller/common.o puller/error.o puller/options.o puller/log.o puller/conn.o puller/state.o puller/extract.o puller/spool.o puller/sender.o puller/batch.o puller/http.o puller/sync.o puller/progress.o puller/probe.o puller/jobs.o puller/source.o puller/sink_import.o puller/sink_singer.o puller/singer.o puller/target.o puller/commit.o puller/databases.o puller/sync_all.o puller/discover.o puller/tunnel.o puller/sshproc.o puller/status.o puller/metrics.o puller/logical.o puller/pgoutput.o
# -Wextra without -Wunused-parameter: callbacks (libcurl, libpq, sinks) take
# parameters they do not all use.
PG_CFLAGS   = -pthread -Wextra -Wno-unused-parameter -Werror
PG_CPPFLAGS = -I$(libpq_srcdir) -DPGPULL_VERSION=\"$(PGPULL_VERSION)\" $(shell $(PKG_CONFIG) --cflags libcurl jansson 2>/dev/null)
PG_LIBS     = -pthread $(libpq) $(shell $(PKG_CONFIG) --libs libcurl jansson 2>/dev/null)
REGRESS     = setup destination catalog typemap json_schema grants audit standby run plan singer discover status housekeeping logical_admin logical cleanup
REGRESS_OPTS = --inputdir=$(srcdir)
TAP_TESTS   = 1
PROVE_TESTS = tests/t/*.pl
PG_PROVE_FLAGS += -I $(srcdir)/tests
# No C module, so no LLVM bitcode; and a fresh Debian has no clang.
override with_llvm = no
EXTRA_CLEAN = puller/fuzz/build tests/bench_sink build/deb

# The libFuzzer harnesses of the parsers of untrusted input, puller/fuzz/
# fuzz_NAME.c, built with clang and its sanitizers in a directory of their
# own (the program's PGXS build is left alone), each with the objects it
# needs.  tests/fuzz/corpus/NAME holds each one's seeds.
FUZZ_HARNESSES = copy response retry_after echo options pgoutput
FUZZ_DIR     = puller/fuzz/build
FUZZ_SECONDS ?= 60

# "make check", "make demo", "make bench", "make fuzz", "make deb" and the
# deps goals are the README's commands.  PGXS defines a "check" of its own
# (to say it is unsupported for extensions), so these targets are made
# without PGXS: they run the build and install in a sub-make, which
# includes it.
DRIVER_GOALS := check demo bench deps deps-test deps-deb fuzz deb
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(DRIVER_GOALS),$(MAKECMDGOALS)),)
DRIVER_ONLY := yes
endif
endif

ifeq ($(DRIVER_ONLY),yes)

check: deps-test
	@$(MAKE) --no-print-directory -s -f '$(pgpull_src)/Makefile' all install fuzz-build
	@'$(pgpull_src)/tests/run_check.sh' '$(pgpull_src)' '$(REGRESS)'

# Each harness for FUZZ_SECONDS, over its seeds and what it found before
# (kept in $(FUZZ_DIR)/corpus): make fuzz [FUZZ_SECONDS=N]
fuzz: deps-test
	@$(MAKE) --no-print-directory -s -f '$(pgpull_src)/Makefile' fuzz-build
	@'$(pgpull_src)/puller/fuzz/run.sh' '$(FUZZ_DIR)' '$(pgpull_src)/tests/fuzz/corpus' \
		'$(FUZZ_DIR)' '$(FUZZ_SECONDS)' $(FUZZ_HARNESSES)

demo: deps-test
	@$(MAKE) --no-print-directory -s -f '$(pgpull_src)/Makefile' all install
	@'$(pgpull_src)/tests/demo.sh' '$(pgpull_src)'

# Figures, not a test: make bench [BENCH_ROWS=N] [BENCH_TABLES=N] [BENCH_BIG=1]
BENCH_ROWS ?= 500000
BENCH_TABLES ?= 1000
BENCH_BIG ?=
bench: deps-test
	@$(MAKE) --no-print-directory -s -f '$(pgpull_src)/Makefile' all install bench-sink
	@'$(pgpull_src)/tests/bench.sh' '$(pgpull_src)' '$(BENCH_ROWS)' '$(BENCH_TABLES)' '$(BENCH_BIG)'

# The packages, built by dpkg-buildpackage from debian/ in a copy of the
# tree under $(DEB_DIR)/src (so that its clean step leaves this tree's
# build alone); the .deb files land in $(DEB_DIR).
DEB_DIR ?= $(pgpull_src)/build/deb
deb: deps-deb
	@'$(pgpull_src)/debian/make-deb.sh' '$(pgpull_src)' '$(DEB_DIR)'

else

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
$(error pg_config not found: run "make deps" first, or set PG_CONFIG)
endif
include $(PGXS)

ifeq ($(shell test $(VERSION_NUM) -ge 150000 && echo yes),)
$(error pgpull needs PostgreSQL 15 or later, pg_config reports $(VERSION))
endif

# PGXS links a PROGRAM with the server's own LIBS (-lpgcommon -lpgport ...),
# which a client does not need and Debian does not ship for linking.
LIBS :=

# The program refuses an extension of another version than its own, which
# it takes from the control file.
$(OBJS): $(pgpull_src)/extension/pgpull.control
# Every object is rebuilt when a header changes: a struct that grows in
# one object and not in another breaks at run time.
$(OBJS): $(wildcard $(pgpull_src)/puller/*.h)

# The current version's script: the sources in load order, under a line
# saying it is generated.  The \echo guard must start a line of its own.
$(DATA_built): $(EXTENSION_SRC) $(pgpull_src)/extension/pgpull.control $(pgpull_src)/Makefile
	@mkdir -p $(dir $@)
	@{ printf '%s\n' '/* extension/pgpull--$(PGPULL_VERSION).sql: generated by make from the files of extension/src, in name order; edit those, not this file */' '' \
		'-- complain if script is sourced in psql, rather than via CREATE EXTENSION' \
		'\echo Use "CREATE EXTENSION pgpull" to load this file. \quit'; \
	  for f in $(EXTENSION_SRC); do printf '\n'; cat "$$f"; done; } > $@.tmp
	@mv $@.tmp $@

# Out of the tree, the objects go to puller/ here, which the compiler does
# not create.  (An absolute name: make does not look for it along VPATH.)
$(OBJS): | $(CURDIR)/puller
$(CURDIR)/puller:
	$(MKDIR_P) $@

# A build out of the tree finds what an earlier build left in the source
# tree along VPATH, takes it as up to date, and then has nothing here to
# install: refuse it until "make clean" there.
ifneq ($(realpath $(CURDIR)),$(realpath $(pgpull_src)))
ifneq ($(wildcard $(pgpull_src)/$(PROGRAM) $(pgpull_src)/$(DATA_built) $(pgpull_src)/puller/*.o),)
$(error the source tree $(pgpull_src) holds build products: run "make clean" there before building out of the tree)
endif
endif

# PGXS installs the program as $(bindir)/pgpull; the man page goes to
# PostgreSQL's mandir, and links in PGPULL_LINK_DIR (default /usr/local)
# put both on the PATH and MANPATH.  Under DESTDIR the links are made too;
# PGPULL_LINK_DIR= (empty, as debian/rules sets it) makes none, and none is
# made where the program is already there.
PGPULL_LINK_DIR ?= /usr/local
install: install-man install-link
install-man: installdirs
	$(MKDIR_P) '$(DESTDIR)$(mandir)/man1'
	$(INSTALL_DATA) '$(pgpull_src)/puller/pgpull.1' '$(DESTDIR)$(mandir)/man1/pgpull.1'
install-link: install-man
ifneq ($(PGPULL_LINK_DIR),)
ifneq ($(abspath $(bindir)),$(abspath $(PGPULL_LINK_DIR)/bin))
	@if [ -n '$(DESTDIR)' ] || [ -w '$(PGPULL_LINK_DIR)/bin' ]; then \
		$(MKDIR_P) '$(DESTDIR)$(PGPULL_LINK_DIR)/bin' '$(DESTDIR)$(PGPULL_LINK_DIR)/share/man/man1' && \
		ln -sf '$(bindir)/pgpull$(X)' '$(DESTDIR)$(PGPULL_LINK_DIR)/bin/pgpull$(X)' && \
		ln -sf '$(mandir)/man1/pgpull.1' '$(DESTDIR)$(PGPULL_LINK_DIR)/share/man/man1/pgpull.1'; \
	fi
endif
endif
uninstall: uninstall-puller
uninstall-puller:
	rm -f '$(DESTDIR)$(bindir)/pgpull$(X)' '$(DESTDIR)$(mandir)/man1/pgpull.1'
ifneq ($(PGPULL_LINK_DIR),)
	@for l in '$(DESTDIR)$(PGPULL_LINK_DIR)/bin/pgpull$(X)' '$(DESTDIR)$(PGPULL_LINK_DIR)/share/man/man1/pgpull.1'; do \
		if [ -L "$$l" ]; then rm -f "$$l"; fi; \
	done
endif

# The fuzz harnesses.  The objects of the program are compiled again, with
# coverage for libFuzzer (fuzzer-no-link) and AddressSanitizer and
# UndefinedBehaviorSanitizer, whose first report ends the run; the
# harness's link adds libFuzzer's main.  Each lists the objects it needs.
FUZZ_CC     ?= clang
FUZZ_CFLAGS  = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
               -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes \
               -Wdeclaration-after-statement -Werror
FUZZ_CPPFLAGS = -I$(pgpull_src)/puller $(PG_CPPFLAGS)
fuzz_copy_OBJS        = extract common error
fuzz_response_OBJS    = http batch common conn error log pgoutput sshproc state tunnel
fuzz_retry_after_OBJS = $(fuzz_response_OBJS)
fuzz_echo_OBJS        = target commit common conn databases error log pgoutput sshproc state tunnel
fuzz_options_OBJS     = options common error log sshproc state tunnel
fuzz_pgoutput_OBJS    = pgoutput common error
FUZZ_PIECES = $(FUZZ_DIR)/pieces.o

fuzz-build: $(FUZZ_HARNESSES:%=$(FUZZ_DIR)/fuzz_%)

$(FUZZ_DIR)/%.o: $(pgpull_src)/puller/%.c $(pgpull_src)/extension/pgpull.control
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/%.o: $(pgpull_src)/puller/fuzz/%.c
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) -MMD -MP -c -o $@ $<

.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/fuzz_%.o $$(addprefix $(FUZZ_DIR)/,$$(addsuffix .o,$$(fuzz_$$*_OBJS))) $(FUZZ_PIECES)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PG_LIBS)

-include $(wildcard $(FUZZ_DIR)/*.d)

# The unit test of the pgoutput decoder, puller/fuzz/test_pgoutput.c, which
# tests/t/007_pgoutput.pl builds (make pgoutput-test) and runs under
# valgrind: so built with the program's compiler and flags, no sanitizers.
PGO_TEST_SRCS = $(addprefix $(pgpull_src)/puller/,fuzz/test_pgoutput.c pgoutput.c common.c error.c)
pgoutput-test: $(FUZZ_DIR)/test_pgoutput
$(FUZZ_DIR)/test_pgoutput: $(PGO_TEST_SRCS) $(wildcard $(pgpull_src)/puller/*.h)
	@mkdir -p $(FUZZ_DIR)
	$(CC) $(CFLAGS) $(PG_CFLAGS) -I$(pgpull_src)/puller $(PG_CPPFLAGS) $(CPPFLAGS) -o $@ $(PGO_TEST_SRCS) $(PG_LIBS)

endif

# What to install with apt-get: deps for building and running, deps-test
# for the tests, the fuzz harnesses and the packages too, deps-deb for
# building the packages.
deps:
	@'$(pgpull_src)/tests/deps.sh' deps build
deps-test:
	@'$(pgpull_src)/tests/deps.sh' deps-test build test deb
deps-deb:
	@'$(pgpull_src)/tests/deps.sh' deb build deb

# The bench's Import API endpoint, which discards what it gets; in C, so
# that it is not what the bench measures.  Only "make bench" builds it.
bench-sink: $(pgpull_src)/tests/bench_sink
$(pgpull_src)/tests/bench_sink: $(pgpull_src)/tests/bench_sink.c
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -o $@ $<

.PHONY: deps deps-test deps-deb deb demo bench bench-sink check fuzz fuzz-build pgoutput-test install-link install-man uninstall-puller
