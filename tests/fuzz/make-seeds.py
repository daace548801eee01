#!/usr/bin/python3
"""Write the fuzzers' seed corpora, one folder per target: frames as
runners and relogd send them, Fluent Forward messages of each mode as Fluent
clients send them, and settings files (the example relogd.conf among them).

usage: make-seeds.py DIR
"""
import os
import re
import struct
import sys

import msgpack

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


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


def frames():
    hello = frame(envelope("request", "runner.hello", {
        "runner_id": "r1", "sdk_version": "c/1", "session_token": "",
        "plugin_id": "seed", "instance": "00ff00ff00ff00ff"}))
    return {
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


def event_time(sec, nsec):
    return msgpack.ExtType(0, struct.pack(">II", sec, nsec))


def packed(events):
    return b"".join(msgpack.packb(e, use_bin_type=True) for e in events)


def fluent():
    """Each mode, as fluent-logger, Fluent Bit and fluentd send them."""
    t = 1764306519
    pack = lambda o: msgpack.packb(o, use_bin_type=True)  # noqa: E731
    record = {"message": "disk 91%", "level": "warning", "n": 1,
              "host": {"name": "a", "ips": ["::1", None, 1.5, True]}}
    message = pack(["plugin.fw.app", t, record])
    return {
        "message": message,
        "message-eventtime-chunk": pack(
            ["plugin.fw.app", event_time(t, 123456789),
             {"log": "cold start", "level": 10},
             {"chunk": "c2hvcnQtY2h1bms=", "size": 1}]),
        "forward": pack(
            ["plugin.fw.batch",
             [[t, {"log": "one", "user": "ann"}],
              [float(t) + 0.5, {"msg": "two", "tags": ["a", "b"]}],
              [event_time(t, 0), {"message": b"bytes", "level": "ERROR"}]],
             {"chunk": "Zm9yd2FyZA==", "size": 3}]),
        "packed": pack(
            ["plugin.fw.packed",
             packed([[event_time(t, i), {"message": "packed %d" % i,
                                         "level": "error"}]
                     for i in range(3)]),
             {"chunk": "cGFja2Vk", "size": 3}]),
        "packed-str": msgpack.packb(
            ["tag", packed([[t, {"msg": "as str"}]]).decode("latin-1"), {}],
            use_bin_type=False),
        "compressed": pack(
            ["plugin.fw.gz", b"\x1f\x8b\x08\x00",
             {"compressed": "gzip", "size": 1}]),
        "stream": message + pack(["fluent", [[t, {"a": 1}]]])
        + pack(["plugin.x", packed([[t, {"message": "x"}]])]) + message,
        "large": pack(["plugin.fw.large", [[t, {"message": "m" * 9000}]]]),
        # Malformed past max_frame (the fuzzer's 8192): refused for its
        # size whether it comes in one read or a byte at a time.
        "bad-past-max": pack(["plugin.fw.big", [1] * 8200])[:-1] + b"\xc1",
    }


def settings():
    """The example file, it with its defaults set, and plugin sections."""
    with open(os.path.join(SRC, "etc", "relogd", "relogd.conf")) as f:
        example = f.read()
    defaults = re.sub(r"^;([a-z_]+ = [^;\n]*)", r"\1", example, flags=re.M)
    return {
        "relogd.conf": example,
        "relogd-defaults.conf": defaults,
        "plugins.conf": """[relogd]
stderr = yes
identity = required
allow_uids = 0, 1000
forward = syslog://logs.example.net:514, fluent+unix:/run/f.sock
rate_limit = off

[plugin.*]
strict = yes
level = warning
sinks = file, json, journald

[plugin.weather]
file = weather-api.log
max_size = 1048576
keep = 3
rate_limit = 100/10
forward = fluent+tls://[::1]:24224
token = s3cret
uids = 0, root

[plugin.empty]

[plugin.news]
level = 15
sinks = stderr
forward = none
token_file = /etc/relogd/news.token
""",
        "long.conf": "[relogd]\nidentity = optional\nforward = %s\n"
        "[plugin.many]\nuids = %s\n" % (
            ", ".join("syslog://h%d.example.net" % i for i in range(60)),
            ", ".join(str(1000 + i) for i in range(17))),
        "bad.conf": "[relogd]\nmax_frame = 12\n[plugin.../x]\nkeep = 0\n",
    }


def main():
    out = sys.argv[1]
    for target, seeds in (("frames", frames()), ("fluent", fluent()),
                          ("config", settings())):
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, data in seeds.items():
            if isinstance(data, str):
                data = data.encode()
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
