#!/bin/sh
# pressure-demote: the cpu rung of the pressure ladder. A priority-90 job
# runs four spinning threads on the VM's two CPUs: cpu pressure on the
# root. The engine must halve cpu.weight of every job with priority <= 30
# (`pressure ... action=demote` without a target, then `job.throttle
# id=low cpu_weight=100 reason=pressure_cpu`; the cgroup file says 100),
# leave the others alone, and restore the weight (`job.throttle ...
# cpu_weight=200 reason=pressure_receded`) once the load has ended, even
# with an in-place upgrade in between (the demotions are handed over).
. "$(dirname "$0")/lib.sh"

daemon_start -k -1 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 50 --io-freeze-full-avg10 -1 \
	--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
[ -f "$ROOT/cpu.weight" ] || fail "$ROOT/cpu.weight missing: no cpu controller above the root"

job low --priority 10 --cpu-weight 200 -- /usr/local/bin/cpuhog 1 3600
assert_file_eq "$ROOT/low/cpu.weight" 200
job mid --priority 60 -- /bin/sleep 3600
job load --priority 90 -- /usr/local/bin/cpuhog 4 3600
FAIL_HINT='grep -H . "$ROOT/cpu.pressure" /proc/pressure/cpu; ctl stats'
wait_event 90 pressure action=demote
FAIL_HINT=""
say "event: $EV"
assert_eq "$(kv "$EV" resource)" cpu "pressure event: resource"
assert_eq "$(kv "$EV" threshold)" 50.00 "pressure event: threshold"
assert_not_contains "$EV" " target=" "a demote event names no target"
wait_event 30 job.throttle id=low reason=pressure_cpu
assert_eq "$(kv "$EV" cpu_weight)" 100 "job.throttle: cpu_weight"
assert_eq "$(kv "$EV" resource)" cpu "job.throttle: resource"
assert_file_eq "$ROOT/low/cpu.weight" 100
# mid (60) and load (90) are protected: the weight their priority buys
# (100 + 20 x (priority - 50)), left alone by the engine.
assert_file_eq "$ROOT/mid/cpu.weight" 300
assert_file_eq "$ROOT/load/cpu.weight" 900
assert_events 0 job.throttle id=mid
assert_events 0 job.throttle id=load
assert_events 1 job.throttle id=low reason=pressure_cpu

say "an upgrade while demoted: the new image keeps the demotion"
ok ctl upgrade
wait_event 30 daemon.upgrade
assert_events 1 job.throttle id=low reason=pressure_cpu

say "the load ends; the weight comes back"
ok ctl kill load
wait_rc load 137
t_end=$(now_ms)
wait_event 60 job.throttle id=low reason=pressure_receded
say "restored $(($(now_ms) - t_end)) ms after the load ended: $EV"
assert_eq "$(kv "$EV" cpu_weight)" 200 "restore: cpu_weight"
assert_file_eq "$ROOT/low/cpu.weight" 200
inspect_is low state running

for j in low mid; do
	ok ctl kill "$j"
	wait_rc "$j" 137
done
for j in low mid load; do ok ctl remove "$j"; done
daemon_quit
