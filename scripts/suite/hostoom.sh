# hostoom.sh - the whole-host overload shared by 22-host-oom (assertions)
# and bench-hostoom (figures); sourced after lib.sh.
#
# The VM has 1 GiB, no swap and no memory.high/memory.max anywhere. The
# programs under test (memhog, cgroupd, earlyoom, the probe) run from the
# programs disk at /disk (scripts/vm.sh progs_image), so evicting page
# cache means real re-reads from disk, as on a real host; the observers
# (cgroupbench watch, now) run from the initramfs, which is RAM.
#
# One run: page cache dropped; the guard starts (kernel: nothing; earlyoom
# with Debian's defaults; cgroupd with its defaults but PSI admission);
# a probe forks
# `sleep 0.05` in a loop; a "high" hog (priority 90 under cgroupd) takes
# SIZE % of MemTotal and holds it; then a "low" hog (priority 5) grows to
# all of MemTotal. cgroupbench watch follows both through pidfds: who dies
# first and when. The probe's figure and the time to the first death count
# from the low hog's start (under cgroupd: its job.start). Results in HO_*:
#   HO_FIRST    low, high or none: the first to die (the victim)
#   HO_KILL_MS  first death after low started (ms), -1 when none
#   HO_LOW HO_HIGH  1 when that hog died during the run
#   HO_OOM      kernel OOM kills during the run (/proc/vmstat oom_kill)
#   HO_GAP_MS   the probe's longest iteration (ms): unresponsiveness
D=/disk
HOSTBOX=/usr/local/bin/cgroupbox
PATH=$D/usr/local/bin:$PATH
export PATH
total_mb=$(awk '$1 == "MemTotal:" { print int($2 / 1024) }' /proc/meminfo)

vm_oom() { awk '$1 == "oom_kill" { print $2 }' /proc/vmstat; }
rss_mb() { awk '$1 == "VmRSS:" { print int($2 / 1024) }' "/proc/$1/status" 2>/dev/null || echo 0; }
avail_pct() { awk '$1 == "MemTotal:" { t = $2 } $1 == "MemAvailable:" { a = $2 } END { print int(a * 100 / t) }' /proc/meminfo; }

# hostoom_hog GUARD NAME PRIORITY MIB: start a memhog from the programs
# disk (a cgroupd job under the cgroupd guard, a plain process otherwise);
# sets $HOG to its pid.
hostoom_hog() {
	if [ "$1" = cgroupd ]; then
		job "$2" --priority "$3" -- "$D/usr/local/bin/memhog" "$4" 3600
		HOG=$JPID
	else
		"$D/usr/local/bin/memhog" "$4" 3600 &
		HOG=$!
	fi
}

# guard_start GUARD [DAEMON-FLAG...]: memory back, page cache dropped,
# then the guard started (kernel: nothing; earlyoom with Debian's
# defaults, $_eo its pid; cgroupd with its defaults but PSI admission).
guard_start() {
	_g=$1
	shift
	wait_for '[ "$(avail_pct)" -ge 70 ]' 120 "memory to come back before the run"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	case $_g in
	kernel) ;;
	earlyoom)
		[ -x "$D/usr/bin/earlyoom" ] || fail "no earlyoom on $D (scripts/vm.sh bench mode)"
		"$D"/lib64/ld-linux-x86-64.so.2 --library-path "$D/lib/x86_64-linux-gnu" "$D/usr/bin/earlyoom" -r 3600 \
			>"$WORK/earlyoom.log" 2>&1 &
		_eo=$!
		wait_for "grep -q '^mem total' '$WORK/earlyoom.log'" 60 "earlyoom to start: $(cat "$WORK/earlyoom.log")" ;;
	cgroupd)
		# PSI admission off: the previous run's overload keeps the host's
		# avg10 high for a minute and would refuse the jobs; it is not what
		# is measured. Every other threshold is the default.
		daemon_start --mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 \
			--cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1 "$@" ;;
	*) fail "unknown guard $_g" ;;
	esac
}

# watch_deaths GUARD TIMEOUT AFTER NAME=PID...: cgroupbench watch into
# $WORK/watch. A cgroupd job can be killed and reaped by the daemon before
# the watch opens its pidfd (watch_NAME_gone): its death time is then its
# job.exit's exit_unix_ms, and first is recomputed from every death time.
# The other guards' processes are this shell's children, zombies until it
# waits, so they are never gone.
watch_deaths() {
	_wg=$1 _wto=$2 _waf=$3
	shift 3
	$HOSTBOX cgroupbench watch -timeout "$_wto" -after "$_waf" "$@" >"$WORK/watch" ||
		fail "cgroupbench watch failed: $(cat "$WORK/watch")"
	grep -q '^watch_.*_gone=1$' "$WORK/watch" || return 0
	[ "$_wg" = cgroupd ] || fail "gone before the watch began, with no daemon to say when: $(cat "$WORK/watch")"
	for _n in $(sed -n 's/^watch_\(.*\)_gone=1$/\1/p' "$WORK/watch"); do
		wait_event 10 job.exit id="$_n"
		echo "watch_${_n}_died_unix_ms=$(kv "$EV" exit_unix_ms)" >>"$WORK/watch"
	done
	awk -F= '$1 ~ /^watch_.*_died_unix_ms$/ && (f == "" || $2 < t) { t = $2; f = substr($1, 7, length($1) - 19) }
		$1 != "watch_first" { print } END { print "watch_first=" f }' "$WORK/watch" >"$WORK/watch.new"
	mv "$WORK/watch.new" "$WORK/watch"
}

# hostoom_run GUARD SIZE [DAEMON-FLAG...]
hostoom_run() {
	_g=$1 _size=$2
	shift 2
	[ -x "$D/usr/local/bin/cgroupbox" ] || fail "no programs disk at $D (scripts/vm.sh progs_image)"
	_high_mb=$((total_mb * _size / 100))
	guard_start "$_g" "$@"
	rm -f "$WORK/probe.max"
	"$D/usr/local/bin/cgroupbox" cgroupbench probe -out "$WORK/probe.max" -- "$D/bin/sleep" 0.05 >/dev/null 2>&1 &
	_probe=$!
	_oom0=$(vm_oom)
	hostoom_hog "$_g" high 90 "$_high_mb"
	_hpid=$HOG
	wait_for "[ \$(rss_mb $_hpid) -ge $((_high_mb * 95 / 100)) ]" 120 "high to hold $_high_mb MiB"
	_t0=$($HOSTBOX cgroupbench now | sed 's/^now_unix_ms=//')
	hostoom_hog "$_g" low 5 "$total_mb"
	_lpid=$HOG
	# The overload begins now: the probe measures from here, and under
	# cgroupd the low job's start is its job.start (a RUN answered later
	# than a shell's fork is not the overload's doing).
	kill -USR1 "$_probe"
	if [ "$_g" = cgroupd ]; then
		wait_event 10 job.start id=low
		_t0=$(kv "$EV" ts_unix_ms)
	fi
	watch_deaths "$_g" 90s 3s low="$_lpid" high="$_hpid"
	HO_GAP_MS=$(cat "$WORK/probe.max" 2>/dev/null || echo -1)
	kill "$_probe" 2>/dev/null
	wait "$_probe" 2>/dev/null
	HO_OOM=$(($(vm_oom) - _oom0))
	HO_FIRST=$(sed -n 's/^watch_first=//p' "$WORK/watch")
	HO_LOW=0 HO_HIGH=0 HO_KILL_MS=-1
	grep -q '^watch_low_died' "$WORK/watch" && HO_LOW=1
	grep -q '^watch_high_died' "$WORK/watch" && HO_HIGH=1
	if [ "$HO_FIRST" != none ]; then
		HO_KILL_MS=$(($(sed -n "s/^watch_${HO_FIRST}_died_unix_ms=//p" "$WORK/watch") - _t0))
	fi
	say "hostoom $_g ${_size}%: first=$HO_FIRST after ${HO_KILL_MS} ms, low died $HO_LOW, high died $HO_HIGH, kernel OOM kills $HO_OOM, probe's longest gap ${HO_GAP_MS} ms"
	if [ "$_g" = cgroupd ] && await_event 5 pressure action=kill; then
		say "  $(echo "$EV" | sed 's/.* type=pressure //')"
	fi
}

# hostoom_end GUARD: stop what is left of the run.
hostoom_end() {
	if [ "$1" = cgroupd ]; then
		for _j in high low; do
			try ctl kill "$_j"
			try ctl wait "$_j"
			try ctl remove "$_j"
		done
		daemon_quit
	else
		kill -9 "$_hpid" "$_lpid" 2>/dev/null
		wait "$_hpid" "$_lpid" 2>/dev/null
		if [ "$1" = earlyoom ]; then
			kill "$_eo" 2>/dev/null
			wait "$_eo" 2>/dev/null
		fi
	fi
}
