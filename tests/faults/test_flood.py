#!/usr/bin/env python3
"""Fault: a random 5-tuple flood and a fragment flood against a small flow table.

Floods written by flood_pcap.py (300000 one-packet flows with random
addresses, ports and TCP/UDP; 100000 fragmented datagrams, each followed
by an orphan non-first fragment whose first never comes) are replayed
with flow.max-flows=4096, 73x fewer entries than flows.

Memory bound: the flow table, nDPI states and fragment table are
allocated once, so the flood must cost no more than a benign capture with
the same configuration. The bound is the peak RSS of that baseline run +
16 MB. Unbounded per-flow growth would show: one flow entry alone is
flow.memuse / max-flows bytes (132 B here), x 300000 flows = 39 MB, and
nDPI's ~688 B per flow would add 200 MB; 16 MB is less than half of the
smallest of these, and more than the run-to-run noise (a few MB of libc
arenas and EAL).

Asserts: exit 0, peak RSS (wait4 ru_maxrss, and VmRSS sampled every
20 ms) within the bound, flow.memuse the same as the baseline's,
evictions counted, emergency mode entered, flows created = flow lines +
counted drops, and for fragments: every fragment counted once (first
fragments flowed; non-first ones attributed or counted unattributed).

Usage: test_flood.py DARTER   (prints TAP)
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SMALL = ["--set", "flow.max-flows=4096", "--set", "flow.hash-size=4096"]
SLACK_KB = 16 * 1024


def replay(darter, work, name, pcap):
    logs = os.path.join(work, name)
    rc, samples, peak = fl.run_sampled([darter, "-r", pcap, "-l", logs] + SMALL,
                                       os.path.join(work, name + ".out"))
    flows, broken, last = fl.eve_scan(os.path.join(logs, "eve.json"))
    return rc, max(samples + [0]), peak, flows, broken, fl.final_stats(last) or {}


def flood(tap, darter, work, kind, n, base_peak, base_memuse):
    pcap = os.path.join(work, kind + ".pcap")
    info = json.loads(subprocess.run([sys.executable, os.path.join(HERE, "flood_pcap.py"), kind,
                                      pcap, str(n), "--seed", "3"], check=True,
                                     capture_output=True, text=True).stdout)
    rc, sampled, peak, flows, broken, st = replay(darter, work, kind, pcap)
    g = lambda k: st.get(k, 0)
    bound = base_peak + SLACK_KB
    tap.check("%s flood (%d packets, %d flows): exit 0, stats event" % (
        kind, info["packets"], info["flows"]), rc == 0 and bool(st), "exit %s" % rc)
    tap.check("%s flood: peak RSS %d KB (sampled max %d KB) <= bound %d KB (baseline %d + %d)"
              % (kind, peak, sampled, bound, base_peak, SLACK_KB), peak <= bound and
              sampled <= bound)
    tap.check("%s flood: flow.memuse unchanged (%d vs baseline %d)" % (
        kind, g("flow.memuse"), base_memuse), g("flow.memuse") == base_memuse)
    tap.check("%s flood: evictions counted (darter.flow.evicted %d), emergency mode entered "
              "(darter.flow.emergency %d)" % (kind, g("darter.flow.evicted"),
                                               g("darter.flow.emergency")),
              g("darter.flow.evicted") > info["flows"] // 2 and g("darter.flow.emergency") > 0)
    tap.check("%s flood: every flow created (%d of %d)" % (kind, g("flow.total"), info["flows"]),
              g("flow.total") == info["flows"])
    for name, good, detail in fl.accounting(st, flows):
        tap.check("%s flood: %s" % (kind, name), good, detail)
    return st, info


def main(darter, gen):
    tap = fl.Tap(18)
    work = fl.workdir("flood")
    try:
        base = os.path.join(work, "base.pcap")
        subprocess.run([gen, "pcap", base, "--flows", "2000", "--pkts-per-flow", "6",
                        "--seed", "3", "--quiet"], check=True)
        rc, _, base_peak, _, _, bst = replay(darter, work, "base", base)
        tap.check("baseline: benign capture, same config: peak RSS %d KB, flow.memuse %d" % (
            base_peak, bst.get("flow.memuse", 0)), rc == 0 and base_peak > 0)
        flood(tap, darter, work, "tuples", 300000, base_peak, bst.get("flow.memuse"))
        st, info = flood(tap, darter, work, "frags", 100000, base_peak, bst.get("flow.memuse"))
        g = lambda k: st.get(k, 0)
        tap.check("frags flood: every fragment seen (darter.frag.fragments %d = %d)" % (
            g("darter.frag.fragments"), info["first"] + info["non_first"]),
            g("darter.frag.fragments") == info["first"] + info["non_first"])
        tap.check("frags flood: non-first fragments attributed + counted unattributed "
                  "(%d + %d = %d), orphans all counted (held %d)" % (
                      g("darter.frag.attributed"), g("darter.frag.unattributed"),
                      info["non_first"], g("darter.frag.held")),
                  g("darter.frag.attributed") + g("darter.frag.unattributed") ==
                  info["non_first"] and g("darter.frag.unattributed") == info["orphans"])
        tap.check("frags flood: the fragment table evicts, counted (evicted %d, expired %d)" % (
            g("darter.frag.evicted"), g("darter.frag.expired")),
            g("darter.frag.evicted") > 0 and g("darter.frag.evicted") +
            g("darter.frag.expired") >= info["orphans"])
    finally:
        fl.cleanup(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
