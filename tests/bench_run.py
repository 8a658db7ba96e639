#!/usr/bin/python3
"""tests/bench_run.py: run a command, print its wall time, rows/s, MB/s and peak RSS.

Usage: bench_run.py LABEL ROWS BYTES_FILE_OR_- COMMAND...
BYTES: a file whose size is the payload (for stdout output), or "-" to take
the byte count from the command's stderr line "... N bytes" (pgpull's
stream summary).  The command's stdout goes to /dev/null unless BYTES_FILE
is given, in which case it is written there.
"""
import re
import resource
import subprocess
import sys
import time


def main():
    label, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cmd = sys.argv[4:]
    stdout = open(out, "wb") if out != "-" else subprocess.DEVNULL
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        print(f"{label}: exit status {proc.returncode}")
        sys.exit(1)
    if out != "-":
        stdout.close()
        import os
        nbytes = os.path.getsize(out)
    else:
        nbytes = sum(int(b) for b in re.findall(rb"accepted: \d+ rows?, (\d+) bytes", proc.stderr))
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{label}: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s, "
          f"{nbytes / elapsed / 1e6:.1f} MB/s, peak RSS {rss_kb / 1024:.1f} MB")


if __name__ == "__main__":
    main()
