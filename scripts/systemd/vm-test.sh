#!/bin/sh
# vm-test.sh - cgroupd under a real systemd (run by scripts/systemd-vm.sh
# inside the VM, as root, after boot; POSIX sh).
#
# Installs build/cgroupbox and scripts/systemd/cgroupd.service from the test
# disk (this script's directory) and checks what the unit promises: start
# returns only after READY=1 (Type=notify) and STATUS= shows the job counts;
# the daemon moved itself into <service cgroup>/_daemon and enabled the
# controllers for its jobs; limits apply; the watchdog is fed; reload
# upgrades in place (same MainPID, jobs kept); a job's log stays within --log-max-size;
# restart and stop end the running jobs (job.kill
# reason=shutdown) and stop leaves no job cgroup; a job stalled on its
# memory.high is killed by the pressure engine. Prints one `ok`/`FAIL`
# line per check and `N passed, M failed`; exits 1 on the first failure.
set -u
T=$(cd "$(dirname "$0")" && pwd)
SVC=/sys/fs/cgroup/system.slice/cgroupd.service
PASS=0
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
JOBENV="--env PATH=/usr/local/bin:/usr/bin:/bin"

now() { cut -d' ' -f1 /proc/uptime; }
say() { echo "[$(now)] $*"; }

fail() {
	say "FAIL: $*"
	echo "--- systemctl status cgroupd ---"
	systemctl status --no-pager -l cgroupd 2>&1 | head -n 30
	echo "--- journalctl -u cgroupd (last 40) ---"
	journalctl --no-pager -o cat -u cgroupd 2>&1 | tail -n 40
	echo "--- cgroups under $SVC ---"
	find "$SVC" -type d 2>/dev/null
	echo "$PASS passed, 1 failed"
	exit 1
}
pass() { PASS=$((PASS + 1)); say "ok: $*"; }

# wait_for COND SECONDS WHAT: poll the shell condition every 0.1 s.
wait_for() {
	_end=$(awk -v n="$(now)" -v s="$2" 'BEGIN { printf "%d", n + s }')
	while ! eval "$1"; do
		[ "$(awk -v n="$(now)" 'BEGIN { printf "%d", n }')" -lt "$_end" ] || fail "timed out after $2 s waiting for $3"
		sleep 0.1
	done
}

prop() { systemctl show -p "$1" --value cgroupd; }
journal() { journalctl --no-pager -o cat -u cgroupd; }
# has_event TYPE KEY=VALUE...: the journal holds such an EVENT line.
has_event() {
	_t=$1
	shift
	journal | grep "^EVENT .* type=$_t " | {
		_ok=1
		while read -r _l; do
			_m=1
			for _kv in "$@"; do
				case " $_l " in *" $_kv "*) ;; *) _m=0 ;; esac
			done
			[ $_m -eq 1 ] && _ok=0
		done
		return $_ok
	}
}
alive() { kill -0 "$1" 2>/dev/null; }

say "installing cgroupbox and cgroupd.service"
install -m 0755 "$T/cgroupbox" /usr/local/bin/cgroupbox || fail "install cgroupbox"
for a in cgroupd cgroupctl memhog cpuhog; do ln -sf cgroupbox "/usr/local/bin/$a"; done
install -m 0644 "$T/cgroupd.service" /etc/systemd/system/cgroupd.service || fail "install unit"
# A short watchdog so the test sees it fed (the unit ships 30 s).
mkdir -p /etc/systemd/system/cgroupd.service.d
printf '[Service]\nWatchdogSec=4\n' >/etc/systemd/system/cgroupd.service.d/test.conf
systemctl daemon-reload || fail "daemon-reload"

# ---- start: Type=notify returns only after READY=1 -------------------------
t0=$(now)
timeout 60 systemctl start cgroupd || fail "systemctl start cgroupd exited $?"
say "systemctl start took $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s"
[ "$(prop ActiveState)" = active ] || fail "ActiveState $(prop ActiveState), want active"
[ "$(prop Type)" = notify ] || fail "Type $(prop Type), want notify"
st=$(prop StatusText)
case $st in "0 running, 0 frozen, 0 pending, 0 ended") ;; *) fail "StatusText '$st' after start (READY=1 carries the first STATUS=)" ;; esac
pass "start returned after READY=1; StatusText '$st'"
journal | grep -qx "cgroupd ready" || fail "no 'cgroupd ready' in the journal"
out=$(systemctl status --no-pager cgroupd 2>&1) || fail "systemctl status exited non-zero: $out"
echo "$out" | grep -q 'Status: "0 running' || fail "systemctl status shows no Status: line: $out"
pass "systemctl status: active, Status: \"$st\""

# ---- delegation: the daemon in _daemon, controllers for the jobs -----------
mpid=$(prop MainPID)
[ "$mpid" -gt 0 ] || fail "MainPID $mpid"
cg=$(cat "/proc/$mpid/cgroup")
[ "$cg" = "0::/system.slice/cgroupd.service/_daemon" ] || fail "daemon cgroup '$cg', want 0::/system.slice/cgroupd.service/_daemon"
[ -z "$(cat "$SVC/cgroup.procs")" ] || fail "processes left in $SVC itself: $(cat "$SVC/cgroup.procs")"
pass "daemon (pid $mpid) moved itself into $SVC/_daemon"
sc=$(cat "$SVC/cgroup.subtree_control")
for c in cpu io memory pids; do
	case " $sc " in *" $c "*) ;; *) fail "$SVC/cgroup.subtree_control is '$sc': no $c" ;; esac
done
pass "controllers enabled for jobs: $sc"

# ---- limits apply ----------------------------------------------------------
cgroupctl run --id lim --memory-max 64M --pids-max 50 --cpu-max 50000/100000 $JOBENV -- sleep 1000 >/dev/null || fail "run lim"
[ "$(cat "$SVC/lim/memory.max")" = 67108864 ] || fail "lim memory.max $(cat "$SVC/lim/memory.max")"
[ "$(cat "$SVC/lim/pids.max")" = 50 ] || fail "lim pids.max $(cat "$SVC/lim/pids.max")"
[ "$(cat "$SVC/lim/cpu.max")" = "50000 100000" ] || fail "lim cpu.max $(cat "$SVC/lim/cpu.max")"
lpid=$(cgroupctl inspect lim | sed -n 's/^pid: //p')
grep -qx "$lpid" "$SVC/lim/cgroup.procs" || fail "lim pid $lpid not in $SVC/lim/cgroup.procs"
pass "limits applied: memory.max 64M, pids.max 50, cpu.max 50000 100000 (pid $lpid)"
wait_for '[ "$(prop StatusText)" = "1 running, 0 frozen, 0 pending, 0 ended" ]' 10 "StatusText to count the job"
pass "StatusText updated: $(prop StatusText)"

# ---- bounded logs: the unit's -L /var/log/cgroupd, default --log-max-size 8M
cgroupctl run --id chatty $JOBENV -- seq 1 3000000 >/dev/null || fail "run chatty"
out=$(timeout 120 cgroupctl wait chatty) || fail "wait chatty: $out"
log=/var/log/cgroupd/chatty.log
size=$(stat -c %s "$log") blocks=$(stat -c %b "$log")
[ "$size" -eq 22888896 ] || fail "chatty.log size $size, want 22888896 (seq 1 3000000)"
[ $((blocks * 512)) -le $((8 * 1048576 + 65536)) ] || fail "chatty.log uses $((blocks * 512)) bytes on disk, want <= 8M + 64K"
first=$(cgroupctl logs chatty | head -n 1)
case $first in "[cgroupd: "*" bytes of log dropped (--log-max-size)]") ;; *) fail "logs chatty starts '$first', want the dropped-bytes marker" ;; esac
[ "$(cgroupctl logs chatty | tail -n 1)" = 3000000 ] || fail "logs chatty does not end with 3000000"
cgroupctl remove chatty >/dev/null || fail "remove chatty"
pass "bounded log: 22.9 MB written, $((blocks * 512)) bytes on disk, logs starts '$first'"

# ---- watchdog: WATCHDOG=1 every WATCHDOG_USEC/2 ----------------------------
[ "$(prop WatchdogUSec)" = 4s ] || fail "WatchdogUSec $(prop WatchdogUSec), want 4s"
w0=$(prop WatchdogTimestampMonotonic)
wait_for '[ "$(prop WatchdogTimestampMonotonic)" != "$w0" ]' 10 "a WATCHDOG=1 keep-alive"
w1=$(prop WatchdogTimestampMonotonic)
wait_for '[ "$(prop WatchdogTimestampMonotonic)" != "$w1" ]' 10 "a second WATCHDOG=1 keep-alive"
pass "watchdog fed ($w0 -> $w1 -> $(prop WatchdogTimestampMonotonic))"

# ---- reload: ExecReload=cgroupctl upgrade, an in-place upgrade --------------
timeout 60 systemctl reload cgroupd || fail "systemctl reload exited $?"
wait_for 'has_event daemon.upgrade pid=$mpid' 30 "daemon.upgrade in the journal"
[ "$(prop MainPID)" = "$mpid" ] || fail "reload changed MainPID"
alive "$lpid" || fail "reload ended job lim"
[ "$(cgroupctl inspect lim | sed -n 's/^state: //p')" = running ] || fail "job lim not running after the reload"
[ "$(prop ActiveState)" = active ] || fail "ActiveState $(prop ActiveState) after the reload"
pass "reload: upgraded in place (daemon.upgrade), MainPID $mpid and job lim kept"

# ---- restart: the running jobs end (no adoption across restarts yet) --------
timeout 90 systemctl restart cgroupd || fail "systemctl restart exited $?"
[ "$(prop ActiveState)" = active ] || fail "ActiveState $(prop ActiveState) after restart"
npid=$(prop MainPID)
[ "$npid" != "$mpid" ] || fail "MainPID unchanged after restart"
[ "$(cat "/proc/$npid/cgroup")" = "0::/system.slice/cgroupd.service/_daemon" ] || fail "restarted daemon in $(cat "/proc/$npid/cgroup")"
alive "$lpid" && fail "job lim (pid $lpid) survived the restart"
[ -d "$SVC/lim" ] && fail "$SVC/lim survived the restart"
has_event job.kill id=lim signal=9 reason=shutdown || fail "no job.kill id=lim reason=shutdown in the journal"
has_event job.cleanup id=lim result=removed || fail "no job.cleanup id=lim result=removed in the journal"
if cgroupctl inspect lim >/dev/null 2>&1; then fail "the restarted daemon knows job lim"; fi
[ "$(prop StatusText)" = "0 running, 0 frozen, 0 pending, 0 ended" ] || fail "StatusText after restart: $(prop StatusText)"
pass "restart: job lim killed (reason=shutdown) and its cgroup removed; new daemon pid $npid in _daemon"

# ---- a pressure kill: a low-priority job stalled on its memory.high --------
# No swap: 200 MiB of anon under a 64 MiB memory.high stalls on reclaim and
# the high-limit penalty, which the root's memory.pressure shows as full.
cgroupctl run --id high --priority 90 $JOBENV -- memhog 16 600 >/dev/null || fail "run high"
hpid=$(cgroupctl inspect high | sed -n 's/^pid: //p')
cgroupctl run --id low --priority 10 --memory-high 64M $JOBENV -- memhog 200 600 >/dev/null || fail "run low"
[ "$(cat "$SVC/low/memory.high")" = 67108864 ] || fail "low memory.high $(cat "$SVC/low/memory.high")"
say "low (200 MiB under a 64 MiB memory.high) is stalling; waiting for the engine's kill"
rc=0
out=$(timeout 120 cgroupctl wait low) || rc=$?
[ "$rc" -eq 137 ] || fail "cgroupctl wait low exited $rc, want 137; $(echo "$out" | tr '\n' ' ')"
has_event pressure action=kill target=low || fail "no 'pressure action=kill target=low' event"
has_event job.kill id=low signal=9 reason=pressure_memory || fail "no job.kill id=low reason=pressure_memory"
journal | grep "type=pressure .*action=kill" | head -n 1
alive "$hpid" || fail "the high-priority job died"
has_event job.kill id=high && fail "the high-priority job was killed"
pass "pressure kill: low killed (reason=pressure_memory), high (pid $hpid) still running"
cgroupctl remove low >/dev/null || fail "remove low"

# ---- stop: every job ends and no job cgroup is left -------------------------
spid=$(prop MainPID)
timeout 90 systemctl stop cgroupd || fail "systemctl stop exited $?"
[ "$(prop ActiveState)" = inactive ] || fail "ActiveState $(prop ActiveState) after stop, want inactive"
[ "$(prop Result)" = success ] || fail "Result $(prop Result) after stop, want success (the daemon exits 0 on SIGTERM)"
alive "$hpid" && fail "job high (pid $hpid) survived the stop"
alive "$spid" && fail "the daemon (pid $spid) survived the stop"
has_event job.kill id=high signal=9 reason=shutdown || fail "no job.kill id=high reason=shutdown"
has_event job.cleanup id=high result=removed || fail "no job.cleanup id=high result=removed"
left=$(find "$SVC" -mindepth 1 -type d 2>/dev/null | grep -v "^$SVC/_daemon\$" || true)
[ -z "$left" ] || fail "job cgroups left after stop: $left"
[ -e /run/cgroupd.sock ] && fail "/run/cgroupd.sock left after stop"
pass "stop: job high killed (reason=shutdown), no job cgroup left, result success"

echo "$PASS passed, 0 failed"
exit 0
