package guard

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/hostmem"
)

// What is short of memory at a sample (pressure.Shortage): the limits the
// job tree lives under, read each sample through descriptors kept open
// (three small files per level, the root and each ancestor that has
// them), and the host's free pages against its watermarks from the
// reclaim rule's vmstat sample.

// limitLevel is one cgroup's limitFiles, kept open.
type limitLevel struct {
	dir string
	f   [3]*hostmem.File // by limitFiles
}

var limitFiles = [3]string{"memory.current", "memory.high", "memory.max"}

// openLimits opens the limit files of the root and of each ancestor up to
// the top of the cgroup2 mount (a level without a memory controller has
// none and is left out).
func openLimits(root string) []*limitLevel {
	var ls []*limitLevel
	for d := filepath.Clean(root); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "cgroup.controllers")); err != nil {
			break // above the mount
		}
		if l := openLevel(d); l != nil {
			ls = append(ls, l)
		}
		if d == "/" || filepath.Dir(d) == d {
			break
		}
	}
	return ls
}

// openLevel opens dir's three files; nil when one is missing.
func openLevel(dir string) *limitLevel {
	l := &limitLevel{dir: dir}
	for i, name := range limitFiles {
		f, err := hostmem.OpenFile(filepath.Join(dir, name))
		if err != nil {
			l.close()
			return nil
		}
		l.f[i] = f
	}
	return l
}

// close closes the files opened (nil-safe for openLevel's failures).
func (l *limitLevel) close() {
	for _, f := range l.f {
		if f != nil {
			f.Close()
		}
	}
}

// limitValue reads memory.current, memory.high or memory.max ("max":
// none, ok false).
func limitValue(f *hostmem.File) (uint64, bool) {
	b, err := f.Bytes()
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return v, err == nil
}

// short says which of the level's limits memory.current is within reach
// of (pressure.WithinReach); "" when neither.
func (l *limitLevel) short() string {
	cur, ok := limitValue(l.f[0])
	if !ok {
		return ""
	}
	for i := 1; i < len(l.f); i++ { // memory.high, then memory.max
		if lim, ok := limitValue(l.f[i]); ok && pressure.WithinReach(cur, lim) {
			return limitFiles[i]
		}
	}
	return ""
}

// shortage is what is short of memory now: a limit of the root or of an
// ancestor (the nearest first), else the host, when the page scanners ran
// since the last sample or its free pages are below the low watermarks
// (vm; nil: the host's state unknown, and so the shortage). Free pages
// near the watermarks alone are no shortage: a host full of page cache
// keeps them there.
func (g *Guard) shortage(vm *hostmem.VM) pressure.Shortage {
	for _, l := range g.limits {
		if w := l.short(); w != "" {
			return pressure.Shortage{Known: true, What: w, Where: l.dir}
		}
	}
	prev := g.prevVM
	g.prevVM = vm
	if vm == nil {
		return pressure.Shortage{}
	}
	if vm.Free < vm.Low || prev != nil && (vm.ScanDirect != prev.ScanDirect || vm.ScanKswapd != prev.ScanKswapd) {
		return pressure.Shortage{Known: true, What: "host"}
	}
	return pressure.Shortage{Known: true}
}
