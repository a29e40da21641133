#!/bin/sh
# smoke: the everyday path. ping, run, list, stats, inspect, freeze/thaw
# confirmed by cgroup.events, kill, wait, remove, and quit leaving nothing.
. "$(dirname "$0")/lib.sh"

daemon_start
ok ctl ping
assert_eq "$(field "$OUT" STATUS)" ok "ping: STATUS"
assert_eq "$(field "$OUT" pong)" 1 "ping: pong"

job s1 -- /bin/sleep 600
p1=$JPID
in_cgroup s1 "$p1" || fail "pid $p1 not in $ROOT/s1/cgroup.procs"
job s2 --priority 20 -- /bin/sleep 600

say "list"
ok ctl list
assert_eq "$(field "$OUT" count)" 2 "list: count"
assert_match "$OUT" '^id: s1$' "list"
assert_match "$OUT" '^id: s2$' "list"
assert_match "$OUT" '^priority: 20$' "list"
assert_match "$(printf '%s\n' "$OUT" | grep '^STATUS:' | tail -n 1)" '^STATUS: ok$' "list: final status"

say "stats"
ok ctl stats
assert_eq "$(field "$OUT" root)" "$ROOT" "stats: root"
assert_eq "$(field "$OUT" jobs)" 2 "stats: jobs"
assert_eq "$(field "$OUT" running)" 2 "stats: running"
assert_eq "$(field "$OUT" frozen)" 0 "stats: frozen"
assert_match "$(field "$OUT" psi_mem_some_avg10)" '^[0-9]+\.[0-9][0-9]$' "stats: psi_mem_some_avg10"

say "inspect"
inspect_is s1 id s1 state running pid "$p1" priority 50 exit 0 signal 0 oom_killed 0 cgroup "$ROOT/s1"
assert_eq "$(field "$OUT" pids)" "$p1" "inspect s1: pids"
assert_eq "$(field "$OUT" pid_count)" 1 "inspect s1: pid_count"
assert_ge "$(field "$OUT" memory_current)" 1 "inspect s1: memory_current"
assert_eq "$(field "$OUT" pids_current)" 1 "inspect s1: pids_current"
assert_match "$(field "$OUT" psi_mem_some_avg10)" '^[0-9]+\.[0-9][0-9]$' "inspect s1: psi_mem_some_avg10"

say "freeze and thaw"
ok ctl freeze s1
assert_eq "$(field "$OUT" state)" frozen "freeze: state"
assert_eq "$(frozen s1)" 1 "cgroup.events frozen right after FREEZE"
ok ctl stats
assert_eq "$(field "$OUT" frozen)" 1 "stats: frozen"
ok ctl thaw s1
assert_eq "$(field "$OUT" state)" running "thaw: state"
wait_for '[ "$(frozen s1)" = 0 ]' 30 "cgroup.events frozen 0"

say "kill, wait, remove"
ok ctl kill s1
wait_rc s1 137
assert_eq "$(field "$OUT" state)" killed "wait s1: state"
assert_eq "$(populated s1)" 0 "cgroup.events populated"
try ctl remove s2
assert_rc 1 "remove of running s2"
assert_reason "still running" "remove s2: reason"
ok ctl remove s1
assert_no_job s1
try ctl inspect nosuch
assert_rc 1 "inspect nosuch"
assert_reason "no such job"

say "the full lifecycle"
lifecycle life

say "quit with s2 running"
daemon_quit
alive "$p1" && fail "pid $p1 alive after quit"
[ -z "$(job_dirs)" ] || fail "job cgroups left after quit: $(job_dirs | tr '\n' ' ')"
assert_events 1 job.start id=s1
assert_events 1 job.exit id=s1 state=killed
assert_events 1 job.exit id=s2
