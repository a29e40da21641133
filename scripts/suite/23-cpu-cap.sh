#!/bin/sh
# cpu-cap: cpu.max really caps a cpuhog, measured by cpu.stat usage over
# windows of the guest's time, and an uncapped hog runs at least twice as
# much. Apart from 03-limits (which checks the values land in cpu.max) so
# that an architecture whose emulated timers cannot hold the measurement
# (vm.sh not_run) leaves out only this.
. "$(dirname "$0")/lib.sh"

daemon_start

say "cpu.max caps a cpuhog"
# usage_permille JOB: cpu.stat usage_usec of JOB as a permille of one CPU,
# the median of 5 windows of at least 1 s (polling /proc/uptime). A median:
# once (arm64 guest, busy host) a single 3 s window showed the capped hog at
# a whole CPU, and its kill then took 5 s to land: a guest stalled by its
# host charges the hog time it could not throttle. A stall spoils one
# window, not the median; a missing cap shows in every window.
usage_permille() {
	_w=""
	for _i in 1 2 3 4 5; do
		_u0=$(cgkey "$1" cpu.stat usage_usec)
		_t0=$(now_ms)
		wait_for "[ \$((\$(now_ms) - $_t0)) -ge 1000 ]" 30 "a 1 s window"
		_u1=$(cgkey "$1" cpu.stat usage_usec)
		_t1=$(now_ms)
		_w="$_w $(((_u1 - _u0) / (_t1 - _t0)))"
	done
	say "$1: per mille of a CPU in 1 s windows:$_w" >&2
	echo $_w | tr ' ' '\n' | sort -n | sed -n 3p
}
# One spinning thread, not two, so one vCPU stays free: once an amd64 run
# hung in this test (the log does not say where) until the VM's 900 s
# limit with both vCPUs busy throughout, and the arm64 run above saw the
# guest's timers stall under the two-thread hog. Likeliest culprit: two
# spinners starving the guest's timer interrupts under TCG on a busy host.
job capped --cpu-max 20000/100000 -- /usr/local/bin/cpuhog 1 120
wait_for '[ "$(cgkey capped cpu.stat usage_usec)" -gt 0 ]' 30 "the capped hog to run"
capped=$(usage_permille capped)
ok ctl kill capped
wait_rc capped 137
say "capped at 20%: $capped per mille of a CPU"
# Not yet explained: a capped hog once ran a whole CPU in all five windows
# (arm64). Show what the kernel had if it happens again.
FAIL_HINT='echo "capped: cpu.max $(cat "$ROOT/capped/cpu.max") in $(cat "$ROOT/cgroup.subtree_control")"; grep -E "usage|periods|throttled" "$ROOT/capped/cpu.stat" | tr "\n" " "; echo'
assert_le "$capped" 300 "cpu of a hog capped at 20000/100000 (per mille of one CPU)"
assert_ge "$capped" 20 "cpu of a hog capped at 20000/100000 (per mille; it must run)"
FAIL_HINT=""
job free -- /usr/local/bin/cpuhog 1 120
wait_for '[ "$(cgkey free cpu.stat usage_usec)" -gt 0 ]' 30 "the free hog to run"
free=$(usage_permille free)
ok ctl kill free
wait_rc free 137
say "uncapped: $free per mille of a CPU"
assert_ge "$free" "$((capped * 2))" "uncapped hog vs capped (per mille)"
ok ctl remove capped
ok ctl remove free
daemon_quit
