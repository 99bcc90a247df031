#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmarks (make bench, and the end of make check): boot the VM on the
# Debian kernel, start the sample server, and print vfio-user-ctl bench's
# figures. Nothing is asserted: figures from a software-emulated VM compare
# paths measured in the same run, they are not absolute speeds.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/bin"
cat >"$stage/usr/bin/vfio-user-bench-run" <<'BENCH'
#!/bin/sh
sock=/tmp/bench.sock
vfio-user-sample-server --socket-path=$sock 2>/dev/null &
server=$!
i=0
while [ ! -S $sock ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
vfio-user-ctl bench --seconds 2 $sock
rc=$?
kill $server
wait $server
exit $rc
BENCH
chmod +x "$stage/usr/bin/vfio-user-bench-run"

exec "$here/vm-run.sh" --kernel debian --add "$stage" -- vfio-user-bench-run
