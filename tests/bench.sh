#!/bin/bash
# tests/bench.sh: the body of "make bench" (not part of "make check").
#
# Usage: tests/bench.sh SRCDIR [ROWS]
#
# A throwaway cluster with a table of ROWS rows (default 1000000) of mixed
# types, then the figures: the server's own COPY of the table and of the
# extraction's row JSON (what pgpull can at best reach), pgpull syncing it
# full-table into a sink that accepts every batch (tests/bench_sink, an
# Import API endpoint in C that discards what it gets: the puller's own
# speed), into the reference receiver (which validates and loads every
# record, and is much slower than pgpull), and as Singer messages to a file
# when the program supports it.  Prints rows/s, MB/s and the puller's peak
# RSS, then the ratios of this run's figures: pgpull into the sink against
# each COPY floor, and Singer to a file against HTTP into the sink.
# The sink is built by "make bench" (tests/bench_sink.c).
set -eu -o pipefail

SRC=$1
ROWS=${2:-1000000}

. "$(dirname "$0")/runner.sh"
reexec_unprivileged pgpull-bench "$SRC" tests/bench.sh "$ROWS"

work=${PGPULL_WORK:-$(mktemp -d /tmp/pgpull-bench.XXXXXX)}
export PATH="$(pg_config --bindir):$PATH"
unset PGHOST PGPORT PGDATABASE PGUSER PGSERVICE PGOPTIONS
export PGHOST="$work" PGPORT=5432 PGDATABASE=bench

initdb -D "$work/data" -A trust --no-locale -E UTF8 --no-sync >"$work/initdb.log"
pg_ctl -D "$work/data" -l "$work/server.log" -w -s \
	-o "-c listen_addresses='' -k $work -p 5432 -c shared_buffers=512MB -c fsync=off" start
pids=()
cleanup()
{
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	pg_ctl -D "$work/data" -m fast -w -s stop
}
trap cleanup EXIT
createdb bench
createdb warehouse

echo "== $ROWS rows: (bigint PK, int, text, numeric(12,2), timestamptz, boolean, float8)"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION pgpull;
CREATE TABLE bench (id bigint PRIMARY KEY, n int, name text, amount numeric(12,2),
                    at timestamptz, flag boolean, ratio float8);
INSERT INTO bench SELECT g, g % 1000, 'name ' || g, g * 1.25,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, g / 7.0
  FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE bench;
SELECT pgpull.track('bench', 'full_table');
SELECT pgpull.track('bench', 'full_table', integration => 'receiver');
SQL

echo "== the server alone (COPY to /dev/null, best of 3)"
query=$(psql -X -At -c "SELECT pgpull.row_json_query('bench')")
# best SQL: the best wall time of three psql runs of SQL, in seconds
best()
{
	/usr/bin/python3 - "$1" <<'PY'
import subprocess, sys, time
times = []
for _ in range(3):
    start = time.monotonic()
    subprocess.run(["psql", "-X", "-q", "-c", sys.argv[1]], check=True, stdout=subprocess.DEVNULL)
    times.append(time.monotonic() - start)
print(f"{min(times):.3f}")
PY
}
plain=$(best "COPY bench TO '/dev/null'")
mapped=$(best "COPY ($query) TO '/dev/null'")
# each figure line goes to $work/figures too, for the ratios at the end
awk -v r="$ROWS" -v p="$plain" -v m="$mapped" 'BEGIN {
	printf "plain COPY:              %.2f s = %.0f rows/s\n", p, r / p;
	printf "COPY of the row JSON:    %.2f s = %.0f rows/s (%.2fx plain COPY)\n", m, r / m, p / m }' |
	tee "$work/figures"

echo "== pgpull sync, full table, into a sink that accepts every batch"
if [ ! -x "$SRC/tests/bench_sink" ]; then
	echo "pgpull: error: tests/bench_sink is not built" >&2
	echo "pgpull: hint: Run \"make bench\", which builds it." >&2
	exit 2
fi
"$SRC/tests/bench_sink" "$work/sink.port" & pids+=($!)
for _ in $(seq 100); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
PGPULL_TOKEN=bench /usr/bin/python3 "$SRC/tests/bench_run.py" "pgpull -> sink" "$ROWS" - \
	pgpull sync --source="dbname=bench" --target="http://127.0.0.1:$(cat "$work/sink.port")" |
	tee -a "$work/figures"

echo "== pgpull sync, full table, into the reference receiver (validates and loads)"
printf '{"bench": "receiver"}' >"$work/tokens.json"
/usr/bin/python3 "$SRC/tests/receiver/receiver.py" --listen 127.0.0.1:0 --dsn "dbname=warehouse" \
	--tokens "$work/tokens.json" --port-file "$work/receiver.port" >"$work/receiver.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
PGPULL_TOKEN=bench /usr/bin/python3 "$SRC/tests/bench_run.py" "pgpull -> receiver" "$ROWS" - \
	pgpull sync --source="dbname=bench" --integration=receiver \
	--target="http://127.0.0.1:$(cat "$work/receiver.port")"
echo "rows in the destination: $(psql -X -At -d warehouse -c 'SELECT count(*) FROM receiver.bench')"

# not "pgpull --help | grep -q": under pipefail, pgpull may die of SIGPIPE
if grep -q -- '--target=-\|--target -\|target-command' <<<"$(pgpull --help)"; then
	echo "== pgpull sync --target - (Singer messages to a file)"
	/usr/bin/python3 "$SRC/tests/bench_run.py" "pgpull -> Singer stdout" "$ROWS" "$work/singer.out" \
		pgpull sync --source="dbname=bench" --target=- |
		tee -a "$work/figures"
	rm -f "$work/singer.out"
fi

# the ratios of the figures above; rate(LABEL) is the rows/s of the line
# of $work/figures that starts with LABEL, 0 when there is none (n/a)
echo "== ratios of this run's rows/s"
awk '
	function rate(label,    i, f)
	{
		for (i = 1; i <= n; i++)
			if (index(line[i], label) == 1)
			{
				f = line[i];
				sub(/ rows\/s.*/, "", f);
				sub(/.* /, "", f);
				gsub(/,/, "", f);
				return f + 0;
			}
		return 0;
	}
	function ratio(what, a, b)
	{
		if (a > 0 && b > 0)
			printf "%-42s %.2fx\n", what ":", a / b;
		else
			printf "%-42s n/a\n", what ":";
	}
	{ line[++n] = $0 }
	END {
		sink = rate("pgpull -> sink:");
		ratio("pgpull -> sink / plain COPY", sink, rate("plain COPY:"));
		ratio("pgpull -> sink / COPY of the row JSON", sink, rate("COPY of the row JSON:"));
		ratio("Singer stdout / pgpull -> sink (HTTP)", rate("pgpull -> Singer stdout:"), sink);
	}' "$work/figures"
