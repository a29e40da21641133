# cgtree.sh - sourced by lib.sh and scripts/vm/run-suite.sh (POSIX sh).

# killtree DIR: kill everything in the cgroup tree DIR (thawing it first, so
# that nothing waits frozen), wait up to 10 s for it to empty, and remove it
# depth first. Fails if DIR is still there.
killtree() {
	[ -d "$1" ] || return 0
	[ -f "$1/cgroup.freeze" ] && echo 0 >"$1/cgroup.freeze" 2>/dev/null
	echo 1 >"$1/cgroup.kill" 2>/dev/null
	_kt_i=0
	while grep -q 'populated 1' "$1/cgroup.events" 2>/dev/null && [ $_kt_i -lt 100 ]; do
		sleep 0.1
		_kt_i=$((_kt_i + 1))
	done
	find "$1" -depth -type d | while read -r _kt_d; do rmdir "$_kt_d" 2>/dev/null; done
	[ ! -d "$1" ]
}
