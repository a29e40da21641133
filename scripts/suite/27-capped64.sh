#!/bin/sh
# capped64: a small root capped by memory.high 64M, at the default
# thresholds. Overload: a priority-5 job of 48 MiB, then a priority-90 job
# of 32 MiB: together they cannot fit, and the low job is killed within
# 25 s while the high one runs on. Blip: beside a 40 MiB priority-5 job a
# 30 MiB priority-50 job starts and the cap is lifted again 150-300 ms
# after the root's memory.events `high` counter first moves: nothing is
# killed, although the kernel goes on reporting full stall for up to 2 s
# while the throttled tasks sleep off their memory.high penalty.
. "$(dirname "$0")/lib.sh"

oom_kills() { awk '$1 == "oom_kill" { print $2 }' "$ROOT/memory.events"; }
# calm: the host's memory avg10 has decayed from the last overload, which
# at the default thresholds refuses RUNs (admission: memory full 15 %).
avg10() { awk -v k="$1" '$1 == k { sub("avg10=", "", $2); print int($2); exit }' /proc/pressure/memory; }
calm() { wait_for '[ "$(avg10 some)" -lt 5 ] && [ "$(avg10 full)" -lt 2 ]' 120 "host memory pressure to recede"; }

say "overload: 48 MiB at priority 5, then 32 MiB at priority 90, under 64M"
daemon_start
[ -f "$ROOT/memory.high" ] || fail "$ROOT/memory.high missing: no memory controller above the root"
echo 64M >"$ROOT/memory.high" || fail "write 64M to $ROOT/memory.high"
oom0=$(oom_kills)
job low --priority 5 -- /usr/local/bin/memhog 48 3600
wait_for '[ "$(cgkey low memory.stat anon)" -ge 46137344 ]' 120 "low to hold 44 MiB"
job high --priority 90 -- /usr/local/bin/memhog 32 3600
hpid=$JPID
t0=$(now_ms)
FAIL_HINT='grep -H . "$ROOT/memory.pressure" "$ROOT/memory.events" "$ROOT"/*/memory.current; ctl list'
wait_event "$(slow_s 25)" pressure action=kill target=low
FAIL_HINT=""
say "killed low $(($(now_ms) - t0)) ms after high started: $EV"
wait_event 30 job.kill id=low reason=pressure_memory
wait_rc low 137
wait_for '[ "$(cgkey high memory.stat anon)" -ge 31457280 ]' 60 "high to get its 30 MiB"
inspect_is high state running pid "$hpid"
alive "$hpid" || fail "high (pid $hpid) is not alive"
assert_events 0 pressure action=kill target=high
assert_eq "$(oom_kills)" "$oom0" "root memory.events oom_kill"
ok ctl kill high
wait_rc high 137
ok ctl remove low
ok ctl remove high
daemon_quit

# blip: one attempt. The cap goes back to max HOLD ms after the first
# memory.high event; then 8 s of watching for a late kill.
blip() {
	calm
	daemon_start
	echo max >"$ROOT/memory.high"
	oom0=$(oom_kills)
	job low --priority 5 -- /usr/local/bin/memhog 40 3600
	wait_for '[ "$(cgkey low memory.stat anon)" -ge 39845888 ]' 120 "low to hold 38 MiB"
	echo 64M >"$ROOT/memory.high" || fail "write 64M to $ROOT/memory.high"
	lift_high_after "$1" "$WORK/blip"
	job mid --priority 50 -- /usr/local/bin/memhog 30 3600
	wait_for "[ -s '$WORK/blip' ]" 60 "the blip to end"
	read -r t0 t1 <"$WORK/blip"
	wait_for '[ "$(cgkey mid memory.stat anon)" -ge 29360128 ]' 60 "mid to get its 28 MiB"
	sleep 8
	say "blip: memory.high 64M for $((t1 - t0)) ms after its first event"
	assert_events 0 job.kill
	assert_events 0 pressure action=kill
	inspect_is low state running
	inspect_is mid state running
	assert_eq "$(frozen low)" 0 "low: cgroup.events frozen"
	assert_eq "$(oom_kills)" "$oom0" "root memory.events oom_kill"
	for j in low mid; do
		ok ctl kill "$j"
		try ctl wait "$j"
		ok ctl remove "$j"
	done
	daemon_quit
}

say "blip: 30 MiB at priority 50 beside 40 MiB at priority 5, cap lifted after 150 ms"
blip 0.15
say "blip: the same, cap lifted after 300 ms"
blip 0.3
