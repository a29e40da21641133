#!/bin/sh
# nopsi-basics: a kernel booted with psi=0 (run by scripts/vm.sh in a boot
# of its own). The daemon says once that PSI is unavailable and what
# follows; STATS and INSPECT keep the spec's psi_* keys (0.00) with
# psi_available: 0 beside them and no engine measurement; jobs, limits and
# OOM attribution work; a host-wide overload is still answered, by the
# headroom rule, with a pressure event that claims no PSI figure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"

[ ! -e /proc/pressure ] || fail "/proc/pressure exists: this boot must have psi=0"

# The reclaim rule off: this is the headroom rule's check (nopsi-reclaim
# has the reclaim rule's).
hostoom_run cgroupd 35 --host-reclaim-horizon 0
assert_eq "$(grep -c 'PSI unavailable' "$DERR")" 1 "lines about PSI"
assert_grep_file "$DERR" '^cgroupd: pressure: PSI unavailable \(kernel without CONFIG_PSI, or booted with psi=0\): PSI rules and PSI admission off; memory headroom rule on$'
assert_eq "$(grep -c 'no PSI trigger' "$DERR")" 0 "PSI trigger failures logged"
[ ! -e "$ROOT/memory.pressure" ] || fail "$ROOT/memory.pressure exists with psi=0"

say "the overload is answered by the headroom rule"
assert_eq "$HO_FIRST" low "first to die"
assert_eq "$HO_HIGH" 0 "high died"
assert_eq "$HO_OOM" 0 "kernel OOM kills while cgroupd runs"
wait_event 10 pressure action=kill target=low
assert_contains "$EV" "rule=host_memory" "pressure event"
assert_eq "$(kv "$EV" psi_available)" 0 "pressure event psi_available"
wait_event 10 job.kill id=low reason=pressure_host_memory

say "STATS and INSPECT say the PSI figures are unknown"
ok ctl stats
assert_eq "$(field "$OUT" psi_available)" 0 "stats psi_available"
assert_eq "$(field "$OUT" psi_mem_some_avg10)" 0.00 "stats psi_mem_some_avg10 (v1 key kept)"
assert_not_contains "$OUT" "pressure_mem_full_pct" "stats without PSI"
inspect_is high state running psi_available 0 psi_mem_some_avg10 0.00

say "limits and OOM attribution"
job hog --memory-max 32M --memory-swap-max 0 -- /usr/local/bin/memhog 64 60
assert_file_eq "$ROOT/hog/memory.max" 33554432
wait_rc hog 137
assert_eq "$(field "$OUT" oom_killed)" 1 "wait hog: oom_killed"
wait_event 10 job.oom id=hog
assert_events 1 job.oom id=hog
ok ctl remove hog
hostoom_end cgroupd
