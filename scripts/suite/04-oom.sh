#!/bin/sh
# oom: memhog 64 under --memory-max 32M is OOM-killed: state killed,
# oom_killed 1, oom_kill_count >= 1, a job.oom event, WAIT non-zero; the
# removed job leaves no cgroup.
. "$(dirname "$0")/lib.sh"

daemon_start
job hog --memory-max 32M -- /usr/local/bin/memhog 64 60
assert_file_eq "$ROOT/hog/memory.max" 33554432
try ctl wait hog
[ "$RC" -ne 0 ] || fail "wait hog exited 0, want non-zero after an OOM kill"
assert_eq "$RC" 137 "wait hog status (SIGKILL by the OOM killer)"
assert_eq "$(field "$OUT" state)" killed "wait hog: state"
assert_eq "$(field "$OUT" signal)" 9 "wait hog: signal"
assert_eq "$(field "$OUT" oom_killed)" 1 "wait hog: oom_killed"
ok ctl inspect hog
assert_eq "$(field "$OUT" state)" killed "inspect hog: state"
assert_eq "$(field "$OUT" oom_killed)" 1 "inspect hog: oom_killed"
assert_ge "$(field "$OUT" oom_kill_count)" 1 "inspect hog: oom_kill_count"
assert_ge "$(cgkey hog memory.events oom_kill)" 1 "memory.events oom_kill"
wait_event 10 job.oom id=hog cgroup="$ROOT/hog"
assert_ge "$(kv "$EV" oom_kill_count)" 1 "job.oom oom_kill_count"
wait_event 10 job.exit id=hog state=killed signal=9 oom_killed=1
assert_events 1 job.exit id=hog
assert_eq "$(populated hog)" 0 "hog populated after wait"

say "a job under its limit is not touched"
job fits --memory-max 64M -- /usr/local/bin/memhog 16 1
wait_rc fits 0
assert_eq "$(field "$OUT" oom_killed)" 0 "wait fits: oom_killed"
assert_events 0 job.oom id=fits

ok ctl remove hog
assert_no_job hog
wait_event 10 job.cleanup id=hog
ok ctl remove fits
daemon_quit
