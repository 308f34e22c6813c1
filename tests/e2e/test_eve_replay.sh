#!/bin/bash
# darter -e: Suricata EVE JSON in, through the same MAD core and sinks as
# capture. Round trip of darter's own output, real Suricata 7 lines, bad
# input counted and skipped, exact 64-bit flow_ids, the same outliers as
# the capture path, the Redis store with a tiny window (the file waits).
# Usage: test_eve_replay.sh DARTER_BIN DARTER_GEN_BIN SOURCE_ROOT   (prints TAP)
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
stats() { tail -n 1 "$1/eve.json" | jq -c "$2"; }
flows_sans_mad() { jq -c 'select(.event_type == "flow") | del(.darter.mad)' "$1/eve.json" | sort; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "1..12"

# darter's own output in again: the same records
"$darter" -r "$src/tests/data/default.pcap" -l "$work/pcap" >/dev/null 2>&1
"$darter" -e "$work/pcap/eve.json" -l "$work/again" >"$work/again.out" 2>&1
expect "round trip: exit 0, every flow event read back" \
	bash -c "[ \"\$(tail -n 1 $work/again/eve.json | jq -c '[.stats.darter.eve_input.flows, .stats.darter.eve_input.others, .stats.darter.eve_input.refused]')\" = '[83,1,0]' ]"
expect "round trip: the records are identical (apart from the MAD verdict)" \
	diff <(flows_sans_mad "$work/pcap") <(flows_sans_mad "$work/again")
expect "round trip: output matches the schema" $validate "$work/again/eve.json"

# Suricata 7's own lines: flow events scored, alert and dns counted
"$darter" -e "$src/tests/data/eve/suricata7.json" -l "$work/suri" >/dev/null 2>&1
expect "Suricata 7 EVE: 3 flows scored, 2 other events counted" \
	bash -c "[ \"\$(tail -n 1 $work/suri/eve.json | jq -c '[.stats.darter.eve_input.flows, .stats.darter.eve_input.others, .stats.darter.mad.records]')\" = '[3,2,3]' ]"
expect "Suricata 7 EVE: flow_id 2^64-1 comes out digit for digit" \
	grep -q '"flow_id":18446744073709551615,' "$work/suri/eve.json"
expect "Suricata 7 EVE: app_proto and ICMP fields kept; schema valid" \
	bash -c "grep -q '\"app_proto\":\"tls\"' $work/suri/eve.json && grep -q '\"response_icmp_type\":0' $work/suri/eve.json && $validate $work/suri/eve.json"

# Bad input: each kind counted and skipped, the good lines still scored
good=$(head -n 1 "$src/tests/data/eve/suricata7.json")
{
	echo "$good"
	echo '{"event_type":"flow","flow_id":null}'
	printf '{"event_type":"flow","src_ip":"\xff\xfe"}\n'
	echo '{"timestamp":"2023-05-12T10:15:02.123456+0000","event_type":"flo'
	head -c 3000 /dev/urandom | tr -d '\n'; echo
	printf '{"event_type":"dns","x":"%*s"}\n' 70000 ""
	echo ""
	echo '[1,2,3]'
	echo "$good"
} >"$work/bad.json"
"$darter" -e "$work/bad.json" -l "$work/bad" >"$work/bad.out" 2>&1
rc=$?
expect "bad input: exit 0, the 2 good flows scored" \
	bash -c "[ $rc = 0 ] && [ \"\$(tail -n 1 $work/bad/eve.json | jq -c '[.stats.darter.eve_input.flows, .stats.darter.mad.records]')\" = '[2,2]' ]"
expect "bad input: every bad line counted (refused 6, too long 1)" \
	bash -c "[ \"\$(tail -n 1 $work/bad/eve.json | jq -c '[.stats.darter.eve_input.refused, .stats.darter.eve_input.too_long]')\" = '[6,1]' ]"

# Same outliers as the capture path
"$gen" pcap "$work/g.pcap" --flows 5000 --pkts-per-flow 10 --size imix --outliers 10 --seed 7 --quiet
"$darter" -r "$work/g.pcap" -l "$work/gcap" >/dev/null 2>&1
"$darter" -e "$work/gcap/eve.json" -l "$work/geve" >/dev/null 2>&1
expect "MAD from EVE input flags the same 10 outliers as from the capture" \
	diff <(jq -r .flow_id "$work/gcap/outliers.json" | sort) <(jq -r .flow_id "$work/geve/outliers.json" | sort)

# Redis store, window of 8: the file waits for replies, nothing falls back
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$darter" -e "$work/gcap/eve.json" -l "$work/gredis" --set mad.store=redis --set mad.redis.port="$port" \
	--set mad.redis.window=8 >/dev/null 2>&1
expect "redis, window 8: 5000 replies, no fallback, the same outliers" \
	bash -c "[ \"\$(tail -n 1 $work/gredis/eve.json | jq -c '[.stats.darter.mad.redis_replies, .stats.darter.mad.redis_fallbacks]')\" = '[5000,0]' ] && diff <(jq -r .flow_id $work/gcap/outliers.json | sort) <(jq -r .flow_id $work/gredis/outliers.json | sort)"

# Usage errors
out=$("$darter" -e "$work/missing.json" -l "$work/x" 2>&1)
expect "a missing file: exit 1 naming it" bash -c "[ $? = 1 ] && grep -q 'missing.json' <<<'$out'"
out=$("$darter" -e "$work/bad.json" -r "$work/g.pcap" -l "$work/x" 2>&1)
expect "-r and -e together: refused" bash -c "[ $? = 1 ] && grep -q 'exclude' <<<'$out'"
exit $((fails > 0))
