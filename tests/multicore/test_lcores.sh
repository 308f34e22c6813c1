#!/bin/bash
# Records must not depend on the number of capture lcores: replay every
# capture of a directory through darter with one capture lcore
# (capture.cpus=0) and with two (capture.cpus=0,1, net_pcap spread in
# software), and compare the two eve.json files with compare_eve.py
# (records sorted, darter.lcore and the order-dependent darter.mad removed;
# packet counters of the stats event equal). A last test checks that the
# two-lcore runs did put records on both lcores, so the spread was real.
#
# Usage: test_lcores.sh DARTER_BIN PCAP_DIR WORKDIR   (prints TAP)
# DARTER_TIMEOUT (seconds, default 120) bounds each replay.
set -u
export LC_ALL=C

if [ $# -ne 3 ]; then
	echo "usage: test_lcores.sh DARTER_BIN PCAP_DIR WORKDIR" >&2
	exit 2
fi
darter=$1
pcap_dir=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
timeout_s=${DARTER_TIMEOUT:-120}

if [ ! -x "$darter" ]; then
	echo "Bail out! darter binary not found or not executable: $darter"
	exit 2
fi
if ! mkdir -p "$work"; then
	echo "Bail out! cannot create $work"
	exit 2
fi
shopt -s nullglob
pcaps=()
for f in "$pcap_dir"/*.pcap "$pcap_dir"/*.pcapng "$pcap_dir"/*.cap; do
	[ -f "$f" ] && pcaps+=("$f")
done
if [ ${#pcaps[@]} -eq 0 ]; then
	echo "1..0 # SKIP no capture in $pcap_dir"
	exit 0
fi
mapfile -t pcaps < <(printf '%s\n' "${pcaps[@]}" | sort)

# replay FILE OUTDIR CPUS: darter's exit status (124: timed out)
replay() {
	rm -rf "$2"
	mkdir -p "$2"
	timeout -k 5 "$timeout_s" "$darter" -r "$1" -l "$2" --set "capture.cpus=$3" \
		>"$2.stdout" 2>"$2.stderr"
}

echo "1..$((${#pcaps[@]} + 1))"
n=0
failed=0
lcores_seen=$work/lcores-seen
: >"$lcores_seen"
for f in "${pcaps[@]}"; do
	n=$((n + 1))
	name=$(basename "$f")
	one=$work/$name.1
	two=$work/$name.2
	replay "$f" "$one" 0
	rc1=$?
	replay "$f" "$two" 0,1
	rc2=$?
	if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ]; then
		failed=$((failed + 1))
		echo "not ok $n - $name # darter exited $rc1 (1 lcore), $rc2 (2 lcores)"
		tail -n 5 "$one.stderr" "$two.stderr" | sed 's/^/# /'
		continue
	fi
	"$python" "$here/compare_eve.py" "$one/eve.json" "$two/eve.json" >"$two.compare" 2>&1
	rc=$?
	summary=$(head -n 1 "$two.compare")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: ${summary#compare_eve: }"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name # records differ with 2 capture lcores"
		head -n 12 "$two.compare" | sed 's/^/# /'
	fi
	jq -r 'select(.event_type == "flow") | .darter.lcore' "$two/eve.json" >>"$lcores_seen" 2>/dev/null
done

n=$((n + 1))
distinct=$(sort -u "$lcores_seen" | tr '\n' ' ')
if [ "$(sort -u "$lcores_seen" | wc -l)" -ge 2 ]; then
	echo "ok $n - two-lcore runs assembled flows on lcores: $distinct"
else
	failed=$((failed + 1))
	echo "not ok $n - two-lcore runs assembled flows on lcores: ${distinct:-none} (want 2)"
fi
echo "# lcores: $((n - failed)) ok, $failed failed"
[ $failed -eq 0 ]
