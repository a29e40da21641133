#!/bin/sh
# oom-repeat: 20 short jobs OOM-killed in a row under --memory-max 32M,
# alternating two shapes that race differently with the daemon's view of
# the end: the main process itself allocates at once (the pidfd exit and
# the memory.events notification arrive together), or a child starts
# allocating after a pause under a shell that would go on to exit 3 — the
# job's memory.oom.group takes the shell too, so the whole job ends
# killed. For every job: exactly one job.oom and one job.exit with
# oom_killed=1, job.oom first; WAIT agrees.
. "$(dirname "$0")/lib.sh"

daemon_start
i=1
while [ $i -le 20 ]; do
	id=oom-$i
	if [ $((i % 2)) -eq 1 ]; then
		job "$id" --memory-max 32M --memory-swap-max 0 -- /usr/local/bin/memhog 64 60
		wait_rc "$id" 137
		assert_eq "$(field "$OUT" state)" killed "wait $id: state"
	else
		job "$id" --memory-max 32M --memory-swap-max 0 -- /bin/sh -c 'sleep 0.2; /usr/local/bin/memhog 64 60; exit 3'
		assert_file_eq "$ROOT/$id/memory.oom.group" 1
		wait_rc "$id" 137
		assert_eq "$(field "$OUT" state)" killed "wait $id: state (memory.oom.group kills the shell too)"
	fi
	assert_eq "$(field "$OUT" oom_killed)" 1 "wait $id: oom_killed"
	wait_event 10 job.exit id="$id" oom_killed=1
	assert_events 1 job.exit id="$id"
	assert_events 1 job.oom id="$id"
	# job.oom precedes job.exit in the daemon's stream.
	order=$(grep -E "^EVENT .* type=job\\.(oom|exit) id=$id " "$DERR" | sed -n 's/.* type=\(job\.[a-z]*\) .*/\1/p' | tr '\n' ' ')
	assert_eq "$order" "job.oom job.exit " "order of $id's events"
	ok ctl remove "$id"
	i=$((i + 1))
done
daemon_quit
