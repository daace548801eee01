#!/bin/sh
# Build the Debian packages (debian/) into OUT: relogd, librelog1,
# librelog-dev, python3-relog. dpkg-buildpackage writes its results next to
# the tree it builds, so it builds a copy of this tree inside OUT: nothing is
# written outside OUT, and build/ of this tree is left alone. Installs
# nothing: scripts/deps.sh deb installs the build dependencies.
# usage: make-deb.sh OUT  (from the top of the tree)
set -eu
out=$1

version=$(dpkg-parsechangelog -S Version)
if ! missing=$(dpkg-checkbuilddeps 2>&1); then
	echo "$missing" >&2
	echo "make-deb: scripts/deps.sh deb installs them" >&2
	exit 1
fi

rm -rf "$out"
mkdir -p "$out"
src=$out/relog-$version
mkdir "$src"
# The tree as it is, without what builds leave in it.
tar -cf - --exclude=./.git --exclude=./build --exclude=./build-asan \
    --exclude=./build-fuzz --exclude=./shim/python/build \
    --exclude='*.egg-info' --exclude=__pycache__ . | tar -xf - -C "$src"

# -b: binary packages only; the tree is native, there is no source tarball.
# Debian's python3 and compiler, as a Debian build machine has them, not
# one earlier on PATH (pyenv's python3 has none of Debian's modules).
(cd "$src" && PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    dpkg-buildpackage -b -us -uc -j"${JOBS:-2}")
rm -rf "$src"
ls "$out"/*.deb
