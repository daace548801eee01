"""A logging handler that ships records to relogd through librelog.

RelogHandler loads librelog (shim/relog.h) with ctypes and hands each record
of a plugin logger to relog_emit, which copies it into librelog's ring and
returns at once; librelog's own thread sends it to relogd. Records of other
loggers are ignored before anything is formatted, by the same logger-name
prefixes librelog uses ("plugin.", "plugin_runtime.", "_maibot_plugin_"
unless told otherwise).

Usage::

    import logging, relog

    # A RelogHandler on the root logger, which passes INFO and up.
    # RELOG_SOCKET, RELOG_RUNNER_ID, ... come from the environment, as for
    # relog_open(NULL); RELOG_LIBRARY may name the shared library.
    relog.install()
    logging.getLogger("plugin.weather").info("fetched %d cities", 3)

Or by hand::

    handler = relog.RelogHandler()
    logging.getLogger().addHandler(handler)

    log = logging.getLogger("plugin.weather.api")
    log.warning("quota at %d%%", 93)
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("fetch failed")   # traceback goes as exception text

    handler.close()                      # or let logging.shutdown() do it

Options go as keyword arguments: ``library`` (a path or name for ctypes, or
a loaded ctypes.CDLL), ``socket_path``, ``plugin_id``, ``runner_id``,
``session_token``, ``queue_max``, ``flush_interval_ms``, ``flush_batch``
(fields of struct relog_opts; unset ones come from the environment),
``prefixes`` (logger-name prefixes to forward; an empty list forwards every
logger), ``plugin_ids`` (the plugins this runner hosts, so that relogd knows
their ids, dotted ones included, from the first record; else
RELOG_PLUGIN_IDS), ``close_timeout_ms`` (default 2000) and
``flush_timeout_ms`` (default 1000).

librelog is loaded by its SONAME, librelog.so.1 (Debian: librelog1), unless
RELOG_LIBRARY or ``library`` names it; when it cannot be loaded the handler
raises LibraryNotFound.

The message is the handler's formatter's output if one is set (without the
traceback, which goes separately as the exception text), else
record.getMessage(). A structlog event dict in record.msg (as left there by
structlog.stdlib.ProcessorFormatter.wrap_for_formatter) is rendered as
``event key=value ...``, dicts and lists as compact JSON; its ``exc_info``,
``exception`` and ``stack`` keys become exception text. A structlog
ProcessorFormatter set as the formatter renders such records itself.
Records are formatted without the handler's lock (a log call must not wait
for a flush or close holding it): the formatter must be safe to call from
several threads at once, as logging's own Formatter is.

A message or exception text past 64 KiB (what librelog's ring keeps of
each) is cut by librelog, not inside a UTF-8 sequence, and marked
`` [truncated N bytes]``, as relogd marks what it cuts.

Standard library only (Python 3.11; structlog is not needed).
"""

import copy
import ctypes
import errno
import json
import logging
import os
import select
import sys
import threading
import weakref

__all__ = ["RelogHandler", "DEFAULT_PREFIXES", "LibraryNotFound", "install",
           "load_library"]

# librelog's SONAME: the ABI this module's structs and calls follow.
SONAME = "librelog.so.1"

DEFAULT_PREFIXES = ("plugin.", "plugin_runtime.", "_maibot_plugin_")

# Keys of a structlog event dict that are not rendered as key=value.
_STRUCTLOG_SKIP = frozenset((
    "event", "logger", "logger_name", "level", "timestamp", "module",
    "lineno", "pathname", "_from_structlog", "_record",
))
# Keys of a structlog event dict that become the exception text.
_STRUCTLOG_EXC = ("exc_info", "exception", "stack")

_default_formatter = logging.Formatter()


class _RelogOpts(ctypes.Structure):
    """struct relog_opts of relog.h."""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("socket_path", ctypes.c_char_p),
        ("plugin_id", ctypes.c_char_p),
        ("session_token", ctypes.c_char_p),
        ("runner_id", ctypes.c_char_p),
        ("queue_max", ctypes.c_size_t),
        ("flush_interval_ms", ctypes.c_uint),
        ("flush_batch", ctypes.c_uint),
        ("prefixes", ctypes.POINTER(ctypes.c_char_p)),
        ("plugin_ids", ctypes.POINTER(ctypes.c_char_p)),
    ]


class _RelogEntry(ctypes.Structure):
    """struct relog_entry of relog.h."""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("timestamp_ms", ctypes.c_int64),
        ("level", ctypes.c_int),
        ("logger_name", ctypes.c_char_p),
        ("message", ctypes.c_char_p),
        ("exception_text", ctypes.c_char_p),
        ("color", ctypes.c_char_p),
    ]


class LibraryNotFound(OSError):
    """librelog could not be loaded."""


_libs = {}
_libs_lock = threading.Lock()


def load_library(library=None):
    """Load librelog and declare its functions.

    library: a ctypes.CDLL, a path or name for ctypes.CDLL, or None for
    $RELOG_LIBRARY, else librelog.so.1 (found as the dynamic linker finds
    it). Raises LibraryNotFound if it cannot be loaded.
    """
    if isinstance(library, ctypes.CDLL):
        lib = library
    else:
        name = library or os.environ.get("RELOG_LIBRARY") or SONAME
        with _libs_lock:
            lib = _libs.get(name)
            if lib is None:
                try:
                    lib = ctypes.CDLL(name, use_errno=True)
                except OSError as e:
                    if library:
                        why = "%s: %s" % (name, e)
                    elif name != SONAME:
                        why = "RELOG_LIBRARY=%s: %s" % (name, e)
                    else:
                        why = ("%s not found: install librelog1 or set "
                               "RELOG_LIBRARY" % SONAME)
                    # One error, not ctypes' as well.
                    raise LibraryNotFound(why) from None
                _libs[name] = lib
    lib.relog_open.argtypes = [ctypes.POINTER(_RelogOpts)]
    lib.relog_open.restype = ctypes.c_void_p
    lib.relog_emit.argtypes = [ctypes.c_void_p, ctypes.POINTER(_RelogEntry)]
    lib.relog_emit.restype = ctypes.c_int
    lib.relog_flush.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.relog_flush.restype = ctypes.c_int
    lib.relog_close.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.relog_close.restype = ctypes.c_int
    lib.relog_dropped.argtypes = [ctypes.c_void_p]
    lib.relog_dropped.restype = ctypes.c_uint64
    return lib


def _encode(text):
    """UTF-8 bytes for C: a NUL, which would end the string there, as
    "\\x00", as relogd writes any control byte (and relogctl send a NUL);
    a lone surrogate, which UTF-8 cannot hold, as U+FFFD (a "?" would read
    as one)."""
    if "\0" in text:
        text = text.replace("\0", "\\x00")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16: a pair of surrogates joins, a lone one is U+FFFD.
        return text.encode("utf-16-le", "surrogatepass").decode(
            "utf-16-le", "replace").encode("utf-8")


def _cstr(value):
    """An optional option string as bytes, or None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return _encode(str(value))


def _render_value(value):
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, separators=(",", ":"),
                              ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            # Keys json cannot take, or a reference cycle.
            return str(value)
    return str(value)


def render_event_dict(event_dict):
    """Render a structlog event dict as "event key=value ..."."""
    parts = []
    event = event_dict.get("event")
    if event is not None:
        parts.append(str(event))
    for key, value in event_dict.items():
        if key in _STRUCTLOG_SKIP or key in _STRUCTLOG_EXC:
            continue
        parts.append("%s=%s" % (key, _render_value(value)))
    return " ".join(parts)


def _exc_info_tuple(value):
    """An exc_info tuple for a structlog exc_info value, or None."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3:
        return value if value[0] is not None else None
    if value:
        # exc_info=True: emit runs in the logging call, in the except block.
        info = sys.exc_info()
        return info if info[0] is not None else None
    return None


# Open handlers, to reset their bookkeeping in a forked child.
_handlers = weakref.WeakSet()


def _after_fork_in_child():
    for handler in list(_handlers):
        # Another thread may have held it: it is not there any more.
        handler._idle._at_fork_reinit()
        handler._flushers = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _say_fallback(name, message, exc):
    """Write a record a closed handler got to stderr, as librelog's close
    writes what it could not send: "[LOG-FALLBACK] [name] message", the
    exception text on the lines after, cut to PIPE_BUF bytes (before a
    character, not inside it) and written in one write if stderr takes it
    at once (a full pipe nobody reads must not hold the logging thread).
    The bytes are _encode's."""
    line = b"[LOG-FALLBACK] [" + name + b"] " + message
    if exc:
        line += b"\n" + exc
    if len(line) >= select.PIPE_BUF:
        # Cut before a character, not inside it.
        cut = select.PIPE_BUF - 1
        while cut > 0 and line[cut] & 0xC0 == 0x80:
            cut -= 1
        line = line[:cut]
    line += b"\n"
    poller = select.poll()
    poller.register(2, select.POLLOUT)
    if poller.poll(0):
        os.write(2, line)


def _close_handle(lib, handle, timeout_ms):
    """Finalizer: close a handle its handler never closed."""
    try:
        lib.relog_close(handle, timeout_ms)
    except Exception:
        pass


class RelogHandler(logging.Handler):
    """Forward plugin loggers' records to relogd through librelog."""

    def __init__(self, level=logging.NOTSET, *, library=None,
                 socket_path=None, plugin_id=None, runner_id=None,
                 session_token=None, queue_max=0, flush_interval_ms=0,
                 flush_batch=0, prefixes=None, plugin_ids=None,
                 close_timeout_ms=2000, flush_timeout_ms=1000):
        # Set before anything can fail: logging.shutdown() flushes and
        # closes every handler that got as far as Handler.__init__.
        self._handle = None
        self._flushers = 0
        self.close_result = None
        # Guards _handle and _flushers, and is never held while waiting
        # for relogd. Not self.lock: logging.shutdown() and dictConfig hold
        # that around flush() and close(), which wait for relogd, and
        # Handler.handle() takes it before emit.
        self._idle = threading.Condition(threading.RLock())
        # Before Handler.__init__, which registers the handler for
        # logging.shutdown(): a handler without its library is never one.
        self._lib = load_library(library)
        super().__init__(level)
        self.close_timeout_ms = int(close_timeout_ms)
        self.flush_timeout_ms = int(flush_timeout_ms)
        if isinstance(prefixes, str):
            prefixes = (prefixes,)
        self.prefixes = tuple(DEFAULT_PREFIXES if prefixes is None
                              else prefixes)

        if isinstance(plugin_ids, str):
            plugin_ids = (plugin_ids,)
        given = (socket_path, plugin_id, runner_id, session_token,
                 plugin_ids)
        if (all(v is None for v in given) and not queue_max and
                not flush_interval_ms and not flush_batch and
                prefixes is None):
            handle = self._lib.relog_open(None)
        else:
            names = [_cstr(p) for p in self.prefixes] + [None]
            array = (ctypes.c_char_p * len(names))(*names)
            ids = None
            if plugin_ids is not None:
                idv = [_cstr(p) for p in plugin_ids] + [None]
                ids = (ctypes.c_char_p * len(idv))(*idv)
            opts = _RelogOpts(
                sz=ctypes.sizeof(_RelogOpts),
                # A path: its bytes, as os.fsdecode had them.
                socket_path=(None if socket_path is None else
                             os.fsencode(socket_path)),
                plugin_id=_cstr(plugin_id),
                session_token=_cstr(session_token),
                runner_id=_cstr(runner_id),
                queue_max=int(queue_max),
                flush_interval_ms=int(flush_interval_ms),
                flush_batch=int(flush_batch),
                prefixes=ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p)),
                plugin_ids=ctypes.cast(ids, ctypes.POINTER(ctypes.c_char_p)))
            handle = self._lib.relog_open(ctypes.byref(opts))
        if not handle:
            err = ctypes.get_errno()
            why = os.strerror(err)
            if err == errno.EINVAL:
                why += (" (a number out of range, or a runner or plugin id"
                        " relogd refuses: 1 to 64 bytes of [A-Za-z0-9_.-],"
                        " not starting with a dot; given or from RELOG_*)")
            raise OSError(err, "relog_open: " + why)
        self._handle = handle
        self._finalizer = weakref.finalize(self, _close_handle, self._lib,
                                           handle, self.close_timeout_ms)
        # At exit, logging.shutdown() closes the handler; a finalizer run
        # before it (atexit order) would free the handle under its feet.
        self._finalizer.atexit = False
        _handlers.add(self)

    # Filtering and formatting.

    def wanted(self, name):
        """Is a logger of this name forwarded (librelog's rule)?"""
        return not self.prefixes or name.startswith(self.prefixes)

    def _formatter_renders_dicts(self):
        """Is the formatter structlog's ProcessorFormatter (or alike)?"""
        return any(cls.__module__.split(".")[0] == "structlog"
                   for cls in type(self.formatter).__mro__)

    def _message(self, record, event_dict):
        """The message text, without the exception text."""
        if self.formatter is None:
            if event_dict is not None:
                return render_event_dict(event_dict)
            return record.getMessage()
        if (event_dict is None or self._formatter_renders_dicts()) and \
                not record.exc_info and not record.exc_text and \
                not record.stack_info:
            return self.format(record)
        # Format a copy: without the traceback (logging.Formatter.format
        # would append it), and with an event dict already rendered.
        rec = copy.copy(record)
        rec.exc_info = rec.exc_text = rec.stack_info = None
        if event_dict is not None and not self._formatter_renders_dicts():
            rec.msg = render_event_dict(event_dict)
            rec.args = None
        return self.format(rec)

    def _exception_text(self, record, event_dict):
        """Traceback and stack, as logging would append them, or None."""
        fmt = self.formatter or _default_formatter
        parts = []
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(fmt.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(fmt.formatStack(record.stack_info))
        if event_dict is not None:
            info = _exc_info_tuple(event_dict.get("exc_info"))
            if info is not None:
                parts.append(fmt.formatException(info))
            for key in ("exception", "stack"):
                if event_dict.get(key):
                    parts.append(str(event_dict[key]))
        parts = [p.rstrip("\n") for p in parts if p]
        return "\n".join(parts) if parts else None

    # logging.Handler

    def handle(self, record):
        """Filter and emit the record, without self.lock (see _idle): a
        log call never waits for a close or flush in another thread."""
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):
            record = rv             # a filter may return a new record (3.12)
        if rv:
            self.emit(record)
        return rv

    def emit(self, record):
        """Queue a record in librelog; never blocks, never raises. Once
        the handler is closed, the record goes to stderr as librelog's close
        writes what it could not send ("[LOG-FALLBACK] [logger] message"),
        if stderr takes it at once."""
        try:
            name = record.name
            if not isinstance(name, str) or not self.wanted(name):
                return
            event_dict = record.msg if isinstance(record.msg, dict) \
                else None
            message = _encode(self._message(record, event_dict))
            exc = self._exception_text(record, event_dict)
            exc = _encode(exc) if exc is not None else None
            logger_name = _encode(name)
            entry = _RelogEntry(
                sz=ctypes.sizeof(_RelogEntry),
                timestamp_ms=int(record.created * 1000),
                level=int(record.levelno),
                logger_name=logger_name,
                message=message,
                exception_text=exc,
                color=None)
            # close() frees the handle once it has taken it from here.
            with self._idle:
                closed = self._handle is None
                if not closed:
                    ret = self._lib.relog_emit(self._handle,
                                               ctypes.byref(entry))
            if closed:
                # After logging.shutdown() (an atexit function registered
                # before logging's, a __del__ at exit) or close().
                _say_fallback(logger_name, message, exc)
            elif ret < 0:
                raise OSError(-ret, "relog_emit: %s" % os.strerror(-ret))
        except Exception:
            self.handleError(record)

    def flush(self, timeout_ms=None):
        """Wait until what was queued is sent, for at most the timeout.

        Returns True if it was (or there is nothing open), False on timeout.
        """
        if timeout_ms is None:
            timeout_ms = self.flush_timeout_ms
        with self._idle:
            handle = self._handle
            if handle is None:
                return True
            self._flushers += 1
        try:
            # Without the lock: emitters must not wait for the socket.
            return self._lib.relog_flush(handle, int(timeout_ms)) == 0
        finally:
            with self._idle:
                self._flushers -= 1
                if self._flushers == 0:
                    self._idle.notify_all()

    def close(self):
        """Send what is left (close_timeout_ms at most) and free librelog's
        handle. What could not be sent, librelog writes to stderr."""
        with self._idle:
            handle = self._handle
            if handle is not None:
                # From here emit and flush leave the handle alone.
                self._handle = None
                # A flush in progress uses the handle: let it end first.
                idle = self._idle.wait_for(
                    lambda: self._flushers == 0,
                    (self.flush_timeout_ms + self.close_timeout_ms) /
                    1000.0 + 1)
                self._finalizer.detach()
                _handlers.discard(self)
        # Without the lock: emitters must not wait for the socket. A stuck
        # flush keeps the handle: leaking beats freeing in its hands.
        if handle is not None and idle:
            self.close_result = self._lib.relog_close(handle,
                                                      self.close_timeout_ms)
        super().close()

    @property
    def dropped(self):
        """Records librelog's ring has overwritten (0 once closed)."""
        with self._idle:
            if self._handle is None:
                return 0
            return int(self._lib.relog_dropped(self._handle))

    def __repr__(self):
        level = logging.getLevelName(self.level)
        return "<%s %s (%s)>" % (self.__class__.__name__,
                                 "closed" if self._handle is None else "open",
                                 level)


_install_lock = threading.Lock()


def install(level=logging.INFO, **opts):
    """Attach a RelogHandler to the root logger and return it.

    The root logger's level is set to level, as logging.basicConfig(level=)
    would (None leaves it alone): the root logger passes only WARNING and
    up until told otherwise. opts go to RelogHandler; records of loggers
    without one of its prefixes (the plugin runtime's, by default) are not
    sent. A second call returns the handler installed first, and changes
    nothing.
    """
    root = logging.getLogger()
    with _install_lock:
        for handler in root.handlers:
            if getattr(handler, "_relog_installed", False):
                return handler
        handler = RelogHandler(**opts)
        handler._relog_installed = True
        if level is not None:
            root.setLevel(level)
        root.addHandler(handler)
        return handler
