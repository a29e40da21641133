#!/bin/sh
# admission: a zero admission threshold refuses every RUN with the exact
# reason `admission blocked: <resource>.<some|full>.avg10 V >= 0.00` and a
# `pressure ... action=admission_reject` event, and creates nothing; with
# the rules off the same RUN is admitted.
. "$(dirname "$0")/lib.sh"

off="--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1"
for rule in mem-admit-some-avg10:memory.some:memory cpu-admit-some-avg10:cpu.some:cpu \
	mem-admit-full-avg10:memory.full:memory io-admit-full-avg10:io.full:io; do
	flag=${rule%%:*}
	rest=${rule#*:}
	metric=${rest%%:*}
	res=${rest#*:}
	ROOT=$CGMOUNT/t-admission-${metric%%.*}-${metric#*.}
	say "--$flag 0"
	daemon_start $off "--$flag" 0
	try ctl run --id adm $JOBENV -- /bin/sleep 600
	assert_rc 1 "run under --$flag 0"
	assert_eq "$(field "$OUT" id)" adm "refusal: id"
	reason=$(field "$OUT" reason)
	esc=$(echo "$metric" | sed 's/\./\\./')
	assert_match "$reason" "^admission blocked: $esc\\.avg10 [0-9]+\\.[0-9][0-9] >= 0\\.00\$" "refusal: reason"
	wait_event 10 pressure action=admission_reject target=adm
	assert_eq "$(kv "$EV" resource)" "$res" "admission_reject event: resource"
	assert_no_job adm
	assert_events 0 job.start
	ok ctl list
	assert_eq "$(field "$OUT" count)" 0 "list after a refusal: count"
	[ -z "$(job_dirs)" ] || fail "cgroups left after a refused run: $(job_dirs | tr '\n' ' ')"
	daemon_quit
done

say "with admission off the same RUN is admitted"
ROOT=$CGMOUNT/t-admission-off
daemon_start $off
job adm -- /bin/true
wait_rc adm 0
ok ctl remove adm
assert_events 0 pressure action=admission_reject
daemon_quit
