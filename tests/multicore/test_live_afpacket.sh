#!/bin/bash
# Live capture over several lcores: darter reads a veth through
# net_af_packet with qpairs=2 (two kernel fanout sockets, both read: by
# one lcore, or one each by two lcores that spread frames in software), in a network namespace this test creates, while
# tcpreplay sends captures into the other end at a modest rate (a veth is
# lossless at a few kpps). Run with 1 and with 2 capture lcores; per flow
# tuple, the record count and packet/byte totals must match between the two
# (a flow split over two lcores would give an extra record), the 2-lcore run
# must have used both lcores, and every packet sent must be accounted.
#
# No fixed sleeps: on a loaded machine darter may take seconds to start or
# to drain, and a frame the af_packet ring had no room for is lost without
# a counter. So tcpreplay starts once darter's first periodic stats event
# is written (capture is polling), each kernel ring holds more frames than
# the whole replay, and SIGTERM comes once a stats event has counted every
# packet sent (or after a minute: the checks below then say what is missing).
#
# Usage: test_live_afpacket.sh DARTER_BIN PCAP_DIR WORKDIR   (prints TAP)
# Needs root (netns, veth) and tcpreplay; skips otherwise.
set -u
export LC_ALL=C
darter=$1
pcap_dir=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
ns=darter-mc-$$
pps=${DARTER_LIVE_PPS:-4000}
pcaps=("$pcap_dir/synscan.pcap" "$pcap_dir/teams.pcap" "$pcap_dir/reddit.pcap"
	"$pcap_dir/webex.pcap" "$pcap_dir/quic.pcap")
frames=8192 # per qpair, more than the replay's 7113 packets
wait_s=60
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
	! ip -n "$ns" link add va mtu 9000 type veth peer name vb mtu 9000; then
	echo "1..0 # SKIP cannot create a network namespace with a veth pair here"
	exit 0
fi
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$ns" link set va up
ip -n "$ns" link set vb up
mkdir -p "$work"

# The newest periodic stats event's capture.packets in DIR/eve.json ("" before the first).
captured() {
	jq -r 'select(.event_type == "stats") | .stats.capture.packets' "$1/eve.json" 2>/dev/null |
		tail -n 1
}

# live CPUS QPAIRS DIR: capture while tcpreplay sends; 0 when darter ended well
live() {
	local cpus=$1 qpairs=$2 dir=$3 seen= sent= t0
	rm -rf "$dir"
	mkdir -p "$dir"
	ip netns exec "$ns" "$darter" -l "$dir" --set "capture.cpus=$cpus" --set control.enabled=no --set metrics.enabled=no \
		--set "capture.ports=[\"net_af_packet0,iface=vb,qpairs=$qpairs,framecnt=$frames\"]" \
		--set outputs.eve.stats-interval=1 --set logging.level=info >"$dir.stdout" 2>"$dir.stderr" &
	pid=$!
	t0=$SECONDS
	while [ -z "$(captured "$dir")" ] && [ $((SECONDS - t0)) -lt $wait_s ]; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# $dir: darter polling after $((SECONDS - t0)) s"
	ip netns exec "$ns" tcpreplay -q -i va --pps="$pps" "${pcaps[@]}" >"$dir.tcpreplay" 2>&1
	sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$dir.tcpreplay" | head -n 1)
	t0=$SECONDS
	while [ $((SECONDS - t0)) -lt $wait_s ]; do
		seen=$(captured "$dir")
		[ -n "$sent" ] && [ -n "$seen" ] && [ "$seen" -ge "$sent" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# $dir: tcpreplay sent ${sent:-?}, darter captured ${seen:-?} after $((SECONDS - t0)) s"
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	pid=
	return $rc
}

echo "1..5"
live 0 2 "$work/live1"
rc1=$?
live 0,1 2 "$work/live2"
rc2=$?
if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]; then
	echo "ok 1 - darter captured live with 1 and 2 lcores and exited 0 on SIGTERM"
else
	echo "not ok 1 - darter exited $rc1 (1 lcore), $rc2 (2 lcores)"
	tail -n 5 "$work/live1.stderr" "$work/live2.stderr" | sed 's/^/# /'
fi
grep "rx queue" "$work/live2.stderr" | sed 's/^/# /'

"$python" "$here/compare_eve.py" --tuples "$work/live1/eve.json" "$work/live2/eve.json" \
	>"$work/live.compare" 2>&1
if [ $? -eq 0 ]; then
	echo "ok 2 - same flows per tuple: $(head -n 1 "$work/live.compare" | sed 's/^compare_eve: //')"
else
	echo "not ok 2 - flows differ between 1 and 2 lcores"
	head -n 12 "$work/live.compare" | sed 's/^/# /'
fi

lcores=$(jq -r 'select(.event_type == "flow") | .darter.lcore' "$work/live2/eve.json" | sort -u | tr '\n' ' ')
if [ "$(wc -w <<<"$lcores")" -ge 2 ]; then
	echo "ok 3 - 2-lcore run assembled flows on lcores $lcores"
else
	echo "not ok 3 - 2-lcore run assembled flows on lcores: ${lcores:-none}"
fi

n=3
for run in live1 live2; do
	n=$((n + 1))
	sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$work/$run.tcpreplay" | head -n 1)
	got=$(jq -r 'select(.event_type == "stats") | .stats.decoder.pkts' "$work/$run/eve.json" |
		tail -n 1) # the final stats event, written after the drain
	if [ -n "$sent" ] && [ "$sent" = "$got" ]; then
		echo "ok $n - $run: every packet sent was decoded ($got)"
	else
		echo "not ok $n - $run: tcpreplay sent ${sent:-?} packets, darter decoded ${got:-?}"
	fi
done
