#!/bin/sh
# dryrun-ladder: with --dry-run the engine evaluates the gentler rungs and
# reports its decisions (`pressure ... dry_run=1`, the flag last on the
# line) under a real memory overload, but freezes and demotes nothing: no
# job.* event of the engine, cgroup.freeze and cpu.weight untouched, every
# job still running; the same decision comes again once per cooldown.
# STATS says dry_run: 1 and shows the window measurement. (19-dryrun does
# the kill rung.)
. "$(dirname "$0")/lib.sh"

daemon_start --dry-run -k -1 --mem-freeze-some-avg10 10 --cpu-demote-some-avg10 10 --io-freeze-full-avg10 -1 \
	--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
[ -f "$ROOT/memory.high" ] || fail "$ROOT/memory.high missing: no memory controller above the root"
echo max >"$ROOT/memory.high"

job low --priority 10 --cpu-weight 200 -- /usr/local/bin/memhog 32 3600
wait_for '[ "$(cgkey low memory.stat anon)" -ge 31457280 ]' 120 "low to hold 30 MiB"
cap=$(($(cat "$ROOT/memory.current") + 16 * 1048576))
echo "$cap" >"$ROOT/memory.high" || fail "write $cap to $ROOT/memory.high"
job load --priority 50 -- /usr/local/bin/memhog 128 3600
FAIL_HINT='grep -H . "$ROOT/memory.pressure"; ctl stats'
wait_event 90 pressure action=freeze target=low dry_run=1
say "freeze decision: $EV"
FAIL_HINT=""
assert_eq "$(kv "$EV" resource)" memory "pressure event: resource"
ok ctl stats
assert_eq "$(field "$OUT" dry_run)" 1 "stats: dry_run"
assert_eq "$(field "$OUT" pressure_window_ms)" 500 "stats: pressure_window_ms"
assert_match "$(field "$OUT" pressure_mem_some_pct)" '^[0-9]+\.[0-9][0-9]$' "stats: pressure_mem_some_pct"
# Decisions keep coming (once per cooldown) while the overload lasts.
wait_for '[ "$(event_count pressure action=freeze target=low dry_run=1)" -ge 3 ]' 60 "more dry-run decisions"

say "nothing was acted on"
n=$(event_lines pressure | grep -vc ' dry_run=1$')
assert_eq "$n" 0 "pressure events not ending in dry_run=1"
assert_events 0 job.kill
assert_events 0 job.freeze
assert_events 0 job.throttle
assert_eq "$(frozen low)" 0 "low: cgroup.events frozen"
assert_eq "$(cat "$ROOT/low/cgroup.freeze")" 0 "low: cgroup.freeze"
assert_file_eq "$ROOT/low/cpu.weight" 200
inspect_is low state running
inspect_is load state running

ok ctl kill load
wait_rc load 137
ok ctl kill low
wait_rc low 137
ok ctl remove low
ok ctl remove load
assert_events 0 job.kill reason=pressure_memory
daemon_quit
