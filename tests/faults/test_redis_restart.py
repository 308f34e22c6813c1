#!/usr/bin/env python3
"""Fault: Redis killed (SIGKILL) and restarted on the same port mid-stream.

darter runs live on an endless net_pcap port with the MAD core's Redis
store against a real redis-server on a free loopback port. The server is
killed by PID while records flow, then started again on the same port.
Asserts: darter keeps writing records while Redis is gone (scored
locally, counted as redis_fallbacks), reconnects by itself (redis_replies
grow again after the restart), exits 0 on SIGTERM, and nothing is lost:
every record is either answered by Redis or counted as a fallback, and
flows created = flow lines + counted drops.

Usage: test_redis_restart.py DARTER DARTER_GEN   (prints TAP)
"""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402


def main(darter, gen):
    tap = fl.Tap(12)
    work = fl.workdir("redis")
    redis = proc = None
    try:
        pcap = os.path.join(work, "g.pcap")
        subprocess.run([gen, "pcap", pcap, "--flows", "2000", "--pkts-per-flow", "6",
                        "--seed", "5", "--quiet"], check=True)
        port = fl.free_port()
        rlog = os.path.join(work, "redis.log")
        redis = fl.redis_start(port, rlog)
        conf, sock = fl.live_conf(work, pcap, "outputs:\n  eve:\n    stats-interval: 0\n")
        logs = os.path.join(work, "logs")
        out = os.path.join(work, "darter.out")
        proc = subprocess.Popen([darter, "-c", conf, "-l", logs, "--set", "capture.mbufs=16383",
                                 "--set", "mad.store=redis", "--set", "mad.redis.port=%d" % port,
                                 "--set", "mad.redis.timeout-ms=500"],
                                stdout=open(out, "w"), stderr=subprocess.STDOUT)
        c = lambda k: fl.counters(sock).get(k, -1)
        up = fl.wait_for(lambda: c("darter.mad.redis_replies") > 1000 and fl.counters(sock), 20)
        tap.check("records are scored in Redis before the fault", bool(up),
                  open(out).read()[-800:])
        up = up or {}

        redis.kill()  # SIGKILL, by PID
        redis.wait()
        redis = None
        time.sleep(3)
        down1 = fl.counters(sock)
        time.sleep(2)
        down2 = fl.counters(sock)
        tap.check("darter is still running with Redis gone", proc.poll() is None and
                  bool(down2), "exit %s" % proc.poll())
        tap.check("it keeps writing records while Redis is gone (lines %s -> %s)" % (
            down1.get("darter.workers.lines"), down2.get("darter.workers.lines")),
            down2.get("darter.workers.lines", 0) > down1.get("darter.workers.lines", 0) >
            up.get("darter.workers.lines", 0))
        tap.check("records scored locally are counted as redis_fallbacks (%s -> %s)" % (
            up.get("darter.mad.redis_fallbacks"), down2.get("darter.mad.redis_fallbacks")),
            down2.get("darter.mad.redis_fallbacks", 0) > up.get("darter.mad.redis_fallbacks", 0))
        tap.check("no Redis replies while it is down (%s, %s)" % (
            down1.get("darter.mad.redis_replies"), down2.get("darter.mad.redis_replies")),
            down1.get("darter.mad.redis_replies") == down2.get("darter.mad.redis_replies"))

        redis = fl.redis_start(port, rlog)  # the same port
        t0 = time.monotonic()
        back = fl.wait_for(lambda: c("darter.mad.redis_replies") >
                           down2.get("darter.mad.redis_replies", 0) + 1000 and fl.counters(sock),
                           30)
        tap.check("after the restart Redis replies resume by themselves (%s -> %s, %.1f s)" % (
            down2.get("darter.mad.redis_replies"), (back or {}).get("darter.mad.redis_replies"),
            time.monotonic() - t0), bool(back))
        time.sleep(2)

        rc = fl.stop(proc)
        tap.check("SIGTERM: exit 0", rc == 0, "exit %s\n%s" % (rc, open(out).read()[-800:]))
        eve = os.path.join(logs, "eve.json")
        flows, broken, last = fl.eve_scan(eve)
        st = fl.final_stats(last)
        tap.check("final stats event present", st is not None, last[:300])
        st = st or {}
        g = lambda k: st.get(k, 0)
        tap.check("every record went to Redis or was counted as a fallback "
                  "(records %d = replies %d + fallbacks %d)" % (
                      g("darter.mad.records"), g("darter.mad.redis_replies"),
                      g("darter.mad.redis_fallbacks")),
                  g("darter.mad.records") == g("darter.mad.redis_replies") +
                  g("darter.mad.redis_fallbacks") and g("darter.mad.records") > 0)
        for name, good, detail in fl.accounting(st, flows):
            tap.check(name, good, detail)
        tap.check("every line of eve.json is whole JSON (%d broken)" % broken, broken == 0)
        tap.note("final: records %d, redis calls %d replies %d fallbacks %d errors %d" % (
            g("darter.mad.records"), g("darter.mad.redis_calls"), g("darter.mad.redis_replies"),
            g("darter.mad.redis_fallbacks"), g("darter.mad.redis_errors")))
        with open(out) as f:
            tap.note("darter said:\n" + "".join(l for l in f if "redis" in l))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if redis is not None:
            redis.kill()
            redis.wait()
        fl.cleanup(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
