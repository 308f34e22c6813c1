#!/usr/bin/env python3
"""Fault: SIGTERM in the middle of an offline replay.

A large generated capture (200000 flows x 10 packets, 2 M packets) is
replayed with -r; SIGTERM comes once darter has read part of it (eve.json
has lines) and well before the end. Asserts: exit 0, the replay really
was cut short (fewer packets decoded than the file holds), a final stats
event, and nothing lost: every flow created was written (flow.total =
flow lines, no drops in offline mode), every line whole JSON.

Usage: test_sigterm_replay.py DARTER DARTER_GEN   (prints TAP)
"""
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402

FLOWS, PKTS = 200000, 10


def main(darter, gen):
    tap = fl.Tap(7)
    work = fl.workdir("sigterm")
    proc = None
    try:
        pcap = os.path.join(work, "big.pcap")
        subprocess.run([gen, "pcap", pcap, "--flows", str(FLOWS), "--pkts-per-flow", str(PKTS),
                        "--size", "64", "--seed", "4", "--quiet"], check=True)
        logs = os.path.join(work, "logs")
        eve = os.path.join(logs, "eve.json")
        out = os.path.join(work, "darter.out")
        proc = subprocess.Popen([darter, "-r", pcap, "-l", logs], stdout=open(out, "w"),
                                stderr=subprocess.STDOUT)
        # mid-replay: once records are being written (flows end as the file goes on)
        started = fl.wait_for(lambda: os.path.exists(eve) and os.path.getsize(eve) > 1 << 20,
                              60, 0.05)
        time.sleep(0.3)
        running = proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
        tap.check("SIGTERM during the replay: exit 0 (in %.1f s)" % (time.monotonic() - t0),
                  bool(started) and running and rc == 0,
                  "exit %s, running at SIGTERM: %s\n%s" % (rc, running, open(out).read()[-800:]))
        flows, broken, last = fl.eve_scan(eve)
        st = fl.final_stats(last) or {}
        g = lambda k: st.get(k, 0)
        tap.check("final stats event present", bool(st), last[:300])
        tap.check("the replay was cut short (%d of %d packets decoded)" % (
            g("decoder.pkts"), FLOWS * PKTS), 0 < g("decoder.pkts") < FLOWS * PKTS)
        tap.check("every flow created is written (flow.total %d = flow lines %d)" % (
            g("flow.total"), flows), g("flow.total") == flows and flows > 0)
        for name, good, detail in fl.accounting(st, flows):
            tap.check(name, good, detail)
        tap.check("every line whole JSON (%d broken)" % broken, broken == 0)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        fl.cleanup(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
