/*
 * A minimal plugin runner. Its settings come from the environment
 * (RELOG_SOCKET, RELOG_PLUGIN, ...), as a supervisor would set them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <relog.h>

#define RUNNER_LOGGER "plugin.example.main"

/* Say why a record was not queued. Returns 0 if it was, else -1. */
static int
runner_check(const char *what, int ret)
{
	if (ret == 0)
		return (0);
	if (ret == 1)
		fprintf(stderr, "runner: %s: logger filtered out\n", what);
	else
		fprintf(stderr, "runner: %s: %s\n", what, strerror(-ret));
	return (-1);
}

/* Log a few records, then hand the rest to relogd. */
int
main(void)
{
	struct relog_entry e = {
		.sz = sizeof e,
		.level = RELOG_ERROR,
		.logger_name = RUNNER_LOGGER,
		.message = "request failed",
		.exception_text = "Traceback (most recent call last):\n"
		    "  File \"api.py\", line 12, in fetch\n"
		    "ValueError: no such city",
	};
	relog_t *h;
	int failed = 0, ret;

	h = relog_open(NULL);
	if (h == NULL) {
		fprintf(stderr, "runner: relog_open: %s\n", strerror(errno));
		return (1);
	}
	failed |= runner_check("relog_log", relog_log(h, RELOG_DEBUG,
	    RUNNER_LOGGER, "starting"));
	failed |= runner_check("relog_log", relog_log(h, RELOG_INFO,
	    RUNNER_LOGGER, "fetched %d cities", 3));
	failed |= runner_check("relog_log", relog_log(h, RELOG_WARNING,
	    RUNNER_LOGGER, "city %s is slow", "Oslo"));
	failed |= runner_check("relog_emit", relog_emit(h, &e));
	printf("dropped: %" PRIu64 "\n", relog_dropped(h));

	/* Send the rest, 2 s at most; what is left then goes to stderr. */
	ret = relog_close(h, 2000);
	if (ret != 0)
		fprintf(stderr, "runner: relog_close: %s\n", strerror(-ret));
	return (ret != 0 || failed ? 1 : 0);
}
