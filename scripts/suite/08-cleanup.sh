#!/bin/sh
# cleanup: REMOVE after exit, after kill, after freeze+kill and after an OOM
# kill leaves no cgroup; REMOVE of a running or frozen job is refused with
# `still running` and changes nothing; QUIT (and SIGTERM) kill what runs
# and leave no job cgroup.
. "$(dirname "$0")/lib.sh"

daemon_start

say "remove after exit"
job fin -- /bin/true
wait_rc fin 0
ok ctl remove fin
assert_no_job fin
wait_event 10 job.cleanup id=fin cgroup="$ROOT/fin"

say "remove of a running and of a frozen job is refused"
job busy -- /bin/sleep 600
bpid=$JPID
try ctl remove busy
assert_rc 1 "remove running busy"
assert_reason "still running" "remove running busy: reason"
assert_eq "$(field "$OUT" id)" busy "remove running busy: id"
[ -d "$ROOT/busy" ] || fail "$ROOT/busy gone after a refused remove"
ok ctl freeze busy
try ctl remove busy
assert_rc 1 "remove frozen busy"
assert_reason "still running" "remove frozen busy: reason"
inspect_is busy state frozen
assert_eq "$(frozen busy)" 1 "busy still frozen"
in_cgroup busy "$bpid" || fail "pid $bpid left $ROOT/busy"

say "freeze + kill, then remove"
ok ctl kill busy
wait_rc busy 137
assert_eq "$(populated busy)" 0 "busy populated"
ok ctl remove busy
assert_no_job busy

say "kill, then remove"
job k -- /bin/sh -c '/bin/sleep 600 & exec /bin/sleep 600'
wait_for '[ $(nprocs k) -ge 2 ]' 30 "two processes in k"
ok ctl kill k
wait_rc k 137
ok ctl remove k
assert_no_job k
try ctl remove k
assert_rc 1 "second remove of k"
assert_reason "no such job"

say "OOM kill, then remove"
job oom --memory-max 24M -- /usr/local/bin/memhog 64 60
try ctl wait oom
assert_eq "$(field "$OUT" oom_killed)" 1 "wait oom: oom_killed"
ok ctl remove oom
assert_no_job oom
for j in fin busy k oom; do assert_events 1 job.cleanup id=$j; done

say "quit kills running and frozen jobs and leaves no job cgroup"
job r1 -- /bin/sleep 600
p1=$JPID
job r2 -- /bin/sh -c '/bin/sleep 600 & exec /bin/sleep 600'
p2=$JPID
job f1 -- /bin/sleep 600
p3=$JPID
ok ctl freeze f1
job ended -- /bin/true
wait_rc ended 0
daemon_quit
for p in $p1 $p2 $p3; do alive "$p" && fail "pid $p alive after quit"; done
[ -z "$(job_dirs)" ] || fail "job cgroups left after quit: $(job_dirs | tr '\n' ' ')"
for j in r1 r2 f1 ended; do assert_events 1 job.exit id=$j; done

say "SIGTERM does the same"
daemon_start
job t1 -- /bin/sleep 600
p1=$JPID
daemon_term
alive "$p1" && fail "pid $p1 alive after SIGTERM"
[ -z "$(job_dirs)" ] || fail "job cgroups left after SIGTERM: $(job_dirs | tr '\n' ' ')"
[ ! -e "$SOCK" ] || fail "$SOCK left after SIGTERM"
