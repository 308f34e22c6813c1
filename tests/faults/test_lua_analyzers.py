#!/usr/bin/env python3
"""Fault: Lua analyzers that fail, hang, hog memory, and 100 reloads under load.

darter runs live on an endless net_pcap port with four analyzer scripts
(written here): one raises an error on every third record, one loops
forever on every 2000th record, one keeps every record's data until its
state's memory cap (analyzers.memory-mb=16), one emits every record to
the analyzers sink. Then the analyzers are reloaded 100 times over the
control socket (reload-analyzers) while traffic flows, each reload waited
for, and once more with a syntax error in one script.
Asserts: darter keeps running and writing flow records throughout; the
errors, timeouts and memory errors are counted; 100 reloads are applied
(darter.analyzers.reloads), the broken one is refused and counted
(reload_errors) while the old script keeps running; exit 0 on SIGTERM;
and no record is lost to an analyzer: flows created = flow lines +
counted drops.

Usage: test_lua_analyzers.py DARTER DARTER_GEN   (prints TAP)
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402

SCRIPTS = {
    "err.lua": """
local n = 0
function on_flow(rec)
	n = n + 1
	if n % 3 == 0 then error("err.lua: record " .. n) end
end
""",
    "loop.lua": """
local n = 0
function on_flow(rec)
	n = n + 1
	if n % 2000 == 0 then
		local x = 0
		while true do x = x + 1 end
	end
end
""",
    "hog.lua": """
local keep = {}
function on_flow(rec)
	keep[#keep + 1] = string.rep("x", 8192) .. rec.flow_id
end
""",
    "emit.lua": """
function on_flow(rec)
	darter.emit("flows", { event_type = "seen", flow_id = rec.flow_id })
end
""",
}
RELOADS = 100


def control(sock, command):
    """One control-socket command; its reply, or {} without a usable one."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(sock)
            s.sendall(json.dumps({"command": command}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)
    except (OSError, ValueError):
        return {}


def main(darter, gen):
    tap = fl.Tap(12)
    work = fl.workdir("lua")
    proc = None
    try:
        paths = []
        for name, text in SCRIPTS.items():
            paths.append(os.path.join(work, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        pcap = os.path.join(work, "g.pcap")
        subprocess.run([gen, "pcap", pcap, "--flows", "2000", "--pkts-per-flow", "6",
                        "--seed", "8", "--quiet"], check=True)
        conf, sock = fl.live_conf(work, pcap, "outputs:\n  eve:\n    stats-interval: 0\n"
                                  "analyzers:\n  scripts: [%s]\n  memory-mb: 16\n"
                                  "  cpu-ms: 50\n" % ", ".join(paths))
        logs = os.path.join(work, "logs")
        out = os.path.join(work, "darter.out")
        proc = subprocess.Popen([darter, "-c", conf, "-l", logs, "--set", "capture.mbufs=16383"],
                                stdout=open(out, "w"), stderr=subprocess.STDOUT)
        c = lambda: fl.counters(sock)
        g = lambda d, k: d.get("darter.analyzers." + k, 0)
        faults = fl.wait_for(lambda: proc.poll() is not None or (
            lambda d: d if g(d, "errors") and g(d, "timeouts") and g(d, "mem_errors")
            else None)(c()), 60, 0.5)
        faults = faults if isinstance(faults, dict) else None
        tap.check("errors, timeouts and memory errors are counted (%s)" % (
            {k: g(faults or {}, k) for k in ("calls", "errors", "timeouts", "mem_errors")}),
            bool(faults), open(out).read()[-1200:])
        faults = faults or c()
        time.sleep(2)
        later = c()
        early = proc.poll() is None and bool(later) and later.get(
            "darter.workers.lines") == faults.get("darter.workers.lines")
        tap.check("darter keeps running and writing records (lines %s -> %s)" % (
            faults.get("darter.workers.lines"), later.get("darter.workers.lines")),
            proc.poll() is None and later.get("darter.workers.lines", 0) >
            faults.get("darter.workers.lines", 0))

        r0, t0, applied = g(later, "reloads"), time.monotonic(), 0
        for i in range(RELOADS):
            if control(sock, "reload-analyzers").get("return") != "OK":
                break
            want = r0 + (i + 1) * len(SCRIPTS)
            if not fl.wait_for(lambda: g(c(), "reloads") >= want, 10, 0.05):
                break
            applied += 1
        after = c()
        time.sleep(3)
        # A worker that stopped taking records while darter runs (docs/faults.md, bug 2:
        # a forced stop that jumped out of libgcc and left its lock held) fails every
        # check below; the note says where it stopped.
        stalled = early or after.get("darter.workers.lines") == c().get("darter.workers.lines")
        if stalled:
            tap.note("worker stalled after %d reloads: records stop, ring_full grows (%s)" % (
                applied, c().get("darter.handoff.ring_full")))
        tap.check("%d reloads under load applied (darter.analyzers.reloads %d -> %d, %.0f s)" % (
            applied, r0, g(after, "reloads"), time.monotonic() - t0),
            applied == RELOADS and g(after, "reload_errors") == 0 and proc.poll() is None)
        tap.check("records kept flowing during and after the reloads (lines %s -> %s)" % (
            later.get("darter.workers.lines"), after.get("darter.workers.lines")),
            not stalled and after.get("darter.workers.lines", 0) >
            later.get("darter.workers.lines", 0))

        with open(paths[3], "w") as f:  # emit.lua, broken
            f.write("function on_flow(rec)\n\tthis is not lua\nend\n")
        emits0 = g(c(), "emits")
        control(sock, "reload-analyzers")
        bad = fl.wait_for(lambda: (lambda d: d if g(d, "reload_errors") > 0 else None)(c()),
                          3 if stalled else 10)
        time.sleep(1.5)
        tap.check("a reload with a syntax error is refused and counted (reload_errors %d)" %
                  g(bad or {}, "reload_errors"), bool(bad) and proc.poll() is None)
        tap.check("the old emit.lua keeps running after the refused reload (emits %d -> %d)" % (
            emits0, g(c(), "emits")), g(c(), "emits") > emits0)

        rc = fl.stop(proc, 20)
        tap.check("SIGTERM: exit 0", rc == 0, "exit %s\n%s" % (rc, open(out).read()[-800:]))
        flows, broken, last = fl.eve_scan(os.path.join(logs, "eve.json"))
        st = fl.final_stats(last)
        tap.check("final stats event present", st is not None, last[:300])
        st = st or {}
        for name, good, detail in fl.accounting(st, flows):
            tap.check(name, good, detail)
        an_lines, an_broken, _ = fl.eve_scan(os.path.join(logs, "analyzers.json"))
        with open(os.path.join(logs, "analyzers.json"), "rb") as f:
            an_lines = sum(1 for line in f if b'"seen"' in line)
        tap.check("analyzer events: emits = lines in analyzers.json + counted emit errors "
                  "(%d = %d + %d), %d broken" % (
                      st.get("darter.analyzers.emits", 0), an_lines,
                      st.get("darter.analyzers.emit_errors", 0), an_broken),
                  st.get("darter.analyzers.emits", 0) == an_lines +
                  st.get("darter.analyzers.emit_errors", 0) and an_broken == 0)
        tap.check("each record met every analyzer or a counted failure (calls %d >= 4 x %d "
                  "records)" % (st.get("darter.analyzers.calls", 0),
                                st.get("darter.workers.records", 0)),
                  st.get("darter.analyzers.calls", 0) >= 4 * st.get("darter.workers.records", 0)
                  and st.get("darter.workers.records", 0) > 0)
        tap.note("final analyzers: " + json.dumps(
            {k[len("darter.analyzers."):]: v for k, v in st.items()
             if k.startswith("darter.analyzers.")}))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        fl.cleanup(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
