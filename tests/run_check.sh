#!/bin/bash
# tests/run_check.sh: the body of "make check".
#
# Usage: tests/run_check.sh SRCDIR 'REGRESS TESTS...'
#
# For development: PGPULL_KEEP=1 keeps the work directory (results, logs),
# PGPULL_FUZZ=none leaves the fuzz harnesses out (printed, never in CI),
# PGPULL_TAP=none or PGPULL_TAP='010_*' narrows the TAP files, and the second
# argument narrows the pg_regress files ("setup NAME cleanup").
#
# Expects the extension and pgpull installed (the Makefile does that first).
# initdb and PostgreSQL::Test::Cluster refuse to run as root, so as root
# this copies the tree into a directory owned by an unprivileged account
# (PGPULL_TEST_USER, default Debian's "postgres") and runs there as that
# account.  Then: a throwaway cluster on a unix socket for pg_regress, the
# TAP tests (each starts and stops its own clusters and services), and one
# last line "N passed, N failed, N skipped" summing every suite (counted by
# tests/counts.sh: a skipped or TODO assertion is not a pass).
set -u

SRC=$1
REGRESS_TESTS=$2

. "$(dirname "$0")/runner.sh"
. "$(dirname "$0")/counts.sh"
reexec_unprivileged pgpull-check "$SRC" tests/run_check.sh "$REGRESS_TESTS"

work=${PGPULL_WORK:-$(mktemp -d /tmp/pgpull-check.XXXXXX)}
bindir=$(pg_config --bindir)
pgxsdir=$(dirname "$(dirname "$(dirname "$(pg_config --pgxs)")")")
export PATH="$bindir:$PATH"
export PG_REGRESS="$pgxsdir/src/test/regress/pg_regress"
unset PGHOST PGPORT PGDATABASE PGUSER PGSERVICE PGOPTIONS

passed=0
failed=0
skipped=0
start=$(date +%s)

# add PASSED FAILED SKIPPED to the totals
add_counts()
{
	passed=$((passed + $1))
	failed=$((failed + $2))
	skipped=$((skipped + $3))
}

# pg_regress against a throwaway cluster listening on a socket in $work only.
data="$work/regress_data"
initdb -D "$data" -A trust --no-locale -E UTF8 --no-sync >"$work/initdb.log" 2>&1 ||
	{ cat "$work/initdb.log"; counts_line 0 1 0; exit 1; }
pg_ctl -D "$data" -l "$work/regress_server.log" -w -s \
	-o "-c listen_addresses='' -k $work -p 5432 -c fsync=off" start ||
	{ cat "$work/regress_server.log"; counts_line 0 1 0; exit 1; }
trap 'pg_ctl -D "$data" -m fast -w -s stop' EXIT

echo "== pg_regress"
# shellcheck disable=SC2086
"$PG_REGRESS" --inputdir="$SRC" --outputdir="$work/regress" --bindir="$bindir" \
	--host="$work" --port=5432 --dbname=contrib_regression $REGRESS_TESTS \
	>"$work/regress.out" 2>&1
rc=$?
cat "$work/regress.out"
if [ -s "$work/regress/regression.diffs" ]; then
	cat "$work/regress/regression.diffs"
fi
# shellcheck disable=SC2086
read -r r_ok r_bad r_skip < <(regress_counts "$work/regress.out" $rc "$(echo $REGRESS_TESTS | wc -w)")
echo "pg_regress: $(counts_line "$r_ok" "$r_bad" "$r_skip")"
add_counts "$r_ok" "$r_bad" "$r_skip"
pg_ctl -D "$data" -m fast -w -s stop
trap - EXIT

# TAP: each file alone, its TAP output counted assertion by assertion; a
# file that dies or plans wrongly counts one failure more.  The skipped
# assertions are shown.
echo "== TAP"
cd "$SRC" || exit 1
# PGPULL_TAP narrows the TAP files (a glob under tests/t; "none" skips them).
for t in tests/t/${PGPULL_TAP:-*}.pl; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .pl)
	mkdir -p "$work/tap/$name"
	TESTDIR="$work/tap/$name" timeout 900 perl -I "$pgxsdir/src/test/perl" -I "$SRC/tests" \
		"$t" >"$work/tap/$name.out" 2>&1
	rc=$?
	read -r t_ok t_bad t_skip < <(tap_counts "$work/tap/$name.out" $rc)
	if [ "$t_bad" -ne 0 ]; then
		cat "$work/tap/$name.out"
		for f in "$work/tap/$name"/tmp_check/log/*; do
			[ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
		done
	fi
	echo "$t: $(counts_line "$t_ok" "$t_bad" "$t_skip")"
	add_counts "$t_ok" "$t_bad" "$t_skip"
done

# Fuzz: each libFuzzer harness over its committed corpus, plus a short
# random run (puller/fuzz/run.sh); a crash, a sanitizer report or a leak
# fails it.  make check built them; make rebuilds here only what is stale
# (this copy may come from a tree built otherwise).  A harness counts one
# pass or one failure.
echo "== fuzz"
fuzz_start=$(date +%s)
if [ "${PGPULL_FUZZ:-}" = none ]; then
	echo "fuzz: left out (PGPULL_FUZZ=none)"
else
make -s --no-print-directory -C "$SRC" fuzz-build >"$work/fuzz_build.log" 2>&1 ||
	cat "$work/fuzz_build.log"
for src in "$SRC"/puller/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	if "$SRC/puller/fuzz/run.sh" "$SRC/puller/fuzz/build" "$SRC/tests/fuzz/corpus" \
		"$work/fuzz" 7 "${name#fuzz_}"; then
		add_counts 1 0 0
	else
		add_counts 0 1 0
	fi
done
fi
echo "fuzz: $(($(date +%s) - fuzz_start)) s"

echo "make check took $(($(date +%s) - start)) s"
counts_line "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
