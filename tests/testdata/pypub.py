#!/usr/bin/python3
"""A zlog publisher in Python, written from schema/README.md alone.

Usage: pypub.py ENDPOINT GOOD [--malformed]

Sends GOOD valid events on topic pytest.info with messages "py event <i>",
and with --malformed one malformed message of every kind between them.
Prints how many malformed messages of each reason it sent, as JSON.
"""
import json
import struct
import sys
import time

import zmq


def envelope(t_ns, seq, publisher, host):
    pub, h = publisher.encode(), host.encode()
    return b"ZLG\x01" + struct.pack(">qQ", t_ns, seq) + bytes([len(pub)]) + pub + bytes([len(h)]) + h


def fields(d):
    out = b""
    for k in sorted(d):
        kb, vb = k.encode(), d[k].encode()
        out += struct.pack(">H", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
    return out


def main():
    endpoint, good = sys.argv[1], int(sys.argv[2])
    malformed = "--malformed" in sys.argv
    ctx = zmq.Context()
    # XPUB, not PUB: wait for the collector's subscription so nothing is sent
    # into a connection that is not ready yet.
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(endpoint)
    if sock.poll(10000, zmq.POLLIN) == 0:
        sys.exit("no subscription from the collector within 10 s")
    sock.recv()

    env = envelope(0, 0, "py-1", "pyhost")  # time 0: the collector stamps it
    bad = {
        "frame_count": [b"pytest.info", env],
        "version": [b"pytest.info", b"ZLG\x09" + env[4:], b"x"],
        "envelope": [b"pytest.info", b"NOPE", b"x"],
        "topic": [b"PyTest.loud", env, b"x"],
        "utf8": [b"pytest.info", env, b"\xff\xfe bad"],
        "field": [b"pytest.info", env, b"x", b"\x00\x05ab"],
        "too_large": [b"pytest.info", env, b"x" * (300 << 10)],
    }
    sent_bad = {}
    for i in range(good):
        t_ns = time.time_ns() if i % 2 else 0
        sock.send_multipart([b"pytest.info", envelope(t_ns, 0, "py-1", "pyhost"),
                             ("py event %d" % i).encode(), fields({"i": str(i), "lang": "python"})])
        if malformed:
            reason = list(bad)[i % len(bad)]
            sock.send_multipart(bad[reason])
            sent_bad[reason] = sent_bad.get(reason, 0) + 1
    sock.close(linger=10000)
    ctx.term()
    print(json.dumps(sent_bad))


if __name__ == "__main__":
    main()
