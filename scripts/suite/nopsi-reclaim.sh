#!/bin/sh
# nopsi-reclaim: the reclaim rule reads no PSI, so on a kernel booted with
# psi=0 it still stops the growing batch job before reclaim reaches the
# protected service (the service scenario's fast overload, service.sh);
# its pressure event claims no PSI figure (psi_available=0).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostoom.sh"
. "$(dirname "$0")/service.sh"

[ ! -e /proc/pressure ] || fail "/proc/pressure exists: this boot must have psi=0"
service_run cgroupd fast
assert_eq "$SV_FIRST" batch "first to die"
assert_eq "$SV_SVC" 1 "service survived"
assert_eq "$SV_OOM" 0 "kernel OOM kills"
ev=$(grep 'type=pressure .*rule=host_reclaim' "$DERR" | head -n 1)
[ -n "$ev" ] || fail "no reclaim rule decision"
assert_eq "$(kv "$ev" psi_available)" 0 "pressure event psi_available"
