#!/bin/sh
# bench.sh - `make bench`: cgroupd's figures on this host, as one table on
# stdout and as key=value lines in build/bench.txt (stable keys, so runs can
# be compared with diff or join).
#
# usage: sh scripts/bench.sh [-h]
#
# Builds nothing (make bench has run `make build`). Needs root and cgroup v2
# (controllers are not needed). Starts its own daemon, without -L, on the
# test root <cgroup2 mount>/cgroupd-bench-<pid> with a socket in a temporary
# directory, drives it with the hidden load generator (`cgroupbox
# cgroupbench`, one process, each request its own connection, timed from
# connect to the response's EOF) and with real `cgroupctl` processes, then
# asks it to quit. An EXIT trap stops the daemon and removes the test root
# and everything below it, however the run ends.
#
# Measured, in this order: binary size; daemon RSS idle; PING latency while
# 50 connections sit silent; the spawn floor (fork+exec+wait of /bin/true
# from Go: when it is far above ~0.1 ms the machine is busy and every figure
# below is inflated); daemon-side RUN rate and latency with 1 and with 8
# concurrent clients (/bin/true jobs, WAITed and REMOVEd afterwards,
# untimed) and the daemon's CPU per job over those runs; the RUN p50 at 1
# client against the spawn floor, in alternating rounds; LIST and INSPECT
# latency with 10 live `sleep` jobs; PING while 8 clients RUN; PING on a
# second daemon whose stderr nobody reads while 8 clients RUN (and what it
# dropped); on daemons with -L, the daemon's CPU against a job's while the
# job writes its log at full speed (a cap never reached, then the default
# 8M), LOGS of a 100 GB sparse log, and PING while 8 clients LOGS it; the C tool built from ../shared/baseline-c and its RUN rates and
# CPU per job with 1 and 8 clients, side by side; then, from the shell, in
# rounds that alternate ours and the C tool's (the median of the rounds is
# the figure, min and max show the noise): a loop of cgroupctl run processes
# (a sh while loop of `cgroupctl run --id tput-N -- /bin/true`, timed as a
# whole: jobs/s, each client with its own daemon), single `cgroupctl run`s
# (fork to exit, each with its own daemon) and whole-process `cgroupctl
# ping`s (both clients against our daemon: the client's cost alone), and
# `cgroupctl -V` (the Go runtime's start and exit, no connect); RSS
# with 4 000; with 10 000 live jobs: CPU use over 60 s idle, RSS, LIST (all
# jobs listed?), INSPECT and PING latency; the disk writes of the job
# records per job lifecycle; SIGKILL of the daemon and the time a new one
# takes to adopt them all and be ready; the time QUIT takes to kill and
# remove them all. About 5 minutes.
#
# Environment (defaults in brackets), for quicker partial runs:
#   BENCH_JOBS        live jobs for the scale figures [10000]
#   BENCH_IDLE_SECS   idle CPU window [60]
#   BENCH_RUN_COUNT   timed RUNs per client count [3000]
#   BENCH_E2E_COUNT   timed single cgroupctl runs, over all rounds [200]
#   BENCH_SHELL_ROUNDS  alternating rounds of the shell figures [5]
#   BENCH_FLOOR_ROUNDS  alternating rounds of spawn floor and RUN [5]
#   BENCH_SHELL_JOBS  cgroupctl runs in one shell loop [300]
#   BENCH_PING_COUNT  whole-process cgroupctl pings per round [50]
#   BENCH_OUT         figures file [build/bench.txt]
#
# Exit status: 0 when every measurement ran (a missed target is a "NO" in
# the table, not a failure), 1 when one could not be taken.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
box=$build/cgroupbox
jobs=${BENCH_JOBS:-10000}
idle_secs=${BENCH_IDLE_SECS:-60}
run_count=${BENCH_RUN_COUNT:-3000}
e2e_count=${BENCH_E2E_COUNT:-200}
shell_rounds=${BENCH_SHELL_ROUNDS:-5}
floor_rounds=${BENCH_FLOOR_ROUNDS:-5}
shell_jobs=${BENCH_SHELL_JOBS:-300}
ping_count=${BENCH_PING_COUNT:-50}
out=${BENCH_OUT:-$build/bench.txt}

# The C tool's figures of issue 5, used only when this run cannot build the
# C tool (../shared/baseline-c) and measure it side by side (c_e2e_ms: the
# single cgroupctl run).
c_rate1=599
c_rate8=802
c_e2e_ms=2.17

case ${1:-} in
-h | --help)
	sed -n '2,/^set -u$/{/^set -u$/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
"") ;;
*)
	echo "usage: sh scripts/bench.sh [-h]" >&2
	exit 2
	;;
esac

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (the daemon owns a cgroup)"
[ -x "$box" ] || die "$box is missing: run make build (make bench does)"
{ [ -e "$build/cgroupd" ] && [ -e "$build/cgroupctl" ]; } || die "$build/cgroupd or cgroupctl link missing: run make build"
mount=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
[ -n "$mount" ] || die "no cgroup2 mount in /proc/self/mountinfo"

root=$mount/cgroupd-bench-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cgroupd-bench.XXXXXX") || die "mktemp failed"
sock=$tmp/cgroupd.sock
figs=$tmp/figures
: >"$figs"
dpid=""
failures=0

# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# wait_gone PID SECONDS: poll until PID has exited; fails at the deadline.
wait_gone() {
	n=$(($2 * 10))
	while alive "$1"; do
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
		n=$((n - 1))
	done
}

# rm_root: kill whatever is left below the test root and remove it (the
# root is ours: this script created it).
# shellcheck disable=SC2317 # called by the trap
rm_root() {
	for r in "$root" "$mount/cgroupd-bench-hostile-$$" "$mount/cgroupd-bench-blocked-$$" "$mount/cgroupd-bench-c-$$" "$mount/cgroupd-bench-disk-$$" "$mount/cgroupd-bench-floor-$$" "$mount/cgroupd-bench-logs-$$"; do
		[ -d "$r" ] || continue
		echo 1 >"$r/cgroup.kill" 2>/dev/null
		n=0
		while grep -q 'populated 1' "$r/cgroup.events" 2>/dev/null && [ "$n" -lt 100 ]; do
			sleep 0.1
			n=$((n + 1))
		done
		find "$r" -depth -type d -exec rmdir {} + 2>/dev/null
		[ ! -d "$r" ] || say "warning: could not remove $r"
	done
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "$dpid" ] && alive "$dpid"; then
		say "stopping the daemon (pid $dpid)"
		timeout 10 "$build/cgroupctl" --socket "$sock" quit >/dev/null 2>&1
		if ! wait_gone "$dpid" 60; then
			kill -TERM "$dpid" 2>/dev/null
			wait_gone "$dpid" 10 || kill -KILL "$dpid" 2>/dev/null
		fi
	fi
	for p in ${bpid:-} ${cpid:-} ${dkpid:-} ${lpid:-} ${readers:-} ${hpid:-} ${hupid:-}; do
		kill -KILL "$p" 2>/dev/null
	done
	rm_root
	rm -rf "/dev/shm/cgroupd-bench-$$" "/run/cgroupd/cgroupd-bench-$$"*
	if [ "$rc" -ne 0 ] && [ -s "$tmp/daemon.err" ]; then
		say "daemon stderr (last 10 lines, events left out):"
		grep -v '^EVENT ' "$tmp/daemon.err" | tail -n 10 >&2
	fi
	rm -rf "$tmp" "${hdir:-}"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cb ARGS...: the load generator; figures go to the figures file (and to
# stderr, as progress), failures are counted and the run goes on.
cb() {
	if ! "$box" cgroupbench "$@" >"$tmp/cb.out"; then
		failures=$((failures + 1))
		say "FAILED: cgroupbench $*"
	fi
	cat "$tmp/cb.out" >>"$figs"
	sed 's/^/    /' "$tmp/cb.out" >&2
}

# get KEY: the last value of KEY in the figures file.
get() { sed -n "s/^$1=//p" "$figs" | tail -n 1; }

# mmm FILE: "median min max" of the numbers in FILE, one a line.
mmm() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)], v[1], v[NR] }'; }

# figs_mmm KEY FILE: KEY (the median), KEY_min and KEY_max into the figures.
figs_mmm() {
	set -- "$1" "$(mmm "$2")"
	[ -n "$2" ] || return 0
	# shellcheck disable=SC2086 # three numbers
	set -- "$1" $2
	printf '%s=%s\n%s_min=%s\n%s_max=%s\n' "$1" "$2" "$1" "$3" "$1" "$4" >>"$figs"
}

# wait_sock SOCK PID WHAT: poll until a daemon answers PING on SOCK.
wait_sock() {
	n=0
	until [ -S "$1" ] && "$build/cgroupctl" --socket "$1" ping >/dev/null 2>&1; do
		alive "$2" || die "$3 exited before answering on $1"
		[ $n -lt 300 ] || die "$3 did not answer on $1 within 30 s"
		sleep 0.1
		n=$((n + 1))
	done
}

# quit_daemon SOCK PID ROOT: quit a side daemon (KILL it after 60 s) and
# remove its root.
quit_daemon() {
	"$build/cgroupctl" --socket "$1" quit >/dev/null 2>&1
	wait_gone "$2" 60 || kill -KILL "$2" 2>/dev/null
	find "$3" -depth -type d -exec rmdir {} + 2>/dev/null
}

daemon_alive() {
	alive "$dpid" && return 0
	failures=$((failures + 1))
	die "the daemon died; see its stderr above"
}

# ---- start ------------------------------------------------------------------

# start_daemon ERRFILE: start the daemon on $root and $sock with stderr in
# ERRFILE; $dpid once it printed "cgroupd ready" (polled every 10 ms, at
# most 120 s: a restart adopting every job takes a while).
start_daemon() {
	# shellcheck disable=SC2086
	"$build/cgroupd" -r "$root" -s "$sock" $stateflag </dev/null >"$tmp/daemon.out" 2>"$1" &
	dpid=$!
	n=0
	until grep -q 'cgroupd ready' "$1" 2>/dev/null; do
		alive "$dpid" || die "cgroupd exited before 'cgroupd ready': $(tail -n 5 "$1" | tr '\n' '|')"
		[ $n -lt 12000 ] || die "cgroupd printed no 'cgroupd ready' within 120 s"
		sleep 0.01
		n=$((n + 1))
	done
}

# Job records (--state-dir) default to /run/cgroupd/..., a tmpfs on any
# systemd host. Where /run is on a disk (some containers and VMs, this
# sandbox), each record costs a file creation on that disk: the main
# daemon then keeps them on /dev/shm, as /run would, and a short extra run
# measures the cost of records on disk.
stateflag=""
state_fs=$(stat -f -c %T /run 2>/dev/null)
if [ "$state_fs" != tmpfs ] && [ -d /dev/shm ]; then
	stateflag="--state-dir /dev/shm/cgroupd-bench-$$"
	say "/run is $state_fs, not a tmpfs: job records on /dev/shm (tmpfs) as /run would hold them"
	state_fs="tmpfs (/dev/shm; /run here is $state_fs)"
fi
echo "state_fs=$state_fs" | tr ' ' _ >>"$figs"

mkdir "$root" || die "mkdir $root"
say "daemon: $build/cgroupd -r $root -s $sock $stateflag"
start_daemon "$tmp/daemon.err"

echo "binary_bytes=$(wc -c <"$box" | tr -d ' ')" >>"$figs"
load0=$(cut -d' ' -f1 /proc/loadavg)
sleep 1
say "RSS idle"
cb proc -pid "$dpid" -tag idle

# stat_key KEY: KEY of the daemon's STATS.
stat_key() { "$build/cgroupctl" --socket "$sock" stats | sed -n "s/^$1: //p"; }

say "job records: disk writes per job lifecycle (RUN, WAIT, REMOVE of /bin/true)"
w0=$(stat_key state_writes)
u0=$(stat_key state_unlinks)
cb run -socket "$sock" -name life -clients 1 -count 500 -warmup 0 -argv /bin/true
w1=$(stat_key state_writes)
u1=$(stat_key state_unlinks)
echo "state_writes_per_job=$(awk -v a="$w0" -v b="$w1" 'BEGIN { if (a != "" && b != "") printf "%.2f", (b - a) / 500 }')" >>"$figs"
echo "state_unlinks_per_job=$(awk -v a="$u0" -v b="$u1" 'BEGIN { if (a != "" && b != "") printf "%.2f", (b - a) / 500 }')" >>"$figs"

say "PING with 50 silent connections"
cb ping -socket "$sock" -silent 50 -count 2000

say "process start-up floor: /bin/true, fork to exit"
cb exec -name exec_true -count 200 -warmup 10 -- /bin/true

# cpu_ticks PID: user+system CPU of PID so far, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

# cpu_per_job NAME PID T0: the CPU PID spent since T0 per job of a
# cgroupbench run (its warm-up, timed RUNs, WAITs and REMOVEs), in µs.
cpu_per_job() {
	echo "$1=$(awk -v a="$3" -v b="$(cpu_ticks "$2")" -v n="$((run_count + 100))" -v hz="$hz" \
		'BEGIN { printf "%.0f", (b - a) * 1000000 / hz / n }')" >>"$figs"
}

for c in 1 8; do
	say "RUN with $c client(s) ($run_count requests)"
	t0=$(cpu_ticks "$dpid")
	cb run -socket "$sock" -clients "$c" -count "$run_count" -warmup 100 -argv /bin/true
	cpu_per_job "run_cpu_us_per_job_c$c" "$dpid" "$t0"
	daemon_alive
done

# The RUN reply against the spawn it waits for, in rounds that alternate
# the two (a drifting machine moves both halves of a round): the spawn
# floor (100 x fork+exec+wait of /bin/true from Go), the same spawn into
# a new cgroup as a job's (mkdir, clone3 CLONE_INTO_CGROUP, exec, wait)
# and the RUN p50 at 1 client (300 RUNs); the figures are the medians of
# the rounds' ratios.
say "RUN reply against the spawn floor, $floor_rounds alternating rounds"
r=1
floorcg=$mount/cgroupd-bench-floor-$$ # not the daemon's root: it owns what is below that
mkdir "$floorcg" || die "mkdir $floorcg"
while [ "$r" -le "$floor_rounds" ]; do
	"$box" cgroupbench exec -name floor -tag "r$r" -count 100 -warmup 5 -- /bin/true >"$tmp/fl.out" &&
		"$box" cgroupbench exec -name cgfloor -tag "r$r" -cgroup "$floorcg" -count 100 -warmup 5 -- /bin/true >>"$tmp/fl.out" &&
		"$box" cgroupbench run -socket "$sock" -clients 1 -count 300 -warmup 20 -tag "fl$r" -argv /bin/true >>"$tmp/fl.out" || {
		failures=$((failures + 1))
		say "FAILED: round $r of the RUN against the spawn floor"
	}
	f=$(sed -n 's/^floor_p50_us_r[0-9]*=//p' "$tmp/fl.out")
	g=$(sed -n 's/^cgfloor_p50_us_r[0-9]*=//p' "$tmp/fl.out")
	p=$(sed -n 's/^run_p50_us_fl[0-9]*=//p' "$tmp/fl.out")
	say "  round $r: spawn floor p50 $f us, into a new cgroup $g us, RUN p50 $p us"
	awk -v p="$p" -v f="$f" 'BEGIN { if (p > 0 && f > 0) printf "%.3f\n", p / f }' >>"$tmp/floor.ratio"
	awk -v p="$p" -v g="$g" 'BEGIN { if (p > 0 && g > 0) printf "%.3f\n", p / g }' >>"$tmp/cgfloor.ratio"
	awk -v p="$p" 'BEGIN { if (p > 0) print p }' >>"$tmp/floor.run"
	awk -v f="$f" 'BEGIN { if (f > 0) print f }' >>"$tmp/floor.spawn"
	r=$((r + 1))
done
rmdir "$floorcg"
figs_mmm run_floor_ratio "$tmp/floor.ratio"
figs_mmm run_cgfloor_ratio "$tmp/cgfloor.ratio"
figs_mmm floor_run_p50_us "$tmp/floor.run"
figs_mmm floor_spawn_p50_us "$tmp/floor.spawn"
daemon_alive

# ping_loaded SOCK TAG [CLIENTS]: 1000 PINGs while CLIENTS (8) clients RUN flat out.
ping_loaded() {
	"$box" cgroupbench run -socket "$1" -clients "${3:-8}" -count "$run_count" -warmup 0 -tag "$2" -argv /bin/true >"$tmp/load-$2.out" 2>&1 &
	busy=$!
	cb ping -socket "$1" -silent 0 -count 1000 -tag "$2"
	wait "$busy" || {
		failures=$((failures + 1))
		say "FAILED: the RUN load beside the PINGs ($2)"
	}
}

say "PING while 8 clients RUN flat out"
ping_loaded "$sock" run8
daemon_alive
say "PING while 32 clients RUN flat out"
ping_loaded "$sock" run32 32
daemon_alive

# A second daemon whose stderr is a FIFO that nobody reads (fd 3 holds it
# open, so the daemon's open does not block and writes fill the pipe): RUN
# load floods it with events; PING must not notice.
say "PING while stderr is blocked (a second daemon, 8 clients RUN)"
broot=$mount/cgroupd-bench-blocked-$$
bsock=$tmp/blocked.sock
mkfifo "$tmp/stderr.fifo"
exec 3<>"$tmp/stderr.fifo"
mkdir "$broot"
"$build/cgroupd" -r "$broot" -s "$bsock" </dev/null >/dev/null 2>"$tmp/stderr.fifo" &
bpid=$!
wait_sock "$bsock" "$bpid" "the blocked-stderr daemon"
ping_loaded "$bsock" blocked
echo "blocked_events_dropped=$("$build/cgroupctl" --socket "$bsock" stats | sed -n 's/^events_dropped: //p')" >>"$figs"
"$build/cgroupctl" --socket "$bsock" quit >/dev/null 2>&1
exec 3<&- # the daemon can write its last lines now (or gets EPIPE)
wait_gone "$bpid" 60 || kill -KILL "$bpid" 2>/dev/null
find "$broot" -depth -type d -exec rmdir {} + 2>/dev/null

# Records on a disk (--state-dir under $TMPDIR): the RUN rate they leave.
say "RUN with 1 client, job records on a disk ($(stat -f -c %T "$tmp"))"
droot=$mount/cgroupd-bench-disk-$$
dsock=$tmp/disk.sock
mkdir "$droot"
"$build/cgroupd" -r "$droot" -s "$dsock" --state-dir "$tmp/state" </dev/null >/dev/null 2>"$tmp/disk.err" &
dkpid=$!
wait_sock "$dsock" "$dkpid" "the daemon with records on disk"
cb run -socket "$dsock" -name diskrun -clients 1 -count 1000 -warmup 50 -argv /bin/true
quit_daemon "$dsock" "$dkpid" "$droot"

# Job logs (-L): what a job's output costs the daemon. A job writes at
# full speed (`timeout 3 yes`) into its log, on a daemon whose cap it
# never reaches (--log-max-size 100G: the daemon's own checks) and on one
# with the default 8M (the trims too: freeing the page cache of the
# trimmed head is the kernel's work, done in the daemon's fallocate). The
# figure is the daemon's CPU (utime+stime of /proc/<pid>/stat) over the
# job's (INSPECT cpu_usage_usec, its cgroup's cpu.stat), in %. Then LOGS
# of a 100 GB sparse log (truncate -s), and PING while 8 clients LOGS it
# flat out. Admission is off on these daemons: the job itself is the load.
lroot=$mount/cgroupd-bench-logs-$$
lsock=$tmp/logs.sock
noadmit="--mem-admit-some-avg10 -1 --mem-admit-full-avg10 -1 --cpu-admit-some-avg10 -1 --io-admit-full-avg10 -1"

# log_daemon DIR ARGS...: a daemon with -L DIR on $lroot and $lsock ($lpid).
log_daemon() {
	d=$1
	shift
	mkdir -p "$lroot" "$d"
	# shellcheck disable=SC2086 # the flags
	"$build/cgroupd" -r "$lroot" -s "$lsock" -L "$d" $noadmit "$@" </dev/null >/dev/null 2>>"$tmp/logs.err" &
	lpid=$!
	wait_sock "$lsock" "$lpid" "the daemon with -L"
}

# log_daemon_stop: quit it and remove its root.
log_daemon_stop() { quit_daemon "$lsock" "$lpid" "$lroot"; }

# log_cost TAG ARGS...: log_cpu_pct_TAG and the figures it is made of: a
# `yes` job for 3 s on a daemon with -L and ARGS, less what the daemon
# spends over a silent job of the same 3 s (its ticks, its PSI sampling
# under host pressure, RUN and WAIT).
log_cost() {
	tag=$1
	shift
	log_daemon "$tmp/logs-$tag" "$@"
	t0=$(cpu_ticks "$lpid")
	"$build/cgroupctl" --socket "$lsock" run --id quiet --wait -- timeout 3 sleep 10 >/dev/null 2>&1
	t1=$(cpu_ticks "$lpid")
	"$build/cgroupctl" --socket "$lsock" run --id yes --wait -- timeout 3 yes >/dev/null 2>&1
	t2=$(cpu_ticks "$lpid")
	ju=$("$build/cgroupctl" --socket "$lsock" inspect yes | sed -n 's/^cpu_usage_usec: //p')
	awk -v q="$((t1 - t0))" -v y="$((t2 - t1))" -v j="$ju" -v hz="$hz" -v t="$tag" 'BEGIN {
		if (j > 0) printf "log_cpu_pct_%s=%.1f\nlog_job_cpu_ms_%s=%.0f\nlog_daemon_cpu_ms_%s=%.0f\nlog_quiet_cpu_ms_%s=%.0f\n",
			t, (y - q) * 1e8 / hz / j, t, j / 1000, t, y * 1000 / hz, t, q * 1000 / hz
	}' >>"$figs"
	[ -n "$ju" ] || {
		failures=$((failures + 1))
		say "FAILED: the yes job's CPU ($tag)"
	}
	log_daemon_stop
	rm -rf "$tmp/logs-$tag"
}
say "job logs: the daemon's CPU while a job writes at full speed (cap never reached, then the default 8M)"
log_cost nocap --log-max-size 100G
log_cost cap8m
say "job logs: PING while 8 clients LOGS a 100 GB sparse log"
log_daemon "$tmp/logs-sparse"
"$build/cgroupctl" --socket "$lsock" run --id sparse -- sh -c 'echo head; truncate -s 100G /proc/self/fd/1; echo tail; exec sleep 600' >/dev/null
n=0
until "$build/cgroupctl" --socket "$lsock" logs sparse 2>/dev/null | tail -c 5 | grep -q tail; do
	[ $n -lt 100 ] || die "the sparse job wrote no tail line within 10 s"
	sleep 0.1
	n=$((n + 1))
done
cb req -socket "$lsock" -verb LOGS -id sparse -clients 8 -count 400 -warmup 0 -name logs_sparse
"$box" cgroupbench req -socket "$lsock" -verb LOGS -id sparse -clients 8 -count 1000000 -warmup 0 -name readers >/dev/null 2>&1 &
readers=$!
t0=$(cpu_ticks "$lpid")
cb ping -socket "$lsock" -silent 0 -count 1000 -tag logs8
echo "log_sparse_daemon_cpu_ms=$(awk -v a="$t0" -v b="$(cpu_ticks "$lpid")" -v hz="$hz" 'BEGIN { printf "%.0f", (b - a) * 1000 / hz }')" >>"$figs"
kill "$readers" 2>/dev/null
wait "$readers" 2>/dev/null
log_daemon_stop
rm -rf "$tmp/logs-sparse"

# ---- a hostile user ---------------------------------------------------------

# A daemon of its own with --socket-group nogroup, its socket in a directory
# every user may search; a user (uid 65534, through setpriv) does what a
# hostile member of the socket group would (cgroupbench hostile), and root
# PINGs meanwhile. Its stderr: $tmp/hostile.err.
say "a hostile user: a daemon with --socket-group 65534"
hroot=$mount/cgroupd-bench-hostile-$$
hdir=$(mktemp -d "${TMPDIR:-/tmp}/cgroupd-hostile.XXXXXX") || die "mktemp failed"
chmod 755 "$hdir"
hsock=$hdir/cgroupd.sock
# $as_user CMD...: CMD as uid and gid 65534, no supplementary groups (a
# command, not a function: $! of `$as_user ... &` is the process's pid).
as_user="setpriv --reuid 65534 --regid 65534 --clear-groups"
hstart() {
	mkdir -p "$hroot"
	# From /, which the user may enter (the jobs' working directory);
	# admission off: the user's jobs run however busy the host is;
	# --max-user-ended 0: cgroupbench run WAITs and REMOVEs its 1400 jobs
	# after they all ran, which the default bound (128) would have removed.
	# shellcheck disable=SC2086 # the flags
	(cd / && exec "$build/cgroupd" -r "$hroot" -s "$hsock" --socket-group 65534 --state-dir none --max-user-ended 0 $noadmit \
		</dev/null >/dev/null 2>>"$tmp/hostile.err") &
	hpid=$!
	wait_sock "$hsock" "$hpid" "the hostile user's daemon"
}
hstop() { quit_daemon "$hsock" "$hpid" "$hroot"; }
# hostile TAG ARGS...: `cgroupbench hostile ARGS` as the user, held (its
# stdin is fd 4, a FIFO) until hostile_end; returns once it is ready.
hostile() {
	tag=$1
	shift
	rm -f "$tmp/hostile.in"
	mkfifo "$tmp/hostile.in"
	# shellcheck disable=SC2086 # $as_user is words
	$as_user "$box" cgroupbench hostile -socket "$hsock" "$@" <"$tmp/hostile.in" >"$tmp/hostile-$tag.out" 2>&1 &
	hupid=$!
	exec 4>"$tmp/hostile.in"
	n=0
	until grep -q '^ready' "$tmp/hostile-$tag.out" 2>/dev/null; do
		alive "$hupid" || break
		[ $n -lt 600 ] || break
		sleep 0.1
		n=$((n + 1))
	done
	say "  the user: $(head -n 1 "$tmp/hostile-$tag.out")"
	echo "hostile_ready_$tag=$(head -n 1 "$tmp/hostile-$tag.out" | tr ' =' '_:')" >>"$figs"
}
hostile_end() {
	exec 4>&-
	wait "$hupid"
	hupid=""
}
: >"$tmp/hostile.err"
hstart
cb proc -pid "$hpid" -tag hidle

# Its full connection quota (--max-user-conns, 1024), silent.
say "PING while the user holds its full connection quota (1024 silent connections)"
hostile quota -kind silent -conns 1024
cb ping -socket "$hsock" -silent 0 -count 1000 -tag hquota
hostile_end

# 1000 EVENTS followers that never read, each sent the user's history
# (1400 jobs: 4 000 events of its own in the ring), while the user's jobs
# churn: the followers' buffers are held to --conn-memory, the others are
# dropped (client.drop), the non-reading ones after --write-timeout.
say "PING while the user holds 1000 EVENTS followers that never read, its jobs churning"
# shellcheck disable=SC2086 # $as_user is words
$as_user "$box" cgroupbench run -socket "$hsock" -name hfill -count 1400 -warmup 0 -clients 4 -argv /bin/true >/dev/null 2>&1 ||
	say "warning: the user's 1400 jobs before its followers did not all run"
d0=$(grep -c 'type=client.drop' "$tmp/hostile.err")
hostile follow -kind events -conns 1000
sleep 2 # the daemon reads the last of them, sends their history, drops the most
# shellcheck disable=SC2086 # $as_user is words
$as_user "$box" cgroupbench run -socket "$hsock" -name hchurn -count 100000 -warmup 0 -clients 2 -argv /bin/true >/dev/null 2>&1 4>&- &
churn=$!
cb ping -socket "$hsock" -silent 0 -count 1000 -tag hfollow
cb proc -pid "$hpid" -tag hfollow
kill "$churn" 2>/dev/null
wait "$churn" 2>/dev/null
hostile_end
echo "hostile_follow_drops=$(($(grep -c 'type=client.drop' "$tmp/hostile.err") - d0))" >>"$figs"
# Memory given back once they closed: the next give-back is at most 5 s
# (and a tick) after 8 MiB were freed.
sleep 7
cb proc -pid "$hpid" -tag hafter

# The largest request the daemon accepts (a PING of 65 536 distinct keys,
# the most header lines a request may have: about 650 KB), sent again and
# again by the user. One alone first: a daemon whose request
# parsing is not linear takes minutes for one, and the row is then left
# out (that daemon is restarted).
say "PING while the user sends the largest accepted request (65 536 keys), again and again"
# shellcheck disable=SC2086 # $as_user is words
if $as_user "$box" cgroupbench hostile -socket "$hsock" -kind flood -requests 3 -timeout 20s -name largest >"$tmp/largest.out" 2>&1; then
	cat "$tmp/largest.out" >>"$figs"
	hostile big -kind flood
	cb ping -socket "$hsock" -silent 0 -count 500 -tag hbig
	hostile_end
	echo "hostile_big_requests=$(sed -n 's/^done requests=//p' "$tmp/hostile-big.out")" >>"$figs"
else
	say "  one largest request took over 20 s: row left out; restarting that daemon"
	echo "largest_timed_out=1" >>"$figs"
	kill -KILL "$hpid" 2>/dev/null
	wait_gone "$hpid" 10
	find "$hroot" -depth -type d -exec rmdir {} + 2>/dev/null
	hstart
fi
daemon_alive
hstop

# ---- from the shell: rounds that alternate ours and the C tool ---------------

# xb NAME ARGS...: one cgroupbench exec, its figures into $tmp/xb.out only
# (a round's figure is not a figure of the run); fails as cgroupbench does.
xb() {
	name=$1
	shift
	"$box" cgroupbench exec -name "$name" "$@" >"$tmp/xb.out" || {
		failures=$((failures + 1))
		say "FAILED: cgroupbench exec -name $name $*"
	}
}

# xbget METRIC: that figure of the last xb.
xbget() { sed -n "s/^[a-z_]*_$1=//p" "$tmp/xb.out" | tail -n 1; }

# A sh while loop of $shell_jobs `cgroupctl run`s, as a script drives the
# tool (the C tool's own benchmark): $1 socket, $2 client, $3 id prefix.
shell_loop='i=0; while [ "$i" -lt "$4" ]; do "$2" --socket "$1" run --id "$3$i" -- /bin/true || exit 1; i=$((i + 1)); done'

# shell_figures CCTL CSOCK: the shell loop, single runs and whole-process
# pings, $shell_rounds rounds of ours then the C tool's (CCTL against its
# daemon on CSOCK; "" when there is no C tool: ours alone). Ids are unique
# per round; each round's jobs are removed afterwards, untimed.
shell_figures() {
	per=$((e2e_count / shell_rounds))
	[ "$per" -gt 0 ] || per=1
	sh_dir=$tmp/shell
	mkdir -p "$sh_dir"
	say "from the shell, $shell_rounds rounds: a loop of $shell_jobs cgroupctl run, $per single runs, $ping_count whole-process pings${1:+ (ours, then the C tool)}"
	r=1
	while [ "$r" -le "$shell_rounds" ]; do
		for who in ours c; do
			if [ "$who" = ours ]; then
				cl=$build/cgroupctl s=$sock
			else
				[ -n "$1" ] || continue
				cl=$1 s=$2
			fi
			xb shloop -count 1 -warmup 0 -- sh -c "$shell_loop" sh "$s" "$cl" "tput-$$-$r-" "$shell_jobs"
			awk -v n="$shell_jobs" -v us="$(xbget p50_us)" 'BEGIN { if (us > 0) printf "%.1f\n", n * 1e6 / us }' >>"$sh_dir/$who.shloop"
			xb run -count "$per" -warmup 2 -- "$cl" --socket "$s" run --id "e2e-$$-$r-{}" -- /bin/true
			xbget p50_us >>"$sh_dir/$who.run50"
			xbget p90_us >>"$sh_dir/$who.run90"
			# Both clients PING our daemon: the client's cost alone.
			xb ping -count "$ping_count" -warmup 2 -- "$cl" --socket "$sock" ping
			xbget p50_us >>"$sh_dir/$who.ping"
			if [ "$who" = ours ]; then
				# What any Go client pays before it can connect: the
				# runtime's start-up and exit, nothing else.
				xb gostart -count "$ping_count" -warmup 2 -- "$cl" -V
				xbget p50_us >>"$sh_dir/ours.gostart"
			fi
			"$box" cgroupbench cleanup -socket "$s" -match "tput-$$-$r-" >/dev/null &&
				"$box" cgroupbench cleanup -socket "$s" -match "e2e-$$-$r-" >/dev/null || {
				failures=$((failures + 1))
				say "FAILED: cgroupbench cleanup on $s"
			}
		done
		say "  round $r: loop $(tail -n 1 "$sh_dir/ours.shloop") jobs/s${1:+ (C $(tail -n 1 "$sh_dir/c.shloop"))}, run p50 $(tail -n 1 "$sh_dir/ours.run50") us${1:+ (C $(tail -n 1 "$sh_dir/c.run50"))}, ping p50 $(tail -n 1 "$sh_dir/ours.ping") us${1:+ (C $(tail -n 1 "$sh_dir/c.ping"))}"
		r=$((r + 1))
	done
	echo "shell_rounds=$shell_rounds" >>"$figs"
	echo "shloop_jobs=$shell_jobs" >>"$figs"
	figs_mmm shloop_rate "$sh_dir/ours.shloop"
	figs_mmm ctl_run_p50_us "$sh_dir/ours.run50"
	figs_mmm ctl_run_p90_us "$sh_dir/ours.run90"
	figs_mmm ctl_ping_p50_us "$sh_dir/ours.ping"
	figs_mmm gostart_p50_us "$sh_dir/ours.gostart"
	[ -n "$1" ] || return 0
	figs_mmm c_shloop_rate "$sh_dir/c.shloop"
	figs_mmm c_ctl_run_p50_us "$sh_dir/c.run50"
	figs_mmm c_ctl_ping_p50_us "$sh_dir/c.ping"
	# Ratios pair by pair (a round's ours / its C), then the median: a
	# machine whose speed drifts moves both halves of a pair.
	paste -d ' ' "$sh_dir/ours.shloop" "$sh_dir/c.shloop" | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' >"$sh_dir/r.shloop"
	paste -d ' ' "$sh_dir/ours.run50" "$sh_dir/c.run50" | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' >"$sh_dir/r.run50"
	paste -d ' ' "$sh_dir/ours.ping" "$sh_dir/c.ping" | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' >"$sh_dir/r.ping"
	paste -d ' ' "$sh_dir/ours.gostart" "$sh_dir/c.ping" | awk '$2 > 0 { printf "%.3f\n", $1 / $2 }' >"$sh_dir/r.gostart"
	figs_mmm shloop_ratio "$sh_dir/r.shloop"
	figs_mmm ctl_run_ratio "$sh_dir/r.run50"
	figs_mmm ctl_ping_ratio "$sh_dir/r.ping"
	figs_mmm gostart_ping_ratio "$sh_dir/r.gostart"
}

# The C tool, side by side in this run: same machine, same load generator.
cdir=$tmp/ctool
if command -v gcc >/dev/null 2>&1 && [ -d "$repo/../shared/baseline-c" ] &&
	cp -r "$repo/../shared/baseline-c/." "$cdir" &&
	make -s -C "$cdir" all CFLAGS="-O2 -std=gnu11 -Wall -Wno-unused-parameter -D_FILE_OFFSET_BITS=64" LDFLAGS=-static >"$tmp/cbuild.log" 2>&1; then
	croot=$mount/cgroupd-bench-c-$$
	csock=$tmp/c.sock
	mkdir "$croot"
	"$cdir/build/cgroupd" -r "$croot" -s "$csock" </dev/null >/dev/null 2>"$tmp/c.err" &
	cpid=$!
	wait_sock "$csock" "$cpid" "the C tool's daemon"
	for c in 1 8; do
		say "C tool: RUN with $c client(s)"
		t0=$(cpu_ticks "$cpid")
		cb run -socket "$csock" -name crun -clients "$c" -count "$run_count" -warmup 100 -argv /bin/true
		cpu_per_job "crun_cpu_us_per_job_c$c" "$cpid" "$t0"
	done
	shell_figures "$cdir/build/cgroupctl" "$csock"
	kill -TERM "$cpid" 2>/dev/null
	wait_gone "$cpid" 30 || kill -KILL "$cpid" 2>/dev/null
	echo 1 >"$croot/cgroup.kill" 2>/dev/null
	find "$croot" -depth -type d -exec rmdir {} + 2>/dev/null
else
	say "no C tool to compare with (needs gcc and ../shared/baseline-c): $(tail -n 3 "$tmp/cbuild.log" 2>/dev/null | tr '\n' ' ')"
	shell_figures "" ""
fi

say "10 live jobs: LIST, INSPECT"
cb hold -socket "$sock" -count 10 -prefix j10 -tag j10
cb req -socket "$sock" -verb LIST -count 1000 -tag j10
cb req -socket "$sock" -verb INSPECT -id j10-0 -count 2000 -tag j10

held=10
if [ "$jobs" -gt 4000 ]; then
	say "4000 live jobs: RSS"
	cb hold -socket "$sock" -count $((4000 - held)) -prefix j4000 -tag j4000
	held=4000
	daemon_alive
	sleep 2
	cb proc -pid "$dpid" -tag j4000
fi
say "$jobs live jobs"
cb hold -socket "$sock" -count $((jobs - held)) -prefix "j$jobs" -tag "j$jobs"
daemon_alive
sleep 2
say "idle CPU over ${idle_secs}s with $jobs live jobs"
cb proc -pid "$dpid" -seconds "$idle_secs" -tag "j$jobs"
say "LIST, INSPECT, PING with $jobs live jobs"
cb req -socket "$sock" -verb LIST -count 30 -warmup 2 -tag "j$jobs"
cb req -socket "$sock" -verb INSPECT -id j10-0 -count 2000 -tag "j$jobs"
cb ping -socket "$sock" -silent 50 -count 1000 -tag "s50_j$jobs"
daemon_alive

say "restart: SIGKILL the daemon with $jobs live jobs, start it again, adopt them"
kill -KILL "$dpid"
wait_gone "$dpid" 30
wait "$dpid" 2>/dev/null
t0=$("$box" cgroupbench now | sed -n 's/^now_unix_ms=//p')
start_daemon "$tmp/daemon2.err"
t1=$("$box" cgroupbench now | sed -n 's/^now_unix_ms=//p')
echo "restart_ready_ms_j$jobs=$((t1 - t0))" >>"$figs"
echo "restart_adopt_ms_j$jobs=$(sed -n 's/^cgroupd: state: .* in \([0-9.]*\)\(m*s\):.*/\1 \2/p' "$tmp/daemon2.err" | awk '{ print ($2 == "s") ? $1 * 1000 : $1 }')" >>"$figs"
echo "restart_adopted_j$jobs=$("$build/cgroupctl" --socket "$sock" stats | sed -n 's/^running: //p')" >>"$figs"
cb req -socket "$sock" -verb LIST -count 3 -warmup 0 -tag "restart_j$jobs"
cb proc -pid "$dpid" -tag "restart_j$jobs"

say "QUIT with $jobs live jobs"
t0=$("$box" cgroupbench now | sed -n 's/^now_unix_ms=//p')
"$build/cgroupctl" --socket "$sock" quit >/dev/null || {
	failures=$((failures + 1))
	say "FAILED: cgroupctl quit"
}
if wait_gone "$dpid" 120; then
	t1=$("$box" cgroupbench now | sed -n 's/^now_unix_ms=//p')
	wait "$dpid"
	drc=$?
	dpid=""
	echo "quit_ms_j$jobs=$((t1 - t0))" >>"$figs"
	echo "daemon_exit=$drc" >>"$figs"
	[ "$drc" -eq 0 ] || {
		failures=$((failures + 1))
		say "FAILED: cgroupd exited $drc after QUIT"
	}
	left=$(find "$root" -mindepth 1 -type d 2>/dev/null | wc -l)
	echo "quit_cgroups_left=$left" >>"$figs"
else
	failures=$((failures + 1))
	say "FAILED: cgroupd still running 120 s after QUIT"
fi

# ---- report -----------------------------------------------------------------

# ms KEY: a µs figure in ms.
ms() { get "$1" | awk 'NF { printf "%.3f", $1 / 1000 }'; }
mb() { get "$1" | awk 'NF { printf "%.1f", $1 / 1024 }'; }

# met VALUE OP LIMIT: yes / NO / n/a.
met() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "" || l == "") { print "n/a"; exit }
		ok = (op == "<=") ? v + 0 <= l + 0 : (op == "<") ? v + 0 < l + 0 : (op == ">=") ? v + 0 >= l + 0 : v + 0 == l + 0
		print ok ? "yes" : "NO"
	}'
}

# row FIGURE VALUE UNIT HOW CTOOL OP TARGET: one table line (OP "" = no target).
table=$tmp/table
: >"$table"
row() {
	if [ -n "$6" ]; then
		m=$(met "$2" "$6" "$7")
		tg="$6 $7"
	else
		m=-
		tg=-
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${2:-n/a}" "$3" "$4" "${5:--}" "$tg" "$m" >>"$table"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b }'
}

r1=$(get run_rate_c1)
r8=$(get run_rate_c8)
# The C tool's rates from this run when it was built, else issue 5's.
cr1=$(get crun_rate_c1)
cr8=$(get crun_rate_c8)
[ -n "$cr1" ] && c_rate1=${cr1%.*}
[ -n "$cr8" ] && c_rate8=${cr8%.*}
row "spawn floor: /bin/true p50" "$(ms exec_true_p50_us)" ms "200 x fork+exec+wait of /bin/true from Go (machine load check)" "" "" ""
# spread KEY [SCALE]: "min-max" of a median-of-rounds figure (SCALE 1000: µs as ms).
spread() {
	awk -v a="$(get "$1_min")" -v b="$(get "$1_max")" -v s="${2:-1}" -v f="${3:-%.0f}" \
		'BEGIN { if (a != "" && b != "") printf f "-" f, a / s, b / s }'
}
cm=$(get c_ctl_run_p50_us | awk 'NF { printf "%.3f", $1 / 1000 }')
[ -n "$cm" ] && c_e2e_ms=$cm
sr="$(get shell_rounds) rounds alternating with the C tool, median"
row "shell loop of cgroupctl run" "$(get shloop_rate)" "jobs/s" "sh loop: $(get shloop_jobs) x cgroupctl run -- /bin/true, as a whole; $sr (ours $(spread shloop_rate), C $(spread c_shloop_rate))" "$(get c_shloop_rate)" "" ""
row "  shell loop rate, ours / C tool" "$(get shloop_ratio)" x "ratio per round, median ($(spread shloop_ratio 1 %.2f))" "" ">=" 1.10
row "cgroupctl run from the shell p50" "$(ms ctl_run_p50_us)" ms "$((e2e_count / shell_rounds)) a round, fork to exit; $sr (ours $(spread ctl_run_p50_us 1000 %.2f), C $(spread c_ctl_run_p50_us 1000 %.2f))" "$c_e2e_ms" "<=" "$c_e2e_ms"
row "cgroupctl run from the shell p90" "$(ms ctl_run_p90_us)" ms "same runs" "" "" ""
row "  single run p50, ours / C tool" "$(get ctl_run_ratio)" x "ratio per round, median ($(spread ctl_run_ratio 1 %.2f))" "" "" ""
row "cgroupctl ping, whole process p50" "$(ms ctl_ping_p50_us)" ms "$ping_count a round, fork to exit, both to our daemon; $sr (ours $(spread ctl_ping_p50_us 1000 %.2f), C $(spread c_ctl_ping_p50_us 1000 %.2f))" "$(ms c_ctl_ping_p50_us)" "" ""
row "  ping, ours / C client" "$(get ctl_ping_ratio)" x "ratio per round, median ($(spread ctl_ping_ratio 1 %.2f))" "" "<=" 1.10
row "Go start-up floor: cgroupctl -V p50" "$(ms gostart_p50_us)" ms "$ping_count a round, fork to exit: the runtime's start and exit alone, what every Go client pays before connect" "" "" ""
row "  Go start-up floor / C client ping" "$(get gostart_ping_ratio)" x "ratio per round, median ($(spread gostart_ping_ratio 1 %.2f)): the least the ping ratio can be" "" "" ""
row "RUN rate, 1 client" "$r1" "req/s" "cgroupbench run: $run_count RUNs of /bin/true, 1 connection at a time" "$c_rate1" ">=" "$((3 * c_rate1))"
row "RUN p50, 1 client" "$(ms run_p50_us_c1)" ms "same; connect to EOF per request" "1.51" "" ""
row "RUN p99, 1 client" "$(ms run_p99_us_c1)" ms "same" "" "" ""
row "RUN p50 1 client / spawn floor" "$(get run_floor_ratio)" x "$floor_rounds rounds alternating 100 spawns of /bin/true and 300 RUNs, ratio per round, median ($(spread run_floor_ratio 1 %.2f); RUN $(spread floor_run_p50_us 1000 %.3f) ms, spawn $(spread floor_spawn_p50_us 1000 %.3f) ms)" "" "<=" 1.3
row "  RUN p50 / spawn into a new cgroup" "$(get run_cgfloor_ratio)" x "same rounds; the spawn as a job's: mkdir, clone3 CLONE_INTO_CGROUP, exec, wait ($(spread run_cgfloor_ratio 1 %.2f))" "" "" ""
row "RUN rate, 8 clients" "$r8" "req/s" "cgroupbench run: $run_count RUNs of /bin/true, 8 concurrent connections" "$c_rate8" ">=" "$((3 * c_rate8))"
row "RUN p50, 8 clients" "$(ms run_p50_us_c8)" ms "same" "9.6" "" ""
row "RUN p99, 8 clients" "$(ms run_p99_us_c8)" ms "same" "" "" ""
row "daemon CPU per job, 1 client" "$(get run_cpu_us_per_job_c1)" "µs" "the daemon's user+system CPU over those runs (RUN, WAIT, REMOVE) per job" "$(get crun_cpu_us_per_job_c1)" "" ""
row "daemon CPU per job, 8 clients" "$(get run_cpu_us_per_job_c8)" "µs" "same, 8 clients" "$(get crun_cpu_us_per_job_c8)" "" ""
row "  daemon CPU per job at 8 clients, ours / C" "$(ratio "$(get run_cpu_us_per_job_c8)" "$(get crun_cpu_us_per_job_c8)")" x "the two figures above" "" "<=" 0.5
row "RUN rate 8 clients / 1 client" "$(ratio "$r8" "$r1")" x "the two rates above" "$(ratio "$cr8" "$cr1")" ">=" 1.5
row "PING p99, 8 clients RUNning" "$(ms ping_p99_us_run8)" ms "cgroupbench ping: 1000 PINGs while 8 clients RUN flat out" "" "<" 5
row "PING p99, 32 clients RUNning" "$(ms ping_p99_us_run32)" ms "same, 32 clients: a batch of the loop holds up to 32 RUNs, of which a PING waits for one" "" "" ""
row "PING p99, stderr blocked" "$(ms ping_p99_us_blocked)" ms "a daemon whose stderr is a FIFO nobody reads, 8 clients RUNning" "" "<" 5
row "events dropped, stderr blocked" "$(get blocked_events_dropped)" lines "STATS events_dropped of that daemon after $run_count RUNs" "" "" ""
row "daemon CPU / job CPU, job output" "$(get log_cpu_pct_nocap)" "%" "a job running yes for 3 s into its log (-L, --log-max-size 100G: never trimmed); the daemon's utime+stime meanwhile less over a sleep job's 3 s, over the job's cpu.stat ($(get log_daemon_cpu_ms_nocap) - $(get log_quiet_cpu_ms_nocap) ms / $(get log_job_cpu_ms_nocap) ms)" "" "<=" 10
row "  same, trimmed (default 8M cap)" "$(get log_cpu_pct_cap8m)" "%" "the same job under the default cap: the trims' fallocate frees the page cache of the trimmed output ($(get log_daemon_cpu_ms_cap8m) - $(get log_quiet_cpu_ms_cap8m) ms / $(get log_job_cpu_ms_cap8m) ms)" "" "<=" 10
row "LOGS p50, 100 GB sparse log" "$(ms logs_sparse_p50_us)" ms "cgroupbench req: 400 LOGS, 8 clients, of a log made sparse by truncate -s 100G ($(get logs_sparse_bytes) bytes each)" "" "" ""
row "PING p99, 8 clients LOGS it" "$(ms ping_p99_us_logs8)" ms "cgroupbench ping: 1000 PINGs while 8 clients LOGS that log flat out (daemon CPU meanwhile $(get log_sparse_daemon_cpu_ms) ms)" "" "<" 5
row "PING p99, a user at its conn quota" "$(ms ping_p99_us_hquota)" ms "root's 1000 PINGs while uid 65534 holds 1024 silent connections (--max-user-conns), a daemon of its own" "" "<" 5
row "PING p99, a user's 1000 followers" "$(ms ping_p99_us_hfollow)" ms "same daemon: the user holds 1000 EVENTS followers that never read, each sent its history of 1400 jobs, while 2 of its clients RUN flat out; $(get hostile_follow_drops) dropped (client.drop)" "" "<" 50
row "  daemon RSS, a user's 1000 followers" "$(mb daemon_rss_kb_hfollow)" MiB "VmRSS meanwhile (--conn-memory 32M; idle $(mb daemon_rss_kb_hidle) MiB)" "" "<=" 100
row "  daemon RSS after they closed" "$(mb daemon_rss_kb_hafter)" MiB "VmRSS 7 s after the followers closed: freed pages given back" "" "<=" "$(awk -v i="$(mb daemon_rss_kb_hidle)" 'BEGIN { if (i != "") printf "%.1f", i + 16 }')"
row "largest request alone p50" "$(ms largest_p50_us)" ms "3 PINGs of $(get largest_bytes) bytes (distinct keys), one at a time, by the user" "" "<" 50
row "PING p99, a user's largest requests" "$(ms ping_p99_us_hbig)" ms "root's 500 PINGs while the user sends the largest request again and again ($(get hostile_big_requests) sent)$( [ -n "$(get largest_timed_out)" ] && echo '; left out: one took over 20 s')" "" "<" 50
row "PING p50, 50 silent conns" "$(ms ping_p50_us_s50)" ms "cgroupbench ping: 2000 PINGs while 50 connections send nothing" "" "" ""
row "PING p99, 50 silent conns" "$(ms ping_p99_us_s50)" ms "same" "" "<" 5
row "LIST p50, 10 jobs" "$(ms list_p50_us_j10)" ms "cgroupbench req: 1000 LISTs, 10 live sleep jobs" "" "" ""
row "INSPECT p50, 10 jobs" "$(ms inspect_p50_us_j10)" ms "cgroupbench req: 2000 INSPECTs of one job" "" "" ""
row "LIST p50, $jobs jobs" "$(ms "list_p50_us_j$jobs")" ms "cgroupbench req: 30 LISTs, $(get "list_bytes_j$jobs") bytes each" "" "" ""
row "jobs in LIST" "$(get "list_count_j$jobs")" jobs "STATUS count of LIST with $jobs live jobs" "cap 4096" ">=" "$jobs"
row "INSPECT p50, $jobs jobs" "$(ms "inspect_p50_us_j$jobs")" ms "cgroupbench req: 2000 INSPECTs of one job" "" "" ""
row "INSPECT p50 ratio $jobs/10" "$(ratio "$(get "inspect_p50_us_j$jobs")" "$(get inspect_p50_us_j10)")" x "INSPECT p50 at $jobs jobs / at 10 jobs" "" "<=" 1.2
row "PING p99, $jobs jobs" "$(ms "ping_p99_us_s50_j$jobs")" ms "as above, with $jobs live jobs" "" "<" 5
row "daemon RSS idle" "$(mb daemon_rss_kb_idle)" MiB "VmRSS, /proc/<pid>/status, just started" "" "" ""
if [ "$jobs" -gt 4000 ]; then
	row "daemon RSS, 4000 jobs" "$(mb daemon_rss_kb_j4000)" MiB "VmRSS with 4000 live sleep jobs" "57" "<=" 20
fi
row "daemon RSS, $jobs jobs" "$(mb "daemon_rss_kb_j$jobs")" MiB "VmRSS with $jobs live sleep jobs (after the idle window)" "" "<=" 40
row "daemon fds, $jobs jobs" "$(get "daemon_fds_j$jobs")" fds "entries in /proc/<pid>/fd" "" "" ""
row "daemon CPU idle, $jobs jobs" "$(get "daemon_cpu_pct_j$jobs")" "% core" "utime+stime, /proc/<pid>/stat, over ${idle_secs}s with no requests" "" "<" 1
row "job records kept on" "$(get state_fs)" "" "statfs of the state dir" "" "" ""
row "RUN rate, 1 client, records on disk" "$(get diskrun_rate_c1)" "req/s" "a daemon with --state-dir on $(stat -f -c %T "$tmp"): 1000 RUNs of /bin/true" "" "" ""
row "job record writes per lifecycle" "$(get state_writes_per_job)" files "STATS state_writes over 500 RUN+WAIT+REMOVE of /bin/true (each: temp file + rename)" "" "" ""
row "job record unlinks per lifecycle" "$(get state_unlinks_per_job)" files "STATS state_unlinks over the same" "" "" ""
row "restart to ready, $jobs jobs" "$(get "restart_ready_ms_j$jobs")" ms "SIGKILL, start again: until 'cgroupd ready' (10 ms polls)" "" "" ""
row "  of which replay+adopt" "$(get "restart_adopt_ms_j$jobs")" ms "the daemon's own 'state: ... in' log line" "" "" ""
row "jobs adopted after restart" "$(get "restart_adopted_j$jobs")" jobs "STATS running of the new daemon" "" ">=" "$jobs"
row "jobs in LIST after restart" "$(get "list_count_restart_j$jobs")" jobs "STATUS count of LIST" "" ">=" "$jobs"
row "daemon RSS after restart, $jobs jobs" "$(mb "daemon_rss_kb_restart_j$jobs")" MiB "VmRSS of the new daemon" "" "<=" 40
row "QUIT with $jobs jobs" "$(get "quit_ms_j$jobs")" ms "cgroupctl quit until the daemon exited (kills, removes all)" "" "" ""
row "binary size" "$(get binary_bytes | awk 'NF { printf "%.2f", $1 / 1048576 }')" MiB "build/cgroupbox, static, stripped" "" "<=" 4

echo
load1=$(cut -d' ' -f1 /proc/loadavg)
echo "cgroupd benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) cpus, load average $load0 at the start, $load1 at the end)"
awk -F '\t' '
	BEGIN { split("figure\tvalue\tunit\thow measured\tC tool\ttarget\tmet", h, "\t") }
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	END {
		for (i = 1; i <= 7; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
		line(h, 0)
		for (i = 1; i <= 7; i++) { s = s sep(i) dashes(w[i]) }
		print s
		for (r = 1; r <= NR; r++) { for (i = 1; i <= 7; i++) f[i] = c[r, i]; line(f, 1) }
	}
	function sep(i) { return i == 1 ? "" : "  " }
	function dashes(n,   s) { s = ""; while (n-- > 0) s = s "-"; return s }
	function line(a, right,   s, i) {
		s = ""
		for (i = 1; i <= 7; i++) {
			if (right && i == 2) s = s sep(i) sprintf("%" w[i] "s", a[i])
			else s = s sep(i) sprintf("%-" w[i] "s", a[i])
		}
		sub(/ +$/, "", s)
		print s
	}' "$table"

{
	echo "bench_unix_time=$(date +%s)"
	echo "bench_kernel=$(uname -r)"
	echo "bench_cpus=$(nproc)"
	echo "bench_jobs=$jobs"
	echo "bench_idle_secs=$idle_secs"
	echo "bench_failures=$failures"
	echo "bench_loadavg_start=$load0"
	echo "bench_loadavg_end=$load1"
	cat "$figs"
} >"$out"
echo
echo "figures: $out"
if [ "$failures" -gt 0 ]; then
	say "$failures measurement(s) failed"
	exit 1
fi
exit 0
