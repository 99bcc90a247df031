#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's test command (make check): lint, docs, build, host-side tests,
# install and packaging tests (scripts/check-install.sh), then the
# selftests in a VM on each kernel the module supports: Debian 12's 6.1,
# the 6.12 line Debian 12 also carries (each with the module built against
# its headers), and the debug kernel.
# Prints every test's result and ends with "N passed, N failed, N skipped";
# exits non-zero on any failure, splat or lint finding.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
logs="$top/build/check"
rm -rf "$logs"
mkdir -p "$logs"

# Each stage says when it began: where CI's time goes.
stage() {
	echo
	echo "==== $1 (at ${SECONDS} s)"
}

# A stage that is not a kselftest program still shows up in the summary.
framed() {
	local name=$1 log=$2
	shift 2
	{
		echo "# selftest: $name"
		"$@" 2>&1
		echo "# selftest-exit: $name $?"
	} | tee "$log"
}

stage "lint"
framed lint "$logs/lint.log" make -s -C "$top" lint

stage "docs"
framed docs "$logs/docs.log" make -s -C "$top" docs

stage "build"
framed build "$logs/build.log" make -s -C "$top" all

# The selftests in one VM:
#   vm_selftests KERNEL NAME [--module KO] [--limits PROG_SECS VM_SECS] [PROG...]
# by default every program of the run-list, in order.
vm_selftests() {
	local kernel=$1 name=$2 module=() prog_limit=1200 vm_limit=2400
	shift 2
	if [ "${1-}" = --module ]; then
		module=(--module "$2")
		shift 2
	fi
	if [ "${1-}" = --limits ]; then
		prog_limit=$2
		vm_limit=$3
		shift 3
	fi
	[ $# -gt 0 ] || set -- /selftests/vfio_user
	echo "# selftest: $name"
	# Emulated debug kernels are slow: generous bounds, still bounded.
	"$here/vm-run.sh" --kernel "$kernel" "${module[@]}" --timeout "$vm_limit" -- \
		ksft-run -t "$prog_limit" -l "$kernel" "$@" 2>&1
	rc=$?
	# Test failures are counted per test; the VM's own verdict
	# (splat, module stuck, timeout) counts when the tests passed.
	echo "# selftest-exit: $name $rc"
}

# The hostile-server fuzzer on the debug kernel is the longest program by
# far (100,000 messages; 1150 to 1900 s here, by seed and load) and keeps
# one CPU busy: it runs in a VM of its own, from here on, beside the
# stages below, with its own verdict (splats, leaks, unload).
stage "hostile-server fuzzer, debug kernel: a VM of its own, in the background"
fuzzer=vfio_user_fuzz_server_test
"$here/build-debug-kernel.sh" >/dev/null
make -s -C "$top" module-debug
debug_ko="$top/build/kmod/debug/vfio_user.ko"
vm_selftests debug debug-vm-fuzz --module "$debug_ko" --limits 3600 4200 \
	"/selftests/vfio_user/$fuzzer" >"$logs/vm-debug-fuzz.log" 2>&1 &
fuzz_vm=$!

stage "host tests"
"$top/scripts/ksft-run.sh" -l host "$top/build/host-tests" \
	"$top/tools/vfio-user-ctl/test-info.sh" 2>&1 | tee "$logs/host.log"

stage "install: make install, DKMS, Debian packages, pkg-config, in the VM"
# Frames each part itself (install: make-install, man, dkms, deb, ...).
"$here/check-install.sh" 2>&1 | tee "$logs/install.log"

for kernel in debian debian612; do
	stage "selftests in the VM, $kernel kernel"
	vm_selftests "$kernel" "$kernel-vm" | tee "$logs/vm-$kernel.log"
done

stage "selftests in the VM, debug kernel (all but the fuzzer)"
rest=()
while read -r prog; do
	[ -z "$prog" ] || [ "$prog" = "$fuzzer" ] ||
		rest+=("/selftests/vfio_user/$prog")
done <"$top/build/selftests-install/vfio_user/run-list"
vm_selftests debug debug-vm --module "$debug_ko" "${rest[@]}" |
	tee "$logs/vm-debug.log"

stage "hostile-server fuzzer, debug kernel: its log"
wait "$fuzz_vm"
cat "$logs/vm-debug-fuzz.log"

stage "hardening figures (debug kernel)"
"$here/fuzz-figures.sh" "hardening, debug kernel" "$logs/vm-debug.log" \
	"$logs/vm-debug-fuzz.log"

stage "benchmark: printed, not asserted"
"$here/bench.sh" 2>&1 || echo "(the benchmark did not run; not counted as a test)"

stage "summary"
cat "$logs"/*.log | awk -f "$here/ktap-summary.awk"
