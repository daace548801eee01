#!/bin/sh
# shellcheck disable=SC2317  # cleanup and traced run from trap and await
# The shipped systemd units run the README's configuration: forwarding to
# collectors over TCP and TLS after a DNS lookup, and forward_socket.
#
# 1. systemd-analyze verify accepts the units as "make install" stages them
#    (relogd's path pointed at the build, since it is not installed).
# 2. relogd.service keeps its protections and its CPUWeight= (the bench's
#    cgroups weigh relogd as it does), has no PrivateNetwork=, allows
#    AF_UNIX, AF_INET and AF_INET6, and gives relogd a writable folder for
#    the forward_socket path that etc/relogd/relogd.conf and the README
#    recommend, in the group relogd.socket gives its socket.
# 3. relogd with a config that forwards to four collectors (a name to look
#    up, TLS, IPv4, IPv6) and binds forward_socket, under strace: it makes
#    sockets of those families only, binds no IP port (SocketBindDeny=),
#    and writes only in the folders the unit makes writable (here under a
#    temporary folder), reading nothing in /home, /root or the host's /tmp.
# systemd is not PID 1 here: the units are not started.
# usage (from the top of the tree): tests/pkg/check-units.sh BUILD
set -eu
build=$(cd "$1" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relog-units.XXXXXX")
tracer_pid=
relogd_pid=
cleanup() {
	[ -z "$relogd_pid" ] || kill "$relogd_pid" 2>/dev/null || :
	if [ -n "$tracer_pid" ]; then
		kill "$tracer_pid" 2>/dev/null || :
		wait "$tracer_pid" 2>/dev/null || :
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

check="check-units"
# shellcheck source=tests/pkg/lib.sh
. "$(dirname "$0")/lib.sh"

make --no-print-directory -s install BUILD="$build" PREFIX=/usr \
	DESTDIR="$tmp/stage" >/dev/null
units=$tmp/stage/usr/lib/systemd/system
service=$units/relogd.service

# The values of a [Service] key, one a line, as systemd joins them.
setting() {
	sed -n "s/^$1=//p" "$service"
}

# 1. systemd-analyze verify.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$tmp/verify"
	sed "s|^ExecStart=/usr/sbin/relogd |ExecStart=$build/relogd |" \
		"$service" >"$tmp/verify/relogd.service"
	cp "$units/relogd.socket" "$tmp/verify/"
	# --man=no: the man pages are not installed either.
	if ! systemd-analyze verify --man=no "$tmp/verify/relogd.service" \
	    "$tmp/verify/relogd.socket" >"$tmp/verify.out" 2>&1 ||
	    [ -s "$tmp/verify.out" ]; then
		fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
	fi
else
	echo "check-units: no systemd-analyze; verify skipped" >&2
fi

# 2. The settings.
for want in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes PrivateDevices=yes PrivateMounts=yes \
    ProtectKernelTunables=yes ProtectKernelModules=yes \
    ProtectKernelLogs=yes ProtectControlGroups=yes ProtectClock=yes \
    ProtectHostname=yes ProtectProc=invisible ProcSubset=pid \
    RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes \
    LockPersonality=yes MemoryDenyWriteExecute=yes \
    SystemCallArchitectures=native CapabilityBoundingSet= \
    SocketBindDeny=any CPUWeight=400; do
	grep -qx "$want" "$service" || fail "relogd.service lacks $want"
done
case $(setting PrivateNetwork) in
"" | no | false | off | 0) ;;
*) fail "PrivateNetwork=$(setting PrivateNetwork): no collector reachable" ;;
esac
families=$(setting RestrictAddressFamilies | tr '\n' ' ')
case $families in
"~"*) fail "RestrictAddressFamilies= is a deny list: $families" ;;
esac
for f in AF_UNIX AF_INET AF_INET6; do
	case " $families " in
	*" $f "*) ;;
	*) fail "RestrictAddressFamilies= lacks $f: $families" ;;
	esac
done
if grep -q '^\(InaccessiblePaths\|TemporaryFileSystem\)=.*/etc' "$service"; then
	fail "relogd.service hides /etc (resolv.conf, hosts, CAs)"
fi

fwd=$(sed -n 's/^;forward_socket = \([^ ]*\).*/\1/p' etc/relogd/relogd.conf)
fwd_dir=${fwd%/*}
case $fwd_dir in
/run/?*) ;;
*) fail "relogd.conf recommends forward_socket = '$fwd', not under /run" ;;
esac
runtime_dirs=" $(setting RuntimeDirectory | tr '\n' ' ') "
case $runtime_dirs in
*" ${fwd_dir#/run/} "*) ;;
*) fail "RuntimeDirectory= ($runtime_dirs) does not make $fwd_dir" ;;
esac
grep -qF "$fwd" README.md || fail "README.md does not name $fwd"
group=$(sed -n 's/^SocketGroup=//p' "$units/relogd.socket")
case " $(setting SupplementaryGroups | tr '\n' ' ') " in
*" $group "*) ;;
*) fail "relogd is not in $group: socket_group = $group fails" ;;
esac

# 3. relogd forwarding, traced. The unit's writable folders, under $tmp.
logs=$tmp/var/log/$(setting LogsDirectory)
state=$tmp/var/lib/$(setting StateDirectory)
mkdir -p "$logs" "$state" "$tmp$fwd_dir"
cat >"$tmp/forward.conf" <<EOF
[relogd]
forward_socket = $tmp$fwd
forward = syslog://collector.invalid:514, syslog+tls://127.0.0.1:1, fluent://[::1]:1, fluent+tls://localhost:1
EOF
"$build/relogd" --check-config --config "$tmp/forward.conf" >"$tmp/out" 2>&1 ||
	fail "relogd --check-config: $(cat "$tmp/out")"

if ! command -v strace >/dev/null 2>&1; then
	echo "check-units: no strace; the traced run is skipped" >&2
	exit $status
fi
calls=socket,bind,connect,open,openat,creat,mkdir,mkdirat,unlink,unlinkat
calls=$calls,rename,renameat,renameat2
strace -f -qq -y -o "$tmp/trace" -e trace=$calls "$build/relogd" --config "$tmp/forward.conf" --socket "$tmp/s" \
	--log-dir "$logs" --state-dir "$state" >"$tmp/relogd.err" 2>&1 &
tracer_pid=$!
# strace writes "PID syscall(...)"; the first line is relogd's.
await test -s "$tmp/trace" || fail "strace wrote nothing"
relogd_pid=$(awk 'NR == 1 { print $1 }' "$tmp/trace")
await_relogd "$build/relogctl" "$tmp/s" ||
	fail "relogd did not listen within 10 s: $(cat "$tmp/relogd.err")"
# A sink connects when it has records.
RELOG_SOCKET=$tmp/s "$build/relogctl" send -p units "forwarded" ||
	fail "relogctl send failed"

# Every sink has asked for its socket: TCP over IPv4 (TLS and plain, for
# the numeric address and localhost from /etc/hosts), TCP over IPv6, and
# UDP to the name servers for collector.invalid.
traced() {
	[ "$(grep -c 'socket(AF_INET, SOCK_STREAM' "$tmp/trace")" -ge 2 ] &&
	    grep -q 'socket(AF_INET6, SOCK_STREAM' "$tmp/trace" &&
	    grep -q 'socket(AF_INET6\?, SOCK_DGRAM' "$tmp/trace" &&
	    test -S "$tmp$fwd"
}
await traced ||
	fail "relogd did not try every collector and bind $fwd within 10 s"
kill -TERM "$relogd_pid"
wait "$tracer_pid" ||
	fail "relogd exited with $? on SIGTERM: $(cat "$tmp/relogd.err")"
tracer_pid=
relogd_pid=

# Families: those RestrictAddressFamilies= allows.
made=$(sed -n 's/.*socket(\(AF_[A-Z0-9]*\),.*/\1/p' "$tmp/trace" | sort -u)
for f in $made; do
	case " $families " in
	*" $f "*) ;;
	*) fail "relogd made an $f socket, which relogd.service refuses" ;;
	esac
done
if grep -q 'bind([0-9]*\(<[^>]*>\)\?, {sa_family=AF_INET' "$tmp/trace"; then
	fail "relogd bound an IP socket, which SocketBindDeny=any refuses:" \
	    "$(grep 'bind(.*AF_INET' "$tmp/trace")"
fi
# The path each traced call names: a name relative to a folder's fd (strace
# -y shows it as "N<folder>") joined to that folder, else the call's first
# string.
paths() {
	sed -n -e 's|.*at2*([0-9]*<\([^>]*\)>, "\([^"/][^"]*\)".*|\1/\2|p; t' \
	    -e 's/.*"\([^"]*\)".*/\1/p'
}
# Writes: only in the unit's writable folders. $tmp/s stands for the socket
# relogd.socket passes, which relogd does not bind under systemd.
writes=$(grep -E 'O_WRONLY|O_RDWR|O_CREAT|creat\(|mkdir|unlink|rename|bind\(' \
	"$tmp/trace" | grep -v ' = -1 ' | paths | sort -u)
for path in $writes; do
	case $path in
	"$logs"/* | "$state" | "$state"/* | "$tmp$fwd_dir"/* | "$tmp/s") ;;
	/dev/null) ;;
	*) fail "relogd wrote $path, outside the folders relogd.service makes writable" ;;
	esac
done
# Reads: nothing ProtectHome= or PrivateTmp= hides.
reads=$(grep -E 'open(at)?\(' "$tmp/trace" | grep -v ' = -1 ' | paths |
	sort -u)
for path in $reads; do
	case $path in
	"$tmp"/*) ;;
	/home/* | /root/* | /tmp/* | /var/tmp/* | /run/user/*)
		fail "relogd read $path, which relogd.service hides" ;;
	esac
done
grep -q '"/etc/resolv.conf"' "$tmp/trace" ||
	fail "relogd did not read /etc/resolv.conf: no DNS lookup was traced"

[ $status -eq 0 ] && echo "check-units: relogd.service verifies, and lets" \
    "relogd forward over TCP, TLS and DNS and bind $fwd"
exit $status
