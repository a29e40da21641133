#!/bin/sh
# env: the VM gives the suite what it relies on: cgroup2 with every
# controller at /sys/fs/cgroup, PSI, /dev/sda at 8:0, the users tuser/other
# and the group cgroupd, and the cgroupbox applets on PATH.
. "$(dirname "$0")/lib.sh"

for c in cpuset cpu io memory pids; do
	assert_contains " $(cat "$CGMOUNT/cgroup.controllers") " " $c " "$CGMOUNT/cgroup.controllers"
done
for f in cpu memory io; do
	assert_grep_file "/proc/pressure/$f" '^some avg10=' "PSI $f"
done
[ -b /dev/sda ] || fail "/dev/sda is not a block device"
assert_eq "$(cat /sys/block/sda/dev)" "8:0" "/sys/block/sda/dev"
assert_eq "$(id -u tuser)" 1000 "uid of tuser"
assert_contains " $(id -Gn tuser) " " cgroupd " "groups of tuser"
assert_eq "$(id -u other)" 1001 "uid of other"
for a in cgroupd cgroupctl memhog cpuhog; do
	p=$(command -v "$a") || fail "$a is not on PATH"
	assert_eq "$(readlink "$p")" cgroupbox "link $p"
done
try cgroupctl -h
assert_contains "$OUT" "usage" "cgroupctl -h"
say "kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo)"
