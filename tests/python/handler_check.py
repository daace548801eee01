#!/usr/bin/python3
"""End-to-end check of shim/python/relog.py (RelogHandler) against relogd.

usage (from the repository root): /usr/bin/python3 tests/python/handler_check.py BUILD_DIR

Starts BUILD_DIR/relogd in a temporary directory, logs through RelogHandler
(loaded from BUILD_DIR/librelog.so.1), stops relogd and checks what it wrote
into pyh.log. Exits 0 on success, 1 on failure, 77 (skip) without structlog.
"""
import errno
import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

try:
    import structlog
except ImportError:
    print("handler_check: structlog missing (apt-get install "
          "python3-structlog); skipped", file=sys.stderr)
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "shim", "python"))

RUNNER_ID = "pyh-runner"
# (f): a message and an exception's text past librelog's 64 KiB.
LONG_MSG = 1 << 19          # 1 MiB of UTF-8
LONG_EXC = 100 * 1024
TEXT_MAX = 64 * 1024
TRUNCATED_RE = re.compile(r"^(.*) \[truncated (\d+) bytes\]$", re.S)
LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) "
                     r"\[([^\]]*)\] (.*)$")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def utc_ms(created):
    """relogd's timestamp for a record's created time."""
    ms = int(created * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def start_relogd(build, tmp):
    """Start relogd; return (process, socket path, stderr path)."""
    sock_path = os.path.join(tmp, "relogd.sock")
    notify_path = os.path.join(tmp, "notify.sock")
    err_path = os.path.join(tmp, "relogd.err")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [os.path.join(build, "relogd"), "--socket", sock_path,
             "--log-dir", os.path.join(tmp, "log"),
             "--state-dir", os.path.join(tmp, "state"),
             "--rate-limit", "off"],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 10
        notify.settimeout(0.2)
        while True:
            try:
                data = notify.recv(4096)
                if b"READY=1" in data.split(b"\n"):
                    return proc, sock_path, err_path
            except socket.timeout:
                pass
            if proc.poll() is not None:
                raise RuntimeError("relogd exited with %d before it was "
                                   "ready:\n%s" % (proc.returncode,
                                                   read(err_path)))
            if time.monotonic() > deadline:
                raise RuntimeError("relogd not ready after 10 s:\n%s" %
                                   read(err_path))
    except BaseException:
        stop_relogd(proc)
        raise
    finally:
        notify.close()


def stop_relogd(proc):
    """SIGTERM, wait 20 s, then SIGKILL. Returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        failures.append("relogd did not exit within 20 s of SIGTERM")
        return None


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return "(no %s)" % path


def parse(text):
    """Records of a relogd log: (first line, [continuation lines])."""
    records = []
    for line in text.split("\n"):
        if line == "":
            continue
        if line.startswith("\t"):
            if records:
                records[-1][1].append(line)
            else:
                failures.append("continuation line before any record: %r"
                                % line)
        else:
            records.append((line, []))
    return records


class Capture(logging.Filter):
    """Remember the records passing through a logger."""

    def __init__(self):
        super().__init__()
        self.records = []

    def filter(self, record):
        self.records.append(record)
        return True


class Spy:
    """An argument that notes whether it was ever formatted."""
    formatted = False

    def __str__(self):
        Spy.formatted = True
        return "spy"


def structlog_setup(capture_logger):
    """Configure structlog so that record.msg is the event dict: with
    render_to_log_kwargs if this structlog version does that, else with
    ProcessorFormatter.wrap_for_formatter. Returns the processor used."""
    for last in (structlog.stdlib.render_to_log_kwargs,
                 structlog.stdlib.ProcessorFormatter.wrap_for_formatter):
        structlog.reset_defaults()
        structlog.configure(
            processors=[structlog.stdlib.add_log_level, last],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False)
        cap = Capture()
        probe = logging.getLogger(capture_logger)
        probe.propagate = False
        probe.setLevel(logging.DEBUG)
        probe.addFilter(cap)
        probe.addHandler(logging.NullHandler())
        structlog.get_logger(capture_logger).info("probe", k=1)
        probe.removeFilter(cap)
        if cap.records and isinstance(cap.records[0].msg, dict):
            return last
    raise RuntimeError("no structlog processor puts the event dict into "
                       "record.msg")


def run(build, tmp):
    import relog

    proc, sock_path, err_path = start_relogd(build, tmp)
    handlers = []
    try:
        os.environ["RELOG_SOCKET"] = sock_path
        os.environ["RELOG_RUNNER_ID"] = RUNNER_ID
        os.environ["RELOG_LIBRARY"] = os.path.join(build, "librelog.so.1")

        handler_errors = []

        class Handler(relog.RelogHandler):
            def handleError(self, record):
                handler_errors.append("%s: %r" % (record.name,
                                                  sys.exc_info()[1]))

        root = logging.getLogger()
        root.setLevel(logging.DEBUG)
        # Hosting plugin "pyh": its plugin.pyh.* loggers are its, whatever
        # logs first (else plugin.pyh.core would teach the id pyh.core).
        h1 = Handler(plugin_ids=["pyh"])
        handlers.append(h1)
        root.addHandler(h1)
        # Only "pyhx." (in librelog too): it must drop plugin.* records.
        h3 = Handler(prefixes=["pyhx."])
        handlers.append(h3)
        root.addHandler(h3)

        # (a) plain records, %-style arguments.
        core = logging.getLogger("plugin.pyh.core")
        cap = Capture()
        core.addFilter(cap)
        core.info("hello %s #%d", "ann", 1)
        core.warning("disk at %d%%", 93)
        core.debug("unicode: na\u00efve \u2713 lone \udcff nul \0 end")
        # (b) not a plugin logger: ignored, not even formatted.
        logging.getLogger("asyncio").error("asyncio noise %s", Spy())
        check(not Spy.formatted, "(b) the asyncio record was formatted")
        # (c) a traceback.
        try:
            raise ValueError("bad value 42")
        except ValueError:
            core.exception("boom happened")
        core.removeFilter(cap)
        # (f) texts past librelog's 64 KiB: cut and marked, as relogd cuts
        # what a socket client sends.
        try:
            raise ValueError("e" * LONG_EXC)
        except ValueError:
            logging.getLogger("plugin.pyh.long").exception(
                "long %s", "\u00e9" * LONG_MSG)
        # Custom prefixes, through librelog's options.
        logging.getLogger("pyhx.custom").info("custom prefix")

        # (d) a formatter on a second handler (a connection of its own:
        # it names pyh too, or its records could come before h1's hello
        # and teach relogd the id pyh.fmt).
        h2 = Handler(plugin_ids=["pyh"])
        handlers.append(h2)
        h2.setFormatter(logging.Formatter("%(name)s|%(message)s"))
        fmt = logging.getLogger("plugin.pyh.fmt")
        fmt.propagate = False
        fmt.addHandler(h2)
        fmt.info("formatted %d", 7)
        try:
            {}["missing"]
        except KeyError:
            fmt.exception("fmt failure")

        # (e) structlog event dicts.
        last = structlog_setup("plugin.pyh.probe")
        print("handler_check: structlog %s: record.msg is the event dict "
              "with %s" % (structlog_version(), last.__qualname__))
        log = structlog.get_logger("plugin.pyh.sl")
        log.info("user login", user="ann", roles=["a", "b"], meta={"x": 1})
        structlog.get_logger("plugin.pyh.fmt.sl").warning(
            "user login", user="bob", roles=[], meta={"y": "\u00e9"})
        try:
            raise RuntimeError("structlog failure")
        except RuntimeError:
            log.exception("sl failed", n=3)

        check(h1.flush(5000), "h1.flush() timed out")
        check(h1.dropped == 0, "h1 dropped %d records" % h1.dropped)
        for h in handlers:
            h.close()
            check(h.close_result == 0, "relog_close returned %r" %
                  h.close_result)
        check(not handler_errors, "handleError was called: %s" %
              handler_errors)
        check(h1.flush() is True, "flush() after close()")
        # A socket path that is not UTF-8 (a str from os.fsdecode).
        odd = os.path.join(os.fsencode(tmp), b"\xff")
        os.mkdir(odd)
        os.symlink(sock_path, os.path.join(odd, b"s"))
        h4 = Handler(socket_path=os.fsdecode(os.path.join(odd, b"s")))
        handlers.append(h4)
        h4.handle(logging.makeLogRecord({
            "name": "plugin.pyh.odd", "levelno": logging.INFO,
            "levelname": "INFO", "msg": "odd socket path"}))
        check(h4.flush(5000),
              "a socket path that is not UTF-8: flush() timed out")
        # An id relogd would refuse: refused here, saying what to fix.
        try:
            handlers.append(Handler(plugin_id="../x"))
            check(False, "plugin_id ../x was taken")
        except OSError as e:
            check(e.errno == errno.EINVAL and "plugin id" in str(e),
                  "plugin_id ../x: %r" % (e,))
        check_late(os.path.join(tmp, "nowhere.sock"))
        check_block(os.path.join(tmp, "nowhere.sock"))
    finally:
        for h in handlers:
            h.close()
            logging.getLogger().removeHandler(h)
        status = stop_relogd(proc)
    check(status == 0, "relogd exited with %r" % status)

    log_dir = os.path.join(tmp, "log")
    text = read(os.path.join(log_dir, "pyh.log"))
    verify(text, cap.records)
    # A record of no plugin: the runtime's home, not a file per runner.
    custom = parse(read(os.path.join(log_dir, "_runtime.log")))
    check([r[0].split(" ", 2)[2] for r in custom] ==
          ["[pyhx.custom] custom prefix"],
          "the pyhx.custom record did not arrive alone in _runtime.log: %r" %
          (custom,))
    if failures:
        print("--- pyh.log ---\n%s--- _runtime.log ---\n%s--- relogd "
              "stderr ---\n%s---" % (text, read(os.path.join(
                  log_dir, "_runtime.log")), read(err_path)))
    for name in sorted(os.listdir(log_dir)):
        check(name in ("pyh.log", "_runtime.log"),
              "unexpected log file %s" % name)


# Records logged after the handler is closed: in an atexit function
# registered before logging was imported (it runs after logging.shutdown),
# in a __del__ at exit, and after close().
LATE_CHILD = r"""
import atexit
def early():
    import logging
    logging.getLogger("plugin.late").warning("in an early atexit")
atexit.register(early)
import logging, relog
handler = relog.RelogHandler()
log = logging.getLogger("plugin.late")
log.propagate = False
log.addHandler(handler)
class Late:
    def __del__(self):
        log.warning("in __del__ at exit")
late = Late()
handler.close()
try:
    raise ValueError("late value")
except ValueError:
    log.exception("after close")
log.warning("long " + "\u00e9" * 5000)
"""


def run_child(code, env):
    """Run code in a Python child; return (status, stdout, stderr)."""
    child = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ, **env),
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        cwd=os.path.join(REPO, "shim", "python"))
    return (child.returncode, child.stdout.decode(errors="replace"),
            child.stderr.decode(errors="replace"))


def check_late(nowhere):
    """What a closed handler gets goes to stderr, as librelog's close
    writes what it could not send: nothing is lost without a word."""
    status, _, err = run_child(LATE_CHILD, {"RELOG_SOCKET": nowhere})
    check(status == 0, "late: exit status %d: %s" % (status, err))
    for line in ("[LOG-FALLBACK] [plugin.late] after close\n"
                 "Traceback (most recent call last):",
                 "ValueError: late value\n",
                 "[LOG-FALLBACK] [plugin.late] in __del__ at exit\n",
                 "[LOG-FALLBACK] [plugin.late] in an early atexit\n"):
        check(line in err, "late: %r not on stderr: %r" % (line, err))
    # Cut to PIPE_BUF before a character (stderr decoded with "replace").
    long = [line for line in err.split("\n")
            if line.startswith("[LOG-FALLBACK] [plugin.late] long ")]
    check(len(long) == 1 and "\ufffd" not in long[0] and
          len(long[0].encode()) + 1 <= select.PIPE_BUF,
          "late: the long record: %r" % [line[-20:] for line in long])


# A thread logs while logging.shutdown() (which holds the handler's lock
# around flush() and close(), as dictConfig does too) waits for a relogd
# that is not there: its log calls must not wait with it.
BLOCK_CHILD = r"""
import logging, relog, threading, time, weakref
handler = relog.RelogHandler(flush_timeout_ms=500, close_timeout_ms=500)
log = logging.getLogger("plugin.block")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(handler)
log.warning("waits for relogd")
worst, started, done = [0.0], threading.Event(), threading.Event()
def ticker():
    while not done.is_set():
        t = time.monotonic()
        log.info("tick")
        worst[0] = max(worst[0], time.monotonic() - t)
        started.set()
        time.sleep(0.005)
thread = threading.Thread(target=ticker)
thread.start()
started.wait()
t = time.monotonic()
logging.shutdown([weakref.ref(handler)])
took = time.monotonic() - t
done.set()
thread.join()
print("%.3f %.3f" % (took, worst[0]))
"""


def check_block(nowhere):
    """Records are not held up by a close or flush waiting for relogd."""
    status, out, err = run_child(BLOCK_CHILD, {"RELOG_SOCKET": nowhere})
    if not check(status == 0, "block: exit status %d: %s" % (status, err)):
        return
    took, worst = (float(x) for x in out.split())
    check(took >= 0.9, "block: flush and close took %.3f s, not 1" % took)
    check(worst < 0.25, "block: a log call waited %.3f s while "
          "logging.shutdown() took %.3f s" % (worst, took))


def structlog_version():
    try:
        from importlib.metadata import version
        return version("structlog")
    except Exception:
        return "?"


def verify(text, core_records):
    records = parse(text)
    heads = []
    for line, cont in records:
        m = LINE_RE.match(line)
        if check(m, "malformed line: %r" % line):
            heads.append((m.groups(), cont))

    def find(level, logger, message):
        found = [(g, c) for g, c in heads
                 if g[1] == level and g[2] == logger and g[3] == message]
        check(len(found) == 1, "expected one line %s [%s] %s, found %d" %
              (level, logger, message, len(found)))
        return found[0] if found else (None, [])

    # (a)
    g, cont = find("INFO", "plugin.pyh.core", "hello ann #1")
    check(not cont, "(a) INFO record has continuation lines: %r" % cont)
    if g and core_records:
        check(g[0] == utc_ms(core_records[0].created),
              "(a) timestamp %s, record created at %s" %
              (g[0], utc_ms(core_records[0].created)))
    find("WARNING", "plugin.pyh.core", "disk at 93%")
    find("DEBUG", "plugin.pyh.core",
         "unicode: na\u00efve \u2713 lone \ufffd nul \\x00 end")
    # (b)
    check("asyncio" not in text and "spy" not in text,
          "(b) the asyncio record arrived")
    # (c)
    g, cont = find("ERROR", "plugin.pyh.core", "boom happened")
    if check(cont, "(c) no traceback lines after 'boom happened'"):
        check(cont[0] == "\tTraceback (most recent call last):",
              "(c) first continuation is %r" % cont[0])
        check(any(c.startswith('\t  File "') and "handler_check.py" in c
                  for c in cont), "(c) no File line in the traceback")
        check(cont[-1] == "\tValueError: bad value 42",
              "(c) last continuation is %r" % cont[-1])
    # (d)
    g, cont = find("INFO", "plugin.pyh.fmt", "plugin.pyh.fmt|formatted 7")
    check(not cont, "(d) continuation lines: %r" % cont)
    g, cont = find("ERROR", "plugin.pyh.fmt", "plugin.pyh.fmt|fmt failure")
    if check(cont, "(d) no traceback after 'fmt failure'"):
        check(cont[0] == "\tTraceback (most recent call last):" and
              cont[-1] == "\tKeyError: 'missing'",
              "(d) traceback is %r" % cont)
        check(sum("Traceback" in c for c in cont) == 1,
              "(d) traceback appears twice")
    # (e)
    sl = [(g, c) for g, c in heads if g[2] == "plugin.pyh.sl"]
    g, cont = find("INFO", "plugin.pyh.sl",
                   'user login user=ann roles=["a","b"] meta={"x":1}')
    check(any(line.endswith(' user login user=ann roles=["a","b"] '
                            'meta={"x":1}') for line, _ in records),
          "(e) no line ends with the structlog rendering")
    check(len(sl) == 2, "(e) %d records of plugin.pyh.sl, expected 2" %
          len(sl))
    g, cont = find("ERROR", "plugin.pyh.sl", "sl failed n=3")
    if check(cont, "(e) no traceback after 'sl failed'"):
        check(cont[-1] == "\tRuntimeError: structlog failure",
              "(e) traceback ends with %r" % cont[-1])
    find("WARNING", "plugin.pyh.fmt.sl",
         'plugin.pyh.fmt.sl|user login user=bob roles=[] meta={"y":"\u00e9"}')
    check("_record" not in text, "(e) _record in the output")
    check("_from_structlog" not in text, "(e) _from_structlog in the output")
    # (f)
    long = [(g, c) for g, c in heads if g[2] == "plugin.pyh.long"]
    if check(len(long) == 1 and long[0][1], "(f) the long record: %d" %
             len(long)):
        (_, level, _, message), cont = long[0]
        m = TRUNCATED_RE.match(message)
        if check(m, "(f) message not marked: ...%r" % message[-60:]):
            kept = m[1].encode()
            check(len(kept) + int(m[2]) == len(("long " + "\u00e9" *
                  LONG_MSG).encode()), "(f) message: %d kept, %s cut" %
                  (len(kept), m[2]))
            check(len(message.encode()) <= TEXT_MAX,
                  "(f) message of %d bytes" % len(message.encode()))
        m = TRUNCATED_RE.match(cont[-1])
        check(m and int(m[2]) > 0 and cont[0] ==
              "\tTraceback (most recent call last):",
              "(f) exception text not marked: ...%r" % cont[-1][-60:])
    find("INFO", "plugin.pyh.odd", "odd socket path")
    # Nothing else: 4 (core), 2 (fmt), 2 + 1 (structlog), 1 (long), 1 (odd).
    check(len(heads) == 11, "%d records in pyh.log, expected 11" %
          len(heads))


def main():
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0], file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    for name in ("relogd", "librelog.so.1"):
        if not os.path.exists(os.path.join(build, name)):
            print("handler_check: no %s in %s" % (name, build),
                  file=sys.stderr)
            return 1
    tmp = tempfile.mkdtemp(prefix="relog-pyh.")
    try:
        run(build, tmp)
    except Exception as e:
        import traceback
        traceback.print_exc()
        failures.append("error: %s" % e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        for f in failures:
            print("FAIL: %s" % f, file=sys.stderr)
        return 1
    print("handler_check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
