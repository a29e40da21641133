#!/bin/sh
# suite-timeout: 420
# protect: priority buys protection (issue 23). A job at or above
# priority 60 gets cpu.weight 100 + 20 x (priority - 50) and, with
# --protect-memory-low, memory.low max (and the daemon's root memory.low
# max), unless its RUN sets them; a job below gets nothing. Then the service scenario of bench-service
# (service.sh) under cgroupd's defaults: in the fast overload the reclaim
# rule kills the growing batch job before reclaim reaches the priority-90
# service (no kernel OOM kill, the service survives and no request is more
# than 50 ms late, give or take the emulator: at most 1 %); a batch that
# grows to 50 % of RAM and holds it is not killed; of two priority-5 jobs
# the growing one is the victim, not the big stable one; the off switch
# (--host-reclaim-horizon 0) leaves the overload to the headroom rule.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"
. "$(dirname "$0")/service.sh"

say "what a priority buys"
daemon_start --protect-memory-low
job svc --priority 90 -- /bin/sleep 600
assert_file_eq "$ROOT/svc/cpu.weight" 900
assert_file_eq "$ROOT/svc/memory.low" max
assert_file_eq "$ROOT/memory.low" max
ok ctl kill svc
try ctl wait svc
ok ctl remove svc
daemon_quit
echo 0 >"$ROOT/memory.low"
daemon_start
job svc --priority 90 -- /bin/sleep 600
assert_file_eq "$ROOT/svc/cpu.weight" 900
assert_file_eq "$ROOT/svc/memory.low" 0
assert_file_eq "$ROOT/memory.low" 0
job edge --priority 60 -- /bin/sleep 600
assert_file_eq "$ROOT/edge/cpu.weight" 300
job plain -- /bin/sleep 600
assert_file_eq "$ROOT/plain/cpu.weight" 100
assert_file_eq "$ROOT/plain/memory.low" 0
job own --priority 90 --cpu-weight 150 --memory-low 8M -- /bin/sleep 600
assert_file_eq "$ROOT/own/cpu.weight" 150
assert_file_eq "$ROOT/own/memory.low" 8388608
for j in svc edge plain own; do
	ok ctl kill "$j"
	try ctl wait "$j"
	ok ctl remove "$j"
done
daemon_quit

if [ "$(uname -m)" != x86_64 ]; then
	# vm.sh puts the service scenario's programs (svcbench) and its
	# 640 MiB model on the amd64 programs disk only: the scenarios below
	# are timed against the emulated amd64 guest (bench-service).
	say "the service scenarios run on amd64 only: done here"
	exit 0
fi

say "fast overload: the reclaim rule stops the batch before the stall"
service_run cgroupd fast
assert_eq "$SV_FIRST" batch "first to die"
assert_eq "$SV_SVC" 1 "service survived"
assert_eq "$SV_OOM" 0 "kernel OOM kills"
assert_grep_file "$DERR" 'type=pressure .*action=kill target=batch .*rule=host_reclaim .*protected=service'
assert_grep_file "$DERR" 'type=job.kill id=batch .*reason=pressure_host_reclaim'
assert_few_late ""

# The fast big-stable (bench-service's big) is not asserted: that batch
# stops 110-130 ms of its fill above the low watermark in this VM and the
# rule still kills it in about 1 run of 3 (scripts/BENCH.md).
say "big-stable at 40 MiB/s: a batch at 50 % that holds is not killed"
service_run cgroupd bigslow
assert_eq "$SV_FIRST" none "first to die"
assert_eq "$SV_OOM" 0 "kernel OOM kills"

say "growth, not size: of two priority-5 jobs the growing one goes"
daemon_start --mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
sync
echo 3 >/proc/sys/vm/drop_caches
job service --priority 90 -- $SVC service -file $D/model.bin -mb "$SVC_MB" -out "$WORK/svc.out" -ready "$WORK/svc.ready"
svpid=$JPID
wait_for "[ -e '$WORK/svc.ready' ]" 120 "the service to load its model"
job stable --priority 5 -- $SVC batch -mb $((total_mb * 30 / 100))
spid=$JPID
wait_for "[ \$(rss_mb $spid) -ge $((total_mb * 28 / 100)) ]" 60 "stable to hold 30 % of RAM"
job grower --priority 5 -- $SVC batch -mb "$total_mb" -rate 40
gpid=$JPID
watch_deaths cgroupd 60s 2s grower="$gpid" stable="$spid" service="$svpid"
assert_eq "$(sed -n 's/^watch_first=//p' "$WORK/watch")" grower "first to die"
grep -q '^watch_stable_died' "$WORK/watch" && fail "the stable job died too"
wait_event 10 pressure action=kill target=grower
assert_contains "$EV" "rule=host_reclaim" "pressure event"
for j in service stable grower; do
	try ctl kill "$j"
	try ctl wait "$j"
	try ctl remove "$j"
done
daemon_quit

say "the off switch: the headroom rule answers instead"
service_run cgroupd fast --host-reclaim-horizon 0
assert_eq "$SV_FIRST" batch "first to die"
assert_eq "$SV_OOM" 0 "kernel OOM kills"
assert_eq "$(grep -c 'rule=host_reclaim' "$DERR")" 0 "reclaim rule decisions"
assert_grep_file "$DERR" 'type=pressure .*action=kill target=batch .*rule=host_memory'
