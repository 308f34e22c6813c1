#!/usr/bin/env python3
"""Compare two darter eve.json files from the same capture, replayed with
different numbers of capture lcores.

Events other than "stats" must be identical once darter.lcore (which lcore
assembled the flow) and darter.mad (worker-side MAD state, which depends on
the order records reach a worker, not on the record) are removed; compared
as sorted multisets of canonical JSON lines. The stats events' packet-level
counters (stats.capture.packets/bytes, stats.decoder, stats.flow.total and
per-protocol counts, darter.flow reasons) must be equal too.

With --tuples (live captures, where times differ between runs): per
unordered flow tuple (proto, VLANs, {(src_ip, src_port), (dest_ip,
dest_port)}), the number of records and the packet and byte totals must be
equal; a flow split over two lcores shows as one record too many.

Usage: compare_eve.py [--tuples] A.json B.json
Exit 0 same, 1 different, 2 bad input. Prints a one-line summary, then up
to 10 differences.
"""
import json
import sys

STATS_KEYS = [
    ("capture", "packets"), ("capture", "bytes"), ("decoder",),
    ("flow", "total"), ("flow", "tcp"), ("flow", "udp"), ("flow", "icmp"),
    ("darter", "flow"), ("darter", "decoder"),
]


def load(path):
    records, stats = [], None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError as e:
                raise SystemExit(f"{path}:{n}: not JSON: {e}") from None
            if ev.get("event_type") == "stats":
                stats = ev.get("stats", {})
                continue
            d = ev.get("darter")
            if isinstance(d, dict):
                d.pop("lcore", None)
                d.pop("mad", None)
                if not d:
                    ev.pop("darter")
            records.append(json.dumps(ev, sort_keys=True))
    return sorted(records), stats


def tuples(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("event_type") != "flow":
                continue
            ends = sorted([(ev.get("src_ip"), ev.get("src_port", 0)),
                           (ev.get("dest_ip"), ev.get("dest_port", 0))])
            key = json.dumps([ev.get("proto"), ev.get("vlan"), ends])
            fl = ev.get("flow", {})
            n, p, b = out.get(key, (0, 0, 0))
            out[key] = (n + 1,
                        p + fl.get("pkts_toserver", 0) + fl.get("pkts_toclient", 0),
                        b + fl.get("bytes_toserver", 0) + fl.get("bytes_toclient", 0))
    return out


def main_tuples(a, b):
    ta, tb = tuples(a), tuples(b)
    diffs = [f"{k}: records/pkts/bytes {ta.get(k)} != {tb.get(k)}"
             for k in sorted(set(ta) | set(tb)) if ta.get(k) != tb.get(k)]
    pa = sum(v[1] for v in ta.values())
    pb = sum(v[1] for v in tb.values())
    print(f"compare_eve: {len(ta)} vs {len(tb)} tuples, {pa} vs {pb} packets, "
          f"{len(diffs)} differences")
    for d in diffs[:10]:
        print(d)
    return 1 if diffs else 0


def pick(stats, path):
    v = stats
    for k in path:
        if not isinstance(v, dict):
            return None
        v = v.get(k)
    return v


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--tuples":
        try:
            return main_tuples(sys.argv[2], sys.argv[3])
        except (OSError, ValueError) as e:
            print(f"compare_eve: {e}")
            return 2
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        (ra, sa), (rb, sb) = load(sys.argv[1]), load(sys.argv[2])
    except (OSError, SystemExit) as e:
        print(f"compare_eve: {e}")
        return 2
    diffs = []
    if ra != rb:
        only_a = sorted(set(ra) - set(rb))
        only_b = sorted(set(rb) - set(ra))
        diffs += [f"only in A: {r}" for r in only_a[:5]]
        diffs += [f"only in B: {r}" for r in only_b[:5]]
        if not only_a and not only_b:
            diffs.append("same records, different multiplicities")
    if sa is None or sb is None:
        diffs.append("a stats event is missing")
    else:
        for path in STATS_KEYS:
            va, vb = pick(sa, path), pick(sb, path)
            if va != vb:
                diffs.append(f"stats.{'.'.join(path)}: {va} != {vb}")
    print(f"compare_eve: {len(ra)} vs {len(rb)} records, {len(diffs)} differences")
    for d in diffs[:10]:
        print(d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
