#!/bin/sh
# queue-real: queued admission on real host pressure. A memory overload of the
# daemon's root raises the VM's memory some avg10 past
# --mem-admit-some-avg10 5: a RUN without --queue-timeout is refused at
# once; with it, the RUN waits as a pending job (LIST/INSPECT: pending,
# pid 0, no cgroup); a short timeout fails with the exact admission reason
# and an admission_reject event, leaving nothing; KILL cancels a pending
# job (its RUN fails `killed while pending`, the job ends killed). Once the
# load has ended and avg10 fell below 5, the waiting RUNs start, higher
# priority first, and their clients get the usual reply.
. "$(dirname "$0")/lib.sh"

daemon_start -k -1 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 -1 --io-freeze-full-avg10 -1 \
	--mem-admit-some-avg10 5 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
[ -f "$ROOT/memory.high" ] || fail "$ROOT/memory.high missing: no memory controller above the root"
echo max >"$ROOT/memory.high"

psi_some() { awk '$1 == "some" { sub("avg10=", "", $2); print int($2); exit }' /proc/pressure/memory; }
cap=$(($(cat "$ROOT/memory.current") + 16 * 1048576))
echo "$cap" >"$ROOT/memory.high" || fail "write $cap to $ROOT/memory.high"
job load --priority 90 -- /usr/local/bin/memhog 128 3600
wait_for '[ "$(psi_some)" -ge 10 ]' 90 "memory some avg10 >= 10 in /proc/pressure/memory"
say "host memory pressure: $(head -n 1 /proc/pressure/memory)"

reason_re='^admission blocked: memory\.some\.avg10 [0-9]+\.[0-9][0-9] >= 5\.00$'
refused ctl run --id now $JOBENV -- /bin/true
assert_match "$(field "$OUT" reason)" "$reason_re" "refusal without --queue-timeout"
assert_no_job now

# bgrun NAME RUN-OPTS...: cgroupctl run in the background, output in
# $WORK/NAME.out, status in $WORK/NAME.rc.
bgrun() {
	_n=$1
	shift
	(
		ctl run --id "$_n" $JOBENV "$@" >"$WORK/$_n.out" 2>&1
		echo $? >"$WORK/$_n.rc"
	) &
}
pending() { ctl inspect "$1" 2>/dev/null | grep -qx 'state: pending'; }

say "two RUNs wait in the queue"
bgrun q-lo --priority 10 --queue-timeout 180s -- /bin/sleep 600
wait_for 'pending q-lo' 30 "q-lo pending"
bgrun q-hi --priority 90 --queue-timeout 180s -- /bin/sleep 600
wait_for 'pending q-hi' 30 "q-hi pending"
inspect_is q-lo state pending pid 0 priority 10 cgroup "$ROOT/q-lo"
ok ctl list
assert_match "$OUT" '^state: pending$' "list shows pending jobs"
assert_eq "$(field "$OUT" count)" 3 "list: count"
[ ! -e "$ROOT/q-lo" ] && [ ! -e "$ROOT/q-hi" ] || fail "a pending job has a cgroup"
ok ctl stats
assert_eq "$(field "$OUT" pending)" 2 "stats: pending"

say "a short queue timeout fails with the admission reason"
refused ctl run --id q-short --queue-timeout 2s $JOBENV -- /bin/true
assert_match "$(field "$OUT" reason)" "$reason_re" "q-short: reason at the timeout"
assert_eq "$(field "$OUT" id)" q-short "q-short: id"
wait_event 10 pressure action=admission_reject target=q-short
assert_eq "$(kv "$EV" resource)" memory "admission_reject: resource"
assert_no_job q-short

say "KILL cancels a pending job"
bgrun q-k --queue-timeout 180s -- /bin/sleep 600
wait_for 'pending q-k' 30 "q-k pending"
ok ctl kill q-k
wait_for "[ -s '$WORK/q-k.rc' ]" 30 "the RUN of q-k to be answered"
assert_eq "$(cat "$WORK/q-k.rc")" 1 "run q-k: exit status"
assert_eq "$(field "$(cat "$WORK/q-k.out")" reason)" "killed while pending" "run q-k: reason"
inspect_is q-k state killed signal 9 pid 0
ok ctl remove q-k
assert_no_job q-k
assert_events 0 job.start id=q-k
assert_events 0 job.exit id=q-k

say "the load ends; the queue starts once avg10 is below 5"
ok ctl kill load
wait_rc load 137
echo max >"$ROOT/memory.high"
wait_for "[ -s '$WORK/q-lo.rc' ] && [ -s '$WORK/q-hi.rc' ]" 150 "the queued RUNs to be answered"
say "memory pressure now: $(head -n 1 /proc/pressure/memory)"
for q in q-hi q-lo; do
	assert_eq "$(cat "$WORK/$q.rc")" 0 "run $q: exit status ($(tr '\n' '|' <"$WORK/$q.out"))"
	out=$(cat "$WORK/$q.out")
	assert_eq "$(field "$out" id)" "$q" "run $q: id"
	assert_eq "$(field "$out" cgroup)" "$ROOT/$q" "run $q: cgroup"
	pid=$(field "$out" pid)
	in_cgroup "$q" "$pid" || fail "pid $pid of $q not in $ROOT/$q"
	inspect_is "$q" state running pid "$pid"
done
for q in q-hi q-lo; do wait_event 10 job.start id=$q; done
order=$(event_lines job.start | sed -n 's/.* id=\(q-[a-z]*\) .*/\1/p' | tr '\n' ' ')
assert_eq "$order" "q-hi q-lo " "job.start order"
assert_events 1 pressure action=admission_reject target=q-short
assert_events 0 pressure action=admission_reject target=q-lo

for q in q-hi q-lo; do
	ok ctl kill "$q"
	wait_rc "$q" 137
	ok ctl remove "$q"
done
ok ctl remove load
daemon_quit
