#!/bin/sh
# vm.sh - run the cgroupd shell suite on a real kernel inside a qemu VM.
#
# usage: sh scripts/vm.sh test [TEST...]     run scripts/suite/NN-TEST.sh (all by default)
#        sh scripts/vm.sh bench [NAME...]    run scripts/suite/bench-NAME.sh (all by default)
#        sh scripts/vm.sh fetch              only install the prerequisites and fetch the kernel
#        sh scripts/vm.sh -h
#
# The host has cgroup v2 without controllers, so everything that needs them
# (limits, OOM, memory pressure, pids, cpuset, io) is proved here: the Debian
# cloud kernel boots under qemu (software emulation) from an initramfs that
# holds busybox, build/cgroupbox with its applet links, the suite and the
# virtio-scsi modules; /init mounts cgroup2 with every controller at
# /sys/fs/cgroup, runs the suite as root and powers off. The console is
# streamed to stdout and to build/vm-<mode>.log (vm-<mode>-<arch>.log for
# a foreign ARCH); the exit status is the
# suite's (the guest's SUITE-EXIT=<status> line; no such line is a failure).
# The last line is `N passed, M failed`. Tests named nopsi-*.sh run in a
# second boot of the kernel with psi=0 (no pressure stall information).
#
# Prerequisites (qemu-system-x86, busybox-static, cpio; xz-utils or zstd when
# the kernel's modules are compressed) are installed with apt-get when
# missing and we are root. The kernel deb is fetched once into the cache.
#
# Environment:
#   CI=true              a missing piece is an error, never a skip
#   CGROUPD_VM_CACHE     kernel cache (default /var/cache/cgroupd-vm)
#   CGROUPD_VM_TIMEOUT   hard limit for the whole VM run in seconds (default 900)
#   CGROUPD_VM_BOOT_TIMEOUT  a guest that has not booted after this many seconds
#                        is stopped and booted once more (default 120)
#   CGROUPD_VM_STALL_TIMEOUT  likewise a guest whose console stays silent this
#                        long (default twice the per-test limit plus 60 s)
#   CGROUPD_VM_TEST_TIMEOUT  per-test limit inside the VM in seconds (default 240;
#                            600 for a benchmark)
#   CGROUPD_VM_VERBOSE=1 print every test's output, not only the failing ones'
#   CGROUPD_VM_MEM       the guest's RAM in MiB (default 1024)
#   CGROUPD_VM_SUITE_ENV space-separated NAME=VALUE words exported to every
#                        suite file in the guest (e.g. SERVICE_RUNS=5)
#
# A suite file may declare its own per-test limit with a line
# `# suite-timeout: SECONDS` among its first ten; in bench mode the VM's
# limit then grows to cover the declared limits of the selected files.
# bench-service, 26-protect and nopsi-reclaim need build/svcbench (`go test
# -c` of applets/bench/service: test code, so the shipped binary does not
# carry it) and a model file on the programs disk: both are made here when
# go is on the PATH and such a file is selected (or all of them).
#   CGROUPD_VM_ARCH      amd64 (default: qemu-system-x86_64, build/cgroupbox) or
#                        arm64 (qemu-system-aarch64 -M virt, package
#                        qemu-system-arm; build/linux-arm64/cgroupbox from
#                        `make cross-arm64`; the arm64 cloud kernel and
#                        busybox-static:arm64 are fetched with apt-get download
#                        into CGROUPD_VM_CACHE/arm64, adding the arm64 dpkg
#                        architecture only for that). The run's limit
#                        defaults to 1200 s there. In the guest the per-test
#                        limit and the suite's waits are stretched by its
#                        measured slowness (run-suite.sh, SUITE_SLOW).
#   CGROUPD_VM_KERNEL    use this vmlinuz instead of the cached Debian one
#                        (its modules are then looked up beside it in
#                        CGROUPD_VM_MODULES, a lib/modules/<ver> directory)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
cache=${CGROUPD_VM_CACHE:-/var/cache/cgroupd-vm}
ci=${CI:-false}
arch=${CGROUPD_VM_ARCH:-amd64}
# Per architecture: qemu, its package and machine, the console, the kernel
# metapackage, the binary under test, the default time limits.
case $arch in
amd64)
	qemu=qemu-system-x86_64 qemu_pkg=qemu-system-x86 machine="" cpu=max console=ttyS0
	kmeta=linux-image-cloud-amd64 bin=$build/cgroupbox vm_timeout=900 test_timeout=240 ;;
arm64)
	# pauth-impdef: an implementation-defined pointer-authentication
	# hash, much cheaper to emulate than the architected QARMA one.
	qemu=qemu-system-aarch64 qemu_pkg=qemu-system-arm machine="-M virt" cpu=max,pauth-impdef=on console=ttyAMA0
	kmeta=linux-image-cloud-arm64:arm64 bin=$build/linux-arm64/cgroupbox vm_timeout=1200 test_timeout=240
	cache=$cache/arm64 ;;
*)
	echo "test-vm: error: CGROUPD_VM_ARCH=$arch: want amd64 or arm64" >&2
	exit 2 ;;
esac
vm_timeout=${CGROUPD_VM_TIMEOUT:-$vm_timeout}
test_timeout=${CGROUPD_VM_TEST_TIMEOUT:-$test_timeout}
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci scsi_common scsi_mod virtio_scsi sd_mod"

usage() {
	sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p}' "$0"
}

say() { printf 'test-vm: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# skip REASON: outside CI a missing piece skips the VM suite with one line.
skip() {
	if [ "$ci" = true ]; then
		die "$* (CI=true: the VM suite must run)"
	fi
	printf 'test-vm: skipped: %s\n' "$*"
	exit 0
}

is_root() { [ "$(id -u)" -eq 0 ]; }

apt_updated=false
apt_update() {
	$apt_updated && return 0
	say "apt-get update"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
	apt_updated=true
}

# apt_install PKG...: install Debian packages (root only).
apt_install() {
	is_root || return 1
	command -v apt-get >/dev/null 2>&1 || return 1
	apt_update || return 1
	say "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# static_busybox: print the path of a statically linked busybox, if any.
static_busybox() {
	for b in /bin/busybox /usr/bin/busybox $(command -v busybox 2>/dev/null || true); do
		[ -x "$b" ] || continue
		# The guest has no libc: only a static busybox runs there.
		if LC_ALL=C ldd "$b" 2>&1 | grep -q 'not a dynamic executable'; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

# foreign_fetch DIR: apt-get download the kernel image that $kmeta names
# and busybox-static of $arch into DIR. apt needs the foreign dpkg
# architecture for that: it is added for the fetch and removed again if it
# was not there before (root only).
foreign_fetch() {
	added=false
	if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
		is_root || return 1
		say "dpkg --add-architecture $arch"
		dpkg --add-architecture "$arch" || return 1
		added=true
		apt_updated=false
	fi
	rc=0
	apt_update || rc=1
	if [ $rc -eq 0 ]; then
		pkg=$(apt-cache depends "$kmeta" 2>/dev/null | awk '/Depends: linux-image/{print $2; exit}')
		[ -n "$pkg" ] || { say "apt-cache knows no $kmeta"; rc=1; }
	fi
	if [ $rc -eq 0 ]; then
		say "fetching $pkg and busybox-static:$arch into $1"
		# apt's _apt sandbox user may not write the cache; that only warns.
		(cd "$1" && apt-get download "$pkg" "busybox-static:$arch" >&2) || rc=1
	fi
	if $added; then
		say "dpkg --remove-architecture $arch"
		dpkg --remove-architecture "$arch" || true
	fi
	return $rc
}

# guest_busybox: print the path of a static busybox for the guest; for a
# foreign guest that is busybox-static:$arch, unpacked in the cache with
# the kernel.
guest_busybox() {
	if [ "$arch" = amd64 ]; then
		static_busybox
		return
	fi
	[ -x "$cache/busybox/bin/busybox" ] || fetch_foreign_kernel || return 1
	echo "$cache/busybox/bin/busybox"
}

# fetch_foreign_kernel: fetch and unpack the kernel and busybox of $arch
# into $cache/kernel and $cache/busybox.
fetch_foreign_kernel() {
	rm -rf "$cache/deb" "$cache/kernel.tmp" "$cache/busybox.tmp"
	mkdir -p "$cache/deb"
	foreign_fetch "$cache/deb" || return 1
	kdeb=$(ls "$cache"/deb/linux-image-*.deb 2>/dev/null | head -n 1)
	bdeb=$(ls "$cache"/deb/busybox-static_*.deb 2>/dev/null | head -n 1)
	[ -n "$kdeb" ] && [ -n "$bdeb" ] || return 1
	dpkg-deb -x "$kdeb" "$cache/kernel.tmp" && dpkg-deb -x "$bdeb" "$cache/busybox.tmp" || return 1
	rm -rf "$cache/kernel" "$cache/busybox"
	mv "$cache/kernel.tmp" "$cache/kernel"
	mv "$cache/busybox.tmp" "$cache/busybox"
	rm -rf "$cache/deb"
}

prereqs() {
	missing=""
	command -v $qemu >/dev/null 2>&1 || missing="$missing $qemu_pkg"
	[ "$arch" != amd64 ] || static_busybox >/dev/null || missing="$missing busybox-static"
	command -v cpio >/dev/null 2>&1 || missing="$missing cpio"
	command -v gzip >/dev/null 2>&1 || missing="$missing gzip"
	command -v mkfs.ext4 >/dev/null 2>&1 || missing="$missing e2fsprogs"
	[ -z "$missing" ] && return 0
	if ! is_root; then
		skip "missing$missing and not root to install it (apt-get install$missing)"
	fi
	apt_install $missing || skip "apt-get install$missing failed"
	command -v $qemu >/dev/null 2>&1 || skip "$qemu still missing after install"
	[ "$arch" != amd64 ] || static_busybox >/dev/null || skip "no static busybox after installing busybox-static"
	command -v cpio >/dev/null 2>&1 || skip "cpio still missing after install"
}

# kernel: make sure the Debian cloud kernel is extracted in the cache; sets
# vmlinuz and moddir.
kernel() {
	if [ -n "${CGROUPD_VM_KERNEL:-}" ]; then
		vmlinuz=$CGROUPD_VM_KERNEL
		moddir=${CGROUPD_VM_MODULES:-}
		[ -r "$vmlinuz" ] || die "CGROUPD_VM_KERNEL=$vmlinuz: not readable"
		return 0
	fi
	vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
	if [ -z "$vmlinuz" ] && { ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; }; then
		alt=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/cgroupd-vm
		[ "$arch" = amd64 ] || alt=$alt/$arch
		say "$cache not writable, using $alt"
		cache=$alt
		mkdir -p "$cache" || skip "cannot create kernel cache $cache"
		vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
	fi
	if [ -z "$vmlinuz" ] && [ "$arch" != amd64 ]; then
		command -v apt-get >/dev/null 2>&1 || skip "no kernel in $cache and no apt-get to fetch $kmeta"
		fetch_foreign_kernel || skip "could not fetch $kmeta's kernel and busybox-static:$arch (root, apt-get and the Debian $arch archive needed)"
		vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
		[ -n "$vmlinuz" ] || die "$kmeta's kernel has no boot/vmlinuz-*"
	fi
	if [ -z "$vmlinuz" ]; then
		command -v apt-get >/dev/null 2>&1 || skip "no kernel in $cache and no apt-get to fetch linux-image-cloud-amd64"
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image/{print $2; exit}')
		if [ -z "$pkg" ]; then
			if is_root; then apt_update || true; fi
			pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image/{print $2; exit}')
		fi
		[ -n "$pkg" ] || skip "apt-cache knows no linux-image-cloud-amd64 (run apt-get update as root)"
		say "fetching kernel $pkg into $cache"
		rm -rf "$cache/deb" "$cache/kernel.tmp"
		mkdir -p "$cache/deb"
		# apt's _apt sandbox user may not write the cache; that only warns.
		(cd "$cache/deb" && apt-get download "$pkg" >&2) || skip "apt-get download $pkg failed"
		deb=$(ls "$cache"/deb/*.deb 2>/dev/null | head -n 1 || true)
		[ -n "$deb" ] || skip "apt-get download $pkg left no .deb in $cache/deb"
		dpkg-deb -x "$deb" "$cache/kernel.tmp" || skip "dpkg-deb -x $deb failed"
		mv "$cache/kernel.tmp" "$cache/kernel"
		rm -rf "$cache/deb"
		vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
		[ -n "$vmlinuz" ] || die "$pkg has no boot/vmlinuz-*"
	fi
	[ -r "$vmlinuz" ] || die "$vmlinuz is not readable"
	moddir=$(ls -d "$cache"/kernel/lib/modules/* 2>/dev/null | head -n 1 || true)
	[ -n "$moddir" ] || die "no lib/modules/<version> in $cache/kernel (remove $cache/kernel to refetch)"
}

# add_modules DIR: copy the virtio-scsi modules, decompressed, into DIR and
# write DIR/order (the insmod order); built-in ones are left out.
add_modules() {
	dst=$1
	mkdir -p "$dst"
	: >"$dst/order"
	[ -n "$moddir" ] || { say "no module directory: /dev/sda may be missing"; return 0; }
	for m in $modules; do
		f=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n 1)
		if [ -z "$f" ]; then
			if grep -q "/$m\.ko" "$moddir/modules.builtin" 2>/dev/null; then
				continue
			fi
			die "module $m is neither in $moddir nor built in"
		fi
		case $f in
		*.ko.xz)
			command -v xz >/dev/null 2>&1 || apt_install xz-utils || die "need xz to unpack $f"
			xz -dc "$f" >"$dst/$m.ko" ;;
		*.ko.zst)
			command -v zstd >/dev/null 2>&1 || apt_install zstd || die "need zstd to unpack $f"
			zstd -qdc "$f" >"$dst/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$dst/$m.ko" ;;
		*) cp "$f" "$dst/$m.ko" ;;
		esac
		echo "$m" >>"$dst/order"
	done
}

# earlyoom_files DIR: earlyoom (Debian's package, fetched once into the
# cache) and the shared libraries it needs, under DIR at their own paths;
# the guest runs it through DIR's dynamic loader (bench-hostoom compares it).
earlyoom_files() {
	dst=$1
	eo=$cache/earlyoom/usr/bin/earlyoom
	if [ ! -x "$eo" ]; then
		say "fetching earlyoom into $cache"
		rm -rf "$cache/earlyoom.deb" "$cache/earlyoom.tmp"
		mkdir -p "$cache/earlyoom.deb"
		(cd "$cache/earlyoom.deb" && apt-get download earlyoom >&2) || { apt_update && (cd "$cache/earlyoom.deb" && apt-get download earlyoom >&2); } ||
			die "apt-get download earlyoom failed"
		dpkg-deb -x "$cache"/earlyoom.deb/*.deb "$cache/earlyoom.tmp" || die "dpkg-deb -x earlyoom failed"
		mv "$cache/earlyoom.tmp" "$cache/earlyoom"
		rm -rf "$cache/earlyoom.deb"
	fi
	mkdir -p "$dst/usr/bin"
	cp "$eo" "$dst/usr/bin/earlyoom"
	for lib in $(ldd "$eo" | awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$dst$(dirname "$lib")"
		cp -L "$lib" "$dst$lib"
	done
}

# progs_image MODE: an ext4 image with busybox, cgroupbox and its links
# (and, for benchmarks, earlyoom), attached as NVMe and mounted read-only at
# /disk in the guest. Programs run from there are backed by a real disk:
# under host memory pressure the kernel evicts their text and must read it
# back, as on a real host (the initramfs is RAM and never evicted).
progs_image() {
	p=$vmdir/progs
	mkdir -p "$p/bin" "$p/usr/local/bin"
	cp "$busybox" "$p/bin/busybox"
	for a in sh sleep cat; do ln -s busybox "$p/bin/$a"; done
	cp "$bin" "$p/usr/local/bin/cgroupbox"
	for a in cgroupd cgroupctl memhog cpuhog; do
		ln -s cgroupbox "$p/usr/local/bin/$a"
	done
	size=64
	if [ "$1" = bench ] && [ "$arch" = amd64 ]; then earlyoom_files "$p"; fi
	if [ "$arch" = amd64 ] && [ "${want_svc:-false}" = true ]; then
		if [ -x "$build/svcbench" ]; then
			cp "$build/svcbench" "$p/usr/local/bin/svcbench"
			model=$cache/model-640M.bin
			if [ ! -s "$model" ]; then
				say "writing $model (the service benchmark's model file)"
				head -c 640M /dev/urandom >"$model.tmp" && mv "$model.tmp" "$model"
			fi
			cp "$model" "$p/model.bin"
			size=768
		fi
	fi
	truncate -s ${size}M "$vmdir/progs.img"
	mkfs.ext4 -q -F -L progs -d "$p" "$vmdir/progs.img" || die "mkfs.ext4 -d $p failed"
}

# initramfs MODE SELECTED: assemble and pack the guest's root.
initramfs() {
	mode=$1 selected=$2
	root=$vmdir/root
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/usr/local/bin" \
		"$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" \
		"$root/root" "$root/suite" "$root/lib/modules"
	cp "$busybox" "$root/bin/busybox"
	cp "$bin" "$root/usr/local/bin/cgroupbox"
	for a in cgroupd cgroupctl memhog cpuhog; do
		ln -s cgroupbox "$root/usr/local/bin/$a"
	done
	cp "$here/vm/init" "$root/init"
	cp "$here/vm/run-suite.sh" "$root/suite/run-suite.sh"
	cp "$here"/suite/*.sh "$root/suite/"
	chmod 0755 "$root/init" "$root"/suite/*.sh
	add_modules "$root/lib/modules"
	{
		echo "SUITE_MODE=$mode"
		echo "SUITE_SELECT='$selected'"
		echo "SUITE_TEST_TIMEOUT=$test_timeout"
		# Leave the guest a minute to report before the hard limit.
		echo "SUITE_BUDGET=$((vm_timeout - 60))"
		echo "SUITE_ARCH=$arch"
		echo "SUITE_VERBOSE=${CGROUPD_VM_VERBOSE:-0}"
		echo "SUITE_HOST_UNIX=$(date +%s)"
		for kv in ${CGROUPD_VM_SUITE_ENV:-}; do echo "export $kv"; done
	} >"$root/etc/suite.conf"
	(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$vmdir/initramfs.gz"
}

# not_run NAME: why scenario NAME cannot run on $arch (nothing when it can).
# A full run leaves such scenarios out and names them with the reason;
# naming one on the command line runs it anyway.
not_run() {
	case $arch:$1 in
	arm64:cpu-cap) echo "cpu.max throttling cannot be measured there: under aarch64 TCG a hog capped at 20000/100000 ran a whole CPU in all five 1 s windows once and a single window once (cpu.max written, cause not found); 03-limits still checks every cpu.max value lands" ;;
	arm64:nopsi-reclaim) echo "the service scenario's programs and its 640 MiB model go on the amd64 programs disk only (26-protect checks what a priority buys there too, without the scenarios)" ;;
	esac
}

# select_tests MODE ARGS...: check the names and print them, space-separated.
select_tests() {
	mode=$1
	shift
	sel=""
	for t in "$@"; do
		t=${t%.sh}
		case $mode in
		test) set -- "$here"/suite/[0-9][0-9]-"$t".sh "$here/suite/$t.sh" ;;
		bench) set -- "$here/suite/bench-$t.sh" "$here/suite/$t.sh" ;;
		esac
		found=""
		for f in "$@"; do
			[ -f "$f" ] && found=$(basename "$f" .sh) && break
		done
		if [ -z "$found" ]; then
			say "no such $mode: $t; known:"
			case $mode in
			test) ls "$here"/suite/[0-9][0-9]-*.sh | sed 's|.*/[0-9][0-9]-||;s|\.sh$||;s/^/  /' >&2 ;;
			bench) ls "$here"/suite/bench-*.sh 2>/dev/null | sed 's|.*/bench-||;s|\.sh$||;s/^/  /' >&2 ;;
			esac
			exit 2
		fi
		sel="$sel $found"
	done
	echo "${sel# }"
}

# boot MODE SELECTED PSI: one VM run of the selected suite files (all of
# the mode's when empty), the kernel booted with psi=PSI; the console goes
# to stdout and build/vm-<mode>[-psi0].log. Sets vm_status (the suite's
# exit status; 1 when the guest gave none) and vm_pass, vm_fail.
boot() {
	bmode=$1 bsel=$2 bpsi=$3
	vmdir=$(mktemp -d "$build/vm.XXXXXX")
	t0=$(date +%s)
	initramfs "$bmode" "$bsel"
	progs_image "$bmode"
	disk=$vmdir/disk.img
	truncate -s 320M "$disk" # sparse: swap for 28-swap, raw writes for 20-pressure-io
	log=$build/vm-$bmode
	[ "$arch" = amd64 ] || log=$log-$arch
	[ "$bpsi" = 1 ] || log=$log-psi$bpsi
	log=$log.log
	st=$vmdir/qemu.status
	say "booting $(basename "$vmlinuz") with psi=$bpsi (log: $log)"
	: >"$log"
	# Under software emulation the guest very rarely wedges with both
	# vCPUs spinning and nothing more on its console: once in ~30 boots
	# right after the firmware's "Booting from ROM...", and twice today in
	# the middle of 03-limits (also seen on the helpers' runs; the guest's
	# own per-test timeout never fired, so its kernel was not running the
	# suite any more; cause not found). A guest that prints no "guest boot:"
	# line within CGROUPD_VM_BOOT_TIMEOUT (120 s), or nothing at all for
	# CGROUPD_VM_STALL_TIMEOUT (twice the per-test limit plus a minute: a
	# test the guest times out prints its FAIL well before), is stopped, and
	# main boots once more. So is a guest whose kernel reports a soft
	# lockup (the same wedge, once with the console still printing: both
	# vCPUs stuck in the kernel for 48-130 s at the start of the psi=0
	# boot, a cgroupd and a sh on them; not seen again in 4 boots). A
	# suite that reports failures is never re-run.
	stall_to=${CGROUPD_VM_STALL_TIMEOUT:-$((${longest:-$test_timeout} * 2 + 60))}
	(
		n=0 size=-1 still=0
		while :; do
			[ -e "$st" ] && exit 0
			if ! grep -q '^guest boot:' "$log" 2>/dev/null; then
				if [ $n -ge "${CGROUPD_VM_BOOT_TIMEOUT:-120}" ]; then
					echo "test-vm: the guest did not boot within ${CGROUPD_VM_BOOT_TIMEOUT:-120}s: stopping qemu" >&2
					break
				fi
			elif grep -q 'watchdog: BUG: soft lockup' "$log" 2>/dev/null; then
				echo "test-vm: the guest's kernel reports a soft lockup: stopping qemu" >&2
				break
			else
				now=$(wc -c <"$log")
				if [ "$now" = "$size" ]; then
					still=$((still + 1))
				else
					size=$now still=0
				fi
				if [ $still -ge "$stall_to" ]; then
					echo "test-vm: the guest printed nothing for ${stall_to}s: stopping qemu" >&2
					break
				fi
			fi
			sleep 1
			n=$((n + 1))
		done
		: >"$vmdir/boot.hung"
		[ -s "$vmdir/qemu.pid" ] && kill "$(cat "$vmdir/qemu.pid")"
	) &
	watchdog=$!
	# The serial console ends lines with CR LF; the firmware sends escapes.
	{
		rc=0
		timeout -k 10 "$vm_timeout" $qemu $machine -pidfile "$vmdir/qemu.pid" \
			-accel tcg,thread=multi -cpu $cpu -m "${CGROUPD_VM_MEM:-1024}" -smp 2 \
			-kernel "$vmlinuz" -initrd "$vmdir/initramfs.gz" \
			-append "console=$console loglevel=3 psi=$bpsi panic=-1" \
			-nographic -no-reboot -net none \
			-device virtio-scsi-pci,id=scsi0 \
			-drive "file=$disk,if=none,id=d0,format=raw" \
			-device scsi-hd,drive=d0,bus=scsi0.0 \
			-drive "file=$vmdir/progs.img,if=none,id=p0,format=raw,readonly=on" \
			-device nvme,serial=progs,drive=p0 \
			</dev/null 2>&1 || rc=$?
		echo "$rc" >"$st"
	} | sed -u 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' | tee "$log"
	rc=$(cat "$st" 2>/dev/null || echo 1)
	kill "$watchdog" 2>/dev/null || true # it may have ended already
	wait "$watchdog" 2>/dev/null || true
	vm_hung=false
	[ -e "$vmdir/boot.hung" ] && vm_hung=true
	rm -rf "$vmdir"
	t1=$(date +%s)
	vm_status=$(sed -n 's/^SUITE-EXIT=\([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
	say "VM run took $((t1 - t0))s (qemu exit $rc)"
	if [ -z "$vm_status" ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			say "FAILED: the VM did not finish within ${vm_timeout}s"
		else
			say "FAILED: no SUITE-EXIT line from the guest (kernel panic or crash?)"
		fi
		vm_status=1
		[ -n "$summary" ] || summary="0 passed, 1 failed"
	fi
	vm_pass=${summary%% passed*}
	vm_fail=${summary#*passed, }
	vm_fail=${vm_fail%% failed*}
}

# boot_once_more MODE SELECTED PSI: boot, and boot again if the guest hung
# (no boot, or a silent console: the emulator, not the suite).
boot_once_more() {
	boot "$@"
	if $vm_hung; then
		say "the guest hung (the emulator, not a test): booting again"
		boot "$@"
	fi
}

# declared FILE: the `# suite-timeout: N` of a suite file, or nothing.
declared() { sed -n '1,10s/^# suite-timeout: *\([0-9][0-9]*\)$/\1/p' "$1"; }

# bench_limits SELECTED: the VM's limit covers the per-file limits of the
# selected benchmarks (all when empty), each its declared one or the
# default, unless CGROUPD_VM_TIMEOUT says otherwise.
bench_limits() {
	sum=120 longest=$test_timeout
	if [ -n "$1" ]; then
		set -- $(for t in $1; do echo "$here/suite/$t.sh"; done)
	else
		set -- "$here"/suite/bench-*.sh
	fi
	for f in "$@"; do
		d=$(declared "$f")
		sum=$((sum + ${d:-$test_timeout}))
		[ "${d:-0}" -gt "$longest" ] && longest=$d
	done
	[ -z "${CGROUPD_VM_TIMEOUT:-}" ] && [ "$sum" -gt "$vm_timeout" ] && vm_timeout=$sum
	return 0
}

# svcbench: build the service benchmark's programs (test code, not part of
# the shipped binary) when go is here; without, bench-service says so.
svcbench() {
	[ "$arch" = amd64 ] || return 0
	command -v go >/dev/null 2>&1 || return 0
	(cd "$repo" && CGO_ENABLED=0 go test -c -o "$build/svcbench" ./applets/bench/service) ||
		die "go test -c ./applets/bench/service failed"
}

main() {
	case ${1:-} in
	-h | --help) usage; exit 0 ;;
	test) mode=$1; shift ;;
	bench)
		mode=$1; shift
		# A benchmark repeats its scenario (bench-hostoom: 30 overloads,
		# about 4 minutes): a wider per-script limit than a test's.
		test_timeout=${CGROUPD_VM_TEST_TIMEOUT:-600} ;;
	fetch)
		prereqs
		kernel
		busybox=$(guest_busybox) || skip "no static busybox for $arch (busybox-static:$arch: apt-get download failed)"
		say "ready: $vmlinuz ($arch)"
		exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	selected=$(select_tests "$mode" "$@")
	if [ "$mode" = bench ]; then
		bench_limits "$selected"
	fi
	# The service scenario's programs and model (bench-service, 28-swap,
	# 26-protect, nopsi-reclaim): only for a run that may use them.
	want_svc=false
	case " $selected " in
	"  " | *" bench-service "* | *" 26-protect "* | *" 28-swap "* | *" nopsi-reclaim "*) want_svc=true; svcbench ;;
	esac
	if [ "$mode" = test ] && [ -z "$selected" ] && [ "$arch" != amd64 ]; then
		for f in "$here"/suite/[0-9][0-9]-*.sh "$here"/suite/nopsi-*.sh; do
			[ -f "$f" ] || continue
			n=$(basename "$f" .sh)
			why=$(not_run "${n#[0-9][0-9]-}")
			if [ -n "$why" ]; then
				say "not run on $arch: ${n#[0-9][0-9]-}: $why"
				continue
			fi
			selected="$selected $n"
		done
		selected=${selected# }
	fi
	case $arch in
	amd64) [ -x "$bin" ] || die "$bin is missing: run make build" ;;
	*) [ -x "$bin" ] || die "$bin is missing: run make cross-$arch" ;;
	esac
	prereqs
	kernel
	busybox=$(guest_busybox) || skip "no static busybox for $arch (busybox-static:$arch: apt-get download failed)"
	# A directory per run: several runs may share one work tree.
	mkdir -p "$build"
	trap 'rm -rf "${vmdir:-}"' EXIT
	trap 'exit 130' INT TERM
	# Tests named nopsi-*.sh need a kernel booted with psi=0: a boot of
	# their own, after the main one; the summary adds both up.
	main_sel="" nopsi_sel=""
	if [ -z "$selected" ]; then
		if [ "$mode" = test ]; then
			for f in "$here"/suite/nopsi-*.sh; do
				[ -f "$f" ] && nopsi_sel="$nopsi_sel $(basename "$f" .sh)"
			done
		fi
		main_sel=all
	else
		for t in $selected; do
			case $t in
			nopsi-*) nopsi_sel="$nopsi_sel $t" ;;
			*) main_sel="$main_sel $t" ;;
			esac
		done
	fi
	pass=0 fail=0 status=0
	if [ -n "$main_sel" ]; then
		[ "$main_sel" = all ] && main_sel=""
		boot_once_more "$mode" "${main_sel# }" 1
		pass=$((pass + vm_pass)) fail=$((fail + vm_fail))
		[ "$vm_status" -eq 0 ] || status=$vm_status
	fi
	if [ -n "$nopsi_sel" ]; then
		boot_once_more "$mode" "${nopsi_sel# }" 0
		pass=$((pass + vm_pass)) fail=$((fail + vm_fail))
		[ "$vm_status" -eq 0 ] || status=$vm_status
	fi
	echo "$pass passed, $fail failed"
	exit "$status"
}

main "$@"
