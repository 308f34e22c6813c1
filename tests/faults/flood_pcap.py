#!/usr/bin/env python3
"""flood_pcap.py: write hostile floods as a classic pcap (Ethernet, IPv4).

    flood_pcap.py tuples OUT.pcap N [--seed S]   N one-packet flows, random 5-tuples
    flood_pcap.py frags OUT.pcap N [--seed S]    N fragmented UDP datagrams (first +
                                                  last fragment, random 5-tuples),
                                                  each followed by an orphan non-first
                                                  fragment of a datagram never seen

Packets are 1 us apart from a fixed time, so a replay is deterministic.
Prints one line of JSON with what was written (packets, flows, first,
non_first, orphans): the tests check darter's counters against it.
Python 3 standard library only.
"""
import json
import random
import struct
import sys

T0 = 1700000000


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                    src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + h + payload


def l4(proto, sport, dport, body):
    if proto == 6:  # a SYN
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0) + body
    return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body


def tuples(rnd, n, emit):
    for _ in range(n):
        proto = rnd.choice((6, 17))
        src, dst = rnd.getrandbits(32).to_bytes(4, "big"), rnd.getrandbits(32).to_bytes(4, "big")
        emit(ipv4(src, dst, proto, l4(proto, rnd.getrandbits(16) | 1, rnd.getrandbits(16) | 1,
                                      b"x" * 18)))
    return {"packets": n, "flows": n}


def frags(rnd, n, emit):
    for _ in range(n):
        src, dst = rnd.getrandbits(32).to_bytes(4, "big"), rnd.getrandbits(32).to_bytes(4, "big")
        ident = rnd.getrandbits(16)
        udp = struct.pack("!HHHH", rnd.getrandbits(16) | 1, rnd.getrandbits(16) | 1, 8 + 32, 0)
        emit(ipv4(src, dst, 17, udp + b"a" * 8, ident, 0x2000))       # first: offset 0, MF
        emit(ipv4(src, dst, 17, b"b" * 24, ident, 2))                 # last: offset 16 B
        osrc, odst = rnd.getrandbits(32).to_bytes(4, "big"), rnd.getrandbits(32).to_bytes(4, "big")
        emit(ipv4(osrc, odst, 17, b"c" * 24, rnd.getrandbits(16), 0x2000 | 3))  # orphan
    return {"packets": 3 * n, "flows": n, "first": n, "non_first": 2 * n, "orphans": n}


def main(argv):
    if len(argv) < 3 or argv[0] not in ("tuples", "frags"):
        print(__doc__, file=sys.stderr)
        return 2
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
    rnd = random.Random(seed)
    out = open(argv[1], "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    count = [0]

    def emit(frame):
        us = count[0]
        out.write(struct.pack("<IIII", T0 + us // 1000000, us % 1000000, len(frame), len(frame)))
        out.write(frame)
        count[0] += 1

    info = (tuples if argv[0] == "tuples" else frags)(rnd, int(argv[2]), emit)
    out.close()
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
