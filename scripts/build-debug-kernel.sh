#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) the debug kernel the test VM boots with --kernel debug:
# Debian's linux-source-6.1 configured as tinyconfig + debug-kernel.config.
# The build is cached outside the tree, keyed by the source package version
# and the config fragment, and rebuilt only when one of them changes.
# Prints the build directory (usable as KDIR) on stdout.

set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

fragment="$here/debug-kernel.config"
srcdir=$(linux_source_dir)
key=$( (linux_source_version; cat "$fragment") | sha256sum | cut -c1-16)
out="$VU_CACHE/debug-kernel-$key"

if [ -f "$out/.built" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$VU_CACHE"
exec 9>"$VU_CACHE/debug-kernel.lock"
flock 9
if [ -f "$out/.built" ]; then
	echo "$out"
	exit 0
fi

echo "building the debug kernel in $out (once; takes minutes)" >&2
rm -rf "$out"
mkdir -p "$out"
make -s -C "$srcdir" O="$out" tinyconfig >&2
"$srcdir/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"$fragment" >/dev/null
make -s -C "$srcdir" O="$out" olddefconfig >&2

# Kconfig drops options whose dependencies are unmet without a word; refuse
# to build a kernel that lacks a checker the tests rely on.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		if ! grep -qx "$line" "$out/.config"; then
			echo "debug kernel: $line did not survive olddefconfig" >&2
			bad=1
		fi
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		if grep -q "^$opt=" "$out/.config"; then
			echo "debug kernel: $opt should be unset" >&2
			bad=1
		fi
		;;
	esac
done <"$fragment"
[ "$bad" -eq 0 ] || die "config fragment not satisfied; see above"

log="$out/build.log"
jobs=$(nproc)
start=$(date +%s)
# Show progress without flooding the log: one line every 30 s.
make -C "$srcdir" O="$out" -j"$jobs" all >"$log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	sleep 30
	n=$(grep -c '^  [A-Z]' "$log" 2>/dev/null || true)
	echo "debug kernel: $n build steps, $(($(date +%s) - start)) s" >&2
done
if ! wait "$pid"; then
	tail -n 40 "$log" >&2
	die "debug kernel build failed (log: $log)"
fi
echo "debug kernel built in $(($(date +%s) - start)) s" >&2
touch "$out/.built"
echo "$out"
