#!/bin/sh
# limits: every RUN limit lands in the job's cgroup file with the right
# value; every malformed or kernel-refused value is refused with a reason
# naming the key and leaves nothing behind; pids.max really stops a fork
# loop. (That cpu.max really caps a cpuhog is 23-cpu-cap.)
. "$(dirname "$0")/lib.sh"

daemon_start

say "all limits at once"
job all --cpu-max 50000/100000 --cpu-weight 200 --cpuset-cpus 0 --cpuset-mems 0 \
	--memory-max 64M --memory-high 48M --memory-low 8M --memory-min 4M \
	--memory-swap-max 16M --io-weight 300 --io-max "8:0 rbps=1048576 wiops=100" \
	--pids-max 20 -- /bin/sleep 600
c=$ROOT/all
assert_file_eq "$c/cpu.max" "50000 100000"
assert_file_eq "$c/cpu.weight" 200
assert_file_eq "$c/cpuset.cpus" 0
assert_file_eq "$c/cpuset.mems" 0
assert_file_eq "$c/memory.max" 67108864
assert_file_eq "$c/memory.high" 50331648
assert_file_eq "$c/memory.low" 8388608
assert_file_eq "$c/memory.min" 4194304
assert_file_eq "$c/memory.swap.max" 16777216
assert_file_eq "$c/io.weight" "default 300"
assert_file_eq "$c/io.max" "8:0 rbps=1048576 wbps=max riops=max wiops=100"
assert_file_eq "$c/pids.max" 20
ok ctl inspect all
assert_eq "$(field "$OUT" io_max_rule_count)" 1 "inspect all: io_max_rule_count"
ok ctl kill all
wait_rc all 137
ok ctl remove all

say "value forms"
n=0
# form FILE WANT RUN-OPTS...: a job with RUN-OPTS has WANT in FILE.
form() {
	n=$((n + 1))
	_f=$1 _w=$2
	shift 2
	job "f$n" "$@" -- /bin/true
	assert_file_eq "$ROOT/f$n/$_f" "$_w"
	wait_rc "f$n" 0
	ok ctl remove "f$n"
}
form cpu.max "max 100000" --cpu-max max
form cpu.max "max 50000" --cpu-max "max 50000"
form cpu.max "25000 100000" --cpu-max "25000 100000"
form cpu.max "1000 1000" --cpu-max 1000/1000
form cpu.weight 1 --cpu-weight 1
form cpu.weight 10000 --cpu-weight 10000
form cpuset.cpus 0-1 --cpuset-cpus 0-1
form memory.max 524288 --memory-max 512K
form memory.max 1073741824 --memory-max 1G
form memory.max 2097152 --memory-max 2MB
form memory.max 8388608 --memory-max 8388608
form memory.max max --memory-max max
form memory.high 1099511627776 --memory-high 1T
# cgroupctl's shorthands (IEC and fractional sizes, --cpus), sent as v1 values.
form memory.max 67108864 --memory-max 64MiB
form memory.max 1610612736 --memory-max 1.5G
form cpu.max "150000 100000" --cpus 1.5
form io.weight "default 1" --io-weight 1
form io.max "8:0 rbps=max wbps=2097152 riops=1000 wiops=max" --io-max "8:0 wbps=2097152 riops=1000"
form pids.max max --pids-max max
form pids.max 1 --pids-max 1

say "malformed values are refused and create nothing"
# bad KEY RUN-OPTS...: RUN is refused, the reason names KEY, nothing exists.
bad() {
	_k=$1
	shift
	try ctl run --id bad $JOBENV "$@" -- /bin/true
	[ "$RC" -ne 0 ] || fail "run $* was accepted, want a refusal naming $_k"
	assert_contains "$OUT" "$_k" "run $*: refusal"
	assert_no_job bad
	assert_events 0 job.start id=bad
}
bad cpu_max --cpu-max 0/100000
bad cpu_max --cpu-max abc
bad cpu_max --cpu-max 50000/0
bad cpu_max --cpu-max -5/100000
bad cpu_max --cpu-max 500/100000
bad cpu_max --cpu-max 50000/2000000
bad cpu_weight --cpu-weight 0
bad cpu_weight --cpu-weight 10001
bad cpu_weight --cpu-weight ten
bad io_weight --io-weight 0
bad io_weight --io-weight 10001
bad memory_max --memory-max 12Q
bad memory_max --memory-max -5
bad memory_max --memory-max 1.5Q
bad memory_high --memory-high lots
bad memory_low --memory-low 9X
bad memory_min --memory-min M
bad memory_swap_max --memory-swap-max y
bad pids_max --pids-max many
bad pids_max --pids-max -1
bad io_max --io-max garbage
bad io_max --io-max "8:0 rbps=fast"
bad io_max --io-max "259:99 rbps=1048576"
bad cpuset_cpus --cpuset-cpus 99
bad cpuset_mems --cpuset-mems 7
bad priority --priority 101
bad priority --priority -1
ok ctl list
assert_eq "$(field "$OUT" count)" 0 "list after refusals: count"
[ -z "$(job_dirs)" ] || fail "cgroups left after refused runs: $(job_dirs | tr '\n' ' ')"

say "pids.max stops a fork loop"
# The loop runs beside the main process: ash exits when a fork fails.
job forker --pids-max 5 -- /bin/sh -c "/bin/sh -c 'while :; do /bin/sleep 600 & done' & exec /bin/sleep 600"
wait_for "[ \"\$(cgkey forker pids.events max)\" -ge 1 ] 2>/dev/null" 60 "pids.events max >= 1"
assert_le "$(cgfile forker pids.current)" 5 "forker pids.current"
assert_le "$(nprocs forker)" 5 "processes in forker"
wait_for "grep -q \"can't fork\" '$LOGDIR/forker.log'" 30 "the loop's fork failure in $LOGDIR/forker.log"
ok ctl kill forker
wait_rc forker 137
assert_eq "$(populated forker)" 0 "forker populated after wait"
ok ctl remove forker

daemon_quit
