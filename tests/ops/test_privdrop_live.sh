#!/bin/bash
# Privilege drop, live: darter started as root on a veth (net_af_packet) in
# a network namespace this test creates, with run-as nobody:nogroup, the
# control socket and the metrics listener on. Checks, through /proc, that
# every thread of darter runs as nobody with no capability left once it
# says so; that it still captures (tcpreplay into the other veth end);
# that SIGHUP after a rotation (mv eve.json) makes the workers write a new
# eve.json, created by nobody; that SIGTERM drains and exits 0 (as nobody:
# the final stats event and the control socket's removal need the log and
# socket directories handed over). Then the refusals, before DPDK starts:
# an analyzer script in a world-writable directory or itself writable by
# others, and a run-as user that does not exist, each a clear error and
# exit 1; a safe script is accepted.
#
# Usage: test_privdrop_live.sh DARTER_BIN SOURCE_ROOT WORKDIR   (prints TAP)
# Needs root (netns, veth, setuid), ip, tcpreplay and user nobody: skips
# otherwise, and where the machine forbids network namespaces.
set -u
export LC_ALL=C
darter=$1
src=$2
work=$3
pcap=$src/tests/data/pcap/dns.pcap
ns=darter-privdrop-$$
pid=

cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || ! command -v tcpreplay >/dev/null || ! command -v ip >/dev/null ||
	! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null; then
	echo "1..0 # SKIP needs root, ip, tcpreplay, user nobody and group nogroup"
	exit 0
fi
uid=$(id -u nobody)
gid=$(getent group nogroup | cut -d: -f3)

echo "1..9"
rm -rf "$work"
mkdir -p "$work"
chmod 0755 "$work"

# Refusals first: they need no namespace.
mkdir -p "$work/scripts/shared" "$work/scripts/safe"
chmod 0777 "$work/scripts/shared"
printf 'return {}\n' >"$work/scripts/shared/a.lua"
printf 'return {}\n' >"$work/scripts/safe/b.lua"
cp "$work/scripts/safe/b.lua" "$work/scripts/safe/c.lua"
chmod 0644 "$work/scripts/shared/a.lua" "$work/scripts/safe/b.lua"
chmod 0666 "$work/scripts/safe/c.lua"
"$darter" -r "$pcap" -l "$work/r1" --set "analyzers.scripts=[$work/scripts/shared/a.lua]" \
	>"$work/r1.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "analyzer .*a.lua refused: .*shared is world-writable" "$work/r1.out"; then
	echo "ok 1 - a script in a world-writable directory is refused: $(head -n 1 "$work/r1.out")"
else
	echo "not ok 1 - world-writable directory: exit $rc"
	sed 's/^/# /' "$work/r1.out" | head -n 5
fi
"$darter" -r "$pcap" -l "$work/r2" --set "analyzers.scripts=[$work/scripts/safe/c.lua]" \
	>"$work/r2.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "c.lua is world-writable (mode 0666)" "$work/r2.out"; then
	echo "ok 2 - a world-writable script is refused: $(head -n 1 "$work/r2.out")"
else
	echo "not ok 2 - world-writable script: exit $rc"
	sed 's/^/# /' "$work/r2.out" | head -n 5
fi
# hello.lua is a real analyzer; b.lua sits beside c.lua in the same safe directory.
"$darter" -r "$pcap" -l "$work/r3" \
	--set "analyzers.scripts=[$src/analyzers/hello.lua,$work/scripts/safe/b.lua]" \
	>"$work/r3.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && ! grep -q refused "$work/r3.out"; then
	echo "ok 3 - scripts no other user can change are accepted"
else
	echo "not ok 3 - safe scripts: exit $rc"
	sed 's/^/# /' "$work/r3.out" | head -n 5
fi
"$darter" -l "$work/r4" --set 'capture.ports=["net_null0"]' \
	--set run-as.enabled=yes --set run-as.user=darter-no-such-user >"$work/r4.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "run-as: user darter-no-such-user does not exist" "$work/r4.out" &&
	! grep -q "EAL" "$work/r4.out"; then
	echo "ok 4 - an unknown run-as user is a clear error before DPDK starts"
else
	echo "not ok 4 - unknown user: exit $rc"
	sed 's/^/# /' "$work/r4.out" | head -n 5
fi

skip_live() {
	for n in 5 6 7 8 9; do
		echo "ok $n # SKIP $1"
	done
	exit 0
}
# nobody must reach the log directory darter makes under WORKDIR.
if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups test -x "$work" 2>/dev/null; then
	skip_live "user nobody cannot search $work (a directory above it is private)"
fi
if ! ip netns add "$ns" 2>/dev/null ||
	! ip -n "$ns" link add va type veth peer name vb 2>/dev/null; then
	skip_live "this machine forbids creating a network namespace with a veth pair"
fi
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.va.disable_ipv6=1 \
	net.ipv6.conf.vb.disable_ipv6=1
ip -n "$ns" link set va up
ip -n "$ns" link set vb up

# The log and socket directories do not exist yet: darter makes them for nobody.
logs=$work/live/logs
run=$work/live/run
conf=$work/darter.yaml
cat >"$conf" <<EOF
%YAML 1.1
---
logging:
  level: info
capture:
  cpus: [1]
  ports: ["net_af_packet0,iface=vb"]
workers:
  cpus: [0]
control:
  enabled: yes
  socket: $run/darter.sock
metrics:
  enabled: yes
  port: 0
outputs:
  eve:
    stats-interval: 1
run-as:
  enabled: yes
  user: nobody
  group: nogroup
EOF
mkdir -p "$work/live"
ip netns exec "$ns" "$darter" -c "$conf" -l "$logs" >"$work/live.out" 2>"$work/live.err" &
pid=$!
for _ in $(seq 300); do
	grep -q "running as nobody" "$work/live.err" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done

# Every thread: ids, groups and capability sets, as the kernel shows them.
bad=
nthreads=0
for st in /proc/"$pid"/task/*/status; do
	nthreads=$((nthreads + 1))
	u=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")
	g=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$st")
	gr=$(awk '/^Groups:/ { $1 = ""; print substr($0, 2) }' "$st")
	caps=$(awk '/^Cap(Prm|Eff):/ { print $2 }' "$st" | sort -u)
	[ "$u" = "$uid $uid $uid $uid" ] && [ "$g" = "$gid $gid $gid $gid" ] &&
		[ "$gr" = "$gid" ] && [ "$caps" = 0000000000000000 ] || bad="$bad ${st%/status}:[$u|$g|$gr|$caps]"
done
if grep -q "running as nobody" "$work/live.err" && [ "$nthreads" -gt 1 ] && [ -z "$bad" ]; then
	echo "ok 5 - all $nthreads threads of darter run as nobody:nogroup ($uid:$gid), no capability"
else
	echo "not ok 5 - darter did not drop to nobody:$bad (threads: $nthreads)"
	tail -n 8 "$work/live.err" | sed 's/^/# /'
fi

# Traffic after the drop, then rotate and SIGHUP, then more traffic.
sent_total=0
replay() {
	ip netns exec "$ns" tcpreplay -q -i va -M 10 "$pcap" >"$work/tcpreplay.out" 2>&1
	sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$work/tcpreplay.out" | head -n 1)
	sent_total=$((sent_total + ${sent:-0}))
}
# capture.packets through the control socket (served by nobody now), waited
# for up to 30 s to reach WANT.
wait_packets() {
	local seen=
	for _ in $(seq 300); do
		seen=$(/usr/bin/python3 "$src/tools/darterctl" -s "$run/darter.sock" dump-counters \
			2>/dev/null | jq -r '.capture.packets' 2>/dev/null)
		[ -n "$seen" ] && [ "$seen" -ge "$1" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "${seen:-0}"
}
replay
before=$(wait_packets "$sent_total")
mv "$logs/eve.json" "$logs/eve.json.1"
kill -HUP "$pid"
for _ in $(seq 100); do
	[ -e "$logs/eve.json" ] && break
	sleep 0.1
done
owner=$(stat -c %u:%g "$logs/eve.json" 2>/dev/null)
if [ "$before" -ge "$sent_total" ] && [ "$owner" = "$uid:$gid" ] && kill -0 "$pid" 2>/dev/null; then
	echo "ok 6 - captured $before packets as nobody; after mv + SIGHUP a new eve.json by $owner"
else
	echo "not ok 6 - captured ${before:-?} of $sent_total; new eve.json owner '${owner:-none}'"
	tail -n 8 "$work/live.err" | sed 's/^/# /'
fi
replay
after=$(wait_packets "$sent_total")
echo "# darter counted $after of the $sent_total packets sent before SIGTERM"

# SIGTERM: drain (every flow flushed to the new file), final stats, exit 0.
kill -TERM "$pid"
rc=
for _ in $(seq 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$pid" 2>/dev/null; then
	wait "$pid"
	rc=$?
fi
final=$(jq -r 'select(.event_type == "stats") | .stats.capture.packets' "$logs/eve.json" 2>/dev/null |
	tail -n 1)
if [ "$rc" = 0 ] && [ "${final:-0}" -eq "$sent_total" ]; then
	echo "ok 7 - SIGTERM drained and exited 0; final stats count all $sent_total packets"
else
	echo "not ok 7 - exit '${rc:-still running}', final stats ${final:-none} of $sent_total packets"
	tail -n 8 "$work/live.err" | sed 's/^/# /'
fi
[ -n "$rc" ] && pid=
new_flows=$(jq -r 'select(.event_type == "flow") | .flow_id' "$logs/eve.json" 2>/dev/null | wc -l)
if [ "$new_flows" -gt 0 ]; then
	echo "ok 8 - the workers wrote $new_flows flow events into the reopened eve.json"
else
	echo "not ok 8 - no flow event in the reopened eve.json"
fi
if [ ! -e "$run/darter.sock" ] && [ "$(stat -c %u "$run" 2>/dev/null)" = "$uid" ]; then
	echo "ok 9 - darter (as nobody) removed its control socket from the directory it made"
else
	echo "not ok 9 - control socket left behind or $run not nobody's"
	ls -ld "$run" "$run"/* 2>&1 | sed 's/^/# /'
fi
