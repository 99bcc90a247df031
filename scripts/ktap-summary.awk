# SPDX-License-Identifier: GPL-2.0
#
# Count the results in logs framed by scripts/ksft-run.sh and print one line
# per test, then "N passed, N failed, N skipped". Exit status 1 if anything
# failed. A program that exits non-zero (other than 4, skip) without
# reporting a failing test counts as one failure; one that reports nothing
# and exits 4 counts as one skip.

function flush_prog(rc) {
	if (rc != 0 && rc != 4 && !prog_fail) {
		printf "FAIL %s (exit status %d)\n", prog, rc
		fail++
	} else if (rc == 4 && !prog_results) {
		printf "SKIP %s\n", prog
		skip++
	}
	prog = ""
}

/^# selftest: / { prog = substr($0, 13); prog_fail = 0; prog_results = 0; next }
/^# selftest-exit: / {
	rc = $NF
	flush_prog(rc + 0)
	next
}
prog != "" && /^(not )?ok [0-9]+ / {
	line = $0
	is_fail = (line ~ /^not ok/)
	sub(/^(not )?ok [0-9]+ /, "", line)
	prog_results++
	if (line ~ /# *SKIP/) {
		reason = line
		sub(/.*# *SKIP */, "", reason)
		sub(/ *# *SKIP.*/, "", line)
		# The 6.1 harness leaves the test's name out of its skip lines.
		printf "SKIP %s: %s\n", prog, line != "" ? line " (" reason ")" : reason
		skip++
	} else if (is_fail) {
		sub(/ *#.*/, "", line)
		printf "FAIL %s: %s\n", prog, line
		fail++
		prog_fail = 1
	} else {
		printf "PASS %s: %s\n", prog, line
		pass++
	}
}
END {
	if (prog != "") {
		printf "FAIL %s (output ended early)\n", prog
		fail++
	}
	printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
	exit fail > 0
}
