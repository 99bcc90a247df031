#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hygiene, run by make lint. Any finding fails.
#
# kernel/ and uapi/: checkpatch --strict, kernel-doc, sparse, and a W=1
# build with warnings as errors, against each supported kernel's headers:
# Debian 12's 6.1 and the 6.12 line it also carries (kernel/compat.h holds
# what differs between them).
#
# Userspace (lib/, tools/, samples/): clang-format with the kernel's
# .clang-format, checked (a file that is not formatted fails, with the diff
# that would format it), and cppcheck, over the selftests as well, with the
# suppressions in scripts/cppcheck-suppressions.txt.
#
#   scripts/lint.sh           check everything
#   scripts/lint.sh --format  format the userspace sources in place, and stop
#
# The .clang-format is read from the kernel source tree (linux-source-6.1)
# rather than copied here: it is GPL-2.0, the userspace code BSD-3-Clause.
# clang-format 14, Debian 12's, is the reference; another version formats
# some constructs differently, so it is refused.
#
# Not formatted: lib/test/test_* (host tests on the kselftest harness,
# whose "ASSERT_EQ(a, b) TH_LOG(...)" clang-format breaks apart; they keep
# the kernel selftests' layout, like selftests/), kernel/ and uapi/
# (checkpatch's).

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"

CLANG_FORMAT_MAJOR=14

mode=check
case "${1:-}" in
"") ;;
--format) mode=format ;;
*) die "usage: $0 [--format]" ;;
esac

src=$(linux_source_dir)
style="file:$src/.clang-format"
[ -f "$src/.clang-format" ] || die "no .clang-format in $src"

# The userspace sources clang-format owns, relative to $top.
format_sources() {
	(cd "$top" && find lib tools samples -name '*.[ch]' \
		! -path 'lib/test/test_*' | LC_ALL=C sort)
}

check_clang_format_version() {
	local v
	command -v clang-format >/dev/null ||
		die "clang-format is missing (scripts/install-deps.sh installs it)"
	v=$(clang-format --version | sed -n 's/.*clang-format version \([0-9]*\)\..*/\1/p')
	[ "$v" = "$CLANG_FORMAT_MAJOR" ] ||
		die "clang-format $CLANG_FORMAT_MAJOR (Debian 12's) is the reference; this is $(clang-format --version)"
}

if [ "$mode" = format ]; then
	check_clang_format_version
	cd "$top"
	# shellcheck disable=SC2046
	clang-format --style="$style" -i $(format_sources)
	exit 0
fi

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

# kernel/compat.h is the one file that tests the kernel's version, in its
# "#if LINUX_VERSION_CODE ..." lines: there, and only there, checkpatch's
# LINUX_VERSION_CODE warning (meant for code merged upstream) and its
# CONSTANT_COMPARISON, which takes the all-caps macro for a constant, are
# expected. Reads checkpatch's terse lines on stdin.
compat_version_tests_ok() {
	awk -v compat="$lint/kernel/compat.h" '
		BEGIN {
			while ((getline line < compat) > 0)
				if (line ~ /^#if LINUX_VERSION_CODE [<>=]+ KERNEL_VERSION\(/)
					version_test[++n] = 1
				else
					version_test[++n] = 0
		}
		/^kernel\/compat\.h:[0-9]+: WARNING:(LINUX_VERSION_CODE|CONSTANT_COMPARISON):/ {
			split($0, f, ":")
			if (version_test[f[2] + 0])
				next
		}
		{ print }
	'
}

echo "  LINT    checkpatch --strict"
# The other exception: _Static_assert (a C11 keyword the uapi header needs
# to assert wire layouts in both kernel and userspace) is not CamelCase.
out=$(cd "$lint" && perl "$src/scripts/checkpatch.pl" --no-tree --strict \
	--terse --show-types -f $files 2>&1 | grep -E 'ERROR|WARNING|CHECK' |
	grep -v 'CAMELCASE: Avoid CamelCase: <_Static_assert>' |
	compat_version_tests_ok || true)
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

for k in debian debian612; do
	kdir=$(kernel_kdir "$k")
	echo "  LINT    sparse, W=1 ($(basename "$kdir"))"
	mkdir -p "$lint/kmod-$k"
	cp -rp "$top/Kbuild" "$top/kernel" "$top/uapi" "$lint/kmod-$k/"
	out=$(make -C "$kdir" M="$lint/kmod-$k" C=2 W=1 modules 2>&1 ||
		echo "build failed")
	findings=$(printf '%s\n' "$out" | grep -E 'warning:|error:|build failed' || true)
	if [ -n "$findings" ]; then
		printf '%s\n' "$findings"
		failed=1
	fi
done

echo "  LINT    clang-format"
check_clang_format_version
unformatted=0
for f in $(format_sources); do
	out=$(cd "$top" && clang-format --style="$style" "$f" |
		diff -u --label "a/$f" --label "b/$f" "$f" - 2>&1) && continue
	printf '%s\n' "$out"
	unformatted=1
	failed=1
done
if [ $unformatted -ne 0 ]; then
	echo "lint: to format the userspace sources: scripts/lint.sh --format" >&2
fi

echo "  LINT    cppcheck"
command -v cppcheck >/dev/null ||
	die "cppcheck is missing (scripts/install-deps.sh installs it)"
mkdir -p "$lint/cppcheck"
# The configuration the Makefile builds (-D_GNU_SOURCE on x86-64 Linux);
# the kselftest headers from the kernel tree, so that the harness's macros
# are known, but no findings in them.
out=$(cd "$top" && cppcheck --quiet --std=c11 \
	--enable=warning,portability,performance \
	-D_GNU_SOURCE -D__linux__ -D__x86_64__ \
	-I uapi -I lib -I samples -I "$src/tools/testing/selftests" \
	--suppress="*:$src/*" \
	--suppressions-list=scripts/cppcheck-suppressions.txt \
	--cppcheck-build-dir="$lint/cppcheck" -j "$(nproc)" \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]\n{code}' \
	lib tools samples selftests 2>&1 || echo "cppcheck failed")
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	failed=1
fi

if [ $failed -ne 0 ]; then
	echo "lint: findings above" >&2
	exit 1
fi
echo "  LINT    clean"
