package daemon

import (
	"runtime/debug"
	"strconv"

	"cgroupd/applets/daemon/spawner"
	"cgroupd/core/hostmem"
)

// Self-protection and the kernel's OOM killer.
//
// The daemon must outlive the host overload it is there to resolve:
//   - its executable's mappings locked and faulted in at start, then
//     mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT): its code and data stay
//     resident, so it never stalls reading its own text from disk when
//     the kernel evicts page cache, not even the first time it runs the
//     kill path (VmLck in /proc/self/status);
//   - oom_score_adj -1000 (root): the kernel's OOM killer never picks it;
//   - memory.min on <root>/_daemon in delegated mode (daemonMemoryMin).
//
// Defence in depth, for when the kernel is faster than the engine: each
// job's oom_score_adj follows its priority (jobOOMScoreAdj) and its
// memory.oom.group is 1, so a kernel OOM kill takes the whole job, is
// attributed to it (job.oom, oom_killed 1) and hits low priorities first.
//
// The inheritance trap: a child inherits its parent's oom_score_adj at
// fork, and Go's ForkExec has no hook between clone and exec. So the
// spawner (spawner.go) sets the daemon's own value to the job's just before
// it forks the job's processes, and back to -1000 once it has nothing left
// to start: a job's processes start with their own value and never run
// with the daemon's. The daemon is at a job's value only while it starts
// jobs; RUN is refused while the host headroom is below the kill
// threshold, so that window never opens during a host memory emergency.

// daemonMemoryMin protects the daemon's leaf cgroup from reclaim in
// delegated mode: well above its RSS at 10 000 jobs (~20 MiB).
const daemonMemoryMin = 64 << 20

// heapHeadroom is the Go runtime's memory limit beside --conn-memory.
const heapHeadroom = 48 << 20

// protectSelf applies the self-protection above and says what it got.
func (d *daemon) protectSelf(delegated bool) {
	if ok, limit := hostmem.CanLockAll(); !ok {
		d.logf("protect: no CAP_IPC_LOCK and RLIMIT_MEMLOCK %d: memory not locked (the daemon's pages can be evicted under host memory pressure)", limit)
	} else {
		if n, err := hostmem.LockExecutable(); err != nil {
			d.logf("protect: %v (the daemon's code can be evicted under host memory pressure)", err)
		} else {
			d.debugf("protect: %d KiB of the executable locked in memory", n>>10)
		}
		if err := hostmem.LockAll(); err != nil {
			d.logf("protect: mlockall: %v (the daemon's memory can be evicted under host memory pressure)", err)
		} else {
			d.locked = true
		}
	}
	adj, err := hostmem.OpenOOMScoreAdj("/proc/self/oom_score_adj")
	if err != nil {
		d.logf("protect: %v (jobs inherit the daemon's oom_score_adj)", err)
	} else if d.euid == 0 {
		if err := adj.Set(spawner.DaemonOOMScoreAdj); err != nil {
			// No CAP_SYS_RESOURCE (a container): it could not restore
			// its value after raising it for a job either.
			d.logf("protect: %v (jobs inherit the daemon's oom_score_adj %d)", err, adj.Value())
			adj.Close()
		} else {
			d.oomAdj = adj
		}
	} else {
		// Without CAP_SYS_RESOURCE the daemon could not lower its value
		// back after a job's start: jobs inherit the daemon's value.
		d.debugf("protect: not root: oom_score_adj stays %d, jobs inherit it", adj.Value())
		adj.Close()
	}
	// The Go runtime's soft memory limit: the heap the daemon needs (at
	// 10 000 jobs, ~20 MiB) with room to spare, and what connections may
	// hold (--conn-memory). Past it the GC runs sooner than GOGC would, so
	// the garbage of dropped connections is not let grow to twice the
	// live heap; it never refuses memory.
	debug.SetMemoryLimit(heapHeadroom + d.cfg.ConnMemory)
	if delegated {
		leaf := d.root.Child(daemonLeaf)
		if err := leaf.Write("memory.min", strconv.Itoa(daemonMemoryMin)); err != nil {
			d.debugf("protect: memory.min on %s: %v", leaf, err)
		}
	}
	if d.meminfo, err = hostmem.Open(d.cfg.HostMeminfo); err != nil {
		d.logf("pressure: host headroom rule off: %v", err)
		d.meminfo = nil
	}
}

// giveBack returns the Go heap's free pages to the kernel once client
// connections let go of much (server.Config.Release). Pages mlockall
// locked cannot be discarded (madvise MADV_DONTNEED fails with EINVAL on
// a VM_LOCKED mapping), so a heap that once held many requests would
// stay resident for good: the lock is lifted for the time of the scavenge
// and taken again, which with MCL_ONFAULT locks only the pages still
// resident; the executable is locked and faulted in again as at start.
func (d *daemon) giveBack() {
	d.debugf("protect: giving the heap's free memory back")
	if !d.locked {
		debug.FreeOSMemory()
		return
	}
	if err := hostmem.UnlockAll(); err != nil {
		d.debugf("protect: munlockall: %v", err)
		return
	}
	debug.FreeOSMemory()
	if err := hostmem.LockAll(); err != nil {
		d.logf("protect: mlockall: %v (the daemon's memory can be evicted under host memory pressure)", err)
		d.locked = false
		return
	}
	if _, err := hostmem.LockExecutable(); err != nil {
		d.logf("protect: %v (the daemon's code can be evicted under host memory pressure)", err)
	}
}
