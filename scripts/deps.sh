#!/bin/sh
# deps.sh - install the tools the tests use, so that none is skipped.
#
# usage: sh scripts/deps.sh [test] [cross]    (default: test)
#        sh scripts/deps.sh -h
#
#   test   what `make test` uses (`make deps` runs this):
#            tmux        the terminal tests of `cgroupctl top` (TestTopTerminal)
#            promtool    `promtool check metrics` on the daemon's metrics
#                        (Debian package prometheus: only /usr/bin/promtool is
#                        taken from it, so no Prometheus server is installed
#                        or started)
#            qemu-system-x86, busybox-static, cpio, gzip, e2fsprogs, xz-utils,
#            zstd        the VM suite (scripts/vm.sh)
#            debootstrap the systemd scenario's Debian root (scripts/systemd-vm.sh)
#   cross  what the other architectures use (.ci/run adds it):
#            qemu-system-arm    `make test-vm ARCH=arm64`
#            qemu-user-static   `make test-cross`
#
# A missing tool is installed with apt-get when we are root (apt-get update
# once, only when something is missing). The Debian kernels and the systemd
# root image are not tools: scripts/vm.sh and scripts/systemd-vm.sh fetch and
# cache those themselves. Prints one line: what was installed, or that all
# was there.
#
# When a tool cannot be installed (not root, no apt-get, or the install
# failed): outside CI one line per tool names what will be skipped and the
# exit status is 0; with CI=true that is a failure, exit 1, since CI must
# run every check.
#
# Environment:
#   CI=true              a tool that cannot be installed is an error
#   CGROUPD_DEPS_BINDIR  where promtool is installed (default /usr/local/bin)
set -eu

ci=${CI:-false}
bindir=${CGROUPD_DEPS_BINDIR:-/usr/local/bin}

usage() { sed -n '2,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p}' "$0"; }
say() { printf 'deps: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# The tools of each part: "command package what-skips-without-it".
tools_test='tmux tmux TestTopTerminal (cgroupctl top in a terminal)
promtool prometheus promtool check metrics in the daemon'\''s metrics tests
qemu-system-x86_64 qemu-system-x86 the VM suite and the systemd scenario
busybox busybox-static the VM suite (a static busybox for the guest)
cpio cpio the VM suite (initramfs)
gzip gzip the VM suite (initramfs)
mkfs.ext4 e2fsprogs the VM suite and the systemd scenario (disk images)
xz xz-utils the VM suite (xz-compressed kernel modules)
zstd zstd the VM suite (zstd-compressed kernel modules)
debootstrap debootstrap the systemd scenario (its Debian root)'
tools_cross='qemu-system-aarch64 qemu-system-arm make test-vm ARCH=arm64
qemu-arm-static qemu-user-static make test-cross (arm)
qemu-riscv64-static qemu-user-static make test-cross (riscv64)'

# have CMD: is CMD there (busybox: a statically linked one, the only kind
# that runs in the guest)?
have() {
	if [ "$1" = busybox ]; then
		for b in /bin/busybox /usr/bin/busybox $(command -v busybox 2>/dev/null || true); do
			[ -x "$b" ] && LC_ALL=C ldd "$b" 2>&1 | grep -q 'not a dynamic executable' && return 0
		done
		return 1
	fi
	command -v "$1" >/dev/null 2>&1
}

# promtool: take /usr/bin/promtool out of the prometheus package, without
# installing the package.
promtool_install() {
	tmp=$(mktemp -d)
	chmod 777 "$tmp" # apt-get download runs as _apt
	rc=0
	(cd "$tmp" && apt-get download -qq prometheus >&2 &&
		dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool) &&
		mkdir -p "$bindir" && install -m 0755 "$tmp/usr/bin/promtool" "$bindir/promtool" || rc=1
	rm -rf "$tmp"
	return $rc
}

parts=${*:-test}
list=""
for p in $parts; do
	case $p in
	test) list="$list$tools_test
" ;;
	cross) list="$list$tools_cross
" ;;
	-h | --help) usage; exit 0 ;;
	*) say "unknown part \"$p\": want test or cross (see sh scripts/deps.sh -h)"; exit 2 ;;
	esac
done

# What is missing: the commands, and their packages (each once).
missing="" pkgs="" promtool=false
nl='
'
IFS=$nl
for l in $list; do
	[ -n "$l" ] || continue
	cmd=${l%% *} rest=${l#* }
	pkg=${rest%% *}
	have "$cmd" && continue
	missing="$missing$l$nl"
	if [ "$pkg" = prometheus ]; then
		promtool=true
	else
		case " $pkgs " in *" $pkg "*) ;; *) pkgs="$pkgs $pkg" ;; esac
	fi
done
unset IFS

if [ -z "$missing" ]; then
	say "every tool for: $parts is there"
	exit 0
fi

why=""
if ! is_root; then
	why="not root"
elif ! command -v apt-get >/dev/null 2>&1; then
	why="no apt-get"
else
	export DEBIAN_FRONTEND=noninteractive
	say "installing:${pkgs}$($promtool && echo ' promtool (from prometheus)')"
	apt-get update -qq >&2 || say "apt-get update failed; trying the lists there are"
	if [ -n "$pkgs" ]; then
		# shellcheck disable=SC2086 # one word per package
		apt-get install -y -qq $pkgs >/dev/null || why="apt-get install$pkgs failed"
	fi
	if $promtool; then
		promtool_install || why="${why:+$why; }promtool: apt-get download prometheus or its extraction failed"
	fi
fi

# Check again: say what is still missing and what that skips.
bad=0
IFS=$nl
for l in $missing; do
	cmd=${l%% *} rest=${l#* }
	pkg=${rest%% *} what=${rest#* }
	have "$cmd" && continue
	bad=1
	say "$cmd missing (package $pkg${why:+; $why}): $what will be skipped"
done
unset IFS
if [ $bad -eq 0 ]; then
	say "installed what was missing; every tool for: $parts is there"
	exit 0
fi
if [ "$ci" = true ]; then
	say "error: CI=true: every check must run, so a missing tool is a failure"
	exit 1
fi
exit 0
