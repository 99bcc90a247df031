# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the project's scripts. Source it; do not run it.

# Where built kernels and extracted sources are cached, outside the tree.
VU_CACHE=${VFIO_USER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfio-user}
VU_LINUX_SOURCE_TAR=${LINUX_SOURCE_TAR:-/usr/src/linux-source-6.1.tar.xz}

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# The ABI string of the kernel a Debian meta-package currently pulls in:
# meta_abi PACKAGE PREFIX, e.g. meta_abi linux-image-amd64 linux-image
# prints 6.1.0-57-amd64. Debian point releases change it, so never
# hard-code it.
meta_abi() {
	dpkg-query -W -f='${Depends}\n' "$1" 2>/dev/null |
		tr ',|' '\n\n' | sed -n "s/^ *$2-\([^ ]*\).*/\1/p" |
		head -n 1
}

# The kernels the module supports, by the name vm-run.sh's --kernel and the
# Makefile's module-<name> targets use:
#   debian     Debian 12's own 6.1 line (linux-image-amd64)
#   debian612  the 6.12 line Debian 12 also carries (Debian 13's kernel;
#              linux-image-6.12-amd64)
# kernel_meta NAME image|headers prints the meta-package.
kernel_meta() {
	case "$1" in
	debian) echo "linux-$2-amd64" ;;
	debian612) echo "linux-$2-6.12-amd64" ;;
	*) die "unknown Debian kernel $1 (debian or debian612)" ;;
	esac
}

kernel_abi() {
	meta=$(kernel_meta "$1" image) || exit 1
	meta_abi "$meta" linux-image
}

headers_abi() {
	meta=$(kernel_meta "$1" headers) || exit 1
	meta_abi "$meta" linux-headers
}

# KDIR of a kernel's headers: kernel_kdir debian|debian612.
kernel_kdir() {
	meta=$(kernel_meta "$1" headers) || exit 1
	abi=$(meta_abi "$meta" linux-headers)
	[ -n "$abi" ] || die "$meta is not installed"
	echo "/usr/src/linux-headers-$abi"
}

# The kernel image vm-run.sh boots: kernel_vmlinuz debian|debian612.
kernel_vmlinuz() {
	meta=$(kernel_meta "$1" image) || exit 1
	abi=$(meta_abi "$meta" linux-image)
	[ -n "$abi" ] || die "$meta is not installed"
	echo "/boot/vmlinuz-$abi"
}

debian_kernel_abi() { kernel_abi debian; }
debian_headers_abi() { headers_abi debian; }
debian_kdir() { kernel_kdir debian; }
debian_vmlinuz() { kernel_vmlinuz debian; }

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
