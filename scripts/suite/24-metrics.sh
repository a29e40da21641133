#!/bin/sh
# metrics: with every controller, the per-job figures of METRICS are the
# job's own (memory.current of a memhog, pids.current, cpu usage), the
# --metrics-file follows the action counters, a bare cpu_max quota is
# refused naming cpu_max, and `cgroupctl --json inspect` types the memory
# and pids figures as numbers. (promtool checks the format in the Go tests.)
. "$(dirname "$0")/lib.sh"

MF=$WORK/cgroupd.prom
daemon_start --metrics-file "$MF" --metrics-interval 1s
assert_grep_file "$MF" '^cgroupd_actions_total\{kind="kill",reason="client"\} 0$' "metrics file at start"
assert_grep_file "$MF" '^cgroupd_jobs\{state="running"\} 0$' "metrics file at start"

say "per-job figures of a live job"
job m --priority 20 -- /usr/local/bin/memhog 32 600
wait_for '[ "$(cgfile m memory.current)" -ge 33554432 ]' 60 "memhog's 32 MiB charged to m"
series='{id="m",priority="20",uid="0"}'
wait_for 'ctl metrics | grep -q "^cgroupd_job_memory_bytes$series [1-9]"' 30 "cgroupd_job_memory_bytes of m"
ok ctl metrics
mem=$(printf '%s\n' "$OUT" | sed -n "s/^cgroupd_job_memory_bytes$series //p")
assert_ge "$mem" 33554432 "cgroupd_job_memory_bytes of m"
# pids.current counts tasks: memhog's Go runtime threads too.
assert_ge "$(printf '%s\n' "$OUT" | sed -n "s/^cgroupd_job_pids$series //p")" 1 "cgroupd_job_pids of m"
cpu=$(printf '%s\n' "$OUT" | sed -n "s/^cgroupd_job_cpu_seconds_total$series //p")
assert_match "$cpu" '^[0-9]' "cgroupd_job_cpu_seconds_total of m"
assert_match "$OUT" '^cgroupd_pressure_stall_ratio\{resource="memory",kind="some"\} [0-9]' "engine window figures"
assert_not_contains "$OUT" "STATUS:" "cgroupctl metrics prints the text alone"

say "JSON types"
ok ctl --json inspect m
assert_match "$OUT" '"memory_current":[1-9][0-9]*[,}]' "inspect --json: memory_current a number"
assert_match "$OUT" '"pids":\[[1-9][0-9]*\]' "inspect --json: pids an array of numbers"
assert_match "$OUT" '"oom_killed":false' "inspect --json: oom_killed a boolean"

say "action counters in the file"
ok ctl freeze m
ok ctl thaw m
ok ctl kill m
wait_rc m 137
wait_for 'grep -q "^cgroupd_actions_total{kind=\"kill\",reason=\"client\"} 1\$" "$MF"' 30 "the kill in $MF"
assert_grep_file "$MF" '^cgroupd_actions_total\{kind="freeze",reason="client"\} 1$' "freeze counted"
assert_grep_file "$MF" '^cgroupd_jobs\{state="killed"\} 1$' "killed job counted"
assert_grep_file "$MF" '^cgroupd_jobs_ended_total\{state="killed"\} 1$' "job.exit counted"
ls -a "$WORK" | grep -q '\.cgroupd\.prom\.tmp' && fail "a temp file of the metrics file stayed behind"

say "cpu_max: a bare quota is refused by the daemon"
refused ctl run --id cq --cpu-max 100000 -- /bin/true
assert_match "$(field "$OUT" reason)" '^cpu_max: invalid value' "bare cpu_max reason"
assert_no_job cq
ok ctl remove m
