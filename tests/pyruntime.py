#!/usr/bin/python3
"""A runner that names things exactly as the Python plugin runtime does.

One runner process hosting four plugins: its runner_id a fresh uuid4, no
plugin_id in its hello; the runtime's own records under plugin_runtime.*;
each plugin logging through its ctx.logger ("plugin.<id>"), a child of it
("plugin.<id>.<x>") and a module logger ("_maibot_plugin_<mangled id>.<module>",
the id with every byte outside [0-9A-Za-z_] as "_"); errors with the
traceback appended to the message by the formatter and sent again as
exception_text, as the runtime's handler does. Records go as
runner.log_batch broadcasts of up to 20.

usage: pyruntime.py SOCKET [ORDER]
ORDER "ctx-first" (the default): a plugin's first record is its ctx.logger's,
as on_load logs; "module-first": each plugin's module logger speaks first.
Prints the plugin ids, one a line, and exits 0 if relogd accepted the hello.
"""
import re
import socket
import struct
import sys
import time
import uuid

import msgpack

from pyclient import recv_exact, send  # the same framing

PLUGINS = (
    "maibot-team.hello-world-plugin",
    "builtin.plugin-management",
    "builtin.emoji-manager",
    "github.author.plugin",
)
TRACEBACK = ('Traceback (most recent call last):\n'
             '  File "plugin.py", line 7, in on_message\n'
             'ValueError: bad input')


def mangle(plugin_id):
    return re.sub(r"[^0-9A-Za-z_]", "_", plugin_id)


def envelope(request_id, message_type, method, payload):
    return {
        "protocol_version": "1.0.0",
        "request_id": request_id,
        "message_type": message_type,
        "method": method,
        "plugin_id": "",
        "timestamp_ms": int(time.time() * 1000),
        "timeout_ms": 30000,
        "payload": payload,
        "error": None,
    }


def entry(logger, message, level=20, exception=""):
    if exception:
        # The runtime's formatter appends the traceback to the message.
        message = message + "\n" + exception
    return {
        "timestamp_ms": int(time.time() * 1000),
        "level": level,
        "logger_name": logger,
        "message": message,
        "exception_text": exception,
        "log_color_in_hex": None,
    }


def records(order):
    out = [entry("plugin_runtime.runner.main", "runner starting")]
    for pid in PLUGINS:
        ctx = entry("plugin." + pid, "on_load %s" % pid)
        module = entry("_maibot_plugin_%s.handlers" % mangle(pid),
                       "module of %s imported" % pid)
        child = entry("plugin.%s.store" % pid, "store of %s opened" % pid)
        out += [module, ctx, child] if order == "module-first" else \
            [ctx, child, module]
        out.append(entry("plugin_runtime.runner.plugin_loader",
                         "loaded %s" % pid))
    for pid in PLUGINS:
        out.append(entry("plugin." + pid, "failed in %s" % pid, 40,
                         TRACEBACK))
        out.append(entry("_maibot_plugin_%s.handlers" % mangle(pid),
                         "handled in %s" % pid))
        out.append(entry("plugin.%s.store.sql" % pid,
                         "query in %s" % pid, 10))
    out.append(entry("plugin_runtime.runner.main", "runner ready"))
    return out


def main():
    path = sys.argv[1]
    order = sys.argv[2] if len(sys.argv) > 2 else "ctx-first"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    send(sock, envelope(1, "request", "runner.hello", {
        "runner_id": str(uuid.uuid4()),
        "sdk_version": "2.0.0",
        "session_token": "",
    }))
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    reply = msgpack.unpackb(recv_exact(sock, length), raw=False)
    if not reply["payload"].get("accepted"):
        print("hello refused: %r" % (reply,), file=sys.stderr)
        return 1
    entries = records(order)
    for request_id, start in enumerate(range(0, len(entries), 20), 2):
        send(sock, envelope(request_id, "broadcast", "runner.log_batch",
                            {"entries": entries[start:start + 20]}))
    sock.close()
    for pid in PLUGINS:
        print(pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
