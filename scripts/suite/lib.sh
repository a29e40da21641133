# lib.sh - helpers shared by the cgroupd suite (POSIX sh, runs under busybox ash).
#
# A test is a file NN-name.sh that sources this file, starts its own daemon
# (daemon_start), drives it with cgroupctl, asserts, and exits 0 on pass.
# `fail MSG` ends it with a clear message; an EXIT trap always stops the
# daemon and removes every cgroup the test made. Tests run as root with
# cgroup2 (every controller) at $CGMOUNT, normally inside the VM
# (scripts/vm.sh), but need nothing VM-specific beyond the users tuser/other
# and the block device 8:0 for the tests that say so.
#
# Conventions: $ROOT is the daemon's root ($CGMOUNT/t-<name>, or
# t-<name>-<suffix> for extra daemons), $SOCK its socket, $DERR its stderr
# (the event stream), $LOGDIR its -L job log directory. After try/ok/refused,
# $OUT holds the command's output (stdout and stderr) and $RC its status.
# Polling (wait_for and friends) is the only way to wait: never a fixed sleep.

. "$(dirname "$0")/cgtree.sh"

T=$(basename "$0" .sh)
T=${T#[0-9][0-9]-}
T=${T#bench-}
CGMOUNT=${CGMOUNT:-/sys/fs/cgroup}
ROOT=$CGMOUNT/t-$T
WORK=/tmp/suite/$T
SOCK=$WORK/cgroupd.sock
LOGDIR=$WORK/logs
DERR=$WORK/daemon.err
DPID=""
DSTATUS=""
ROOTS=""
NDAEMON=0
OUT=""
RC=0
JPID=""
# Jobs get a PATH: the daemon does not pass the client's environment on.
JOBENV="--env PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin"
export CGROUPD_SOCKET="$SOCK"

rm -rf "$WORK"
mkdir -p "$WORK" "$LOGDIR"
# Other users (the users test) must reach the socket below $WORK.
chmod 0755 /tmp/suite "$WORK"

# ---- output and failure ----------------------------------------------------

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
T0=$(now_ms)

# say MSG: a progress line with the seconds since the test started.
say() {
	printf '[%6s] %s\n' "$(awk -v a="$T0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')" "$*"
}

# fail MSG: the test fails; shows the tail of the daemon's stderr and runs
# $FAIL_HINT (a command that prints more context), if set.
FAIL_HINT=""
fail() {
	say "FAIL: $*"
	if [ -n "$FAIL_HINT" ]; then
		_h=$FAIL_HINT
		FAIL_HINT=""
		eval "$_h"
	fi
	if [ -s "$DERR" ]; then
		echo "--- $DERR (last 25 lines) ---"
		tail -n 25 "$DERR"
		echo "---"
	fi
	exit 1
}

# ---- running commands ------------------------------------------------------

# try CMD...: run CMD, keep its output (stdout+stderr) in $OUT, status in $RC.
try() {
	OUT=$("$@" 2>&1)
	RC=$?
}

# ok CMD...: like try; the test fails unless CMD exits 0.
ok() {
	try "$@"
	[ "$RC" -eq 0 ] || fail "$* exited $RC, want 0; output: $(echo "$OUT" | tr '\n' '|')"
}

# refused CMD...: like try; the test fails if CMD exits 0.
refused() {
	try "$@"
	[ "$RC" -ne 0 ] || fail "$* exited 0, want a refusal; output: $(echo "$OUT" | tr '\n' '|')"
}

# ctl ARGS...: cgroupctl on this test's socket.
ctl() { cgroupctl --socket "$SOCK" "$@"; }

# shquote ARG: ARG quoted for sh.
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# as_user USER CMD...: run CMD as USER (uid, gid and supplementary groups).
# busybox su would take CMD's options for its own: pass one quoted string.
as_user() {
	_u=$1
	shift
	_cmd="exec"
	for _a in "$@"; do _cmd="$_cmd $(shquote "$_a")"; done
	su -s /bin/sh -c "$_cmd" "$_u"
}

# field TEXT KEY: the value of the first `KEY: value` line of TEXT.
field() {
	printf '%s\n' "$1" | sed -n "s/^$2:[[:space:]]*//p" | head -n 1
}

# job ID [RUN-OPTS...] -- ARGV...: submit a job (with $JOBENV); the test
# fails unless the daemon accepts it. Sets $JPID and checks `id` and `cgroup`.
job() {
	_id=$1
	shift
	ok ctl run --id "$_id" $JOBENV "$@"
	assert_eq "$(field "$OUT" id)" "$_id" "run $_id: id"
	assert_eq "$(field "$OUT" cgroup)" "$ROOT/$_id" "run $_id: cgroup"
	JPID=$(field "$OUT" pid)
	assert_match "$JPID" '^[1-9][0-9]*$' "run $_id: pid"
}

# wait_rc ID WANT: `cgroupctl wait ID` must exit WANT; $OUT is its output.
wait_rc() {
	try ctl wait "$1"
	[ "$RC" -eq "$2" ] || fail "cgroupctl wait $1 exited $RC, want $2; output: $(echo "$OUT" | tr '\n' '|')"
}

# inspect_is ID KEY WANT...: INSPECT ID and compare KEY=WANT pairs.
inspect_is() {
	_id=$1
	shift
	ok ctl inspect "$_id"
	while [ $# -ge 2 ]; do
		assert_eq "$(field "$OUT" "$1")" "$2" "inspect $_id: $1"
		shift 2
	done
}

# ---- assertions ------------------------------------------------------------

assert_eq() { [ "$1" = "$2" ] || fail "${3:-value}: got '$1', want '$2'"; }
assert_ne() { [ "$1" != "$2" ] || fail "${3:-value}: got '$1', want anything else"; }
assert_contains() {
	case $1 in *"$2"*) ;; *) fail "${3:-text}: '$(echo "$1" | tr '\n' '|')' does not contain '$2'" ;; esac
}
assert_not_contains() {
	case $1 in *"$2"*) fail "${3:-text}: '$(echo "$1" | tr '\n' '|')' contains '$2'" ;; esac
}
# assert_match TEXT ERE [WHAT]: some line of TEXT matches the extended regex.
assert_match() {
	printf '%s\n' "$1" | grep -Eq -- "$2" || fail "${3:-text}: '$(echo "$1" | tr '\n' '|')' does not match /$2/"
}
assert_ge() { [ "$1" -ge "$2" ] 2>/dev/null || fail "${3:-value}: got '$1', want >= $2"; }
assert_le() { [ "$1" -le "$2" ] 2>/dev/null || fail "${3:-value}: got '$1', want <= $2"; }
# assert_file_eq FILE WANT: the file's content (first line) is WANT.
assert_file_eq() {
	[ -e "$1" ] || fail "$1 does not exist (want '$2')"
	assert_eq "$(head -n 1 "$1")" "$2" "$1"
}
# assert_grep_file FILE ERE [WHAT]
assert_grep_file() {
	[ -e "$1" ] || fail "${3:-$1}: $1 does not exist"
	grep -Eq -- "$2" "$1" || fail "${3:-$1}: no line of $1 matches /$2/: $(tr '\n' '|' <"$1")"
}
assert_rc() { [ "$RC" -eq "$1" ] || fail "${2:-command} exited $RC, want $1; output: $(echo "$OUT" | tr '\n' '|')"; }
assert_reason() { assert_eq "$(field "$OUT" reason)" "$1" "${2:-reason}"; }

# assert_no_job ID: the daemon answers `no such job` and there is no cgroup.
assert_no_job() {
	try ctl inspect "$1"
	assert_rc 1 "inspect $1"
	assert_reason "no such job" "inspect $1: reason"
	[ ! -e "$ROOT/$1" ] || fail "$ROOT/$1 exists, want no cgroup for $1"
}

# ---- cgroup files ----------------------------------------------------------

cgfile() { cat "$ROOT/$1/$2"; }
# cgkey ID FILE KEY: the value of KEY in a flat-keyed file (cgroup.events...).
cgkey() { awk -v k="$3" '$1 == k { print $2; exit }' "$ROOT/$1/$2"; }
populated() { cgkey "$1" cgroup.events populated; }
frozen() { cgkey "$1" cgroup.events frozen; }
nprocs() { wc -l <"$ROOT/$1/cgroup.procs" | tr -d ' '; }
in_cgroup() { grep -qx "$2" "$ROOT/$1/cgroup.procs"; }

# cmdlines ID: the command lines of the processes in the job's cgroup.
cmdlines() {
	for _p in $(cat "$ROOT/$1/cgroup.procs"); do
		tr '\000' ' ' <"/proc/$_p/cmdline" 2>/dev/null
		echo
	done
}

# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$_st" ] && [ "$_st" != Z ]
}

# ---- polling ---------------------------------------------------------------

# slow_s SECONDS: a timeout stretched by SUITE_SLOW, the guest's measured
# slowness in percent (run-suite.sh: 100 for an amd64 guest, more for a
# slower one). Every deadline below goes through it.
slow_s() { echo $(($1 * ${SUITE_SLOW:-100} / 100)); }

# wait_for "SHELL CONDITION" TIMEOUT_S [WHAT]: poll until the condition holds;
# the test fails at the deadline.
wait_for() {
	_ws=$(slow_s "${2:-30}")
	_dl=$(($(now_ms) + _ws * 1000))
	while ! eval "$1"; do
		[ "$(now_ms)" -lt "$_dl" ] || fail "timed out after ${_ws}s waiting for ${3:-$1}"
		sleep 0.1
	done
}

# ---- events ----------------------------------------------------------------

# event_lines TYPE [KEY=VALUE...]: the daemon's EVENT lines of TYPE that
# carry every KEY=VALUE given.
event_lines() {
	[ -f "$DERR" ] || return 0
	awk -v want="type=$*" '
		BEGIN { n = split(want, w, " ") }
		/^EVENT / {
			for (i = 1; i <= n; i++) {
				hit = 0
				for (j = 2; j <= NF; j++) if ($j == w[i]) { hit = 1; break }
				if (!hit) next
			}
			print
		}' "$DERR"
}

# event_count TYPE [KEY=VALUE...]
event_count() { event_lines "$@" | wc -l | tr -d ' '; }

# kv LINE KEY: the value of KEY=... in an event line.
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# await_event TIMEOUT_S TYPE [KEY=VALUE...]: poll until such an event is
# logged; sets $EV to the first matching line; returns 1 at the deadline.
await_event() {
	_to=$(slow_s "$1")
	shift
	_dl=$(($(now_ms) + _to * 1000))
	while :; do
		EV=$(event_lines "$@" | head -n 1)
		[ -n "$EV" ] && return 0
		[ "$(now_ms)" -lt "$_dl" ] || return 1
		sleep 0.1
	done
}

# wait_event TIMEOUT_S TYPE [KEY=VALUE...]: like await_event, but failing
# the test at the deadline.
wait_event() {
	await_event "$@" || fail "timed out after $(slow_s "$1")s waiting for event $(shift; echo "$*")"
}

# assert_events N TYPE [KEY=VALUE...]: exactly N such events. The daemon
# writes stderr from a writer of its own, a little after its replies: wait
# (up to 10 s) for N of them to be there before counting.
assert_events() {
	_n=$1
	shift
	_dl=$(($(now_ms) + 10000))
	while [ "$(event_count "$@")" -lt "$_n" ] && [ "$(now_ms)" -lt "$_dl" ]; do
		sleep 0.05
	done
	assert_eq "$(event_count "$@")" "$_n" "number of '$*' events"
}

# ---- benchmark figures -----------------------------------------------------

# In the VM the runner shows a passing test's output only when verbose: the
# figures go to the console as well.
CONSOLE=""
if grep -q '^SUITE_MODE=bench' /etc/suite.conf 2>/dev/null && [ -w /dev/console ]; then
	CONSOLE=/dev/console
fi

# figure KEY VALUE
figure() {
	echo "$1=$2"
	[ -z "$CONSOLE" ] || echo "$1=$2" >"$CONSOLE"
}

# ---- the daemon ------------------------------------------------------------

# lift_high_after SECONDS OUT: in the background, once the root's
# memory.events `high` counter has moved past its value now, wait SECONDS,
# set the root's memory.high back to max and write "T0 T1" (now_ms of the
# first event and of the lift) to OUT. The watch uses builtins only: a
# fork per look would let the overage, and with it the kernel's throttling
# penalty, grow before the lift.
lift_high_after() {
	rm -f "$2"
	_lh0=$(awk '$1 == "high" { print $2 }' "$ROOT/memory.events")
	(
		while :; do
			while read -r k v; do [ "$k" = high ] && break; done <"$ROOT/memory.events"
			[ "$v" = "$_lh0" ] || break
		done
		t0=$(now_ms)
		sleep "$1"
		echo max >"$ROOT/memory.high"
		echo "$t0 $(now_ms)" >"$2"
	) &
}

# rm_cgroup DIR: kill what is left in the cgroup tree DIR and remove it.
rm_cgroup() {
	killtree "$1" || say "warning: could not remove $1"
}

# daemon_start [FLAG...]: start cgroupd on $ROOT (created here and removed at
# exit), $SOCK and -L $LOGDIR; wait for `cgroupd ready`. With $DAEMON_CG set,
# the daemon is started inside that cgroup. Sets $DPID; $DERR is a fresh file.
daemon_start() {
	[ -z "$DPID" ] || fail "daemon_start: a daemon (pid $DPID) is still running"
	mkdir -p "$ROOT" || fail "mkdir $ROOT"
	case " $ROOTS " in *" $ROOT "*) ;; *) ROOTS="$ROOTS $ROOT" ;; esac
	NDAEMON=$((NDAEMON + 1))
	DERR=$WORK/daemon-$NDAEMON.err
	: >"$DERR"
	say "start: cgroupd -r $ROOT -s $SOCK -L $LOGDIR $*"
	sh -c '[ -z "$1" ] || echo $$ >"$1/cgroup.procs" || exit 99; shift; exec "$@"' sh "${DAEMON_CG:-}" \
		cgroupd -r "$ROOT" -s "$SOCK" -L "$LOGDIR" "$@" >"$WORK/daemon-$NDAEMON.out" 2>"$DERR" &
	DPID=$!
	_dl=$(($(now_ms) + $(slow_s 60) * 1000))
	while ! grep -q 'cgroupd ready' "$DERR"; do
		if ! alive "$DPID"; then
			wait "$DPID"
			_rc=$?
			DPID=""
			fail "cgroupd exited with status $_rc before 'cgroupd ready'"
		fi
		[ "$(now_ms)" -lt "$_dl" ] || fail "cgroupd did not print 'cgroupd ready' within $(slow_s 60)s"
		sleep 0.1
	done
	grep -q "using cgroup root: $ROOT\$" "$DERR" || fail "no line 'using cgroup root: $ROOT' on the daemon's stderr"
	[ -S "$SOCK" ] || fail "$SOCK is not a socket after 'cgroupd ready'"
}

# daemon_reap [TIMEOUT_S]: wait for the daemon to exit; $DSTATUS is its status.
daemon_reap() {
	_dl=$(($(now_ms) + $(slow_s "${1:-30}") * 1000))
	while alive "$DPID"; do
		if [ "$(now_ms)" -ge "$_dl" ]; then
			kill -KILL "$DPID" 2>/dev/null
			wait "$DPID" 2>/dev/null
			DPID=""
			fail "cgroupd did not exit within $(slow_s "${1:-30}")s"
		fi
		sleep 0.1
	done
	wait "$DPID"
	DSTATUS=$?
	DPID=""
}

# daemon_quit: QUIT; the daemon must answer, exit 0 and remove its socket.
daemon_quit() {
	ok ctl quit
	assert_eq "$(field "$OUT" shutting_down)" 1 "quit: shutting_down"
	daemon_reap 60
	assert_eq "$DSTATUS" 0 "cgroupd exit status after quit"
	[ ! -e "$SOCK" ] || fail "$SOCK still exists after quit"
}

# daemon_term: SIGTERM; the daemon must exit 0.
daemon_term() {
	kill -TERM "$DPID"
	daemon_reap 60
	assert_eq "$DSTATUS" 0 "cgroupd exit status after SIGTERM"
}

# job_dirs: the job cgroups left under $ROOT (not _daemon), one per line.
job_dirs() {
	for _d in "$ROOT"/*/; do
		[ -d "$_d" ] || continue
		_d=${_d%/}
		_d=${_d##*/}
		[ "$_d" = _daemon ] || echo "$_d"
	done
}

cleanup() {
	_rc=$?
	trap - EXIT INT TERM
	# ON_EXIT: what a test set up for the host beyond its cgroups (swap).
	[ -z "${ON_EXIT:-}" ] || eval "$ON_EXIT"
	if [ -n "$DPID" ] && alive "$DPID"; then
		timeout 10 cgroupctl --socket "$SOCK" quit >/dev/null 2>&1
		_i=0
		while alive "$DPID" && [ $_i -lt 100 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
		kill -KILL "$DPID" 2>/dev/null
	fi
	for _r in $ROOTS; do rm_cgroup "$_r"; done
	if [ "$_rc" -eq 0 ]; then
		say "PASS"
	else
		say "exit $_rc"
	fi
	exit "$_rc"
}
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM

# ---- shared scenarios ------------------------------------------------------

# lifecycle PREFIX: spawn (cgroup, argv, env, cwd, log), inspect, freeze and
# thaw confirmed by cgroup.events, kill of one process and of a frozen
# process tree, exit and signal statuses, remove, and the events of each.
lifecycle() {
	p=$1
	say "lifecycle $p: spawn into the job's cgroup with env, cwd and log"
	job "$p-a" --cwd /tmp --env GREETING=hello -- /bin/sh -c 'echo "$GREETING from $(pwd)"; exec /bin/sleep 600'
	pa=$JPID
	in_cgroup "$p-a" "$pa" || fail "pid $pa not in $ROOT/$p-a/cgroup.procs: $(tr '\n' ' ' <"$ROOT/$p-a/cgroup.procs")"
	wait_for "tr '\\000' ' ' </proc/$pa/cmdline | grep -q '^/bin/sleep 600'" 30 "pid $pa to exec /bin/sleep 600"
	wait_for "grep -q 'hello from /tmp' '$LOGDIR/$p-a.log' 2>/dev/null" 30 "'hello from /tmp' in $LOGDIR/$p-a.log"
	ok ctl logs "$p-a"
	assert_contains "$OUT" "hello from /tmp" "logs $p-a"
	inspect_is "$p-a" id "$p-a" state running pid "$pa" cgroup "$ROOT/$p-a" log "$LOGDIR/$p-a.log"
	assert_contains ",$(field "$OUT" pids)," ",$pa," "inspect $p-a: pids"
	wait_event 10 job.start id="$p-a" pid="$pa"

	say "lifecycle $p: freeze and thaw"
	ok ctl freeze "$p-a"
	assert_eq "$(field "$OUT" state)" frozen "freeze $p-a: state"
	# FREEZE answers once cgroup.events says so: no waiting here.
	assert_eq "$(frozen "$p-a")" 1 "cgroup.events frozen right after FREEZE"
	inspect_is "$p-a" state frozen
	wait_event 10 job.freeze id="$p-a" reason=client
	ok ctl thaw "$p-a"
	assert_eq "$(field "$OUT" state)" running "thaw $p-a: state"
	wait_for "[ \"\$(frozen $p-a)\" = 0 ]" 30 "cgroup.events frozen 0 after THAW"
	inspect_is "$p-a" state running
	wait_event 10 job.thaw id="$p-a" reason=client

	say "lifecycle $p: kill, wait, remove"
	ok ctl kill "$p-a"
	assert_eq "$(field "$OUT" signal)" 9 "kill $p-a: signal"
	wait_rc "$p-a" 137
	assert_eq "$(field "$OUT" state)" killed "wait $p-a: state"
	assert_eq "$(field "$OUT" signal)" 9 "wait $p-a: signal"
	assert_eq "$(populated "$p-a")" 0 "cgroup.events populated after wait"
	inspect_is "$p-a" state killed signal 9 exit 0 oom_killed 0
	alive "$pa" && fail "pid $pa still alive after kill and wait"
	wait_event 10 job.kill id="$p-a" signal=9 reason=client
	wait_event 10 job.exit id="$p-a" state=killed signal=9
	ok ctl remove "$p-a"
	assert_eq "$(field "$OUT" id)" "$p-a" "remove: id"
	assert_no_job "$p-a"
	wait_event 10 job.cleanup id="$p-a"

	say "lifecycle $p: a frozen process tree is killed whole"
	job "$p-b" -- /bin/sh -c '/bin/sleep 600 & /bin/sleep 600 & /bin/sleep 600 & wait'
	wait_for "[ \$(nprocs $p-b) -ge 4 ]" 30 "4 processes in $p-b"
	ok ctl freeze "$p-b"
	assert_eq "$(frozen "$p-b")" 1 "cgroup.events frozen right after FREEZE"
	ok ctl kill "$p-b"
	wait_rc "$p-b" 137
	assert_eq "$(populated "$p-b")" 0 "populated after killing a frozen tree"
	ok ctl remove "$p-b"
	assert_no_job "$p-b"

	say "lifecycle $p: exit status and signal death"
	job "$p-c" -- /bin/sh -c 'exit 7'
	wait_rc "$p-c" 7
	assert_eq "$(field "$OUT" state)" failed "wait $p-c: state"
	assert_eq "$(field "$OUT" exit)" 7 "wait $p-c: exit"
	ok ctl remove "$p-c"
	job "$p-d" -- /bin/sleep 600
	ok ctl kill "$p-d" --signal 15
	wait_rc "$p-d" 143
	assert_eq "$(field "$OUT" state)" failed "wait $p-d: state"
	assert_eq "$(field "$OUT" signal)" 15 "wait $p-d: signal"
	ok ctl remove "$p-d"
	for _j in a b c d; do
		assert_events 1 job.start id="$p-$_j"
		assert_events 1 job.exit id="$p-$_j"
		assert_events 1 job.cleanup id="$p-$_j"
	done
}
