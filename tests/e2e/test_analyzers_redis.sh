#!/bin/bash
# Analyzers that call Redis, in the real binary: the shipped threat_intel
# analyzer looks both addresses of every flow up in a real redis-server's
# set (analyzers.redis.*). Every flow touching the listed address raises
# exactly one alert, every flow is still written once, and with Redis
# absent the replay still completes with every flow and no alert. A
# replay with a tiny analyzer queue (also behind the MAD scorer in Redis)
# waits for room instead of dropping: same alerts. Live
# (EVE socket input) with Redis slow behind a delaying proxy, SIGTERM
# while most lookups still wait: the worker drains, nothing is lost.
# Usage: test_analyzers_redis.sh DARTER_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
src=$2
work=$(mktemp -d)
rpid=
dpid=
xpid=
cleanup() {
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
	[ -n "$xpid" ] && kill "$xpid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$src/tests/e2e/tap.sh"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
command -v redis-server >/dev/null || { echo "1..0 # SKIP redis-server not installed"; exit 0; }
echo "1..13"
pcap=$src/tests/data/default.pcap
run() { # run DIR PORT [--set K=V...]: replay with threat_intel against Redis on PORT
	"$darter" -r "$pcap" -l "$work/$1" --set mad.snapshot.enabled=no "${@:3}" \
		--set "analyzers.scripts=[$src/analyzers/threat_intel.lua]" \
		--set analyzers.redis.enabled=yes --set analyzers.redis.port="$2" \
		--set analyzers.redis.timeout-ms=500 >"$work/$1.out" 2>&1
}
flows() { jq -c 'select(.event_type == "flow") | [.flow_id, .src_ip, .dest_ip]' "$1" | sort; }

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
rpid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$darter" -r "$pcap" -l "$work/plain" --set mad.snapshot.enabled=no >/dev/null 2>&1
# the indicator: the busiest server address of the capture
ioc=$(jq -r 'select(.event_type == "flow") | .dest_ip' "$work/plain/eve.json" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
want=$(jq -c --arg ip "$ioc" 'select(.event_type == "flow" and (.src_ip == $ip or .dest_ip == $ip)) | .flow_id' "$work/plain/eve.json" | sort)
redis-cli -p "$port" sadd ti:ip "$ioc" 203.0.113.9 >/dev/null
run listed "$port"
expect "replay with a Redis-calling analyzer exits 0" test -s "$work/listed/eve.json"
expect "every flow written once, as without analyzers" \
	diff <(flows "$work/listed/eve.json") <(flows "$work/plain/eve.json")
got=$(jq -c 'select(.event_type == "analyzer") | .darter.event.flow_id' "$work/listed/analyzers.json" 2>/dev/null | sort)
expect "one alert per flow touching $ioc ($(wc -l <<<"$want") flows), no other" \
	bash -c "[ -n \"$want\" ] && diff <(echo \"$want\") <(echo \"$got\")"
expect "each alert names the indicator" \
	bash -c "jq -e --arg ip '$ioc' 'select(.event_type == \"analyzer\") | .darter.event.threat_intel.indicator == \$ip' $work/listed/analyzers.json | sort -u | grep -qx true"
nflows=$(flows "$work/plain/eve.json" | wc -l)
final() { tail -n 1 "$work/$1/eve.json" | jq -c '.stats.darter.analyzers | [.calls, .redis_commands, .redis_errors, .abandoned, .queue_drops, .errors, .late_annotations]'; }
expect "final stats: every flow analyzed, 2 lookups each, none failed or abandoned" \
	test "$(final listed)" = "[$nflows,$((2 * nflows)),0,0,0,0,0]"
run small "$port" --set analyzers.queue-max=4
got=$(jq -c 'select(.event_type == "analyzer") | .darter.event.flow_id' "$work/small/analyzers.json" 2>/dev/null | sort)
expect "queue of 4: the replay waits for room, every alert, no queue drop" \
	bash -c "[ \"$want\" = \"$got\" ] && [ '$(final small)' = '[$nflows,$((2 * nflows)),0,0,0,0,0]' ]"
# the MAD scorer in Redis hands records on in bursts (one EVALSHA per turn)
run mad "$port" --set analyzers.queue-max=3 --set mad.store=redis --set mad.redis.port="$port"
got=$(jq -c 'select(.event_type == "analyzer") | .darter.event.flow_id' "$work/mad/analyzers.json" 2>/dev/null | sort)
expect "queue of 3 behind the MAD scorer in Redis: every alert, no queue drop" \
	bash -c "[ \"$want\" = \"$got\" ] && [ '$(final mad)' = '[$nflows,$((2 * nflows)),0,0,0,0,0]' ]"
kill "$rpid"
wait "$rpid" 2>/dev/null
rpid=
run absent "$port"
expect "Redis absent: the replay still completes, every flow written" \
	diff <(flows "$work/absent/eve.json") <(flows "$work/plain/eve.json")
expect "Redis absent: no alert" \
	bash -c "! grep -q '\"event_type\":\"analyzer\"' $work/absent/analyzers.json 2>/dev/null"
expect "Redis absent: every flow analyzed, each lookup failed and counted, none abandoned" \
	bash -c "[ '$(final absent | jq -c '[.[0], .[2], .[3], .[4]]')' = '[$nflows,$((2 * nflows)),0,0]' ]"

# --- live: EVE socket input, Redis slow (every reply delayed 20 ms by a
# proxy), SIGTERM while most lookups wait: the drain loses nothing
cat >"$work/proxy.py" <<'PY'
import asyncio, sys
async def pipe(r, w, delay):
    while data := await r.read(65536):
        if delay:
            await asyncio.sleep(delay)
        w.write(data)
        await w.drain()
    w.close()
async def client(cr, cw):
    sr, sw = await asyncio.open_connection("127.0.0.1", int(sys.argv[1]))
    await asyncio.gather(pipe(cr, sw, 0), pipe(sr, cw, 0.02), return_exceptions=True)
async def main():
    srv = await asyncio.start_server(client, "127.0.0.1", int(sys.argv[2]))
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
PY
cat >"$work/send.py" <<'PY'
import json, socket, sys
path, n, ioc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
with open(sys.argv[4], "w") as want:
    for i in range(n):
        dst = ioc if i % 3 == 0 else "198.51.100.%d" % (i % 200 + 1)
        ev = {"timestamp": "2023-05-12T10:15:02.123456+0000", "flow_id": 9000000 + i,
              "event_type": "flow", "src_ip": "10.0.%d.%d" % (i // 250, i % 250 + 1),
              "src_port": 40000 + i, "dest_ip": dst, "dest_port": 443, "proto": "TCP",
              "flow": {"pkts_toserver": 3, "pkts_toclient": 2, "bytes_toserver": 300 + i,
                       "bytes_toclient": 500, "start": "2023-05-12T10:14:59.000100+0000",
                       "end": "2023-05-12T10:15:02.120001+0000", "age": 3,
                       "state": "closed", "reason": "timeout", "alerted": False}}
        s.sendall((json.dumps(ev) + "\n").encode())
        if dst == ioc:
            want.write("%d\n" % ev["flow_id"])
s.close()
PY
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis2.log" 2>&1 &
rpid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$port" sadd ti:ip 203.0.113.9 >/dev/null
pport=$(free_port)
/usr/bin/python3 "$work/proxy.py" "$port" "$pport" &
xpid=$!
for _ in $(seq 50); do redis-cli -p "$pport" ping >/dev/null 2>&1 && break; sleep 0.1; done
cat >"$work/live.yaml" <<YAML
metrics: {enabled: no}
mad: {snapshot: {enabled: no}}
inputs:
  eve-socket: {enabled: yes, path: $work/eve.sock, type: stream}
analyzers:
  scripts: [$src/analyzers/threat_intel.lua]
  redis: {enabled: yes, port: $pport, timeout-ms: 2000}
YAML
"$darter" -c "$work/live.yaml" -l "$work/live" >"$work/live.out" 2>&1 &
dpid=$!
for _ in $(seq 100); do [ -S "$work/eve.sock" ] && break; sleep 0.1; done
nlive=300
/usr/bin/python3 "$work/send.py" "$work/eve.sock" "$nlive" 203.0.113.9 "$work/live.want"
sleep 0.5
before=$(redis-cli -p "$port" info commandstats | sed -n 's/^cmdstat_sismember:calls=\([0-9]*\).*/\1/p')
kill -TERM "$dpid"
wait "$dpid"
rc=$?
dpid=
expect "live: SIGTERM with lookups waiting (${before:-0} of $((2 * nlive)) sent): exit 0, every flow written" \
	bash -c "[ $rc = 0 ] && [ ${before:-0} -lt $((2 * nlive)) ] && [ \$(jq -c 'select(.event_type == \"flow\") | .flow_id' $work/live/eve.json | sort -u | wc -l) = $nlive ]"
expect "live: one alert per listed flow after the drain, none lost" \
	diff <(sort "$work/live.want") <(jq -r 'select(.event_type == "analyzer") | .darter.event.flow_id' "$work/live/analyzers.json" | sort)
expect "live: final stats: all $nlive analyzed, none failed or abandoned" \
	test "$(final live)" = "[$nlive,$((2 * nlive)),0,0,0,0,0]"
exit $((fails > 0))
