/*
 * Runs every relog suite. Check's environment variables apply: CK_RUN_SUITE
 * and CK_RUN_CASE to pick, CK_FORK=no for gdb and valgrind, CK_VERBOSITY,
 * CK_INCLUDE_TAGS=unit for the suites that start nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests.h"

/* The harness's failures fail the test, as a failed check does. */
void
harness_fail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ck_abort_msg("%s", msg);
}

/* Run every suite; exit 0 if no test failed. */
int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(suite_ring());
	srunner_add_suite(sr, suite_codec());
	srunner_add_suite(sr, suite_shim());
	srunner_add_suite(sr, suite_spool());
	srunner_add_suite(sr, suite_config());
	srunner_add_suite(sr, suite_daemon());
	srunner_add_suite(sr, suite_limits());
	srunner_add_suite(sr, suite_ctl());
	srunner_add_suite(sr, suite_syslog());
	srunner_add_suite(sr, suite_fluent());
	srunner_add_suite(sr, suite_remote());
	srunner_add_suite(sr, suite_ids());
	srunner_add_suite(sr, suite_security());
	srunner_add_suite(sr, suite_show());
	srunner_add_suite(sr, suite_metrics());
	srunner_add_suite(sr, suite_cli());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
