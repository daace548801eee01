#!/usr/bin/python3
"""A runner speaking relog's protocol the way the Python plugin runtime does:
msgpack envelopes behind a 4-byte big-endian length, a runner.hello request,
then runner.log_batch broadcasts.

usage: pyclient.py SOCKET COUNT
Sends COUNT records for logger plugin.py.client ("py seq=N"), in batches of
20, some fields as bin, extension types 42/43 in keys relogd does not know.
Exits 0 if relogd accepted the hello.
"""
import socket
import struct
import sys
import time

import msgpack


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
        # Extension types the runtime uses for datetimes and dates.
        "sent_at": msgpack.ExtType(42, b"2026-11-28T05:08:39.123456"),
        "sent_on": msgpack.ExtType(43, b"2026-11-28"),
    }


def send(sock, obj):
    body = msgpack.packb(obj, use_bin_type=True)
    sock.sendall(struct.pack(">I", len(body)) + body)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("relogd closed the connection")
        data += chunk
    return data


def main():
    path, count = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    send(sock, envelope(1, "request", "runner.hello", {
        "runner_id": "py-runner",
        "sdk_version": "python-sdk/1.0",
        "session_token": "",
    }))
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    reply = msgpack.unpackb(recv_exact(sock, length), raw=False)
    if (reply.get("message_type") != "response" or reply.get("request_id") != 1
            or not reply["payload"].get("accepted")):
        print("hello refused: %r" % (reply,), file=sys.stderr)
        return 1

    request_id = 1
    for start in range(0, count, 20):
        entries = []
        for seq in range(start, min(start + 20, count)):
            message = "py seq=%d" % seq
            entries.append({
                "timestamp_ms": int(time.time() * 1000),
                "level": 20 if seq % 2 else 30,
                "logger_name": "plugin.py.client",
                # Older runtimes send raw bytes: bin, not str.
                "message": message.encode() if seq % 3 == 0 else message,
                "exception_text": "",
                "log_color_in_hex": None if seq % 2 else "#aabbcc",
            })
        request_id += 1
        send(sock, envelope(request_id, "broadcast", "runner.log_batch",
                            {"entries": entries}))
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
