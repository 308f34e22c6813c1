#!/usr/bin/env python3
"""Fault: the Unix socket sink's reader vanishes and comes back, twice.

darter runs live on an endless net_pcap port with outputs.unix-socket
(stream, flow events) pointed at a reader this test runs on a socket in
its own directory (a thread: select loop, counts whole lines per
connection). Then:
  1. the reader leaves cleanly: shutdown(SHUT_RD) (darter's next send
     fails), reads what is queued to end of file, closes, removes its
     socket file; for 3 s darter has nowhere to send;
  2. the reader comes back on the same path: darter reconnects by itself
     (backoff, no signal);
  3. the reader stalls (reads nothing for 2 s: darter's buffer fills,
     it drops and counts while connected), then dies abruptly: closes
     with lines still in its socket queue (counted here with MSG_PEEK:
     darter counted them delivered, the kernel threw them away);
  4. it comes back again, darter reconnects; SIGTERM: darter delivers
     what it holds, closes, exit 0, final stats.
Accounting: written = delivered + dropped (queued 0 at the end);
written = flow lines in eve.json (every flow event offered); delivered =
whole lines the readers read + lines lost in the dead reader's queue; a
line darter had half sent when a reader went is not a line (darter
drops it, counted); every line a reader got is a whole flow line that
eve.json has; plus faultlib's flow accounting on eve.json.

Usage: test_sink_reader.py DARTER DARTER_GEN   (prints TAP)
"""
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402

P = "darter.outputs.unix_socket."


def unread(conn):
    """Bytes waiting in conn's receive queue (SIOCINQ)."""
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


class Reader(threading.Thread):
    """A Unix stream server on path: reads every connection, keeps the whole lines."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lst.bind(path)
        self.lst.listen(16)
        self.conns = {}  # socket -> bytes after its last '\n'
        self.lines = []  # hash() of each whole line read (without '\n')
        self.accepted = 0
        self.cut = 0  # connections that ended inside a line
        self.lost = 0  # lines thrown away by an abrupt close
        self.pause = threading.Event()
        self.paused = threading.Event()
        self.quit = False

    def _take(self, c, data):
        buf = self.conns[c] + data
        parts = buf.split(b"\n")
        self.lines.extend(hash(p) for p in parts[:-1])
        self.conns[c] = parts[-1]

    def _end(self, c):
        if self.conns.pop(c):
            self.cut += 1
        c.close()

    def run(self):
        while not (self.quit and not self.conns):
            if self.pause.is_set():
                self.paused.set()
                time.sleep(0.02)
                continue
            socks = list(self.conns) + ([self.lst] if self.lst else [])
            r, _, _ = select.select(socks, [], [], 0.05)
            for c in r:
                if c is self.lst:
                    self.conns[self.lst.accept()[0]] = b""
                    self.accepted += 1
                    continue
                try:
                    d = c.recv(1 << 16)
                except ConnectionResetError:
                    d = b""
                if d:
                    self._take(c, d)
                else:
                    self._end(c)

    def hold(self):
        """Stop reading (the thread parks); returns once it has."""
        self.pause.set()
        self.paused.wait(5)

    def _unlisten(self):
        self.lst.close()
        self.lst = None
        os.unlink(self.path)

    def leave_cleanly(self):
        """shutdown(SHUT_RD) every connection, read what is queued to EOF, close."""
        self.hold()
        self._unlisten()
        for c in list(self.conns):
            c.shutdown(socket.SHUT_RD)
            c.settimeout(5)
            while True:
                try:
                    d = c.recv(1 << 16)
                except OSError:
                    d = b""
                if not d:
                    break
                self._take(c, d)
            self._end(c)
        self.quit = True
        self.pause.clear()
        self.join(5)

    def die(self):
        """Close with lines still queued; count them (peek) as lost."""
        self.hold()
        self._unlisten()
        for c in list(self.conns):
            last, since = unread(c), time.monotonic()
            while time.monotonic() - since < 0.5:  # darter cannot add more once it is full
                time.sleep(0.05)
                if unread(c) != last:
                    last, since = unread(c), time.monotonic()
            queued = c.recv(max(last, 1), socket.MSG_PEEK | socket.MSG_DONTWAIT) if last else b""
            self.lost += queued.count(b"\n")
            self.conns[c] = b""  # a head read earlier belongs to a lost line
            self._end(c)
        self.quit = True
        self.pause.clear()
        self.join(5)

    def finish(self, timeout=20):
        """After darter has gone: read to EOF on every connection."""
        self.quit = True
        self.join(timeout)
        if self.lst:
            self._unlisten()


def main(darter, gen):
    tap = fl.Tap(20)
    work = fl.workdir("sinkreader")
    proc = None
    readers = []
    try:
        pcap = os.path.join(work, "g.pcap")
        subprocess.run([gen, "pcap", pcap, "--flows", "2000", "--pkts-per-flow", "6",
                        "--seed", "11", "--quiet"], check=True)
        path = os.path.join(work, "out.sock")
        readers.append(Reader(path))
        readers[-1].start()
        conf, sock = fl.live_conf(work, pcap, "outputs:\n  eve:\n    stats-interval: 0\n"
                                  "  unix-socket:\n    enabled: yes\n    path: %s\n"
                                  "    type: stream\n    events: [flow]\n" % path)
        logs = os.path.join(work, "logs")
        out = os.path.join(work, "darter.out")
        proc = subprocess.Popen([darter, "-c", conf, "-l", logs, "--set", "capture.mbufs=16383"],
                                stdout=open(out, "w"), stderr=subprocess.STDOUT)
        c = lambda: fl.counters(sock)
        up = fl.wait_for(lambda: c().get(P + "lines", 0) > 5000 and c(), 30)
        tap.check("lines reach the reader", bool(up), open(out).read()[-800:])

        # 1. the reader leaves cleanly
        readers[-1].leave_cleanly()
        time.sleep(1.5)  # workers publish their counters every second: let one pass
        gone1 = c()
        time.sleep(2.5)
        gone2 = c()
        tap.check("reader gone: darter keeps running", proc.poll() is None and bool(gone2),
                  "exit %s" % proc.poll())
        tap.check("reader gone: nothing delivered (lines %s, %s)" % (
            gone1.get(P + "lines"), gone2.get(P + "lines")),
            gone1.get(P + "lines") == gone2.get(P + "lines"))
        dw = gone2.get(P + "written", 0) - gone1.get(P + "written", 0)
        dd = gone2.get(P + "dropped", 0) - gone1.get(P + "dropped", 0)
        dq = gone2.get(P + "queued", 0) - gone1.get(P + "queued", 0)
        tap.check("reader gone: every line offered is counted dropped or queued "
                  "(written +%d = dropped +%d + queued %+d)" % (dw, dd, dq),
                  dw == dd + dq and dd > 0)
        tap.check("reader gone: flow lines still written to eve.json (%s -> %s)" % (
            gone1.get("darter.workers.lines"), gone2.get("darter.workers.lines")),
            gone2.get("darter.workers.lines", 0) > gone1.get("darter.workers.lines", 0))

        # 2. it comes back
        readers.append(Reader(path))
        readers[-1].start()
        t0 = time.monotonic()
        back = fl.wait_for(lambda: c().get(P + "reconnects", 0) >= 1 and
                           readers[-1].accepted > 0 and len(readers[-1].lines) > 1000, 20, 0.05)
        tap.check("reader back: darter reconnects by itself (%.1f s, reconnects %s)" % (
            time.monotonic() - t0, c().get(P + "reconnects")), bool(back))

        # 3. it stalls, then dies with lines in its queue
        st0 = c()
        readers[-1].hold()
        time.sleep(2)
        st1 = c()
        tap.check("reader stalled: darter keeps running, drops counted while connected "
                  "(dropped %s -> %s)" % (st0.get(P + "dropped"), st1.get(P + "dropped")),
                  proc.poll() is None and st1.get(P + "dropped", 0) > st0.get(P + "dropped", 0))
        readers[-1].die()
        tap.note("the dead reader's queue held %d whole lines" % readers[-1].lost)
        time.sleep(2)
        tap.check("reader died: darter keeps running", proc.poll() is None)

        # 4. back again, then SIGTERM
        readers.append(Reader(path))
        readers[-1].start()
        t0 = time.monotonic()
        back = fl.wait_for(lambda: c().get(P + "reconnects", 0) >= 2 and
                           len(readers[-1].lines) > 1000, 20, 0.05)
        tap.check("reader back again: darter reconnects by itself (%.1f s, reconnects %s)" % (
            time.monotonic() - t0, c().get(P + "reconnects")), bool(back))
        rc = fl.stop(proc)
        tap.check("SIGTERM: exit 0", rc == 0, "exit %s\n%s" % (rc, open(out).read()[-800:]))
        readers[-1].finish()
        tap.check("darter closed its connections at exit", not readers[-1].is_alive())

        flows, broken, last = fl.eve_scan(os.path.join(logs, "eve.json"))
        st = fl.final_stats(last)
        tap.check("final stats event present", st is not None, last[:300])
        st = st or {}
        g = lambda k: st.get(P + k, 0)
        tap.check("written = delivered + dropped, nothing queued (%d = %d + %d, queued %d)" % (
            g("written"), g("lines"), g("dropped"), g("queued")),
            g("written") == g("lines") + g("dropped") and g("queued") == 0)
        tap.check("every flow line of eve.json was offered to the socket (written %d = %d)" % (
            g("written"), flows), g("written") == flows)
        got = sum(len(r.lines) for r in readers)
        lost = sum(r.lost for r in readers)
        cut = sum(r.cut for r in readers)
        tap.check("delivered = lines read + lines lost in the dead reader's queue "
                  "(%d = %d + %d)" % (g("lines"), got, lost), g("lines") == got + lost,
                  "cut lines (half sent, darter counts them dropped): %d" % cut)
        tap.check("reconnects counted: %d" % g("reconnects"), g("reconnects") >= 2)
        eve_lines = set()
        with open(os.path.join(logs, "eve.json"), "rb") as f:
            for line in f:
                if fl.FLOW_TAG in line:
                    eve_lines.add(hash(line.rstrip(b"\n")))
        bad = sum(1 for r in readers for h in r.lines if h not in eve_lines)
        tap.check("every line a reader got is a whole flow line of eve.json (%d not)" % bad,
                  bad == 0)
        for name, good, detail in fl.accounting(st, flows):
            tap.check(name, good, detail)
        tap.check("every line of eve.json is whole JSON (%d broken)" % broken, broken == 0)
        tap.note("written %d = delivered %d + dropped %d; read %d + lost in a dead queue %d; "
                 "cut %d; errors %d, reconnects %d; eve.json flow lines %d" % (
                     g("written"), g("lines"), g("dropped"), got, lost, cut, g("errors"),
                     g("reconnects"), flows))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for r in readers:
            r.quit = True
        fl.cleanup(work)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
