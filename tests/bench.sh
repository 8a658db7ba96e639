#!/bin/bash
# tests/bench.sh: the body of "make bench" (not part of "make check").
#
# Usage: tests/bench.sh SRCDIR [ROWS [TABLES [BIG]]]
#
# Starts a throwaway cluster (as the unprivileged account, see runner.sh)
# and the Import API sink in C that discards what it gets
# (tests/bench_sink, built by "make bench": not the limit, and no Python
# in the measured path), runs tests/bench_run.py, which fills the tables
# and prints the table of figures, then stops both by pid.  ROWS (default
# 500000) sizes the orders table, TABLES (default 1000) the many-tables
# no-op run, BIG ("1") adds the 10,000,000-row run.
set -eu -o pipefail

SRC=$1
ROWS=${2:-500000}
TABLES=${3:-1000}
BIG=${4:-}
for n in "$ROWS" "$TABLES"; do
	case $n in
		'' | *[!0-9]* | 0)
			echo "pgpull: error: BENCH_ROWS and BENCH_TABLES must be positive integers, not \"$n\"" >&2
			exit 2 ;;
	esac
done

. "$(dirname "$0")/runner.sh"
reexec_unprivileged pgpull-bench "$SRC" tests/bench.sh "$ROWS" "$TABLES" "$BIG"

if [ ! -x "$SRC/tests/bench_sink" ]; then
	echo "pgpull: error: tests/bench_sink is not built" >&2
	echo "pgpull: hint: Run \"make bench\", which builds it." >&2
	exit 2
fi
# the program "make bench" just built (the installed one may be another's)
pgpull=$SRC/puller/pgpull
[ -x "$pgpull" ] || pgpull=$(command -v pgpull)

work=${PGPULL_WORK:-$(mktemp -d /tmp/pgpull-bench.XXXXXX)}
export PATH="$(pg_config --bindir):$PATH"
unset PGHOST PGPORT PGDATABASE PGUSER PGSERVICE PGOPTIONS
export PGHOST="$work" PGPORT=5432 PGDATABASE=bench

# autovacuum off: the bench vacuums what it fills, and a worker waking
# during one figure would only add noise to it; wal_level logical for the
# log-based figure's slot (the default max_replication_slots and
# max_wal_senders, 10, are enough)
initdb -D "$work/data" -A trust --no-locale -E UTF8 --no-sync >"$work/initdb.log"
pg_ctl -D "$work/data" -l "$work/server.log" -w -s \
	-o "-c listen_addresses='' -k $work -p 5432 -c shared_buffers=512MB -c fsync=off -c autovacuum=off -c wal_level=logical" start
sink_pid=
cleanup()
{
	if [ -n "$sink_pid" ]; then
		kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	fi
	pg_ctl -D "$work/data" -m fast -w -s stop
}
trap cleanup EXIT
createdb bench
createdb many

"$SRC/tests/bench_sink" "$work/sink.port" &
sink_pid=$!
for _ in $(seq 100); do [ -s "$work/sink.port" ] && break; sleep 0.1; done

/usr/bin/python3 "$SRC/tests/bench_run.py" "$work" "http://127.0.0.1:$(cat "$work/sink.port")" \
	"$ROWS" "$TABLES" "$BIG" "$pgpull"
