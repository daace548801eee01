#!/bin/sh
# Run the Check suites one by one, quietly: a line per suite with its
# count and time, everything the suite and what it started printed kept in
# build/test-logs/PASS/SUITE.log, printed when the suite fails; a total at
# the end. Exits 1 if any suite failed.
#
#   scripts/run-tests.sh PASS TESTS [WRAPPER...]
#
# runs "WRAPPER... TESTS" once per suite TESTS --list names, with
# CK_RUN_SUITE set; the environment (CK_INCLUDE_TAGS, RELOG_VALGRIND, ...)
# is passed on.
set -u

pass=$1
tests=$2
shift 2
logs=$(dirname "$tests")/test-logs/$pass
rm -rf "$logs"
mkdir -p "$logs"

total=0
nsuites=0
failed=""
start=$(date +%s)
for suite in $("$tests" --list); do
	log=$logs/$suite.log
	t0=$(date +%s%N)
	CK_RUN_SUITE=$suite CK_VERBOSITY=normal "$@" "$tests" >"$log" 2>&1
	status=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	secs=$((ms / 1000)).$((ms % 1000 / 100))
	summary=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
	checks=$(echo "$summary" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	checks=${checks:-0}
	if [ "$status" -eq 0 ] && [ -n "$summary" ]; then
		[ "$checks" -eq 0 ] && continue	# none of its cases in this pass
		printf '  %-9s %-10s %4d checks %7s s\n' "$pass" "$suite" \
		    "$checks" "$secs"
		total=$((total + checks))
		nsuites=$((nsuites + 1))
		continue
	fi
	printf '  %-9s %-10s FAILED (exit %d, %s s): %s\n' "$pass" "$suite" \
	    "$status" "$secs" "$log"
	echo "---- the failures ($log) ----"
	grep -E ':[FE]:' "$log" | head -n 40
	echo "---- its last 60 lines ----"
	tail -n 60 "$log"
	echo "----"
	failed="$failed $suite"
done
secs=$(( $(date +%s) - start ))
if [ -n "$failed" ]; then
	echo "$pass: FAILED:$failed (logs in $logs)"
	exit 1
fi
echo "$pass: $total checks in $nsuites suites passed, $secs s"
