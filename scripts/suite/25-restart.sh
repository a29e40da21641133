#!/bin/sh
# restart: jobs outlive the daemon. With real limits in force (memory.max,
# pids.max), the daemon is SIGKILLed and started again on the same root:
# the running job is adopted (job.adopt, same pid, its limits untouched),
# an ended job keeps its status, a job that ended while no daemon ran ends
# with exit_known=0 (`cgroupctl wait` exits 255). Then memory pressure on
# the root (memory.high) after the adoption: the engine kills the adopted
# low-priority job (reason=pressure_memory, ended as killed, signal 9), not
# the high one started after the restart. Last an in-place upgrade
# (`cgroupctl upgrade`) keeps the pid, the jobs and a WAIT in flight, which
# gets the exact exit status.
. "$(dirname "$0")/lib.sh"

flags="-k 10 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 -1 --io-freeze-full-avg10 -1
	--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1"
# shellcheck disable=SC2086
daemon_start $flags
job low --priority 10 --memory-max 300M --pids-max 64 -- /usr/local/bin/memhog 150 600
lpid=$JPID
wait_for '[ "$(cgkey low memory.stat anon)" -ge 104857600 ]' 120 "low to hold 100 MiB"
job short -- /bin/sh -c 'echo short-out; exit 5'
wait_rc short 5
mkfifo "$WORK/gone.fifo" || fail "mkfifo"
job gone -- /bin/sh -c "cat $WORK/gone.fifo >/dev/null; exit 3"
gpid=$JPID

say "SIGKILL the daemon; the job 'gone' ends while no daemon runs"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
echo go >"$WORK/gone.fifo"
wait_for '! alive '"$gpid" 30 "job gone to end"
alive "$lpid" || fail "job low died with the daemon"

# shellcheck disable=SC2086
daemon_start $flags
wait_event 10 job.adopt id=low pid="$lpid"
inspect_is low state running pid "$lpid" adopted 1
assert_file_eq "$ROOT/low/memory.max" 314572800
assert_file_eq "$ROOT/low/pids.max" 64
wait_rc short 5
ok ctl logs short
assert_eq "$OUT" short-out "logs short after the restart"
wait_event 10 job.exit id=gone exit_known=0 exit_reason=ended_while_down
wait_rc gone 255
assert_eq "$(field "$OUT" exit_known)" 0 "wait gone: exit_known"

say "memory pressure after the adoption: the adopted low-priority job goes"
echo 200M >"$ROOT/memory.high" || fail "write 200M to $ROOT/memory.high"
job high --priority 90 -- /usr/local/bin/memhog 150 300
hpid=$JPID
FAIL_HINT='grep -H . "$ROOT/memory.pressure" "$ROOT"/*/memory.current; ctl list'
wait_event 120 pressure action=kill target=low
FAIL_HINT=""
wait_event 30 job.kill id=low reason=pressure_memory
wait_rc low 137
assert_eq "$(field "$OUT" state)" killed "wait low: state (the daemon killed it: known)"
assert_eq "$(field "$OUT" exit_known)" "" "wait low: no exit_known key"
alive "$hpid" || fail "high (pid $hpid) is not alive"
assert_events 0 job.kill id=high
echo max >"$ROOT/memory.high"

say "in-place upgrade with a WAIT in flight"
mkfifo "$WORK/w.fifo" || fail "mkfifo"
job w -- /bin/sh -c "cat $WORK/w.fifo >/dev/null; exit 7"
(
	ctl wait w >/dev/null 2>&1
	echo $? >"$WORK/w.rc"
) &
waiter=$!
wait_for '[ "$(ctl stats | sed -n "s/^running: //p")" = 2 ]' 10 "two running jobs"
ok ctl upgrade
assert_eq "$(field "$OUT" pid)" "$DPID" "upgrade: the daemon's pid"
wait_event 30 daemon.upgrade pid="$DPID"
inspect_is high state running pid "$hpid"
inspect_is w state running adopted 0
echo go >"$WORK/w.fifo"
wait_for '[ -s "$WORK/w.rc" ]' 30 "the WAIT that spans the upgrade to return"
wait "$waiter" 2>/dev/null
assert_eq "$(cat "$WORK/w.rc")" 7 "cgroupctl wait across the upgrade"
ok ctl kill high
wait_rc high 137
daemon_quit
assert_eq "$(ls "/run/cgroupd/t-$T/jobs" 2>/dev/null | wc -l | tr -d ' ')" 0 "job records left after quit"
