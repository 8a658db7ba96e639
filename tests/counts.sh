# tests/counts.sh: sourced by run_check.sh; counts what a test program's
# output says passed, failed and was skipped.  tests/t/000_run_check.pl
# tests it.
#
# tap_counts FILE STATUS
#   FILE holds the output (stdout and stderr) of one TAP test file, STATUS
#   its exit status.  Prints "PASSED FAILED SKIPPED" on stdout, and on
#   stderr each line that counted as skipped.  Only lines at the left margin
#   count: a subtest's indented lines are summed up by its own "ok" line.
#   "ok N # skip" is skipped, not passed; so is an assertion marked TODO,
#   "ok" or "not ok", since it checks nothing yet; a file that plans
#   "1..0 # SKIP" counts as one skipped.  A file that bails out, that has
#   no plan or a plan other than its number of assertions (it died, or
#   planned wrongly), or that exits non-zero without a failed assertion,
#   counts one failure more.
#
# regress_counts FILE STATUS WANT
#   The same for pg_regress's output, in PostgreSQL 15's format
#   ("test setup   ... ok   12 ms", "... FAILED", "... failed (ignored)",
#   parallel tests indented by five spaces) or in the TAP format of 16 and
#   later ("ok 1   - setup   12 ms", "not ok 2   + catalog   9 ms",
#   "# parallel group (2 tests): ...").  WANT is how many tests pg_regress
#   was given; those it did not report on count as failed.  A bail-out or a
#   failing exit status that no failed test explains counts one failure.
#
# counts_line PASSED FAILED SKIPPED
#   "N passed, N failed, N skipped": the shape of the last line of make check.

# The awk program of both; mode is "tap" or "regress".
_pgpull_counts_awk='
# the directive of a test line: what follows its first "#" not escaped
# with a backslash, lower case, without leading blanks
function directive(s,   i, c, prev)
{
	prev = ""
	for (i = 1; i <= length(s); i++)
	{
		c = substr(s, i, 1)
		if (c == "#" && prev != "\\")
		{
			s = tolower(substr(s, i + 1))
			sub(/^[ \t]+/, "", s)
			return s
		}
		prev = c
	}
	return ""
}
BEGIN { pass = 0; fail = 0; skip = 0; tests = 0; plan = -1; bail = 0 }
/^Bail out!/ { bail = 1; next }
# PostgreSQL 15 pg_regress: "test NAME ... STATUS", or indented in a group
mode == "regress" && /^(test |     )[^ ].* \.\.\. / {
	tests++
	if ($0 ~ / \.\.\. ok( |$)/)
		pass++
	else
		fail++
	next
}
/^(not )?ok([ \t]|$)/ {
	tests++
	d = directive($0)
	if (d ~ /^(skip|todo)/)
	{
		skip++
		print "skipped: " $0 > "/dev/stderr"
	}
	else if ($0 ~ /^ok/)
		pass++
	else
		fail++
	next
}
/^1\.\.[0-9]+/ {
	plan = $0
	sub(/^1\.\./, "", plan)
	sub(/[^0-9].*$/, "", plan)
	plan = plan + 0
	if (plan == 0 && directive($0) ~ /^skip/)
	{
		skip++
		print "skipped: " $0 > "/dev/stderr"
	}
	next
}
END {
	extra = 0
	if (mode == "regress")
	{
		# the tests it did not report on failed; when that does not
		# explain a bail-out or a failing exit status, one more
		if (pass + fail + skip < want)
			fail = want - pass - skip
		if ((bail || status != 0) && fail == 0)
			extra = 1
	}
	else
	{
		skip_all = (plan == 0 && tests == 0 && skip == 1)
		if (bail || (plan != tests && !skip_all) || (status != 0 && fail == 0))
			extra = 1
	}
	print pass, fail + extra, skip
}
'

tap_counts()
{
	awk -v mode=tap -v status="$2" -v want=0 "$_pgpull_counts_awk" "$1"
}

regress_counts()
{
	awk -v mode=regress -v status="$2" -v want="$3" "$_pgpull_counts_awk" "$1"
}

counts_line()
{
	echo "$1 passed, $2 failed, $3 skipped"
}
