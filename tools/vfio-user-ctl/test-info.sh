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
plan=49

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

# ---- info --json, zero-size regions -------------------------------------

run json info --json "$sock"
ok "info --json exits 0" rc_is json 0
json_ok() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import json, sys; json.load(sys.stdin)' <"$tmp/json.out"
	else
		has "$tmp/json.out" '^}$'
	fi
}
ok "info --json prints one JSON document" json_ok
ok "info --json: the negotiated version" has "$tmp/json.out" '^    "major": 0,$'
ok "info --json: BAR2 of 1M" has "$tmp/json.out" '^      "size": 1048576,$'
zero_absent() {
	# The text and the JSON say "not present" for BAR3, of size 0.
	has "$out" '^	Region 3 \(BAR3\): size 0 \(not present\)$' &&
		grep -A2 '"name": "BAR3"' "$tmp/json.out" | grep -q '"present": false'
}
ok "a region of size 0 is not present, in text and JSON" zero_absent
ok "info --json: MSI-X has 4 vectors" has "$tmp/json.out" '^      "count": 4,$'
ok "info --json: the config space, in hex" has "$tmp/json.out" \
	'^  "config_space": "55560100'

# ---- the new common options ----------------------------------------------

run timeout --timeout 3000 --userspace info "$sock"
ok "--timeout MS is accepted" rc_is timeout 0
run badtimeout --timeout 0 info "$sock"
badtimeout_ok() {
	rc_is badtimeout 2 && has "$tmp/badtimeout.err" \
		"^vfio-user-ctl: --timeout: '0' is not a number of milliseconds between 1 and [0-9]+$"
}
ok "--timeout 0: a usage error saying the range" badtimeout_ok
run cfgposted --posted-writes=BAR0,7 info "$sock"
cfgposted_ok() {
	rc_is cfgposted 2 && has "$tmp/cfgposted.err" \
		'region 7 is the PCI config space, whose writes are never posted; leave it out$'
}
ok "--posted-writes refuses the config space, saying why" cfgposted_ok
run badposted --posted-writes=BAR9 info "$sock"
badposted_ok() {
	rc_is badposted 2 && has "$tmp/badposted.err" \
		"'BAR9' is not a list of regions \(indexes 0..31 or BAR0..BAR5, ROM"
}
ok "--posted-writes with a bad name: what is accepted" badposted_ok
run upposted --userspace --posted-writes=BAR0 info "$sock"
upposted_ok() {
	rc_is upposted 1 && has "$tmp/upposted.err" \
		'^vfio-user-ctl: --posted-writes needs the kernel: drop --userspace$'
}
ok "--posted-writes with --userspace: refused, saying what to drop" upposted_ok
run nofd --userspace --no-fd-sharing info "$sock"
ok "--no-fd-sharing is accepted" rc_is nofd 0
run badfd --fd 1000 info
badfd_ok() {
	rc_is badfd 1 && has "$tmp/badfd.err" \
		'attaching to the server on fd 1000 \(is it a connected vfio-user socket\?\)'
}
ok "--fd of no socket: what failed and what to check" badfd_ok
run fdpath --fd 3 info "$sock"
fdpath_ok() {
	rc_is fdpath 2 && has "$tmp/fdpath.err" 'info: --fd and a SOCKET_PATH: give one$'
}
ok "--fd and a SOCKET_PATH: a usage error" fdpath_ok
# A socket connected by someone else, passed along: python3 connects it.
fd_ok() {
	python3 - "$ctl" "$sock" "$tmp/fd.out" <<'PY'
import os, socket, subprocess, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[2])
fd = s.fileno()
os.set_inheritable(fd, True)
with open(sys.argv[3], "w") as out:
    rc = subprocess.call([sys.argv[1], "--userspace", "info", "--fd", str(fd)],
                         pass_fds=[fd], stdout=out)
sys.exit(rc)
PY
	[ $? -eq 0 ] && has "$tmp/fd.out" "^Server: socket fd [0-9]+$" &&
		has "$tmp/fd.out" '^	Regions: +9$'
}
if command -v python3 >/dev/null 2>&1; then
	ok "info --fd N on a socket connected by another" fd_ok
else
	skip "info --fd N on a socket connected by another" "python3 is not installed"
fi

# ---- list and stats without the module -----------------------------------

if [ ! -e /dev/vfio-user ]; then
	run list list
	list_ok() {
		rc_is list 1 && has "$tmp/list.err" \
			'^vfio-user-ctl: /dev/vfio-user not found: is the vfio_user module loaded\? \(modprobe vfio_user\)$'
	}
	ok "list without the module: says to load it" list_ok
else
	skip "list without the module: says to load it" "/dev/vfio-user exists"
fi
run watch0 stats --watch 0
watch0_ok() {
	rc_is watch0 2 && has "$tmp/watch0.err" \
		"^vfio-user-ctl: stats: --watch: '0' is not a number of seconds between 1 and 3600$"
}
ok "stats --watch 0: a usage error saying the range" watch0_ok

# ---- bash completion ------------------------------------------------------

# The source tree's, else the one installed next to BIN_DIR.
completion=$here/../../data/bash-completion/vfio-user-ctl
[ -f "$completion" ] ||
	completion=$bin/../share/bash-completion/completions/vfio-user-ctl
# complete WORDS...: what the completion offers for the last word.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		_vfio_user_ctl; printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@"
}
completes() {
	want=$1
	shift
	got=$(complete_words "$@" | tr '\n' ' ')
	case " $got" in
	*" $want "*) return 0 ;;
	esac
	echo "# completing '$*': no '$want' in: $got"
	return 1
}
if command -v bash >/dev/null 2>&1 && [ -f "$completion" ]; then
	ok "the bash completion parses (bash -n)" bash -n "$completion"
	ok "completion: commands" completes stats vfio-user-ctl st
	ok "completion: the common options" completes --posted-writes vfio-user-ctl --po
	ok "completion: a region name after --posted-writes" \
		completes BAR2 vfio-user-ctl --posted-writes BA
	ok "completion: info's options after common ones" \
		completes --json vfio-user-ctl --timeout 100 info --js
	ok "completion: stats --watch" completes --watch vfio-user-ctl stats --wa
else
	for t in "parses (bash -n)" commands "the common options" \
		"a region name after --posted-writes" \
		"info's options after common ones" "stats --watch"; do
		skip "completion: $t" "bash or the completion script is missing"
	done
fi

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
