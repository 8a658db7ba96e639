#!/bin/sh
# tests/deps.sh GOAL GROUP...: install with apt-get the packages of each
# GROUP that a Debian 12 machine lacks, for "make GOAL".  Idempotent, and
# quick when everything is there.
#
#   build  what building and running pgpull need: PostgreSQL 15 and its
#          PGXS files, libpq, libcurl, jansson, a compiler ("make deps")
#   test   the test tools: Perl's IPC::Run, the reference receiver's and
#          the Singer tools' Python modules, OpenSSH, valgrind, clang for
#          the fuzz harnesses, systemd for "systemd-analyze verify",
#          python3-prometheus-client to parse the metrics file
#   deb    building and checking the Debian packages: debhelper,
#          postgresql-server-dev-all (pg_buildext and the "pgxs" sequence),
#          lintian, and man and groff for the man page
#
# "make deps" installs build alone, so a database host gets no test tools;
# "make deps-test" (which make check, demo, bench and fuzz run) all three.
set -eu

goal=$1
shift

PACKAGES=""
for group in "$@"; do
	case $group in
	build)
		PACKAGES="$PACKAGES
			postgresql-15 postgresql-client-15 postgresql-server-dev-15
			libpq-dev libcurl4-openssl-dev libjansson-dev pkg-config gcc make
			ca-certificates openssh-client"
		;;
	test)
		PACKAGES="$PACKAGES
			libipc-run-perl perl
			python3 python3-psycopg2 python3-jsonschema
			openssl curl procps time
			openssh-server
			valgrind
			clang libclang-rt-14-dev
			systemd python3-prometheus-client"
		;;
	deb)
		PACKAGES="$PACKAGES
			dpkg-dev debhelper fakeroot postgresql-common postgresql-server-dev-all
			lintian man-db groff-base"
		;;
	*)
		echo "tests/deps.sh: error: unrecognized group: $group" >&2
		exit 2
		;;
	esac
done

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "pgpull: error: missing packages:$missing" >&2
	echo "pgpull: hint: Run \"make $goal\" as root, or: sudo apt-get install$missing" >&2
	exit 2
fi

echo "make $goal: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; a stale list fails installs.
apt-get update -qq || true
# policy-rc.d keeps Debian from starting the packaged services (the
# postgresql@15-main cluster, sshd): the tests start servers of their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing
