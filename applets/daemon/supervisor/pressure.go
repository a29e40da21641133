package supervisor

import (
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
	"fmt"
	"time"
)

// candidates returns the live jobs with priority <= maxPriority: the only
// jobs the engine may act on. It walks the live index, not every job.
func (sv *core) candidates(maxPriority int) []*Job {
	var out []*Job
	for j := range sv.liveJobs {
		if !j.MainGone() && j.Spec().Priority <= maxPriority {
			out = append(out, j)
		}
	}
	return out
}

// act carries out one decision on one job. reason is pressure_memory,
// pressure_io, pressure_cpu or pressure_receded; weight is the cpu.weight
// of a demote or restore. A client freeze is never undone by the engine: thaw
// with pressure_receded only touches jobs frozen by a pressure_* reason.
func (sv *core) act(kind pressure.Kind, j *Job, reason string, weight int) error {
	if j.IsEnded() || j.MainGone() || j.IsPending() {
		return fmt.Errorf("job %s is not running", j.ID())
	}
	switch kind {
	case pressure.Freeze:
		return sv.freezeJob(j, reason)
	case pressure.Thaw:
		if j.FrozenBy() == job.ReasonClient {
			return fmt.Errorf("job %s was frozen by a client", j.ID())
		}
		return sv.thawJob(j, reason)
	case pressure.Kill:
		return sv.killJob(j, 9, reason)
	case pressure.Demote:
		return sv.throttleJob(j, weight, reason)
	case pressure.Restore:
		if err := sv.throttleJob(j, weight, reason); err != nil {
			return err
		}
		j.SetCPUWeight(0) // back to the job's own weight
		return nil
	}
	return fmt.Errorf("unknown action %v", kind)
}

// engineJobs is the job side as the guard sees it (guard.Jobs), and as the
// engine's pressure.Jobs: per-job files are read only here, only for the
// jobs asked about, only when the engine has to pick a victim or follow a
// kill.
type engineJobs struct{ d *core }

// Candidates returns the live jobs with priority <= maxPriority with their
// memory.current, memory.low, memory.high, memory.max, io.stat bytes and
// cpu.weight.
func (e engineJobs) Candidates(maxPriority int) []pressure.Job {
	cs := e.d.candidates(maxPriority)
	out := make([]pressure.Job, 0, len(cs))
	for _, j := range cs {
		out = append(out, pressure.Job{
			ID:            j.ID(),
			Priority:      j.Spec().Priority,
			Frozen:        j.FrozenBy() != "" || j.State() == job.StateFrozen,
			MemoryCurrent: j.Cgroup().MemoryCurrent(),
			MemoryLow:     j.Cgroup().Uint("memory.low"),
			MemoryHigh:    j.Cgroup().Uint("memory.high"),
			MemoryMax:     j.Cgroup().Uint("memory.max"),
			IOBytes:       j.Cgroup().IOBytes(),
			CPUWeight:     int(min(j.Cgroup().Uint("cpu.weight"), 10000)),
		})
	}
	return out
}

// Alive reports whether the job has not ended yet (its main process not
// reaped, or its cgroup still populated) and its memory.current.
func (e engineJobs) Alive(id string) (uint64, bool) {
	j := e.d.jobs[id]
	if j == nil || j.IsEnded() || j.IsPending() {
		return 0, false
	}
	return j.Cgroup().MemoryCurrent(), true
}

// Act carries out one decision of the engine on job id.
func (e engineJobs) Act(kind pressure.Kind, id, reason string, weight int) error {
	j := e.d.jobs[id]
	if j == nil || j.IsPending() {
		return fmt.Errorf("no such live job")
	}
	return e.d.act(kind, j, reason, weight)
}

// Emit publishes a pressure event.
func (e engineJobs) Emit(ev *hub.Event, kv ...string) { e.d.emit(ev, kv...) }

// CheckQueue starts the pending RUNs admission allows now.
func (e engineJobs) CheckQueue(now time.Time) { e.d.rq.checkQueue(now) }

// NextQueueDeadline is the earliest queue_timeout of a pending RUN.
func (e engineJobs) NextQueueDeadline() (time.Time, bool) { return e.d.rq.queue.NextDeadline() }
