#!/bin/sh
# orchestration: --service commands run in the job's cgroup beside the main
# process, their output is in `logs`, they are stopped when the main process
# ends and the job's status is the main process's; --require-path refuses a
# job whose path is missing and creates nothing.
. "$(dirname "$0")/lib.sh"

daemon_start
mkfifo "$WORK/gate"
job orch --service 'echo svc-one-up; exec /bin/sleep 601' --service 'echo svc-two-up; exec /bin/sleep 602' \
	-- /bin/sh -c "echo main-out; read x <$WORK/gate; echo main-done; exit 5"
mpid=$JPID
wait_for "[ \$(nprocs orch) -ge 3 ]" 30 "main and two services in $ROOT/orch"
ok ctl inspect orch
assert_eq "$(field "$OUT" service_count)" 2 "inspect orch: service_count"
assert_eq "$(field "$OUT" pid)" "$mpid" "inspect orch: pid is the main process"
wait_for "cmdlines orch | grep -q '^/bin/sleep 601'" 30 "service one (sleep 601) in the job's cgroup"
wait_for "cmdlines orch | grep -q '^/bin/sleep 602'" 30 "service two (sleep 602) in the job's cgroup"
wait_for "ctl logs orch 2>/dev/null | grep -q svc-one-up && ctl logs orch | grep -q svc-two-up && ctl logs orch | grep -q main-out" 30 "service and main output in logs"

say "the main process ends: services are stopped, status is main's"
echo go >"$WORK/gate"
wait_rc orch 5
assert_eq "$(field "$OUT" state)" failed "wait orch: state"
assert_eq "$(field "$OUT" exit)" 5 "wait orch: exit"
# WAIT answers once the cgroup is empty.
assert_eq "$(populated orch)" 0 "orch populated after wait"
ok ctl logs orch
assert_contains "$OUT" main-done "logs orch"
ok ctl remove orch
assert_no_job orch

say "a service that exits early does not end the job"
job early --service 'exit 0' -- /bin/sh -c 'exit 0'
wait_rc early 0
ok ctl remove early

say "require-path"
try ctl run --id rp $JOBENV --require-path /tmp --require-path /nonexistent/thing -- /bin/true
assert_rc 1 "run with a missing path"
assert_reason "missing path: /nonexistent/thing"
assert_no_job rp
assert_events 0 job.start id=rp
job rp --require-path /tmp --require-path "$WORK/gate" -- /bin/true
wait_rc rp 0
ok ctl inspect rp
assert_eq "$(field "$OUT" require_path_count)" 2 "inspect rp: require_path_count"
ok ctl remove rp
daemon_quit
