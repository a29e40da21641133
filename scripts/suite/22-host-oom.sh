#!/bin/sh
# host-oom: the whole host runs out of memory (no caps, no swap): a
# priority-90 job holds 35 % of RAM and a priority-5 job grows to all of
# it. cgroupd (run from the programs disk; the reclaim rule off) must kill
# the low job by its headroom rule before the kernel's OOM killer fires;
# the high job survives. Then with the defaults: the reclaim rule (issue
# 23; high is protected, 90 >= 60) or the headroom rule, whichever comes
# first, kills the growing low job (high holds no page cache, so the
# headroom rule is often first here). Also checks the self-protection and the defence in depth:
# the daemon's pages are locked (VmLck) and its oom_score_adj is -1000;
# each job's oom_score_adj follows its priority and memory.oom.group is 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"

hostoom_run cgroupd 35 --host-reclaim-horizon 0
assert_eq "$HO_FIRST" low "first to die"
assert_eq "$HO_HIGH" 0 "high died"
assert_eq "$HO_OOM" 0 "kernel OOM kills while cgroupd runs"
wait_event 10 pressure action=kill target=low
assert_contains "$EV" "rule=host_memory" "pressure event"
wait_event 10 job.kill id=low signal=9 reason=pressure_host_memory
assert_events 0 job.kill id=high

say "self-protection and per-job OOM settings"
lck=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$DPID/status")
assert_ge "$lck" 1 "daemon VmLck (kB)"
assert_file_eq "/proc/$DPID/oom_score_adj" -1000
hpid=$(field "$(ctl inspect high)" pid)
assert_file_eq "/proc/$hpid/oom_score_adj" -400
assert_file_eq "$ROOT/high/memory.oom.group" 1
say "daemon VmLck ${lck} kB, VmRSS $(awk '$1 == "VmRSS:" { print $2 }' "/proc/$DPID/status") kB"
job p5 --priority 5 -- /bin/sleep 600
assert_file_eq "/proc/$JPID/oom_score_adj" 450
ok ctl kill p5
wait_rc p5 137
ok ctl remove p5
hostoom_end cgroupd

say "defaults: the reclaim or the headroom rule, whichever comes first"
hostoom_run cgroupd 35
assert_eq "$HO_FIRST" low "first to die"
assert_eq "$HO_HIGH" 0 "high died"
assert_eq "$HO_OOM" 0 "kernel OOM kills while cgroupd runs"
wait_event 10 pressure action=kill target=low
case $EV in
*rule=host_reclaim*) assert_eq "$(kv "$EV" protected)" high "pressure event: protected job at risk" ;;
*rule=host_memory*) ;;
*) fail "pressure event: $EV: want rule=host_reclaim or rule=host_memory" ;;
esac
hostoom_end cgroupd
