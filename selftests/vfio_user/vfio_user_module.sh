#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Loading and unloading vfio_user leaves nothing behind: the device node,
# the misc class entry and the module's sysfs directory come and go with
# the module, an open fd blocks the unload, and repeated load/open/unload
# cycles work. Leaks of the objects themselves are caught by kmemleak in
# the debug-kernel run.
#
# The module is loaded from $VFIO_USER_KO when set, else with modprobe.

KSFT_SKIP=4
DEV=/dev/vfio-user
CYCLES=${CYCLES:-50}
n=0
failed=0

ok() {
	n=$((n + 1))
	echo "ok $n $1"
}

not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n $1"
}

check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

load() {
	if [ -n "${VFIO_USER_KO:-}" ]; then
		insmod "$VFIO_USER_KO"
	else
		modprobe vfio_user
	fi
}

unload() {
	rmmod vfio_user
}

absent() {
	[ ! -e $DEV ] && [ ! -e /sys/module/vfio_user ] &&
		[ ! -e /sys/class/misc/vfio-user ]
}

present() {
	# devtmpfs creates the node asynchronously: wait for it, up to 30 s
	# (a loaded debug kernel is slow; only a missing node waits that long).
	local tries=0

	while [ ! -c $DEV ] && [ $tries -lt 300 ]; do
		sleep 0.1
		tries=$((tries + 1))
	done
	[ -c $DEV ] && [ -d /sys/module/vfio_user ] &&
		[ -e /sys/class/misc/vfio-user ]
}

busy_unload_refused() {
	exec 3<>$DEV || return 1
	if rmmod vfio_user 2>/dev/null; then
		exec 3>&-
		return 1
	fi
	exec 3>&-
	present
}

cycles() {
	local cycle=0

	while [ $cycle -lt "$CYCLES" ]; do
		load || return 1
		present || return 1
		exec 3<>$DEV || return 1
		exec 3>&-
		unload || return 1
		absent || return 1
		cycle=$((cycle + 1))
	done
}

echo "TAP version 13"
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP must be root to load modules"
	exit $KSFT_SKIP
fi
if [ -z "${VFIO_USER_KO:-}" ] && ! modinfo vfio_user >/dev/null 2>&1; then
	echo "1..0 # SKIP vfio_user.ko not found (set VFIO_USER_KO)"
	exit $KSFT_SKIP
fi
was_loaded=0
[ -d /sys/module/vfio_user ] && was_loaded=1

echo "1..5"
[ $was_loaded -eq 1 ] || load
check "module_load_creates_device" present
check "open_fd_blocks_unload" busy_unload_refused
check "module_unload" unload
check "nothing_left_after_unload" absent
check "load_open_unload_${CYCLES}_cycles" cycles

# Leave the module as we found it.
if [ $was_loaded -eq 1 ]; then
	load
	present || failed=1
fi
exit $failed
