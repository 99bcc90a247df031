#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check's install tests, each part framed like a kselftest program so
# that scripts/ktap-summary.awk counts its results:
#
#   make-install  make install into a DESTDIR, PREFIX, make uninstall
#   man           the man pages: mandoc -Tlint, lexgrog, man -l; every
#                 option and library function they should describe is there
#   dkms          dkms add, build and install of vfio_user.ko against
#                 Debian's headers (a build against the 6.12 ones too), in
#                 a DKMS tree of its own
#   deb           dpkg-buildpackage -b of debian/ in a copy of the tree,
#                 lintian on the result
#   pkg-config    the packages unpacked into a staging tree; the autopkgtest
#                 debian/tests/pkg-config builds a client with pkg-config
#                 alone and runs it; so does libvfio-user-client(3)'s example
#   vm            in the VM, on the module DKMS built: vfio-user-ctl info
#                 from the packages against the packaged sample server, and
#                 the client through /dev/vfio-user
#
#   check-install.sh [PART...]    (default: all, in this order)
#
# Nothing outside build/install-check is written, except dkms install's
# signing key (kept in that directory too). Exit status 1 if a part failed.

# Test steps are functions that t() calls.
# shellcheck disable=SC2317
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"

work="$top/build/install-check"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' "$top/Makefile")
failed=0

# ---- KTAP framing -----------------------------------------------------

part=""
n=0
part_failed=0

begin() {
	part=$1
	n=0
	part_failed=0
	mkdir -p "$work/logs"
	echo "# selftest: install: $part"
	echo "TAP version 13"
}

# t DESC CMD...: one result from CMD's exit status; its output is kept in
# a log and shown (the end of it) on failure.
t() {
	local desc=$1 log
	shift
	n=$((n + 1))
	log="$work/logs/$part.$n.log"
	if "$@" >"$log" 2>&1; then
		echo "ok $n $desc"
	else
		tail -n 40 "$log" | sed 's/^/# /'
		echo "not ok $n $desc"
		part_failed=1
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2"
}

# A step that failed before the test: its log, as a failing result.
failed_with() {
	cat "$1"
	return 1
}

end() {
	echo "1..$n"
	echo "# selftest-exit: install: $part $part_failed"
	[ $part_failed -eq 0 ] || failed=1
}

# ---- make install -----------------------------------------------------

# All lines are comments or empty: an example left commented.
all_commented() {
	! grep -v -E '^[[:space:]]*(#|$)' "$1"
}

soname_is() {
	readelf -d "$1" | grep -q "SONAME.*\[$2\]"
}

# The shared library exports the header's functions and nothing else.
exports_only_api() {
	local extra
	nm -D --defined-only "$1" | awk '{ print $3 }' | sort >"$work/exports"
	extra=$(grep -v -E '^(vuc_[a-z0-9_]+@@VFIO_USER_CLIENT_0|VFIO_USER_CLIENT_0)$' \
		"$work/exports")
	[ -z "$extra" ] || { echo "exported beyond the API: $extra"; return 1; }
	grep -q '^vuc_connect@@' "$work/exports"
}

nothing_left() {
	local left
	left=$(cd "$1" && find . ! -type d)
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
}

part_make_install() {
	local d="$work/destdir" p="$work/prefix" kver
	kver=$(debian_headers_abi)

	begin make-install
	t "make install DESTDIR=..." make -s -C "$top" install DESTDIR="$d"
	t "the module in /lib/modules/$kver/updates" \
		test -f "$d/lib/modules/$kver/updates/vfio_user.ko"
	t "the udev rule gives /dev/vfio-user to group kvm" \
		grep -q 'KERNEL=="vfio-user".*GROUP="kvm"' "$d/lib/udev/rules.d/60-vfio-user.rules"
	t "modules-load.d example, commented" all_commented "$d/etc/modules-load.d/vfio-user.conf"
	t "modprobe.d example, commented" all_commented "$d/etc/modprobe.d/vfio-user.conf"
	t "the uAPI header" cmp "$top/uapi/linux/vfio_user.h" "$d/usr/local/include/linux/vfio_user.h"
	t "the library header" cmp "$top/lib/vfio-user-client.h" "$d/usr/local/include/vfio-user-client.h"
	t "libvfio-user-client.so.0 with its soname" \
		soname_is "$d/usr/local/lib/libvfio-user-client.so.0" libvfio-user-client.so.0
	t "the libvfio-user-client.so link" \
		test "$(readlink "$d/usr/local/lib/libvfio-user-client.so")" = libvfio-user-client.so.0
	t "libvfio-user-client.a" test -s "$d/usr/local/lib/libvfio-user-client.a"
	t "the library exports the header's functions only" \
		exports_only_api "$d/usr/local/lib/libvfio-user-client.so.0"
	t "vfio-user-client.pc" grep -q '^prefix=/usr/local$' \
		"$d/usr/local/lib/pkgconfig/vfio-user-client.pc"
	t "vfio-user-ctl and the sample server" \
		test -x "$d/usr/local/bin/vfio-user-ctl" -a -x "$d/usr/local/bin/vfio-user-sample-server"
	t "man pages" test -f "$d/usr/local/share/man/man8/vfio-user-ctl.8" \
		-a -f "$d/usr/local/share/man/man8/vfio-user-sample-server.8" \
		-a -f "$d/usr/local/share/man/man3/libvfio-user-client.3"
	t "bash completion for vfio-user-ctl" bash -n \
		"$d/usr/local/share/bash-completion/completions/vfio-user-ctl"
	t "make uninstall DESTDIR=..." make -s -C "$top" uninstall DESTDIR="$d"
	t "nothing left after make uninstall" nothing_left "$d"
	t "make install-userspace PREFIX=/opt/vfio-user" \
		make -s -C "$top" install-userspace DESTDIR="$p" PREFIX=/opt/vfio-user
	t "PREFIX is honoured" test -x "$p/opt/vfio-user/bin/vfio-user-ctl" \
		-a -f "$p/opt/vfio-user/lib/libvfio-user-client.so.0"
	t "the .pc file says PREFIX" grep -q '^prefix=/opt/vfio-user$' \
		"$p/opt/vfio-user/lib/pkgconfig/vfio-user-client.pc"
	end
}

# ---- man pages --------------------------------------------------------

man_lint() {
	local out
	out=$(mandoc -Tlint -W warning "$1" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
	lexgrog "$1"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$1" 2>&1 >/dev/null)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

# Every long option in a program's help is in its man page (as \-\-name).
options_documented() {
	local page=$1 missing="" opt
	shift
	for opt in $("$@" 2>&1 | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
		grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$page" ||
			missing="$missing $opt"
	done
	[ -z "$missing" ] || { echo "not in $page:$missing (document them there)"; return 1; }
}

ctl_help_all() {
	local ctl="$top/build/bin/vfio-user-ctl" cmd
	"$ctl" --help
	for cmd in $("$ctl" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
		"$ctl" help "$cmd"
	done
}

# Every command of vfio-user-ctl has its section.
commands_documented() {
	local missing="" cmd
	for cmd in $("$top/build/bin/vfio-user-ctl" --help |
		     sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
		grep -q "^\.SS $cmd\$" "$top/man/vfio-user-ctl.8" || missing="$missing $cmd"
	done
	[ -z "$missing" ] || {
		echo "commands without a .SS section in man/vfio-user-ctl.8:$missing"
		return 1
	}
}

# Every function of the public header is in libvfio-user-client(3).
functions_documented() {
	local missing="" fn
	for fn in $(${CC:-cc} -E -P -I"$top/uapi" "$top/lib/vfio-user-client.h" |
		    grep -oE '\<vuc_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | sort -u); do
		grep -q "^\.BI\? \"\?[^\"]*\<$fn(" "$top/man/libvfio-user-client.3" ||
			missing="$missing $fn"
	done
	[ -z "$missing" ] || {
		echo "not in the SYNOPSIS of man/libvfio-user-client.3:$missing (document them there)"
		return 1
	}
}

part_man() {
	local f
	begin man
	for f in "$top"/man/*.[0-9]; do
		t "$(basename "$f"): mandoc, lexgrog, man -l clean" man_lint "$f"
	done
	if [ -x "$top/build/bin/vfio-user-ctl" ]; then
		t "vfio-user-ctl(8) has every option of the help" \
			options_documented "$top/man/vfio-user-ctl.8" ctl_help_all
		t "vfio-user-ctl(8) has every command" commands_documented
	else
		skip "vfio-user-ctl(8) has every option of the help" "vfio-user-ctl not built"
		skip "vfio-user-ctl(8) has every command" "vfio-user-ctl not built"
	fi
	if [ -x "$top/build/bin/vfio-user-sample-server" ]; then
		t "vfio-user-sample-server(8) has every option of the help" \
			options_documented "$top/man/vfio-user-sample-server.8" \
			"$top/build/bin/vfio-user-sample-server" --help
	else
		skip "vfio-user-sample-server(8) has every option of the help" "not built"
	fi
	t "libvfio-user-client(3) has every function of the header" functions_documented
	end
}

# ---- DKMS -------------------------------------------------------------

dkms_ko=""

dkms_run() {
	# A signing key of its own: nothing under /var/lib/dkms is touched.
	mok_signing_key="$work/dkms/mok.key" mok_certificate="$work/dkms/mok.pub" \
		dkms "$@" -m vfio-user -v "$version" --dkmstree "$work/dkms/tree" \
		--sourcetree "$work/dkms/root/usr/src" \
		--installtree "$work/dkms/root/lib/modules"
}

dkms_installed() {
	local out
	out=$(dkms_run status) || return 1
	echo "$out"
	echo "$out" | grep -q ': installed$'
}

# vermagic_is KO KVER; KO may be compressed as DKMS leaves it for a kernel
# whose modules are (6.12's: KO.xz).
vermagic_is() {
	local vm ko=$1 z
	for z in "" .xz .zst .gz; do
		[ -f "$1$z" ] && { ko=$1$z; break; }
	done
	vm=$(modinfo -F vermagic "$ko") || return 1
	echo "vermagic: $vm"
	case "$vm" in "$2 "*) ;; *) return 1 ;; esac
}

# dkms.conf's BUILD_EXCLUSIVE_KERNEL, matched as dkms matches it (a bash
# regex), admits the supported lines (6.1 and 6.12) and no other.
dkms_exclusive_range() {
	local re v bad=0
	re=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL="\(.*\)"$/\1/p' "$top/dkms.conf")
	echo "BUILD_EXCLUSIVE_KERNEL: $re"
	[ -n "$re" ] || return 1
	for v in "$@" 6.1.0-57-amd64 6.1.0-99-rt-amd64 6.12.117+deb12-amd64 \
		6.12.57+deb13-amd64; do
		[[ $v =~ $re ]] || { echo "refuses $v"; bad=1; }
	done
	for v in 6.10.0-1-amd64 6.11.0 6.13.0-1-amd64 6.6.0 6.0.0 5.10.0-30-amd64 \
		7.1.0 16.1.0; do
		[[ $v =~ $re ]] && { echo "admits $v"; bad=1; }
	done
	return "$bad"
}

part_dkms() {
	local kver kdir built inst kver612 kdir612 built612
	kver=$(debian_headers_abi)
	kdir=$(debian_kdir)
	built="$work/dkms/tree/vfio-user/$version/$kver/$(uname -m)/module/vfio_user.ko"
	inst="$work/dkms/root/lib/modules/$kver/updates/dkms/vfio_user.ko"
	kver612=$(headers_abi debian612)
	kdir612=$(kernel_kdir debian612)
	built612="$work/dkms/tree/vfio-user/$version/$kver612/$(uname -m)/module/vfio_user.ko"

	begin dkms
	mkdir -p "$work/dkms/tree" "$work/dkms/root/lib/modules/$kver"
	t "make install-dkms puts the sources in /usr/src/vfio-user-$version" \
		make -s -C "$top" install-dkms DESTDIR="$work/dkms/root"
	t "dkms add" dkms_run add
	t "dkms build against linux-headers-$kver" \
		dkms_run build -k "$kver" --kernelsourcedir "$kdir"
	t "the module DKMS built is for $kver" vermagic_is "$built" "$kver"
	t "dkms build against linux-headers-$kver612" \
		dkms_run build -k "$kver612" --kernelsourcedir "$kdir612"
	t "the module DKMS built is for $kver612" vermagic_is "$built612" "$kver612"
	t "BUILD_EXCLUSIVE_KERNEL admits the 6.1 and 6.12 lines only" \
		dkms_exclusive_range "$kver" "$kver612"
	if [ "$(id -u)" -eq 0 ]; then
		t "dkms install (into the test's own tree, no depmod)" \
			dkms_run install -k "$kver" --no-depmod
		t "the module is in /lib/modules/$kver/updates/dkms" test -f "$inst"
		t "dkms status says installed" dkms_installed
		[ -f "$built" ] && cp "$built" "$work/vfio_user.ko" && dkms_ko="$work/vfio_user.ko"
		t "dkms remove" dkms_run remove --all --no-depmod
		t "the module is gone after dkms remove" test ! -e "$inst"
	else
		skip "dkms install" "dkms install needs root"
		[ -f "$built" ] && cp "$built" "$work/vfio_user.ko" && dkms_ko="$work/vfio_user.ko"
	fi
	end
}

# ---- Debian packages --------------------------------------------------

debs="vfio-user-dkms libvfio-user-client0 libvfio-user-client-dev vfio-user-tools"

deb_of() {
	find "$work/deb" -maxdepth 1 -name "$1_*.deb" | head -n 1
}

versions_agree() {
	local dkms_v deb_v
	dkms_v=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
	deb_v=$(cd "$top" && dpkg-parsechangelog -S Version)
	echo "Makefile $version, dkms.conf $dkms_v, debian/changelog $deb_v"
	[ -n "$version" ] && [ "$version" = "$dkms_v" ] && [ "$version" = "$deb_v" ]
}

copy_tree() {
	rm -rf "$work/deb"
	mkdir -p "$work/deb/src"
	tar -C "$top" --exclude=./build --exclude=./.git -cf - . | tar -C "$work/deb/src" -xf -
}

build_debs() {
	(cd "$work/deb/src" && dpkg-buildpackage -b -us -uc </dev/null)
}

all_debs_built() {
	local p missing=""
	for p in $debs; do
		[ -n "$(deb_of "$p")" ] || missing="$missing $p"
	done
	ls "$work/deb"
	[ -z "$missing" ] || { echo "not built:$missing"; return 1; }
}

run_lintian() {
	local changes rc
	changes=$(ls "$work"/deb/*.changes) || return 1
	# Tags are printed at every level; errors and warnings fail.
	lintian --info --fail-on error,warning "$changes" 2>&1 |
		grep -v '^running with root privileges is not recommended!$'
	rc=${PIPESTATUS[0]}
	return "$rc"
}

part_deb() {
	begin deb
	t "Makefile, dkms.conf and debian/changelog agree on the version" versions_agree
	t "a copy of the tree" copy_tree
	t "dpkg-buildpackage -b -us -uc" build_debs
	t "it builds $debs" all_debs_built
	t "lintian: no error, no warning" run_lintian
	end
}

# ---- the packages in a staging tree, and pkg-config -------------------

stage="$work/root"

unpack_debs() {
	local p deb
	rm -rf "$stage"
	for p in $debs; do
		deb=$(deb_of "$p")
		[ -n "$deb" ] || { echo "no $p package"; return 1; }
		dpkg-deb -x "$deb" "$stage" || return 1
	done
}

part_pkg_config() {
	local rc
	if ! unpack_debs >"$work/logs/unpack.log" 2>&1; then
		begin pkg-config
		t "the packages unpack into a staging tree" failed_with "$work/logs/unpack.log"
		end
		return
	fi
	# The autopkgtest, on the staging tree: pkg-config prefixes its paths
	# with the sysroot, and ld.so and the shell look there first.
	rm -rf "$work/pkg-config"
	mkdir -p "$work/pkg-config"
	echo "# selftest: install: pkg-config"
	AUTOPKGTEST_TMP="$work/pkg-config" \
		PKG_CONFIG_LIBDIR="$stage/usr/lib/$multiarch/pkgconfig" \
		PKG_CONFIG_SYSROOT_DIR="$stage" \
		PATH="$stage/usr/bin:$PATH" \
		LD_LIBRARY_PATH="$stage/usr/lib/$multiarch" \
		sh "$top/debian/tests/pkg-config" 2>&1
	rc=$?
	echo "# selftest-exit: install: pkg-config $rc"
	[ $rc -eq 0 ] || failed=1

	begin man-example
	t "the EXAMPLES program of libvfio-user-client(3) builds with pkg-config" build_man_example
	t "it reads BAR0 of the packaged sample server" run_man_example
	end
}

# The program in the EXAMPLES section, as a reader would type it in.
build_man_example() {
	local d="$work/man-example" flags
	rm -rf "$d"
	mkdir -p "$d"
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$top/man/libvfio-user-client.3" |
		sed -n '/^\.EX/,/^\.EE/{/^\.E[XE]/d;p;}' | sed -n '/^#include/,/^}/p' |
		sed 's/\\e/\\/g; s/\\-/-/g' >"$d/example.c"
	cat "$d/example.c"
	flags=$(PKG_CONFIG_LIBDIR="$stage/usr/lib/$multiarch/pkgconfig" \
		PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs vfio-user-client) ||
		return 1
	# shellcheck disable=SC2086 # the flags are words
	cc -Wall -Wextra -Werror -o "$d/example" "$d/example.c" $flags
}

run_man_example() {
	local d="$work/man-example" pid rc
	"$stage/usr/bin/vfio-user-sample-server" --socket-path="$d/s.sock" &
	pid=$!
	for _ in $(seq 50); do
		[ -S "$d/s.sock" ] && break
		sleep 0.1
	done
	LD_LIBRARY_PATH="$stage/usr/lib/$multiarch" "$d/example" "$d/s.sock" >"$d/out"
	rc=$?
	kill "$pid"
	wait "$pid"
	cat "$d/out"
	[ "$rc" -eq 0 ] && grep -q '^register 0: 0x56555345$' "$d/out"
}

# ---- the packages in the VM -------------------------------------------

write_vm_script() {
	cat >"$1" <<'EOF'
#!/bin/sh
# In the VM: the packages' files over the image, the module DKMS built.
d=/install-check
echo "# selftest: install: vm-files"
echo "TAP version 13"
n=0
rc=0
t() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@" >/tmp/t.out 2>&1; then
		echo "ok $n $desc"
	else
		sed 's/^/# /' /tmp/t.out
		echo "not ok $n $desc"
		rc=1
	fi
}
t "the files in /usr are the packages' files" sha256sum -c $d/files.sha256
t "the module loaded is the one DKMS built" sha256sum -c $d/module.sha256
t "vfio_user is loaded" grep -q '^vfio_user ' /proc/modules
t "/dev/vfio-user exists" test -c /dev/vfio-user
echo "1..$n"
echo "# selftest-exit: install: vm-files $rc"

# vfio-user-ctl info from the packages, against the packaged sample server
VFIO_USER_BIN_DIR=/usr/bin ksft-run -l "install: packaged" $d/test-info.sh

# The client built against the packaged library, through /dev/vfio-user
echo "# selftest: install: vm-client"
echo "TAP version 13"
n=0
rc=0
vfio-user-sample-server --socket-path=/tmp/s.sock 2>/tmp/server.log &
server=$!
i=0
while [ ! -S /tmp/s.sock ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
t "the packaged sample server listens" test -S /tmp/s.sock
client_reads() {
	$d/client -k /tmp/s.sock >/tmp/client.out || return 1
	cat /tmp/client.out
	grep -q 'backend kernel bar0 0x56555345$' /tmp/client.out
}
t "the client attaches through /dev/vfio-user and reads BAR0" client_reads
kill $server
wait $server
echo "1..$n"
echo "# selftest-exit: install: vm-client $rc"
EOF
}

part_vm() {
	local vm="$work/vm" module=() rc f
	mkdir -p "$work/logs"
	rm -rf "$vm"
	{
		[ -d "$stage/usr" ] || unpack_debs
		mkdir -p "$vm/install-check"
		# What the image gets from the packages: programs and library.
		cp -a "$stage/usr" "$vm/"
		rm -rf "${vm:?}/usr/src" "${vm:?}/usr/include" "${vm:?}/usr/share"
		(cd "$vm" && find usr ! -type d -print0 | xargs -0 sha256sum) \
			>"$vm/install-check/files.sha256"
		sed -i 's|  usr/|  /usr/|' "$vm/install-check/files.sha256"
		cp "$top/tools/vfio-user-ctl/test-info.sh" "$vm/install-check/"
		cp "$work/pkg-config/client" "$vm/install-check/client"
		write_vm_script "$vm/install-check/run.sh"
		if [ -n "$dkms_ko" ]; then
			module=(--module "$dkms_ko")
			f=$dkms_ko
		else
			echo "no module from DKMS; using the project's build"
			make -s -C "$top" module-debian
			f="$top/build/kmod/debian/vfio_user.ko"
		fi
		echo "$(sha256sum <"$f" | cut -d' ' -f1)  /lib/modules/vfio_user.ko" \
			>"$vm/install-check/module.sha256"
	} >"$work/logs/vm-prepare.log" 2>&1 || {
		begin vm
		t "the VM's tree from the packages" failed_with "$work/logs/vm-prepare.log"
		end
		return
	}

	LD_LIBRARY_PATH="$stage/usr/lib/$multiarch" \
		"$here/vm-run.sh" --kernel debian --timeout 600 "${module[@]}" \
		--add "$vm" -- sh /install-check/run.sh 2>&1 | tee "$work/logs/vm.log"
	rc=${PIPESTATUS[0]}
	begin vm
	t "the VM ran the packages' files and exited cleanly (status $rc)" test "$rc" -eq 0
	end
}

# ---- main -------------------------------------------------------------

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(make-install man dkms deb pkg-config vm)
mkdir -p "$work"
for p in "${parts[@]}"; do
	case "$p" in
	make-install) rm -rf "$work/destdir" "$work/prefix"; part_make_install ;;
	man) part_man ;;
	dkms) rm -rf "$work/dkms"; part_dkms ;;
	deb) part_deb ;;
	pkg-config) part_pkg_config ;;
	vm)
		[ -n "$dkms_ko" ] || { [ -f "$work/vfio_user.ko" ] && dkms_ko="$work/vfio_user.ko"; }
		part_vm
		;;
	*) die "unknown part $p (make-install man dkms deb pkg-config vm)" ;;
	esac
done
exit $failed
