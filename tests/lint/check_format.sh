#!/bin/sh
# Every C file follows .clang-format (STYLE.md rule 20). Prints TAP.
# Usage: check_format.sh SOURCE_ROOT
cd "$1" || exit 2
command -v clang-format >/dev/null || { echo "1..0 # SKIP clang-format not installed"; exit 0; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find capture engine analyzers lua tools tests -name '*.[ch]')
n=0
fail=0
echo "1..$(echo "$files" | wc -w)"
for f in $files; do
	n=$((n + 1))
	if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "ok $n - $f"
	else
		fail=1
		echo "not ok $n - $f (run: clang-format -i $f)"
	fi
done
exit $fail
