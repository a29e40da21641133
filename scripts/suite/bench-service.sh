#!/bin/sh
# suite-timeout: 3000
# service (bench): protect the service, not just kill the batch job (issue
# 23). Side by side in one invocation: the kernel alone, earlyoom (Debian's
# defaults) and cgroupd (defaults), SERVICE_RUNS (5) runs of each
# scenario in SERVICE_SCENARIOS (fast slow big; see service.sh), guards
# interleaved run by run so that drift in the emulator's speed hits them
# alike. On a guest of more than 1.5 GiB the model is 30 % of RAM
# (`CGROUPD_VM_MEM=2048 CGROUPD_VM_SUITE_ENV=SERVICE_SCENARIOS=fast sh
# scripts/vm.sh bench service`). SERVICE_GUARDS picks guards;
# SERVICE_CGROUPD_FLAGS adds daemon flags to the cgroupd guard.
# SERVICE_SWAP=1: a host with swap (the scratch disk, 320 MiB; figures
# service_<scenario>_swap_...).
#
# Figures, key=value, per run: service_<scenario>_<guard>_r<N>_{base_p99,
# p99,max,late,late_pct,victim,kill_ms,kernel_oom,survived} and a trace
# line (when each signal first showed after the batch's start, ms).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"
. "$(dirname "$0")/service.sh"

RUNS=${SERVICE_RUNS:-5}
# Lists split on commas too (CGROUPD_VM_SUITE_ENV splits on spaces).
SCENARIOS=$(echo "${SERVICE_SCENARIOS:-fast slow big}" | tr , ' ')
GUARDS=$(echo "${SERVICE_GUARDS:-kernel earlyoom cgroupd}" | tr , ' ')
sw=""
if [ "${SERVICE_SWAP:-0}" = 1 ]; then
	swap_on # a host with swap: the scratch disk (28-swap does the same)
	sw=_swap
fi
say "service: ${total_mb} MiB RAM, model ${SVC_MB} MiB, swap ${SV_SWAP_MB:-0} MiB; $RUNS runs of $SCENARIOS under $GUARDS"
for sc in $SCENARIOS; do
	r=1
	while [ "$r" -le "$RUNS" ]; do
		for g in $GUARDS; do
			service_run "$g" "$sc" ${SERVICE_CGROUPD_FLAGS:-}
			k=service_${sc}${sw}_${g}_r$r
			figure "${k}_base_p99" "$SV_BASE"
			figure "${k}_p99" "$SV_P99"
			figure "${k}_max" "$SV_MAX"
			figure "${k}_late" "$SV_LATE"
			figure "${k}_late_pct" "$SV_LATE_PCT"
			figure "${k}_victim" "$SV_FIRST"
			figure "${k}_kill_ms" "$SV_KILL_MS"
			figure "${k}_kernel_oom" "$SV_OOM"
			figure "${k}_survived" "$SV_SVC"
			[ -z "$sw" ] || figure "${k}_swap_used_mb" "$SV_SWAP_USED"
			figure "${k}_trace" "$(echo "$SV_TRACE" | tr ' ' ',')"
		done
		r=$((r + 1))
	done
done
