#!/bin/sh
# dryrun: with --dry-run the engine reports the kill it would make
# (`pressure ... action=kill target=low ... dry_run=1`) but kills nothing.
. "$(dirname "$0")/lib.sh"

daemon_start --dry-run -k 10 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 -1 \
	--io-freeze-full-avg10 -1 --mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 \
	--cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
echo 200M >"$ROOT/memory.high" || fail "write 200M to $ROOT/memory.high"
job low --priority 10 -- /usr/local/bin/memhog 150 300
lpid=$JPID
wait_for '[ "$(cgkey low memory.stat anon)" -ge 104857600 ]' 120 "low to hold 100 MiB"
job high --priority 90 -- /usr/local/bin/memhog 150 300
hpid=$JPID
FAIL_HINT='grep -H . "$ROOT/memory.pressure"'
wait_event 120 pressure action=kill target=low dry_run=1
say "event: $EV"
# The overload goes on: wait for the engine to decide again, then check
# that neither decision was carried out.
wait_for '[ "$(event_count pressure action=kill dry_run=1)" -ge 2 ]' 60 "a second dry-run decision"
FAIL_HINT=""
assert_events 0 job.kill
assert_events 0 pressure action=kill dry_run=0
inspect_is low state running pid "$lpid"
inspect_is high state running pid "$hpid"
alive "$lpid" || fail "low (pid $lpid) died in a dry run"
for j in low high; do
	ok ctl kill "$j"
	wait_rc "$j" 137
	ok ctl remove "$j"
done
daemon_quit
