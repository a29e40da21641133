# service.sh - the service-protection scenario (issue 23) shared by
# bench-service (figures) and the suite's assertions; sourced after lib.sh
# and hostoom.sh (its guards, programs disk and helpers).
#
# One run: page cache dropped; the guard starts; a trace samples
# /proc/zoneinfo, /proc/vmstat and /proc/meminfo every 50 ms; a priority-90
# "service" (svcbench service, from the programs disk) maps SVC_MB of
# /disk/model.bin, reads it in, holds a 64 MiB heap and serves 200
# requests/s open-loop; after 3 s of baseline a priority-5 "batch"
# (svcbench batch) allocates:
#   fast  100 % of MemTotal as fast as it can
#   slow  100 % of MemTotal at 40 MiB/s
#   big   50 % of MemTotal, then holds it (the window: 25 s from its start)
#   bigslow  the same at 40 MiB/s
# cgroupbench watch follows both through pidfds. The window is from the
# batch's start (under cgroupd its job.start) to 3 s after the first death
# (big: 25 s). Results in SV_*:
#   SV_BASE SV_P99 SV_MAX  baseline p99, window p99 and max (ms)
#   SV_LATE SV_LATE_PCT    requests > 50 ms late in the window
#   SV_FIRST SV_KILL_MS    the first to die (batch, service, none), when (ms)
#   SV_OOM                 kernel OOM kills during the run
#   SV_SWAP_USED           swap in use at the window's end (MiB; swap_on)
#   SV_SVC                 1 when the service survived
#   SV_TRACE               ms after t0 of: first late request, free < high,
#                          free < low, free < min, first kswapd scan, first
#                          direct scan, first refaults > 1000 (-1: never)
SVC=$D/usr/local/bin/svcbench
SVC_MB=${SVC_MB:-250}
if [ "$total_mb" -gt 1536 ]; then SVC_MB=$((total_mb * 30 / 100)); fi

# swap_on: the scratch disk (/dev/sda, scripts/vm.sh) as swap, for the
# scenarios on a host with swap; SV_SWAP_MB its size. Turned off again
# when the suite file exits (ON_EXIT, lib.sh) or by swap_off.
swap_on() {
	mkswap /dev/sda >/dev/null || fail "mkswap /dev/sda"
	swapon /dev/sda || fail "swapon /dev/sda"
	ON_EXIT="swapoff /dev/sda 2>/dev/null"
	SV_SWAP_MB=$(awk '$1 == "SwapTotal:" { print int($2 / 1024) }' /proc/meminfo)
	[ "$SV_SWAP_MB" -gt 0 ] || fail "swapon /dev/sda: SwapTotal is 0"
}
swap_off() {
	swapoff /dev/sda || fail "swapoff /dev/sda"
	ON_EXIT=""
}

# swap_used_mb: swap in use now (MiB).
swap_used_mb() { awk '$1 == "SwapTotal:" { t = $2 } $1 == "SwapFree:" { f = $2 } END { print int((t - f) / 1024) }' /proc/meminfo; }

# assert_few_late WHAT: the last run's late requests were measured and at
# most 1 % (the emulator's own hiccups).
assert_few_late() {
	assert_eq "$(awk -v p="$SV_LATE_PCT" 'BEGIN { print (p >= 0 && p <= 1) ? 1 : 0 }')" 1 \
		"$1late requests ($SV_LATE_PCT %, p99 $SV_P99 ms, baseline $SV_BASE ms) at most 1 %"
}

# service_run GUARD SCENARIO [DAEMON-FLAG...]
service_run() {
	_g=$1 _sc=$2
	shift 2
	[ -x "$SVC" ] || fail "no $SVC on the programs disk (scripts/vm.sh builds build/svcbench with go)"
	guard_start "$_g" "$@"
	rm -f "$WORK/svc.ready" "$WORK/svc.out"
	"$SVC" trace -out "$WORK/trace" &
	_tr=$!
	_oom0=$(vm_oom)
	_sargs="service -file $D/model.bin -mb $SVC_MB -out $WORK/svc.out -ready $WORK/svc.ready"
	case $_g in
	cgroupd) job service --priority 90 -- $SVC $_sargs; _spid=$JPID ;;
	*) $SVC $_sargs & _spid=$! ;;
	esac
	wait_for "[ -e '$WORK/svc.ready' ]" 120 "the service to load its model"
	sleep 3 # the baseline: what is measured, not a wait for something
	case $_sc in
	fast) _bargs="-mb $total_mb" _wt=60s _after=3s ;;
	slow) _bargs="-mb $total_mb -rate 40" _wt=90s _after=3s ;;
	big) _bargs="-mb $((total_mb / 2))" _wt=25s _after=3s ;;
	bigslow) _bargs="-mb $((total_mb / 2)) -rate 40" _wt=25s _after=3s ;;
	*) fail "service_run: unknown scenario $_sc" ;;
	esac
	_t0=$($HOSTBOX cgroupbench now | sed 's/^now_unix_ms=//')
	case $_g in
	cgroupd)
		job batch --priority 5 -- $SVC batch $_bargs
		_bpid=$JPID
		wait_event 10 job.start id=batch
		_t0=$(kv "$EV" ts_unix_ms) ;;
	*) $SVC batch $_bargs & _bpid=$! ;;
	esac
	watch_deaths "$_g" "$_wt" "$_after" batch="$_bpid" service="$_spid"
	_t1=$($HOSTBOX cgroupbench now | sed 's/^now_unix_ms=//')
	SV_OOM=$(($(vm_oom) - _oom0))
	SV_SWAP_USED=$(swap_used_mb)
	SV_FIRST=$(sed -n 's/^watch_first=//p' "$WORK/watch")
	SV_KILL_MS=-1
	[ "$SV_FIRST" = none ] || SV_KILL_MS=$(($(sed -n "s/^watch_${SV_FIRST}_died_unix_ms=//p" "$WORK/watch") - _t0))
	SV_SVC=1
	grep -q '^watch_service_died' "$WORK/watch" && SV_SVC=0
	if [ "$SV_SVC" = 1 ]; then
		kill -TERM "$_spid"
		wait_for "[ -s '$WORK/svc.out' ]" 60 "the service to write its requests"
	fi
	kill -TERM "$_tr"
	wait "$_tr"
	SV_BASE=-1 SV_P99=-1 SV_MAX=-1 SV_LATE=-1 SV_LATE_PCT=-1 _fl=-1
	if [ -s "$WORK/svc.out" ]; then
		"$SVC" latency -in "$WORK/svc.out" -t0 "$_t0" -to "$_t1" >"$WORK/lat"
		SV_BASE=$(sed -n 's/^base_p99_ms=//p' "$WORK/lat")
		SV_P99=$(sed -n 's/^p99_ms=//p' "$WORK/lat")
		SV_MAX=$(sed -n 's/^max_ms=//p' "$WORK/lat")
		SV_LATE=$(sed -n 's/^late=//p' "$WORK/lat")
		SV_LATE_PCT=$(sed -n 's/^late_pct=//p' "$WORK/lat")
		_fl=$(sed -n 's/^first_late_ms=//p' "$WORK/lat")
	fi
	# The trace: when each signal first showed, after t0.
	# avail_kswapd, avail_late: MemAvailable (MiB) at the first kswapd scan
	# and at the first late request.
	SV_TRACE="late=$_fl $(awk -v t0="$_t0" -v fl="$_fl" '
		function first(k, cond) { if (cond && !(k in at)) at[k] = $1 - t0 }
		{ zi += $11; vs += $12 }
		$1 < t0 { k0 = $6; d0 = $7; r0 = $8; next }
		{
			first("high", $2 < $5); first("low", $2 < $4); first("min", $2 < $3)
			if ($6 > k0 && !("kswapd" in at)) ak = int($10 / 1024)
			first("kswapd", $6 > k0); first("direct", $7 > d0); first("refault", $8 > r0 + 1000)
			if (fl >= 0 && $1 - t0 <= fl) al = int($10 / 1024)
		}
		END {
			n = split("high low min kswapd direct refault", ks, " ")
			for (i = 1; i <= n; i++) printf "%s=%s ", ks[i], (ks[i] in at) ? at[ks[i]] : -1
			printf "avail_kswapd=%s avail_late=%s zoneinfo_us=%d vmstat_us=%d", (ak == "" ? -1 : ak), (al == "" ? -1 : al), zi / (NR ? NR : 1), vs / (NR ? NR : 1)
		}' "$WORK/trace")"
	say "service $_g $_sc: base p99 $SV_BASE ms, window p99 $SV_P99 max $SV_MAX ms, late $SV_LATE ($SV_LATE_PCT %), first=$SV_FIRST after $SV_KILL_MS ms, service survived $SV_SVC, kernel OOM kills $SV_OOM${SV_SWAP_MB:+, swap in use at the end $SV_SWAP_USED of $SV_SWAP_MB MiB}; trace: $SV_TRACE"
	case $_g in
	cgroupd)
		if await_event 1 pressure; then say "  $(echo "$EV" | sed 's/.* type=pressure //')"; fi
		for _j in service batch; do
			try ctl kill "$_j"
			try ctl wait "$_j"
			try ctl remove "$_j"
		done
		daemon_quit ;;
	*)
		kill -9 "$_spid" "$_bpid" 2>/dev/null
		wait "$_spid" "$_bpid" 2>/dev/null
		if [ "$_g" = earlyoom ]; then
			kill "$_eo" 2>/dev/null
			wait "$_eo" 2>/dev/null
		fi ;;
	esac
}
