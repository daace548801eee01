# What the package checks share; sourced, with $check set to the script's
# name. fail says what is wrong and marks the run failed (status); die
# says it and stops; await waits up to 10 s for a test to pass, polling;
# await_relogd waits so for relogd to answer relogctl on a socket.
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

# await_relogd RELOGCTL SOCKET: not for the socket's file, which bind makes
# before relogd listens (and strace may stop relogd between the two).
await_relogd() {
	await "$1" -s "$2" stats >/dev/null 2>&1
}
