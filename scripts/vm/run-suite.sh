#!/bin/sh
# run-suite.sh - run the selected suite files inside the test VM (busybox ash).
#
# Reads /etc/suite.conf (SUITE_MODE test|bench, SUITE_SELECT, SUITE_TEST_TIMEOUT,
# SUITE_BUDGET, SUITE_VERBOSE, SUITE_ARCH). First it measures the guest's
# speed and exports SUITE_SLOW (percent, >= 100, see calibrate): the
# per-test limit and every wait_for timeout of lib.sh scale with it. Tests that would start after SUITE_BUDGET
# seconds of uptime fail as not run, so the summary always gets out. Each test runs as `sh FILE` in its own cgroup
# /sys/fs/cgroup/suite.run/<name> under a time limit, output captured to
# /tmp/suite-logs/<name>.log. Afterwards everything left in that cgroup is
# killed, and any cgroup left under /sys/fs/cgroup/t-<name> (a test's daemon
# root) is killed, removed and makes the test fail: each test must clean up.
# Prints `PASS|FAIL <name> <seconds>s` per test (a failing test's output
# indented below it), then `N passed, M failed`; exits 1 if any failed.
SUITE_MODE="test"
SUITE_SELECT=""
SUITE_TEST_TIMEOUT=240
SUITE_BUDGET=840
SUITE_VERBOSE=0
[ -f /etc/suite.conf ] && . /etc/suite.conf

cd /suite || exit 1
cg=/sys/fs/cgroup
runcg=$cg/suite.run
logs=/tmp/suite-logs
mkdir -p "$runcg" "$logs"

uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# The host's clock is the reference: the RTC gives the guest the same time.
if [ -n "${SUITE_HOST_UNIX:-}" ]; then
	now=$(date +%s)
	d=$((now - SUITE_HOST_UNIX))
	[ "$d" -lt 0 ] && d=$((-d))
	[ "$d" -gt 600 ] && echo "suite: guest clock differs from the host's by ${d}s"
fi

. /suite/cgtree.sh # killtree

# quiesce: a test must not inherit the host pressure of the one before (the
# daemon's admission rules read /proc/pressure): poll until the avg10
# figures have decayed, at most 120 s.
psi_avg10() { awk -v k="$2" '$1 == k { sub("avg10=", "", $2); print int($2); exit }' "/proc/pressure/$1"; }
quiesce() {
	[ -e /proc/pressure ] || return 0 # booted with psi=0: nothing to wait for
	_q0=$(uptime_ms)
	while [ "$(psi_avg10 memory some)" -ge 5 ] || [ "$(psi_avg10 memory full)" -ge 2 ] ||
		[ "$(psi_avg10 io full)" -ge 5 ] || [ "$(psi_avg10 cpu some)" -ge 40 ]; do
		if [ $(($(uptime_ms) - _q0)) -ge 120000 ]; then
			echo "suite: pressure did not recede in 120s: $(grep -H . /proc/pressure/* | tr '\n' ' ')"
			return 1
		fi
		sleep 0.5
	done
	_q=$(($(uptime_ms) - _q0))
	[ $_q -ge 1000 ] && echo "suite: waited $((_q / 1000))s for host pressure to recede"
	return 0
}

# calibrate: SUITE_SLOW is how much slower than the reference this guest
# starts processes, in percent, at least 100. The suite's waits are bounded
# by process starts (the Go binary, busybox applets); the reference, 1500 ms
# for 10 starts of cgroupbox and 100 of /bin/true, is an amd64 guest on the
# development host (900-1700 ms there; an arm64 guest: 1400-2300 ms). So an
# amd64 guest keeps the plain timeouts and a slower one (arm64, a busy host)
# gets them stretched, never shortened. Best of two rounds: a host hiccup
# inflates one.
calibrate() {
	_best=""
	for _r in 1 2; do
		_c0=$(uptime_ms)
		_i=0
		while [ $_i -lt 10 ]; do cgroupbox --version >/dev/null; _i=$((_i + 1)); done
		_i=0
		while [ $_i -lt 100 ]; do /bin/true; _i=$((_i + 1)); done
		_c=$(($(uptime_ms) - _c0))
		[ -z "$_best" ] || [ $_c -lt "$_best" ] && _best=$_c
	done
	SUITE_SLOW=$((_best * 100 / 1500))
	[ $SUITE_SLOW -lt 100 ] && SUITE_SLOW=100
	echo "suite: guest ${SUITE_ARCH:-amd64}: 10 starts of cgroupbox and 100 of /bin/true took ${_best} ms (reference 1500): timeouts x$SUITE_SLOW%"
}
calibrate
export SUITE_SLOW

case $SUITE_MODE in
test) pattern='[0-9][0-9]-*.sh' ;;
bench) pattern='bench-*.sh' ;;
*) echo "suite: unknown mode $SUITE_MODE"; exit 1 ;;
esac

files=""
if [ -n "$SUITE_SELECT" ]; then
	for s in $SUITE_SELECT; do files="$files $s.sh"; done
else
	for f in $pattern; do [ -f "$f" ] && files="$files $f"; done
fi
if [ -z "$files" ]; then
	echo "suite: no $SUITE_MODE files"
	echo "0 passed, 0 failed"
	[ "$SUITE_MODE" = bench ] && exit 0
	exit 1
fi

pass=0
fail=0
failed=""
s0=$(uptime_ms)
for f in $files; do
	file=$f
	name=${f%.sh}
	name=${name#[0-9][0-9]-}
	name=${name#bench-}
	log=$logs/$name.log
	tcg=$runcg/$name
	mkdir -p "$tcg"
	quiesce
	t0=$(uptime_ms)
	left=$((SUITE_BUDGET - t0 / 1000))
	if [ $left -lt 10 ]; then
		fail=$((fail + 1))
		failed="$failed $name"
		echo "FAIL $name 0.0s: not run, the suite's ${SUITE_BUDGET}s budget is spent"
		rmdir "$tcg"
		continue
	fi
	# A file may declare a limit of its own (# suite-timeout: N).
	limit=$(sed -n '1,10s/^# suite-timeout: *\([0-9][0-9]*\)$/\1/p' "$file")
	limit=$((${limit:-$SUITE_TEST_TIMEOUT} * SUITE_SLOW / 100))
	[ $left -lt "$limit" ] && limit=$left
	# The test's shell and all it starts (its daemon, helpers) live in tcg.
	timeout -s TERM -k 10 "$limit" \
		sh -c 'echo $$ >"$1/cgroup.procs" && exec sh "$2"' sh "$tcg" "/suite/$file" >"$log" 2>&1 </dev/null
	rc=$?
	t1=$(uptime_ms)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
	why=""
	if [ $((t1 - t0)) -ge $((limit * 1000)) ]; then
		why="timed out after ${limit}s"
	elif [ $rc -ne 0 ]; then
		why="exit status $rc"
	fi
	killtree "$tcg" || echo "suite: $name: could not remove $tcg"
	for d in "$cg/t-$name" "$cg"/t-"$name"-*; do
		[ -d "$d" ] || continue
		left=$(find "$d" -mindepth 1 -type d | sed "s|^$cg/||" | tr '\n' ' ')
		why="${why:+$why; }left behind cgroup ${d#"$cg"/} ${left:+(with $left)}"
		killtree "$d" || echo "suite: $name: could not remove $d"
	done
	if [ -z "$why" ]; then
		pass=$((pass + 1))
		echo "PASS $name ${secs}s"
		[ "$SUITE_VERBOSE" = 1 ] && sed 's/^/    | /' "$log"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "FAIL $name ${secs}s: $why"
		if [ "$SUITE_VERBOSE" = 1 ]; then
			sed 's/^/    | /' "$log"
		else
			tail -n 60 "$log" | sed 's/^/    | /'
		fi
	fi
done
s1=$(uptime_ms)
echo "suite: $SUITE_MODE ran in $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')s${failed:+, failed:$failed}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
