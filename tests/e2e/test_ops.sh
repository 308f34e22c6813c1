#!/bin/bash
# Running darter live, as an operator: every control socket command through
# tools/darterctl, the Prometheus endpoint scraped over HTTP, periodic stats
# events, SIGHUP/reopen, SIGUSR2, and shutdown draining like SIGTERM.
# Usage: test_ops.sh DARTER_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
src=$2
ctl="/usr/bin/python3 $src/tools/darterctl"
pcap=$src/tests/data/pcap/http_ipv6.pcap
work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
. "$src/tests/e2e/tap.sh"
sock=$work/run/darter.sock
c() { $ctl -s "$sock" "$@"; }
scrape() { /usr/bin/python3 -c 'import sys, urllib.request
try:
    r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=5)
    print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)' "$@"; }

echo "1..17"
"$darter" -r "$pcap" -l "$work/offline" >/dev/null 2>&1
want_pkts=$(tail -n 1 "$work/offline/eve.json" | jq .stats.decoder.pkts)

cat >"$work/live.yaml" <<YAML
capture:
  ports: ["net_pcap0,rx_pcap=$pcap"]
outputs:
  eve:
    stats-interval: 1
control:
  socket: $sock
metrics:
  port: 0
YAML
"$darter" -c "$work/live.yaml" -l "$work/live" >"$work/live.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && grep -q 'metrics on' "$work/live.out" && break; sleep 0.1; done
port=$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics.*/\1/p' "$work/live.out")
# the file is read in well under a second; wait until every packet is counted
for _ in $(seq 100); do
	[ "$(c dump-counters 2>/dev/null | jq -r '.decoder.pkts' 2>/dev/null)" = "$want_pkts" ] && break
	sleep 0.1
done

expect "control socket: created 0660 in a directory darter made" \
	bash -c "[ \"\$(stat -c %a $sock)\" = 660 ]"
expect "version names darter's version" bash -c "$ctl -s $sock version | grep -q \"\$($darter --version | cut -d' ' -f2)\""
expect "uptime is a number of seconds" bash -c "$ctl -s $sock uptime | grep -Eq '^[0-9]+$'"
expect "dump-counters: decoder.pkts equals the offline replay's" \
	bash -c "[ \"\$($ctl -s $sock dump-counters | jq .decoder.pkts)\" = $want_pkts ]"
expect "iface-stat: the DPDK port's counters" \
	bash -c "$ctl -s $sock iface-stat | jq -e '.capture.packets == $want_pkts and (.capture.imissed | type) == \"number\"'"
expect "flow-table: size, memory and evictions" \
	bash -c "$ctl -s $sock flow-table | jq -e '(.flow.memuse > 0) and (.flow.active | type) == \"number\" and (.darter.flow.evicted | type) == \"number\"'"
expect "conf-get capture.burst: 32; an unknown key: NOK (exit 1)" \
	bash -c "[ \"\$($ctl -s $sock conf-get capture.burst)\" = 32 ] && ! $ctl -s $sock conf-get no.such.key"
expect "reload-analyzers: NOK while none are configured" bash -c "! $ctl -s $sock reload-analyzers"
expect "Prometheus: /metrics counts the same packets" \
	bash -c "scrape() { $(declare -f scrape | tail -n +2); }; out=\$(scrape $port /metrics); [ \"\$(head -n 1 <<<\"\$out\")\" = 200 ] && grep -qx 'darter_decoder_pkts $want_pkts' <<<\"\$out\" && grep -q '^# TYPE darter_decoder_pkts counter' <<<\"\$out\""
expect "Prometheus: nothing but /metrics (404 for /../etc/passwd and /)" \
	bash -c "scrape() { $(declare -f scrape | tail -n +2); }; [ \"\$(scrape $port /../etc/passwd | head -n 1)\" = 404 ] && [ \"\$(scrape $port / | head -n 1)\" = 404 ]"
sleep 1.5
expect "periodic stats events while running (stats-interval 1)" \
	bash -c "[ \$(grep -c '\"event_type\":\"stats\"' $work/live/eve.json) -ge 1 ]"
mv "$work/live/eve.json" "$work/live/eve.json.1"
c reopen-log-files >/dev/null
sleep 1.5
expect "reopen-log-files: a new eve.json after rotation" test -s "$work/live/eve.json"
mv "$work/live/eve.json" "$work/live/eve.json.2"
kill -HUP "$pid"
sleep 2.5
expect "SIGHUP: the periodic stats follow into the new eve.json" \
	bash -c "[ \$(grep -c '\"event_type\":\"stats\"' $work/live/eve.json) -ge 1 ]"
kill -USR2 "$pid"
sleep 0.3
expect "SIGUSR2 does not kill darter" kill -0 "$pid"
c shutdown >"$work/shutdown.out" 2>&1
rc_ctl=$?
wait "$pid"
rc=$?
pid=
expect "shutdown: OK, darter exits 0" bash -c "[ $rc_ctl = 0 ] && [ $rc = 0 ]"
flows() { cat "$@" | jq -c 'select(.event_type == "flow") | [.src_ip, .src_port, .dest_ip, .dest_port, .proto, .flow.pkts_toserver, .flow.pkts_toclient, .flow.bytes_toserver, .flow.bytes_toclient]' | sort; }
expect "shutdown drains: the same flows as the offline replay" \
	diff <(flows "$work/live/eve.json.1" "$work/live/eve.json.2" "$work/live/eve.json") <(flows "$work/offline/eve.json")
expect "the socket file is removed at exit" test ! -e "$sock"
exit $((fails > 0))
