#!/usr/bin/python3
"""tests/bench_run.py: the measurements of "make bench" and their table.

Usage: bench_run.py WORK SINK_URL ROWS TABLES BIG PGPULL

Run by tests/bench.sh, which starts the throwaway cluster (PGHOST, PGPORT
set; databases "bench" and "many" created) and the Import API sink in C
(SINK_URL), and stops both.  This script fills the databases, times each
figure and prints one Markdown table of what it measured, all in the same
run, so that the ratios compare figures taken side by side:

- the floors: the server's "COPY orders TO STDOUT" and its row JSON,
  "COPY (SELECT row_to_json(o) FROM orders o) TO STDOUT", through psql
  into /dev/null (best of 3);
- PGPULL sync of the full table into the sink, one stream (best of 3,
  the stream reset in between), then with --jobs 2 when the program has
  it, then --target - into /dev/null (Singer messages);
- a key-based stream of the same table with nothing new (best of 3, in ms)
  and the rows that run sent;
- TABLES key-based tables of 100 rows: the first sync and a run with
  nothing new;
- a log_based table (LOG_ROWS rows, the columns of orders) copied once by
  a first sync, then LOG_CHANGES changes made to it (inserts, updates and
  deletes in transactions of LOG_TX changes), then one timed sync that
  streams them from the slot into the sink: changes a second, MB a second
  (the row JSON sent and the WAL decoded), set against the one-stream
  rate; the slot must then be confirmed at or past the WAL position taken
  before that run;
- with BIG set ("1"), a 10,000,000-row table synced once into the sink,
  whose peak RSS is set beside the ROWS one (flat memory).

Peak RSS: the puller's ru_maxrss as GNU time reports it (exact, the
largest process of its tree); when the puller had child processes, the
sum of their peak RSS (VmHWM, sampled from /proc every SAMPLE_SECONDS),
and the largest sum of their PSS seen (which counts shared pages once),
as the table says.  The logs of every run go to WORK/logs.  Exits 1
when a run failed (the table still printed, the figure "n/a").
"""
import os
import subprocess
import sys
import threading
import time

SAMPLE_SECONDS = 0.02
PSS_EVERY = 5                   # samples
BIG_ROWS = 10_000_000
# the log-based figure: LOG_CHANGES changes in transactions of LOG_TX, each
# LOG_INSERTS inserts, LOG_UPDATES updates and LOG_DELETES deletes, to a
# table of LOG_ROWS rows (every update and delete finds its own row)
LOG_CHANGES = 200_000
LOG_INSERTS, LOG_UPDATES, LOG_DELETES = 50, 30, 20
LOG_TX = LOG_INSERTS + LOG_UPDATES + LOG_DELETES
LOG_ROWS = LOG_CHANGES // LOG_TX * (LOG_UPDATES + LOG_DELETES)
LOG_CHANGES_SQL = """
DO $$
BEGIN
    FOR i IN 0..{txs} - 1 LOOP
        INSERT INTO orders_log
        SELECT g, timestamptz '2025-01-01 00:00:00+00' + g * interval '20 seconds',
               'Grace ' || initcap(substr(md5(g::text), 1, 3 + g % 9)),
               round((random() * 2000)::numeric, 2), 1 + g % 9, g % 5 <> 0,
               jsonb_build_object('sku', 'SKU-' || lpad((g % 5000)::text, 5, '0'),
                                  'channel', 'web', 'gift', g % 11 = 0,
                                  'tags', jsonb_build_array('t' || g % 7)),
               md5(g::text || 'ref')::uuid, date '2025-01-03' + g % 30, 'new'
          FROM generate_series({rows} + i * {ins} + 1, {rows} + (i + 1) * {ins}) g;
        UPDATE orders_log SET status = 'paid', amount = amount + 1, paid = true
         WHERE id BETWEEN i * {upd} + 1 AND (i + 1) * {upd};
        DELETE FROM orders_log
         WHERE id BETWEEN {txs} * {upd} + i * {dele} + 1 AND {txs} * {upd} + (i + 1) * {dele};
        COMMIT;
    END LOOP;
END
$$;
""".format(txs=LOG_CHANGES // LOG_TX, rows=LOG_ROWS, ins=LOG_INSERTS, upd=LOG_UPDATES,
           dele=LOG_DELETES)
ORDERS_SQL = """
CREATE TABLE {name} (
    id          bigint PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    customer    text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    quantity    int NOT NULL,
    paid        boolean NOT NULL,
    details     jsonb,
    ref         uuid NOT NULL,
    ship_date   date,
    status      text NOT NULL
);
SELECT setseed(0.11);
INSERT INTO {name}
SELECT g,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '20 seconds'
           + (random() * 19999)::int * interval '1 millisecond',
       (ARRAY['Ada', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances',
              'Niklaus', 'Radia', 'Ken', 'Margaret'])[1 + g % 10]
           || ' ' || initcap(substr(md5(g::text), 1, 3 + g % 9)),
       round((random() * 2000)::numeric, 2),
       1 + (random() * 9)::int,
       random() < 0.8,
       CASE WHEN g % 50 <> 0 THEN
           jsonb_build_object('sku', 'SKU-' || lpad((g % 5000)::text, 5, '0'),
                              'channel', (ARRAY['web', 'app', 'store', 'phone'])[1 + g % 4],
                              'gift', g % 11 = 0,
                              'discount', round((random() * 0.3)::numeric, 2),
                              'tags', jsonb_build_array('t' || g % 7, 't' || g % 13))
       END,
       md5(g::text || 'ref')::uuid,
       CASE WHEN g % 10 <> 0 THEN date '2024-01-03' + g / 4320 + g % 3 END,
       (ARRAY['new', 'paid', 'packed', 'shipped', 'delivered', 'returned'])[1 + g % 6]
  FROM generate_series(1, {rows}) g;
CREATE INDEX ON {name} (created_at);
VACUUM ANALYZE {name};
"""


class Result:
    """One timed run: wall seconds, exit code, peak RSS in KB (see timed)."""

    def __init__(self, wall, code, maxrss_kb, hwm_kb, pss_kb, procs, log):
        self.wall = wall
        self.code = code
        self.maxrss_kb = maxrss_kb
        self.hwm_kb = hwm_kb
        self.pss_kb = pss_kb
        self.procs = procs
        self.log = log


def children(pid):
    """The pids of the descendants of pid (from /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p != pid:
            found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass                    # gone meanwhile
    return found


def proc_kb(pid, path, field):
    """The field (as "VmHWM:") of /proc/PID/PATH, in KB; None once pid is gone."""
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def timed(cmd, log, stdout=subprocess.DEVNULL, env=None):
    """Run cmd, its stderr into log, under GNU time, whose %M is the exact
    ru_maxrss of cmd and of the children it waited for (the largest one).
    Not Python's own wait4: a child of Python starts with Python's RSS as
    its peak.  A thread samples the peak RSS (VmHWM) of every process of
    cmd's tree, for the sum when there are several, and the sum of their
    proportional set sizes (PSS: shared pages divided among the processes
    that share them), for its largest value."""
    peaks, pss, done = {}, [0], threading.Event()
    rss_file = log + ".rss"

    with open(log, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file, "--"] + cmd,
                                stdout=stdout, stderr=err, env=env)

        def sample():
            tick = 0
            while not done.wait(SAMPLE_SECONDS):
                tick += 1
                tree = children(proc.pid)
                for p in tree:
                    kb = proc_kb(p, "status", "VmHWM:")
                    if kb is not None:
                        peaks[p] = kb
                # PSS costs the kernel a walk of the page tables: less often
                if len(tree) > 1 and tick % PSS_EVERY == 0:
                    pss[0] = max(pss[0], sum(proc_kb(p, "smaps_rollup", "Pss:") or 0
                                             for p in tree))

        sampler = threading.Thread(target=sample)
        sampler.start()
        proc.wait()
        wall = time.monotonic() - start
        done.set()
        sampler.join()
    with open(rss_file) as f:
        maxrss_kb = int(f.read().split()[-1])
    return Result(wall, proc.returncode, maxrss_kb, sum(peaks.values()), pss[0], len(peaks),
                  log)


def psql(sql, db="bench"):
    """Run sql with psql; returns its unaligned output."""
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db],
                         input=sql, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"bench: SQL failed in database {db}")
    return out.stdout.strip()


def last_run_id(db, integration):
    return int(psql(f"SELECT coalesce(max(run_id), 0) FROM pgpull.runs "
                    f"WHERE integration = '{integration}'", db))


def rows_loaded(db, integration, after):
    """Rows the runs of integration after run id after loaded, and whether
    every one of them succeeded."""
    out = psql(f"""SELECT coalesce(sum(rows_loaded), 0),
                          bool_and(r.status = 'succeeded') IS NOT FALSE
                     FROM pgpull.runs r LEFT JOIN pgpull.run_streams USING (run_id)
                    WHERE r.integration = '{integration}' AND r.run_id > {after}""", db)
    n, ok = out.split("|")
    return int(n), ok == "t"


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Bench:
    def __init__(self, work, sink, rows, tables, big, pgpull):
        self.work, self.sink, self.rows, self.tables = work, sink, rows, tables
        self.big, self.pgpull = big, pgpull
        self.logs = os.path.join(work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.failed = []
        self.env = dict(os.environ, PGPULL_TOKEN="bench")
        self.load = loadavg()

    def log(self, name):
        return os.path.join(self.logs, name + ".log")

    def note(self, what):
        print(f"bench: {what}", file=sys.stderr, flush=True)

    def best(self, runs):
        """The fastest run, with the largest peaks of all of them."""
        best = min(runs, key=lambda r: r.wall)
        best.maxrss_kb = max(r.maxrss_kb for r in runs)
        best.hwm_kb = max(r.hwm_kb for r in runs)
        best.pss_kb = max(r.pss_kb for r in runs)
        best.procs = max(r.procs for r in runs)
        return best

    def floors(self, queries):
        """The best of 3 psql runs of each (name, sql) of queries, taken in
        turns so that a noisy moment does not fall on one of them only."""
        runs = {name: [] for name, _ in queries}
        for i in range(3):
            for name, sql in queries:
                r = timed(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          self.log(f"{name}.{i}"))
                if r.code != 0:
                    self.failed.append(f"{name}: psql exited with {r.code}, see {r.log}")
                    return {}
                runs[name].append(r)
        return {name: self.best(r) for name, r in runs.items()}

    def sync(self, name, db, integration, args, expect, reset=None, count=3,
             stdout=subprocess.DEVNULL):
        """count timed runs of pgpull sync; reset (SQL) before each; expect
        rows loaded by each run (None: not checked).  Returns the best run,
        with .sent the rows the last run loaded, or None and the reason."""
        runs = []
        for i in range(count):
            if reset:
                psql(reset, db)
            before = last_run_id(db, integration)
            r = timed([self.pgpull, "sync", f"--source=dbname={db}",
                       f"--integration={integration}"] + args,
                      self.log(f"{name}.{i}"), stdout=stdout, env=self.env)
            if r.code != 0:
                why = f"pgpull exited with {r.code}"
                self.failed.append(f"{name}: {why}, see {r.log}")
                return None, why
            r.sent, ok = rows_loaded(db, integration, before)
            if not ok or (expect is not None and r.sent != expect):
                why = f"{r.sent} rows loaded, not {expect}" if ok else "a run failed"
                self.failed.append(f"{name}: {why}, see {r.log}")
                return None, why
            runs.append(r)
        return self.best(runs), None

    def log_based(self, target):
        """The log-based figure: orders_log copied by a first sync (which
        makes the slot), LOG_CHANGES changes made to it, then one timed sync
        that streams them.  Returns the run, with .sent, .bytes (the row
        JSON sent) and .wal (the bytes of WAL from before the changes to
        the position before the run), or None and the reason.  Fails unless
        the slot is then confirmed at or past that position.  The slot is
        dropped after, so that it pins no WAL during what follows."""
        first, why = self.sync("log-first", "bench", "log", target, LOG_ROWS, count=1)
        if not first:
            return None, why
        start = psql("SELECT pg_current_wal_lsn()")
        psql(LOG_CHANGES_SQL)
        psql("CHECKPOINT;")
        before = psql("SELECT pg_current_wal_lsn()")
        run = last_run_id("bench", "log")
        r, why = self.sync("log", "bench", "log", target, LOG_CHANGES, count=1)
        slot = psql("SELECT pgpull.slot_name('log')")
        confirmed = psql(f"SELECT coalesce(confirmed_flush_lsn::text, 'nothing'), "
                         f"confirmed_flush_lsn >= '{before}' "
                         f"FROM pg_replication_slots WHERE slot_name = '{slot}'")
        if confirmed:
            psql(f"SELECT pg_drop_replication_slot('{slot}')")
        if not r:
            return None, why
        lsn, ok = confirmed.split("|") if confirmed else ("nothing (no such slot)", "f")
        if ok != "t":
            why = (f"replication slot {slot} confirmed at {lsn}, not at or past {before}, "
                   f"the WAL position before the run")
            print(f"bench: error: {why}", file=sys.stderr)
            self.failed.append(f"log: {why}, see {r.log}")
            return None, why
        r.bytes = int(psql(f"SELECT coalesce(sum(bytes), 0) FROM pgpull.run_streams "
                           f"JOIN pgpull.runs USING (run_id) "
                           f"WHERE integration = 'log' AND run_id > {run}"))
        r.wal = int(psql(f"SELECT pg_wal_lsn_diff('{before}', '{start}')"))
        return r, None

    def setup(self):
        self.note(f"filling orders ({self.rows:,} rows)")
        psql("CREATE EXTENSION pgpull;" + ORDERS_SQL.format(name="orders", rows=self.rows) + """
            SELECT pgpull.track('orders', 'full_table');
            SELECT pgpull.track('orders', 'key_based', 'created_at', integration => 'noop');
            """)
        self.note(f"filling orders_log ({LOG_ROWS:,} rows, log_based) and its publication")
        psql(ORDERS_SQL.format(name="orders_log", rows=LOG_ROWS) + """
            SELECT pgpull.track('orders_log', 'log_based', integration => 'log');
            SELECT * FROM pgpull.publication_script('log') \\gexec
            """)
        self.note(f"filling {self.tables:,} tables of 100 rows in database many")
        script = ["CREATE EXTENSION pgpull;"]
        # 100 tables a transaction: each holds a few locks until commit
        for lo in range(1, self.tables + 1, 100):
            hi = min(lo + 99, self.tables)
            script.append(f"""
DO $$
DECLARE
    t text;
BEGIN
    FOR i IN {lo}..{hi} LOOP
        t := 'item_' || i;
        EXECUTE format('CREATE TABLE %I (id bigint PRIMARY KEY,
                                         updated_at timestamptz NOT NULL, name text NOT NULL,
                                         price numeric(12,2), stock int)', t);
        EXECUTE format('INSERT INTO %I SELECT g, timestamptz ''2024-01-01 00:00:00+00''
                                             + (%s * 100 + g) * interval ''1 minute'',
                                          ''item '' || md5(g::text), g * 1.5, g %% 17
                                         FROM generate_series(1, 100) g', t, i);
        EXECUTE format('CREATE INDEX ON %I (updated_at)', t);
        PERFORM pgpull.track(t::regclass, 'key_based', 'updated_at');
    END LOOP;
END
$$;""")
        script.append("VACUUM ANALYZE;")
        psql("\n".join(script), "many")
        # what the fill left to write goes now, not during the figures
        psql("CHECKPOINT;")

    def run(self):
        self.setup()
        target = [f"--target={self.sink}"]
        reset_orders = "SELECT pgpull.reset('orders');"
        fig = {}

        self.note("the floors (best of 3)")
        fig.update(self.floors((("copy", "COPY orders TO STDOUT"),
                                ("json", "COPY (SELECT row_to_json(o) FROM orders o) TO STDOUT"))))

        self.note("pgpull sync, one stream into the sink (best of 3)")
        fig["http"] = self.sync("http", "bench", "default", target, self.rows, reset_orders)

        help_text = subprocess.run([self.pgpull, "--help"], capture_output=True, text=True).stdout
        if "--jobs" in help_text:
            self.note("pgpull sync --jobs 2 into the sink (best of 3)")
            fig["jobs"] = self.sync("jobs", "bench", "default", target + ["--jobs=2"],
                                    self.rows, reset_orders)
        else:
            fig["jobs"] = (None, "pgpull has no --jobs")

        self.note("pgpull sync --target - into /dev/null (best of 3)")
        fig["singer"] = self.sync("singer", "bench", "default", ["--target=-"], None,
                                  reset_orders)

        self.note("key-based stream of orders: first sync, then nothing new (best of 3)")
        first, why = self.sync("noop-first", "bench", "noop", target, self.rows, count=1)
        fig["noop"] = self.sync("noop", "bench", "noop", target, None) if first else (None, why)

        self.note(f"{self.tables:,} tables: first sync, then nothing new (best of 3)")
        fig["many-first"] = self.sync("many-first", "many", "default", target,
                                      self.tables * 100, count=1)
        if fig["many-first"][0]:
            fig["many-noop"] = self.sync("many-noop", "many", "default", target, None)
        else:
            fig["many-noop"] = (None, fig["many-first"][1])

        self.note(f"log-based: first sync, {LOG_CHANGES:,} changes, then one sync "
                  f"streaming them (once)")
        fig["log"] = self.log_based(target)

        if self.big:
            self.note(f"a {BIG_ROWS:,}-row table (BENCH_BIG=1): filling it, one sync")
            psql(ORDERS_SQL.format(name="orders_big", rows=BIG_ROWS)
                 + "SELECT pgpull.track('orders_big', 'full_table', integration => 'big');"
                 + "CHECKPOINT;")
            fig["big"] = self.sync("big", "bench", "big", target, BIG_ROWS, count=1)
        self.table(fig)
        for f in self.failed:
            print(f"bench: failed: {f}", file=sys.stderr)
        return 1 if self.failed else 0

    def header(self):
        version = psql("SHOW server_version")
        pgpull_version = subprocess.run([self.pgpull, "--version"], capture_output=True,
                                        text=True).stdout.strip()
        size = psql("SELECT pg_size_pretty(pg_total_relation_size('orders'))")
        with open("/proc/meminfo") as f:
            mem_gb = int(f.readline().split()[1]) / 1024 / 1024
        print(f"machine: {len(os.sched_getaffinity(0))} CPUs (nproc), {mem_gb:.0f} GB RAM, "
              f"load average {self.load} before the bench, {loadavg()} after; "
              f"PostgreSQL {version}; {pgpull_version}")
        print()
        print(f"orders: {self.rows:,} rows, 10 columns, {size}; best of 3 runs unless "
              f"said; peak RSS: the puller's (GNU time's %M), or, when it had several "
              f"processes, the sum of their peaks (VmHWM from /proc every "
              f"{SAMPLE_SECONDS * 1000:.0f} ms; shared pages counted in each) and the "
              f"largest sum of their PSS (every {SAMPLE_SECONDS * PSS_EVERY * 1000:.0f} ms; "
              f"shared pages counted once)")
        print()

    def table(self, fig):
        self.header()
        rows = self.rows

        def rate(key):
            r = fig.get(key)
            r = r[0] if isinstance(r, tuple) else r
            return rows / r.wall if r else None

        def ratios(r, *against):
            parts = [f"{r / b:.2f} × {what}" for b, what in against if b]
            return ", ".join(parts) or "n/a"

        def rss(r):
            if r.procs > 1:
                return (f"{max(r.hwm_kb, r.maxrss_kb) / 1024:.1f} MB (sum over "
                        f"{r.procs} processes, the largest {r.maxrss_kb / 1024:.1f} MB; "
                        f"their PSS at most {r.pss_kb / 1024:.1f} MB)")
            return f"{r.maxrss_kb / 1024:.1f} MB"

        def sent(r):
            return f"sent {r.sent:,} row{'' if r.sent == 1 else 's'}"

        def speed(n, unit="rows"):
            return f"{round(n, -3) if n >= 10000 else n:,.0f} {unit}/s"

        floor, jfloor = rate("copy"), rate("json")
        floors = ((floor, "server floor"), (jfloor, "JSON floor"))
        one = rate("http")
        lines = [("what", "rows/s or time", "ratio", "peak RSS"), ("---",) * 4]

        def na(why):
            return (f"n/a ({why})", "n/a", "n/a")

        lines.append(("`COPY orders TO STDOUT` (the server floor)",
                      speed(floor) if floor else "n/a (psql failed)", "—", "—"))
        lines.append(("`COPY (SELECT row_to_json(o) FROM orders o) TO STDOUT` (the JSON floor)",
                      speed(jfloor) if jfloor else "n/a (psql failed)",
                      ratios(jfloor, (floor, "server floor")) if jfloor else "n/a", "—"))
        for key, what, extra in (
                ("http", "`pgpull sync`, one stream", ()),
                ("jobs", "`pgpull sync --jobs 2`, one stream", ((one, "one stream"),)),
                ("singer", "`pgpull sync --target -` into /dev/null", ((one, "HTTP rate"),))):
            r, why = fig[key]
            if r:
                n = rows / r.wall
                lines.append((what, speed(n), ratios(n, *extra, *floors), rss(r)))
            else:
                lines.append((what,) + na(why))
        what = (f"log-based: {LOG_CHANGES:,} changes ({LOG_TX} a transaction) streamed "
                f"from the slot into the sink (once)")
        r, why = fig["log"]
        if r:
            n = LOG_CHANGES / r.wall
            lines.append((what, f"{speed(n, 'changes')}, "
                          f"{r.bytes / 1e6 / r.wall:.1f} MB/s of row JSON "
                          f"({r.wal / 1e6 / r.wall:.1f} MB/s of WAL)",
                          f"{n / one:.2f} × one stream" if one else "n/a (one stream failed)",
                          rss(r)))
        else:
            lines.append((what,) + na(why))
        r, why = fig["noop"]
        what = f"key-based run with nothing new, one stream of {rows:,} rows"
        lines.append((what, f"{r.wall * 1000:.0f} ms", sent(r), rss(r))
                     if r else (what,) + na(why))
        what = f"{self.tables:,} tracked tables × 100 rows: first sync (once)"
        r, why = fig["many-first"]
        lines.append((what, f"{r.wall:.2f} s", "—", rss(r)) if r else (what,) + na(why))
        what = f"{self.tables:,} tracked tables × 100 rows: run with nothing new"
        r, why = fig["many-noop"]
        lines.append((what, f"{r.wall:.2f} s", sent(r), rss(r))
                     if r else (what,) + na(why))
        if "big" in fig:
            what = f"`pgpull sync`, one stream of {BIG_ROWS:,} rows (BENCH_BIG, once)"
            r, why = fig["big"]
            h = fig["http"][0]
            if r:
                flat = (f"peak RSS {r.maxrss_kb / h.maxrss_kb:.2f} × the "
                        f"{h.maxrss_kb / 1024:.1f} MB of one stream of {rows:,} rows"
                        if h else "n/a (the one-stream run failed)")
                lines.append((what, speed(BIG_ROWS / r.wall), flat, rss(r)))
            else:
                lines.append((what,) + na(why))
        for line in lines:
            print("| " + " | ".join(line) + " |")


def main():
    work, sink, rows, tables, big, pgpull = sys.argv[1:7]
    bench = Bench(work, sink, int(rows), int(tables), big not in ("", "0"), pgpull)
    sys.exit(bench.run())


if __name__ == "__main__":
    main()
