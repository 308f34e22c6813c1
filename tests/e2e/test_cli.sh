#!/bin/bash
# Command-line behaviour of the real binary: version, help, config check,
# refusal of bad inputs with clear messages, a replay's outputs.
# Usage: test_cli.sh DARTER_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
src=$2
pcaps=$src/tests/data/pcap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$src/tests/e2e/tap.sh"
# check NAME EXPECTED_RC GREP_PATTERN -- CMD...: run, compare exit code and output
check() {
	local name=$1 want=$2 pat=$3
	shift 4
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && { [ -z "$pat" ] || grep -qE -- "$pat" <<<"$out"; }; then
		ok "$name"
	else
		notok "$name" "exit $rc (want $want), output:" "$(head -c 600 <<<"$out")"
	fi
}

echo "1..18"
check "--version" 0 '^darter [0-9]+\.[0-9]+' -- "$darter" --version
check "--help" 0 'darter -r FILE' -- "$darter" --help
check "-T on the default config" 0 'valid' -- "$darter" -T -c "$src/conf/darter.yaml"

printf 'flow:\n  max-flow: 10\n' >"$work/unknown.yaml"
check "-T names an unknown key and its line" 1 'unknown.yaml:2: flow.max-flow' -- "$darter" -T -c "$work/unknown.yaml"
printf 'capture:\n  burst: lots\n' >"$work/type.yaml"
check "-T names a wrong type and its line" 1 'type.yaml:2: capture.burst' -- "$darter" -T -c "$work/type.yaml"
check "--set is checked like the file" 1 'capture.burst' -- "$darter" -T --set capture.burst=0

check "-r on a missing file is refused" 1 'nonexistent.pcap' -- "$darter" -r "$work/nonexistent.pcap" -l "$work/o1"
echo "not a capture" >"$work/text.pcap"
check "-r on a non-capture is refused" 1 'cannot read capture' -- "$darter" -r "$work/text.pcap" -l "$work/o2"
# A valid pcap of link type 147 (DLT_USER0): nothing darter can decode.
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x93\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00abcd' >"$work/user0.pcap"
check "-r on an unsupported link type is refused" 1 'link type .*147.* not supported' -- "$darter" -r "$work/user0.pcap" -l "$work/o3"
check "nothing to capture" 1 'nothing to capture' -- "$darter" -l "$work/o4"
check "-e on a missing file: a clear error" 1 "x.json: No such file" -- "$darter" -e "$work/x.json" -l "$work/o5"

# A real replay: records, a final stats event, a summary naming the file.
check "-r replays a capture" 0 'records written to .*/eve.json' -- "$darter" -r "$pcaps/dns.pcap" -l "$work/dns"
flows=$(grep -c '"event_type":"flow"' "$work/dns/eve.json" 2>/dev/null || echo 0)
last=$(tail -n 1 "$work/dns/eve.json" 2>/dev/null)
if [ "$flows" -gt 0 ] && grep -q '"event_type":"stats"' <<<"$last"; then
	ok "replay wrote $flows flow records and a final stats event"
else
	notok "replay output" "flows=$flows last line: ${last:0:300}"
fi

# Non-Ethernet link types are decoded, not misparsed.
check "PPP capture is handled" 0 'records written' -- "$darter" -r "$pcaps/dlt_ppp.pcap" -l "$work/ppp"
check "BSD loopback capture is handled" 0 'records written' -- "$darter" -r "$pcaps/rdp.pcap" -l "$work/null"

# Same input, same records (apart from order): time is packet time.
"$darter" -r "$pcaps/dns.pcap" -l "$work/dns2" >/dev/null 2>&1
if diff <(grep '"event_type":"flow"' "$work/dns/eve.json" | sort) \
	<(grep '"event_type":"flow"' "$work/dns2/eve.json" | sort) >/dev/null; then
	ok "a second replay writes identical records"
else
	notok "a second replay writes identical records"
fi
# Live mode: a configured port (net_pcap on a file stands in for a NIC),
# stopped by SIGTERM: every flow is drained, none lost, same totals as offline.
cat >"$work/live.yaml" <<YAML
capture:
  ports: ["net_pcap0,rx_pcap=$pcaps/http_ipv6.pcap"]
control:
  enabled: no # tests run in parallel: no shared socket path or port
metrics:
  enabled: no
YAML
"$darter" -c "$work/live.yaml" -l "$work/live" >"$work/live.out" 2>&1 &
pid=$!
sleep 2
kill -TERM "$pid"
wait "$pid"
rc=$?
totals() { grep '"event_type":"flow"' "$1" | jq -c '[.src_ip,.src_port,.dest_ip,.dest_port,.proto,.flow.pkts_toserver,.flow.pkts_toclient,.flow.bytes_toserver,.flow.bytes_toclient]' | sort; }
"$darter" -r "$pcaps/http_ipv6.pcap" -l "$work/offline" >/dev/null 2>&1
if [ "$rc" = 0 ] && [ -s "$work/live/eve.json" ] && diff <(totals "$work/live/eve.json") <(totals "$work/offline/eve.json") >/dev/null; then
	ok "live mode drains on SIGTERM: same flows as offline"
else
	notok "live mode drains on SIGTERM" "exit $rc" "$(tail -n 3 "$work/live.out")"
fi
if tail -n 1 "$work/live/eve.json" | grep -q '"event_type":"stats"'; then
	ok "live mode writes the final stats event"
else
	notok "live mode writes the final stats event"
fi
exit $((fails > 0))
