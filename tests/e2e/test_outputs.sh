#!/bin/bash
# Network outputs in the real binary: a Unix socket reader (stream and
# datagram) and a real redis-server (XADD) get every flow and alert line
# eve.json and outliers.json get, exactly once; an absent reader costs
# nothing but counted drops (written = delivered + dropped). Analyzer
# events (darter.emit) are routed by analyzer name or emit sink name.
# Usage: test_outputs.sh DARTER_BIN DARTER_GEN_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
gen=$2
src=$3
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$src/tests/e2e/tap.sh"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# reader KIND PATH OUT: a Unix socket server writing what it receives to OUT
reader() {
	/usr/bin/python3 - "$@" <<'PY' &
import os, socket, sys, select
kind, path, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == "stream" else socket.SOCK_DGRAM)
s.bind(path)
f = open(out, "wb", buffering=0)
if kind == "dgram":
    while True:
        d = s.recv(1 << 20)
        f.write(d if d.endswith(b"\n") else d + b"\n")
s.listen(16)
conns = []
while True:
    r, _, _ = select.select([s] + conns, [], [])
    for c in r:
        if c is s:
            conns.append(s.accept()[0])
            continue
        d = c.recv(1 << 16)
        if not d:
            conns.remove(c)
            c.close()
        f.write(d)
PY
	pids+=($!)
	for _ in $(seq 50); do [ -S "$2" ] && return; sleep 0.1; done
}
# wait until the reader's file stops growing (it writes what darter already sent)
settle() {
	local last=-1 now
	for _ in $(seq 100); do
		now=$(wc -c <"$1")
		[ "$now" = "$last" ] && return
		last=$now
		sleep 0.2
	done
}
flows_of() { grep -h '"event_type":"flow"' "$@" | sort; }
alerts_of() { grep -h '"event_type":"alert"' "$@" | sort; }
stat() { tail -n 1 "$1/eve.json" | jq -c "$2"; }

echo "1..12"
"$gen" pcap "$work/g.pcap" --flows 3000 --pkts-per-flow 6 --size imix --outliers 5 --seed 5 --quiet

reader stream "$work/s.sock" "$work/stream.out"
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$darter" -r "$work/g.pcap" -l "$work/a" \
	--set outputs.unix-socket.enabled=yes --set "outputs.unix-socket.path=$work/s.sock" \
	--set outputs.redis.enabled=yes --set outputs.redis.port="$port" --set outputs.redis.mode=xadd \
	--set outputs.redis.key=eve --set outputs.redis.max-len=0 >"$work/a.out" 2>&1
settle "$work/stream.out"
expect "unix stream: every flow line of eve.json, exactly once" \
	diff <(flows_of "$work/a/eve.json") <(flows_of "$work/stream.out")
expect "unix stream: every outlier alert of outliers.json, exactly once" \
	bash -c "[ -s $work/a/outliers.json ] && diff <(grep -h '\"event_type\":\"alert\"' $work/a/outliers.json | sort) <(grep -h '\"event_type\":\"alert\"' $work/stream.out | sort)"
redis-cli -p "$port" --raw xrange eve - + | grep '^{' >"$work/redis.out"
expect "redis XADD: every flow and alert line, exactly once" \
	bash -c "diff <(cat $work/a/eve.json $work/a/outliers.json | grep -v '\"event_type\":\"stats\"' | sort) <(sort $work/redis.out)"
lines=$(cat "$work/a/eve.json" "$work/a/outliers.json" | grep -vc '"event_type":"stats"')
expect "stats: written = delivered = $lines lines for both, nothing dropped" \
	bash -c "[ \"\$(tail -n 1 $work/a/eve.json | jq -c '[.stats.darter.outputs.unix_socket.written, .stats.darter.outputs.unix_socket.lines, .stats.darter.outputs.unix_socket.dropped, .stats.darter.outputs.redis.written, .stats.darter.outputs.redis.lines, .stats.darter.outputs.redis.dropped]')\" = '[$lines,$lines,0,$lines,$lines,0]' ]"

reader dgram "$work/d.sock" "$work/dgram.out"
"$darter" -r "$work/g.pcap" -l "$work/d" --set outputs.unix-socket.enabled=yes \
	--set "outputs.unix-socket.path=$work/d.sock" --set outputs.unix-socket.type=dgram \
	--set 'outputs.unix-socket.events=[alert]' >/dev/null 2>&1
settle "$work/dgram.out"
expect "unix dgram, events [alert]: the outlier alerts only, one datagram each" \
	bash -c "diff <(grep -h '\"event_type\":\"alert\"' $work/d/outliers.json | sort) <(sort $work/dgram.out) && [ -s $work/dgram.out ] && ! grep -q '\"event_type\":\"flow\"' $work/dgram.out"

"$darter" -r "$work/g.pcap" -l "$work/x" --set outputs.unix-socket.enabled=yes \
	--set "outputs.unix-socket.path=$work/nobody.sock" >"$work/x.out" 2>&1
rc=$?
expect "no reader: exit 0, eve.json complete" bash -c "[ $rc = 0 ] && [ \$(grep -c '\"event_type\":\"flow\"' $work/x/eve.json) = 3000 ]"
xlines=$(cat "$work/x/eve.json" "$work/x/outliers.json" | grep -vc '"event_type":"stats"')
expect "no reader: every line counted as dropped (written = dropped = $xlines)" \
	bash -c "[ \"\$(tail -n 1 $work/x/eve.json | jq -c '[.stats.darter.outputs.unix_socket.written, .stats.darter.outputs.unix_socket.dropped, .stats.darter.outputs.unix_socket.lines]')\" = '[$xlines,$xlines,0]' ]"
# Routing by analyzer: two scripts, each emitting one event per flow to its own sink.
for a in ops:ops_feed soc:soc_feed; do
	cat >"$work/${a%%:*}.lua" <<LUA
function on_flow(rec) darter.emit("${a#*:}", { event_type = "${a%%:*}", flow_id = rec.flow_id }) end
LUA
done
reader stream "$work/r.sock" "$work/route.out"
: >"$work/route.out"
"$darter" -r "$work/g.pcap" -l "$work/r" --set "analyzers.scripts=[$work/ops.lua, $work/soc.lua]" \
	--set outputs.unix-socket.enabled=yes --set "outputs.unix-socket.path=$work/r.sock" \
	--set 'outputs.unix-socket.events=[analyzer]' --set 'outputs.unix-socket.analyzers=[ops]' \
	--set outputs.redis.enabled=yes --set outputs.redis.port="$port" --set outputs.redis.mode=xadd \
	--set outputs.redis.key=routed --set outputs.redis.max-len=0 \
	--set 'outputs.redis.events=[flow, analyzer]' --set 'outputs.redis.analyzers=[soc_feed]' \
	>"$work/r.out" 2>&1
settle "$work/route.out"
an_of() { grep -h "\"analyzer\":\"$1\"" "$2" | sort; }
expect "analyzers [ops] (a script's name): exactly that analyzer's 3000 events of analyzers.json" \
	bash -c "[ \$(grep -c '\"analyzer\":\"ops\"' $work/r/analyzers.json) = 3000 ] && diff <(grep -h '\"analyzer\":\"ops\"' $work/r/analyzers.json | sort) <(sort $work/route.out)"
redis-cli -p "$port" --raw xrange routed - + | grep '^{' | sort >"$work/routed.out"
expect "analyzers [soc_feed] (an emit sink) with flow: every flow line and soc's events, nothing of ops" \
	bash -c "diff <( (grep -h '\"sink\":\"soc_feed\"' $work/r/analyzers.json; grep -h '\"event_type\":\"flow\"' $work/r/eve.json) | sort) $work/routed.out && [ \$(grep -c soc_feed $work/routed.out) = 3000 ]"
expect "routed stats: unix socket written = lines = 3000, nothing dropped" \
	bash -c "[ \"\$(tail -n 1 $work/r/eve.json | jq -c '[.stats.darter.outputs.unix_socket.written, .stats.darter.outputs.unix_socket.lines, .stats.darter.outputs.unix_socket.dropped]')\" = '[3000,3000,0]' ]"
out=$("$darter" -T --set 'outputs.kafka.analyzers=[ok, "bad name"]' 2>&1)
expect "-T names a bad analyzer filter name" bash -c "grep -q \"outputs.kafka.analyzers.*'bad name'\" <<<\"\$1\"" _ "$out"
out=$("$darter" -T --set 'outputs.redis.events=[flow, gossip]' 2>&1)
expect "-T names an unknown event type" bash -c "grep -q 'outputs.redis.events.*gossip' <<<'$out'"
exit $((fails > 0))
