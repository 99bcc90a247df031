#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo (make run): boot the test VM on Debian's 6.1 kernel with
# vfio_user.ko loaded, start the sample vfio-user server, drive its
# device through the kernel, and migrate it to other servers.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/bin"
cat >"$stage/usr/bin/vfio-user-demo-tour" <<'DEMO'
#!/bin/sh
step() { printf '\n######## %s\n' "$*"; }
sock=/tmp/sample.sock

step "vfio_user.ko is loaded; /dev/vfio-user is its device"
grep '^vfio_user ' /proc/modules
ls -l /dev/vfio-user

step "start the sample vfio-user server (a PCI device emulated in a process)"
vfio-user-sample-server --socket-path=$sock 2>/tmp/server.log &
server=$!
i=0
while [ ! -S $sock ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2

step "vfio-user-ctl info: negotiate, discover, attach to the kernel, decode"
vfio-user-ctl info $sock || exit 1

step "region access, mmap, a DMA transfer and an MSI-X interrupt, through the kernel"
vfio-user-demo $sock || exit 1

step "migration: move the running device to a second server, then through a file to a third"
vfio-user-sample-server --socket-path=/tmp/dst.sock 2>/tmp/dst.log &
dst=$!
vfio-user-sample-server --socket-path=/tmp/third.sock 2>/tmp/third.log &
third=$!
i=0
while { [ ! -S /tmp/dst.sock ] || [ ! -S /tmp/third.sock ]; } && [ $i -lt 100 ]; do
	sleep 0.05; i=$((i + 1))
done
sleep 0.2
vfio-user-ctl migrate $sock /tmp/dst.sock || exit 1
vfio-user-ctl save /tmp/dst.sock /tmp/device.state || exit 1
vfio-user-ctl load /tmp/third.sock /tmp/device.state || exit 1

kill $server $dst $third
wait $server $dst $third
step "server logs"
cat /tmp/server.log /tmp/dst.log /tmp/third.log
DEMO
chmod +x "$stage/usr/bin/vfio-user-demo-tour"

exec "$here/vm-run.sh" --kernel debian --add "$stage" -- vfio-user-demo-tour
