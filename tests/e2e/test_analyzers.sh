#!/bin/bash
# Lua analyzers in the real binary: annotations in the records, emitted
# events in analyzers.json, failures counted without losing a record, a
# script that never returns stopped, a broken script refused at start,
# and 100 reloads during a replay with every event accounted for.
# Usage: test_analyzers.sh DARTER_BIN DARTER_GEN_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
gen=$2
src=$3
schema=$src/engine/eve-flow.schema.json
validate="/usr/bin/python3 $src/tests/e2e/validate_eve.py $schema"
pcap=$src/tests/data/default.pcap
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$src/tests/e2e/tap.sh"
stat_of() { tail -n 1 "$1/eve.json" | jq -c "$2"; }
flows() { grep -c '"event_type":"flow"' "$1/eve.json"; }

cat >"$work/annotate.lua" <<'LUA'
wants = { flow = "table" }
local n = 0
function on_flow(rec)
	n = n + 1
	darter.annotate("seq", n)
	if rec.proto_name == "TCP" then darter.annotate("tag", "tcp") end
end
LUA
cat >"$work/fails.lua" <<'LUA'
wants = { flow = "ffi" }
function on_flow(rec) error("always fails") end
LUA
cat >"$work/spins.lua" <<'LUA'
wants = { flow = "ffi" }
local calls = 0
function on_flow(rec)
	calls = calls + 1
	if calls % 20 == 0 then local x = 0 for i = 1, 1e18 do x = x + i end end
end
LUA
printf 'wants = { flow = "ffi" }\nfunction on_flow(rec\n' >"$work/broken.lua"

echo "1..10"
"$darter" -r "$pcap" -l "$work/a" --set "analyzers.scripts=[$src/analyzers/hello.lua,$work/annotate.lua]" >"$work/a.out" 2>&1
expect "hello.lua emits one event per flow into analyzers.json" \
	bash -c "[ \$(wc -l <$work/a/analyzers.json) = 83 ] && [ \$(jq -r .darter.analyzer $work/a/analyzers.json | sort -u) = hello ]"
expect "annotations land in each record under darter.annotations" \
	bash -c "[ \"\$(jq -c 'select(.event_type == \"flow\") | .darter.annotations.seq' $work/a/eve.json | sort -n | tail -n 1)\" = 83 ] && grep -q '\"annotations\":{\"seq\":[0-9]*,\"tag\":\"tcp\"}' $work/a/eve.json"
expect "eve.json and analyzers.json match the schema" $validate "$work/a/eve.json" "$work/a/analyzers.json"
expect "stats count the calls: 2 analyzers x 83 flows" \
	bash -c "[ \"\$(tail -n 1 $work/a/eve.json | jq -c '[.stats.darter.analyzers.calls, .stats.darter.analyzers.emits, .stats.darter.analyzers.errors]')\" = '[166,83,0]' ]"

"$darter" -r "$pcap" -l "$work/f" --set "analyzers.scripts=[$work/fails.lua]" >"$work/f.out" 2>&1
expect "a script that always errors: exit 0, every record written, 83 errors counted" \
	bash -c "[ \$(grep -c '\"event_type\":\"flow\"' $work/f/eve.json) = 83 ] && [ \"\$(tail -n 1 $work/f/eve.json | jq .stats.darter.analyzers.errors)\" = 83 ]"

start=$(date +%s)
"$darter" -r "$pcap" -l "$work/s" --set "analyzers.scripts=[$work/spins.lua]" --set analyzers.cpu-ms=50 >"$work/s.out" 2>&1
took=$(($(date +%s) - start))
expect "a JIT-compiled endless loop is stopped: every record written, 4 timeouts, within 60 s" \
	bash -c "[ \$(grep -c '\"event_type\":\"flow\"' $work/s/eve.json) = 83 ] && [ \"\$(tail -n 1 $work/s/eve.json | jq .stats.darter.analyzers.timeouts)\" = 4 ] && [ $took -lt 60 ]"

"$darter" -r "$pcap" -l "$work/b" --set "analyzers.scripts=[$work/broken.lua]" >"$work/b.out" 2>&1
rc=$?
expect "a script that does not load: refused at start, naming it" \
	bash -c "[ $rc = 1 ] && grep -q 'broken.lua:3' $work/b.out"

# Reload under load: events flow through a FIFO while each of 100 reloads
# is asked and done (reloads of one script coalesce, so one at a time).
"$gen" pcap "$work/g.pcap" --flows 20000 --pkts-per-flow 4 --size 64 --seed 3 --quiet
"$darter" -r "$work/g.pcap" -l "$work/g" --set mad.enabled=no >/dev/null 2>&1
grep '"event_type":"flow"' "$work/g/eve.json" >"$work/flows.json"
split -l 200 -a 4 "$work/flows.json" "$work/chunk."
mkfifo "$work/in.fifo"
"$darter" -e "$work/in.fifo" -l "$work/r" --set "analyzers.scripts=[$src/analyzers/hello.lua]" \
	--set mad.enabled=no --set logging.level=info >"$work/r.out" 2>&1 &
pid=$!
exec 3>"$work/in.fifo"
chunks=("$work"/chunk.*)
next=0
feed() { # one chunk of events (round robin over the capture's flows)
	cat "${chunks[$((next % ${#chunks[@]}))]}" >&3
	next=$((next + 1))
}
for i in $(seq 100); do
	kill -USR2 "$pid"
	for _ in $(seq 500); do
		feed
		[ "$(grep -c 'hello.lua: reloaded' "$work/r.out")" -ge "$i" ] && break
		sleep 0.01
	done
done
for _ in $(seq 20); do feed; done
exec 3>&-
wait "$pid"
rc=$?
pid=
in=$(for ((k = 0; k < next; k++)); do wc -l <"${chunks[$((k % ${#chunks[@]}))]}"; done | awk '{s += $1} END {print s}')
reloads=$(grep -c 'hello.lua: reloaded' "$work/r.out")
echo "# $in EVE flow events in through the FIFO; $reloads reloads during the replay"
expect "100 reloads happened while the replay ran" bash -c "[ $reloads -ge 100 ]"
expect "count in = count out: every event scored and written once" \
	bash -c "[ $rc = 0 ] && [ \$(grep -c '\"event_type\":\"flow\"' $work/r/eve.json) = $in ]"
expect "count in = count out: every event reached exactly one version of the script" \
	bash -c "[ \$(wc -l <$work/r/analyzers.json) = $in ] && [ \"\$(tail -n 1 $work/r/eve.json | jq -c '[.stats.darter.analyzers.reloads, .stats.darter.analyzers.reload_errors]')\" = \"[$reloads,0]\" ]"
exit $((fails > 0))
