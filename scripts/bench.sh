#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmarks (make bench, and the end of make check): boot the VM on the
# Debian kernel, start the sample server, and print vfio-user-ctl bench's
# figures; write them to build/bench/bench.json and draw the ratios in
# build/bench/bench.svg. Nothing is asserted: figures from a
# software-emulated VM compare paths measured in the same run, they are
# not absolute speeds.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/bin"
cat >"$stage/usr/bin/vfio-user-bench-run" <<'BENCH'
#!/bin/sh
sock=/tmp/bench.sock
plain=/tmp/bench-plain.sock
# A cgroup v2 hierarchy, so that the memory figures can say what is
# charged to the benchmark itself.
[ -e /sys/fs/cgroup/cgroup.controllers ] ||
	mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null || true
# libvfio-user's io-fd layout: its shadow doorbell is measured too.
vfio-user-sample-server --socket-path=$sock --io-fds-layout=lvu 2>/dev/null &
server=$!
# The same server without REGION_WRITE_MULTI, for the posted writes.
vfio-user-sample-server --socket-path=$plain --no-write-multiple 2>/dev/null &
server_plain=$!
i=0
while { [ ! -S $sock ] || [ ! -S $plain ]; } && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
vfio-user-ctl bench --seconds 2 --json /tmp/bench.json \
	--compare-posted $plain $sock
rc=$?
if [ $rc -eq 0 ]; then
	echo "--- bench.json"
	cat /tmp/bench.json
	echo "--- end"
fi
kill $server $server_plain
wait $server $server_plain
exit $rc
BENCH
chmod +x "$stage/usr/bin/vfio-user-bench-run"

out="$here/../build/bench"
mkdir -p "$out"
"$here/vm-run.sh" --kernel debian --add "$stage" -- vfio-user-bench-run | tee "$out/bench.log"
rc=${PIPESTATUS[0]}
# The VM's console may prefix lines; keep the document's own.
sed -n '/^--- bench.json/,/^--- end/p' "$out/bench.log" | sed '1d;$d' >"$out/bench.json"
if [ -s "$out/bench.json" ]; then
	awk -f "$here/bench-svg.awk" "$out/bench.json" >"$out/bench.svg"
	echo "bench: figures in build/bench/bench.json, chart in build/bench/bench.svg"
fi
exit "$rc"
