#!/bin/sh
# demo.sh - start cgroupd from build/, run a job in the foreground
# (run --attach --rm), show top, run one the long way (run, wait, logs,
# remove), show the events, and shut the daemon down.
#
# usage: sh scripts/demo.sh        (as root; make all first)
#
# The daemon owns <cgroup2 mount>/cgroupd-demo, listens on a socket in a
# temporary directory and captures job output there; everything is removed
# at the end.
set -eu

bin=$(cd "$(dirname "$0")/../build" && pwd)
dir=$(mktemp -d /tmp/cgroupd-demo.XXXXXX)
mnt=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$mnt" ] || { echo "demo: no cgroup2 mount in /proc/self/mountinfo" >&2; exit 1; }
export CGROUPD_SOCKET=$dir/cgroupd.sock

"$bin/cgroupd" -r "$mnt/cgroupd-demo" -L "$dir" 2>"$dir/daemon.err" &
dpid=$!
cleanup() {
	kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	rmdir "$mnt/cgroupd-demo" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

# Wait until the daemon says it is ready (or has died).
until grep -q '^cgroupd ready' "$dir/daemon.err"; do
	kill -0 "$dpid" 2>/dev/null || { cat "$dir/daemon.err" >&2; exit 1; }
	sleep 0.05
done

echo '$ cgroupctl run --attach --rm --timeout 1m -- /bin/sh -c "echo hello from a job; echo to stderr >&2; exit 3"'
"$bin/cgroupctl" run --attach --rm --timeout 1m -- /bin/sh -c 'echo hello from a job; echo to stderr >&2; exit 3' || echo "(exit status $?)"
echo '$ cgroupctl top -b -n 1'
"$bin/cgroupctl" top -b -n 1
echo '$ cgroupctl run --id demo --priority 20 -- /bin/sh -c "echo hello from a job; exit 3"'
"$bin/cgroupctl" run --id demo --priority 20 -- /bin/sh -c 'echo hello from a job; exit 3'
echo '$ cgroupctl wait demo'
"$bin/cgroupctl" wait demo || echo "(exit status $?)"
echo '$ cgroupctl logs demo'
"$bin/cgroupctl" logs demo
echo '$ cgroupctl remove demo'
"$bin/cgroupctl" remove demo
echo '$ cgroupctl quit'
"$bin/cgroupctl" quit
wait "$dpid"
echo '--- the daemon said (stderr):'
cat "$dir/daemon.err"
