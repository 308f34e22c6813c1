#!/usr/bin/python3
"""Write seed corpora for darter's fuzz harnesses (tests/fuzz/fuzz_*.c).

Usage: make_seeds.py OUTDIR SOURCE_ROOT [PCAP_DIR...]

OUTDIR/<harness>/ gets one file per seed, named by its SHA-1 (as
libFuzzer names corpus files), and OUTDIR/config.dict a libFuzzer
dictionary of configuration keys. Written at run time into a build
directory; tests/fuzz/regress/ keeps only a few of them.

- decode_flow: frames of every pcap/pcapng file of a supported link type,
  in fuzz_decode_flow.c's format (header byte with the link index, then
  length, time step, frame): single frames spread over each file, and
  runs of consecutive frames (so flows see both directions and time
  passes).
- config: conf/darter.yaml, its sections one by one, the same without
  comments, hand-written hostile variants, and KEY=VALUE lines for every
  key (config_set).
- community, eve_format: a few records in fuzz_record.h's field order.
- eve_in: the EVE JSON lines of tests/data/eve/*.json (max_line byte,
  then the lines), each line alone, all of them in one input, and
  hostile variants (cut, deep, bad escapes, wrong types).
- control: request lines for fuzz_control.c (mode byte, then the bytes
  a client sends): every built-in command, arguments of every type,
  blank and '\r' lines, bad JSON, an over-long line.
"""

import hashlib
import os
import struct
import sys

# LINKTYPE_* of a capture file -> fuzz_links[] index in fuzz_decode_flow.c
LINK_INDEX = {1: 0, 0: 1, 9: 2, 12: 3, 101: 3, 14: 3, 50: 4, 104: 5, 108: 6,
              113: 7, 228: 8, 229: 9}
SINGLE_PER_FILE = 24
RUNS_PER_FILE = 3
RUN_LEN = 12
FLOWS_BITS = 3 << 4  # max_flows 4


def write_seed(outdir, data):
    os.makedirs(outdir, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------ captures

def read_pcap(buf):
    """(linktype, [(ts_us, frame)]) of a classic pcap file."""
    magic = buf[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError("not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(end + "I", buf[20:24])[0] & 0xffff
    frames, off = [], 24
    while off + 16 <= len(buf):
        sec, frac, incl, _ = struct.unpack(end + "IIII", buf[off:off + 16])
        off += 16
        frames.append((sec * 1000000 + (frac // 1000 if nano else frac), buf[off:off + incl]))
        off += incl
    return link, frames


def read_pcapng(buf):
    """(linktype of the first interface, [(ts_us, frame)]) of a pcapng file."""
    end, links, frames, off = "<", [], [], 0
    while off + 12 <= len(buf):
        btype = struct.unpack(end + "I", buf[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            end = "<" if buf[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack(end + "I", buf[off + 4:off + 8])[0]
        if blen < 12:
            break
        body = buf[off + 8:off + blen - 4]
        if btype == 1:
            links.append(struct.unpack(end + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            _, hi, lo, cap, _ = struct.unpack(end + "IIIII", body[:20])
            frames.append(((hi << 32 | lo), body[20:20 + cap]))
        elif btype == 3 and len(body) >= 4:
            frames.append((0, body[4:]))
        off += blen
    return (links[0] if links else -1), frames


def read_capture(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        return read_pcapng(buf)
    return read_pcap(buf)


def frame_bytes(frame, step):
    frame = frame[:0xffff]
    return struct.pack(">HB", len(frame), step) + frame


def time_step(prev_us, ts_us):
    """fuzz_decode_flow.c's step byte: forward in 100 ms units, at most 11.9 s."""
    if prev_us is None or ts_us <= prev_us:
        return 0
    return min((ts_us - prev_us) // 100000, 119)


def decode_seeds(outdir, path):
    try:
        link, frames = read_capture(path)
    except (ValueError, struct.error) as e:
        print(f"make_seeds: {path}: skipped ({e})", file=sys.stderr)
        return 0
    if link not in LINK_INDEX or not frames:
        return 0
    hdr = bytes([LINK_INDEX[link] | FLOWS_BITS])
    n = 0
    stride = max(1, len(frames) // SINGLE_PER_FILE)
    for i in range(0, len(frames), stride)[:SINGLE_PER_FILE]:
        write_seed(outdir, hdr + frame_bytes(frames[i][1], 0))
        n += 1
    starts = {0, max(0, len(frames) // 2 - RUN_LEN // 2), max(0, len(frames) - RUN_LEN)}
    for s in sorted(starts)[:RUNS_PER_FILE]:
        seed, prev = hdr, None
        for k, (ts, fr) in enumerate(frames[s:s + RUN_LEN]):
            step = time_step(prev, ts) | (0x80 if k % 4 == 3 else 0)
            seed += frame_bytes(fr, step)
            prev = ts
        write_seed(outdir, seed)
        n += 1
    return n


# -------------------------------------------------------------- config

def flatten(prefix, node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, node))


def set_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


HOSTILE_YAML = [
    b"",
    b"%YAML 1.1\n---\n",
    b"flow:\n  max-flows: 0\n",
    b"flow:\n  max-flows: 99999999999999999999\n",
    b"flow: {max-flows: 5, hash-size: 3}\n",
    b"capture:\n  cpus: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]\n",
    b"capture:\n  cpus:\n    - 1\n    - 2\n",
    b"capture:\n  ports: [\"net_pcap0,rx_pcap=a.pcap\", \"net_null0\"]\n",
    b"a: &x 1\nb: *x\n",
    b"logging:\n  level: notice\nlogging:\n  level: debug\n",
    b"logging.level: debug\n",
    b"---\nlogging: {}\n---\nlogging: {}\n",
    b"mad:\n  eta: 1e309\n  threshold: -0\n",
    b"mad:\n  specs: [\"bytes/global\", \"pcr/src_subnet:24,64\"]\n",
    b"default-log-dir: " + b"x" * 300 + b"\n",
    b"outputs:\n  eve:\n    enabled: maybe\n",
    b"[1, 2, 3]\n",
    b"!!binary aGVsbG8=\n",
    b"dpdk:\n  eal-args: [\"--no-pci\", \"\"]\n",
]


def config_seeds(outdir, root):
    path = os.path.join(root, "conf", "darter.yaml")
    with open(path, "rb") as f:
        text = f.read()
    write_seed(outdir, text)
    plain = b"\n".join(l for l in text.split(b"\n") if not l.lstrip().startswith(b"#"))
    write_seed(outdir, plain)
    for s in HOSTILE_YAML:
        write_seed(outdir, s)
    sections, cur = [], []
    for line in plain.split(b"\n"):
        if line and not line[:1].isspace() and cur:
            sections.append(b"\n".join(cur) + b"\n")
            cur = []
        if line.strip():
            cur.append(line)
    if cur:
        sections.append(b"\n".join(cur) + b"\n")
    for s in sections:
        if not s.startswith(b"%") and not s.startswith(b"---"):
            write_seed(outdir, s)
    keys = []
    try:
        import yaml
        flatten("", yaml.safe_load(text) or {}, keys)
    except ImportError:
        pass
    lines = [f"{k}={set_value(v)}".encode() for k, v in keys]
    if lines:
        write_seed(outdir, b"\n".join(lines) + b"\n")
        for i in range(0, len(lines), 8):
            write_seed(outdir, b"\n".join(lines[i:i + 8]) + b"\n")
    return keys


def write_dict(path, keys):
    words = set()
    for k, _ in keys:
        words.add(k)
        words.update(k.split("."))
    words.update(["yes", "no", "true", "false", "[]", "{}", ": ", "- ", "---", "%YAML 1.1",
                  "&a", "*a", "!!str", "'", "\"", "=", ",", "\n  "])
    with open(path, "w") as f:
        for w in sorted(words):
            esc = "".join(c if " " <= c <= "~" and c not in "\\\"" else f"\\x{ord(c):02x}"
                          for c in w)
            f.write(f'"{esc}"\n')


# ------------------------------------------------------------- records

def record(ipv, proto, src, dst, sport, dport, state=1, reason=0, flags_ts=0, flags_tc=0,
           tcp_state=0, icmp=(0, 0), resp=(0, 0), rflags=0, tunnel=0, vlan=(0, 0),
           times=(1700000000000000, 1700000005123456), pkts=(3, 2), nbytes=(300, 1200),
           how=0, name=b"", app=b"", cat=b""):
    """A record in fuzz_record.h's field order."""
    b = bytes([ipv, proto, state, reason, flags_ts, flags_tc, tcp_state, icmp[0], icmp[1],
               resp[0], resp[1], rflags, tunnel])
    b += struct.pack("<HHHHH", sport, dport, vlan[0], vlan[1], 1)
    b += src.ljust(16, b"\0") + dst.ljust(16, b"\0")
    b += struct.pack("<QQQQQQQ", 0x1234567, times[0], times[1], pkts[0], pkts[1], *nbytes)
    b += struct.pack("<HHB", 7, 91, how)
    b += name.ljust(21, b"\0")[:21] + app.ljust(21, b"\0")[:21] + cat.ljust(17, b"\0")[:17]
    return b


V6A = bytes.fromhex("20010db8000000000000000000000001")
V6B = bytes.fromhex("fe800000000000000202b3fffe1e8329")
RECORDS = [
    record(4, 6, b"\x0a\x00\x00\x01", b"\xc0\xa8\x01\x02", 49152, 443, flags_ts=0x1b,
           flags_tc=0x1b, tcp_state=10, how=1, name=b"tls", app=b"youtube", cat=b"media"),
    record(6, 17, V6A, V6B, 5353, 53, state=0, reason=2, how=2, name=b"dns", cat=b"network"),
    record(4, 1, b"\x08\x08\x08\x08", b"\x0a\x00\x00\x02", 0, 0, icmp=(8, 0), resp=(0, 0),
           rflags=1, vlan=(100, 200)),
    record(6, 58, V6B, V6A, 0, 0, icmp=(128, 0), tunnel=1),
    record(4, 47, b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 0, 0, reason=1, tunnel=2,
           how=3, name=b"unknown"),
    record(4, 132, b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x01", 2905, 2905, times=(0, 0)),
]


def score(metric, group, key, value=1234.0, median=100.0, mad=0.5, n=500, sc=9.5, z=6.4,
          thr=3.5, outlier=1):
    return (bytes([metric, group]) + key.ljust(48, b"\0")[:48] +
            struct.pack("<dddQddd", value, median, mad, n, sc, z, thr) + bytes([outlier, 0, 0]))


def record_seeds(root_out):
    for r in RECORDS:
        write_seed(os.path.join(root_out, "community"), r + b"\x00\x00")
        write_seed(os.path.join(root_out, "community"), r + b"\x39\x05")
        write_seed(os.path.join(root_out, "eve_format"), r + b"\x00\x80")
    scores = score(0, 0, b"global") + score(5, 4, b"10.1.2.0/24") + score(9, 9, b'a"b\\c\x01')
    counters = b"".join(bytes([len(n)]) + n + struct.pack("<Q", v) for n, v in [
        (b"decoder.pkts", 10), (b"decoder.bytes", 1500), (b"decoder.event.ipv4.trunc_pkt", 1),
        (b"flow.created", 4), (b"flow.tcp", 2), (b"uptime_ok", 5)])
    for r in RECORDS[:3]:
        write_seed(os.path.join(root_out, "eve_format"),
                   r + bytes([1 | (3 << 1)]) + scores + b"\x40" + counters)


def eve_in_seeds(outdir, root):
    lines = []
    d = os.path.join(root, "tests", "data", "eve")
    for name in sorted(os.listdir(d)):
        if name.endswith(".json"):
            with open(os.path.join(d, name), "rb") as f:
                lines += [ln for ln in f.read().split(b"\n") if ln.strip()]
    for ln in lines:
        write_seed(outdir, b"\x00" + ln + b"\n")
        write_seed(outdir, b"\x03" + ln[: len(ln) // 2])  # max_line 200, cut mid-line
    write_seed(outdir, b"\x00" + b"\n".join(lines) + b"\n")
    hostile = [b"", b"   ", b"[1,2]", b'{"event_type":null}', b'{"event_type":"' + b"x" * 80 + b'"}',
               b'{"event_type":"flow"}', b'{"event_type":"flow","src_ip":"1.2.3.4","dest_ip":"::1"}',
               b'{"event_type":"flow","src_port":70000}', b'{"a":"\\ud800"}', b'{"a":"\xff"}',
               b"[" * 40 + b"]" * 40, b'{"event_type":"dns"} trailing', b'{"event_type":"x","n":1e999}',
               b'{"event_type":"x","n":99999999999999999999999}']
    for h in hostile:
        write_seed(outdir, b"\x00" + h + b"\n")


def control_seeds(outdir):
    reqs = [b'{"command":"version"}', b'{"command":"uptime"}', b'{"command":"command-list"}',
            b'{"command":"echo","arguments":{"text":"hi","n":42}}',
            b'{"command":"echo","arguments":{"n":-1,"text":7,"x":[1,{"y":null}]}}',
            b'{"command":"later"}', b'{"command":"nope"}', b'{"command":1}',
            b'{"command":"echo","arguments":[]}', b"not json", b"  ", b'{"command":"version"}\r',
            b'{"command":"echo","command":"uptime"}', b'{"command":"echo","arguments":{"text":"' +
            b"a" * 300 + b'"}}']
    for r in reqs:
        write_seed(outdir, b"\x00" + r + b"\n")
    write_seed(outdir, b"\x01" + b"\n".join(reqs[:6]) + b"\n")
    write_seed(outdir, b"\x02" + b"\n".join(reqs[:6]) + b"\n")
    write_seed(outdir, b"\x00" + b'{"command":"later"}\n{"command":"version"}')  # no final \n


def main():
    if len(sys.argv) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out, root = sys.argv[1], sys.argv[2]
    n = 0
    for d in sys.argv[3:]:
        for name in sorted(os.listdir(d)):
            if name.endswith((".pcap", ".pcapng", ".cap")):
                n += decode_seeds(os.path.join(out, "decode_flow"), os.path.join(d, name))
    keys = config_seeds(os.path.join(out, "config"), root)
    write_dict(os.path.join(out, "config.dict"), keys)
    record_seeds(out)
    eve_in_seeds(os.path.join(out, "eve_in"), root)
    control_seeds(os.path.join(out, "control"))
    for h in sorted(os.listdir(out)):
        p = os.path.join(out, h)
        if os.path.isdir(p):
            print(f"make_seeds: {h}: {len(os.listdir(p))} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
