# poll.sh - sourced by the VM tests (scripts/systemd/vm-test.sh and
# scripts/slurm/node.sh, from their test disk): the guest's clock and
# polling for a condition. The caller defines fail.

now() { cut -d' ' -f1 /proc/uptime; }

# poll COND SECONDS: evaluate the shell condition COND every 0.1 s until it
# holds (0) or SECONDS have passed (1).
poll() {
	_end=$(awk -v n="$(now)" -v s="$2" 'BEGIN { printf "%d", n + s }')
	while ! eval "$1"; do
		[ "$(awk -v n="$(now)" 'BEGIN { printf "%d", n }')" -lt "$_end" ] || return 1
		sleep 0.1
	done
}

# wait_for COND SECONDS WHAT: poll, or fail saying what was awaited.
wait_for() { poll "$1" "$2" || fail "timed out after $2 s waiting for $3"; }
