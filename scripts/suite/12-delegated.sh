#!/bin/sh
# delegated: the daemon is started inside the cgroup it is told to own
# (-r = its own cgroup, as with systemd Delegate=yes). It must move itself
# to the leaf <root>/_daemon, enable controllers in <root> and run jobs in
# <root>/<id> with their limits.
. "$(dirname "$0")/lib.sh"

ROOT=$CGMOUNT/t-delegated
mkdir -p "$ROOT"
# The daemon's cgroup needs the controllers its jobs use.
for c in cpu memory pids io; do echo "+$c" >"$CGMOUNT/cgroup.subtree_control" || fail "enable $c at the top"; done
DAEMON_CG=$ROOT daemon_start
wait_for "grep -qx $DPID '$ROOT/_daemon/cgroup.procs'" 10 "the daemon (pid $DPID) in $ROOT/_daemon"
assert_eq "$(cat "$ROOT/cgroup.procs")" "" "$ROOT/cgroup.procs (no internal process)"
sc=" $(cat "$ROOT/cgroup.subtree_control") "
for c in cpu memory pids; do assert_contains "$sc" " $c " "$ROOT/cgroup.subtree_control"; done

job d1 --memory-max 64M --pids-max 16 --cpu-max 50000/100000 --cpu-weight 50 -- /bin/sleep 600
dpid=$JPID
in_cgroup d1 "$dpid" || fail "pid $dpid not in $ROOT/d1"
assert_file_eq "$ROOT/d1/memory.max" 67108864
assert_file_eq "$ROOT/d1/pids.max" 16
assert_file_eq "$ROOT/d1/cpu.max" "50000 100000"
assert_file_eq "$ROOT/d1/cpu.weight" 50
job d2 --memory-max 16M -- /usr/local/bin/memhog 48 60
wait_rc d2 137
assert_eq "$(field "$OUT" oom_killed)" 1 "wait d2: oom_killed"
ok ctl kill d1
wait_rc d1 137
ok ctl remove d1
ok ctl remove d2
assert_no_job d1
ok ctl list
assert_eq "$(field "$OUT" count)" 0 "list: count"
daemon_quit
[ -z "$(job_dirs)" ] || fail "job cgroups left after quit: $(job_dirs | tr '\n' ' ')"
