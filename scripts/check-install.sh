#!/bin/sh
# Check "make install": stage it under BUILD/stage, see that every file is
# there, and build and link a runner against the staged header, library and
# relog.pc, as a user of the package would.
# usage: check-install.sh BUILD
set -eu
build=$1
stage=$(mktemp -d "${TMPDIR:-/tmp}/relog-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

make --no-print-directory -s install BUILD="$build" PREFIX=/usr \
	DESTDIR="$stage" >/dev/null
status=0
for f in usr/sbin/relogd usr/bin/relogctl usr/lib/librelog.so.1 \
    usr/lib/librelog.so \
    usr/lib/librelog.a usr/include/relog.h usr/lib/pkgconfig/relog.pc \
    usr/lib/systemd/system/relogd.service \
    usr/lib/systemd/system/relogd.socket usr/lib/sysusers.d/relog.conf \
    usr/share/man/man1/relogctl.1 usr/share/man/man3/librelog.3 \
    usr/share/man/man5/relogd.conf.5 usr/share/man/man8/relogd.8; do
	if [ ! -e "$stage/$f" ]; then
		echo "check-install: /$f was not installed" >&2
		status=1
	fi
done
if grep -q '@[A-Z]*@' "$stage/usr/lib/pkgconfig/relog.pc" \
    "$stage/usr/lib/systemd/system/relogd.service"; then
	echo "check-install: a @PLACEHOLDER@ was left in" >&2
	status=1
fi
grep -q '^ExecStart=/usr/sbin/relogd ' \
    "$stage/usr/lib/systemd/system/relogd.service" || {
	echo "check-install: relogd.service does not start /usr/sbin/relogd" >&2
	status=1
}

cat > "$stage/runner.c" <<'C'
#include <relog.h>
int
main(void)
{
	relog_t *h = relog_open(NULL);

	relog_log(h, RELOG_INFO, "plugin.x", "hello %d", 1);
	return (relog_close(h, 0) == -22);
}
C
flags=$(PKG_CONFIG_SYSROOT_DIR="$stage" \
	PKG_CONFIG_LIBDIR="$stage/usr/lib/pkgconfig" \
	pkg-config --cflags --libs relog)
${CC:-cc} -Wall -Werror -o "$stage/runner" "$stage/runner.c" $flags || status=1
[ $status -eq 0 ] && echo "check-install: make install staged every file; a runner builds against it"
exit $status
