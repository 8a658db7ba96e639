# tests/runner.sh: sourced by run_check.sh and demo.sh.
#
# reexec_unprivileged PREFIX SRCDIR SCRIPT [ARGS...]: when running as root,
# copy SRCDIR (without .git) into a fresh directory /tmp/PREFIX.XXXXXX owned
# by the unprivileged account PGPULL_TEST_USER (default Debian's "postgres"),
# run SCRIPT from that copy as that account with PGPULL_WORK naming the
# directory and the copy's path as first argument, remove the directory
# unless PGPULL_KEEP is set or the script failed, and exit with its status.
# initdb and PostgreSQL::Test::Cluster refuse root; this is how the tests and
# the demo run on a fresh machine as root.  Returns when not root.

reexec_unprivileged()
{
	local prefix=$1 src=$2 script=$3 runner work rc
	shift 3
	if [ "$(id -u)" -ne 0 ] || [ -n "${PGPULL_AS_RUNNER:-}" ]; then
		return 0
	fi
	runner=${PGPULL_TEST_USER:-postgres}
	if ! id "$runner" >/dev/null 2>&1; then
		echo "pgpull: error: account \"$runner\" does not exist" >&2
		echo "pgpull: hint: Run \"make deps\" (it installs PostgreSQL, which creates \"postgres\"), or set PGPULL_TEST_USER." >&2
		exit 2
	fi
	work=$(mktemp -d "/tmp/$prefix.XXXXXX")
	mkdir "$work/src"
	tar -C "$src" --exclude=.git -cf - . | tar -C "$work/src" -xf -
	chown -R "$runner" "$work"
	# the caller's directory may be closed to the account (a clone under /root)
	cd "$work" || exit 2
	rc=0
	runuser -u "$runner" -- env PGPULL_AS_RUNNER=1 PGPULL_WORK="$work" HOME="$work" \
		PGPULL_TAP="${PGPULL_TAP:-}" "$work/src/$script" "$work/src" "$@" || rc=$?
	if [ $rc -eq 0 ] && [ -z "${PGPULL_KEEP:-}" ]; then
		rm -rf "$work"
	else
		echo "files and logs kept in $work"
	fi
	exit $rc
}
