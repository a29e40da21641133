package hostmem

import (
	"bytes"
	"errors"
	"strconv"
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
// lines) into v; the watermarks are left as they are.
func ParseVMStat(b []byte, v *VM) error {
	found := false
	for len(b) > 0 {
		line := b
		if n := bytes.IndexByte(b, '\n'); n >= 0 {
			line, b = b[:n], b[n+1:]
		} else {
			b = nil
		}
		key, val, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "nr_free_pages":
			dst, found = &v.Free, true
		case "pgscan_kswapd":
			dst = &v.ScanKswapd
		case "pgscan_direct":
			dst = &v.ScanDirect
		case "workingset_refault_file", "workingset_refault":
			dst = &v.RefaultFile
		default:
			continue
		}
		n, err := strconv.ParseUint(string(val), 10, 64)
		if err != nil {
			return err
		}
		*dst = n
	}
	if !found {
		return ErrNoFree
	}
	return nil
}

// ParseWatermarks sums the min, low and high watermarks (and the boost,
// which raises all three while it lasts) of the zones of a /proc/zoneinfo
// text that manage pages into v. The file has a block per CPU in every
// zone (pagesets), so it grows with the CPUs: the daemon reads it on the
// housekeeping tick only, the free pages every sample from /proc/vmstat.
func ParseWatermarks(b []byte, v *VM) {
	var mn, lo, hi, boost, sumMin, sumLow, sumHigh uint64
	managed := false
	flush := func() {
		if managed {
			sumMin, sumLow, sumHigh = sumMin+mn+boost, sumLow+lo+boost, sumHigh+hi+boost
		}
		mn, lo, hi, boost, managed = 0, 0, 0, 0, false
	}
	for len(b) > 0 {
		line := b
		if n := bytes.IndexByte(b, '\n'); n >= 0 {
			line, b = b[:n], b[n+1:]
		} else {
			b = nil
		}
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if string(f[0]) == "Node" {
			flush()
			continue
		}
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		switch string(f[0]) {
		case "min":
			mn = n
		case "low":
			lo = n
		case "high":
			hi = n
		case "boost":
			boost = n
		case "managed":
			managed = n > 0
		}
	}
	flush()
	v.Min, v.Low, v.High = sumMin, sumLow, sumHigh
}
