package guard

import (
	"os"
	"path/filepath"
	"time"

	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/hostmem"
)

// The reclaim rule's samples (pressure/reclaim.go): /proc/vmstat (free
// pages, reclaim counters: one pread of ~4 KB, whatever the host's size)
// every sample, /proc/zoneinfo (the watermarks) at most once a second:
// it has a block per CPU in every zone, so it grows with the host
// (scripts/BENCH.md has the cost of both).

// vmReader reads the page allocator's state through descriptors kept open.
type vmReader struct {
	vmstat, zoneinfo *hostmem.File
	vm               hostmem.VM
	zoneAt           time.Time
}

// zoneEvery is how often the watermarks are read again (they change with
// vm.min_free_kbytes, vm.watermark_scale_factor and the boost).
const zoneEvery = time.Second

// startReclaim opens the reclaim rule's files, unless the rule is off
// (--host-reclaim-horizon 0, no headroom figures, no protected set); a
// file that cannot be read turns it off with a line that says so.
func (g *Guard) startReclaim(cfg *pressure.Config) bool {
	if cfg.ReclaimHorizon <= 0 || g.cfg.Meminfo == nil || g.cfg.Protect == nil {
		cfg.ReclaimHorizon = 0
		return false
	}
	dir := g.cfg.HostVM
	if dir == "" {
		dir = "/proc"
	}
	vs, err := hostmem.OpenFile(filepath.Join(dir, "vmstat"))
	var zi *hostmem.File
	if err == nil {
		if zi, err = hostmem.OpenFile(filepath.Join(dir, "zoneinfo")); err != nil {
			vs.Close()
		}
	}
	if err != nil {
		g.cfg.Logf("pressure: reclaim rule off: %v", err)
		cfg.ReclaimHorizon = 0
		return false
	}
	g.vm = &vmReader{vmstat: vs, zoneinfo: zi, vm: hostmem.VM{PageSize: uint64(os.Getpagesize())}}
	return true
}

// read samples vmstat (and the watermarks when due); nil when off or
// unreadable.
func (r *vmReader) read(now time.Time) *hostmem.VM {
	if r == nil {
		return nil
	}
	if now.Sub(r.zoneAt) >= zoneEvery || now.Before(r.zoneAt) {
		if b, err := r.zoneinfo.Bytes(); err == nil {
			hostmem.ParseWatermarks(b, &r.vm)
			r.zoneAt = now
		}
	}
	b, err := r.vmstat.Bytes()
	if err != nil || hostmem.ParseVMStat(b, &r.vm) != nil || r.vm.High == 0 {
		return nil
	}
	vm := r.vm
	return &vm
}

func (r *vmReader) close() {
	if r != nil {
		r.vmstat.Close()
		r.zoneinfo.Close()
	}
}
