#!/usr/bin/python3
"""flowstat.py: per-flow totals of a pcap, as tshark decodes it (for test_gen.sh).

Reads `tshark -T fields` output on stdin (frame.time_epoch, frame.len, ip.src,
ip.dst, ipv6.src, ipv6.dst, tcp.srcport, tcp.dstport, udp.srcport,
udp.dstport) and prints one JSON object: flows (a list of {key, pkts, bytes,
first, last} with key "proto a.port b.port" canonical, the lower end first),
a histogram of frame lengths, and the most flows open at once (a flow is
open from its first to its last packet).
"""
import json
import sys


def main():
    flows = {}
    sizes = {}
    for line in sys.stdin:
        f = line.rstrip("\n").split("\t")
        if len(f) < 10:
            continue
        t, ln, s4, d4, s6, d6, ts, td, us, ud = f[:10]
        src, dst = (s4, d4) if s4 else (s6, d6)
        proto, sp, dp = ("tcp", ts, td) if ts else ("udp", us, ud)
        a, b = "%s.%s" % (src, sp), "%s.%s" % (dst, dp)
        key = "%s %s %s" % (proto, min(a, b), max(a, b))
        e = flows.setdefault(key, {"key": key, "pkts": 0, "bytes": 0, "first": float(t)})
        e["pkts"] += 1
        e["bytes"] += int(ln)
        e["last"] = float(t)
        sizes[ln] = sizes.get(ln, 0) + 1
    # At equal times a close sorts before an open: flows that touch do not overlap.
    edges = sorted([(e["first"], 1) for e in flows.values()] +
                   [(e["last"], -1) for e in flows.values()])
    open_now = peak = 0
    for _, d in edges:
        open_now += d
        peak = max(peak, open_now)
    json.dump({"flows": list(flows.values()), "sizes": sizes, "peak_open": peak}, sys.stdout)


if __name__ == "__main__":
    main()
