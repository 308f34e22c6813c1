#!/bin/bash
# Mirror-port test: a veth pair in a network namespace this test creates
# stands in for a SPAN port. darter captures one end (vb) with DPDK's
# net_af_packet, started as an operator would (`darter -c CONF -l DIR`)
# and stopped with SIGTERM; tcpreplay sends a handful of the shared
# captures (Ethernet link type only) into the other end (va). The live
# records must equal the offline `darter -r` records of the same captures
# apart from time: per flow tuple, equal packet and byte totals
# (compare_tuples.py). Before stopping darter the test waits until its
# periodic stats event has counted every packet tcpreplay sent.
# The veths carry jumbo frames (MTU 9000) and darter runs with
# capture.mbuf-size 9216, so captures with frames over 1518 bytes take
# part whole. A last live run with mbuf-size 1024 replays one such
# capture: every frame the af_packet ring could not hold must be counted
# as truncated (capture.ierrors includes them) and still decoded.
#
# Usage: test_mirror.sh DARTER_BIN PCAP_DIR WORKDIR   (prints TAP)
# Needs root (netns, veth), ip and tcpreplay: skips otherwise, and where
# the machine forbids network namespaces. DARTER_MIRROR_MBPS sets the
# replay rate (tcpreplay -M; default 10: af_packet on a veth is lossless
# well beyond it, and it leaves CPU to the other tests).
set -u
export LC_ALL=C
darter=$1
pcap_dir=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
ns=darter-mirror-$$
mbps=${DARTER_MIRROR_MBPS:-10}
# af_packet ring frames: more than the replay sends, so a capture lcore
# descheduled on a busy machine loses nothing (the kernel counts such
# drops in PACKET_STATISTICS, not in DPDK's imissed). darter sizes each
# ring frame for capture.mbuf-size (12 KiB for 9216): 8192 of them, for
# RX and TX, are 200 MB of locked memory.
frames=8192
mbuf_size=9216
big_max=9014 # the veths' MTU 9000 plus the Ethernet header
candidates=(dns smtp ssh http_ipv6 quic synscan teams tor teredo vxlan gre)
pid=

cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! command -v tcpreplay >/dev/null || ! command -v ip >/dev/null; then
	echo "1..0 # SKIP needs root, ip and tcpreplay"
	exit 0
fi
if ! ip netns add "$ns" 2>/dev/null ||
	! ip -n "$ns" link add va mtu 9000 type veth peer name vb mtu 9000 2>/dev/null; then
	echo "1..0 # SKIP this machine forbids creating a network namespace with a veth pair"
	exit 0
fi
# Nothing but the replay on the wire: no IPv6 autoconfiguration traffic.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.va.disable_ipv6=1 \
	net.ipv6.conf.vb.disable_ipv6=1
ip -n "$ns" link set va up
ip -n "$ns" link set vb up
rm -rf "$work"
mkdir -p "$work"

# "LINKTYPE MAXLEN" of a pcap or pcapng file (first interface's link type,
# largest captured frame).
pcapinfo() {
	"$python" - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
link, big = -1, 0
if d[:4] == b"\x0a\x0d\x0d\x0a":  # pcapng: blocks of (type, length, body)
    e = "<" if d[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    off = 0
    while off + 12 <= len(d):
        btype, blen = struct.unpack(e + "II", d[off:off + 8])
        if blen < 12:
            break
        if btype == 1 and link < 0:  # interface description
            link = struct.unpack(e + "H", d[off + 8:off + 10])[0]
        elif btype == 6:  # enhanced packet
            big = max(big, struct.unpack(e + "I", d[off + 20:off + 24])[0])
        elif btype == 3:  # simple packet
            big = max(big, blen - 16)
        off += blen
else:
    e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(e + "I", d[20:24])[0] & 0xffff
    off = 24
    while off + 16 <= len(d):
        caplen = struct.unpack(e + "I", d[off + 8:off + 12])[0]
        big = max(big, caplen)
        off += 16 + caplen
print(link, big)
EOF
}

# Ethernet captures whose frames cross the veth (jumbo MTU): darter's
# mbufs hold mbuf_size bytes (see docs/deployment.md, jumbo frames).
pcaps=()
jumbo=
for name in "${candidates[@]}"; do
	for f in "$pcap_dir/$name.pcap" "$pcap_dir/$name.pcapng"; do
		[ -f "$f" ] || continue
		read -r link big <<<"$(pcapinfo "$f")"
		if [ "$link" = 1 ] && [ "$big" -le "$big_max" ]; then
			pcaps+=("$f")
			[ "$big" -gt 2048 ] && [ -z "$jumbo" ] && jumbo=$f
		else
			echo "# leaving out ${f##*/}: link type $link, frames up to $big bytes"
		fi
	done
done

# The operator's small configuration: everything else stays default.
conf=$work/darter.yaml
cat >"$conf" <<EOF
%YAML 1.1
---
logging:
  level: info
capture:
  cpus: [1]
  mbuf-size: $mbuf_size
workers:
  cpus: [0]
control:
  enabled: no
metrics:
  enabled: no
outputs:
  eve:
    stats-interval: 1
EOF

echo "1..7"
echo "# captures: ${pcaps[*]##*/}"

# Offline: one darter -r per capture, with the same configuration.
off_rc=0
off_eves=()
for f in "${pcaps[@]}"; do
	d=$work/offline/$(basename "$f")
	mkdir -p "$d"
	"$darter" -r "$f" -l "$d" -c "$conf" >"$d.stdout" 2>"$d.stderr" || off_rc=1
	off_eves+=("$d/eve.json")
done
if [ ${#pcaps[@]} -ge 5 ] && [ $off_rc -eq 0 ]; then
	echo "ok 1 - offline: darter -r read ${#pcaps[@]} Ethernet captures"
else
	echo "not ok 1 - offline runs failed or too few Ethernet captures (${#pcaps[@]})"
fi

# Live: darter on vb, as the service would run it.
live=$work/live
mkdir -p "$live"
ip netns exec "$ns" "$darter" -c "$conf" -l "$live" \
	--set "capture.ports=[\"net_af_packet0,iface=vb,framecnt=$frames\"]" >"$live.stdout" 2>"$live.stderr" &
pid=$!
for _ in $(seq 150); do
	grep -q "rx queue" "$live.stderr" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
sleep 0.5
t0=$SECONDS
ip netns exec "$ns" tcpreplay -q -i va -M "$mbps" "${pcaps[@]}" >"$work/tcpreplay.out" 2>&1
sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$work/tcpreplay.out" | head -n 1)
failed=$(sed -n 's/.*Failed packets: *\([0-9]*\).*/\1/p' "$work/tcpreplay.out" | head -n 1)

# Wait until a periodic stats event has counted every packet sent.
seen=
for _ in $(seq 300); do
	seen=$(jq -r 'select(.event_type == "stats") | .stats.capture.packets' \
		"$live/eve.json" 2>/dev/null | tail -n 1)
	[ -n "$sent" ] && [ -n "$seen" ] && [ "$seen" -ge "$sent" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
echo "# tcpreplay sent ${sent:-?} packets (failed ${failed:-?}) at $mbps Mbps; darter saw ${seen:-?} after $((SECONDS - t0)) s"
t0=$SECONDS
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
echo "# darter stopped $((SECONDS - t0)) s after SIGTERM"
pid=
if [ $rc -eq 0 ] && grep -q '"event_type":"stats"' "$live/eve.json" 2>/dev/null; then
	echo "ok 2 - darter captured the mirror port and exited 0 on SIGTERM"
else
	echo "not ok 2 - darter exited $rc"
	tail -n 8 "$live.stderr" | sed 's/^/# /'
fi

# Every packet sent reached darter, and tcpreplay sent every packet of the captures.
final=$(jq -r 'select(.event_type == "stats") | "\(.stats.capture.packets) \(.stats.decoder.pkts)"' \
	"$live/eve.json" 2>/dev/null | tail -n 1)
if [ -n "$sent" ] && [ "$failed" = 0 ] && [ "$final" = "$sent $sent" ]; then
	echo "ok 3 - the final stats event counts every packet sent ($sent captured and decoded)"
else
	echo "not ok 3 - sent ${sent:-?} (failed ${failed:-?}); final stats captured/decoded: ${final:-none}"
	sed 's/^/# /' "$work/tcpreplay.out"
fi
off_pkts=$(cat "${off_eves[@]}" 2>/dev/null | jq -r 'select(.event_type == "stats") | .stats.capture.packets' |
	awk '{ s += $1 } END { print s + 0 }')
if [ -n "$sent" ] && [ "$off_pkts" = "$sent" ]; then
	echo "ok 4 - offline read the same $off_pkts packets tcpreplay sent"
else
	echo "not ok 4 - offline read $off_pkts packets, tcpreplay sent ${sent:-?}"
fi

"$python" "$here/compare_tuples.py" "$live/eve.json" --offline "${off_eves[@]}" \
	>"$work/compare.out" 2>&1
if [ $? -eq 0 ]; then
	echo "ok 5 - live records equal the offline ones per flow tuple: $(head -n 1 "$work/compare.out" | sed 's/^compare_tuples: //')"
else
	echo "not ok 5 - live and offline records differ"
	head -n 12 "$work/compare.out" | sed 's/^/# /'
fi

# Frames longer than the ring holds: mbuf-size 1024 gives 2 KiB ring
# frames, so frames of 1982 bytes or more are cut (2048 less the kernel's
# 66 bytes of headers) and each must be counted.
cut_at=1982
if [ -z "$jumbo" ]; then
	echo "ok 6 # SKIP no capture with frames over 2048 bytes among the candidates"
	echo "ok 7 # SKIP no capture with frames over 2048 bytes among the candidates"
	exit 0
fi
want_cut=$("$python" - "$jumbo" "$cut_at" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off, n = 24, 0
while off + 16 <= len(d):
    caplen, wire = struct.unpack(e + "II", d[off + 8:off + 16])
    n += min(caplen, wire) >= int(sys.argv[2])
    off += 16 + caplen
print(n)
EOF
)
cut=$work/cut
mkdir -p "$cut"
ip netns exec "$ns" "$darter" -c "$conf" -l "$cut" --set capture.mbuf-size=1024 \
	--set "capture.ports=[\"net_af_packet0,iface=vb,framecnt=$frames\"]" >"$cut.stdout" 2>"$cut.stderr" &
pid=$!
for _ in $(seq 150); do
	grep -q "rx queue" "$cut.stderr" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
sleep 0.5
ip netns exec "$ns" tcpreplay -q -i va -M "$mbps" "$jumbo" >"$work/tcpreplay-cut.out" 2>&1
sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$work/tcpreplay-cut.out" | head -n 1)
for _ in $(seq 300); do
	seen=$(jq -r 'select(.event_type == "stats") | .stats.capture.packets' "$cut/eve.json" \
		2>/dev/null | tail -n 1)
	[ -n "$sent" ] && [ -n "$seen" ] && [ "$seen" -ge "$sent" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=
# capture.truncated once engine/stats.c shows it; until then in capture.ierrors.
read -r pkts decoded got_cut trunc <<<"$(jq -r 'select(.event_type == "stats") |
	"\(.stats.capture.packets) \(.stats.decoder.pkts) \(.stats.capture.truncated // .stats.capture.ierrors) \((.stats.decoder.event.ipv4.trunc_pkt // 0) + (.stats.decoder.event.ipv6.trunc_pkt // 0))"' \
	"$cut/eve.json" 2>/dev/null | tail -n 1)"
if [ $rc -eq 0 ] && [ -n "$sent" ] && [ "${pkts:-}" = "$sent" ] && [ "${decoded:-}" = "$sent" ]; then
	echo "ok 6 - mbuf-size 1024: all $sent frames of ${jumbo##*/} captured and decoded"
else
	echo "not ok 6 - mbuf-size 1024: exit $rc, sent ${sent:-?}, captured ${pkts:-?}, decoded ${decoded:-?}"
	tail -n 5 "$cut.stderr" | sed 's/^/# /'
fi
if [ "$want_cut" -gt 0 ] && [ "${got_cut:-}" = "$want_cut" ]; then
	echo "ok 7 - the $want_cut frames of $cut_at bytes or more were counted as truncated (decoder trunc_pkt: ${trunc:-?})"
else
	echo "not ok 7 - frames of $cut_at bytes or more: $want_cut in the capture, ${got_cut:-?} counted truncated"
fi
