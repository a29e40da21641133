// Package protect is what a priority buys (issue 23): a job at or above
// the protection level (pressure.Config.ProtectLevel, default 60, above
// the default priority 50) gets, unless its RUN set them itself:
//
//   - with --protect-memory-low (off by default: under a root capped by
//     memory.high the throttling then lands on the unprotected jobs and a
//     150 ms blip stretched to 325-914 ms, 18-burst) memory.low "max":
//     reclaim takes other memory first. It takes effect
//     only if every ancestor grants it, so the daemon's root gets
//     memory.low "max" too when it has none, and the protection the chain
//     grants is read back (Effective) and logged when it is none;
//   - cpu.weight 100 + 20 × (priority − 50): 300 at 60, 900 at 90, 1100
//     at 100, against the kernel's default 100 for everyone else.
//
// A derived setting never refuses a RUN: a file the kernel lacks (the
// controller is not enabled) or refuses is skipped and logged. io.weight
// is left out: without BFQ or io.cost under the device it does nothing
// (KERNEL.md). The set of protected jobs is what the reclaim rule
// (pressure.ProtectedJobs) asks about: their memory and page cache.
package protect

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/cgroup"
	"cgroupd/core/kfile"
	"cgroupd/core/limits"
)

// Kernel files (cgroup v2, memory and cpu controllers).
const (
	fileMemoryLow  = "memory.low" // since Linux 4.5 (v2)
	fileMemoryStat = "memory.stat"
	fileCPUWeight  = "cpu.weight" // since Linux 4.15
)

// Weight is the cpu.weight a protected job of priority p gets.
func Weight(p int) int { return 100 + 20*(p-50) }

type entry struct {
	cg       cgroup.Dir
	priority int
}

// Set is the protected jobs of one daemon; only the loop touches it.
type Set struct {
	root    cgroup.Dir
	level   int
	logf    func(format string, args ...any)
	jobs    map[string]entry
	rootLow bool // the root grants protection (checked or written)
	// memoryLow: derive memory.low (--protect-memory-low).
	memoryLow bool
}

// New is the set of the jobs under root at or above level.
// With memoryLow false no memory.low is derived (cpu.weight still is).
func New(root cgroup.Dir, level int, memoryLow bool, logf func(format string, args ...any)) *Set {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Set{root: root, level: level, memoryLow: memoryLow, logf: logf, jobs: map[string]entry{}}
}

// Apply gives job id (cgroup cg, priority) the settings its priority
// buys, after its RUN's own settings (run) are written: those win. A job
// below the level gets nothing.
func (s *Set) Apply(id string, cg cgroup.Dir, priority int, run []limits.Setting) {
	if s == nil || priority < s.level {
		return
	}
	explicit := func(key string) bool {
		return slices.ContainsFunc(run, func(l limits.Setting) bool { return l.Key == key })
	}
	s.jobs[id] = entry{cg: cg, priority: priority}
	if !explicit("cpu_weight") {
		s.write(id, cg, fileCPUWeight, strconv.Itoa(Weight(priority)))
	}
	if !s.memoryLow || explicit("memory_low") || explicit("memory_min") {
		return
	}
	if !s.write(id, cg, fileMemoryLow, "max") {
		return
	}
	if !s.rootLow {
		if s.root.Uint(fileMemoryLow) == 0 {
			s.write(id, s.root, fileMemoryLow, "max")
		}
		s.rootLow = true
	}
	if low, at := Effective(cg); low == 0 {
		s.logf("protect: job %s: memory.low max takes no effect: %s grants none", id, at)
	}
}

// Adopted counts a job a restarted or upgraded daemon took over as
// protected if its priority is at the level: its settings stay as the
// daemon that started it wrote them.
func (s *Set) Adopted(id string, cg cgroup.Dir, priority int) {
	if s != nil && priority >= s.level {
		s.jobs[id] = entry{cg: cg, priority: priority}
	}
}

// write writes one derived setting; false when it could not.
func (s *Set) write(id string, cg cgroup.Dir, file, v string) bool {
	err := cg.Write(file, v)
	switch {
	case err == nil:
		return true
	case errors.Is(err, fs.ErrNotExist):
		// No such file: the controller is not enabled; nothing to derive.
	default:
		s.logf("protect: job %s: %v (priority protection skipped)", id, err)
	}
	return false
}

// Effective is the memory.low the chain from cg up to the cgroup2 mount
// grants at most: the least memory.low of cg and its ancestors (the
// mount's root has none), and the first cgroup that holds that least.
func Effective(cg cgroup.Dir) (low uint64, at cgroup.Dir) {
	low, at = math.MaxUint64, cg
	for d := cg; ; d = cgroup.Dir(filepath.Dir(string(d))) {
		s, err := d.Read(fileMemoryLow)
		if err != nil {
			return low, at
		}
		v := uint64(math.MaxUint64)
		if s != "max" {
			if v, err = strconv.ParseUint(s, 10, 64); err != nil {
				return low, at
			}
		}
		if v < low {
			low, at = v, d
		}
		if string(d) == "/" || string(d) == "." {
			return low, at
		}
	}
}

// Protected returns the live protected jobs with the page cache of
// memory.stat (file); a job whose cgroup is gone or empty is dropped.
func (s *Set) Protected() []pressure.Protected {
	var out []pressure.Protected
	for id, e := range s.jobs {
		ev, err := e.cg.Events()
		if err != nil || !ev.Populated {
			delete(s.jobs, id)
			continue
		}
		b, _ := kfile.Read(filepath.Join(string(e.cg), fileMemoryStat))
		j := pressure.Protected{ID: id, Priority: e.priority}
		cgroup.EachKeyed(b, func(k, _ []byte, v uint64, _ bool) {
			if string(k) == "file" {
				j.File = v
			}
		})
		out = append(out, j)
	}
	return out
}

// OOMScoreAdj maps a job's priority (0..100, default 50) to its
// oom_score_adj: (50 - priority) × 10, so priority 0 → 500, 50 → 0 (the
// kernel's default), 100 → -500. A non-root caller's job never gets a
// value below 0: lowering oom_score_adj is a privilege the caller does not
// have.
func OOMScoreAdj(priority int, callerRoot bool) int {
	adj := (50 - priority) * 10
	if !callerRoot {
		adj = max(adj, 0)
	}
	return min(max(adj, -1000), 1000)
}

// SetOOMGroup sets memory.oom.group 1 on a job's cgroup where the memory
// controller is on: a kernel OOM kill then takes the whole job. ok reports
// whether it is set.
func SetOOMGroup(cg cgroup.Dir) (ok bool, err error) {
	err = cg.Write("memory.oom.group", "1")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no memory controller for the jobs
	}
	return err == nil, err
}
