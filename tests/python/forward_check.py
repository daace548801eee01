#!/usr/bin/python3
"""Fluent clients against relogd's Forward socket.

usage: forward_check.py SOCKET
1. Debian's python3-fluent-logger (FluentSender over unix://, EventTime):
   three events in Message mode, tag plugin.fw.app.
2. Forward mode by hand, two events and the chunk option: relogd must
   answer {"ack": chunk}.
3. PackedForward by hand, two events with EventTime, and a chunk: the ack.
4. Message mode cut in two: the ack.
5. Forward mode with a chunk too long to echo: relogd closes the
   connection (Forward has no error replies) and writes none of it.
Exits 0 when the acks came back, the sender reported no error, and the
last connection was closed.
"""
import socket
import struct
import sys
import time

import msgpack
from fluent import sender


def event_time(t):
    sec = int(t)
    return msgpack.ExtType(0, struct.pack(">II", sec, int((t - sec) * 1e9)))


def read_ack(sock):
    unpacker = msgpack.Unpacker(raw=False)
    while True:
        data = sock.recv(4096)
        if not data:
            raise EOFError("relogd closed the connection before the ack")
        unpacker.feed(data)
        for obj in unpacker:
            return obj


def main():
    path = sys.argv[1]
    fluent = sender.FluentSender("plugin.fw", host="unix://" + path,
                                 nanosecond_precision=True)
    for i, (level, msg) in enumerate([("debug", "cold start"),
                                      ("warning", "disk 91%"),
                                      (40, "lost the cache")]):
        if not fluent.emit("app", {"message": msg, "level": level, "n": i}):
            print("fluent-logger: %r" % (fluent.last_error,), file=sys.stderr)
            return 1
    fluent.close()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    now = time.time()
    sock.sendall(msgpack.packb(
        ["plugin.fw.batch",
         [[int(now), {"log": "forward one", "user": "ann"}],
          [int(now), {"msg": "forward two", "tags": ["a", "b"]}]],
         {"chunk": "c2hvcnQtY2h1bms=", "size": 2}], use_bin_type=True))
    ack = read_ack(sock)
    if ack != {"ack": "c2hvcnQtY2h1bms="}:
        print("forward ack: %r" % (ack,), file=sys.stderr)
        return 1
    packed = b"".join(msgpack.packb([event_time(now), {
        "message": "packed %d" % i, "level": "error"}]) for i in range(2))
    sock.sendall(msgpack.packb(["plugin.fw.packed", packed,
                                {"chunk": "cGFja2Vk", "size": 2}],
                               use_bin_type=True))
    ack = read_ack(sock)
    if ack != {"ack": "cGFja2Vk"}:
        print("packed ack: %r" % (ack,), file=sys.stderr)
        return 1
    # A message cut just after its record's map header, the rest later:
    # relogd must wait for it, not refuse a map "larger than the bytes".
    record = {"message": "split"}
    record.update({"k%02d" % i: i for i in range(20)})
    data = msgpack.packb(["plugin.fw.split", int(now), record,
                          {"chunk": "c3BsaXQ="}], use_bin_type=True)
    cut = data.index(b"\xde") + 3 if b"\xde" in data else len(data) // 2
    sock.sendall(data[:cut])
    time.sleep(0.2)  # makes the cut likely to be read on its own
    sock.sendall(data[cut:])
    ack = read_ack(sock)
    if ack != {"ack": "c3BsaXQ="}:
        print("split ack: %r" % (ack,), file=sys.stderr)
        return 1
    sock.close()

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    sock.sendall(msgpack.packb(
        ["plugin.fw.badchunk", [[int(now), {"log": "never written"}]] * 2,
         {"chunk": "x" * 100}], use_bin_type=True))
    if sock.recv(4096) != b"":
        print("a bad chunk was answered", file=sys.stderr)
        return 1
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
