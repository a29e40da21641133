#!/bin/sh
# slurm-vm.sh - a two-node Slurm cluster in two qemu VMs (Debian trixie,
# systemd as PID 1), connected by qemu's socket networking on the loopback.
#
# usage: sh scripts/slurm-vm.sh test     build the image if needed, boot both nodes, test
#        sh scripts/slurm-vm.sh image    only build the cached image
#        sh scripts/slurm-vm.sh -h
#
# The image is scripts/systemd-vm.sh's `slurm` variant: trixie minbase with
# Debian's slurm-wlm (slurmctld, slurmd, the client commands), slurmdbd
# with MariaDB (sacct needs the accounting database) and munge, every
# service off at boot. Both VMs boot it with -snapshot; each gets its own
# small test disk with scripts/slurm/node.sh (as vm-test.sh, which the
# image's runner unit starts), the configuration in scripts/slurm/, the
# network driver's modules from the cached kernel (virtio-net is a module
# in the cloud kernel), build/cgroupbox with the systemd unit and its
# keep-jobs.conf drop-in, and its node number. Each node runs cgroupd as
# a systemd service beside slurmd. Node 1 (n1, 10.99.0.1) runs munge,
# MariaDB, slurmdbd, slurmctld and slurmd; node 2 (n2, 10.99.0.2) runs
# munge and slurmd. Their only network
# is one virtio NIC each on a qemu socket network: UDP multicast
# 230.0.0.1:$CGROUPD_SLURM_PORT bound to 127.0.0.1 (no other address, no
# host network). Node 1 submits the jobs (sbatch, a job array over both
# nodes) and checks sacct; when it powers off, node 2 is told to stop
# (SIGTERM to its qemu: the guest powers off). Consoles:
# build/vm-slurm-n1.log and build/vm-slurm-n2.log; the last line is
# `N passed, M failed` from node 1.
#
# Environment:
#   CGROUPD_VM_CACHE     cache directory (default /var/cache/cgroupd-vm)
#   CGROUPD_VM_TIMEOUT   hard limit for node 1's run in seconds (default 1500)
#   CGROUPD_SLURM_PORT   the multicast port (default 12399)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
cache=${CGROUPD_VM_CACHE:-/var/cache/cgroupd-vm}
img=""
port=${CGROUPD_SLURM_PORT:-12399}

usage() { sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p}' "$0"; }
say() { printf 'test-slurm: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

image() {
	sh "$here/systemd-vm.sh" image slurm || die "building the slurm image failed"
	img=$(ls "$cache"/systemd/root-slurm-v*.img 2>/dev/null | sort -V | tail -n 1)
	[ -n "$img" ] || die "no root-slurm image in $cache/systemd"
}

# disk N DIR: node N's test disk.
disk() {
	d=$2/n$1
	mkdir -p "$d/modules"
	cp "$here/slurm/node.sh" "$d/vm-test.sh"
	cp "$here/systemd/poll.sh" "$d/"
	cp "$here/slurm/slurm.conf" "$here/slurm/cgroup.conf" "$here/slurm/slurmdbd.conf" "$d/"
	cp "$build/cgroupbox" "$here/systemd/cgroupd.service" "$here/systemd/keep-jobs.conf" "$d/"
	echo "$1" >"$d/node"
	# virtio-net and what it needs (the guest runs depmod and modprobe).
	for m in net/core/failover drivers/net/net_failover drivers/virtio/virtio drivers/virtio/virtio_ring \
		drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci \
		drivers/net/virtio_net; do
		f=$moddir/kernel/$m.ko
		[ -f "$f" ] || die "no $f in the kernel cache"
		mkdir -p "$d/modules/kernel/${m%/*}"
		cp "$f" "$d/modules/kernel/$m.ko"
	done
	cp "$moddir/modules.builtin" "$moddir/modules.order" "$d/modules/" 2>/dev/null || true
	mkfs.ext4 -q -F -L cgdtest -d "$d" "$2/test-n$1.img" 64M || die "mkfs.ext4 -d (node $1's disk) failed"
}

# boot N: start node N's qemu in the background; its pid in $vmdir/qemu-nN.pid.
boot() {
	log=$build/vm-slurm-n$1.log
	(
		timeout -k 10 "$2" qemu-system-x86_64 \
			-accel tcg,thread=multi -cpu max -m 1024 -smp 2 -snapshot \
			-kernel "$vmlinuz" \
			-append "root=/dev/nvme0n1 rw console=ttyS0 loglevel=3 psi=1 panic=-1 systemd.unified_cgroup_hierarchy=1 systemd.show_status=error systemd.hostname=n$1" \
			-nographic -no-reboot \
			-netdev "socket,id=n,mcast=230.0.0.1:$port,localaddr=127.0.0.1" \
			-device "virtio-net-pci,netdev=n,mac=52:54:00:99:00:0$1" \
			-drive "file=$img,if=none,id=r,format=raw" -device nvme,serial=root,drive=r \
			-drive "file=$vmdir/test-n$1.img,if=none,id=t,format=raw" -device nvme,serial=test,drive=t \
			</dev/null 2>&1 &
		echo $! >"$vmdir/qemu-n$1.pid"
		wait $! || echo $? >"$vmdir/qemu-n$1.rc"
	) | sed -u 's/\r$//; s/\x1b\][^\x07]*\x07//g; s/\x1b\[[0-9;:?!]*[A-Za-z]//g; s/\x1bc//g' | sed -u "s/^/n$1| /" | tee "$log" &
}

test_vm() {
	[ -x "$build/cgroupbox" ] || die "$build/cgroupbox is missing: run make build"
	command -v qemu-system-x86_64 >/dev/null || die "no qemu-system-x86_64 (make deps)"
	vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
	[ -n "$vmlinuz" ] || die "no kernel in $cache (sh scripts/vm.sh fetch)"
	kver=${vmlinuz##*/vmlinuz-}
	moddir=$cache/kernel/lib/modules/$kver
	[ -d "$moddir" ] || die "no $moddir"
	image
	mkdir -p "$build"
	vmdir=$(mktemp -d "$build/vm-slurm.XXXXXX")
	trap 'rm -rf "$vmdir"' EXIT
	trap 'exit 130' INT TERM
	disk 1 "$vmdir"
	disk 2 "$vmdir"
	t0=$(date +%s)
	say "booting n1 and n2 (root $img; multicast 230.0.0.1:$port on 127.0.0.1)"
	boot 2 "$((${CGROUPD_VM_TIMEOUT:-1500} + 60))"
	boot 1 "${CGROUPD_VM_TIMEOUT:-1500}"
	# Node 1 decides: wait for its qemu to end, then stop node 2's.
	while [ ! -s "$vmdir/qemu-n1.pid" ]; do sleep 1; done
	p1=$(cat "$vmdir/qemu-n1.pid")
	while kill -0 "$p1" 2>/dev/null; do sleep 2; done
	p2=$(cat "$vmdir/qemu-n2.pid" 2>/dev/null || true)
	[ -n "$p2" ] && kill -TERM "$p2" 2>/dev/null || true
	wait
	say "slurm VMs took $(($(date +%s) - t0))s"
	log=$build/vm-slurm-n1.log
	status=$(sed -n 's/^n1| SUITE-EXIT=\([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	summary=$(sed -n 's/^n1| \([0-9][0-9]* passed, [0-9][0-9]* failed\)$/\1/p' "$log" | tail -n 1)
	[ -n "$summary" ] || summary="0 passed, 1 failed"
	if [ -z "$status" ]; then
		say "FAILED: no SUITE-EXIT line from n1"
		echo "$summary"
		exit 1
	fi
	# Node 2 reports its own checks on its console.
	if grep -q '^n2| \[[0-9.]*\] n2: FAIL' "$build/vm-slurm-n2.log" || ! grep -q 'n2: ok: slurmd started' "$build/vm-slurm-n2.log"; then
		say "FAILED: node 2 (build/vm-slurm-n2.log)"
		[ "$status" -ne 0 ] || summary="${summary%, 0 failed}, 1 failed"
		echo "$summary"
		exit 1
	fi
	echo "$summary"
	exit "$status"
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
image) image; say "image: $img" ;;
test) test_vm ;;
*) usage >&2; exit 2 ;;
esac
