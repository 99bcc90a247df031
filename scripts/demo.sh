#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo (make run): boot the test VM on Debian's 6.1 kernel with
# vfio_user.ko loaded and show what the module offers so far.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/bin"
cat >"$stage/usr/bin/vfio-user-demo" <<'DEMO'
#!/bin/sh
step() { printf '\n== %s\n' "$*"; }
step "kernel"
uname -r
step "the module is loaded"
grep '^vfio_user ' /proc/modules
step "/dev/vfio-user is there (misc device, root only)"
ls -l /dev/vfio-user
step "module parameters"
for p in /sys/module/vfio_user/parameters/*; do
	echo "$(basename "$p") = $(cat "$p")"
done
step "open, release, unknown ioctls (ENOTTY), the module pin of an open fd"
/selftests/vfio_user/vfio_user_dev_test | grep -E '^(not )?ok'
DEMO
chmod +x "$stage/usr/bin/vfio-user-demo"

exec "$here/vm-run.sh" --kernel debian --add "$stage" -- vfio-user-demo
