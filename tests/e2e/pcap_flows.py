#!/usr/bin/python3
"""Independent flow oracle: per unordered TCP/UDP 5-tuple packet and byte totals, by tshark.

Usage: pcap_flows.py PCAP [--verbose]      (prints JSON on stdout)

Nothing here uses darter's code: every packet is dissected by tshark (one run per
capture, reassembly and defragmentation off, tunnel decoding left on), and only
traffic whose accounting is unambiguous is kept:

Tunnels: the sensor tracks the innermost flow of the tunnels it peels, so the
oracle does too. Between two IP layers, these count as a tunnel (as the
sensor's decoder accepts them, at most 3 deep): nothing (IPv4/IPv6 in IP),
GRE version 0 without routing/recursion/reserved bits carrying IPv4, IPv6,
Ethernet (0x6558) or ERSPAN, GRE version 1 (PPTP) carrying PPP, VXLAN to UDP
port 4789 with its I flag, and Teredo (UDP port 3544) whose IPv6 packet fills
the UDP payload exactly. The packet is then judged by its innermost IP layer,
and the carriers' tuples (VXLAN's, Teredo's UDP) are excluded: the sensor
flows a carrier only when the inner packet is bad. Any other second IP layer
(an ICMP error quoting a header, GTP, L2TP...) makes the packet ineligible.

A packet is *eligible* when all of these hold:
  - no IP layer above its innermost tunnelled one (see above);
  - it is not an IPv4 fragment (MF set or offset != 0) and carries no IPv6
    fragment header with offset != 0 or M set, at any layer;
  - exactly one tcp/udp layer, directly above the (innermost) IP header (only
    IPv6 extension headers in between);
  - tshark found nothing wrong with it: no _ws.malformed, no _ws.short (both are
    tree items, NOT listed in frame.protocols on tshark 4.0) and no expert info
    of severity Error (bogus IPv4 version, IPv4 total length > packet, bogus TCP
    header length, UDP length > IP payload, ...);
  - its UDP length field equals the IP payload length (IPv4, and IPv6 without
    extension headers): decoders differ on what to do with a mismatch;
  - its addresses and ports are all present;
  - no protocol listed in $PCAP_FLOWS_UNSUPPORTED (comma-separated
    frame.protocols names, e.g. "pppoes,mpls"; empty by default) appears below
    its IP layer: a switch for link encapsulations the sensor does not decode.
    VLAN/QinQ, PPPoE, PPP, Cisco HDLC, BSD loopback and raw IP are eligible by
    default (they do not change the tuple).

Taint: every TCP/UDP tuple that can be read from an ineligible packet (its
outer tuple and the tuples of any inner/quoted IP+transport headers) is
excluded from the comparison altogether, with the reasons. When an ineligible
packet says TCP/UDP but carries no ports (non-first fragments, truncated
transport headers), the address pair is listed in "excluded_pairs": records a
sensor writes for that protocol and address pair are not compared either.

Counts: pkts = eligible packets, bytes = sum of frame.cap_len (whole captured
frames, as Suricata counts).  Keys: "TCP 10.0.0.1:1234 10.0.0.2:80" with the
two endpoints sorted; IPv6 endpoints as "[2001:db8::1]:80" (normalised by the
ipaddress module, so every spelling of an address gives the same key).

Output:
  {"pcap": ..., "frames": N, "tshark_warning": str|null,
   "tuples":   {KEY: {"pkts": N, "bytes": N}},
   "excluded": {KEY: {"reasons": [...], "first_frame": N, "ineligible_pkts": N,
                      "eligible_pkts": N}},
   "excluded_pairs": {"UDP A B": {"reasons": [...], "first_frame": N, "pkts": N}}}

Exit: 0 ok, 2 when tshark cannot read the file at all.
"""

import ipaddress
import json
import os
import re
import subprocess
import sys

TSHARK = os.environ.get("TSHARK", "tshark")

FIELDS = [
    "frame.number",
    "frame.cap_len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.nxt",
    "ipv6.fraghdr.nxt",
    "ipv6.fraghdr.offset",
    "ipv6.fraghdr.more",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "ip.len",
    "ip.hdr_len",
    "ipv6.plen",
    "udp.length",
    "gre.flags_and_version",
    "gre.proto",
    "vxlan.flags",
    "vxlan.reserved8",
    "teredo.orig.port",
    "teredo.auth.idlen",
    "teredo.auth.aulen",
    "_ws.malformed",
    "_ws.short",
    "_ws.expert.severity",
    "_ws.expert.message",  # free text: must stay the last field (see records())
]
F = {name: i for i, name in enumerate(FIELDS)}

# frame.protocols names (e.g. "pppoes,mpls") of encapsulations below IP that the
# sensor under test does not decode: packets under them become ineligible.
UNSUPPORTED = {t.strip() for t in os.environ.get("PCAP_FLOWS_UNSUPPORTED", "").split(",")
               if t.strip()}

PI_ERROR = 0x00800000  # expert info severity "Error"
PROTO_NAMES = {6: "TCP", 17: "UDP"}

# tshark stops at a damaged or truncated record, as libpcap does: the packets
# before it are still valid input.
TOLERATED_TSHARK_ERRORS = re.compile(
    r"appears to have been cut short|appears to be damaged or corrupt|"
    r"has a packet larger than|has a record larger than", re.I)


def tshark_cmd(pcap):
    cmd = [TSHARK, "-n", "-r", pcap,
           "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE",
           "-o", "tcp.desegment_tcp_streams:FALSE",
           "-o", "tcp.analyze_sequence_numbers:FALSE",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=,", "-E", "quote=n"]
    for f in FIELDS:
        cmd += ["-e", f]
    return cmd


def endpoint(addr, port):
    """(sort key, text) of one endpoint; ValueError if unparsable."""
    a = ipaddress.ip_address(addr.strip())
    p = int(port)
    if not 0 <= p <= 65535:
        raise ValueError("port out of range: %r" % port)
    text = ("[%s]:%d" % (a.compressed, p)) if a.version == 6 else ("%s:%d" % (a.compressed, p))
    return (a.version, int(a), p), text


def canonical_key(proto, src, sport, dst, dport):
    """Canonical unordered 5-tuple key, e.g. 'TCP 10.0.0.1:1234 10.0.0.2:80'.

    proto: 'TCP'/'UDP' (any case) or 6/17. Raises ValueError on bad input."""
    if isinstance(proto, int) or (isinstance(proto, str) and proto.isdigit()):
        proto = PROTO_NAMES.get(int(proto), str(proto))
    proto = str(proto).upper()
    a = endpoint(src, sport)
    b = endpoint(dst, dport)
    lo, hi = sorted([a, b])
    return "%s %s %s" % (proto, lo[1], hi[1])


def canonical_pair(proto, src, dst):
    """Key of excluded_pairs: 'UDP A B', addresses normalised and sorted."""
    if isinstance(proto, int) or (isinstance(proto, str) and proto.isdigit()):
        proto = PROTO_NAMES.get(int(proto), str(proto))
    x = ipaddress.ip_address(src.strip())
    y = ipaddress.ip_address(dst.strip())
    lo, hi = sorted([x, y], key=lambda a: (a.version, int(a)))
    return "%s %s %s" % (str(proto).upper(), lo.compressed, hi.compressed)


def split(value):
    return [v for v in value.split(",") if v != ""] if value else []


def ints(value):
    out = []
    for v in split(value):
        try:
            out.append(int(v, 0))
        except ValueError:
            pass
    return out


def truthy(v):
    return v.strip().lower() in ("1", "true", "set")


def layer_tuples(protos, v4src, v4dst, v6src, v6dst, tsrc, tdst, usrc, udst):
    """Every (proto, src, sport, dst, dport) a packet holds: each tcp/udp layer
    with the IP layer below it. The n-th "ip" token of frame.protocols owns the
    n-th ip.src value, and so on; when tshark left a field out (truncated
    inner header) and the counts disagree, every address pair is combined with
    every port pair instead (more tuples excluded, never fewer)."""
    if not (len(v4src) == len(v4dst) == protos.count("ip") and
            len(v6src) == len(v6dst) == protos.count("ipv6") and
            len(tsrc) == len(tdst) == protos.count("tcp") and
            len(usrc) == len(udst) == protos.count("udp")):
        addrs = list(zip(v4src, v4dst)) + list(zip(v6src, v6dst))
        ports = [("TCP", s, d) for s, d in zip(tsrc, tdst)] + \
                [("UDP", s, d) for s, d in zip(usrc, udst)]
        return [(p, a[0], s, a[1], d) for a in addrs for p, s, d in ports]
    idx = {"ip": 0, "ipv6": 0, "tcp": 0, "udp": 0}
    vals = {"ip": (v4src, v4dst), "ipv6": (v6src, v6dst),
            "tcp": (tsrc, tdst), "udp": (usrc, udst)}
    out = []
    cur = None
    for t in protos:
        if t not in idx:
            continue
        i = idx[t]
        idx[t] += 1
        a, b = vals[t][0][i], vals[t][1][i]
        if t in ("ip", "ipv6"):
            cur = (a, b)
        elif cur is not None:
            out.append((t.upper(), cur[0], a, cur[1], b))
    return out


# Tunnels the sensor peels (capture/decode.c): between two IP layers, the
# dissectors below may appear; anything else (an ICMP error quoting a header,
# GTP, L2TP, MPLS...) ends the peeling at the outer layer.
TUNNEL_LINK = {"eth", "ethertype", "vlan", "ppp", "pppoes", "erspan"}
MAX_TUNNELS = 3  # DECODE_TUNNEL_MAX
GRE_PROTOS_V0 = {0x0800, 0x86DD, 0x6558, 0x88BE}
GRE_PPP = 0x880B
VXLAN_PORT = 4789
TEREDO_PORT = 3544


def nth(cols, field, i):
    """The i-th occurrence of an integer field, or None."""
    v = ints(cols[F[field]])
    return v[i] if i < len(v) else None


def tunnel_kind(protos, a, b, cols):
    """Name of the tunnel between the IP layers at protos[a] and protos[b]
    if the sensor peels it (same rules as its decoder), else None."""
    sep = protos[a + 1:b]
    if not sep:
        return "ipip"
    rest = set(sep[1:])
    if sep[0] == "gre" and rest <= TUNNEL_LINK:
        i = protos[:a + 1].count("gre")
        fv, proto = nth(cols, "gre.flags_and_version", i), nth(cols, "gre.proto", i)
        if fv is None or proto is None:
            return None
        if fv & 7 == 0 and fv & 0x4FF8 == 0 and proto in GRE_PROTOS_V0:
            return "gre"
        if fv & 7 == 1 and fv & 0xCF78 == 0 and fv & 0x2000 and proto == GRE_PPP:
            return "gre"
        return None
    if sep[0] != "udp" or len(sep) < 2:
        return None
    i = protos[:a + 1].count("udp")
    dport, sport = nth(cols, "udp.dstport", i), nth(cols, "udp.srcport", i)
    if sep[1] == "vxlan" and set(sep[2:]) <= TUNNEL_LINK and dport == VXLAN_PORT:
        flags, res = nth(cols, "vxlan.flags", 0), nth(cols, "vxlan.reserved8", 0)
        if flags is not None and flags & 0x0800 and not res:
            return "vxlan"
        return None
    if sep[1:] == ["teredo"] and TEREDO_PORT in (sport, dport) and protos[b] == "ipv6":
        # the IPv6 packet must fill the UDP payload exactly (after the indications)
        ulen = nth(cols, "udp.length", i)
        plen = nth(cols, "ipv6.plen", protos[:b].count("ipv6"))
        extra = 0
        if cols[F["teredo.orig.port"]]:
            extra += 8
        if cols[F["teredo.auth.idlen"]]:
            extra += 13 + (nth(cols, "teredo.auth.idlen", 0) or 0) + \
                (nth(cols, "teredo.auth.aulen", 0) or 0)
        if ulen is not None and plen is not None and ulen - 8 == extra + 40 + plen:
            return "teredo"
    return None


def peel(protos, cols):
    """(index in protos of the innermost IP layer the sensor reaches, tunnel
    kinds peeled on the way, outermost first)."""
    ips = [i for i, t in enumerate(protos) if t in ("ip", "ipv6")]
    kinds = []
    k = 0
    while k + 1 < len(ips):
        kind = tunnel_kind(protos, ips[k], ips[k + 1], cols)
        if kind is None:
            break
        kinds.append(kind)
        k += 1
    return ips[k], kinds


def analyse_packet(cols):
    """Returns (eligible_key or None, reasons, taint_keys, taint_pairs).

    An eligible tunnelled packet also returns, as taint, the tuples of its
    carriers (the outer UDP of VXLAN, Teredo), with reasons: the sensor
    flows the inner packet, and the carrier only when the inner one is bad."""
    protos = cols[F["frame.protocols"]].split(":")
    reasons = []

    ip_layers = [i for i, t in enumerate(protos) if t in ("ip", "ipv6")]
    tr_layers = [i for i, t in enumerate(protos) if t in ("tcp", "udp")]

    v4src, v4dst = split(cols[F["ip.src"]]), split(cols[F["ip.dst"]])
    v6src, v6dst = split(cols[F["ipv6.src"]]), split(cols[F["ipv6.dst"]])
    tsrc, tdst = split(cols[F["tcp.srcport"]]), split(cols[F["tcp.dstport"]])
    usrc, udst = split(cols[F["udp.srcport"]]), split(cols[F["udp.dstport"]])

    if not ip_layers:
        return None, [], set(), set()  # not IP at all: nothing to say

    inner, kinds = peel(protos, cols)
    if len(kinds) > MAX_TUNNELS:
        reasons.append("%d tunnel layers, more than %d (%s)"
                       % (len(kinds), MAX_TUNNELS, ":".join(protos)))
    after = [i for i in ip_layers if i > inner]
    if after:
        kinds_between = protos[inner + 1:after[0]]
        if "icmp" in kinds_between or "icmpv6" in kinds_between:
            reasons.append("ICMP error quoting an IP header (%s)" % ":".join(protos))
        else:
            reasons.append("tunnel not decoded by the sensor (%s)" % ":".join(protos))

    # link-layer encapsulations the sensor is declared not to decode
    below = set(protos[:ip_layers[0]])
    for t in sorted(below & UNSUPPORTED):
        reasons.append("%s excluded by PCAP_FLOWS_UNSUPPORTED" % t)

    # fragments, at any layer (an outer fragment is not peeled)
    mf = [truthy(v) for v in split(cols[F["ip.flags.mf"]])]
    off4 = ints(cols[F["ip.frag_offset"]])
    off6 = ints(cols[F["ipv6.fraghdr.offset"]])
    more6 = [truthy(v) for v in split(cols[F["ipv6.fraghdr.more"]])]
    nonfirst_fragment = any(o != 0 for o in off4) or any(o != 0 for o in off6)
    if any(mf) or any(o != 0 for o in off4):
        reasons.append("IPv4 fragment")
    if any(more6) or any(o != 0 for o in off6):
        reasons.append("IPv6 fragment")

    # transport: exactly one tcp/udp above the innermost IP, directly
    inner_tr = [i for i in tr_layers if i > inner]
    if len(inner_tr) > 1 and not after:
        reasons.append("%d transport layers (%s)" % (len(inner_tr), ":".join(protos)))
    elif len(inner_tr) == 1:
        between = protos[inner + 1:inner_tr[0]]
        if not after and any(not t.startswith("ipv6.") for t in between):
            reasons.append("transport not directly above IP (%s)" % ":".join(protos))

    # tshark's own verdicts
    if cols[F["_ws.malformed"]]:
        reasons.append("malformed (%s)" % cols[F["_ws.malformed"]])
    if cols[F["_ws.short"]]:
        reasons.append("short (%s)" % cols[F["_ws.short"]])
    sev = ints(cols[F["_ws.expert.severity"]])
    if any(s >= PI_ERROR for s in sev):
        msgs = cols[F["_ws.expert.message"]]
        reasons.append("tshark error: %s" % msgs[:200])

    # UDP length field against the IP payload length (decoders disagree on
    # such packets: old Suricata drops them, new ones keep them)
    if not after and len(inner_tr) == 1 and protos[inner_tr[0]] == "udp" and not reasons:
        ulen = nth(cols, "udp.length", protos[:inner_tr[0]].count("udp"))
        if protos[inner] == "ip":
            j = protos[:inner].count("ip")
            iplen, hlen = nth(cols, "ip.len", j), nth(cols, "ip.hdr_len", j)
            plen = iplen - hlen if iplen is not None and hlen is not None else None
        elif inner_tr[0] == inner + 1:  # IPv6, no extension headers
            plen = nth(cols, "ipv6.plen", protos[:inner].count("ipv6"))
        else:
            plen = None
        if ulen is not None and (ulen < 8 or (plen is not None and ulen != plen)):
            reasons.append("UDP length %d != IP payload length %s" % (ulen, plen))

    # every address pair and port pair the packet shows
    addr_pairs = list(zip(v4src, v4dst)) + list(zip(v6src, v6dst))
    port_pairs = [("TCP", s, d) for s, d in zip(tsrc, tdst)] + \
                 [("UDP", s, d) for s, d in zip(usrc, udst)]
    indicated = set()
    for p in ints(cols[F["ip.proto"]]) + ints(cols[F["ipv6.nxt"]]) + \
            ints(cols[F["ipv6.fraghdr.nxt"]]):
        if p in PROTO_NAMES:
            indicated.add(PROTO_NAMES[p])
    for t in protos:
        if t in ("tcp", "udp"):
            indicated.add(t.upper())
    have = {pp[0] for pp in port_pairs}

    if not indicated and not port_pairs:
        return None, [], set(), set()  # ICMP, ESP, SCTP...: not compared

    all_tuples = layer_tuples(protos, v4src, v4dst, v6src, v6dst, tsrc, tdst, usrc, udst)
    consistent = (len(v4src) == len(v4dst) == protos.count("ip") and
                  len(v6src) == len(v6dst) == protos.count("ipv6") and
                  len(tsrc) == len(tdst) == protos.count("tcp") and
                  len(usrc) == len(udst) == protos.count("udp"))
    key = None
    if not reasons and not consistent:
        reasons.append("incomplete headers (%s)" % ":".join(protos))
    if not reasons and len(inner_tr) == 1:
        # the innermost IP layer and its transport: must be readable
        is4 = protos[inner] == "ip"
        j = protos[:inner].count(protos[inner])
        srcs, dsts = (v4src, v4dst) if is4 else (v6src, v6dst)
        t = protos[inner_tr[0]]
        k = protos[:inner_tr[0]].count(t)
        sps, dps = (tsrc, tdst) if t == "tcp" else (usrc, udst)
        if j < len(srcs) and j < len(dsts) and k < len(sps) and k < len(dps):
            try:
                key = canonical_key(t, srcs[j], sps[k], dsts[j], dps[k])
            except ValueError as e:
                reasons.append("unparsable tuple: %s" % e)
        else:
            reasons.append("incomplete headers (%s)" % ":".join(protos))
    elif not reasons and not inner_tr:
        if not kinds:
            reasons.append("incomplete headers (%s)" % ":".join(protos))

    taint = set()
    for proto, s, sp, d, dp in all_tuples:
        try:
            taint.add(canonical_key(proto, s, sp, d, dp))
        except ValueError:
            pass
    if key is not None or (kinds and not reasons):
        # an inner flow (TCP/UDP: compared; ICMP...: not) whose carriers
        # the sensor flows only when the inner packet is bad
        taint.discard(key)
        return key, ["carrier of a %s tunnel" % kinds[0]] if taint else [], taint, set()

    pairs = set()
    if nonfirst_fragment or (indicated - have) or not taint:
        for s, d in addr_pairs:
            for proto in indicated | have:
                try:
                    pairs.add(canonical_pair(proto, s, d))
                except ValueError:
                    pass
    return None, reasons, taint, pairs


def run_tshark(pcap):
    try:
        proc = subprocess.run(tshark_cmd(pcap), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=False)
    except OSError as e:
        raise RuntimeError("cannot run tshark: %s" % e)
    err = proc.stderr.decode("utf-8", "replace")
    err = "\n".join(l for l in err.splitlines()
                    if "dangerous" not in l and l.strip())
    out = proc.stdout.decode("utf-8", "replace")
    warning = None
    if proc.returncode != 0:
        if TOLERATED_TSHARK_ERRORS.search(err):
            warning = err.strip()
        else:
            raise RuntimeError("tshark failed (exit %d) on %s: %s"
                               % (proc.returncode, pcap, err.strip()[-500:]))
    elif err:
        warning = err.strip()
    return out, warning


RECORD_START = re.compile(r"^\d+\t\d+\t")


def records(out):
    """tshark's lines as field lists. Only "\n" ends a record (str.splitlines
    would also split on \r, \x85, \u2028... found in fuzzed payloads), and the
    last field (expert messages, free text) may itself hold tabs or newlines:
    a line that does not start a record continues the previous one."""
    rec = None
    for line in out.split("\n"):
        if RECORD_START.match(line) and line.count("\t") >= len(FIELDS) - 1:
            if rec is not None:
                yield rec
            rec = line.split("\t", len(FIELDS) - 1)
        elif rec is not None and line:
            rec[-1] += " " + line
        elif line:
            raise RuntimeError("unexpected tshark output: %r" % line[:200])
    if rec is not None:
        yield rec


def compute(pcap):
    out, warning = run_tshark(pcap)
    counts = {}    # key -> [pkts, bytes] (eligible packets)
    excluded = {}  # key -> info
    pairs = {}     # pair -> info
    frames = 0
    for cols in records(out):
        frames += 1
        num = int(cols[F["frame.number"]])
        caplen = int(cols[F["frame.cap_len"]])
        key, reasons, taint, tpairs = analyse_packet(cols)
        if key is not None:
            c = counts.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += caplen
        for k in taint:
            e = excluded.setdefault(k, {"reasons": [], "first_frame": num,
                                        "ineligible_pkts": 0})
            e["ineligible_pkts"] += 1
            for r in reasons:
                if r not in e["reasons"] and len(e["reasons"]) < 8:
                    e["reasons"].append(r)
        for p in tpairs:
            e = pairs.setdefault(p, {"reasons": [], "first_frame": num, "pkts": 0})
            e["pkts"] += 1
            for r in reasons:
                if r not in e["reasons"] and len(e["reasons"]) < 8:
                    e["reasons"].append(r)
    tuples = {}
    for k, (p, b) in counts.items():
        if k in excluded:
            excluded[k]["eligible_pkts"] = p
        else:
            tuples[k] = {"pkts": p, "bytes": b}
    for e in excluded.values():
        e.setdefault("eligible_pkts", 0)
    return {
        "pcap": pcap,
        "frames": frames,
        "tshark_warning": warning,
        "tuples": dict(sorted(tuples.items())),
        "excluded": dict(sorted(excluded.items())),
        "excluded_pairs": dict(sorted(pairs.items())),
    }


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("-")]
    verbose = "--verbose" in argv[1:] or "-v" in argv[1:]
    unknown = [a for a in argv[1:] if a.startswith("-") and a not in ("--verbose", "-v")]
    if len(args) != 1 or unknown:
        sys.stderr.write("usage: pcap_flows.py PCAP [--verbose]\n")
        return 2
    if not os.path.isfile(args[0]):
        sys.stderr.write("pcap_flows.py: %s: no such file\n" % args[0])
        return 2
    try:
        res = compute(args[0])
    except RuntimeError as e:
        sys.stderr.write("pcap_flows.py: %s\n" % e)
        return 2
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")
    if verbose:
        w = sys.stderr.write
        w("%s: %d frames, %d eligible tuples, %d excluded tuples, %d excluded address pairs\n"
          % (args[0], res["frames"], len(res["tuples"]), len(res["excluded"]),
             len(res["excluded_pairs"])))
        if res["tshark_warning"]:
            w("  tshark: %s\n" % res["tshark_warning"])
        for k, e in res["excluded"].items():
            w("  excluded %s (frame %d, %d ineligible + %d eligible pkts): %s\n"
              % (k, e["first_frame"], e["ineligible_pkts"], e["eligible_pkts"],
                 "; ".join(e["reasons"])))
        for k, e in res["excluded_pairs"].items():
            w("  excluded pair %s (frame %d, %d pkts): %s\n"
              % (k, e["first_frame"], e["pkts"], "; ".join(e["reasons"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
