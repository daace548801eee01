#!/bin/sh
# Install the Debian packages relog needs, if any is missing. Cheap when
# nothing is: one dpkg-query a package.
# usage: deps.sh [fuzz|bench|all]  (default: what building and testing need)
set -eu

PACKAGES="gcc make pkg-config libevent-dev libmsgpack-dev libsystemd-dev
libinih-dev libssl-dev check python3 python3-msgpack python3-structlog
python3-fluent-logger valgrind rsyslog rsyslog-openssl openssl"
FUZZ="clang libclang-rt-14-dev"
BENCH="strace"
case "${1:-}" in
fuzz) PACKAGES="$PACKAGES $FUZZ" ;;
bench) PACKAGES="$PACKAGES $BENCH" ;;
all) PACKAGES="$PACKAGES $FUZZ $BENCH" ;;
esac

missing=
for p in $PACKAGES; do
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
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
