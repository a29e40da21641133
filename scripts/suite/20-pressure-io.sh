#!/bin/sh
# pressure-io: the io rung of the pressure ladder. A priority-10 job writes
# to the VM's disk with O_DIRECT under an io.max write cap, so its writer
# spends its time waiting for throttled IO: io `full` pressure on the root.
# The engine must freeze the lowest-priority job doing the most IO
# (`pressure ... action=freeze target=writer`, `job.freeze id=writer
# reason=pressure_io`), never the idle priority-5 job beside it (lower
# priority, but no IO) nor the priority-90 writer, and once the IO has
# stopped and pressure stayed low, thaw it (`job.thaw id=writer
# reason=pressure_receded`).
. "$(dirname "$0")/lib.sh"

[ -b /dev/sda ] || fail "no /dev/sda: the VM has no disk"
daemon_start -k -1 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 -1 --io-freeze-full-avg10 10 \
	--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
[ -f "$ROOT/io.pressure" ] || fail "$ROOT/io.pressure missing"

writes='while :; do dd if=/dev/zero of=/dev/sda bs=64k count=16 oflag=direct 2>/dev/null || exit 1; done'
job idle --priority 5 -- /bin/sleep 3600
job writer --priority 10 --io-max "8:0 wbps=262144" -- /bin/sh -c "$writes"
FAIL_HINT='grep -H . "$ROOT/io.pressure" "$ROOT/writer/io.stat"; ctl stats'
wait_event 90 pressure action=freeze target=writer
FAIL_HINT=""
say "event: $EV"
assert_eq "$(kv "$EV" resource)" io "pressure event: resource"
assert_eq "$(kv "$EV" threshold)" 10.00 "pressure event: threshold"
wait_event 30 job.freeze id=writer reason=pressure_io
wait_for "grep -q 'frozen 1' '$ROOT/writer/cgroup.events'" 30 "writer's cgroup to be frozen"
inspect_is writer state frozen
inspect_is idle state running
assert_events 0 job.freeze id=idle

say "frozen, the writer does no IO: pressure recedes and the engine thaws it"
wait_event 60 job.thaw id=writer reason=pressure_receded
say "event: $EV"
for j in idle writer; do
	ok ctl kill "$j"
	wait_rc "$j" 137
done
for j in idle writer; do ok ctl remove "$j"; done
daemon_quit
