#!/bin/bash
# test_gen.sh: darter-gen (tools/gen) writes what it is asked for, TAP output.
#
# usage: test_gen.sh DARTER-GEN [WORKDIR]
#
# pcap mode: the file is valid (capinfos reads it, tshark finds no malformed
# packet and no bad IPv4/TCP/UDP checksum); it holds exactly the requested
# flows and packets per flow; the size mix is within tolerance; --concurrent
# bounds the flows open at once; the flows listed in OUT.outliers are the
# ones with the largest byte totals as tshark counts them (not as the
# generator says); a fixed seed gives the same bytes; bad arguments exit 2
# with a message naming the option. send mode: replaying into
# net_pcap0,tx_pcap=OUT writes every packet (skipped, not failed, when EAL
# cannot start here: darter-gen exits 3).
set -u
GEN=${1:?usage: test_gen.sh DARTER-GEN [WORKDIR]}
HERE=$(cd "$(dirname "$0")" && pwd)
T=${2:-$(mktemp -d /tmp/test_gen.XXXXXX)}
mkdir -p "$T"
[ -n "${2:-}" ] || trap 'rm -rf "$T"' EXIT

n=0
fails=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && echo "$2" | sed 's/^/# /'
}
check() { # check DESC CMD...: ok when CMD succeeds
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$out"; fi
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

for tool in capinfos tshark python3; do
	if ! command -v $tool > /dev/null; then
		echo "1..0 # SKIP $tool not installed (apt-get install tshark)"
		exit 0
	fi
done

# flowstat FILE: per-flow totals (JSON) of FILE as tshark decodes it.
flowstat() {
	tshark -r "$1" -T fields -E separator=/t -e frame.time_epoch -e frame.len \
		-e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport \
		-e udp.srcport -e udp.dstport 2> /dev/null | python3 "$HERE/flowstat.py"
}

# ------------------------------------------------------------- a file with everything
FLOWS=300 K=12 M=6
A=$T/a.pcap
out=$("$GEN" pcap "$A" --flows $FLOWS --pkts-per-flow $K --size imix --proto mix \
	--outliers $M --outlier-factor 8 --ipv6-share 0.3 --seed 11 2>&1)
check "pcap: exit 0 and a report" test -s "$A" -a -s "$A.outliers"

capinfos_pkts() { capinfos -M -c "$1" 2> /dev/null | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}'; }
check "pcap: capinfos reads it as Ethernet pcap" \
	bash -c "capinfos -t -E '$A' | grep -q 'Wireshark/tcpdump/... - pcap' && capinfos -E '$A' | grep -q Ethernet"

# Payloads are random, so dissectors above TCP/UDP (DNS on 53...) may call
# them malformed: only L2-L4 count. Every IPv4 header and every TCP/UDP
# checksum must verify.
bad=$(tshark -r "$A" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-o udp.check_checksum:TRUE -T fields -E separator=/t -e frame.protocols \
	-e ip.checksum.status -e tcp.checksum.status -e udp.checksum.status 2> /dev/null |
	awk -F'\t' '$1 ~ /:(eth|ethertype|ip|ipv6|tcp|udp):_ws.malformed/ || \
		($1 ~ /:ip:/ && $2 != 1) || ($3 != 1 && $4 != 1)' | wc -l)
if [ "$bad" = 0 ]; then ok "pcap: tshark: every frame is Ethernet/IP/TCP|UDP, checksums valid"; else
	not_ok "pcap: tshark: every frame is Ethernet/IP/TCP|UDP, checksums valid" "$bad bad frames"; fi

flowstat "$A" > "$T/a.json"
python3 - "$T/a.json" "$A.outliers" "$FLOWS" "$K" "$M" "$(capinfos_pkts "$A")" > "$T/a.tap" << 'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
flows, k, m, total = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
lines = [l.split() for l in open(sys.argv[2]) if not l.startswith("#")]
def key(proto, a, ap, b, bp):
    x, y = "%s.%s" % (a, ap), "%s.%s" % (b, bp)
    return "%s %s %s" % (proto, min(x, y), max(x, y))
listed = {key(*l[:5]): (int(l[5]), int(l[6])) for l in lines}
fl = {f["key"]: f for f in st["flows"]}
res = []
res.append((len(fl) == flows, "flows: %d distinct 5-tuples, want %d" % (len(fl), flows)))
res.append((len(listed) == m, "outliers: %d listed, want %d" % (len(listed), m)))
normal = [f for k_, f in fl.items() if k_ not in listed]
res.append((all(f["pkts"] == k for f in normal),
            "packets per flow: every normal flow has %d (seen %s)"
            % (k, sorted({f["pkts"] for f in normal}))))
exp_total = (flows - m) * k + sum(p for p, _ in listed.values())
res.append((total == exp_total, "packets: capinfos %d = normal + outlier packets %d" % (total, exp_total)))
top = sorted(fl.values(), key=lambda f: -f["bytes"])[:m]
res.append(({f["key"] for f in top} == set(listed),
            "outliers: the listed flows are the %d largest by bytes (tshark)" % m))
res.append((all(k_ in fl and fl[k_]["bytes"] == b and fl[k_]["pkts"] == p
                for k_, (p, b) in listed.items()),
            "outliers: listed packets and bytes equal tshark's"))
smallest_out = min((fl[k_]["bytes"] for k_ in listed if k_ in fl), default=0)
largest_norm = max(f["bytes"] for f in normal)
res.append((smallest_out > 2 * largest_norm,
            "outliers: smallest outlier %d B > 2 x largest normal flow %d B" % (smallest_out, largest_norm)))
for i, (good, desc) in enumerate(res):
    print(("ok" if good else "not ok") + " - " + desc)
EOF
while read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	*) not_ok "${line#not ok - }" ;;
	esac
done < "$T/a.tap"

# ------------------------------------------------------------- size mix
# UDP follows the mix packet for packet; TCP as a whole file (its 3 control
# frames per flow are minimum size and the data packets are skewed for them).
mix_check() { # mix_check DESC FILE TOLERANCE SIZE:SHARE...
	local desc=$1 file=$2 tol=$3
	shift 3
	flowstat "$file" > "$T/m.json"
	local r
	r=$(python3 - "$T/m.json" "$tol" "$@" << 'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
tol = float(sys.argv[2])
sizes = {int(k): v for k, v in st["sizes"].items()}
n = sum(sizes.values())
bad = []
for spec in sys.argv[3:]:
    size, share = spec.split(":")
    got = sizes.get(int(size), 0) / n
    if abs(got - float(share)) > tol:
        bad.append("%s B: %.3f, want %.3f" % (size, got, float(share)))
want = {int(s.split(":")[0]) for s in sys.argv[3:]}
other = sum(v for k, v in sizes.items() if k not in want)
if other:
    bad.append("%d frames of other sizes %s" % (other, sorted(set(sizes) - want)))
print("; ".join(bad) if bad else "fine")
EOF
)
	if [ "$r" = fine ]; then ok "$desc"; else not_ok "$desc" "$r"; fi
}
"$GEN" pcap "$T/u.pcap" --flows 500 --pkts-per-flow 20 --size imix --proto udp --seed 5 --quiet
mix_check "size: imix over UDP within 3% (60/566/1514 captured = 7:4:1)" "$T/u.pcap" 0.03 \
	60:0.5833 566:0.3333 1514:0.0833
"$GEN" pcap "$T/t.pcap" --flows 500 --pkts-per-flow 30 --size imix --proto tcp --seed 5 --quiet
mix_check "size: imix over TCP (whole file) within 3%" "$T/t.pcap" 0.03 \
	60:0.5833 566:0.3333 1514:0.0833
"$GEN" pcap "$T/s.pcap" --flows 100 --pkts-per-flow 7 --size 64 --proto mix --seed 5 --quiet
mix_check "size: 64 B wire = 60 B captured, every frame (IPv4)" "$T/s.pcap" 0 60:1
"$GEN" pcap "$T/w.pcap" --flows 100 --pkts-per-flow 10 --size 200:1,1000:3 --proto udp --seed 5 --quiet
mix_check "size: custom mix 200:1,1000:3 within 6%" "$T/w.pcap" 0.06 196:0.25 996:0.75

# ------------------------------------------------------------- concurrency
"$GEN" pcap "$T/c.pcap" --flows 2000 --pkts-per-flow 5 --concurrent 100 --duration 2 \
	--proto udp --seed 9 --quiet
flowstat "$T/c.pcap" > "$T/c.json"
r=$(python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
first = min(f["first"] for f in st["flows"]); last = max(f["last"] for f in st["flows"])
span = last - first
want = 1999 * 2 / 100 + 2  # flow i starts at i x duration / concurrent, lasts just under duration
print("peak %d span %.3f" % (st["peak_open"], span))
sys.exit(0 if st["peak_open"] <= 100 and st["peak_open"] >= 90 and abs(span - want) < 0.01 else 1)
' "$T/c.json")
if [ $? = 0 ]; then ok "concurrency: at most 100 flows open at once, 50 new/s ($r)"; else
	not_ok "concurrency: at most 100 flows open at once, 50 new/s" "$r"; fi

# ------------------------------------------------------------- determinism
"$GEN" pcap "$T/r1.pcap" --flows 300 --pkts-per-flow 12 --size imix --proto mix \
	--outliers 6 --outlier-factor 8 --ipv6-share 0.3 --seed 11 --quiet
check "seed: same arguments, same bytes (pcap and outlier list)" \
	bash -c "cmp '$A' '$T/r1.pcap' && cmp '$A.outliers' '$T/r1.pcap.outliers'"
"$GEN" pcap "$T/r2.pcap" --flows 300 --pkts-per-flow 12 --size imix --proto mix \
	--outliers 6 --outlier-factor 8 --ipv6-share 0.3 --seed 12 --quiet
if cmp -s "$A" "$T/r2.pcap"; then not_ok "seed: another seed, another file"; else
	ok "seed: another seed, another file"; fi

# ------------------------------------------------------------- bad arguments
bad_args() { # bad_args WORD-IN-MESSAGE ARGS...: exit 2 and a message naming the problem
	local word=$1
	shift
	local err rc
	err=$("$GEN" "$@" 2>&1 > /dev/null)
	rc=$?
	if [ $rc = 2 ] && echo "$err" | grep -q -- "$word"; then ok "bad: $* -> exit 2, '$word'"; else
		not_ok "bad: $* -> exit 2, '$word'" "exit $rc: $err"; fi
}
bad_args "flows" pcap "$T/x.pcap" --flows 0 --pkts-per-flow 3
bad_args "flows" pcap "$T/x.pcap" --flows abc --pkts-per-flow 3
bad_args "pkts-per-flow" pcap "$T/x.pcap" --flows 10
bad_args "size" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --size 63
bad_args "size" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --size 64:0
bad_args "proto" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --proto sctp
bad_args "outliers" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --outliers 6
bad_args "outlier-factor" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --outlier-factor 1
bad_args "ipv6-share" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --ipv6-share 1.5
bad_args "seed" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --seed -1
bad_args "one output file" pcap "$T/x.pcap" "$T/y.pcap" --flows 10 --pkts-per-flow 3
bad_args "unrecognized" pcap "$T/x.pcap" --flows 10 --pkts-per-flow 3 --bogus
bad_args "usage" frobnicate
bad_args "vdev" send --file "$A"
bad_args "rate" send --vdev net_null0 --file "$A" --rate -5
check "bad: nothing written on a usage error" test ! -e "$T/x.pcap"
err=$("$GEN" pcap /nonexistent-dir/x.pcap --flows 10 --pkts-per-flow 3 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$err" | grep -q "No such file"; then ok "bad: unwritable output -> exit 1, errno text"; else
	not_ok "bad: unwritable output -> exit 1, errno text" "exit $rc: $err"; fi
check "help: --help exits 0 and points at the README" bash -c "'$GEN' --help | grep -q tools/gen/README.md"

# ------------------------------------------------------------- split
# Every frame in exactly one part, the parts together the flows of the
# whole, each flow (both directions) in one part only, and both parts used.
out=$("$GEN" split "$A" 2 "$T/part" 2>&1)
parts=$(($(capinfos_pkts "$T/part.0.pcap") + $(capinfos_pkts "$T/part.1.pcap")))
check "split: exit 0, the $(capinfos_pkts "$A") frames of the input in the 2 parts" \
	test "$parts" = "$(capinfos_pkts "$A")"
flowstat "$T/part.0.pcap" >"$T/part.0.json"
flowstat "$T/part.1.pcap" >"$T/part.1.json"
flowstat "$A" >"$T/whole.json"
check "split: each flow, both directions, whole in one part; both parts hold flows" python3 -c '
import json, sys
parts = [{f["key"]: f for f in json.load(open(p))["flows"]} for p in sys.argv[1:3]]
whole = {f["key"]: f for f in json.load(open(sys.argv[3]))["flows"]}
assert not (parts[0].keys() & parts[1].keys()), "a flow in both parts"
merged = {**parts[0], **parts[1]}
assert merged.keys() == whole.keys(), "flows differ from the input"
assert all(merged[k]["pkts"] == whole[k]["pkts"] for k in whole), "a flow lost packets"
assert min(len(p) for p in parts) > len(whole) // 4, "one part nearly empty"
' "$T/part.0.json" "$T/part.1.json" "$T/whole.json"
bad_args "N must be" split "$A" 0 "$T/bad"

# ------------------------------------------------------------- send
S=$T/sent.pcap
out=$("$GEN" send --vdev "net_pcap0,tx_pcap=$S" --file "$T/s.pcap" --loops 3 --lossless 2>&1)
rc=$?
if [ $rc = 3 ]; then
	skip "send: net_pcap tx_pcap gets every packet" "EAL cannot start here: $out"
elif [ $rc != 0 ]; then
	not_ok "send: net_pcap tx_pcap gets every packet" "exit $rc: $out"
else
	want=$(($(capinfos_pkts "$T/s.pcap") * 3))
	got=$(capinfos_pkts "$S")
	if [ "$got" = "$want" ] && echo "$out" | grep -q "sent $want frames"; then
		ok "send: net_pcap tx_pcap gets every packet ($got = 3 x 700, as reported)"
	else
		not_ok "send: net_pcap tx_pcap gets every packet" "tx_pcap $got, want $want: $out"
	fi
	# One loop sends the file's bytes unchanged, in order.
	"$GEN" send --vdev "net_pcap0,tx_pcap=$T/one.pcap" --file "$T/s.pcap" --lossless --quiet > /dev/null 2>&1
	a=$(tshark -r "$T/s.pcap" -T fields -e frame.len -e data.data -e ip.id -e tcp.seq_raw -e udp.checksum 2> /dev/null | md5sum)
	b=$(tshark -r "$T/one.pcap" -T fields -e frame.len -e data.data -e ip.id -e tcp.seq_raw -e udp.checksum 2> /dev/null | md5sum)
	if [ "$a" = "$b" ]; then ok "send: one loop writes the same frames in the same order"; else
		not_ok "send: one loop writes the same frames in the same order"; fi
fi

echo "1..$n"
[ $fails = 0 ]
