#!/usr/bin/env python3
"""tools/darterctl against a real control socket server. Prints TAP.

Usage: test_darterctl.py DARTERCTL CONTROL_SERVER

CONTROL_SERVER (tests/control/control_server.c, engine/control.c inside)
is started on a socket in a temp dir and killed by PID at the end. Fake
servers written here cover broken replies. Every check runs darterctl as
a subprocess and looks at its exit status (0 OK, 1 NOK, 2 no usable
answer or usage error), stdout and stderr.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

DARTERCTL, SERVER = sys.argv[1], sys.argv[2]
PYTHON = sys.executable
results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond), detail))


def ctl(*args, env=None, timeout=20):
    e = dict(os.environ)
    e.pop("DARTER_CONTROL_SOCKET", None)
    if env:
        e.update(env)
    p = subprocess.run([PYTHON, DARTERCTL] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def fake_server(path, reply):
    """Accept one connection, read the request line, send reply bytes, close."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)

    def run():
        c, _ = s.accept()
        buf = b""
        while b"\n" not in buf:
            chunk = c.recv(4096)
            if not chunk:
                break
            buf += chunk
        c.sendall(reply)
        c.close()
        s.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def main():
    tmp = tempfile.mkdtemp(prefix="darterctl-test-")
    sock = os.path.join(tmp, "darter.sock")
    server = subprocess.Popen([SERVER, sock], stdout=subprocess.PIPE, text=True)
    try:
        ready = server.stdout.readline().strip()
        check("server ready", ready == "ready", ready)
        run_checks(tmp, sock, server)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(results))
    for i, (name, ok, detail) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name,
                                "" if ok else " # " + detail.replace("\n", " | ")[:300]))
    return 0 if all(ok for _, ok, _ in results) else 1


def run_checks(tmp, sock, server):
    rc, out, err = ctl("-s", sock, "version")
    check("version: exit 0", rc == 0, err)
    check("version: prints the string", out == "ctl-test-9.9\n", out)

    rc, out, err = ctl("-s", sock, "uptime")
    check("uptime: an integer", rc == 0 and out.strip().isdigit(), out + err)

    rc, out, err = ctl("-s", sock, "echo", "a=1", "b=x", 'c={"d":true}', "e=[1,2]",
                       'f="2"', "g=")
    try:
        got = json.loads(out)
    except ValueError:
        got = None
    check("echo: key=value arguments, JSON values typed", rc == 0 and got == {
        "a": 1, "b": "x", "c": {"d": True}, "e": [1, 2], "f": "2", "g": ""}, out + err)

    rc, out, err = ctl("-s", sock, "iface-stat", "eth0")
    check("iface-stat IFACE: positional argument", rc == 0 and json.loads(out) == {
        "iface": "eth0"}, out + err)
    rc, out, err = ctl("-s", sock, "conf-get", "outputs.eve.filename")
    check("conf-get NAME: positional argument", rc == 0 and json.loads(out) == {
        "variable": "outputs.eve.filename"}, out + err)

    rc, out, err = ctl("-s", sock, "dump-counters")
    got = json.loads(out) if rc == 0 else None
    check("dump-counters: nested counters", got == {
        "capture": {"packets": 1000, "imissed": 2}, "decoder": {"pkts": 998},
        "flow": {"memuse": 65536}}, out + err)

    rc, out, err = ctl("-s", sock, "--json", "version")
    check("--json: the raw reply line", rc == 0 and json.loads(out) == {
        "return": "OK", "message": "ctl-test-9.9"}, out + err)

    rc, out, err = ctl("-s", sock, "fail")
    check("NOK: exit 1", rc == 1, "rc=%d" % rc)
    check("NOK: message on stderr", "failed on purpose" in err and out == "", out + err)

    rc, out, err = ctl("-s", sock, "no-such-command")
    check("unknown command: exit 1", rc == 1 and "unknown command" in err, out + err)

    rc, out, err = ctl("version", env={"DARTER_CONTROL_SOCKET": sock})
    check("socket from $DARTER_CONTROL_SOCKET", rc == 0 and out == "ctl-test-9.9\n", out + err)

    rc, out, err = ctl("-s", sock, "echo", "=x")
    check("empty key: usage error, exit 2", rc == 2, out + err)
    rc, out, err = ctl("-s", sock, "version", "positional")
    check("positional where none is taken: exit 2", rc == 2, out + err)
    rc, out, err = ctl("-s", sock)
    check("no command: exit 2", rc == 2, out + err)

    rc, out, err = ctl("-s", os.path.join(tmp, "missing.sock"), "version")
    check("no socket: exit 2", rc == 2 and "missing.sock" in err, out + err)

    stale = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()
    rc, out, err = ctl("-s", stale, "version")
    check("nobody listening: exit 2", rc == 2 and "refused" in err.lower(), out + err)

    t0 = time.monotonic()
    rc, out, err = ctl("-s", sock, "-t", "0.3", "slow")
    check("timeout: exit 2", rc == 2 and "no reply" in err, out + err)
    check("timeout: in time", time.monotonic() - t0 < 5)
    rc, out, err = ctl("-s", sock, "slow", "ms=100")
    check("a slow answer within the timeout", rc == 0 and out == "slow answer\n", out + err)

    for name, reply in (("not JSON", b"garbage\n"), ("no return", b'{"message":1}\n'),
                        ("bad return", b'{"return":"MAYBE","message":1}\n'),
                        ("no newline before close", b'{"return":"OK","message":1}'),
                        ("closed without reply", b"")):
        path = os.path.join(tmp, "fake.sock")
        t = fake_server(path, reply)
        rc, out, err = ctl("-s", path, "version")
        t.join(5)
        os.unlink(path)
        check("broken server (%s): exit 2" % name, rc == 2 and err.startswith("darterctl: "),
              "rc=%d %s" % (rc, out + err))

    rc, out, err = ctl("-s", sock, "shutdown")
    check("shutdown: exit 0", rc == 0 and out == "Closing darter\n", out + err)
    try:
        code = server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    check("shutdown: the server exited cleanly", code == 0, "exit %s" % code)
    check("shutdown: socket file removed", not os.path.exists(sock))
    rc, out, err = ctl("-s", sock, "version")
    check("after shutdown: exit 2", rc == 2, out + err)


if __name__ == "__main__":
    sys.exit(main())
