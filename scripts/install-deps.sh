#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages that building and testing this project need.
# Idempotent: when everything is present it does nothing (and needs no
# network); otherwise it runs apt-get update once and installs what is
# missing. Every make target that needs packages calls it.
#
# Kernels: Debian 12's own 6.1 line (linux-image-amd64, linux-headers-amd64)
# and the 6.12 line it also carries (linux-image-6.12-amd64,
# linux-headers-6.12-amd64). These are the meta-packages that always pull
# the newest kernel of their line; scripts/lib.sh reads the ABI from them,
# so a point release never needs an edit here.

set -eu

PACKAGES="
	build-essential
	bc
	bison
	busybox-static
	clang-format
	cpio
	cppcheck
	debhelper
	dh-dkms
	dkms
	flex
	kmod
	libelf-dev
	libjson-c-dev
	liburing-dev
	libssl-dev
	linux-headers-6.12-amd64
	linux-headers-amd64
	linux-image-6.12-amd64
	linux-image-amd64
	linux-source-6.1
	lintian
	man-db
	mandoc
	perl
	pkg-config
	python3
	python3-sphinx
	qemu-system-x86
	sparse
	valgrind
	xz-utils
"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps: need root (or sudo) to install:$missing" >&2
		exit 1
	}
else
	SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update </dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $missing </dev/null
