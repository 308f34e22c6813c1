#!/bin/bash
# Replay every capture of a directory through darter and check each output:
# exit status 0, an eve.json, valid against the schema (when validate_eve.py is
# there), and per-5-tuple packet/byte totals equal to tshark's
# (compare_flows.py, which runs the independent oracle pcap_flows.py).
#
# Usage: run_pcaps.sh DARTER_BIN PCAP_DIR WORKDIR [extra darter args...]
# Prints TAP (one test per *.pcap, *.pcapng, *.cap, sorted), details as "# "
# lines, and a last "# pcaps: N ok, M failed". Exit 1 if any failed, 2 on
# usage errors. DARTER_TIMEOUT (seconds, default 120) bounds each replay.
# WORKDIR/NAME is the replay's log directory; darter's stdout/stderr and the
# checkers' output go beside it (NAME.stdout, .stderr, .validate, .compare).
set -u
export LC_ALL=C

if [ $# -lt 3 ]; then
	echo "usage: run_pcaps.sh DARTER_BIN PCAP_DIR WORKDIR [extra darter args...]" >&2
	exit 2
fi
darter=$1
pcap_dir=$2
work=$3
shift 3

here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3
validate=$here/validate_eve.py
schema=$here/../../engine/eve-flow.schema.json
compare=$here/compare_flows.py
timeout_s=${DARTER_TIMEOUT:-120}

if [ ! -x "$darter" ]; then
	echo "Bail out! darter binary not found or not executable: $darter"
	exit 2
fi
if [ ! -d "$pcap_dir" ]; then
	echo "Bail out! no such capture directory: $pcap_dir"
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

# "# "-prefixed copy of stdin: its last (comment_tail) or first (comment_head) $1 lines
comment_tail() { tail -n "$1" | sed 's/^/# /'; }
comment_head() { head -n "$1" | sed 's/^/# /'; }

echo "1..${#pcaps[@]}"
n=0
failed=0
for f in "${pcaps[@]}"; do
	n=$((n + 1))
	name=$(basename "$f")
	out=$work/$name
	rm -rf "$out" "$out.stdout" "$out.stderr" "$out.validate" "$out.compare"
	mkdir -p "$out"

	timeout -k 5 "$timeout_s" "$darter" -r "$f" -l "$out" "$@" >"$out.stdout" 2>"$out.stderr"
	rc=$?
	if [ $rc -ne 0 ]; then
		failed=$((failed + 1))
		case $rc in
		124 | 137) why="darter timed out after ${timeout_s}s" ;;
		*) if [ $rc -gt 128 ]; then why="darter killed by signal $((rc - 128))"; else why="darter exited $rc"; fi ;;
		esac
		echo "not ok $n - $name # $why"
		echo "# $darter -r $f -l $out $*"
		comment_tail 20 <"$out.stderr"
		continue
	fi
	if [ ! -f "$out/eve.json" ]; then
		failed=$((failed + 1))
		echo "not ok $n - $name # no $out/eve.json"
		comment_tail 10 <"$out.stderr"
		continue
	fi
	if [ -f "$validate" ]; then
		if ! "$python" "$validate" "$schema" "$out/eve.json" >"$out.validate" 2>&1; then
			failed=$((failed + 1))
			echo "not ok $n - $name # eve.json does not validate against the schema"
			comment_tail 20 <"$out.validate"
			continue
		fi
	fi
	"$python" "$compare" "$f" "$out/eve.json" >"$out.compare" 2>&1
	rc=$?
	summary=$(head -n 1 "$out.compare")
	if [ $rc -eq 0 ]; then
		tuples=$(sed -n 's/.*: \([0-9]*\) tuples compared.*/\1/p' <<<"$summary")
		echo "ok $n - $name (${tuples:-?} tuples)"
	elif [ $rc -eq 1 ]; then
		failed=$((failed + 1))
		mism=$(sed -n 's/.*, \([0-9]*\) mismatches.*/\1/p' <<<"$summary")
		echo "not ok $n - $name # ${mism:-?} flow mismatches with tshark"
		comment_head 25 <"$out.compare"
		echo "# details: $python $compare --verbose $f $out/eve.json"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name # compare_flows.py failed (exit $rc)"
		comment_head 10 <"$out.compare"
	fi
done
echo "# pcaps: $((n - failed)) ok, $failed failed"
[ $failed -eq 0 ]
