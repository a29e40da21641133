#!/bin/sh
# queue: admission with --queue-timeout. The host's pressure is faked with
# --host-pressure DIR. A blocked RUN without a queue timeout is refused at
# once; queued RUNs wait as `pending` (no cgroup, no process, no job.start)
# and start in priority order when pressure allows; a queue timeout answers
# with the admission reason; KILL and REMOVE cancel a pending job.
. "$(dirname "$0")/lib.sh"

hp=$WORK/hostpsi
mkdir -p "$hp"
# psi FILE SOME FULL: write a fake pressure file.
psi() {
	printf 'some avg10=%s avg60=0.00 avg300=0.00 total=0\nfull avg10=%s avg60=0.00 avg300=0.00 total=0\n' "$2" "$3" >"$hp/$1.tmp"
	mv "$hp/$1.tmp" "$hp/$1"
}
psi memory 90.00 0.00
psi cpu 0.00 0.00
psi io 0.00 0.00
blocked='admission blocked: memory.some.avg10 90.00 >= 80.00'

daemon_start --host-pressure "$hp"

say "a blocked RUN without a queue timeout is refused at once"
try ctl run --id now $JOBENV -- /bin/true
assert_rc 1 "run under pressure"
assert_reason "$blocked"
assert_no_job now

say "queued RUNs are pending"
# qrun ID PRIORITY: a queued RUN in the background; its output goes to
# $WORK/ID.out and its status to $WORK/ID.rc.
qrun() {
	(
		cgroupctl --socket "$SOCK" run --id "$1" --priority "$2" --queue-timeout 120s $JOBENV -- /bin/sleep 600 >"$WORK/$1.out" 2>&1
		echo $? >"$WORK/$1.rc"
	) &
}
pending() { ctl inspect "$1" 2>/dev/null | grep -qx 'state: pending'; }
qrun qlow 10
wait_for "pending qlow" 30 "qlow to be pending"
qrun qhigh 90
wait_for "pending qhigh" 30 "qhigh to be pending"
qrun qmid 50
wait_for "pending qmid" 30 "qmid to be pending"
inspect_is qlow state pending pid 0
[ ! -e "$ROOT/qlow" ] || fail "$ROOT/qlow exists while pending"
ok ctl list
assert_eq "$(field "$OUT" count)" 3 "list: count"
assert_eq "$(printf '%s\n' "$OUT" | grep -c '^state: pending$')" 3 "list: pending jobs"
assert_events 0 job.start
[ ! -e "$WORK/qlow.rc" ] || fail "the queued RUN of qlow answered while pending: $(cat "$WORK/qlow.out")"

say "pressure recedes: they start, higher priority first"
psi memory 0.00 0.00
wait_for "[ -e '$WORK/qlow.rc' ] && [ -e '$WORK/qhigh.rc' ] && [ -e '$WORK/qmid.rc' ]" 30 "the queued RUNs to be answered"
for j in qlow qmid qhigh; do
	assert_eq "$(cat "$WORK/$j.rc")" 0 "queued run $j: status ($(tr '\n' '|' <"$WORK/$j.out"))"
	assert_grep_file "$WORK/$j.out" "^cgroup: $ROOT/$j\$"
	inspect_is "$j" state running
done
for j in qlow qmid qhigh; do wait_event 10 job.start id=$j; done
order=$(event_lines job.start | sed -n 's/.* id=\([^ ]*\) .*/\1/p' | tr '\n' ' ')
assert_eq "$order" "qhigh qmid qlow " "job.start order"

say "a queue timeout answers with the admission reason"
psi memory 90.00 0.00
try ctl run --id qt --queue-timeout 2s $JOBENV -- /bin/true
assert_rc 1 "run with a 2s queue timeout"
assert_reason "$blocked" "queue timeout: reason"
assert_eq "$(field "$OUT" id)" qt "queue timeout: id"
wait_event 10 pressure action=admission_reject target=qt
assert_no_job qt

say "KILL and REMOVE cancel pending jobs"
qrun qk 50
wait_for "pending qk" 30 "qk to be pending"
ok ctl kill qk
wait_for "[ -e '$WORK/qk.rc' ]" 30 "the RUN of qk to be answered"
assert_eq "$(cat "$WORK/qk.rc")" 1 "RUN of a job killed while pending: status"
assert_grep_file "$WORK/qk.out" '^reason: killed while pending$'
inspect_is qk state killed signal 9
ok ctl remove qk
assert_no_job qk
qrun qr 50
wait_for "pending qr" 30 "qr to be pending"
ok ctl remove qr
wait_for "[ -e '$WORK/qr.rc' ]" 30 "the RUN of qr to be answered"
assert_eq "$(cat "$WORK/qr.rc")" 1 "RUN of a job removed while pending: status"
assert_grep_file "$WORK/qr.out" '^reason: removed while pending$'
assert_no_job qr
assert_events 0 job.start id=qk
assert_events 0 job.start id=qr

for j in qlow qmid qhigh; do
	ok ctl kill "$j"
	wait_rc "$j" 137
	ok ctl remove "$j"
done
daemon_quit
