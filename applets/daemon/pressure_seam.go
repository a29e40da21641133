package daemon

import (
	"fmt"
	"path/filepath"
	"time"

	"cgroupd/core/psi"
)

// The seam for the pressure engine (applets/daemon/pressure). The loop
// feeds the engine from pressureTick (and, later, from PSI trigger fds on
// the root's pressure files); the engine returns actions, which act carries
// out with the right job.* events. Until the engine is wired in,
// pressureTick does nothing.

// Action kinds the engine can ask for.
const (
	actFreeze   = "freeze"
	actThaw     = "thaw"
	actKill     = "kill"
	actThrottle = "throttle" // demote or restore cpu.weight
)

// rootSample reads the root cgroup's memory, cpu and io pressure; a
// missing or unreadable file reads as zero.
func (d *daemon) rootSample() (mem, cpu, io psi.PSI) {
	root := string(d.root)
	return readPSI(filepath.Join(root, "memory.pressure")),
		readPSI(filepath.Join(root, "cpu.pressure")),
		readPSI(filepath.Join(root, "io.pressure"))
}

// candidates returns the live jobs with priority <= maxPriority: the only
// jobs the engine may act on. It walks the live index, not every job.
func (d *daemon) candidates(maxPriority int) []*job {
	var out []*job
	for j := range d.liveJobs {
		if !j.mainDone && j.priority <= maxPriority {
			out = append(out, j)
		}
	}
	return out
}

// act carries out one decision on one job. reason is pressure_memory,
// pressure_io, pressure_cpu or pressure_receded; weight is the cpu.weight
// for actThrottle. A client freeze is never undone by the engine: thaw
// with pressure_receded only touches jobs frozen by a pressure_* reason.
func (d *daemon) act(kind string, j *job, reason string, weight int) error {
	if j.ended || j.mainDone {
		return fmt.Errorf("job %s has ended", j.id)
	}
	switch kind {
	case actFreeze:
		return d.freezeJob(j, reason)
	case actThaw:
		if j.frozenBy == reasonClient {
			return fmt.Errorf("job %s was frozen by a client", j.id)
		}
		return d.thawJob(j, reason)
	case actKill:
		return d.killJob(j, 9, reason)
	case actThrottle:
		return d.throttleJob(j, weight, reason)
	}
	return fmt.Errorf("unknown action %q", kind)
}

// pressureTick runs on every housekeeping tick: the engine's sampling
// point. It reads only the root's three pressure files, never per-job
// files. No engine is wired in yet.
func (d *daemon) pressureTick(now time.Time) {}
