#!/bin/sh
# wait: WAIT blocks until the job ends and returns its status: exit codes
# through an exec'ing wrapper, signal deaths as 128+N, the job.start and
# job.exit events with their keys, start/exit wall-clock times and pids.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/wrap.sh" <<'W'
#!/bin/sh
exec /bin/sh -c "exit $1"
W
chmod 0755 "$WORK/wrap.sh"
daemon_start

for code in 0 7 42; do
	say "exit $code through a wrapper"
	job "w$code" -- "$WORK/wrap.sh" "$code"
	wpid=$JPID
	wait_rc "w$code" "$code"
	want=failed
	[ "$code" -eq 0 ] && want=exited
	assert_eq "$(field "$OUT" id)" "w$code" "wait w$code: id"
	assert_eq "$(field "$OUT" state)" "$want" "wait w$code: state"
	assert_eq "$(field "$OUT" exit)" "$code" "wait w$code: exit"
	assert_eq "$(field "$OUT" signal)" 0 "wait w$code: signal"
	assert_eq "$(field "$OUT" oom_killed)" 0 "wait w$code: oom_killed"
	assert_events 1 job.start id="w$code" pid="$wpid" priority=50 cgroup="$ROOT/w$code"
	assert_events 1 job.exit id="w$code" state="$want" exit="$code" signal=0 oom_killed=0 cgroup="$ROOT/w$code"
	# WAIT of an ended job answers at once, the same way.
	wait_rc "w$code" "$code"
done

say "WAIT blocks until the job ends"
mkfifo "$WORK/gate"
job gated -- /bin/sh -c "read x <$WORK/gate; exit 3"
gpid=$JPID
cgroupctl --socket "$SOCK" wait gated >"$WORK/wait.out" 2>&1 &
wpid=$!
# Once the waiter holds a socket it has connected; the job is alive, so it
# must still be waiting, with no answer yet.
wait_for "ls -l /proc/$wpid/fd 2>/dev/null | grep -q 'socket:' || ! alive $wpid" 30 "cgroupctl wait to connect"
alive "$wpid" || fail "cgroupctl wait ended before the job: $(cat "$WORK/wait.out")"
alive "$gpid" || fail "gated job $gpid ended before it was released"
[ -s "$WORK/wait.out" ] && fail "wait answered before the job ended: $(cat "$WORK/wait.out")"
echo go >"$WORK/gate"
wait "$wpid"
assert_eq "$?" 3 "background cgroupctl wait status"
assert_grep_file "$WORK/wait.out" '^state: failed$'
assert_grep_file "$WORK/wait.out" '^exit: 3$'

say "signal deaths"
job sigterm -- /bin/sh -c 'kill -TERM $$'
wait_rc sigterm 143
assert_eq "$(field "$OUT" state)" failed "wait sigterm: state"
assert_eq "$(field "$OUT" signal)" 15 "wait sigterm: signal"
assert_eq "$(field "$OUT" exit)" 0 "wait sigterm: exit"
assert_events 1 job.exit id=sigterm state=failed exit=0 signal=15
job sigint -- /bin/sleep 600
ok ctl kill sigint signal 2
assert_eq "$(field "$OUT" signal)" 2 "kill sigint: signal"
wait_rc sigint 130
assert_eq "$(field "$OUT" signal)" 2 "wait sigint: signal"
job sigkill -- /bin/sleep 600
ok ctl kill sigkill --signal 9
wait_rc sigkill 137
assert_eq "$(field "$OUT" state)" killed "wait sigkill: state"

say "times and pids"
before=$(($(date +%s) * 1000))
job timed -- /bin/sh -c '/bin/sleep 600 & exec /bin/sleep 600'
tpid=$JPID
wait_for "[ \$(nprocs timed) -ge 2 ]" 30 "two processes in timed"
ok ctl inspect timed
start=$(field "$OUT" start_unix_ms)
assert_ge "$start" "$((before - 2000))" "inspect timed: start_unix_ms"
assert_le "$start" "$(($(date +%s) * 1000 + 2000))" "inspect timed: start_unix_ms"
assert_eq "$(field "$OUT" exit_unix_ms)" 0 "inspect timed: exit_unix_ms while running"
assert_ge "$(field "$OUT" start_mono_ms)" 1 "inspect timed: start_mono_ms"
assert_eq "$(field "$OUT" pid_count)" 2 "inspect timed: pid_count"
want=$(sort -n "$ROOT/timed/cgroup.procs" | tr '\n' ',' | sed 's/,$//')
got=$(field "$OUT" pids | tr ',' '\n' | sort -n | tr '\n' ',' | sed 's/,$//')
assert_eq "$got" "$want" "inspect timed: pids vs cgroup.procs"
assert_contains ",$got," ",$tpid," "inspect timed: pids"
ok ctl kill timed
wait_rc timed 137
ok ctl inspect timed
ex=$(field "$OUT" exit_unix_ms)
assert_ge "$ex" "$start" "inspect timed: exit_unix_ms"
assert_le "$ex" "$(($(date +%s) * 1000 + 2000))" "inspect timed: exit_unix_ms"
wait_event 10 job.exit id=timed
assert_eq "$(kv "$EV" start_unix_ms)" "$start" "job.exit start_unix_ms"
assert_eq "$(kv "$EV" exit_unix_ms)" "$ex" "job.exit exit_unix_ms"
assert_eq "$(populated timed)" 0 "timed: populated after wait (the extra sleep is gone)"

for j in w0 w7 w42 gated sigterm sigint sigkill timed; do ok ctl remove "$j"; done
try ctl wait nosuch
assert_rc 1 "wait nosuch"
assert_reason "no such job"
daemon_quit
