#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a QEMU VM (software emulation) with vfio_user.ko loaded and run one
# command in it; exit with that command's status.
#
#   vm-run.sh [--kernel debian|debian612|debug] [--add DIR]...
#             [--module KO|--no-module] [--timeout SECS] [--memory MB]
#             [--show-boot] -- CMD [ARGS...]
#
# Kernels: debian is Debian 12's own (6.1), debian612 the 6.12 line Debian
# 12 also carries (linux-image-6.12-amd64), each with the module built
# against its headers (make module-debian, make module-debian612); debug
# is the 6.1 debug kernel (scripts/build-debug-kernel.sh). Neither Debian
# kernel needs a module of its own in the VM: the console, initramfs,
# devtmpfs, debugfs, eventfd, memfd and Unix sockets are built in.
#
# The initramfs holds busybox, the module (/lib/modules/vfio_user.ko), the
# project's programs (build/bin on PATH), the selftests (/selftests), this
# runner's helpers and every DIR given with --add (copied into /). Shared
# libraries that the ELF files need are copied along so they run there.
#
# A kernel splat on the console (WARN, BUG, Oops, KASAN, UBSAN, lockdep,
# hung task, soft lockup, kmemleak report) fails the run even when the
# command passed. After the command the module must unload; on the debug
# kernel a kmemleak scan follows, and any report fails the run.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib.sh"

kernel=debian
adds=()
module=""
no_module=0
timeout=600
memory=2048
show_boot=0

usage() {
	sed -n '4,17p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) kernel=$2; shift 2 ;;
	--add) adds+=("$2"); shift 2 ;;
	--module) module=$2; shift 2 ;;
	--no-module) no_module=1; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--show-boot) show_boot=1; shift ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) echo "vm-run: unknown option $1" >&2; usage ;;
	esac
done
[ $# -gt 0 ] || usage

case "$kernel" in
debian|debian612)
	vmlinuz=$(kernel_vmlinuz "$kernel")
	flavor=$kernel
	;;
debug)
	kdir=$("$here/build-debug-kernel.sh")
	vmlinuz="$kdir/arch/x86/boot/bzImage"
	flavor=debug
	;;
*)
	die "--kernel must be debian, debian612 or debug"
	;;
esac
[ -r "$vmlinuz" ] || die "kernel image $vmlinuz not readable"

if [ $no_module -eq 0 ] && [ -z "$module" ]; then
	make -s -C "$top" "module-$flavor" >&2
	module="$top/build/kmod/$flavor/vfio_user.ko"
fi
if [ $no_module -eq 0 ]; then
	[ -f "$module" ] || die "module $module not found"
fi
for d in "${adds[@]+"${adds[@]}"}"; do
	[ -d "$d" ] || die "--add $d: not a directory"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vfio-user-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib/modules}

# busybox and its applets
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

[ $no_module -eq 1 ] || cp "$module" "$root/lib/modules/vfio_user.ko"
if [ -d "$top/build/bin" ]; then
	cp -a "$top/build/bin/." "$root/usr/bin/"
fi
if [ -d "$top/build/selftests-install" ]; then
	mkdir -p "$root/selftests"
	cp -a "$top/build/selftests-install/." "$root/selftests/"
fi
cp "$here/ksft-run.sh" "$root/usr/bin/ksft-run"
for d in "${adds[@]+"${adds[@]}"}"; do
	cp -a "$d/." "$root/"
done

# Shared libraries for every dynamically linked ELF file in the image.
find "$root" -type f -perm -u+x -print0 | while IFS= read -r -d '' f; do
	head -c 4 "$f" | grep -q 'ELF' || continue
	ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true
done | sort -u | while read -r lib; do
	[ -e "$lib" ] || continue
	[ -e "$root$lib" ] || cp -L --parents "$lib" "$root"
done

quote() {
	local out="" a
	for a in "$@"; do
		out+="'${a//\'/\'\\\'\'}' "
	done
	printf '%s\n' "$out"
}
quote "$@" >"$root/etc/vmrun.cmd"
cat >"$root/etc/vmrun.env" <<EOF
export VMRUN_KERNEL=$kernel
export VFIO_USER_KO=$([ $no_module -eq 1 ] || echo /lib/modules/vfio_user.ko)
EOF

cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up 2>/dev/null
. /etc/vmrun.env

leaks=/sys/kernel/debug/kmemleak
# Forget whatever boot left behind; only the command's leaks count.
[ -w $leaks ] && echo clear >$leaks

rc=0
if [ -n "$VFIO_USER_KO" ]; then
	if ! insmod "$VFIO_USER_KO"; then
		echo "VMRUN-ERROR: insmod $VFIO_USER_KO failed"
		rc=125
	fi
fi
echo "VMRUN-START"
if [ $rc -eq 0 ]; then
	cd /root
	sh /etc/vmrun.cmd </dev/null
	rc=$?
	cd /
fi
echo "VMRUN-END"
if [ -n "$VFIO_USER_KO" ] && grep -q '^vfio_user ' /proc/modules; then
	if ! rmmod vfio_user; then
		echo "VMRUN-ERROR: vfio_user cannot be unloaded after the command (a reference leaked?)"
		[ $rc -ne 0 ] || rc=1
	fi
fi
if [ -w $leaks ]; then
	# kmemleak reports only objects older than 5 s.
	sleep 6
	echo scan >$leaks
	echo scan >$leaks
	echo "VMRUN-KMEMLEAK-BEGIN"
	cat $leaks
	echo "VMRUN-KMEMLEAK-END"
fi
echo "VMRUN-DMESG-BEGIN"
dmesg
echo "VMRUN-DMESG-END"
echo "VMRUN-EXIT=$rc"
reboot -f
EOF
chmod +x "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) |
	gzip -1 >"$work/initramfs.cpio.gz"

log="$work/console.log"
append="console=ttyS0 loglevel=5 panic=-1 nokaslr"
append+=" rdinit=/init hung_task_panic=0 kmemleak=on"

set +e
timeout -k 10 "$timeout" qemu-system-x86_64 \
	-machine pc -accel tcg -cpu max -smp 2 -m "$memory" \
	-nographic -no-reboot -nodefaults -serial stdio -display none \
	-kernel "$vmlinuz" -initrd "$work/initramfs.cpio.gz" \
	-append "$append" </dev/null 2>&1 | sed -u 's/\r//g' | tee "$log" |
	awk -v show_boot=$show_boot '
		/^VMRUN-START$/ { started = 1; next }
		/^VMRUN-(KMEMLEAK|DMESG)-BEGIN$/ { hidden = 1; next }
		/^VMRUN-(KMEMLEAK|DMESG)-END$/ { hidden = 0; next }
		/^VMRUN-END$/ { started = 0; next }
		/^VMRUN-EXIT=/ { next }
		hidden { next }
		started || show_boot || /^VMRUN-ERROR/ { print; fflush() }
	'
qemu_rc=${PIPESTATUS[0]}
set -e

if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	echo "vm-run: the VM did not finish within ${timeout} s; stopped it (stuck test or kernel?)" >&2
	tail -n 30 "$log" | sed 's/^/vm-run:   /' >&2
	exit 124
fi

status=$(sed -n 's/^VMRUN-EXIT=\([0-9]*\)$/\1/p' "$log" | tail -n 1)

# Anything that looks like a kernel splat fails the run.
splat_re='(WARNING:|BUG:|Oops|general protection fault|Kernel panic|kernel BUG at'
splat_re+='|KASAN|UBSAN|possible recursive locking|circular locking dependency'
splat_re+='|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked'
splat_re+='|soft lockup|hard LOCKUP|unreferenced object|Call Trace:)'
splats=$(grep -E "$splat_re" "$log" | grep -v '^VMRUN-' | sort -u || true)
if [ -n "$splats" ]; then
	echo "vm-run: kernel splat on $kernel kernel; failing the run:" >&2
	printf '%s\n' "$splats" | head -n 40 | sed 's/^/vm-run:   /' >&2
	sed -n '/VMRUN-KMEMLEAK-BEGIN/,/VMRUN-KMEMLEAK-END/p' "$log" | head -n 60 >&2
	awk '/cut here|BUG:|KASAN|UBSAN|Oops|unreferenced object/ { p = 40 } p-- > 0' \
		"$log" | head -n 120 | sed 's/^/vm-run:   /' >&2
	exit 1
fi

if [ -z "$status" ]; then
	echo "vm-run: the VM ended without reporting a status (kernel panic or boot failure)" >&2
	tail -n 40 "$log" | sed 's/^/vm-run:   /' >&2
	exit 1
fi
exit "$status"
