#!/bin/sh
# tests/deps.sh: install with apt-get what pgpull needs to build, test and
# demo on Debian 12.  Idempotent, and quick when everything is there.
set -eu

PACKAGES="
	postgresql-15 postgresql-client-15 postgresql-server-dev-15
	libpq-dev libcurl4-openssl-dev libjansson-dev pkg-config gcc make
	libipc-run-perl perl
	python3 python3-psycopg2 python3-jsonschema
	openssl ca-certificates curl procps time
	openssh-server openssh-client
	valgrind
	systemd python3-prometheus-client
	clang libclang-rt-14-dev
"

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
	echo "pgpull: hint: Run \"make deps\" as root, or: sudo apt-get install$missing" >&2
	exit 2
fi

echo "make deps: installing$missing"
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
