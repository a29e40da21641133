#!/bin/sh
# pressure: the daemon's root is capped by memory.high, so two memhogs that
# together exceed it stall on reclaim. The engine must kill the
# low-priority one (`pressure ... action=kill target=low`, `job.kill ...
# reason=pressure_memory`) and leave the high-priority one running. A
# subscriber (`cgroupctl events --follow`) started before the overload gets
# the decision as it happens, the same lines as stderr.
. "$(dirname "$0")/lib.sh"

# Only the kill rule: no freeze, demotion or admission refusals in the way.
daemon_start -k 10 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 -1 \
	--io-freeze-full-avg10 -1 --mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 \
	--cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
[ -f "$ROOT/memory.high" ] || fail "$ROOT/memory.high missing: the daemon enabled no memory controller above its root"
echo 200M >"$ROOT/memory.high" || fail "write 200M to $ROOT/memory.high"
assert_file_eq "$ROOT/memory.high" 209715200

ctl events --follow --type pressure,job.kill >"$WORK/follow.out" 2>&1 &
follower=$!
job low --priority 10 -- /usr/local/bin/memhog 150 300
wait_for '[ "$(cgkey low memory.stat anon)" -ge 104857600 ]' 120 "low to hold 100 MiB"
job high --priority 90 -- /usr/local/bin/memhog 150 300
hpid=$JPID

say "two 150 MiB hogs under a 200 MiB memory.high: waiting for the kill"
FAIL_HINT='grep -H . "$ROOT/memory.pressure" /proc/pressure/memory "$ROOT"/*/memory.current; ctl list'
wait_event 120 pressure action=kill target=low
FAIL_HINT=""
say "event: $EV"
assert_eq "$(kv "$EV" resource)" memory "pressure event: resource"
assert_match "$(kv "$EV" full_avg10)" '^[0-9]+\.[0-9][0-9]$' "pressure event: full_avg10"
wait_event 30 job.kill id=low reason=pressure_memory
assert_eq "$(kv "$EV" signal)" 9 "job.kill low: signal"
wait_rc low 137
assert_eq "$(field "$OUT" state)" killed "wait low: state"
say "the subscriber got the decision"
wait_for "grep -q ' type=job.kill id=low ' '$WORK/follow.out'" 30 "job.kill on the subscriber"
sub=$(grep ' type=pressure ' "$WORK/follow.out" | grep ' action=kill target=low ' | head -n 1)
assert_eq "$sub" "$(event_lines pressure action=kill target=low | head -n 1)" "the subscriber's pressure event"
alive "$follower" || fail "cgroupctl events --follow ended while the daemon runs"
kill "$follower"

say "the high-priority job survives"
inspect_is high state running pid "$hpid"
alive "$hpid" || fail "high (pid $hpid) is not alive"
assert_events 0 job.kill id=high
assert_events 0 pressure action=kill target=high
ok ctl kill high
wait_rc high 137
ok ctl remove low
ok ctl remove high
daemon_quit
