#!/bin/bash
# Kafka EVE input through the real binary: darter -c with no capture
# port, inputs.eve-kafka pointed at a mock Kafka cluster (kafka_mock:
# librdkafka's mock brokers on loopback ports, in their own process)
# holding real-format Suricata EVE events with malformed ones mixed in.
# Every flow event comes out exactly once, bad ones are counted refused;
# SIGTERM leaves the group committing what was handed over, so a second
# darter of the same group reads nothing again.
# Usage: test_live_kafka.sh DARTER_BIN KAFKA_MOCK_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
mock=$2
src=$3
ctl="/usr/bin/python3 $src/tools/darterctl"
tmpl=$src/tests/data/eve/suricata7.json
work=$(mktemp -d)
pid=
mpid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "$mpid" ] && kill -9 "$mpid" 2>/dev/null
	rm -rf "$work"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT
. "$src/tests/e2e/tap.sh"

# 3000 events from the Suricata 7 templates, unique flow_id, 30 malformed lines.
/usr/bin/python3 - "$tmpl" "$work/in.json" <<'PY'
import json, random, sys
tmpl = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rnd = random.Random(6)
bad = ['{"event_type":"flow","flow_id":null}', '{"event_type":"flo', 'binary \x01\x02 junk', '[1,2]']
others = 0
with open(sys.argv[2], "w") as f, open(sys.argv[2] + ".ids", "w") as ids:
    for i in range(3000):
        ev = dict(tmpl[i % len(tmpl)])
        ev["flow_id"] = 9000000 + i
        f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        if ev["event_type"] == "flow":
            ids.write("%d\n" % ev["flow_id"])
        else:
            others += 1
        if i % 100 == 50:
            f.write(bad[i % len(bad)] + "\n")
open(sys.argv[2] + ".others", "w").write("%d\n" % others)
PY
sort "$work/in.json.ids" >"$work/ids"
total=$(wc -l <"$work/in.json")
bad=$((total - 3000))
others=$(cat "$work/in.json.others")

"$mock" suricata-eve 4 "$work/in.json" >"$work/boot" 2>"$work/mock.err" &
mpid=$!
for _ in $(seq 300); do [ -s "$work/boot" ] && break; sleep 0.1; done
boot=$(head -n 1 "$work/boot")

sock=$work/run/ctl.sock
c() { $ctl -s "$sock" "$@"; }
counter() { c dump-counters 2>/dev/null | jq -r "$1" 2>/dev/null; }
# wait (30 s at most: joining a group takes a few) until counter $1 equals $2
wait_counter() {
	for _ in $(seq 300); do
		[ "$(counter "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
final() { tail -n 1 "$work/$1/eve.json" | jq -c "$2"; }
start() { # name
	mkdir -p "$work/run"
	cat >"$work/$1.yaml" <<YAML
control: {socket: $sock}
metrics: {enabled: no}
inputs:
  eve-kafka: {enabled: yes, brokers: "$boot", topic: suricata-eve, group: darter-e2e}
YAML
	"$darter" -c "$work/$1.yaml" -l "$work/$1" >"$work/$1.out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
}
stop() { # SIGTERM; the exit code
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	pid=
	return $rc
}

echo "1..6"
expect "the mock cluster is up with the events" test -n "$boot"

start first
wait_counter .darter.eve_input.kafka.messages "$total"
stop
rc=$?
expect "first: SIGTERM: exit 0" [ $rc = 0 ]
expect "first: every flow event out exactly once" diff "$work/ids" \
	<(jq -r 'select(.event_type == "flow") | .flow_id' "$work/first/eve.json" | sort)
expect "first: every message a line; malformed ones refused, others counted" \
	[ "$(final first '.stats.darter.eve_input | [.kafka.messages, .kafka.lines, .refused, .others]')" = "[$total,$total,$bad,$others]" ]

start second
wait_counter .darter.eve_input.kafka.partitions 4 # joined the group, got every partition
sleep 2 # ... and fetched from the committed offsets: the end
expect "second (same group): assigned the partitions, reads nothing again" \
	[ "$(c dump-counters | jq -c '.darter.eve_input.kafka | [.partitions, .messages]')" = "[4,0]" ]
stop
rc=$?
expect "second: SIGTERM: exit 0, no flow event" \
	bash -c "[ $rc = 0 ] && [ \$(jq -r 'select(.event_type == \"flow\") | 1' $work/second/eve.json | wc -l) = 0 ]"

kill -TERM "$mpid"
wait "$mpid"
mpid=
[ $fails = 0 ]
