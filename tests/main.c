/*
 * Runs every relog suite. Check's environment variables apply: CK_RUN_SUITE
 * and CK_RUN_CASE to pick, CK_FORK=no for gdb and valgrind, CK_VERBOSITY,
 * CK_INCLUDE_TAGS=unit for the suites that start nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The suites, in the order they run. */
static const struct {
	const char *name;
	Suite *(*make)(void);
} main_suites[] = {
	{ "shmring", suite_shmring },
	{ "codec", suite_codec },
	{ "shim", suite_shim }, { "spool", suite_spool },
	{ "config", suite_config }, { "daemon", suite_daemon },
	{ "limits", suite_limits }, { "ctl", suite_ctl },
	{ "syslog", suite_syslog }, { "fluent", suite_fluent },
	{ "remote", suite_remote }, { "ids", suite_ids },
	{ "security", suite_security }, { "show", suite_show },
	{ "metrics", suite_metrics }, { "cli", suite_cli },
	{ "ringd", suite_ringd }, { "crash", suite_crash },
};

/*
 * Run every suite (CK_RUN_SUITE: one); exit 0 if no test failed. With
 * --list, print the suites' names instead (scripts/run-tests.sh runs
 * them one by one).
 */
int
main(int argc, char **argv)
{
	size_t i, n = sizeof main_suites / sizeof main_suites[0];
	SRunner *sr;
	int failed;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < n; i++)
			printf("%s\n", main_suites[i].name);
		return (EXIT_SUCCESS);
	}
	sr = srunner_create(main_suites[0].make());
	for (i = 1; i < n; i++)
		srunner_add_suite(sr, main_suites[i].make());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
