#!/usr/bin/env python3
"""Compare darter flow records per flow tuple: live capture vs offline.

    compare_tuples.py LIVE.json --offline A.json [B.json ...]

The same captures, read offline (`darter -r`, one eve.json per capture)
and replayed live onto a mirror port, must give the same flows apart from
time: per unordered flow tuple (proto, VLANs, {(src_ip, src_port),
(dest_ip, dest_port)}), the packet and byte totals summed over all the
tuple's records must be equal. Record counts may differ (a flow an idle
gap in a capture ended offline is one flow when replayed at speed), so
they are not compared; where both sides have one record for a tuple, the
app_proto must be equal too.

Exit 0 same, 1 different, 2 bad input. Prints a one-line summary, then up
to 10 differences.
"""
import json
import sys


def tuples(paths):
    out = {}
    for path in paths:
        try:
            f = open(path, encoding="utf-8")
        except OSError as e:
            raise SystemExit(f"compare_tuples: {path}: {e.strerror}") from None
        with f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    ev = json.loads(line)
                except ValueError as e:
                    raise SystemExit(f"compare_tuples: {path}:{n}: not JSON: {e}") from None
                if ev.get("event_type") != "flow":
                    continue
                ends = sorted([(ev.get("src_ip"), ev.get("src_port", 0)),
                               (ev.get("dest_ip"), ev.get("dest_port", 0))])
                key = json.dumps([ev.get("proto"), ev.get("vlan"), ends])
                fl = ev.get("flow", {})
                rec = out.setdefault(key, {"n": 0, "pkts": 0, "bytes": 0, "app": set()})
                rec["n"] += 1
                rec["pkts"] += fl.get("pkts_toserver", 0) + fl.get("pkts_toclient", 0)
                rec["bytes"] += fl.get("bytes_toserver", 0) + fl.get("bytes_toclient", 0)
                rec["app"].add(ev.get("app_proto", ""))
    return out


def main(argv):
    if len(argv) < 3 or argv[1] != "--offline":
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    live, off = tuples([argv[0]]), tuples(argv[2:])
    diffs = []
    for k in sorted(set(live) | set(off)):
        a, b = live.get(k), off.get(k)
        if a is None or b is None:
            side = "live only" if b is None else "offline only"
            r = a or b
            diffs.append(f"{k}: {side} ({r['pkts']} pkts, {r['bytes']} bytes)")
        elif (a["pkts"], a["bytes"]) != (b["pkts"], b["bytes"]):
            diffs.append(f"{k}: live {a['pkts']} pkts {a['bytes']} bytes, "
                         f"offline {b['pkts']} pkts {b['bytes']} bytes")
        elif a["n"] == 1 and b["n"] == 1 and a["app"] != b["app"]:
            diffs.append(f"{k}: app_proto live {a['app']}, offline {b['app']}")
    pl = sum(v["pkts"] for v in live.values())
    po = sum(v["pkts"] for v in off.values())
    nl = sum(v["n"] for v in live.values())
    no = sum(v["n"] for v in off.values())
    print(f"compare_tuples: {len(live)} vs {len(off)} tuples, {pl} vs {po} packets, "
          f"{nl} vs {no} records (live vs offline), {len(diffs)} differences")
    for d in diffs[:10]:
        print(d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
