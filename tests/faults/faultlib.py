"""faultlib.py: shared pieces of the fault-injection tests (tests/faults).

TAP output, a real redis-server on a free loopback port, darter in live
mode on an endless net_pcap port with a control socket in the test's own
directory (counters while it runs), RSS sampling, and the accounting every
fault test asserts: records in = records out + counted drops.
Python 3 standard library only.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FLOW_TAG = b'"event_type":"flow"'


class Tap:
    """Prints TAP as it goes; todo=REASON marks a known bug (not a failure)."""

    def __init__(self, plan):
        self.n = 0
        self.fails = 0
        print("1..%d" % plan, flush=True)

    def check(self, name, good, detail="", todo=None):
        self.n += 1
        todo = todo if not good else None  # a known bug that is gone is a plain pass
        directive = " # TODO %s" % todo if todo else ""
        print("%s %d - %s%s" % ("ok" if good else "not ok", self.n, name, directive))
        if detail and (not good or todo):
            for line in str(detail).splitlines():
                print("# " + line)
        sys.stdout.flush()
        if not good and not todo:
            self.fails += 1
        return good

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        return 1 if self.fails else 0


def workdir(tag):
    return tempfile.mkdtemp(prefix="darter-fault-%s." % tag)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ redis

def redis_start(port, log):
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"],
                         stdout=open(log, "a"), stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server on port %d did not answer" % port)


# ----------------------------------------------------------------- darter

def pcap_mbufs(npackets):
    """capture.mbufs for infinite_rx (it keeps every packet of the file in mbufs)."""
    m = 1023
    while m < npackets + 1024:
        m = m * 2 + 1
    return m


def live_conf(work, pcap, extra=""):
    sock = os.path.join(work, "ctl.sock")
    path = os.path.join(work, "live.yaml")
    with open(path, "w") as f:
        f.write('capture:\n  ports: ["net_pcap0,rx_pcap=%s,infinite_rx=1"]\n' % pcap)
        f.write("control:\n  enabled: yes\n  socket: %s\n" % sock)
        f.write("metrics:\n  enabled: no\n")
        f.write(extra)
    return path, sock


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def counters(sock, timeout=3.0):
    """darter's counters now ({dotted.name: value}) over the control socket, or {}."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sock)
            s.sendall(b'{"command": "dump-counters"}\n')
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        reply = json.loads(buf)
        return flatten(reply["message"]) if reply.get("return") == "OK" else {}
    except (OSError, ValueError, KeyError):
        return {}


def wait_for(pred, timeout, step=0.2):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_sampled(cmd, out, period=0.02, on_sample=None):
    """Run cmd to its end, sampling VmRSS; returns (rc, samples_kb, peak_kb from wait4)."""
    p = subprocess.Popen(cmd, stdout=open(out, "w"), stderr=subprocess.STDOUT)
    samples = []
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode, samples, ru.ru_maxrss
        samples.append(rss_kb(p.pid))
        if on_sample:
            on_sample(p, len(samples))
        time.sleep(period)


def stop(proc, timeout=60):
    """SIGTERM and wait; returns the exit code or 'hung'."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "hung"


# ------------------------------------------------------------- eve files

def eve_scan(path):
    """
    (flow lines, lines that are not whole JSON, last line) of an EVE file.
    A flow line is a whole JSON line with the flow event type; a broken
    (torn) line is counted apart, never as a flow line.
    """
    flows, broken, last = 0, 0, b""
    try:
        with open(path, "rb") as f:
            for line in f:
                last = line
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("no newline")
                    json.loads(line)
                except ValueError:
                    broken += 1
                    continue
                if FLOW_TAG in line:
                    flows += 1
    except FileNotFoundError:
        pass
    return flows, broken, last


def final_stats(last_line):
    try:
        ev = json.loads(last_line)
    except ValueError:
        return None
    return flatten(ev["stats"]) if ev.get("event_type") == "stats" else None


def accounting(st, flow_lines):
    """
    The equations every fault test asserts, as (name, holds, detail) rows:
    every flow created ended with a final record (flow.total = emitted, none
    active at the end), and records handed on (final records + interim
    ones, which darter.flow.emitted does not include) = flow lines written
    + counted drops (handoff ring_full/pool_empty, workers dropped and
    format_errors).
    """
    g = lambda k: st.get(k, 0)
    drops = (g("darter.handoff.ring_full") + g("darter.handoff.pool_empty") +
             g("darter.workers.dropped") + g("darter.workers.format_errors"))
    emitted, interim = g("darter.flow.emitted"), g("darter.flow.interim")
    return [
        ("every flow created ended in a record (flow.total %d = emitted %d, active %d)"
         % (g("flow.total"), emitted, g("flow.active")),
         g("flow.total") == emitted and g("flow.active") == 0, ""),
        ("records = flow lines + counted drops (emitted %d + interim %d = %d + %d)"
         % (emitted, interim, flow_lines, drops), emitted + interim == flow_lines + drops,
         "ring_full %d pool_empty %d dropped %d format_errors %d" % (
             g("darter.handoff.ring_full"), g("darter.handoff.pool_empty"),
             g("darter.workers.dropped"), g("darter.workers.format_errors"))),
    ]


def cleanup(path):
    shutil.rmtree(path, ignore_errors=True)
