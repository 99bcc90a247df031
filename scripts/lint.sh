#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel hygiene for kernel/ and uapi/: checkpatch --strict, kernel-doc,
# sparse, and a W=1 build with warnings as errors. Any finding fails.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"

src=$(linux_source_dir)
kdir=$(debian_kdir)
lint="$top/build/lint"
rm -rf "$lint"
mkdir -p "$lint/include/uapi/linux" "$lint/kernel"
failed=0

# Lay the files out where they would live upstream so checkpatch applies
# its uapi rules to the uapi header.
shopt -s nullglob
for f in "$top"/kernel/*.[ch]; do cp "$f" "$lint/kernel/"; done
for f in "$top"/uapi/linux/*.h; do cp "$f" "$lint/include/uapi/linux/"; done
files=$(cd "$lint" && echo kernel/*.[ch] include/uapi/linux/*.h)

echo "  LINT    checkpatch --strict"
# The one exception: _Static_assert (a C11 keyword the uapi header needs to
# assert wire layouts in both kernel and userspace) is not CamelCase.
out=$(cd "$lint" && perl "$src/scripts/checkpatch.pl" --no-tree --strict \
	--terse --show-types -f $files 2>&1 | grep -E 'ERROR|WARNING|CHECK' |
	grep -v 'CAMELCASE: Avoid CamelCase: <_Static_assert>' || true)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	failed=1
fi

echo "  LINT    kernel-doc"
out=$(cd "$lint" && perl "$src/scripts/kernel-doc" -none $files 2>&1 || true)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	failed=1
fi

echo "  LINT    sparse, W=1"
mkdir -p "$lint/kmod"
cp -rp "$top/Kbuild" "$top/kernel" "$top/uapi" "$lint/kmod/"
out=$(make -C "$kdir" M="$lint/kmod" C=2 W=1 modules 2>&1 || echo "build failed")
findings=$(printf '%s\n' "$out" | grep -E 'warning:|error:|build failed' || true)
if [ -n "$findings" ]; then
	printf '%s\n' "$findings"
	failed=1
fi

if [ $failed -ne 0 ]; then
	echo "lint: findings above" >&2
	exit 1
fi
echo "  LINT    clean"
