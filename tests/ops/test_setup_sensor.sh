#!/bin/bash
# tools/setup-sensor: --check on this host reports every item, exits 0 and
# changes nothing (hugepages, hugetlbfs mounts, loaded modules, governors,
# NIC drivers are compared before and after); --apply on a prepared
# --sysroot tree makes exactly the changes it prints, and a second --apply
# changes nothing.
#
# Usage: test_setup_sensor.sh SETUP_SENSOR   (prints TAP)
set -u
export LC_ALL=C
tool=$1
tmp=$(mktemp -d /tmp/darter-setup-sensor-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
notok() {
	n=$((n + 1))
	fail=1
	echo "not ok $n - $1"
	[ -f "${2:-}" ] && sed 's/^/# /' "$2"
}

# What --check must leave as it found it.
snapshot() {
	{
		grep -H . /sys/kernel/mm/hugepages/*/nr_hugepages \
			/sys/devices/system/node/node*/hugepages/*/nr_hugepages \
			/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor 2>/dev/null
		grep hugetlbfs /proc/mounts
		ls /sys/module
		for d in /sys/bus/pci/devices/*; do
			echo "$d $(readlink "$d/driver")"
		done
	} 2>/dev/null
}

echo "1..9"

snapshot >"$tmp/before"
"$tool" --check >"$tmp/check.out" 2>"$tmp/check.err"
rc=$?
snapshot >"$tmp/after"
if [ $rc -eq 0 ] && [ ! -s "$tmp/check.err" ]; then
	ok "--check exits 0 on this host, nothing on stderr"
else
	notok "--check exited $rc" "$tmp/check.err"
fi
sed 's/^/# /' "$tmp/check.out"

missing=
for item in "huge 2M" hugetlbfs iommu vfio-pci nic isolcpus numa governor memlock; do
	grep -q "^\[[a-z ]*\] $item " "$tmp/check.out" || missing="$missing $item"
done
last=$(tail -n 1 "$tmp/check.out")
if [ -z "$missing" ] && [[ "$last" =~ ^setup-sensor:\ (ready|[0-9]+\ items\ not\ ready)$ ]]; then
	ok "the report has a line for every item and a summary ($last)"
else
	notok "report items missing:${missing:- none}; last line: $last"
fi

if cmp -s "$tmp/before" "$tmp/after" && ! grep -q '^changed' "$tmp/check.out"; then
	ok "--check changed nothing ($(wc -l <"$tmp/before") state lines compared)"
else
	diff "$tmp/before" "$tmp/after" >"$tmp/diff"
	notok "host state differs after --check" "$tmp/diff"
fi

"$tool" >"$tmp/default.out" 2>&1
if [ $? -eq 0 ] && head -n 1 "$tmp/default.out" | grep -q "read-only"; then
	ok "no option means --check"
else
	notok "default mode is not the read-only check" "$tmp/default.out"
fi

"$tool" --bind 0000:00:00.0 >"$tmp/bind.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q -- "--bind needs --apply" "$tmp/bind.out"; then
	ok "--bind without --apply is refused (exit 2)"
else
	notok "--bind without --apply exited $rc" "$tmp/bind.out"
fi

# A host tree that needs hugepages and governors, with hugetlbfs mounted
# and vfio-pci loaded (so --apply needs no mount and no modprobe).
root=$tmp/root
hp=$root/sys/kernel/mm/hugepages/hugepages-2048kB
mkdir -p "$hp" "$root/proc" "$root/sys/module/vfio_pci" "$root/sys/class/iommu/dmar0" \
	"$root/sys/kernel/iommu_groups/0" "$root/sys/devices/system/node/node0" \
	"$root/sys/devices/system/cpu"
echo 0 >"$hp/nr_hugepages"
echo 0 >"$hp/free_hugepages"
echo "nodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0" >"$root/proc/mounts"
echo "BOOT_IMAGE=/vmlinuz isolcpus=2,3 nohz_full=2,3 intel_iommu=on" >"$root/proc/cmdline"
echo 0-3 >"$root/sys/devices/system/cpu/online"
echo 2-3 >"$root/sys/devices/system/cpu/isolated"
echo 0-3 >"$root/sys/devices/system/node/node0/cpulist"
for c in 0 1 2 3; do
	mkdir -p "$root/sys/devices/system/cpu/cpu$c/cpufreq"
	echo powersave >"$root/sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor"
done
echo performance >"$root/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"

"$tool" --check --strict --sysroot "$root" >"$tmp/strict.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(cat "$hp/nr_hugepages")" = 0 ] &&
	grep -q "^\[warn\] governor   3 of 4 CPUs" "$tmp/strict.out"; then
	ok "--check --strict on an unready tree exits 1 and writes nothing"
else
	notok "--check --strict exited $rc" "$tmp/strict.out"
fi

"$tool" --apply --sysroot "$root" --hugepages-2m 512 --cpus 2,3 >"$tmp/apply.out" 2>&1
rc=$?
sed 's/^/# /' "$tmp/apply.out"
want="changed: hugepages 2M reserved: 0 -> 512
changed: governor cpu0: powersave -> performance
changed: governor cpu2: powersave -> performance
changed: governor cpu3: powersave -> performance"
if [ $rc -eq 0 ] && [ "$(grep '^changed' "$tmp/apply.out")" = "$want" ] &&
	[ "$(cat "$hp/nr_hugepages")" = 512 ] &&
	[ "$(cat "$root"/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor | sort -u)" = performance ]; then
	ok "--apply made exactly the 4 changes it printed"
else
	notok "--apply exited $rc or its changes are not the 4 expected" "$tmp/apply.out"
fi

"$tool" --apply --sysroot "$root" --hugepages-2m 512 --cpus 2,3 >"$tmp/apply2.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^setup-sensor: changed nothing$" "$tmp/apply2.out" &&
	! grep -q '^changed' "$tmp/apply2.out"; then
	ok "a second --apply changes nothing"
else
	notok "second --apply exited $rc" "$tmp/apply2.out"
fi

"$tool" --check --strict --sysroot "$root" --cpus 2,3 >"$tmp/ready.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^setup-sensor: ready$" "$tmp/ready.out" &&
	grep -q "^\[ok  \] capture    capture.cpus 2,3: all isolated" "$tmp/ready.out"; then
	ok "the prepared tree is ready (--strict exits 0)"
else
	notok "prepared tree not ready (exit $rc)" "$tmp/ready.out"
fi
exit $fail
