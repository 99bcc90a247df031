#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run kselftest programs one after another and frame each one's KTAP output
# so scripts/ktap-summary.awk can count results:
#
#   ksft-run [-t SECS] [-l LABEL] DIR_OR_PROG...
#
# A directory runs the programs named in its run-list, in order. Each run
# is bounded by SECS (default 120) so one stuck test cannot hang the rest.

limit=120
label=""
while [ $# -gt 0 ]; do
	case "$1" in
	-t) limit=$2; shift 2 ;;
	-l) label="$2: "; shift 2 ;;
	*) break ;;
	esac
done

run_one() {
	prog=$1
	name=$label$(basename "$prog")
	echo "# selftest: $name"
	start=$(date +%s)
	(cd "$(dirname "$prog")" && timeout -s KILL "$limit" "./$(basename "$prog")") 2>&1
	rc=$?
	[ $rc -eq 137 ] && echo "# $name: killed after $limit s"
	# Where a run's time goes, for whoever sets the bounds.
	echo "# $name: took $(($(date +%s) - start)) s"
	echo "# selftest-exit: $name $rc"
	[ $rc -eq 0 ] || [ $rc -eq 4 ]
}

failed=0
for arg in "$@"; do
	if [ -d "$arg" ]; then
		while read -r prog; do
			[ -n "$prog" ] || continue
			run_one "$arg/$prog" || failed=1
		done <"$arg/run-list"
	else
		run_one "$arg" || failed=1
	fi
done
exit $failed
