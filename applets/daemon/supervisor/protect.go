package supervisor

import (
	"cgroupd/core/cgroup"
	"errors"
	"io/fs"
)

// jobOOMScoreAdj maps a job's priority (0..100, default 50) to its
// oom_score_adj: (50 - priority) × 10, so priority 0 → 500, 50 → 0 (the
// kernel's default), 100 → -500. A non-root caller's job never gets a
// value below 0: lowering oom_score_adj is a privilege the caller does not
// have.
func jobOOMScoreAdj(priority int, callerRoot bool) int {
	adj := (50 - priority) * 10
	if !callerRoot {
		adj = max(adj, 0)
	}
	return min(max(adj, -1000), 1000)
}

// setOOMGroup sets memory.oom.group 1 on a job's cgroup where the memory
// controller is on: a kernel OOM kill then takes the whole job. ok reports
// whether it is set.
func setOOMGroup(cg cgroup.Dir) (ok bool, err error) {
	err = cg.Write("memory.oom.group", "1")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // no memory controller for the jobs
	}
	return err == nil, err
}
