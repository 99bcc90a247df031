#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The long fuzzing run (make fuzz): boot the debug kernel (KASAN, lockdep,
# kmemleak) and run every fuzzer, fault and kill test the selftests have,
# with counts well above make check's:
#
#   VFIO_USER_FUZZ_MESSAGES=1000000  hostile-server messages
#   VFIO_USER_FUZZ_IOCTLS=100000     hostile-VMM calls
#   VFIO_USER_KILL_ROUNDS=1000       kill rounds
#
# Each may be overridden from the environment, and so may the seed
# (VFIO_USER_FUZZ_SEED; one seed for every program, so a run can be
# replayed). Ends with one line of figures:
#
#   fuzz: messages=N ioctls=N faults=N kills=N splats=N leaks=N seed=N
#
# summed from the programs' "# fuzz-figures:" lines; splats and leaks come
# from the VM runner's verdict. Exits non-zero if a test failed, the kernel
# splatted or leaked, or the VM did not finish.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
logs="$top/build/fuzz"
installed="$top/build/selftests-install/vfio_user"

messages=${VFIO_USER_FUZZ_MESSAGES:-1000000}
ioctls=${VFIO_USER_FUZZ_IOCTLS:-100000}
kill_rounds=${VFIO_USER_KILL_ROUNDS:-1000}
seed=${VFIO_USER_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
# Bounds on a stuck run only: per program, and for the whole VM.
prog_limit=${VFIO_USER_FUZZ_PROG_TIMEOUT:-10800}
vm_limit=${VFIO_USER_FUZZ_VM_TIMEOUT:-36000}

rm -rf "$logs"
mkdir -p "$logs"

make -s -C "$top" all || exit 1

progs=()
for name in $(cd "$installed" && ls vfio_user_fuzz_*_test vfio_user_fault_test \
		vfio_user_kill_test 2>/dev/null); do
	progs+=("/selftests/vfio_user/$name")
done
if [ ${#progs[@]} -eq 0 ]; then
	echo "fuzz: no fuzz, fault or kill tests in $installed" >&2
	exit 1
fi
echo "fuzz: seed $seed; ${progs[*]##*/}"

"$here/vm-run.sh" --kernel debug --timeout "$vm_limit" -- \
	env VFIO_USER_FUZZ_SEED="$seed" VFIO_USER_FUZZ_MESSAGES="$messages" \
	VFIO_USER_FUZZ_IOCTLS="$ioctls" VFIO_USER_KILL_ROUNDS="$kill_rounds" \
	ksft-run -t "$prog_limit" -l fuzz "${progs[@]}" \
	2>"$logs/vm-run.err" | tee "$logs/vm.log"
rc=${PIPESTATUS[0]}
# The runner's own verdict (splats, leaks, timeouts) comes at the end.
cat "$logs/vm-run.err" >&2

awk -f "$here/ktap-summary.awk" "$logs/vm.log" | tail -n 1
# The programs' figures and the runner's verdict, in one line with the seed.
cat "$logs/vm.log" "$logs/vm-run.err" >"$logs/all.log"
echo "$("$here/fuzz-figures.sh" fuzz "$logs/all.log") seed=$seed" |
	tee "$logs/figures"
exit "$rc"
