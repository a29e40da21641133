#!/bin/sh
# vm-test.sh - cgroupd under a real systemd (run by scripts/systemd-vm.sh
# inside the VM, as root, after boot; POSIX sh).
#
# Installs build/cgroupbox and scripts/systemd/cgroupd.service from the test
# disk (this script's directory), with the drop-in keep-jobs.conf where
# systemd is 254 or later (required on trixie), and checks what the unit
# promises: start
# returns only after READY=1 (Type=notify) and STATUS= shows the job counts;
# the daemon moved itself into <service cgroup>/_daemon and enabled the
# controllers for its jobs; limits apply; the watchdog is fed; reload
# upgrades in place (same MainPID, jobs kept); a job's log stays within --log-max-size;
# restart and stop end the running jobs (job.kill
# reason=shutdown) and stop leaves no job cgroup; a job stalled on its
# memory.high is killed by the pressure engine. With the drop-in, a crash
# (SIGKILL, then a watchdog timeout) keeps the jobs and the restarted
# daemon adopts them. On trixie, Debian's postgresql unit starts and
# pgbench -S runs 5 s at a fixed rate. Prints one `ok`/`FAIL`
# line per check and `N passed, M failed`; exits 1 on the first failure.
set -u
T=$(cd "$(dirname "$0")" && pwd)
SVC=/sys/fs/cgroup/system.slice/cgroupd.service
PASS=0
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
JOBENV="--env PATH=/usr/local/bin:/usr/bin:/bin"

. "$T/poll.sh"
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

# The release systemd-vm.sh booted (the test disk's `release`), and systemd's.
want=$(cat "$T/release" 2>/dev/null || echo bookworm)
got=$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")
[ "$got" = "$want" ] || fail "guest is Debian '$got', want '$want'"
sdver=$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
[ -n "$sdver" ] || fail "cannot read systemd's version: $(systemctl --version | head -n 1)"
KEEP=0
[ "$sdver" -ge 254 ] && KEEP=1
[ "$want" = trixie ] && [ "$KEEP" -eq 0 ] && fail "trixie with systemd $sdver, want >= 254"
pass "guest: Debian $got, systemd $sdver"

say "installing cgroupbox and cgroupd.service"
install -m 0755 "$T/cgroupbox" /usr/local/bin/cgroupbox || fail "install cgroupbox"
for a in cgroupd cgroupctl memhog cpuhog; do ln -sf cgroupbox "/usr/local/bin/$a"; done
install -m 0644 "$T/cgroupd.service" /etc/systemd/system/cgroupd.service || fail "install unit"
mkdir -p /etc/systemd/system/cgroupd.service.d
# A short watchdog so the test sees it fed (the unit ships 30 s), and a
# short abort timeout so a watchdog timeout ends in SIGKILL soon.
printf '[Service]\nWatchdogSec=10\nTimeoutAbortSec=5\n' >/etc/systemd/system/cgroupd.service.d/test.conf
if [ "$KEEP" -eq 1 ]; then
	install -m 0644 "$T/keep-jobs.conf" /etc/systemd/system/cgroupd.service.d/keep-jobs.conf || fail "install keep-jobs.conf"
fi
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
[ "$(prop WatchdogUSec)" = 10s ] || fail "WatchdogUSec $(prop WatchdogUSec), want 10s"
w0=$(prop WatchdogTimestampMonotonic)
wait_for '[ "$(prop WatchdogTimestampMonotonic)" != "$w0" ]' 20 "a WATCHDOG=1 keep-alive"
w1=$(prop WatchdogTimestampMonotonic)
wait_for '[ "$(prop WatchdogTimestampMonotonic)" != "$w1" ]' 20 "a second WATCHDOG=1 keep-alive"
pass "watchdog fed ($w0 -> $w1 -> $(prop WatchdogTimestampMonotonic))"

# ---- reload: ExecReload=cgroupctl upgrade, an in-place upgrade --------------
timeout 60 systemctl reload cgroupd || fail "systemctl reload exited $?"
wait_for 'has_event daemon.upgrade pid=$mpid' 30 "daemon.upgrade in the journal"
[ "$(prop MainPID)" = "$mpid" ] || fail "reload changed MainPID"
alive "$lpid" || fail "reload ended job lim"
[ "$(cgroupctl inspect lim | sed -n 's/^state: //p')" = running ] || fail "job lim not running after the reload"
[ "$(prop ActiveState)" = active ] || fail "ActiveState $(prop ActiveState) after the reload"
pass "reload: upgraded in place (daemon.upgrade), MainPID $mpid and job lim kept"

# ---- a crash keeps the jobs (systemd >= 254, keep-jobs.conf) ---------------
# crash HOW: crash the daemon HOW, wait for systemd to start it again, and
# check that it adopted lim and keep (same pids, running, job.adopt).
crash() {
	cpid=$(prop MainPID)
	n0=$(prop NRestarts)
	jfail=$(journal | grep "Failed with result")
	t0=$(now)
	case $1 in
	sigkill) kill -KILL "$cpid" ;;
	# A stuck daemon: no WATCHDOG=1 any more; systemd sends SIGABRT after
	# WatchdogSec (pending on a stopped process) and SIGKILL after
	# TimeoutAbortSec.
	watchdog) kill -STOP "$cpid" ;;
	esac
	wait_for '[ "$(prop NRestarts)" -gt "$n0" ] && [ "$(prop ActiveState)" = active ]' 90 "systemd to restart the daemon after $1"
	# systemd's own account of the crash.
	case $1 in sigkill) why=signal ;; watchdog) why=watchdog ;; esac
	[ "$(journal | grep -c "Failed with result '$why'")" -gt "$(echo "$jfail" | grep -c "Failed with result '$why'")" ] ||
		fail "no new \"Failed with result '$why'\" from systemd after $1"
	npid=$(prop MainPID)
	say "$1: daemon $cpid -> $npid in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s"
	alive "$cpid" && fail "the old daemon (pid $cpid) is still alive after $1"
	[ "$npid" != "$cpid" ] && [ "$npid" -gt 0 ] || fail "MainPID $npid after $1"
	[ "$(cat "/proc/$npid/cgroup")" = "0::/system.slice/cgroupd.service/_daemon" ] || fail "restarted daemon in $(cat "/proc/$npid/cgroup")"
	[ -d "$SVC/start" ] && fail "$SVC/start left after $1"
	for j in lim:$lpid keep:$kpid; do
		id=${j%%:*} pid=${j#*:}
		alive "$pid" || fail "job $id (pid $pid) did not survive $1"
		grep -qx "$pid" "$SVC/$id/cgroup.procs" || fail "job $id pid $pid not in $SVC/$id after $1"
		has_event job.adopt id=$id pid=$pid || fail "no job.adopt id=$id pid=$pid after $1"
		ins=$(cgroupctl inspect "$id") || fail "inspect $id after $1: $ins"
		echo "$ins" | grep -qx "state: running" || fail "$id not running after $1: $(echo "$ins" | tr '\n' ' ')"
		echo "$ins" | grep -qx "pid: $pid" || fail "$id pid changed after $1: $(echo "$ins" | tr '\n' ' ')"
		echo "$ins" | grep -qx "adopted: 1" || fail "$id not adopted after $1: $(echo "$ins" | tr '\n' ' ')"
		# LIST's block of the job: id, state, pid lines.
		blk=$(cgroupctl list | awk -v id="$id" '/^id: / { on = ($2 == id) } on && /^(id|state|pid): / { printf "%s ", $0 }')
		[ "$blk" = "id: $id state: running pid: $pid " ] || fail "LIST shows '$blk' for $id after $1, want running with pid $pid"
	done
	pass "$1: systemd restarted the daemon ($cpid -> $npid, result '$why', NRestarts $(prop NRestarts)); lim (pid $lpid) and keep (pid $kpid) adopted, running in LIST"
}
if [ "$KEEP" -eq 1 ]; then
	[ "$(prop DelegateSubgroup)" = start ] || fail "DelegateSubgroup '$(prop DelegateSubgroup)', want start"
	# The daemon left systemd's subgroup for _daemon and removed it.
	[ -d "$SVC/start" ] && fail "$SVC/start (DelegateSubgroup=) left after the daemon moved into _daemon"
	has_event cgroup.unknown && fail "the daemon reported an unknown cgroup"
	[ "$(prop KillMode)" = process ] || fail "KillMode $(prop KillMode), want process"
	rm -f /run/keep.fifo
	mkfifo /run/keep.fifo || fail "mkfifo /run/keep.fifo"
	# keep ends by itself, exit 7, once told to through the fifo.
	cgroupctl run --id keep $JOBENV -- sh -c 'read x </run/keep.fifo; exit 7' >/dev/null || fail "run keep"
	kpid=$(cgroupctl inspect keep | sed -n 's/^pid: //p')
	crash sigkill
	journal | grep "type=job.adopt " | tail -n 2
	crash watchdog
	# keep ends by itself now. The kernel gave it to PID 1 at the crash,
	# so its exit status cannot reach the daemon: unknown, never invented.
	echo go >/run/keep.fifo
	rc=0
	out=$(timeout 60 cgroupctl wait keep 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq 255 ] || fail "cgroupctl wait keep exited $rc, want 255 (status unknown); $out"
	case $out in *"exit status unknown (not_child)"*) ;; *) fail "wait keep said '$out'" ;; esac
	alive "$kpid" && fail "keep (pid $kpid) still alive after it ended"
	has_event job.exit id=keep exit_known=0 exit_reason=not_child || fail "no job.exit id=keep exit_known=0 exit_reason=not_child"
	[ -d "$SVC/keep" ] || fail "$SVC/keep gone before REMOVE"
	cgroupctl remove keep >/dev/null || fail "remove keep"
	pass "keep ended by itself after two crashes: job.exit exit_known=0 exit_reason=not_child, wait exit 255 ('$out')"
	rm -f /run/keep.fifo
	mpid=$(prop MainPID)
fi

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

# ---- PostgreSQL (trixie's image): the unit starts, pgbench at a fixed rate --
if [ "$want" = trixie ]; then
	# pgbench, pg_isready: Debian's wrappers in /usr/bin, else the version's own.
	PATH=$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n 1)
	pg() { runuser -u postgres -- env PATH="$PATH" "$@"; }
	t0=$(now)
	timeout 120 systemctl start postgresql || fail "systemctl start postgresql exited $?"
	# postgresql.service starts the clusters' postgresql@V-main.service.
	pgunit=$(systemctl list-units --no-legend --plain 'postgresql@*' | awk '{ print $1; exit }')
	[ -n "$pgunit" ] || fail "no postgresql@ unit after starting postgresql"
	wait_for 'pg pg_isready -q' 60 "PostgreSQL to accept connections ($pgunit)"
	[ "$(systemctl show -p ActiveState --value "$pgunit")" = active ] || fail "$pgunit not active"
	pgcg=$(systemctl show -p ControlGroup --value "$pgunit")
	pass "$pgunit active in $pgcg, accepting connections after $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s ($(pg psql -Atc 'select version()' | cut -d' ' -f1-2))"
	pg createdb bench || fail "createdb bench"
	t0=$(now)
	out=$(pg pgbench -i -s 1 -q bench 2>&1) || fail "pgbench -i: $out"
	say "pgbench -i -s 1 took $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s"
	# 5 s of read-only transactions at a fixed rate (open loop: latency
	# counts from each transaction's scheduled start), every transaction
	# logged; those later than 50 ms are counted (--latency-limit).
	rm -rf /tmp/pgb && mkdir /tmp/pgb && chown postgres /tmp/pgb
	out=$(cd /tmp/pgb && pg pgbench -S -R 20 -T 5 -c 2 -j 1 --latency-limit=50 -l --log-prefix=/tmp/pgb/tx bench 2>&1) ||
		fail "pgbench -S -R 20 -T 5: $out"
	echo "$out" | sed -n '/^transaction type/,$p'
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	sk=$(echo "$out" | sed -n 's/^number of transactions skipped: \([0-9]*\).*/\1/p')
	lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')
	# How fast the guest serves depends on the host (TCG): the smoke test
	# asks that transactions ran and were measured, not how fast.
	[ -n "$n" ] && [ "$n" -ge 10 ] || fail "pgbench processed '$n' transactions at 20/s for 5 s, want >= 10"
	[ -n "$sk" ] || fail "pgbench reported no skipped count (--latency-limit with -R)"
	[ -n "$lat" ] || fail "pgbench reported no latency average"
	echo "$out" | grep -q "above the 50.0 ms latency limit" || fail "pgbench reported no count above --latency-limit"
	# The per-transaction log: client, tx, latency (us), ...; one line for
	# each transaction, a skipped one's latency is 'skipped'.
	logged=$(cat /tmp/pgb/tx.* | wc -l)
	[ "$logged" -eq $((n + sk)) ] || fail "per-transaction log has $logged lines, want $n processed + $sk skipped"
	p=$(cat /tmp/pgb/tx.* | awk '$3 ~ /^[0-9]+$/ { print $3 }' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms", v[int(NR * 0.5 + 0.5)] / 1000, v[int(NR * 0.99 + 0.5)] / 1000, v[NR] / 1000 }')
	[ -n "$p" ] || fail "no latency in the per-transaction log"
	pass "pgbench -S -R 20 for 5 s: $n transactions, $sk skipped (over 50 ms late), latency average $lat ms; from its log ($logged lines): $p"
	timeout 120 systemctl stop postgresql "$pgunit" || fail "systemctl stop postgresql $pgunit exited $?"
	[ "$(systemctl show -p ActiveState --value "$pgunit")" = inactive ] || fail "$pgunit $(systemctl show -p ActiveState --value "$pgunit") after stop, want inactive"
	pass "postgresql stopped"
fi

echo "$PASS passed, 0 failed"
exit 0
