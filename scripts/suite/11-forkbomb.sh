#!/bin/sh
# forkbomb: a job that forks without end under --pids-max stays at its
# limit, and `kill` brings its cgroup to `populated 0`, with cgroup.kill and
# with the freeze/kill/thaw fallback.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/bomb.sh" <<'B'
#!/bin/sh
# Every copy forks copies of itself for ever; a copy whose fork fails exits
# (ash does), which frees a pid for the others.
while :; do /bin/sh "$0" & done
B
chmod 0755 "$WORK/bomb.sh"

for flags in "" --kill-fallback; do
	ROOT=$CGMOUNT/t-forkbomb${flags:+-fallback}
	daemon_start $flags
	# The main process only waits: ash exits when a fork fails, and a job
	# ends (and is cleaned up) when its main process does.
	job bomb --pids-max 32 -- /bin/sh -c "/bin/sh $WORK/bomb.sh & exec /bin/sleep 600"
	wait_for '[ "$(cgkey bomb pids.events max)" -ge 3 ] 2>/dev/null' 120 "the bomb to hit pids.max 3 times"
	assert_le "$(cgfile bomb pids.current)" 32 "bomb pids.current"
	say "bomb at $(cgfile bomb pids.current) pids; killing${flags:+ ($flags)}"
	ok ctl ping
	ok ctl kill bomb
	wait_for '[ "$(populated bomb)" = 0 ]' 60 "the bomb's cgroup to be empty"
	wait_rc bomb 137
	assert_eq "$(field "$OUT" state)" killed "wait bomb: state"
	assert_eq "$(cgfile bomb pids.current)" 0 "bomb pids.current after kill"
	ok ctl remove bomb
	assert_no_job bomb
	daemon_quit
done
