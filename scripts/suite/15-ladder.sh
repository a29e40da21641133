#!/bin/sh
# ladder: the gentler rungs. Memory `some` pressure freezes the
# low-priority job (job.freeze reason=pressure_memory) and, once pressure
# has receded, the engine thaws it (reason=pressure_receded) but never a job
# a client froze. CPU pressure halves cpu.weight of low-priority jobs
# (job.throttle reason=pressure_cpu) and restores it when pressure recedes.
. "$(dirname "$0")/lib.sh"

daemon_start -k -1 --mem-freeze-some-avg10 10 --cpu-demote-some-avg10 -1 \
	--io-freeze-full-avg10 -1 --mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 \
	--cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
echo 200M >"$ROOT/memory.high" || fail "write 200M to $ROOT/memory.high"

say "memory: freeze the low-priority job, thaw it when pressure recedes"
job cf --priority 5 -- /bin/sleep 600
ok ctl freeze cf
job low --priority 10 -- /usr/local/bin/memhog 150 300
wait_for '[ "$(cgkey low memory.stat anon)" -ge 104857600 ]' 120 "low to hold 100 MiB"
job high --priority 90 -- /usr/local/bin/memhog 150 300
FAIL_HINT='grep -H . "$ROOT/memory.pressure"'
wait_event 120 job.freeze id=low reason=pressure_memory
wait_event 10 pressure action=freeze target=low
assert_eq "$(frozen low)" 1 "low: cgroup.events frozen"
inspect_is low state frozen
ok ctl kill high
wait_rc high 137
wait_event 60 job.thaw id=low reason=pressure_receded
FAIL_HINT=""
wait_for '[ "$(frozen low)" = 0 ]' 30 "low thawed in cgroup.events"
inspect_is low state running
inspect_is cf state frozen
assert_eq "$(frozen cf)" 1 "client-frozen cf: cgroup.events frozen"
assert_events 0 job.thaw id=cf
assert_events 0 job.freeze id=high
for j in low cf; do
	ok ctl kill "$j"
	wait_rc "$j" 137
done
for j in cf low high; do ok ctl remove "$j"; done
daemon_quit

say "cpu: demote low-priority jobs, restore when pressure recedes"
ROOT=$CGMOUNT/t-ladder-cpu
daemon_start -k -1 --mem-freeze-some-avg10 -1 --cpu-demote-some-avg10 10 \
	--io-freeze-full-avg10 -1 --mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 \
	--cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1
# Three spinning threads on two CPUs: CPU pressure until chigh goes.
job clow --priority 10 --cpu-weight 200 -- /usr/local/bin/cpuhog 1 300
job chigh --priority 90 -- /usr/local/bin/cpuhog 2 300
FAIL_HINT='grep -H . "$ROOT/cpu.pressure"'
wait_event 120 job.throttle id=clow resource=cpu cpu_weight=100 reason=pressure_cpu
assert_file_eq "$ROOT/clow/cpu.weight" 100
assert_file_eq "$ROOT/chigh/cpu.weight" 100
assert_events 0 job.throttle id=chigh
ok ctl kill chigh
wait_rc chigh 137
# One thread on two CPUs: pressure recedes and the weight comes back.
wait_event 60 job.throttle id=clow cpu_weight=200
FAIL_HINT=""
say "restored: $EV"
assert_file_eq "$ROOT/clow/cpu.weight" 200
ok ctl kill clow
wait_rc clow 137
ok ctl remove clow
ok ctl remove chigh
daemon_quit
