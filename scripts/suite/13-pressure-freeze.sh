#!/bin/sh
# pressure-freeze: the memory `some` rung of the pressure ladder. The root
# is capped by memory.high just above what two idle low-priority jobs hold,
# then a priority-50 job (never a victim) allocates past the cap and stalls
# in reclaim: memory pressure on the root. The engine must freeze the
# lowest-priority running job (`pressure ... action=freeze target=low`,
# `job.freeze id=low reason=pressure_memory`), never the job a client froze
# (`mine`, lower priority still), and once the load has ended and pressure
# stayed low for its hysteresis, thaw `low` (`job.thaw ...
# reason=pressure_receded`) and only `low`: `mine` stays frozen.
. "$(dirname "$0")/lib.sh"

# The freeze rung alone: no kill, demotion or admission in the way.
daemon_start -k -1 --mem-freeze-some-avg10 20 --cpu-demote-some-avg10 -1 --io-freeze-full-avg10 -1 \
	--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
[ -f "$ROOT/memory.high" ] || fail "$ROOT/memory.high missing: the daemon enabled no memory controller above its root"
echo max >"$ROOT/memory.high"

job mine --priority 5 -- /usr/local/bin/memhog 16 3600
job low --priority 10 -- /usr/local/bin/memhog 32 3600
wait_for '[ "$(cgkey mine memory.stat anon)" -ge 15728640 ]' 120 "mine to hold 15 MiB"
wait_for '[ "$(cgkey low memory.stat anon)" -ge 31457280 ]' 120 "low to hold 30 MiB"
say "a client freezes mine"
ok ctl freeze mine
assert_eq "$(frozen mine)" 1 "mine: cgroup.events frozen"

cap=$(($(cat "$ROOT/memory.current") + 16 * 1048576))
echo "$cap" >"$ROOT/memory.high" || fail "write $cap to $ROOT/memory.high"
say "memory.high $cap; load (priority 50) wants 128 MiB more"
job load --priority 50 -- /usr/local/bin/memhog 128 3600
FAIL_HINT='grep -H . "$ROOT/memory.pressure" "$ROOT"/*/memory.current; ctl list; ctl stats'
wait_event 90 pressure action=freeze target=low
FAIL_HINT=""
say "event: $EV"
assert_eq "$(kv "$EV" resource)" memory "pressure event: resource"
assert_match "$(kv "$EV" some_avg10)" '^[0-9]+\.[0-9][0-9]$' "pressure event: some_avg10"
assert_match "$(kv "$EV" full_avg10)" '^[0-9]+\.[0-9][0-9]$' "pressure event: full_avg10"
assert_eq "$(kv "$EV" threshold)" 20.00 "pressure event: threshold"
assert_match "$(kv "$EV" some_pct)" '^[0-9]+\.[0-9][0-9]$' "pressure event: some_pct (the window measurement)"
assert_eq "$(kv "$EV" candidates)" 1 "pressure event: candidates (mine is frozen, load is priority 50)"
assert_eq "$(kv "$EV" victim_priority)" 10 "pressure event: victim_priority"
wait_event 30 job.freeze id=low reason=pressure_memory
assert_eq "$(kv "$EV" cgroup)" "$ROOT/low" "job.freeze: cgroup"
wait_for '[ "$(frozen low)" = 1 ]' 30 "low frozen in cgroup.events"
inspect_is low state frozen
assert_events 0 pressure action=freeze target=mine
assert_events 0 job.freeze id=load
assert_events 0 job.kill

say "the load ends; pressure recedes"
ok ctl kill load
wait_rc load 137
t_end=$(now_ms)
wait_event 60 job.thaw id=low reason=pressure_receded
say "thawed $(($(now_ms) - t_end)) ms after the load ended: $EV"
wait_for '[ "$(frozen low)" = 0 ]' 30 "low thawed in cgroup.events"
inspect_is low state running
say "the client's freeze is never undone by the engine"
assert_eq "$(frozen mine)" 1 "mine: cgroup.events frozen"
inspect_is mine state frozen
assert_events 0 job.thaw id=mine
assert_events 1 job.freeze id=low
assert_events 1 job.thaw id=low

ok ctl thaw mine
for j in mine low; do
	ok ctl kill "$j"
	wait_rc "$j" 137
done
for j in mine low load; do ok ctl remove "$j"; done
daemon_quit
