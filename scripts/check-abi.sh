#!/bin/sh
# Check librelog's ABI: the exported symbols are exactly those the version
# script lists, the SONAME is right, and it needs neither libmsgpackc nor
# libevent at run time.
# usage: check-abi.sh librelog.so.1 relog.map
set -eu
lib=$1
map=$2

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
	sed 's/@.*//' | grep -v '^RELOG_1$' | sort)
listed=$(sed -n 's/^[[:space:]]*\(relog_[a-z_]*\);.*/\1/p' "$map" | sort)
status=0
if [ "$exported" != "$listed" ]; then
	echo "check-abi: $lib exports other symbols than $map lists" >&2
	echo "  exported: $(echo $exported)" >&2
	echo "  listed:   $(echo $listed)" >&2
	status=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "librelog.so.1" ]; then
	echo "check-abi: SONAME is '$soname', not librelog.so.1" >&2
	status=1
fi
if readelf -d "$lib" | grep NEEDED | grep -Eq 'msgpack|event'; then
	echo "check-abi: $lib needs libmsgpackc or libevent at run time" >&2
	status=1
fi
[ $status -eq 0 ] && echo "check-abi: $lib exports $(echo "$exported" | wc -l) symbols, as $map says"
exit $status
