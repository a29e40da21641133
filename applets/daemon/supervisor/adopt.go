package supervisor

import (
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/handoff"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/journal"
	"cgroupd/applets/daemon/spawner"

	"golang.org/x/sys/unix"
)

// adopt replays the records and reconciles them with the cgroup tree
// (before the daemon accepts clients). handed are the pidfds an upgrading
// daemon passed on, by job id.
func (ad *adoption) adopt(handed map[string]*handoff.Job) {
	if ad.sv.journal == nil {
		ad.reportStrays()
		return
	}
	t0 := time.Now()
	type loaded struct {
		j    *Job
		meta job.Meta
	}
	var jobs []loaded
	err := ad.sv.journal.Replay(func(r journal.Record) {
		if len(jobs)%1000 == 999 {
			// The daemon's memory is locked (protect.go): a heap peak
			// stays resident. Collect the files read so far as we go.
			runtime.GC()
		}
		err := r.Err
		var m *job.Job
		var meta job.Meta
		if err == nil {
			m, meta, err = job.Decode(r.Data, r.ID, ad.sv.cfg.Root)
		}
		if err != nil {
			ad.sv.logf("state: record %s skipped: %v", r.Path, err)
			ad.sv.emit(&hub.Event{Type: "state.corrupt"}, "file", r.Path, "detail", err.Error())
			return
		}
		jobs = append(jobs, loaded{newJob(m), meta})
	})
	if err != nil {
		ad.sv.logf("state dir: %v", err)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].j.Seq() < jobs[b].j.Seq() })
	var adopted, ended, gone int
	for _, l := range jobs {
		switch ad.restore(l.j, l.meta, handed[l.j.ID()]) {
		case job.Running:
			adopted++
		case job.Ended:
			ended++
		default:
			gone++
		}
	}
	ad.reportStrays()
	if len(jobs) > 1000 {
		// Reading thousands of records left garbage the heap would keep
		// for minutes: give it back now (once, at start; the records
		// themselves are dropped when this returns).
		defer debug.FreeOSMemory()
	}
	if len(jobs) > 0 {
		ad.sv.logf("state: %d jobs from %s in %v: %d running adopted, %d ended, %d ended while no daemon ran",
			len(jobs), ad.sv.journal.Dir(), time.Since(t0).Round(time.Millisecond), adopted, ended, gone)
	}
}

// restore puts a loaded job back: ended as recorded, running adopted, or
// ended now with an unknown status. It returns the phase it is in after.
func (ad *adoption) restore(j *Job, meta job.Meta, h *handoff.Job) job.Phase {
	ad.sv.jobs[j.ID()] = j
	ad.sv.ids.Seen(j.ID())
	ad.sv.seq = max(ad.sv.seq, j.Seq())
	ad.sv.logs.Started(j.Log()) // not a removed job's log: never pruned
	if meta.Phase == job.Ended {
		ad.sv.apply(j, func(m *job.Job) error { return m.Restore(job.Ended, false, "") }) // as recorded
		ad.sv.maybeRemove(j)                                                              // --rm: the old daemon died before it could
		ad.sv.trimEnded(j)                                                                // in the order they ended (sorted by seq)
		return job.Ended
	}
	pidfd, why := -1, ""
	switch {
	case h != nil:
		pidfd = h.PidFD // our child still: its status will be exact
	case meta.BootID != ad.sv.cfg.BootID:
		why = "reboot"
	default:
		pidfd, why = verifyPid(j)
	}
	if meta.Phase == job.Stopping {
		// The main process had ended (status known); the rest was being
		// killed. Carry on.
		if pidfd >= 0 && h == nil {
			unix.Close(pidfd)
		}
		ad.resume(j, job.Stopping, false, "")
		return job.Stopping
	}
	if pidfd < 0 {
		ad.resume(j, job.Stopping, false, why)
		return job.Stopping
	}
	j.pidfd = pidfd
	ad.sv.pidfds++
	if err := ad.sv.lp.Add(pidfd, unix.EPOLLIN, func(uint32) { defer ad.sv.oc.enter("main exit")(); ad.sv.onMainExit(j) }); err != nil {
		ad.sv.logf("job %s: epoll add pidfd: %v", j.ID(), err)
	}
	if h != nil {
		for _, fd := range h.Services {
			s := &service{pidfd: fd}
			j.services = append(j.services, s)
			ad.sv.pidfds++
			if err := ad.sv.lp.Add(fd, unix.EPOLLIN, func(uint32) { defer ad.sv.oc.enter("service exit")(); ad.sv.onServiceExit(j, s) }); err != nil {
				ad.sv.logf("job %s: epoll add service: %v", j.ID(), err)
			}
		}
	}
	ad.resume(j, job.Running, h == nil, "")
	return job.Running
}

// resume makes a restored job live again in phase p (notChild: adopted
// after a crash; unknown: why its status is not known): watches, state,
// engine; a stopping job has the rest of its cgroup killed.
func (ad *adoption) resume(j *Job, p job.Phase, notChild bool, unknown string) {
	ad.sv.liveJobs[j] = struct{}{}
	ad.sv.apply(j, func(m *job.Job) error { return m.Restore(p, notChild, unknown) }) // as recorded; what follows records
	_, err := os.Stat(string(j.Cgroup()))
	if err != nil && p != job.Running {
		ad.sv.finish(j) // nothing left to kill
		return
	}
	if err == nil {
		if err := ad.sv.watchCgroup(j); err != nil {
			ad.sv.logf("job %s: %v", j.ID(), err)
		}
	}
	if j.Log() != "" {
		if err := ad.sv.logStarted(j); err != nil {
			ad.sv.logf("job %s: watch log: %v", j.ID(), err)
		}
	}
	if p != job.Running {
		ad.sv.stopRest(j)
		return
	}
	if ev, err := j.Cgroup().Events(); err == nil && ev.Frozen {
		old := j.State()
		j.SetFrozen(true)
		ad.sv.recount(j, old, j.State())
		if res, ok := strings.CutPrefix(j.FrozenBy(), "pressure_"); ok {
			ad.sv.g.FrozenBefore(j.ID(), res, j.Spec().Priority, time.Now())
		}
	}
	// --timeout counts from the start, as recorded (the time the engine
	// kept it frozen before the restart is not known any more: counted).
	startUnix, _, _, _ := j.Times()
	ad.sv.to.jobStarted(j, time.UnixMilli(startUnix))
	ad.sv.pt.Adopted(j.ID(), j.Cgroup(), j.Spec().Priority) // the reclaim rule watches it again
	kv := []string{"id", j.ID(), "pid", strconv.Itoa(j.Pid()), "priority", strconv.Itoa(j.Spec().Priority), "cgroup", string(j.Cgroup())}
	if j.Adopted() {
		kv = append(kv, "exit_known", "0")
	}
	ad.sv.emitJob(&hub.Event{Type: "job.adopt"}, j, kv...)
	ad.sv.checkMemEvents(j, false) // OOM kills while no daemon watched
}

// verifyPid opens a pidfd on j's recorded main process if it still is
// that process; -1 and the reason when it is not.
func verifyPid(j *Job) (int, string) {
	if fd := spawner.OpenPid(j.Pid(), j.PidStart(), j.Cgroup()); fd >= 0 {
		return fd, ""
	}
	return -1, "ended_while_down"
}

// reportStrays reports the cgroups under the root no job is known for;
// those the last daemon made but had not recorded yet (mark.go) are
// cleaned up instead.
func (ad *adoption) reportStrays() {
	ents, err := os.ReadDir(string(ad.sv.cfg.Root))
	if err != nil {
		return
	}
	// The last daemon stopped between a job cgroup's mkdir and its mark
	// (mark.go): the intent names it, and is used up here.
	intent, err := ad.sv.cfg.Root.Xattr(intentXattr)
	if err == nil {
		defer ad.sv.cfg.Root.RemoveXattr(intentXattr)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || name == DaemonLeaf || ad.sv.jobs[name] != nil {
			continue
		}
		cg := ad.sv.cfg.Root.Child(name)
		ad.sv.ids.Seen(name)
		if ad.strays == nil {
			ad.strays = map[string]bool{}
		}
		populated := "0"
		if ev, err := cg.Events(); err == nil && ev.Populated {
			populated = "1"
		}
		// .control: systemd's (ExecReload= in a delegated unit), left alone; a job's is marked.
		if ad.unrecorded(name, cg, populated, name == string(intent)) || strings.HasPrefix(name, ".") {
			continue
		}
		ad.strays[name] = true
		ad.sv.logf("unknown cgroup %s: no job record; left alone (populated %s)", cg, populated)
		ad.sv.emit(&hub.Event{Type: "cgroup.unknown"}, "cgroup", string(cg), "populated", populated)
	}
}
