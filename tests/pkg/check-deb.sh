#!/bin/sh
# shellcheck disable=SC2317  # cleanup and helpers run from trap and calls
# The Debian packages, as an operator gets them: make deb builds them,
# lintian finds no error, apt-get installs them on this machine, and then:
# every file is where it should be; relogd depends on the libraries its
# programs link and on no test tool; relogd, relogctl, a runner built with
# pkg-config and the README's Python snippet work from /usr; the units
# verify; installing started no relogd. Then apt-get removes them (the
# conffiles stay) and purges them (nothing stays). Whatever fails, the
# packages are purged at exit, and the group relog is deleted if the
# packages made it: the machine is left as it was.
# Needs root or sudo, and scripts/deps.sh build test deb (make
# check-packages installs them).
# usage (from the top of the tree): tests/pkg/check-deb.sh
set -eu
top=$(pwd)
pkgs="relogd librelog1 librelog-dev python3-relog"
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "check-deb: installs packages: run it as root" >&2
	exit 1
fi
apt="$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300"
# A package's state, "ii" or "rc", or nothing when dpkg has no trace of it.
state() {
	dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | tr -d ' '
}
# Purge those of ours dpkg knows (apt-get fails on the others).
purge() {
	left=
	for p in $pkgs; do
		[ -z "$(state "$p")" ] || left="$left $p"
	done
	# shellcheck disable=SC2086
	[ -z "$left" ] || $apt purge $left
}
for p in $pkgs; do
	if [ -n "$(state "$p")" ]; then
		echo "check-deb: $p is on this machine ($(state "$p")); this" \
		    "test would purge it: purge it first" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relog-deb.XXXXXX")
had_group=no
getent group relog >/dev/null && had_group=yes
installing=no
relogd_pid=
cleanup() {
	if [ -n "$relogd_pid" ]; then
		kill "$relogd_pid" 2>/dev/null || :
		wait "$relogd_pid" 2>/dev/null || :
	fi
	if [ "$installing" = yes ] && ! purge >"$tmp/cleanup.log" 2>&1; then
		echo "check-deb: could not purge the packages:" >&2
		cat "$tmp/cleanup.log" >&2
	fi
	if [ "$had_group" = no ] && getent group relog >/dev/null; then
		$SUDO groupdel relog
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

check="check-deb"
# shellcheck source=tests/pkg/lib.sh
. "$(dirname "$0")/lib.sh"

# No process runs /usr/sbin/relogd.
no_relogd() {
	for exe in /proc/[0-9]*/exe; do
		[ "$(readlink "$exe" 2>/dev/null)" != /usr/sbin/relogd ] ||
			return 1
	done
}

# Build: the Check suites ran already (make check), the packages need not.
DEB_BUILD_OPTIONS=nocheck JOBS=2 make --no-print-directory deb \
	>"$tmp/build.log" 2>&1 ||
	die "make deb failed: $(tail -n 30 "$tmp/build.log")"
# Exactly the four, as "apt install ./build/deb/*.deb" takes them.
debs=
for f in "$top"/build/deb/*.deb; do
	p=${f##*/}
	case " $pkgs " in
	*" ${p%%_*} "*) debs="$debs $f" ;;
	*) die "make deb made a package this test does not know: $p" ;;
	esac
done
for p in $pkgs; do
	case $debs in
	*"/${p}_"*) ;;
	*) die "make deb made no $p package" ;;
	esac
done

# lintian: no error (warnings are shown).
# shellcheck disable=SC2086
lintian $debs >"$tmp/lintian.out" 2>&1 || :
grep -v '^running with root privileges' "$tmp/lintian.out" >&2 || :
if grep -q '^E: ' "$tmp/lintian.out"; then
	die "lintian found errors"
fi

# Install, as the README says.
installing=yes
# shellcheck disable=SC2086
$apt install $debs >"$tmp/install.log" 2>&1 ||
	die "apt-get install failed: $(cat "$tmp/install.log")"
for p in $pkgs; do
	[ "$(state "$p")" = ii ] || fail "$p is not installed: $(state "$p")"
done
no_relogd || fail "installing started /usr/sbin/relogd"

# Contents.
owns() {
	pkg=$1
	shift
	for f; do
		[ -e "$f" ] || fail "$f is missing"
		dpkg-query -L "$pkg" | grep -qx "$f" || fail "$pkg does not own $f"
	done
}
owns relogd /usr/sbin/relogd /usr/bin/relogctl \
	/lib/systemd/system/relogd.service /lib/systemd/system/relogd.socket \
	/usr/lib/sysusers.d/relog.conf /usr/share/man/man8/relogd.8.gz \
	/usr/share/man/man5/relogd.conf.5.gz /usr/share/man/man1/relogctl.1.gz \
	/etc/relogd/relogd.conf /etc/logrotate.d/relogd
owns librelog1 "/usr/lib/$ma/librelog.so.1"
owns librelog-dev /usr/include/relog.h "/usr/lib/$ma/librelog.so" \
	"/usr/lib/$ma/librelog.a" "/usr/lib/$ma/pkgconfig/relog.pc" \
	/usr/share/man/man3/librelog.3.gz
owns python3-relog /usr/lib/python3/dist-packages/relog.py
conffiles=$(dpkg-query -W -f='${Conffiles}' relogd)
for f in /etc/relogd/relogd.conf /etc/logrotate.d/relogd; do
	echo "$conffiles" | grep -q "^ $f " || fail "$f is not a conffile"
done
cmp -s /etc/relogd/relogd.conf etc/relogd/relogd.conf ||
	fail "/etc/relogd/relogd.conf is not etc/relogd/relogd.conf"
[ -L /etc/systemd/system/sockets.target.wants/relogd.socket ] ||
	fail "relogd.socket was not enabled"
getent group relog >/dev/null || fail "no group relog after installing"
soname=$(readelf -d "/usr/lib/$ma/librelog.so.1" |
	sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = librelog.so.1 ] || fail "librelog.so.1's SONAME is '$soname'"
[ "$(readlink "/usr/lib/$ma/librelog.so")" = librelog.so.1 ] ||
	fail "librelog.so does not point at librelog.so.1"
[ -s "$(dpkg-query --control-path librelog1 symbols)" ] ||
	fail "librelog1 has no symbols file"
[ "$(pkg-config --variable=libdir relog)" = "/usr/lib/$ma" ] ||
	fail "relog.pc: libdir=$(pkg-config --variable=libdir relog)"

# Dependencies: the package of every library relogd and relogctl link, and
# no test tool anywhere.
depends=$(dpkg-query -W -f='${Depends}' relogd | tr ',' '\n' |
	sed 's/^ *//; s/[ :(].*//')
for bin in /usr/sbin/relogd /usr/bin/relogctl; do
	for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		owner=$(dpkg -S "*/$lib" 2>/dev/null | head -n 1 | sed 's/[:,].*//')
		[ -n "$owner" ] || { fail "no package has $lib ($bin)"; continue; }
		echo "$depends" | grep -qx "$owner" ||
			fail "relogd does not depend on $owner ($lib, $bin)"
	done
done
tools='rsyslog|valgrind|check|gcc|python3-fluent-logger|python3-structlog'
tools="$tools|python3-msgpack|lintian|debhelper"
for p in $pkgs; do
	rels=$(dpkg-query -W -f='${Pre-Depends}, ${Depends}, ${Recommends}' "$p")
	if echo "$rels" | grep -Eqw "$tools"; then
		fail "$p pulls in test or build tools: $rels"
	fi
done
dpkg-query -W -f='${Depends}' python3-relog | grep -qw librelog1 ||
	fail "python3-relog does not depend on librelog1"

# From /usr.
/usr/sbin/relogd --version | grep -q '^relogd [0-9]' ||
	fail "relogd --version: $(/usr/sbin/relogd --version 2>&1)"
help=$(/usr/bin/relogctl --help 2>&1) || [ $? -eq 2 ] ||
	fail "relogctl --help failed"
echo "$help" | grep -q '^usage: relogctl' || fail "relogctl --help: $help"
[ "$(/usr/sbin/relogd --check-config 2>&1)" = "/etc/relogd/relogd.conf: ok" ] ||
	fail "relogd --check-config: $(/usr/sbin/relogd --check-config 2>&1)"
if command -v systemd-analyze >/dev/null 2>&1; then
	if ! systemd-analyze verify /lib/systemd/system/relogd.socket \
	    /lib/systemd/system/relogd.service >"$tmp/verify.out" 2>&1 ||
	    [ -s "$tmp/verify.out" ]; then
		fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
	fi
fi
if command -v logrotate >/dev/null 2>&1; then
	logrotate -d /etc/logrotate.d/relogd >"$tmp/logrotate.out" 2>&1 ||
		fail "logrotate -d: $(cat "$tmp/logrotate.out")"
fi

# A runner built against librelog-dev, relogctl and the README's Python
# snippet (python3-relog finds librelog1 by its SONAME), through relogd.
cat >"$tmp/runner.c" <<'EOF'
#include <relog.h>
int
main(void)
{
	relog_t *h = relog_open(NULL);

	if (h == NULL)
		return (1);
	relog_log(h, RELOG_INFO, "plugin.debrunner", "from a runner");
	return (relog_close(h, 5000) != 0);
}
EOF
# shellcheck disable=SC2046
cc -Wall -Werror -o "$tmp/runner" "$tmp/runner.c" $(pkg-config --cflags \
	--libs relog) || fail "a runner does not build with pkg-config relog"
awk '/^## / { in_section = ($0 == "## Python runners") }
	in_section && /^```python$/ { in_code = 1; next }
	in_code && /^```$/ { exit }
	in_code { print }' README.md >"$tmp/snippet.py"
logger=$(sed -n 's/.*getLogger("\(plugin\.[^"]*\)").*/\1/p' \
	"$tmp/snippet.py" | head -n 1)
plugin=$(echo "$logger" | cut -d. -f2)

/usr/sbin/relogd --socket "$tmp/s" --log-dir "$tmp/log" \
	--state-dir "$tmp/state" >"$tmp/relogd.err" 2>&1 &
relogd_pid=$!
await_relogd /usr/bin/relogctl "$tmp/s" ||
	die "relogd did not listen within 10 s: $(cat "$tmp/relogd.err")"
# In $tmp, with nothing pointing at the build tree.
in_tmp() {
	(cd "$tmp" && env -u RELOG_LIBRARY -u LD_LIBRARY_PATH -u PYTHONPATH \
	    RELOG_SOCKET="$tmp/s" "$@")
}
in_tmp ./runner || fail "the runner's records were not delivered"
in_tmp /usr/bin/relogctl send -p debctl "from relogctl" ||
	fail "relogctl send failed"
in_tmp /usr/bin/python3 snippet.py >"$tmp/py.out" 2>&1 ||
	fail "the README's snippet failed: $(cat "$tmp/py.out")"
in_tmp /usr/bin/relogctl stats >/dev/null || fail "relogctl stats failed"
grep -q ' INFO \[plugin.debrunner\] from a runner$' "$tmp/log/debrunner.log" ||
	fail "the runner's record is not in debrunner.log"
grep -q ' INFO \[plugin.debctl\] from relogctl$' "$tmp/log/debctl.log" ||
	fail "relogctl's record is not in debctl.log"
grep -q " INFO \[$logger\] " "$tmp/log/$plugin.log" ||
	fail "the README's snippet's record is not in $plugin.log"
kill -TERM "$relogd_pid"
wait "$relogd_pid" || fail "relogd exited with $? on SIGTERM"
relogd_pid=

# Remove: the programs go, the conffiles stay.
# shellcheck disable=SC2086
$apt remove $pkgs >"$tmp/remove.log" 2>&1 ||
	die "apt-get remove failed: $(cat "$tmp/remove.log")"
for f in /usr/sbin/relogd /usr/bin/relogctl "/usr/lib/$ma/librelog.so.1" \
    /usr/lib/python3/dist-packages/relog.py /usr/include/relog.h; do
	[ ! -e "$f" ] || fail "$f is still there after apt-get remove"
done
[ -e /etc/relogd/relogd.conf ] ||
	fail "apt-get remove took /etc/relogd/relogd.conf (a conffile)"
[ "$(state relogd)" = rc ] || fail "relogd after remove: $(state relogd)"

# Purge: nothing stays.
purge >"$tmp/purge.log" 2>&1 ||
	die "apt-get purge failed: $(cat "$tmp/purge.log")"
for p in $pkgs; do
	[ -z "$(state "$p")" ] || fail "$p after purge: $(state "$p")"
done
for f in /etc/relogd /etc/logrotate.d/relogd \
    /etc/systemd/system/sockets.target.wants/relogd.socket \
    /lib/systemd/system/relogd.service /usr/lib/sysusers.d/relog.conf; do
	if [ -e "$f" ] || [ -L "$f" ]; then
		fail "$f is still there after purge"
	fi
done
no_relogd || fail "a /usr/sbin/relogd still runs"

[ $status -eq 0 ] && echo "check-deb: built, lintian-clean, installed," \
    "checked, removed and purged: $pkgs"
exit $status
