# tap.sh: the TAP helpers every end-to-end script sources (after setting
# $work, its temporary directory). Each script ends with
# `exit $((fails > 0))`; meson counts the "ok"/"not ok" lines.
#   ok NAME                  a passed check
#   notok NAME [DETAIL...]   a failed one; each DETAIL line becomes a "# " comment
#   expect NAME CMD...       CMD's exit status decides; its output is shown on failure
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - $1"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/# /'
	return 0
}
expect() {
	local name=$1
	shift
	if "$@" >"$work/expect.out" 2>&1; then ok "$name"; else notok "$name" "$(head -c 800 "$work/expect.out")"; fi
}
