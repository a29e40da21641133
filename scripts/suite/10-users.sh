#!/bin/sh
# users: a non-root user in the socket's group connects (socket 0660, group
# cgroupd), its job runs as its uid, and it can neither see nor act on
# root's jobs (`no such job`); root sees both; a user outside the group
# cannot connect at all.
. "$(dirname "$0")/lib.sh"

# uctl USER ARGS...: cgroupctl as USER.
uctl() {
	_u=$1
	shift
	as_user "$_u" /usr/local/bin/cgroupctl --socket "$SOCK" "$@"
}

daemon_start --socket-group cgroupd
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

say "tuser sees only its own job"
try uctl tuser list
assert_rc 0 "list as tuser"
assert_eq "$(field "$OUT" count)" 1 "list as tuser: count"
assert_match "$OUT" '^id: u1$' "list as tuser"
assert_not_contains "$OUT" "id: r1" "list as tuser"
for verb in inspect freeze thaw kill remove wait; do
	try uctl tuser "$verb" r1
	assert_rc 1 "$verb r1 as tuser"
	assert_reason "no such job" "$verb r1 as tuser: reason"
done
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
