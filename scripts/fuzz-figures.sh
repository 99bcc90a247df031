#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One line of figures from a VM run's log (make check's debug run, make
# fuzz), to be quoted:
#
#   fuzz-figures.sh LABEL LOG...
#   LABEL: messages=N ioctls=N faults=N kills=N splats=N leaks=N
#
# The counts are summed from the programs' "# fuzz-figures: key=N" lines;
# splats and leaks come from the VM runner's verdict (scripts/vm-run.sh),
# which must be in the LOGs too. A module that cannot be unloaded kept a
# reference: it counts as a leak.

set -uo pipefail
label=$1
shift
logs=("$@")

figure() {
	sed -n "s/^# fuzz-figures:.*[ :]$1=\([0-9][0-9]*\).*/\1/p" "${logs[@]}" |
		awk '{ n += $1 } END { print n + 0 }'
}

leaks=$(grep -ho 'unreferenced object 0x[0-9a-f]*' "${logs[@]}" | sort -u | wc -l)
if grep -q 'VMRUN-ERROR: vfio_user cannot be unloaded' "${logs[@]}"; then
	leaks=$((leaks + 1))
fi
# vm-run lists the distinct splat lines it found after "kernel splat on".
splats=$(for log in "${logs[@]}"; do sed -n '/kernel splat on/,$p' "$log"; done |
	grep -E '^vm-run:   ' |
	grep -v -e 'unreferenced object' -e 'Call Trace:' |
	grep -E 'WARNING:|BUG:|Oops|general protection|Kernel panic|KASAN|UBSAN|locking|lock state|RCU|blocked|LOCKUP|lockup' |
	sort -u | wc -l)

echo "$label: messages=$(figure messages) ioctls=$(figure ioctls)" \
	"faults=$(figure faults) kills=$(figure kills) splats=$splats leaks=$leaks"
