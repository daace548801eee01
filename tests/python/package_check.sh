#!/bin/sh
# The Python package (shim/python) as a user installs it: pip installs it
# offline into a venv made with Debian's python3 and its system packages,
# and the README's snippet, run as printed, logs through a real relogd.
# Then: relog.install() twice adds one handler; RELOG_LIBRARY overrides the
# SONAME; without the library there is one clear error.
# usage (from the top of the tree): tests/python/package_check.sh BUILD
set -eu
build=$(cd "$1" && pwd)
top=$(pwd)
python=/usr/bin/python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/relog-pkg.XXXXXX")
relogd_pid=
# pip builds in the source folder; remove what it leaves there, unless it
# was there before.
leftovers=
for d in shim/python/build shim/python/relog.egg-info; do
	[ -e "$d" ] || leftovers="$leftovers $d"
done
cleanup() {
	if [ -n "$relogd_pid" ]; then
		kill "$relogd_pid" 2>/dev/null || :
		wait "$relogd_pid" 2>/dev/null || :
	fi
	# shellcheck disable=SC2086
	[ -z "$leftovers" ] || (cd "$top" && rm -rf $leftovers)
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

check="package_check"
# shellcheck source=tests/pkg/lib.sh
. "$top/tests/pkg/lib.sh"

$python -m venv --system-site-packages "$tmp/venv" ||
	die "cannot make a venv (python3-venv missing?)"
"$tmp/venv/bin/pip" install -q --no-index --no-build-isolation \
	./shim/python >"$tmp/pip.out" 2>&1 ||
	die "pip install ./shim/python failed: $(cat "$tmp/pip.out")"
vpython=$tmp/venv/bin/python
where=$(cd "$tmp" && "$vpython" -c 'import relog; print(relog.__file__)')
case $where in
"$tmp"/venv/*) ;;
*) die "import relog found $where, not the venv's" ;;
esac

# The README's snippet: the ```python block of "## Python runners".
awk '/^## / { in_section = ($0 == "## Python runners") }
	in_section && /^```python$/ { in_code = 1; next }
	in_code && /^```$/ { exit }
	in_code { print }' README.md >"$tmp/snippet.py"
[ -s "$tmp/snippet.py" ] ||
	die "no \`\`\`python block in README.md's \"Python runners\""
# Its logger, plugin.ID...: the record goes to ID.log.
logger=$(sed -n 's/.*getLogger("\(plugin\.[^"]*\)").*/\1/p' \
	"$tmp/snippet.py" | head -n 1)
[ -n "$logger" ] || die "the README's snippet logs on no plugin.* logger"
plugin=$(echo "$logger" | cut -d. -f2)

"$build/relogd" --config /dev/null --socket "$tmp/s" \
	--log-dir "$tmp/log" --state-dir "$tmp/state" \
	>"$tmp/relogd.err" 2>&1 &
relogd_pid=$!
await_relogd "$build/relogctl" "$tmp/s" ||
	die "relogd did not listen within 10 s: $(cat "$tmp/relogd.err")"

# Run from $tmp: no relog.py in the current folder.
run() {
	(cd "$tmp" && env -u RELOG_LIBRARY -u LD_LIBRARY_PATH \
	    RELOG_SOCKET="$tmp/s" "$@")
}

# As printed, with librelog found through the dynamic linker.
run env LD_LIBRARY_PATH="$build" "$vpython" snippet.py \
	>"$tmp/out" 2>&1 || die "the README's snippet failed: $(cat "$tmp/out")"
[ ! -s "$tmp/out" ] || die "the README's snippet said: $(cat "$tmp/out")"
# The handler closed at exit once relogd had acknowledged the record, and
# relogd acknowledges what it has written: no waiting.
grep -q " INFO \[$logger\] " "$tmp/log/$plugin.log" 2>/dev/null ||
	die "the README's snippet wrote no INFO record into $plugin.log"

# install() is idempotent, sets the root logger's level, and RELOG_LIBRARY
# overrides the SONAME.
cat >"$tmp/twice.py" <<'EOF'
import logging, relog
first = relog.install()
assert relog.install() is first, "a second install() made a second handler"
root = logging.getLogger()
assert [h for h in root.handlers if isinstance(h, relog.RelogHandler)] == \
    [first], root.handlers
assert root.level == logging.INFO, root.level
logging.getLogger("plugin.twice").info("once")
EOF
run env RELOG_LIBRARY="$build/librelog.so.1" "$vpython" twice.py \
	>"$tmp/out" 2>&1 || die "install() twice: $(cat "$tmp/out")"
n=$(grep -c " INFO \[plugin.twice\] once$" "$tmp/log/twice.log" 2>/dev/null) ||
	:
[ "$n" = 1 ] || die "plugin.twice: $n records, not 1"

kill -TERM "$relogd_pid"
wait "$relogd_pid" || die "relogd exited with $? after SIGTERM"
relogd_pid=

# No library: one exception that says what to do, and nothing at exit.
if /sbin/ldconfig -p | grep -q 'librelog\.so\.1 '; then
	echo "package_check: librelog.so.1 is installed; the missing library" \
	    "case is skipped" >&2
else
	status=0
	run "$vpython" snippet.py >"$tmp/out" 2>&1 || status=$?
	[ $status -eq 1 ] ||
		die "without librelog the snippet exited $status: $(cat "$tmp/out")"
	want="relog.LibraryNotFound: librelog.so.1 not found: install librelog1"
	want="$want or set RELOG_LIBRARY"
	[ "$(tail -n 1 "$tmp/out")" = "$want" ] ||
		die "without librelog: $(cat "$tmp/out")"
	if [ "$(grep -c '^Traceback' "$tmp/out")" != 1 ] ||
	    grep -q 'During handling\|Exception ignored\|AttributeError' \
	    "$tmp/out"; then
		die "without librelog, more than one error: $(cat "$tmp/out")"
	fi
fi
echo "package_check: pip installed shim/python into a venv; the README's" \
    "snippet logged through relogd"
