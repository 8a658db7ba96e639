# Makefile: the one PGXS Makefile of pgpull.
#
# Builds and installs the extension (SQL and PL/pgSQL only: no C module) and
# the pgpull program, and runs the tests.  The targets for people:
#
#   make deps      install what a Debian 12 machine needs (apt-get; as root)
#   make           build the extension script and the pgpull program
#   make install   install both (the program lands in PostgreSQL's bindir,
#                  with a link in /usr/local/bin)
#   make check     deps, build, install, then every test against throwaway
#                  clusters; ends with one line "N passed, N failed"
#   make demo      a throwaway cluster with sample data, end to end
#   make bench     figures: rows/s, MB/s and peak RSS of a 1 M-row sync
#   make installcheck  pg_regress and TAP against a server you run (PGHOST...)

PG_CONFIG  ?= pg_config
PKG_CONFIG ?= pkg-config
PGPULL_VERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(dir $(firstword $(MAKEFILE_LIST)))extension/pgpull.control)

PGFILEDESC  = "pgpull - replicate tables and views to an HTTP destination"
MODULEDIR   = extension
DATA        = extension/pgpull.control extension/pgpull--1.0.sql
PROGRAM     = puller/pgpull
OBJS        = puller/main.o puller/common.o puller/error.o puller/options.o puller/log.o puller/conn.o puller/state.o puller/extract.o puller/batch.o puller/http.o puller/sync.o puller/singer.o puller/target.o puller/commit.o puller/tunnel.o puller/sshproc.o
PG_CPPFLAGS = -I$(libpq_srcdir) -DPGPULL_VERSION=\"$(PGPULL_VERSION)\" $(shell $(PKG_CONFIG) --cflags libcurl jansson 2>/dev/null)
PG_LIBS     = $(libpq) $(shell $(PKG_CONFIG) --libs libcurl jansson 2>/dev/null)
REGRESS     = setup destination catalog typemap json_schema grants audit standby run singer cleanup
REGRESS_OPTS = --inputdir=$(srcdir)
TAP_TESTS   = 1
PROVE_TESTS = tests/t/*.pl
PG_PROVE_FLAGS += -I $(srcdir)/tests
# No C module, so no LLVM bitcode; and a fresh Debian has no clang.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# No PostgreSQL development files yet: "deps" installs them, and "check" and
# "demo" start again once it has.
check demo bench: deps
	$(MAKE) $@
all install installcheck:
	$(error pg_config not found: run "make deps" first, or set PG_CONFIG)
else
include $(PGXS)

ifeq ($(shell test $(VERSION_NUM) -ge 150000 && echo yes),)
$(error pgpull needs PostgreSQL 15 or later, pg_config reports $(VERSION))
endif

# PGXS links a PROGRAM with the server's own LIBS (-lpgcommon -lpgport ...),
# which a client does not need and Debian does not ship for linking.
LIBS :=

# PGXS installs the program as $(bindir)/pgpull; a link puts it on the PATH.
install: install-link
install-link:
	@if [ -w /usr/local/bin ]; then ln -sf '$(bindir)/pgpull' /usr/local/bin/pgpull; fi
uninstall: uninstall-puller
uninstall-puller:
	rm -f '$(DESTDIR)$(bindir)/pgpull$(X)'
	@if [ -L /usr/local/bin/pgpull ]; then rm -f /usr/local/bin/pgpull; fi

# PGXS defines "check" only to say it is unsupported for extensions; ours is
# the README's test command, so it replaces that recipe (make warns once).
check: deps
	$(MAKE) all
	$(MAKE) install
	@$(srcdir)/tests/run_check.sh '$(abspath $(srcdir))' '$(REGRESS)'

demo: deps
	$(MAKE) all
	$(MAKE) install
	@$(srcdir)/tests/demo.sh '$(abspath $(srcdir))'

# Figures, not a test: make bench [BENCH_ROWS=N]
BENCH_ROWS ?= 1000000
bench: deps
	$(MAKE) all
	$(MAKE) install
	@$(srcdir)/tests/bench.sh '$(abspath $(srcdir))' $(BENCH_ROWS)

endif

deps:
	@$(dir $(firstword $(MAKEFILE_LIST)))tests/deps.sh

.PHONY: deps demo bench check install-link uninstall-puller
