#!/bin/sh
# shellcheck disable=SC2317  # cleanup and helpers run from trap and await
# The files relogd's package puts in /etc:
# - etc/relogd/relogd.conf lists every key of config_keys[] (daemon/), and
#   no other; relogd takes it as shipped (it changes nothing) and with every
#   default uncommented; its [relogd] defaults are those the README lists,
#   and the README's list has every key too.
# - etc/logrotate.d/relogd rotates a running relogd's files, and relogd
#   writes on into new ones (relogctl reopen); with relogd not running it
#   says nothing and succeeds.
# usage (from the top of the tree): tests/pkg/check-etc.sh BUILD
set -eu
build=$(cd "$1" && pwd)
conf=etc/relogd/relogd.conf

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relog-etc.XXXXXX")
relogd_pid=
cleanup() {
	if [ -n "$relogd_pid" ]; then
		kill "$relogd_pid" 2>/dev/null || :
		wait "$relogd_pid" 2>/dev/null || :
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

check="check-etc"
# shellcheck source=tests/pkg/lib.sh
. "$(dirname "$0")/lib.sh"

# The keys relogd knows: the names in the config_keys[] table.
source=$(grep -l 'config_keys\[\] = {' daemon/*.c | head -n 1)
[ -n "$source" ] || { echo "check-etc: no config_keys[] in daemon/" >&2; exit 1; }
sed -n '/config_keys\[\] = {/,/^};/s/^[[:space:]]*{ "\([a-z_]*\)",.*/\1/p' \
	"$source" | sort -u >"$tmp/keys"
[ "$(wc -l <"$tmp/keys")" -gt 20 ] ||
	{ echo "check-etc: cannot read the keys of $source" >&2; exit 1; }

# The keys of relogd.conf: ";key = value", each commented out.
sed -n 's/^;\([a-z_]*\) = .*/\1/p' "$conf" | sort -u >"$tmp/listed"
for k in $(comm -23 "$tmp/keys" "$tmp/listed"); do
	fail "$conf lacks $k (in $source)"
done
for k in $(comm -13 "$tmp/keys" "$tmp/listed"); do
	fail "$conf has $k, which $source does not know"
done
if grep -q '^[a-z_]* *=' "$conf"; then
	fail "$conf sets keys: $(grep '^[a-z_]* *=' "$conf")"
fi

# The README's list, "Every key, with its default".
awk '/Every key, with its default/ { on = 1 }
	on && /^```ini$/ { code = 1; next }
	code && /^```$/ { exit }
	code { print }' README.md >"$tmp/readme.ini"
sed -n 's/^;\{0,1\}\([a-z_]*\) = .*/\1/p' "$tmp/readme.ini" | sort -u \
	>"$tmp/readme.keys"
for k in $(comm -23 "$tmp/keys" "$tmp/readme.keys"); do
	fail "README.md's list of keys lacks $k"
done

# As shipped, and with every default uncommented (not the "e.g." lines).
"$build/relogd" --check-config --config "$conf" >"$tmp/out" 2>&1 ||
	fail "relogd --check-config $conf: $(cat "$tmp/out")"
sed 's/^;\([a-z_]* = [^;]*\)\(;.*\)\{0,1\}$/\1\2/' "$conf" |
	sed '/^[a-z_]* = .*; e\.g\./s/^/;/' >"$tmp/defaults.conf"
"$build/relogd" --check-config --config "$tmp/defaults.conf" >"$tmp/out" 2>&1 ||
	fail "relogd --check-config, defaults uncommented: $(cat "$tmp/out")"
# The README's [relogd] defaults: the same values.
section_values() {
	awk '/^\[/ { s = $1 } s == "[relogd]" && /^[a-z_]+ = / {
		v = $3; print $1 " " v }' "$1" | sort
}
section_values "$tmp/defaults.conf" >"$tmp/ours"
section_values "$tmp/readme.ini" >"$tmp/theirs"
while read -r k value; do
	ours=$(sed -n "s/^$k //p" "$tmp/ours")
	[ "$ours" = "$value" ] ||
		fail "default of $k: $conf says '$ours', README.md '$value'"
done <"$tmp/theirs"

# logrotate, on a copy whose files are ours, with relogd running.
if ! command -v logrotate >/dev/null 2>&1; then
	echo "check-etc: no logrotate; the logrotate file is not checked" >&2
	[ $status -eq 0 ] && echo "check-etc: $conf lists every key"
	exit $status
fi
mkdir "$tmp/log" "$tmp/bin"
sed "s|/var/log/relogd/|$tmp/log/|g" etc/logrotate.d/relogd \
	>"$tmp/logrotate.conf"
grep -q "$tmp/log/\*.log" "$tmp/logrotate.conf" ||
	fail "etc/logrotate.d/relogd does not rotate /var/log/relogd/*.log"
# Under systemd the script asks whether relogd.service runs; this relogd
# is not that service, so say yes. relogctl: the one just built.
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/systemctl"
chmod +x "$tmp/bin/systemctl"
ln -s "$build/relogctl" "$tmp/bin/relogctl"

"$build/relogd" --config /dev/null --socket "$tmp/s" --log-dir "$tmp/log" \
	--state-dir "$tmp/state" >"$tmp/relogd.err" 2>&1 &
relogd_pid=$!
await_relogd "$build/relogctl" "$tmp/s" ||
	fail "relogd did not listen within 10 s: $(cat "$tmp/relogd.err")"
export RELOG_SOCKET="$tmp/s"
"$build/relogctl" send -p rot "before the rotation" || fail "relogctl send"
rotate() {
	PATH=$tmp/bin:$PATH logrotate -f -s "$tmp/logrotate.state" \
	    "$tmp/logrotate.conf" >"$tmp/rotate.out" 2>&1
}
rotate || fail "logrotate: $(cat "$tmp/rotate.out")"
[ ! -s "$tmp/rotate.out" ] || fail "logrotate said: $(cat "$tmp/rotate.out")"
"$build/relogctl" send -p rot "after the rotation" || fail "relogctl send"
grep -q 'before the rotation$' "$tmp/log/rot.log.1" 2>/dev/null ||
	fail "rot.log was not rotated to rot.log.1"
if grep -q 'after the rotation$' "$tmp/log/rot.log.1" 2>/dev/null ||
    ! grep -q 'after the rotation$' "$tmp/log/rot.log" 2>/dev/null; then
	fail "relogd wrote on into the rotated file: it did not reopen"
fi

# relogd not running: quiet, and a success.
kill -TERM "$relogd_pid"
wait "$relogd_pid" || fail "relogd exited with $? on SIGTERM"
relogd_pid=
rotate || fail "logrotate without relogd: $(cat "$tmp/rotate.out")"
[ ! -s "$tmp/rotate.out" ] ||
	fail "logrotate without relogd said: $(cat "$tmp/rotate.out")"
if [ ! -e "$tmp/log/rot.log.1" ] || [ ! -e "$tmp/log/rot.log.2.gz" ]; then
	fail "the second rotation did not happen: $(ls "$tmp/log")"
fi

[ $status -eq 0 ] && echo "check-etc: $conf lists every key; logrotate" \
    "rotates, and relogd reopens"
exit $status
