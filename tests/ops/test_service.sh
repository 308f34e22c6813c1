#!/bin/bash
# conf/darter.service: systemd-analyze verify accepts it without a single
# warning (unknown keys and bad values are only warnings to systemd, so
# any output fails), with the unit's darter paths pointed at the built
# binary; it has the lines operators rely on; and its ExecStartPre check
# passes on the shipped configuration.
#
# Usage: test_service.sh UNIT DARTER_BIN   (prints TAP)
set -u
export LC_ALL=C
unit=$1
darter=$2
src=$(cd "$(dirname "$unit")/.." && pwd)
tmp=$(mktemp -d /tmp/darter-unit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "1..3"
if ! command -v systemd-analyze >/dev/null; then
	echo "ok 1 # SKIP systemd-analyze not installed"
else
	sed "s#/usr/local/bin/darter#$darter#g" "$unit" >"$tmp/darter.service"
	systemd-analyze verify "$tmp/darter.service" >"$tmp/verify.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$tmp/verify.out" ]; then
		echo "ok 1 - systemd-analyze verify: no errors, no warnings"
	else
		echo "not ok 1 - systemd-analyze verify exited $rc"
		sed 's/^/# /' "$tmp/verify.out"
	fi
	systemd-analyze security --offline=yes "$tmp/darter.service" 2>/dev/null |
		grep "Overall exposure" | sed 's/^/# /'
fi

missing=
for line in 'ExecStartPre=/usr/local/bin/darter -T -c /etc/darter/darter.yaml' \
	'ExecStart=/usr/local/bin/darter -c /etc/darter/darter.yaml' \
	'ExecReload=/bin/kill -USR2 $MAINPID' 'Restart=on-failure' 'LimitMEMLOCK=infinity' \
	'KillSignal=SIGTERM' 'NoNewPrivileges=yes'; do
	grep -qxF "$line" "$unit" || missing="$missing [$line]"
done
if [ -z "$missing" ]; then
	echo "ok 2 - the unit checks the config, reloads with SIGUSR2, restarts on failure"
else
	echo "not ok 2 - missing lines:$missing"
fi

if "$darter" -T -c "$src/conf/darter.yaml" >"$tmp/T.out" 2>&1; then
	echo "ok 3 - ExecStartPre's darter -T accepts conf/darter.yaml"
else
	echo "not ok 3 - darter -T -c conf/darter.yaml failed"
	sed 's/^/# /' "$tmp/T.out"
fi
