#!/bin/sh
# debian/make-deb.sh SRCDIR DEB_DIR: the body of "make deb".
#
# Copies the tree (without .git and build products) to DEB_DIR/src/ and
# runs dpkg-buildpackage there, binary packages only and unsigned, so that
# its clean step ("make clean" in the tree it builds) leaves SRCDIR's own
# build alone; then lintian, which fails the build on an error.  Leaves in
# DEB_DIR the .deb files, the .changes and .buildinfo, build.log and
# lintian.log.  Runs as root or not (Rules-Requires-Root: no).
set -eu

src=$1
out=$2

# The package's upstream version is the extension's.
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
extension=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$src/extension/pgpull.control")
if [ "${version%-*}" != "$extension" ]; then
	echo "pgpull: error: debian/changelog is at version $version, the extension at $extension" >&2
	echo "pgpull: hint: Add a debian/changelog entry for $extension-1 (dch -v $extension-1, from devscripts, or by hand)." >&2
	exit 2
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/src" "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
work="$out/src/pgpull-$extension"
mkdir -p "$work"
tar -C "$src" --exclude=./.git --exclude=./build --exclude=./puller/fuzz/build \
	--exclude=./tmp_check --exclude=./results --exclude='*.o' -cf - . |
	tar -C "$work" -xf -

# PG_UPDATECONTROL: where the supported majors differ from Debian 12's
# (debian/control lists 15), the copy's control follows them.
echo "make deb: dpkg-buildpackage in $work (log: $out/build.log)"
if ! (cd "$work" && PG_UPDATECONTROL=yes dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log"
	echo "pgpull: error: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
fi
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"

changes=$(ls "$out"/pgpull_*.changes)
rc=0
lintian "$changes" >"$out/lintian.log" 2>&1 || rc=$?
cat "$out/lintian.log"
if [ $rc -ne 0 ]; then
	echo "pgpull: error: lintian found errors (E: lines above)" >&2
	exit 1
fi
for deb in "$out"/*.deb; do
	echo "$deb"
done
