#!/bin/sh
# pressure (bench): how fast the pressure engine reacts to a sustained
# memory overload of the daemon's root, and that a short burst kills
# nothing (issue 4). Runs in the VM (`make bench-vm`): 1 GiB, no swap,
# every controller.
#
# Overload: a high-priority (90) memhog holds HIGH_MB; the root's
# memory.high is then set just above the root's memory.current, and a
# low-priority (10) memhog that wants LOW_MB more starts. It crosses
# memory.high at once and stalls in reclaim/throttling (no swap: nothing
# to reclaim), which is full memory pressure on the root, sustained until
# something gives; memory.high never OOM-kills. The overload starts when
# the root's memory.events `high` counter first moves (polled every 1 ms by
# `cgroupbench poll`, which stamps it with the wall clock); it ends for the
# figure at the daemon's `job.kill id=low reason=pressure_memory` event
# (its ts_unix_ms, the same clock). Done RUNS times with -k 5 and RUNS
# times at default thresholds, each on a fresh daemon and a fresh root
# (admission control off, see ADMIT_OFF). Every run checks:
# the low job is killed, the high job is still running SETTLE s later and
# was never killed, exactly one pressure kill, and no kernel OOM kill (the
# root's memory.events oom_kill and /proc/vmstat oom_kill unchanged).
#
# Burst (default thresholds): the same overload, ended BURST_MS after it
# began by raising the root's memory.high back to max (as when another
# tenant frees memory); the poller that sees it begin ends it. Nothing may
# be killed; a job the engine froze must be thawed (reason=pressure_receded)
# within THAW_S of the end. BURST_MS is 150 by default: tasks throttled by
# memory.high keep sleeping off their penalty for up to 2 s after the cap is
# lifted, and PSI counts that sleep as full stall, so a 500 ms cap overload
# is a ~2.5 s stall as the kernel reports it: an overload, which the 0.5 s
# kill target at -k 5 obliges the engine to act on. A burst is short when
# its stall ends within the engine's --pressure-sustain (200 ms).
#
# Figures, key=value (also written to /dev/console inside the VM, where the
# suite runner keeps a passing test's output to itself):
#   pressure_kill_ms_k5_rN, pressure_kill_ms_default_rN   per run
#   pressure_kill_ms_k5, pressure_kill_ms_default         worst of the runs
#   pressure_kill_ms_k5_median, pressure_kill_ms_default_median
#   pressure_freeze_ms_default_rN   when the engine froze low before killing it
#   pressure_burst_ms, pressure_burst_kills, pressure_burst_freezes,
#   pressure_burst_freeze_ms, pressure_burst_kill_ms (from the start, if any)
#   pressure_burst_thaw_ms (end of the burst to the thaw, when frozen)
# Targets (issue 4): kill within 500 ms at -k 5 and 2000 ms at defaults; the
# C tool took ~850 ms and ~9900 ms and then killed the high job too.
#
# Environment: PRESSURE_RUNS (3), PRESSURE_KILL_TIMEOUT (20 s),
# PRESSURE_SETTLE (5 s), PRESSURE_BURST_MS (150), PRESSURE_THAW_S (15),
# PRESSURE_HIGH_MB (128), PRESSURE_LOW_MB (256).
. "$(dirname "$0")/lib.sh"

RUNS=${PRESSURE_RUNS:-3}
KILL_TIMEOUT=${PRESSURE_KILL_TIMEOUT:-20}
SETTLE=${PRESSURE_SETTLE:-5}
BURST_MS=${PRESSURE_BURST_MS:-150}
THAW_S=${PRESSURE_THAW_S:-15}
HIGH_MB=${PRESSURE_HIGH_MB:-128}
LOW_MB=${PRESSURE_LOW_MB:-256}
MARGIN=$((8 * 1024 * 1024))
MEMHOG=$(command -v memhog || echo /usr/local/bin/memhog)
PROBLEMS=""
POLL_END="" # extra cgroupbench poll flags: end the overload (burst)
# Admission control reads the host's PSI (/proc/pressure), which the last
# run's overload keeps high for most of a minute: it would refuse the next
# run's jobs. It is not what is measured here, so it is off; the ladder's
# thresholds (-k and the freeze/demote ones) are the defaults or -k 5.
ADMIT_OFF="--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1"

bench() { cgroupbox cgroupbench "$@"; }

# problem MSG: a failed check; the scenario goes on so the other figures
# are still measured, and the test fails at the end.
problem() {
	say "PROBLEM: $*"
	PROBLEMS="$PROBLEMS
  $*"
}

rootkey() { awk -v k="$2" '$1 == k { print $2; exit }' "$ROOT/$1"; }
vmstat_oom() { awk '$1 == "oom_kill" { print $2; exit }' /proc/vmstat; }


# setup_overload: the daemon runs; start the high hog, wait until it holds
# its memory, cap the root just above its usage, start polling for the
# overload, start the low hog. Sets $OVER_MS (overload start, epoch ms).
setup_overload() {
	[ -f "$ROOT/memory.high" ] || echo +memory >"$CGMOUNT/cgroup.subtree_control" 2>/dev/null
	[ -f "$ROOT/memory.high" ] || fail "$ROOT/memory.high missing: no memory controller above the root"
	echo max >"$ROOT/memory.high"
	OOM0=$(rootkey memory.events oom_kill)
	VOOM0=$(vmstat_oom)
	job high --priority 90 -- "$MEMHOG" "$HIGH_MB" 3600
	wait_for "[ \"\$(cgkey high memory.stat anon)\" -ge $((HIGH_MB * 1024 * 1024 * 95 / 100)) ]" 120 "high to hold ${HIGH_MB} MiB"
	cap=$(($(cat "$ROOT/memory.current") + MARGIN))
	echo "$cap" >"$ROOT/memory.high" || fail "write $cap to $ROOT/memory.high"
	h0=$(rootkey memory.events high)
	rm -f "$WORK/overload.ready"
	bench poll -file "$ROOT/memory.events" -key high -gt "$h0" -name overload -timeout 120s \
		-ready "$WORK/overload.ready" $POLL_END >"$WORK/overload" &
	_poller=$!
	wait_for "[ -e '$WORK/overload.ready' ]" 60 "cgroupbench poll to start"
	job low --priority 10 -- "$MEMHOG" "$LOW_MB" 3600
	wait "$_poller" || fail "the root's memory.events high did not move within 120 s (no overload)"
	OVER_MS=$(sed -n 's/^overload_unix_ms=//p' "$WORK/overload")
	[ -n "$OVER_MS" ] || fail "no overload_unix_ms from cgroupbench poll: $(cat "$WORK/overload")"
	say "overload: memory.high $cap, high holds $(cat "$ROOT/high/memory.current"), overload at $OVER_MS"
}

# check_no_oom WHAT: no kernel OOM kill since setup_overload.
check_no_oom() {
	o=$(rootkey memory.events oom_kill)
	[ "$o" = "$OOM0" ] || problem "$1: root memory.events oom_kill went from $OOM0 to $o"
	v=$(vmstat_oom)
	[ "$v" = "$VOOM0" ] || problem "$1: /proc/vmstat oom_kill went from $VOOM0 to $v"
}

# teardown: end both hogs, remove the jobs, uncap the root, quit the daemon.
teardown() {
	for j in high low; do
		try ctl kill "$j"
		try ctl wait "$j"
		try ctl remove "$j"
	done
	echo max >"$ROOT/memory.high" 2>/dev/null
	daemon_quit
	rm_cgroup "$ROOT"
}

# fresh_root NAME: the next daemon gets its own root. Pressure averages
# (avg10) of the last run's root take most of a minute to decay; on the
# same root the next daemon would refuse RUNs by admission control.
fresh_root() { ROOT=$CGMOUNT/t-$T-$1; }

# overload TAG RUN [DAEMON-FLAG...]: one sustained-overload run; prints
# pressure_kill_ms_TAG_rRUN and appends it to $WORK/kill-TAG.
overload() {
	tag=$1 run=$2
	shift 2
	say "overload $tag run $run: cgroupd $*"
	fresh_root "$tag-$run"
	daemon_start $ADMIT_OFF "$@"
	setup_overload
	if await_event "$KILL_TIMEOUT" job.kill id=low reason=pressure_memory; then
		ms=$(($(kv "$EV" ts_unix_ms) - OVER_MS))
		figure "pressure_kill_ms_${tag}_r$run" "$ms"
		echo "$ms" >>"$WORK/kill-$tag"
		# The decision and the measurement behind it, for the log.
		say "$(event_lines pressure action=kill target=low | head -n 1)"
		try ctl wait low
		[ "$(field "$OUT" state)" = killed ] || problem "$tag run $run: low ended as $(field "$OUT" state), want killed"
	else
		figure "pressure_kill_ms_${tag}_r$run" timeout
		echo 999999 >>"$WORK/kill-$tag"
		problem "$tag run $run: low was not killed within ${KILL_TIMEOUT}s of the overload"
	fi
	if f=$(event_lines job.freeze id=low reason=pressure_memory | head -n 1) && [ -n "$f" ]; then
		figure "pressure_freeze_ms_${tag}_r$run" $(($(kv "$f" ts_unix_ms) - OVER_MS))
	fi
	# One overload, one kill: the high job must outlive the settling time.
	sleep "$SETTLE"
	try ctl inspect high
	[ "$(field "$OUT" state)" = running ] || problem "$tag run $run: high is $(field "$OUT" state) ${SETTLE}s after the kill, want running"
	n=$(event_count job.kill id=high)
	[ "$n" -eq 0 ] || problem "$tag run $run: high was killed ($n job.kill events)"
	n=$(event_count job.kill reason=pressure_memory)
	[ "$n" -le 1 ] || problem "$tag run $run: $n pressure kills for one overload"
	check_no_oom "$tag run $run"
	teardown
}

# summary TAG: worst and median of the runs.
summary() {
	sort -n "$WORK/kill-$1" | awk -v t="$1" '
		{ v[NR] = $1 }
		END {
			if (!NR) exit
			w = v[NR] == 999999 ? "timeout" : v[NR]
			m = v[int((NR + 1) / 2)]
			printf "pressure_kill_ms_%s=%s\npressure_kill_ms_%s_median=%s\n", t, w, t, (m == 999999 ? "timeout" : m)
		}' | while IFS='=' read -r k v; do figure "$k" "$v"; done
}

# burst: a short overload that ends by itself at default thresholds.
burst() {
	say "burst: ${BURST_MS} ms of overload at default thresholds"
	fresh_root burst
	daemon_start $ADMIT_OFF
	# The poller that stamps the overload also ends it, BURST_MS later:
	# the shell would add its own reaction time (long under emulation).
	POLL_END="-after ${BURST_MS}ms -write $ROOT/memory.high -value max"
	setup_overload
	POLL_END=""
	t1=$(sed -n 's/^overload_write_unix_ms=//p' "$WORK/overload")
	[ -n "$t1" ] || fail "cgroupbench poll did not end the burst: $(cat "$WORK/overload")"
	figure pressure_burst_ms $((t1 - OVER_MS))
	# Watch long enough for a late kill or for the thaw of a freeze.
	sleep "$SETTLE"
	nf=$(event_count job.freeze reason=pressure_memory)
	for e in freeze kill; do
		l=$(event_lines "job.$e" reason=pressure_memory | head -n 1)
		[ -z "$l" ] || figure "pressure_burst_${e}_ms" $(($(kv "$l" ts_unix_ms) - OVER_MS))
	done
	if [ "$nf" -gt 0 ]; then
		if await_event "$THAW_S" job.thaw id=low reason=pressure_receded; then
			figure pressure_burst_thaw_ms $(($(kv "$EV" ts_unix_ms) - t1))
		else
			figure pressure_burst_thaw_ms timeout
			problem "burst: low frozen by the engine and not thawed within $((SETTLE + THAW_S))s of the end"
		fi
	fi
	figure pressure_burst_freezes "$nf"
	nk=$(event_count job.kill reason=pressure_memory)
	figure pressure_burst_kills "$nk"
	[ "$nk" -eq 0 ] || problem "burst: $nk pressure kill(s) for a ${BURST_MS} ms burst"
	for j in high low; do
		try ctl inspect "$j"
		st=$(field "$OUT" state)
		[ "$st" = running ] || problem "burst: $j is $st after the burst, want running"
	done
	check_no_oom burst
	teardown
}

: >"$WORK/kill-k5"
: >"$WORK/kill-default"
r=1
while [ "$r" -le "$RUNS" ]; do
	overload k5 "$r" -k 5
	r=$((r + 1))
done
summary k5
r=1
while [ "$r" -le "$RUNS" ]; do
	overload default "$r"
	r=$((r + 1))
done
summary default
burst

[ -z "$PROBLEMS" ] || fail "pressure scenarios:$PROBLEMS"
