#!/bin/sh
# users: a non-root user in the socket's group connects (socket 0660, group
# cgroupd), its job runs as its uid, and it can neither see nor act on
# root's jobs (`no such job`); root sees both; a user outside the group
# cannot connect at all.
#
# Multi-user safety (README "Threat model"): every check the daemon makes
# for tuser (require_path, cwd, the executable and its PATH lookup) runs
# with tuser's rights, so it answers the same for a file tuser cannot see
# whether it exists or not; tuser's priority is capped at 30 (a RUN
# without one gets 30) and its live jobs at --max-user-jobs; each try on
# root's job is logged with tuser's uid; job events end in the owner's
# uid; a symlink planted in the log dir is not followed.
. "$(dirname "$0")/lib.sh"

# uctl USER ARGS...: cgroupctl as USER.
uctl() {
	_u=$1
	shift
	as_user "$_u" /usr/local/bin/cgroupctl --socket "$SOCK" "$@"
}

daemon_start --socket-group cgroupd --max-user-jobs 3
assert_eq "$(stat -c '%a %G' "$SOCK")" "660 cgroupd" "socket mode and group"

job r1 -- /bin/sleep 600
rpid=$JPID
assert_eq "$(awk '/^Uid:/ { print $2 }' /proc/$rpid/status)" 0 "uid of root's job"

say "tuser runs a job"
try uctl tuser run --id u1 --cwd /tmp $JOBENV -- /bin/sh -c 'id -u; exec /bin/sleep 600'
assert_rc 0 "run as tuser"
upid=$(field "$OUT" pid)
assert_eq "$(field "$OUT" cgroup)" "$ROOT/u1" "run as tuser: cgroup"
in_cgroup u1 "$upid" || fail "pid $upid not in $ROOT/u1"
wait_for "tr '\\000' ' ' </proc/$upid/cmdline | grep -q '^/bin/sleep 600'" 30 "u1 to exec sleep"
assert_match "$(grep '^Uid:' /proc/$upid/status)" '^Uid:[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000$' "u1 /proc/$upid/status Uid"
assert_match "$(grep '^Gid:' /proc/$upid/status)" '^Gid:[[:space:]]+1000[[:space:]]' "u1 /proc/$upid/status Gid"
wait_for "grep -qx 1000 '$LOGDIR/u1.log' 2>/dev/null" 30 "'1000' (id -u) in u1's log"
# Its resource limits are the documented defaults (the clone3 path sets
# them at the exec stop with CAP_SYS_RESOURCE, which the host tests lack),
# and it has fds 0-2 only.
assert_eq "$(awk '/^Max open files/ { print $4, $5 }' /proc/$upid/limits)" "1024 524288" "u1's nofile soft and hard"
assert_eq "$(awk '/^Max core file size/ { print $5 }' /proc/$upid/limits)" "0" "u1's core soft limit"
assert_eq "$(ls /proc/$upid/fd | sort | tr '\n' ' ')" "0 1 2 " "u1's descriptors"
try uctl tuser run --id u9 --ulimit nofile=1048576 -- /bin/true
assert_rc 1 "run as tuser with nofile above the default hard limit"
assert_reason "ulimit: nofile hard limit 1048576 is above 524288, the most a non-root caller may ask (--max-user-ulimit)" "ulimit above the ceiling: reason"

say "tuser sees only its own job"
try uctl tuser list
assert_rc 0 "list as tuser"
assert_eq "$(field "$OUT" count)" 1 "list as tuser: count"
assert_match "$OUT" '^id: u1$' "list as tuser"
assert_not_contains "$OUT" "id: r1" "list as tuser"
for verb in inspect freeze thaw kill remove wait logs; do
	try uctl tuser "$verb" r1
	assert_rc 1 "$verb r1 as tuser"
	assert_reason "no such job" "$verb r1 as tuser: reason"
	_v=$(echo "$verb" | tr a-z A-Z)
	grep -q "^cgroupd: access refused: uid 1000 (pid [0-9]*) $_v job r1 of uid 0\$" "$DERR" ||
		fail "no audit line 'cgroupd: access refused: uid 1000 (pid N) $_v job r1 of uid 0' on the daemon's stderr"
done
event_lines job.start id=u1 | grep -q ' uid=1000$' || fail "job.start of u1 does not end in uid=1000: $(event_lines job.start id=u1)"
event_lines job.start id=r1 | grep -q ' uid=0$' || fail "job.start of r1 does not end in uid=0: $(event_lines job.start id=r1)"
inspect_is u1 priority 30
inspect_is r1 state running pid "$rpid"
alive "$rpid" || fail "root's job $rpid died after tuser's kill attempt"
ok ctl stats
assert_eq "$(field "$OUT" jobs)" 2 "stats as root: jobs"

say "root sees both"
ok ctl list
assert_eq "$(field "$OUT" count)" 2 "list as root: count"
assert_match "$OUT" '^id: r1$' "list as root"
assert_match "$OUT" '^id: u1$' "list as root"
inspect_is u1 state running pid "$upid"

say "a user outside the group cannot connect"
try uctl other ping
assert_rc 1 "ping as other"
assert_contains "$OUT" "permission denied" "ping as other"

say "checks run with tuser's rights"
SECRET=$WORK/secretdir
mkdir -m 0700 "$SECRET" "$SECRET/sub"
: >"$SECRET/key"
printf '#!/bin/sh\n' >"$SECRET/prog"
chmod 0755 "$SECRET/prog"
# probe NAME EXISTING MISSING ARGS...: tuser's RUN with @ in ARGS replaced
# by EXISTING, then by MISSING, must get the same refusal (names aside).
probe() {
	_what=$1 _yes=$2 _no=$3
	shift 3
	_a="" _b=""
	for _x in "$@"; do
		_a="$_a $(shquote "$(printf '%s' "$_x" | sed "s|@|$_yes|")")"
		_b="$_b $(shquote "$(printf '%s' "$_x" | sed "s|@|$_no|")")"
	done
	eval "try uctl tuser run $_a"
	assert_rc 1 "$_what (existing) as tuser"
	_oa=$(printf '%s\n' "$OUT" | sed "s|$_yes|NAME|g")
	eval "try uctl tuser run $_b"
	assert_rc 1 "$_what (missing) as tuser"
	_ob=$(printf '%s\n' "$OUT" | sed "s|$_no|NAME|g")
	assert_eq "$_oa" "$_ob" "$_what as tuser: the answers for an existing and a missing file"
	say "$_what: $(echo "$_oa" | tr '\n' '|')"
}
probe require_path "$SECRET/key" "$SECRET/nokey" --id p1 --require-path @ -- /bin/true
try uctl tuser run --id p1 --require-path "$SECRET/key" -- /bin/true
assert_reason "missing path: $SECRET/key" "require_path of a file tuser cannot see: reason"
probe cwd "$SECRET/sub" "$SECRET/nosub" --id p2 --cwd @ -- /bin/true
probe executable "$SECRET/prog" "$SECRET/noprog" --id p3 -- @
probe "PATH lookup" prog noprog --id p4 --env "PATH=$SECRET" -- @
try uctl tuser list
assert_eq "$(field "$OUT" count)" 1 "list as tuser after refused RUNs: count"
say "root's checks are unchanged"
job p5 --require-path "$SECRET/key" --cwd "$SECRET/sub" -- "$SECRET/prog"
wait_rc p5 0
ok ctl remove p5
refused ctl run --id p6 --require-path "$SECRET/nokey" -- /bin/true
assert_reason "missing path: $SECRET/nokey" "require_path of a missing file as root: reason"

say "priority ceiling and job cap for tuser"
try uctl tuser run --id hi --priority 31 $JOBENV -- /bin/true
assert_rc 1 "priority 31 as tuser"
assert_reason "priority: 31 is above 30, the highest a non-root caller may request" "priority 31 as tuser: reason"
assert_no_job hi
try uctl tuser run --id u2 --priority 30 $JOBENV -- /bin/sleep 600
assert_rc 0 "priority 30 as tuser"
try uctl tuser run --id u3 $JOBENV -- /bin/sleep 600
assert_rc 0 "third job as tuser"
try uctl tuser run --id u4 $JOBENV -- /bin/sleep 600
assert_rc 1 "fourth job as tuser (--max-user-jobs 3)"
assert_reason "too many jobs" "fourth job as tuser: reason"
assert_contains "$OUT" "uid 1000 has 3 live or pending jobs" "fourth job as tuser: detail"
assert_no_job u4
try uctl tuser stats
assert_eq "$(field "$OUT" user_jobs) $(field "$OUT" user_jobs_max) $(field "$OUT" user_priority_max)" "3 3 30" "stats as tuser: user_jobs user_jobs_max user_priority_max"
job r2 --priority 90 -- /bin/sleep 600
ok ctl kill r2
wait_rc r2 137
ok ctl remove r2
for id in u2 u3; do
	try uctl tuser kill "$id"
	assert_rc 0 "kill $id as tuser"
	try uctl tuser wait "$id"
	assert_rc 137 "wait $id as tuser"
	try uctl tuser remove "$id"
	assert_rc 0 "remove $id as tuser"
done

say "a symlink planted in the log dir is not followed"
echo precious >"$WORK/target"
chmod 0666 "$WORK/target"
ln -s "$WORK/target" "$LOGDIR/lnk.log"
try uctl tuser run --id lnk $JOBENV -- /bin/echo out
assert_rc 0 "run lnk as tuser"
try uctl tuser wait lnk
assert_rc 0 "wait lnk as tuser"
assert_eq "$(cat "$WORK/target")" precious "the symlink's target"
[ -f "$LOGDIR/lnk.log" ] && [ ! -L "$LOGDIR/lnk.log" ] || fail "$LOGDIR/lnk.log is not a regular file: $(ls -l "$LOGDIR/lnk.log")"
assert_eq "$(stat -c %u "$LOGDIR/lnk.log")" 1000 "owner of lnk.log"
try uctl tuser logs lnk
assert_eq "$OUT" out "logs lnk as tuser"
try uctl tuser remove lnk
assert_rc 0 "remove lnk as tuser"

say "tuser manages its own job"
try uctl tuser freeze u1
assert_rc 0 "freeze u1 as tuser"
try uctl tuser thaw u1
assert_rc 0 "thaw u1 as tuser"
try uctl tuser kill u1
assert_rc 0 "kill u1 as tuser"
try uctl tuser wait u1
assert_rc 137 "wait u1 as tuser"
try uctl tuser remove u1
assert_rc 0 "remove u1 as tuser"
assert_no_job u1
ok ctl kill r1
wait_rc r1 137
ok ctl remove r1
daemon_quit
