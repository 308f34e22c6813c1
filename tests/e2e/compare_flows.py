#!/usr/bin/python3
"""Compare a sensor's EVE flow records with the tshark oracle (pcap_flows.py).

Usage: compare_flows.py PCAP EVE_JSON [--verbose] [--oracle ORACLE_JSON]

EVE_JSON holds one JSON object per line. Only event_type "flow" records whose
proto is TCP or UDP are used; each is keyed by the canonical unordered 5-tuple
of src_ip/src_port/dest_ip/dest_port, and pkts_toserver+pkts_toclient and
bytes_toserver+bytes_toclient (in the record's "flow" object, as Suricata
writes them) are summed over every record of that tuple: one tuple can give
several flows (timeouts, TCP port reuse, VLANs).

For every tuple the oracle calls eligible, the sensor must have it, with the
same packet and byte totals. A sensor tuple the oracle excluded (or whose
protocol and address pair it excluded) is ignored; a sensor tuple the oracle
does not know at all is a mismatch.

Prints "PCAP: N tuples compared, M mismatches", then the first 20 mismatches.
--oracle uses a saved pcap_flows.py output instead of running tshark.
Exit: 0 no mismatch, 1 mismatches, 2 usage or input error.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcap_flows  # noqa: E402

MAX_DETAILS = 20


class InputError(Exception):
    pass


def eve_totals(path):
    """{key: {"pkts", "bytes", "records"}} from an EVE file."""
    totals = {}
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputError("%s: %s" % (path, e.strerror))
    with fh:
        for n, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                rec = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise InputError("%s:%d: not a JSON object: %s" % (path, n, e))
            if not isinstance(rec, dict):
                raise InputError("%s:%d: not a JSON object" % (path, n))
            if rec.get("event_type") != "flow":
                continue
            proto = rec.get("proto")
            if isinstance(proto, int) or (isinstance(proto, str) and proto.isdigit()):
                proto = pcap_flows.PROTO_NAMES.get(int(proto))
            if not isinstance(proto, str) or proto.upper() not in ("TCP", "UDP"):
                continue
            counters = rec.get("flow") if isinstance(rec.get("flow"), dict) else rec
            if counters.get("reason") == "active":
                continue  # interim record: cumulative, the flow's last record has the totals
            try:
                key = pcap_flows.canonical_key(proto, rec["src_ip"], rec["src_port"],
                                               rec["dest_ip"], rec["dest_port"])
                vals = [counters[k] for k in ("pkts_toserver", "pkts_toclient",
                                              "bytes_toserver", "bytes_toclient")]
            except KeyError as e:
                raise InputError("%s:%d: flow record without %s" % (path, n, e))
            except (TypeError, ValueError) as e:
                raise InputError("%s:%d: bad address or port: %s" % (path, n, e))
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                       for v in vals):
                raise InputError("%s:%d: packet/byte counters must be integers >= 0"
                                 % (path, n))
            t = totals.setdefault(key, {"pkts": 0, "bytes": 0, "records": 0, "lines": []})
            t["pkts"] += vals[0] + vals[1]
            t["bytes"] += vals[2] + vals[3]
            t["records"] += 1
            if len(t["lines"]) < 5:
                t["lines"].append(n)
    return totals


def pair_of(key):
    """'UDP 1.2.3.4:5 [::1]:6' -> 'UDP 1.2.3.4 ::1' (excluded_pairs key)."""
    proto, a, b = key.split(" ")
    addr = lambda ep: ep.rsplit(":", 1)[0].strip("[]")  # noqa: E731
    return pcap_flows.canonical_pair(proto, addr(a), addr(b))


def compare(oracle, darter):
    """Returns (compared, mismatches, ignored) with mismatches as text lines."""
    mismatches = []
    for key, o in oracle["tuples"].items():
        d = darter.get(key)
        if d is None:
            mismatches.append("%s: oracle pkts=%d bytes=%d, darter: no record"
                              % (key, o["pkts"], o["bytes"]))
        elif d["pkts"] != o["pkts"] or d["bytes"] != o["bytes"]:
            mismatches.append("%s: oracle pkts=%d bytes=%d, darter pkts=%d bytes=%d "
                              "(%d record(s), eve lines %s)"
                              % (key, o["pkts"], o["bytes"], d["pkts"], d["bytes"],
                                 d["records"], ",".join(map(str, d["lines"]))))
    ignored = []
    for key, d in sorted(darter.items()):
        if key in oracle["tuples"]:
            continue
        if key in oracle["excluded"]:
            ignored.append("%s: excluded by the oracle (%s)"
                           % (key, "; ".join(oracle["excluded"][key]["reasons"])[:300]))
            continue
        pair = pair_of(key)
        if pair in oracle.get("excluded_pairs", {}):
            ignored.append("%s: address pair excluded by the oracle (%s)"
                           % (key, "; ".join(oracle["excluded_pairs"][pair]["reasons"])[:300]))
            continue
        mismatches.append("%s: unknown to the oracle, darter pkts=%d bytes=%d "
                          "(%d record(s), eve lines %s)"
                          % (key, d["pkts"], d["bytes"], d["records"],
                             ",".join(map(str, d["lines"]))))
    return len(oracle["tuples"]), mismatches, ignored


def usage():
    sys.stderr.write("usage: compare_flows.py PCAP EVE_JSON [--verbose] [--oracle ORACLE_JSON]\n")
    return 2


def main(argv):
    args, verbose, oracle_path = [], False, None
    it = iter(argv[1:])
    for a in it:
        if a in ("--verbose", "-v"):
            verbose = True
        elif a == "--oracle":
            oracle_path = next(it, None)
            if oracle_path is None:
                return usage()
        elif a.startswith("-") and a != "-":
            return usage()
        else:
            args.append(a)
    if len(args) != 2:
        return usage()
    pcap, eve = args
    try:
        if oracle_path:
            with open(oracle_path) as fh:
                oracle = json.load(fh)
        else:
            if not os.path.isfile(pcap):
                raise InputError("%s: no such file" % pcap)
            oracle = pcap_flows.compute(pcap)
        darter = eve_totals(eve)
    except (InputError, RuntimeError, OSError, ValueError) as e:
        sys.stderr.write("compare_flows.py: %s\n" % e)
        return 2

    compared, mismatches, ignored = compare(oracle, darter)
    print("%s: %d tuples compared, %d mismatches" % (pcap, compared, len(mismatches)))
    for m in mismatches[:MAX_DETAILS]:
        print("  mismatch " + m)
    if len(mismatches) > MAX_DETAILS:
        print("  ... and %d more" % (len(mismatches) - MAX_DETAILS))
    if verbose:
        print("  oracle: %d eligible, %d excluded tuples, %d excluded address pairs; "
              "darter: %d TCP/UDP tuples, %d ignored"
              % (len(oracle["tuples"]), len(oracle["excluded"]),
                 len(oracle.get("excluded_pairs", {})), len(darter), len(ignored)))
        if oracle.get("tshark_warning"):
            print("  tshark: %s" % oracle["tshark_warning"])
        for i in ignored:
            print("  ignored " + i)
        for k, e in oracle["excluded"].items():
            print("  excluded %s (%d ineligible + %d eligible pkts): %s"
                  % (k, e["ineligible_pkts"], e["eligible_pkts"],
                     "; ".join(e["reasons"])[:300]))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
