/*
 * Runs every relog suite. Check's environment variables apply: CK_RUN_SUITE
 * and CK_RUN_CASE to pick, CK_FORK=no for gdb and valgrind, CK_VERBOSITY.
 */
#include <stdlib.h>

#include "tests.h"

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(suite_ring());
	srunner_add_suite(sr, suite_codec());
	srunner_add_suite(sr, suite_shim());
	srunner_add_suite(sr, suite_daemon());
	srunner_add_suite(sr, suite_limits());
	srunner_add_suite(sr, suite_ctl());
	srunner_add_suite(sr, suite_remote());
	srunner_add_suite(sr, suite_shmring());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
