#!/bin/sh
# fallbacks: the fork-and-attach spawn path (--spawn-fallback) and the
# freeze/kill/thaw kill path (--kill-fallback), forced by their flags, pass
# the same lifecycle checks as the default paths.
. "$(dirname "$0")/lib.sh"

for mode in spawn kill both; do
	case $mode in
	spawn) flags=--spawn-fallback ;;
	kill) flags=--kill-fallback ;;
	both) flags="--spawn-fallback --kill-fallback" ;;
	esac
	ROOT=$CGMOUNT/t-fallbacks-$mode
	daemon_start $flags
	lifecycle "$mode"
	# A job with limits: the attach must happen before the job can allocate.
	job lim --memory-max 32M --pids-max 8 -- /usr/local/bin/memhog 64 60
	wait_rc lim 137
	assert_eq "$(field "$OUT" oom_killed)" 1 "$mode: wait lim: oom_killed"
	ok ctl remove lim
	job run -- /bin/sleep 600
	rpid=$JPID
	daemon_quit
	alive "$rpid" && fail "$mode: pid $rpid alive after quit"
	[ -z "$(job_dirs)" ] || fail "$mode: job cgroups left after quit: $(job_dirs | tr '\n' ' ')"
done
