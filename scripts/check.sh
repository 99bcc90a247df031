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

stage() {
	echo
	echo "==== $1"
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

stage "host tests"
"$top/scripts/ksft-run.sh" -l host "$top/build/host-tests" \
	"$top/tools/vfio-user-ctl/test-info.sh" 2>&1 | tee "$logs/host.log"

stage "install: make install, DKMS, Debian packages, pkg-config, in the VM"
# Frames each part itself (install: make-install, man, dkms, deb, ...).
"$here/check-install.sh" 2>&1 | tee "$logs/install.log"

for kernel in debian debian612 debug; do
	stage "selftests in the VM, $kernel kernel"
	{
		echo "# selftest: $kernel-vm"
		# Emulated debug kernels are slow: generous bounds, still bounded.
		"$here/vm-run.sh" --kernel "$kernel" --timeout 2400 -- \
			ksft-run -t 1200 -l "$kernel" /selftests/vfio_user 2>&1
		rc=$?
		# Test failures are counted per test; the VM's own verdict
		# (splat, module stuck, timeout) counts when the tests passed.
		echo "# selftest-exit: $kernel-vm $rc"
	} | tee "$logs/vm-$kernel.log"
done

stage "hardening figures (debug kernel)"
"$here/fuzz-figures.sh" "hardening, debug kernel" "$logs/vm-debug.log"

stage "benchmark: printed, not asserted"
"$here/bench.sh" 2>&1 || echo "(the benchmark did not run; not counted as a test)"

stage "summary"
cat "$logs"/*.log | awk -f "$here/ktap-summary.awk"
