#!/usr/bin/python3
"""Write the fuzzer's seed corpus: frames as runners and relogd send them.

usage: make-seeds.py DIR
"""
import os
import struct
import sys

import msgpack


def envelope(message_type, method, payload, request_id=1, error=None):
    return {
        "protocol_version": "1.0.0", "request_id": request_id,
        "message_type": message_type, "method": method, "plugin_id": "",
        "timestamp_ms": 1764306519123, "timeout_ms": 30000,
        "payload": payload, "error": error,
    }


def frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def entry(i, **extra):
    e = {"timestamp_ms": 1764306519000 + i, "level": 20 + i % 4 * 10,
         "logger_name": "plugin.seed.x", "message": "record %d" % i,
         "exception_text": "", "log_color_in_hex": None}
    e.update(extra)
    return e


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    hello = frame(envelope("request", "runner.hello", {
        "runner_id": "r1", "sdk_version": "c/1", "session_token": "",
        "plugin_id": "seed", "instance": "00ff00ff00ff00ff"}))
    seeds = {
        "hello": hello,
        "hello-batch": hello + frame(envelope(
            "request", "runner.log_batch",
            {"seq": 1, "dropped": 3, "entries": [entry(i) for i in range(5)]},
            request_id=2)),
        "python-batch": hello + frame(envelope(
            "broadcast", "runner.log_batch",
            {"entries": [entry(0, message=b"bytes message"),
                         entry(1, exception_text="Traceback:\n  x\n"),
                         entry(2, when=msgpack.ExtType(42, b"2026-11-28"))]},
            request_id=3)),
        "reply": frame(envelope("response", "runner.hello", {
            "accepted": True, "host_version": "1.0.0", "reason": ""})),
        "error": frame(envelope("response", "runner.log_batch", {},
                                error={"code": "E_BAD_PAYLOAD",
                                       "message": "x", "details": {}})),
        "nested": frame(envelope("broadcast", "runner.log_batch",
                                 {"entries": [[[[[[[[1]]]]]]]]})),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
