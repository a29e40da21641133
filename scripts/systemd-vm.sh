#!/bin/sh
# systemd-vm.sh - run cgroupd as a systemd service (Type=notify,
# Delegate=yes) under a real systemd, PID 1 of a qemu VM.
#
# usage: sh scripts/systemd-vm.sh test [RELEASE]    build the root image if needed, boot, test
#        sh scripts/systemd-vm.sh image [RELEASE]   only build the cached root image
#        sh scripts/systemd-vm.sh -h
#
# RELEASE is the Debian release of the guest (default bookworm):
#   bookworm  systemd 252: scripts/systemd/cgroupd.service as shipped
#             (root image $CGROUPD_VM_CACHE/systemd/root-vN.img)
#   trixie    systemd 257: the same unit plus the drop-in
#             scripts/systemd/keep-jobs.conf (DelegateSubgroup=start,
#             KillMode=process), so that a crash of the daemon keeps the
#             jobs and the restarted daemon adopts them; the image also
#             holds Debian's postgresql (and pgbench), its unit disabled
#             (root-trixie-vN.img)
#   slurm     image only, for scripts/slurm-vm.sh: trixie with slurm-wlm,
#             slurmdbd, MariaDB and munge (root-slurm-vN.img)
#
# The root is a minimal Debian (debootstrap --variant=minbase with
# systemd, systemd-sysv and dbus, then the release's extra packages with
# apt-get in a chroot, their services disabled) built once into the VM
# cache as an ext4 image (made with mkfs.ext4 -d: no loop mounts). It
# boots the cached Debian cloud kernel (scripts/vm.sh fetch) with the
# root on NVMe (built into the cloud kernel; virtio-blk is a
# module) and qemu -snapshot, so the cached image is never written. A second
# small ext4 image carries build/cgroupbox, scripts/systemd/cgroupd.service,
# keep-jobs.conf, vm-test.sh (with poll.sh) and the release's name; the unit
# cgroupd-vmtest.service baked into the root mounts it, runs vm-test.sh,
# prints SUITE-EXIT=<status> on the console and powers off. The console
# goes to stdout and build/vm-systemd.log (bookworm) or
# build/vm-systemd-<release>.log; the last line is `N passed, M failed`.
#
# Prerequisites: qemu-system-x86, debootstrap and e2fsprogs (installed with
# apt-get when missing and we are root), the kernel in the cache.
#
# Environment:
#   CI=true              a missing piece is an error, never a skip
#   CGROUPD_VM_CACHE     cache directory (default /var/cache/cgroupd-vm)
#   CGROUPD_VM_TIMEOUT   hard limit for the VM run in seconds (default 900)
#   CGROUPD_DEBIAN_MIRROR  mirror for debootstrap (default: the first
#                        deb.debian.org-style URI of apt's sources)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
cache=${CGROUPD_VM_CACHE:-/var/cache/cgroupd-vm}
ci=${CI:-false}
release=bookworm

# setrel RELEASE: the release's image and what it adds to minbase. Bump a
# release's imgver when the baked part of its image (below) changes.
setrel() {
	release=$1
	case $release in
	bookworm)
		imgver=1
		img=$cache/systemd/root-v$imgver.img
		extra=""
		;;
	trixie)
		imgver=1
		img=$cache/systemd/root-trixie-v$imgver.img
		# postgresql-contrib: pgbench and the usual extensions.
		extra="postgresql postgresql-contrib"
		;;
	slurm)
		# scripts/slurm-vm.sh's nodes: trixie with Slurm (controller,
		# compute daemon, accounting through slurmdbd and MariaDB) and
		# munge; kmod to load the network driver the test disk carries.
		imgver=1
		img=$cache/systemd/root-slurm-v$imgver.img
		extra="slurm-wlm slurmdbd munge mariadb-server kmod iproute2"
		;;
	*) die "unknown release '$release' (bookworm, trixie or slurm)" ;;
	esac
}

usage() { sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p}' "$0"; }
say() { printf 'test-systemd: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
skip() {
	if [ "$ci" = true ]; then
		die "$* (CI=true: the systemd scenario must run)"
	fi
	printf 'test-systemd: skipped: %s\n' "$*"
	exit 0
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# need CMD PKG: install PKG with apt-get when CMD is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	is_root || skip "missing $1 and not root to install $2"
	say "apt-get install $2"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2; } ||
		skip "apt-get install $2 failed"
	command -v "$1" >/dev/null 2>&1 || skip "$1 still missing after installing $2"
}

# mirror: the Debian mirror apt already uses.
mirror() {
	if [ -n "${CGROUPD_DEBIAN_MIRROR:-}" ]; then
		echo "$CGROUPD_DEBIAN_MIRROR"
		return
	fi
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
		     /^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) { print $i; exit } }' |
		head -n 1)
	echo "${m:-http://deb.debian.org/debian}"
}

# image: build the cached root image once.
image() {
	[ -f "$img" ] && return 0
	is_root || skip "no $img and not root to debootstrap it"
	need debootstrap debootstrap
	need mkfs.ext4 e2fsprogs
	mkdir -p "$cache/systemd" || skip "cannot create $cache/systemd"
	tmp=$cache/systemd/build-$release.$$
	r=$tmp/root
	rm -rf "$tmp"
	mkdir -p "$tmp"
	trap 'cleanup_build' EXIT
	t0=$(date +%s)
	m=$(mirror)
	suite=$release
	[ "$release" = slurm ] && suite=trixie
	say "debootstrap $suite from $m (once; about 2 minutes)"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus "$suite" "$r" "$m" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
	say "debootstrap $suite took $(($(date +%s) - t0))s"
	[ -z "$extra" ] || chroot_install $extra
	echo cgroupd-vm >"$r/etc/hostname"
	: >"$r/etc/machine-id"
	# No login prompts on the console: the test unit owns it.
	ln -sf /dev/null "$r/etc/systemd/system/serial-getty@ttyS0.service"
	ln -sf /dev/null "$r/etc/systemd/system/getty@tty1.service"
	cat >"$r/usr/local/sbin/cgroupd-vmtest" <<'RUNNER'
#!/bin/sh
# Mount the test disk (the NVMe namespace holding run.sh), run it, report
# SUITE-EXIT=<status> and power off.
mkdir -p /mnt/t
found=""
for d in /dev/nvme*n1; do
	mount -o ro "$d" /mnt/t 2>/dev/null || continue
	[ -f /mnt/t/vm-test.sh ] && { found=$d; break; }
	umount /mnt/t
done
if [ -n "$found" ]; then
	echo "guest: test disk $found, kernel $(uname -r), systemd $(systemctl --version | head -n 1)"
	sh /mnt/t/vm-test.sh
	rc=$?
else
	echo "guest: no test disk with vm-test.sh"
	rc=1
fi
echo "SUITE-EXIT=$rc"
systemctl --no-block poweroff
RUNNER
	chmod 0755 "$r/usr/local/sbin/cgroupd-vmtest"
	cat >"$r/etc/systemd/system/cgroupd-vmtest.service" <<'UNIT'
[Unit]
Description=cgroupd systemd scenario
After=basic.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/cgroupd-vmtest
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
UNIT
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
	ln -sf ../cgroupd-vmtest.service "$r/etc/systemd/system/multi-user.target.wants/cgroupd-vmtest.service"
	rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r/debootstrap"
	mb=$(du -sm "$r" | cut -f1)
	mkfs.ext4 -q -F -L cgdroot -d "$r" "$tmp/root.img" "$((mb + 256))M" ||
		die "mkfs.ext4 -d failed"
	mv "$tmp/root.img" "$img"
	cleanup_build
	trap - EXIT
	say "built $img ($mb MiB of files, $release) in $(($(date +%s) - t0))s"
}

# cleanup_build: unmount what chroot_install mounted, remove the build tree
# (never crossing into a mount).
cleanup_build() {
	[ -n "${tmp:-}" ] || return 0
	umount "$r/proc" 2>/dev/null || true
	rm -rf --one-file-system "$tmp"
}

# chroot_install PKG...: apt-get install PKG... in the debootstrap'd root,
# from the same mirror. No service starts in the chroot (policy-rc.d), and
# every service the packages enable is disabled again: the tests start
# what they need.
chroot_install() {
	t1=$(date +%s)
	say "apt-get install $* in the $release root"
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 0755 "$r/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
	before=$(ls -d "$r"/etc/systemd/system/*.wants/* 2>/dev/null || true)
	mount -t proc proc "$r/proc" || die "mount proc in the chroot"
	{
		chroot "$r" apt-get update &&
			DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y --no-install-recommends "$@"
	} >"$tmp/apt.log" 2>&1 || { tail -n 30 "$tmp/apt.log" >&2; die "apt-get install $* failed in the chroot (log above)"; }
	chroot "$r" apt-get clean >/dev/null 2>&1 || true
	umount "$r/proc" || die "umount the chroot's proc"
	rm -f "$r/usr/sbin/policy-rc.d"
	: >"$r/etc/resolv.conf"
	# The packages' services stay off at boot: the links they added go.
	for w in "$r"/etc/systemd/system/*.wants/*; do
		[ -L "$w" ] || continue
		case "
$before
" in *"
$w
"*) continue ;; esac
		rm -f "$w"
	done
	say "apt-get install in the chroot took $(($(date +%s) - t1))s"
}

# kernel: the cached Debian cloud kernel (scripts/vm.sh fetch puts it there).
kernel() {
	vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
	if [ -z "$vmlinuz" ]; then
		[ -f "$here/vm.sh" ] || skip "no kernel in $cache"
		sh "$here/vm.sh" fetch >&2 || skip "scripts/vm.sh fetch failed"
		vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
	fi
	[ -n "$vmlinuz" ] && [ -r "$vmlinuz" ] || skip "no readable kernel in $cache/kernel/boot"
}

test_vm() {
	[ -x "$build/cgroupbox" ] || die "$build/cgroupbox is missing: run make build"
	need qemu-system-x86_64 qemu-system-x86
	need mkfs.ext4 e2fsprogs
	kernel
	image
	mkdir -p "$build"
	vmdir=$(mktemp -d "$build/vm-systemd.XXXXXX")
	trap 'rm -rf "$vmdir"' EXIT
	trap 'exit 130' INT TERM
	t0=$(date +%s)
	mkdir "$vmdir/t"
	cp "$build/cgroupbox" "$here/systemd/cgroupd.service" "$here/systemd/keep-jobs.conf" "$here/systemd/vm-test.sh" \
		"$here/systemd/poll.sh" "$vmdir/t/"
	# The guest checks that it booted the release asked for.
	echo "$release" >"$vmdir/t/release"
	mkfs.ext4 -q -F -L cgdtest -d "$vmdir/t" "$vmdir/test.img" 64M || die "mkfs.ext4 -d (test disk) failed"
	log=$build/vm-systemd.log
	st=$vmdir/qemu.status
	[ "$release" = bookworm ] || log=$build/vm-systemd-$release.log
	say "booting $(basename "$vmlinuz") with systemd, Debian $release (root $img, log: $log)"
	# -snapshot: the writes of this run go to a temporary file, never to
	# the cached image.
	{
		rc=0
		timeout -k 10 "${CGROUPD_VM_TIMEOUT:-900}" qemu-system-x86_64 \
			-accel tcg,thread=multi -cpu max -m 1024 -smp 2 -snapshot \
			-kernel "$vmlinuz" \
			-append "root=/dev/nvme0n1 rw console=ttyS0 loglevel=3 psi=1 panic=-1 systemd.unified_cgroup_hierarchy=1 systemd.show_status=error" \
			-nographic -no-reboot -net none \
			-drive "file=$img,if=none,id=r,format=raw" -device nvme,serial=root,drive=r \
			-drive "file=$vmdir/test.img,if=none,id=t,format=raw" -device nvme,serial=test,drive=t \
			</dev/null 2>&1 || rc=$?
		echo "$rc" >"$st"
	} | sed -u 's/\r$//; s/\x1b\][^\x07]*\x07//g; s/\x1b\[[0-9;:?!]*[A-Za-z]//g; s/\x1bc//g' | tee "$log"
	rc=$(cat "$st" 2>/dev/null || echo 1)
	status=$(sed -n 's/^SUITE-EXIT=\([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
	say "systemd VM run took $(($(date +%s) - t0))s (qemu exit $rc)"
	if [ -z "$status" ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			say "FAILED: the VM did not finish within ${CGROUPD_VM_TIMEOUT:-900}s"
		else
			say "FAILED: no SUITE-EXIT line from the guest"
		fi
		[ -n "$summary" ] || summary="0 passed, 1 failed"
		echo "$summary"
		exit 1
	fi
	[ -n "$summary" ] || summary="0 passed, 1 failed"
	[ "$status" -eq 0 ] || case $summary in *", 0 failed") summary="${summary%, 0 failed}, 1 failed" ;; esac
	echo "$summary"
	exit "$status"
}

main() {
	case ${1:-} in
	-h | --help) usage; exit 0 ;;
	image) setrel "${2:-bookworm}"; image; exit 0 ;;
	test) setrel "${2:-bookworm}"; test_vm ;;
	*) usage >&2; exit 2 ;;
	esac
}

main "$@"
