#!/bin/sh
# hostoom (bench): the whole host runs out of memory (issue 12), side by
# side in one invocation: the kernel alone, earlyoom (Debian's package and
# defaults: act at 10 % MemAvailable, SIGTERM the largest process) and
# cgroupd (defaults), for two sizes of the high-priority job (35 % and 45 %
# of RAM), HOSTOOM_RUNS (5) runs each, guards interleaved run by run so
# that drift in the emulator's speed hits them alike. See hostoom.sh for
# the scenario.
#
# Figures, key=value: hostoom_<guard>_<size>_r<N>_{victim,kill_ms,
# kernel_oom,gap_ms} per run, and per guard and size: the victims,
# kill_ms_median, kernel_oom_runs, gap_ms_median. Targets (cgroupd): the
# victim is low in every run, high survives, no kernel OOM kill, first kill
# no later than earlyoom's (median), probe gap <= 1.2x earlyoom's (median).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"

RUNS=${HOSTOOM_RUNS:-5}
SIZES=${HOSTOOM_SIZES:-35 45}
GUARDS=${HOSTOOM_GUARDS:-kernel earlyoom cgroupd}
PROBLEMS=""

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print -1; else if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

for size in $SIZES; do
	r=1
	while [ "$r" -le "$RUNS" ]; do
		for g in $GUARDS; do
			hostoom_run "$g" "$size"
			k=hostoom_${g}_${size}_r$r
			figure "${k}_victim" "$HO_FIRST"
			figure "${k}_kill_ms" "$HO_KILL_MS"
			figure "${k}_kernel_oom" "$HO_OOM"
			figure "${k}_gap_ms" "$HO_GAP_MS"
			echo "$g $size $HO_FIRST $HO_KILL_MS $HO_OOM $HO_GAP_MS $HO_HIGH" >>"$WORK/runs"
			if [ "$g" = cgroupd ]; then
				[ "$HO_FIRST" = low ] || PROBLEMS="$PROBLEMS $k:victim=$HO_FIRST"
				[ "$HO_HIGH" = 0 ] || PROBLEMS="$PROBLEMS $k:high-died"
				[ "$HO_OOM" = 0 ] || PROBLEMS="$PROBLEMS $k:kernel-oom=$HO_OOM"
			fi
			hostoom_end "$g"
		done
		r=$((r + 1))
	done
done

for size in $SIZES; do
	for g in $GUARDS; do
		k=hostoom_${g}_${size}
		figure "${k}_victims" "$(awk -v g="$g" -v s="$size" '$1 == g && $2 == s { printf "%s%s", sep, $3; sep = "," }' "$WORK/runs")"
		figure "${k}_kill_ms_median" "$(awk -v g="$g" -v s="$size" '$1 == g && $2 == s && $4 >= 0 { print $4 }' "$WORK/runs" | median)"
		figure "${k}_kernel_oom_runs" "$(awk -v g="$g" -v s="$size" '$1 == g && $2 == s && $5 > 0 { n++ } END { print n + 0 }' "$WORK/runs")"
		figure "${k}_gap_ms_median" "$(awk -v g="$g" -v s="$size" '$1 == g && $2 == s { print $6 }' "$WORK/runs" | median)"
	done
done
[ -z "$PROBLEMS" ] || fail "host overload targets missed:$PROBLEMS"
