# What the package checks share; sourced, with $check set to the script's
# name. fail says what is wrong and marks the run failed (status); die
# says it and stops; await waits up to 10 s for a test to pass, polling.
# shellcheck shell=sh
status=0
fail() {
	echo "$check: $*" >&2
	status=1
}

die() {
	echo "$check: $*" >&2
	exit 1
}

await() {
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -lt 200 ] || return 1
		sleep 0.05
	done
}
