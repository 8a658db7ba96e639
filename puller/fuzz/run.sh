#!/bin/sh
# puller/fuzz/run.sh: run libFuzzer harnesses for a while each; the body of
# "make fuzz", and of the fuzz suite of "make check" (tests/run_check.sh).
#
# Usage: puller/fuzz/run.sh BUILDDIR SEEDDIR OUTDIR SECONDS NAME...
#
# Runs BUILDDIR/fuzz_NAME for SECONDS (loading included) over the
# committed seeds SEEDDIR/NAME and what it found before in
# OUTDIR/corpus/NAME, where it keeps the inputs it finds: the seeds stay as
# they are.  A crash, a sanitizer report, a leak, an input slower than
# FUZZ_TIMEOUT seconds (default 25) or a harness that would not start fails
# it; the input that did it lands in OUTDIR (crash-..., leak-...,
# timeout-...), which "BUILDDIR/fuzz_NAME FILE" replays.  The harness's own
# standard error is closed (-close_fd_mask=2: pgpull's usage errors); the
# sanitizers' and libFuzzer's reports still show.
#
# Prints a line per harness, "fuzz_NAME: ok, N runs in S s" or
# "fuzz_NAME: FAILED ..." followed by the report and where the input went;
# exits 0 when every harness ran clean, else 1.
set -u

if [ $# -lt 5 ]; then
	echo "usage: $0 BUILDDIR SEEDDIR OUTDIR SECONDS NAME..." >&2
	exit 2
fi
build=$1
seeds=$2
out=$3
seconds=$4
shift 4

status=0
for name in "$@"; do
	log="$out/$name.log"
	mkdir -p "$out/corpus/$name"
	start=$(date +%s)
	"$build/fuzz_$name" -max_total_time="$seconds" \
		-timeout="${FUZZ_TIMEOUT:-25}" -close_fd_mask=2 \
		-artifact_prefix="$out/$name-" \
		"$out/corpus/$name" "$seeds/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log" | tail -n 1)
	if [ $rc -eq 0 ] && [ -n "$runs" ]; then
		echo "fuzz_$name: ok, $runs runs in $(($(date +%s) - start)) s"
	else
		echo "fuzz_$name: FAILED (exit status $rc); the report, from $log:"
		# the sanitizer's or libFuzzer's report, else the end of the output
		if grep -q 'ERROR' "$log"; then
			sed -n '/ERROR/,$p' "$log" | head -n 40
		else
			tail -n 20 "$log"
		fi
		grep 'Test unit written to' "$log"
		status=1
	fi
done
exit $status
