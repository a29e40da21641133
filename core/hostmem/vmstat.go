package hostmem

import (
	"errors"

	"cgroupd/core/cgroup"
)

// VM is what the reclaim rule reads of the kernel's page allocator, in
// pages: free memory and the reclaim counters from /proc/vmstat, the
// zones' watermarks from /proc/zoneinfo. When a zone's free pages fall
// below its low watermark kswapd wakes and reclaims up to high; an
// allocation that finds them below min reclaims itself (direct reclaim).
type VM struct {
	Free        uint64 // nr_free_pages
	ScanKswapd  uint64 // pgscan_kswapd
	ScanDirect  uint64 // pgscan_direct
	RefaultFile uint64 // workingset_refault_file (since 5.9; workingset_refault before)
	// Min, Low, High are the watermarks (boost included) summed over the
	// zones that manage pages; 0 until ParseWatermarks has run.
	Min, Low, High uint64
	PageSize       uint64 // bytes per page (the reader sets it)
}

// ErrNoFree: a vmstat text without nr_free_pages.
var ErrNoFree = errors.New("vmstat: no nr_free_pages line")

// ParseVMStat reads the counters of a /proc/vmstat text ("key value"
// lines) into v; the watermarks are left as they are. A value that is
// not a number reads as 0.
func ParseVMStat(b []byte, v *VM) error {
	found := false
	cgroup.EachKeyed(b, func(key, _ []byte, n uint64, _ bool) {
		switch string(key) {
		case "nr_free_pages":
			v.Free, found = n, true
		case "pgscan_kswapd":
			v.ScanKswapd = n
		case "pgscan_direct":
			v.ScanDirect = n
		case "workingset_refault_file", "workingset_refault":
			v.RefaultFile = n
		}
	})
	if !found {
		return ErrNoFree
	}
	return nil
}

// ParseWatermarks sums the min, low and high watermarks (and the boost,
// which raises all three while it lasts) of the zones of a /proc/zoneinfo
// text that manage pages into v: a zone's "managed" line comes after its
// watermarks. The file has a block per CPU in every zone (pagesets), so
// it grows with the CPUs: the daemon reads it at most once a second, the
// free pages every sample from /proc/vmstat.
func ParseWatermarks(b []byte, v *VM) {
	var mn, lo, hi, boost uint64
	v.Min, v.Low, v.High = 0, 0, 0
	cgroup.EachKeyed(b, func(key, _ []byte, n uint64, ok bool) {
		switch string(key) {
		case "min":
			mn = n
		case "low":
			lo = n
		case "high":
			hi = n
		case "boost":
			boost = n
		case "managed":
			if ok && n > 0 {
				v.Min, v.Low, v.High = v.Min+mn+boost, v.Low+lo+boost, v.High+hi+boost
			}
			mn, lo, hi, boost = 0, 0, 0, 0
		}
	})
}
