#!/bin/sh
# suite-timeout: 420
# swap: the service scenario (service.sh) on a host with swap (issue 23):
# the scratch disk as 320 MiB of swap beside 1 GiB of RAM. With swap the
# kernel makes room by swapping anonymous memory out, the service's heap
# included, before it runs out; the reclaim rule acts on the same onset of
# reclaim as without swap, and the headroom rule waits for swap too
# (--host-swap-kill-pct). Under cgroupd's defaults: a batch that grows
# fast, or leaks slowly, toward all of RAM is the one killed, the
# service survives, the kernel OOM killer never fires, and no request is
# more than 50 ms late (at most 1 %, the emulator's own hiccups); a batch
# that grows to 50 % of RAM and holds it is not killed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"
. "$(dirname "$0")/service.sh"

if [ "$(uname -m)" != x86_64 ]; then
	# svcbench and its model are on the amd64 programs disk only.
	say "the service scenarios run on amd64 only: done here"
	exit 0
fi
swap_on
say "swap: $SV_SWAP_MB MiB on /dev/sda, RAM $total_mb MiB"

for sc in fast slow; do
	say "$sc with swap: the batch is stopped, the service keeps its latency"
	service_run cgroupd "$sc"
	assert_eq "$SV_FIRST" batch "$sc: first to die"
	assert_eq "$SV_SVC" 1 "$sc: service survived"
	assert_eq "$SV_OOM" 0 "$sc: kernel OOM kills"
	assert_few_late "$sc: "
done

say "big-stable with swap at 40 MiB/s: a batch at 50 % that holds is not killed"
service_run cgroupd bigslow
assert_eq "$SV_FIRST" none "first to die"
assert_eq "$SV_OOM" 0 "kernel OOM kills"
swap_off
