#!/bin/bash
# Live EVE inputs: darter -c with no capture port, as Suricata's EVE
# analytics engine. Suricata-style writers (unix_stream: several
# connections, lines cut across writes, one writer dying mid-line;
# unix_dgram: one event per datagram) and a followed eve.json (appends,
# rotation by rename + create, copytruncate). Every flow event comes out
# exactly once; lines in = lines parsed + counted drops; SIGTERM drains
# what the writers sent; a slow output sink pauses the input instead of
# dropping. Usage: test_live_inputs.sh DARTER_BIN SOURCE_ROOT   (prints TAP)
set -u
darter=$1
src=$2
ctl="/usr/bin/python3 $src/tools/darterctl"
tmpl=$src/tests/data/eve/suricata7.json
work=$(mktemp -d)
pid=
pids=()
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
[ -n "${KEEP:-}" ] || trap cleanup EXIT
. "$src/tests/e2e/tap.sh"

# Writers, as Suricata's EVE outputs write.
cat >"$work/w.py" <<'PY'
import json, random, socket, sys, time

def gen(out, n, base, bad):
    """n events from the Suricata 7 templates, flow_id base..base+n-1 (unique);
    bad malformed lines mixed in. The flow events' ids go to out.ids."""
    tmpl = [json.loads(l) for l in open(sys.argv[2 + 4]) if l.strip()]
    rnd = random.Random(base)
    with open(out, "w") as f, open(out + ".ids", "w") as ids:
        for i in range(n):
            ev = dict(tmpl[i % len(tmpl)])
            ev["flow_id"] = base + i
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
            if ev["event_type"] == "flow":
                ids.write("%d\n" % (base + i))
            if bad and rnd.random() < bad / n:
                f.write(rnd.choice(['{"event_type":"flow","flow_id":null}',
                                    '{"event_type":"flo', 'binary \x01\x02 junk', '[1,2]']) + "\n")

def stream(path, data, seed, cut):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    rnd = random.Random(seed)
    i = 0
    while i < len(data):  # lines cut across writes, as a busy writer's
        k = rnd.randint(1, 3000)
        s.sendall(data[i:i + k])
        i += k
    if cut:
        s.sendall(b'{"timestamp":"2023-05-12T10:15:02.123456+0000","event_type":"fl')
    s.close()

cmd = sys.argv[1]
if cmd == "gen":
    gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
elif cmd == "stream":  # path file seed cut
    stream(sys.argv[2], open(sys.argv[3], "rb").read(), int(sys.argv[4]), sys.argv[5] == "1")
elif cmd == "dgram":  # path file: one event per datagram, blocking as Suricata's
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for line in open(sys.argv[3], "rb"):
        s.sendto(line, sys.argv[2])
elif cmd == "append":  # file src: appended in bursts, as Suricata writes
    out = open(sys.argv[2], "ab", buffering=0)
    data = open(sys.argv[3], "rb").read()
    rnd = random.Random(len(data))
    i = 0
    while i < len(data):
        k = rnd.randint(1000, 200000)
        out.write(data[i:i + k])
        i += k
        time.sleep(0.01)
PY
w() { /usr/bin/python3 "$work/w.py" "$@" "$tmpl"; }
gen() { w gen "$work/$1" "$2" "$3" "$4"; }

sock=$work/run/ctl.sock
c() { $ctl -s "$sock" "$@"; }
counter() { c dump-counters 2>/dev/null | jq -r "$1" 2>/dev/null; }
# wait (10 s at most) until counter $1 equals $2
wait_counter() {
	for _ in $(seq 100); do
		[ "$(counter "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
final() { tail -n 1 "$work/$1/eve.json" | jq -c "$2"; }
export -f final
export work
flow_ids() { jq -r 'select(.event_type == "flow") | .flow_id' "$work/$1/eve.json" | sort; }
start() { # name yaml-extra...
	local name=$1
	shift
	mkdir -p "$work/run"
	{
		echo "control: {socket: $sock}"
		echo "metrics: {enabled: no}"
		printf '%s\n' "$@"
	} >"$work/$name.yaml"
	"$darter" -c "$work/$name.yaml" -l "$work/$name" >"$work/$name.out" 2>&1 &
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

echo "1..16"

# --- stream socket: 3 writers at once, one dying mid-line; bad lines counted
gen s1.json 4000 1000000 20
gen s2.json 4000 2000000 20
gen s3.json 2000 3000000 0
cat "$work"/s[123].json.ids | sort >"$work/s.ids"
bad_s=$(($(cat "$work"/s[123].json | wc -l) - 10000))
start stream "inputs:" "  eve-socket: {enabled: yes, path: $work/eve.sock, type: stream}"
expect "stream: the socket is created 0660 by darter" \
	bash -c "[ \"\$(stat -c %a $work/eve.sock)\" = 660 ]"
w stream "$work/eve.sock" "$work/s1.json" 1 0 &
w1=$!
w stream "$work/eve.sock" "$work/s2.json" 2 0 &
w2=$!
w stream "$work/eve.sock" "$work/s3.json" 3 1 &
wait $w1 $w2 $!
wait_counter .darter.eve_input.socket.disconnects 3
wait_counter .darter.eve_input.lines $((10000 + bad_s))
expect "stream: dump-counters shows every line and the 3 clients" \
	bash -c "[ \"\$($ctl -s $sock dump-counters | jq -c '[.darter.eve_input.socket.lines, .darter.eve_input.socket.clients]')\" = '[$((10000 + bad_s)),3]' ]"
stop
rc=$?
expect "stream: SIGTERM: exit 0, socket file removed" bash -c "[ $rc = 0 ] && [ ! -e $work/eve.sock ]"
expect "stream: every flow event out exactly once" diff "$work/s.ids" <(flow_ids stream)
expect "stream: malformed lines counted as refused, the cut line as partial" \
	bash -c "[ \"\$(tail -n 1 $work/stream/eve.json | jq -c '[.stats.darter.eve_input.refused, .stats.darter.eve_input.socket.partial, .stats.darter.eve_input.others]')\" = '[$bad_s,1,4000]' ]"

# --- dgram socket, SIGTERM at once after the writer: what was sent is drained
gen d.json 6000 4000000 10
bad_d=$(($(wc -l <"$work/d.json") - 6000))
start dgram "inputs:" "  eve-socket: {enabled: yes, path: $work/eve.sock, type: dgram}"
w dgram "$work/eve.sock" "$work/d.json"
stop
rc=$?
expect "dgram: SIGTERM right after the writer: exit 0" [ $rc = 0 ]
expect "dgram: lines in = lines parsed + counted drops" \
	bash -c "[ \"\$(final dgram '.stats.darter.eve_input | .lines + .socket.dropped + .socket.too_long')\" = $((6000 + bad_d)) ]"
expect "dgram: every flow event out exactly once, bad ones refused" \
	bash -c "diff $work/d.json.ids <(jq -r 'select(.event_type == \"flow\") | .flow_id' $work/dgram/eve.json | sort) && [ \"\$(final dgram .stats.darter.eve_input.refused)\" = $bad_d ]"

# --- followed file: appends, rename + create, copytruncate
gen f1.json 20000 5000000 0
gen f2.json 5000 6000000 0
gen f3.json 3000 7000000 0
gen f4.json 1000 8000000 0
gen f5.json 3000 8500000 0
cat "$work"/f[12345].json.ids | sort >"$work/f.ids"
echo '{"event_type":"flow","note":"before darter: skipped (from-end)"}' >"$work/in.json"
start file "inputs:" "  eve-file: {enabled: yes, filename: $work/in.json, from-end: yes}"
sleep 0.5
w append "$work/in.json" "$work/f1.json"
wait_counter .darter.eve_input.file.lines 20000
mv "$work/in.json" "$work/in.json.1" # logrotate's create
w append "$work/in.json" "$work/f2.json"
wait_counter .darter.eve_input.file.lines 25000
expect "file: appends and a rename + create read whole" \
	bash -c "[ \"\$($ctl -s $sock dump-counters | jq -c '[.darter.eve_input.file.lines, .darter.eve_input.file.rotations]')\" = '[25000,1]' ]"
cp "$work/in.json" "$work/in.json.2" # logrotate's copytruncate
: >"$work/in.json"
sleep 0.5
w append "$work/in.json" "$work/f3.json"
wait_counter .darter.eve_input.file.lines 28000
cat "$work/f4.json" >>"$work/in.json"
wait_counter .darter.eve_input.file.lines 29000
cat "$work/f5.json" >>"$work/in.json" # and SIGTERM at once, before the next poll
stop
rc=$?
expect "file: SIGTERM: exit 0" [ $rc = 0 ]
expect "file: every flow event out exactly once over rotate and copytruncate" \
	diff "$work/f.ids" <(flow_ids file)
expect "file: SIGTERM right after an append: the file read to its end first" \
	bash -c "[ \"\$(final file '[.stats.darter.eve_input.file.lines, .stats.darter.eve_input.file.unread]')\" = '[32000,0]' ]"
expect "file: one truncation seen, nothing refused or dropped" \
	bash -c "[ \"\$(final file '[.stats.darter.eve_input.file.truncations, .stats.darter.eve_input.refused, .stats.darter.eve_input.file.dropped]')\" = '[1,0,0]' ]"

# --- backpressure: a unix-socket output that reads slowly; the input waits
cat >"$work/slow.py" <<'PY'
import socket, sys, time
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1]); srv.listen(1)
open(sys.argv[1] + ".ready", "w").close()
conn, _ = srv.accept()
time.sleep(2)  # darter's sink fills; its inputs must pause, not drop
n = 0
buf = b""
with open(sys.argv[2], "wb") as out:
    while True:
        d = conn.recv(65536)
        if not d:
            break
        out.write(d)
        time.sleep(0.001)
PY
/usr/bin/python3 "$work/slow.py" "$work/out.sock" "$work/slow.recv" &
pids+=($!)
for _ in $(seq 50); do [ -e "$work/out.sock.ready" ] && break; sleep 0.1; done
gen b.json 10000 9000000 0
start slow "inputs:" "  eve-socket: {enabled: yes, path: $work/eve.sock, type: stream}" \
	"outputs:" "  unix-socket: {enabled: yes, path: $work/out.sock, type: stream, events: [flow]}"
w stream "$work/eve.sock" "$work/b.json" 9 0
wait_counter .darter.eve_input.lines 10000
stop
rc=$?
wait "${pids[0]}"
expect "backpressure: SIGTERM exit 0; the input paused at least once" \
	bash -c "[ $rc = 0 ] && [ \"\$(final slow '.stats.darter.eve_input.paused > 0')\" = true ]"
expect "backpressure: the slow reader got every flow event, none dropped" \
	bash -c "diff $work/b.json.ids <(jq -r .flow_id $work/slow.recv | sort) && [ \"\$(final slow .stats.darter.outputs.unix_socket.dropped)\" = 0 ]"

# --- no input and no port: a clear error
printf 'control: {enabled: no}\nmetrics: {enabled: no}\n' >"$work/none.yaml"
"$darter" -c "$work/none.yaml" -l "$work/none" >"$work/none.out" 2>&1
rc=$?
expect "no port and no input: exit 1 with a clear error" \
	bash -c "[ $rc = 1 ] && grep -q 'nothing to capture' $work/none.out"

exit $((fails > 0))
