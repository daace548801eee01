#!/usr/bin/python3
"""A Python runner that dies by SIGKILL right after logging (issue 13).

usage: /usr/bin/python3 tests/python/crash_runner.py COUNT
(test_crash_python in tests/test-crash.c runs it.)

Logs COUNT records "runner=<RELOG_RUNNER_ID> thread=0 seq=<i>" to the
logger plugin.crash through RelogHandler (shim/python/relog.py, on the
librelog RELOG_LIBRARY names; RELOG_SOCKET and the rest from the
environment too), then SIGKILLs itself: no flush, no close, no
logging.shutdown. The test checks that relogd wrote all COUNT.
"""
import logging
import os
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "shim", "python"))

import relog  # noqa: E402


def main():
    count = int(sys.argv[1])
    runner = os.environ.get("RELOG_RUNNER_ID", "none")
    log = logging.getLogger("plugin.crash")
    log.setLevel(logging.INFO)
    log.addHandler(relog.RelogHandler())
    for i in range(count):
        log.info("runner=%s thread=0 seq=%d", runner, i)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
