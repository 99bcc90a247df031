# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the project's scripts. Source it; do not run it.

# Where built kernels and extracted sources are cached, outside the tree.
VU_CACHE=${VFIO_USER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfio-user}
VU_LINUX_SOURCE_TAR=${LINUX_SOURCE_TAR:-/usr/src/linux-source-6.1.tar.xz}

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# The ABI string of the kernel that linux-image-amd64 currently pulls in
# (e.g. 6.1.0-56-amd64). Debian point releases change it, so never
# hard-code it.
debian_kernel_abi() {
	dpkg-query -W -f='${Depends}\n' linux-image-amd64 2>/dev/null |
		tr ',|' '\n\n' | sed -n 's/^ *linux-image-\([^ ]*\).*/\1/p' |
		head -n 1
}

debian_headers_abi() {
	dpkg-query -W -f='${Depends}\n' linux-headers-amd64 2>/dev/null |
		tr ',|' '\n\n' | sed -n 's/^ *linux-headers-\([^ ]*\).*/\1/p' |
		head -n 1
}

debian_kdir() {
	abi=$(debian_headers_abi)
	[ -n "$abi" ] || die "linux-headers-amd64 is not installed"
	echo "/usr/src/linux-headers-$abi"
}

debian_vmlinuz() {
	abi=$(debian_kernel_abi)
	[ -n "$abi" ] || die "linux-image-amd64 is not installed"
	echo "/boot/vmlinuz-$abi"
}

linux_source_version() {
	dpkg-query -W -f='${Version}\n' linux-source-6.1 2>/dev/null
}

# Extract the kernel source once per package version; prints its path.
linux_source_dir() {
	ver=$(linux_source_version)
	[ -n "$ver" ] || die "linux-source-6.1 is not installed"
	dir="$VU_CACHE/src/linux-source-$ver"
	if [ ! -f "$dir/.extracted" ]; then
		echo "extracting $VU_LINUX_SOURCE_TAR (once per package version)" >&2
		rm -rf "$dir.tmp" "$dir"
		mkdir -p "$dir.tmp"
		tar -xJf "$VU_LINUX_SOURCE_TAR" -C "$dir.tmp" --strip-components=1
		touch "$dir.tmp/.extracted"
		mv "$dir.tmp" "$dir"
	fi
	echo "$dir"
}
