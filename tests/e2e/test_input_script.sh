#!/bin/bash
# Lua input scripts in the real binary: Zeek conn.log JSON through
# analyzers/inputs/zeek_conn.lua becomes EVE flow records (darter -e, and
# live from a Unix socket), each connection once, with Zeek's 5-tuple and
# counters; a garbage line, a script that fails and one that spins are
# counted, never fatal; a missing or wrong script is a clear start error.
# Usage: test_input_script.sh DARTER_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
src=$2
zeek=$src/tests/data/zeek/conn.json
script=$src/analyzers/inputs/zeek_conn.lua
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$src/tests/e2e/tap.sh"
final() { tail -n 1 "$work/$1/eve.json" | jq -c "$2"; }
export -f final
export work
# "src sport dst dport PROTO pkts bytes" per connection, sorted: of Zeek's
# conn.json (garbage skipped) or of an eve.json's flow records; addresses
# in one form (EVE writes IPv6 in full), ICMP by type and code
tuples() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import ipaddress, json, sys
kind, path = sys.argv[1:3]
out = []
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if kind == "zeek":
        if "uid" not in e:
            continue
        t = [e["id.orig_h"], e["id.orig_p"], e["id.resp_h"], e["id.resp_p"], e["proto"].upper(),
             e.get("orig_pkts", 0) + e.get("resp_pkts", 0),
             e.get("orig_ip_bytes", e.get("orig_bytes", 0)) + e.get("resp_ip_bytes", e.get("resp_bytes", 0))]
    else:
        if e.get("event_type") != "flow":
            continue
        f = e["flow"]
        icmp = e["proto"] in ("ICMP", "IPv6-ICMP")
        t = [e["src_ip"], e["icmp_type"] if icmp else e["src_port"], e["dest_ip"],
             e["icmp_code"] if icmp else e["dest_port"], "ICMP" if icmp else e["proto"],
             f["pkts_toserver"] + f["pkts_toclient"], f["bytes_toserver"] + f["bytes_toclient"]]
    t[0], t[2] = str(ipaddress.ip_address(t[0])), str(ipaddress.ip_address(t[2]))
    out.append(" ".join(map(str, t)))
print("\n".join(sorted(out)))
PY
}
export -f tuples
conns=$(grep -c '"uid"' "$zeek")

echo "1..10"

"$darter" -e "$zeek" -l "$work/e" --set inputs.script.enabled=yes \
	--set "inputs.script.filename=$script" >"$work/e.out" 2>&1
rc=$?
expect "-e: Zeek conn.log through zeek_conn.lua: exit 0, $conns flow records" \
	bash -c "[ $rc = 0 ] && [ \$(grep -c '\"event_type\":\"flow\"' $work/e/eve.json) = $conns ]"
expect "-e: the comparison sees every connection" [ "$(tuples zeek "$zeek" | wc -l)" = "$conns" ]
expect "-e: each record has its Zeek connection's 5-tuple, packets and bytes" \
	diff <(tuples zeek "$zeek") <(tuples eve "$work/e/eve.json")
expect "-e: stats: every line through the script, the garbage line counted as an error" \
	bash -c "[ \"\$(final e '.stats.darter.eve_input | [.file.lines, .script.lines, .script.events, .script.errors, .flows, .refused]')\" = '[$((conns + 1)),$((conns + 1)),$conns,1,$conns,0]' ]"

# a script that fails on every other line, and one that spins: counted, not fatal
cat >"$work/half.lua" <<'LUA'
local n = 0
function on_input(line)
	n = n + 1
	if n % 2 == 0 then error("every other line") end
	darter.input(line) -- already EVE
end
LUA
cat >"$work/spin.lua" <<'LUA'
function on_input(line) while true do end end
LUA
for _ in 1 2 3 4; do cat "$src/tests/data/eve/suricata7.json"; done >"$work/eve20.json" # 20 lines
"$darter" -e "$work/eve20.json" -l "$work/h" --set inputs.script.enabled=yes \
	--set "inputs.script.filename=$work/half.lua" >"$work/h.out" 2>&1
rc=$?
expect "a script failing on half the lines: exit 0, the other half parsed" \
	bash -c "[ $rc = 0 ] && [ \"\$(final h '.stats.darter.eve_input | [.script.lines, .script.events, .script.errors, .lines]')\" = '[20,10,10,10]' ]"
timeout 60 "$darter" -e "$work/eve20.json" -l "$work/s" --set inputs.script.enabled=yes \
	--set "inputs.script.filename=$work/spin.lua" --set analyzers.cpu-ms=20 >"$work/s.out" 2>&1
rc=$?
expect "a script that never returns: stopped by the CPU limit on each line, exit 0" \
	bash -c "[ $rc = 0 ] && [ \"\$(final s '.stats.darter.eve_input.script | [.lines, .timeouts, .events]')\" = '[20,20,0]' ]"

printf 'function on_flow(rec) end\n' >"$work/noinput.lua"
"$darter" -e "$zeek" -l "$work/n" --set inputs.script.enabled=yes \
	--set "inputs.script.filename=$work/noinput.lua" >"$work/n.out" 2>&1
rc=$?
expect "a script without on_input: exit 1, says so" \
	bash -c "[ $rc = 1 ] && grep -q 'defines no on_input' $work/n.out"
"$darter" -e "$zeek" -l "$work/m" --set inputs.script.enabled=yes \
	--set "inputs.script.filename=$work/missing.lua" >"$work/m.out" 2>&1
rc=$?
expect "a missing script: exit 1, names the file" \
	bash -c "[ $rc = 1 ] && grep -q 'missing.lua' $work/m.out"

# live: Zeek lines on the EVE socket, through the script
sock=$work/run/ctl.sock
mkdir -p "$work/run"
cat >"$work/live.yaml" <<YAML
control: {socket: $sock}
metrics: {enabled: no}
inputs:
  eve-socket: {enabled: yes, path: $work/in.sock, type: stream}
  script: {enabled: yes, filename: $script}
YAML
"$darter" -c "$work/live.yaml" -l "$work/l" >"$work/l.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$work/in.sock" ] && break; sleep 0.1; done
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(open(sys.argv[2], "rb").read())
s.close()' "$work/in.sock" "$zeek"
sleep 0.5
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
expect "live: Zeek lines on the EVE socket: SIGTERM exit 0, every connection once" \
	bash -c "[ $rc = 0 ] && diff <(tuples zeek $zeek) <(tuples eve $work/l/eve.json)"
expect "live: stats count the lines and the garbage one" \
	bash -c "[ \"\$(final l '.stats.darter.eve_input.script | [.lines, .events, .errors]')\" = '[$((conns + 1)),$conns,1]' ]"
exit $((fails > 0))
