#!/bin/bash
# The MAD core end to end: a generated capture with known outlier flows
# goes through the real binary; the outliers found must be exactly the
# injected ones, with the local store, with a real redis-server, and with
# Redis unreachable (scored locally, counted). Also: evidence on every
# record, the schema, config checks, snapshots in live mode.
# Usage: test_mad.sh DARTER_BIN DARTER_GEN_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
gen=$2
src=$3
schema=$src/engine/eve-flow.schema.json
validate="/usr/bin/python3 $src/tests/e2e/validate_eve.py $schema"
work=$(mktemp -d)
redis_pid=
cleanup() {
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$src/tests/e2e/tap.sh"

# 5-tuples of the injected outliers, and of the outlier alerts darter wrote
want_outliers() { grep -v '^#' "$work/g.pcap.outliers" | awk '{print tolower($1), $2, $3, $4, $5}' | sort; }
got_outliers() { jq -r '[(.proto|ascii_downcase), .src_ip, .src_port, .dest_ip, .dest_port] | map(tostring) | join(" ")' "$1/outliers.json" | sort; }
same_outliers() { diff <(want_outliers) <(got_outliers "$1"); }
stat_of() { tail -n 1 "$1/eve.json" | jq -e ".stats.darter.mad.$2"; }
# every flow line has evidence for each spec, and n counts up without gaps (one worker)
evidence_ok() {
	jq -e -s --argjson k "$2" '[.[] | select(.event_type == "flow")] as $f
		| ($f | length) > 0
		and all($f[]; (.darter.mad | length) == $k)
		and ([$f[].darter.mad[0].n] == [range(1; ($f | length) + 1)] or $k > 1)' "$1/eve.json"
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "1..20"
"$gen" pcap "$work/g.pcap" --flows 5000 --pkts-per-flow 10 --size imix --outliers 10 --seed 7 --quiet

# Local store (the default)
"$darter" -r "$work/g.pcap" -l "$work/local" >"$work/local.out" 2>&1
expect "local: exactly the 10 injected outliers are flagged" same_outliers "$work/local"
expect "local: every record carries its evidence, n counts every flow" evidence_ok "$work/local" 1
expect "local: eve.json and outliers.json match the schema" $validate "$work/local/eve.json" "$work/local/outliers.json"
expect "local: stats count 5000 records scored, 10 outliers" \
	bash -c "[ \"\$(tail -n 1 $work/local/eve.json | jq -c '[.stats.darter.mad.records, .stats.darter.mad.outliers, .stats.darter.workers.outlier_lines]')\" = '[5000,10,10]' ]"
expect "local: the summary names the outlier file" grep -q "10 outliers (written to $work/local/outliers.json)" "$work/local.out"
expect "local: a replay keeps no snapshot (same input, same output)" bash -c "! ls $work/local/mad-state* 2>/dev/null"

# Off, and several specs
"$darter" -r "$work/g.pcap" -l "$work/off" --set mad.enabled=no >/dev/null 2>&1
expect "mad.enabled=no: no evidence, no outliers" \
	bash -c "! grep '\"event_type\":\"flow\"' $work/off/eve.json | grep -q '\"mad\"' && [ ! -s $work/off/outliers.json ]"
"$darter" -r "$work/g.pcap" -l "$work/specs" --set 'mad.specs=[bytes/dest_port, pcr/src_subnet:16, pkts/global]' >/dev/null 2>&1
expect "three specs: three verdicts per record, keyed by group" \
	bash -c "jq -e -s '[.[] | select(.event_type == \"flow\") | .darter.mad | map(.metric + \"/\" + .group) == [\"bytes/dest_port\", \"pcr/src_subnet\", \"pkts/global\"]] | all' $work/specs/eve.json >/dev/null &&
	jq -r 'select(.event_type == \"flow\") | .darter.mad[0].key' $work/specs/eve.json | grep -qx 'tcp/443' &&
	jq -r 'select(.event_type == \"flow\") | .darter.mad[1].key' $work/specs/eve.json | grep -qx '10.[0-9]*.0.0/16'"
expect "three specs: output matches the schema" $validate "$work/specs/eve.json"

# Config checks across keys
check_T() { local out; out=$("$darter" -T "$@" 2>&1); [ $? = 1 ] && grep -q "mad" <<<"$out"; }
expect "-T refuses a bad spec, naming mad.specs" check_T --set 'mad.specs=[bytes/everywhere]'
expect "-T refuses compat with the redis store" check_T --set mad.preset=compat --set mad.store=redis
expect "-T refuses a relative step above 0.1" check_T --set mad.eta=0.5

# Redis store against a real server on a free loopback port
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$darter" -r "$work/g.pcap" -l "$work/redis" --set mad.store=redis --set mad.redis.port="$port" >"$work/redis.out" 2>&1
expect "redis: the same 10 outliers as the local store" same_outliers "$work/redis"
expect "redis: every update went to Redis, none fell back" \
	bash -c "[ \"\$(tail -n 1 $work/redis/eve.json | jq -c '[.stats.darter.mad.redis_replies, .stats.darter.mad.redis_fallbacks, .stats.darter.mad.redis_errors]')\" = '[5000,0,0]' ]"
expect "redis: the shared state holds n = 5000 (documented layout, tools/mad-redis-dump)" \
	bash -c "[ \"\$($src/tools/mad-redis-dump -p $port | jq -c '[.key, .n]')\" = '[\"darter:mad:bytes/global\",5000]' ]"
kill "$redis_pid"
wait "$redis_pid" 2>/dev/null
redis_pid=

# Redis unreachable: nothing lost, scored locally, counted
"$darter" -r "$work/g.pcap" -l "$work/down" --set mad.store=redis --set mad.redis.port="$port" \
	--set mad.redis.timeout-ms=200 >"$work/down.out" 2>&1
expect "redis down: all 5000 records written, the same outliers" \
	bash -c "[ \$(grep -c '\"event_type\":\"flow\"' $work/down/eve.json) = 5000 ] && diff <(jq -r '.flow_id' $work/local/outliers.json | sort) <(jq -r '.flow_id' $work/down/outliers.json | sort)"
expect "redis down: every record counted as a fallback" \
	bash -c "[ \"\$(tail -n 1 $work/down/eve.json | jq -c '[.stats.darter.mad.records, .stats.darter.mad.redis_fallbacks]')\" = '[5000,5000]' ]"

# Live mode: the snapshot is saved at exit and loaded at the next start
cat >"$work/live.yaml" <<YAML
capture:
  ports: ["net_pcap0,rx_pcap=$work/g.pcap"]
control:
  enabled: no # tests run in parallel: no shared socket path or port
metrics:
  enabled: no
YAML
live() {
	"$darter" -c "$work/live.yaml" -l "$work/live" >"$work/live$1.out" 2>&1 &
	local pid=$!
	sleep 3 # the file is read in well under a second; flows stay open until SIGTERM
	kill -TERM "$pid"
	wait "$pid"
}
live 1
first=$(grep -c '"event_type":"flow"' "$work/live/eve.json")
live 2
# on a loaded machine SIGTERM may come before the whole file is read: count what run 1 wrote
second_n=$(jq -s --argjson k "$first" '[.[] | select(.event_type == "flow")][$k].darter.mad[0].n' "$work/live/eve.json")
expect "live: the snapshot is written at exit" test -s "$work/live/mad-state.0"
expect "live: the next run continues from it (n = run 1's flows + 1, not 1)" \
	bash -c "[ '$first' -gt 0 ] && [ '$second_n' = $((first + 1)) ]"
# SIGTERM drains: 5000 flows still open (packet times moved to now, so the
# idle sweep keeps them) go out through a 64-record ring, none dropped
first=$(capinfos -a -S "$work/g.pcap" | sed -n 's/^First packet time: *\([0-9]*\).*/\1/p')
editcap -t $(($(date +%s) - first)) "$work/g.pcap" "$work/now.pcap"
sed "s|$work/g.pcap|$work/now.pcap|" "$work/live.yaml" >"$work/now.yaml"
"$darter" -c "$work/now.yaml" -l "$work/drain" --set capture.ring-size=64 >"$work/drain.out" 2>&1 &
pid=$!
sleep 3
kill -TERM "$pid"
wait "$pid"
expect "live: SIGTERM drains 5000 open flows through a 64-record ring, none dropped" \
	bash -c "[ \$(grep -c '\"event_type\":\"flow\"' $work/drain/eve.json) = 5000 ] && [ \"\$(tail -n 1 $work/drain/eve.json | jq -c '[.stats.darter.handoff.ring_full, .stats.darter.handoff.pool_empty]')\" = '[0,0]' ]"
exit $((fails > 0))
