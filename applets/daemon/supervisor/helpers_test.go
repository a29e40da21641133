package supervisor

import (
	"testing"
	"time"

	"cgroupd/applets/daemon/hosttest"
	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"
	"cgroupd/core/spawn"
)

// testEntry is a job of the table in phase new.
func testEntry(id string, uid uint32, cg cgroup.Dir, priority int) *Job {
	return newJob(job.Make(job.Spec{ID: id, UID: uid, GID: uid, Cgroup: cg, Priority: priority}))
}

// testStart makes j a running job of d's table, started at Unix ms 10.
func testStart(d *Supervisor, j *Job) {
	d.c.jobs[j.ID()] = j
	d.c.liveJobs[j] = struct{}{}
	d.c.seq++
	d.c.advance(j, func(m *job.Job) error { return m.Start(42, "", time.UnixMilli(10), 0, d.c.seq) })
}

// testExit ends j's main process with st at Unix ms 20.
func testExit(d *Supervisor, j *Job, st spawn.Status) {
	d.c.advance(j, func(m *job.Job) error { return m.MainExited(st, "", time.UnixMilli(20), 0) })
}

func readFile(t *testing.T, p string) string { t.Helper(); return hosttest.ReadFile(t, p) }
