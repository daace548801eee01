#!/bin/sh
# Install the Debian packages of the named sets that are missing. Cheap when
# nothing is: one dpkg-query a package.
#
#   build    compile relogd, relogctl and librelog
#   runtime  run what was built (no compiler, no test tools)
#   test     what make check runs besides the build: the Check suites'
#            peers (rsyslog, Fluent's logger), valgrind, the Python checks
#   deb      make deb (debian/control's Build-Depends) and lintian
#   fuzz     make fuzz (clang's libFuzzer)
#   bench    make bench
#   all      every set above
#
# usage: deps.sh [SET...]  (default: build test)
set -eu

BUILD="gcc make pkg-config libevent-dev libmsgpack-dev libsystemd-dev
libinih-dev libssl-dev zlib1g-dev"
# What the binaries link, and Python for the logging handler; the deb
# packages get theirs from ${shlibs:Depends} instead.
RUNTIME="libevent-2.1-7 libevent-openssl-2.1-7 libmsgpackc2 libsystemd0
libinih1 libssl3 zlib1g python3"
# python3-venv, -setuptools and -wheel: pip installs shim/python into a
# venv offline. logrotate and strace: the checks of the shipped files.
TEST="check python3 python3-msgpack python3-structlog python3-fluent-logger
python3-venv python3-setuptools python3-wheel valgrind rsyslog
rsyslog-openssl openssl logrotate strace"
DEB="debhelper dpkg-dev dh-python pybuild-plugin-pyproject python3-all
python3-setuptools python3-wheel lintian"
FUZZ="clang libclang-rt-14-dev"
BENCH="strace"

[ $# -gt 0 ] || set -- build test
PACKAGES=
for set in "$@"; do
	case $set in
	build) PACKAGES="$PACKAGES $BUILD" ;;
	runtime) PACKAGES="$PACKAGES $RUNTIME" ;;
	test) PACKAGES="$PACKAGES $TEST" ;;
	deb) PACKAGES="$PACKAGES $DEB" ;;
	fuzz) PACKAGES="$PACKAGES $FUZZ" ;;
	bench) PACKAGES="$PACKAGES $BENCH" ;;
	all) PACKAGES="$PACKAGES $BUILD $RUNTIME $TEST $DEB $FUZZ $BENCH" ;;
	*)
		echo "usage: deps.sh [build|runtime|test|deb|fuzz|bench|all]..." >&2
		exit 2
		;;
	esac
done

missing=
for p in $PACKAGES; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "relog: installing missing packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "relog: run as root: apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt or dpkg to finish rather than fail on its lock.
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
# shellcheck disable=SC2086
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
	--no-install-recommends $missing >/dev/null
