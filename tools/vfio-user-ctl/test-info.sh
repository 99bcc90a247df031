#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Host test of "vfio-user-ctl info" against the sample server: starts the
# server on a temporary socket, describes its device, and checks the key
# facts of samples/sample-device.h. KTAP output; exit status 0 if every
# test passed, 1 otherwise, 4 (skip) if the programs are not built.
#
#   test-info.sh [BIN_DIR]
#
# BIN_DIR holds vfio-user-ctl and vfio-user-sample-server (default: the
# build/bin directory of this source tree, or $VFIO_USER_BIN_DIR).
# If valgrind is installed, one run is checked for leaks and errors.

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${VFIO_USER_BIN_DIR:-$here/../../build/bin}}
ctl=$bin/vfio-user-ctl
server=$bin/vfio-user-sample-server
plan=25

echo "TAP version 13"
if [ ! -x "$ctl" ] || [ ! -x "$server" ]; then
	echo "1..0 # SKIP $ctl or $server is not built"
	exit 4
fi
echo "1..$plan"

tmp=$(mktemp -d /tmp/vuc-ctl-test.XXXXXX) || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
sock=$tmp/s.sock
server_pid=

cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- helpers ---------------------------------------------------------

n=0
failed=0

# ok NAME COMMAND...: one KTAP result, from COMMAND's exit status.
ok() {
	name=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=$((failed + 1))
	fi
}

# skip NAME REASON
skip() {
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2"
}

# has FILE EXTENDED_REGEX: FILE has a matching line (else show FILE).
has() {
	if grep -Eq -- "$2" "$1"; then
		return 0
	fi
	echo "# no line matches: $2"
	sed 's/^/# | /' "$1"
	return 1
}

# hasnt FILE EXTENDED_REGEX: no line of FILE matches.
hasnt() {
	if ! grep -Eq -- "$2" "$1"; then
		return 0
	fi
	grep -E -- "$2" "$1" | sed 's/^/# unexpected: /'
	return 1
}

# run NAME ARGS...: run vfio-user-ctl, output in $tmp/NAME.{out,err,rc}.
run() {
	name=$1
	shift
	"$ctl" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}

rc_is() {
	if [ "$(cat "$tmp/$1.rc")" = "$2" ]; then
		return 0
	fi
	echo "# exit status $(cat "$tmp/$1.rc"), expected $2; stderr:"
	sed 's/^/# | /' "$tmp/$1.err"
	return 1
}

# The hex dump of the BAR registers (lines 10: and 20:) of run NAME.
bar_dump() {
	grep -E '^	(10|20):' "$tmp/$1.out"
}

# ---- the server ------------------------------------------------------

"$server" --socket-path="$sock" >"$tmp/server.log" 2>&1 &
server_pid=$!
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
		echo "Bail out! the sample server did not create $sock"
		sed 's/^/# server: /' "$tmp/server.log"
		exit 1
	fi
	sleep 0.1 2>/dev/null || sleep 1
done

# ---- info, as a person would run it ------------------------------------
# Expected values: samples/sample-device.h.

run info info -x "$sock"
out=$tmp/info.out

ok "info exits 0" rc_is info 0
ok "info prints nothing on stderr" test ! -s "$tmp/info.err"
ok "protocol version 0.x negotiated" has "$out" '^	Protocol version: +0\.[0-9]+$'
ok "device is PCI with reset" has "$out" '^	Flags: +RESET PCI \(0x3\)$'
ok "9 regions" has "$out" '^	Regions: +9$'
ok "5 IRQs" has "$out" '^	IRQs: +5$'
ok "BAR2 region: 1M, mmap" has "$out" '^	Region 2 \(BAR2\): size 0x100000 \(1M\)$'
ok "BAR2 sparse area 0" has "$out" '^			\[0\] offset 0x0 size 0x40000 \(256K\)'
ok "BAR2 sparse area 1" has "$out" '^			\[1\] offset 0x80000 size 0x80000 \(512K\)'
ok "doorbell ioeventfd" has "$out" '^			ioeventfd +offset 0x40 size 0x4, flags none'
ok "doorbell ioeventfd with datamatch" has "$out" \
	'^			ioeventfd +offset 0x48 size 0x4, flags datamatch \(0x1\), datamatch value 0xc0de$'
ok "mailbox ioregionfd" has "$out" \
	'^			ioregionfd offset 0x80 size 0x80, flags .*user_data 0x6d61696c$'
ok "MSI-X IRQ index has 4 vectors" has "$out" '^	IRQ 2 \(MSI-X\): count 4,'
ok "vendor:device 5655:0001, revision 01" has "$out" '^	Device: +5655:0001, revision 01$'
ok "subsystem 5655:0100" has "$out" '^	Subsystem: +5655:0100$'
ok "class ff0000, unassigned" has "$out" '^	Class: +ff0000 \(Unassigned class;'
ok "BAR0 sized 4K, 32-bit" has "$out" \
	'^	BAR0: Memory at .* \(32-bit, non-prefetchable\) \[size=4K\]$'
ok "BAR1 sized 4K, 32-bit" has "$out" \
	'^	BAR1: Memory at .* \(32-bit, non-prefetchable\) \[size=4K\]$'
ok "BAR2 sized 1M, 64-bit prefetchable" has "$out" \
	'^	BAR2: Memory at .* \(64-bit, prefetchable\) \[size=1M\]$'
msix_ok() {
	has "$out" '^	Capabilities: \[40\] MSI-X: Enable. Count=4 ' &&
		has "$out" '^		Vector table: BAR=1 offset=00000000$' &&
		has "$out" '^		PBA: BAR=1 offset=00000800$'
}
ok "MSI-X capability at 0x40, 4 vectors, table and PBA in BAR1" msix_ok
ok "vendor-specific capability at 0x50, 8 bytes" has "$out" \
	'^	Capabilities: \[50\] Vendor Specific Information: Len=08$'
ok "nothing invalid, mismatched or unrestored" hasnt "$out" \
	'INVALID|MISMATCH|WARNING|LOOP|truncated'

# ---- the BARs are as before after sizing -------------------------------

# A second client (without twin socket this time) sees the BAR registers
# as the first one found them, so sizing restored them.
bars_restored() {
	first=$(bar_dump info)
	second=$(bar_dump again)
	if [ -n "$first" ] && [ "$first" = "$second" ]; then
		return 0
	fi
	echo "# BAR registers before: $first"
	echo "# BAR registers after:  $second"
	return 1
}
run again --no-twin-socket info "$sock"
ok "BARs unchanged after sizing, twice" bars_restored

# ---- errors --------------------------------------------------------------

nosock_fails_clearly() {
	rc_is nosock 1 && test ! -s "$tmp/nosock.out" &&
		has "$tmp/nosock.err" \
		'^vfio-user-ctl: attaching to the server: .*no-such\.sock.*No such file or directory$'
}

run nosock info "$tmp/no-such.sock"
ok "unknown socket: exit 1 with a clear message" nosock_fails_clearly

# ---- memory --------------------------------------------------------------

if command -v valgrind >/dev/null 2>&1; then
	n=$((n + 1))
	if valgrind -q --leak-check=full --errors-for-leak-kinds=all \
		--error-exitcode=99 "$ctl" info -xx "$sock" \
		>"$tmp/vg.out" 2>"$tmp/vg.err"; then
		echo "ok $n no leaks or memory errors under valgrind"
	else
		echo "not ok $n no leaks or memory errors under valgrind"
		sed 's/^/# | /' "$tmp/vg.err"
		failed=$((failed + 1))
	fi
else
	skip "no leaks or memory errors under valgrind" "valgrind is not installed"
fi

if [ $n -ne $plan ]; then
	echo "# ran $n tests, planned $plan"
	exit 1
fi
echo "# $((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
