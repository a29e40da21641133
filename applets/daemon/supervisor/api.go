package supervisor

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"cgroupd/applets/daemon/handoff"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/daemon/spawner"
	"cgroupd/core/cgroup"
	"cgroupd/core/hostmem"
	"cgroupd/core/notify"
	"cgroupd/core/psi"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// Open starts what the supervisor watches on its loop: the notify watcher
// (cgroup.events, memory.events, logs), the pressure engine with its PSI
// triggers, and the spawner.
func (sv *Supervisor) Open() error {
	var err error
	if sv.c.w.watcher, err = notify.New(); err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	if err := sv.c.lp.Add(sv.c.w.watcher.FD(), unix.EPOLLIN, func(uint32) { defer sv.c.oc.enter("notify")(); sv.c.w.onNotify() }); err != nil {
		return fmt.Errorf("epoll add inotify: %w", err)
	}
	if err := sv.c.g.Start(); err != nil {
		return fmt.Errorf("pressure engine: %w", err)
	}
	if sv.c.sp.spawner, err = spawner.New(sv.c.cfg.OOMAdj); err != nil {
		return fmt.Errorf("spawner: %w", err)
	}
	if err := sv.c.lp.Add(sv.c.sp.spawner.FD(), unix.EPOLLIN, func(uint32) { defer sv.c.oc.enter("spawned")(); sv.c.sp.spawner.OnReady() }); err != nil {
		return fmt.Errorf("epoll add spawner: %w", err)
	}
	return nil
}

// Adopt replays the records and reconciles them with the cgroup tree
// (before the daemon accepts clients). h is an upgrading image's hand-over
// (nil after a crash or at a first start): its jobs' pidfds and the
// processes of refused RUNs still to reap.
func (sv *Supervisor) Adopt(h *handoff.Handoff) {
	var handed map[string]*handoff.Job
	if h != nil {
		handed = h.Jobs
		for _, fd := range h.Reap {
			sv.c.sp.reapLater(fd)
		}
		sv.c.ids.Above(h.NextID - 1)
	}
	// Automatic ids go on above every id still named somewhere: the
	// reservation, kept logs, records and cgroups (adopt).
	sv.c.ids.Above(sv.c.journal.Reserved() - 1)
	for _, id := range sv.c.logs.Found() {
		sv.c.ids.Seen(id)
	}
	sv.c.ad.adopt(handed)
	if h != nil {
		// The engine's demotions of jobs still live: restored once CPU
		// pressure recedes, as if no upgrade had come between.
		sv.c.g.DemotedBefore(h.Demoted, func(id string) bool {
			j := sv.c.jobs[id]
			return j != nil && j.Phase() == job.Running
		})
	}
}

// Handoff adds what the supervisor passes to a new image: every job's
// pidfds and the processes still to reap. It returns the fds and the job
// ids in start order.
func (sv *Supervisor) Handoff(h *handoff.Handoff) (fds []int, ids []string) {
	for _, j := range sv.c.sortedJobs() {
		if j.pidfd < 0 {
			continue
		}
		hj := &handoff.Job{PidFD: j.pidfd}
		fds = append(fds, j.pidfd)
		for _, s := range j.services {
			if s.pidfd >= 0 {
				hj.Services = append(hj.Services, s.pidfd)
				fds = append(fds, s.pidfd)
			}
		}
		h.Jobs[j.ID()] = hj
		ids = append(ids, j.ID())
	}
	h.Reap = append(h.Reap, sv.c.sp.unreaped...)
	fds = append(fds, sv.c.sp.unreaped...)
	h.NextID = sv.c.ids.Next()
	h.Demoted = sv.c.g.Demotions()
	return fds, ids
}

// Tick is the housekeeping tick (every second): stopping jobs whose
// cgroup does not empty, refused RUNs' cgroups, the engine's slow sample
// and the admission queue. It reads per-job files only of the few jobs in
// a transition.
func (sv *Supervisor) Tick(now time.Time) {
	defer sv.c.oc.enter("Tick")()
	sv.c.housekeepStopping(now)
	sv.c.sp.retryGraves()
	sv.c.g.Tick(now)
	sv.c.rq.checkQueue(now)
}

// Busy reports what an upgrade must wait for: spawns and kill fallback
// rounds in flight, records not written.
func (sv *Supervisor) Busy() bool {
	return len(sv.c.sp.starting) > 0 || sv.c.kf.Busy() || !sv.c.journal.Idle()
}

// Idle: no job is live and none is being started (a shutdown is done
// with the jobs).
func (sv *Supervisor) Idle() bool { return len(sv.c.liveJobs) == 0 && len(sv.c.sp.starting) == 0 }

// LiveJobs are the jobs that are not ended, in no order.
func (sv *Supervisor) LiveJobs() []*Job {
	out := make([]*Job, 0, len(sv.c.liveJobs))
	for j := range sv.c.liveJobs {
		out = append(out, j)
	}
	return out
}

// Shutdown (SIGTERM, SIGINT, QUIT) cancels every pending RUN and SIGKILLs
// every live job; it is done with the jobs once Idle. Jobs end as usual,
// reaped by the loop.
func (sv *Supervisor) Shutdown() {
	defer sv.c.oc.enter("Shutdown")()
	if sv.c.quitting {
		return
	}
	sv.c.rq.cancelAllPending("shutting down")
	sv.c.quitting = true
	for _, j := range sv.c.sortedJobs() {
		if !j.IsEnded() && !j.MainGone() {
			if err := sv.c.killJob(j, int(unix.SIGKILL), ReasonShutdown); err != nil {
				sv.c.logf("shutdown: kill job %s: %v", j.ID(), err)
			}
		}
	}
}

// Final runs after the loop: every job gets its job.exit (forced for jobs
// that would not die in time), every job cgroup is removed with a
// job.cleanup, and the records are written out.
func (sv *Supervisor) Final() {
	for _, j := range sv.c.sortedJobs() {
		if j.IsEnded() {
			continue
		}
		if !j.MainGone() {
			st, ok, err := spawn.Reap(j.pidfd)
			if err != nil || !ok {
				st = spawn.Status{Signal: int(unix.SIGKILL)}
			}
			sv.c.closePidFD(&j.pidfd)
			sv.c.apply(j, func(m *job.Job) error { return m.MainExited(st, "", time.Now(), monoMs()) }) // finish records the end
		}
		sv.c.finish(j)
	}
	for _, j := range sv.c.sortedJobs() {
		for _, s := range j.services {
			if s.pidfd >= 0 {
				spawn.Reap(s.pidfd)
				sv.c.closePidFD(&s.pidfd)
			}
		}
		err := j.Cgroup().Remove()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			sv.c.logf("shutdown: remove %s: %v", j.Cgroup(), err)
			sv.c.emitJob(&hub.Event{Type: "job.cleanup"}, j, "id", j.ID(), "result", "failed", "cgroup", string(j.Cgroup()))
			continue
		}
		sv.c.forget(j, "removed")
	}
	sv.c.sp.retryGraves()
	sv.c.journal.Close() // the records of the removed jobs are deleted
}

// Close releases every fd the supervisor holds (start failure or end of
// shutdown).
func (sv *Supervisor) Close() {
	if sv.c.w.watcher != nil {
		sv.c.w.watcher.Close()
	}
	sv.c.g.Close()
	if sv.c.sp.spawner != nil {
		sv.c.lp.Remove(sv.c.sp.spawner.FD())
		sv.c.sp.spawner.Close()
		sv.c.sp.spawner = nil
	}
	sv.c.kf.Close()
	if sv.c.to.alarm != nil {
		sv.c.to.alarm.Close()
		sv.c.to.alarm = nil
	}
}

// Quitting reports whether a shutdown began.
func (sv *Supervisor) Quitting() bool { return sv.c.quitting }

// Get is job id (nil: none).
func (sv *Supervisor) Get(id string) *Job { return sv.c.jobs[id] }

// Jobs are every job of the table in start order.
func (sv *Supervisor) Jobs() []*Job { return sv.c.sortedJobs() }

// Count is every job of the table.
func (sv *Supervisor) Count() int { return len(sv.c.jobs) }

// ByState counts the jobs of the table by state.
func (sv *Supervisor) ByState() map[string]int {
	n := map[string]int{}
	for _, j := range sv.c.jobs {
		n[j.State()]++
	}
	return n
}

// Counts are the running and frozen jobs and the pending RUNs.
func (sv *Supervisor) Counts() (running, frozen, pending int) {
	return sv.c.nRunning, sv.c.nFrozen, sv.c.rq.queue.Len()
}

// Taken reports whether id names a job, a RUN being started or a cgroup
// under the root that no job is known for.
func (sv *Supervisor) Taken(id string) bool {
	return sv.c.jobs[id] != nil || sv.c.sp.starting[id] != nil || sv.c.ad.strays[id]
}

// Recorded reports whether j's start is on record already, on its cgroup
// (mark.go): its RUN's reply need not wait for the journal.
func (sv *Supervisor) Recorded(j *Job) bool { return j.marked }

// NewID is the next free automatic id. It is taken only once a job of
// that id is started or queued (Run): a refused RUN
// uses up no id.
func (sv *Supervisor) NewID() string { return sv.c.ids.Peek(sv.Taken) }

// UserCount is uid's live and pending jobs, and its new jobs the spawner
// is starting (they have no state until they run).
func (sv *Supervisor) UserCount(uid uint32) int { return sv.c.userCount(uid) }

// Freeze freezes (or thaws) j for a client. The freeze is then the
// client's: the engine neither thaws it nor counts it as its own. The
// state follows when cgroup.events confirms it (outcome Frozen). A job
// a client froze already (or one running that nobody froze, for a thaw)
// is left as it is: already, nothing written, no event.
func (sv *Supervisor) Freeze(j *Job, freeze bool) (already bool, err error) {
	defer sv.c.oc.enter("Freeze")()
	switch {
	case freeze && j.FrozenBy() == job.ReasonClient && j.State() == job.StateFrozen:
		return true, nil
	case !freeze && j.FrozenBy() == "" && j.State() == job.StateRunning:
		return true, nil
	}
	if freeze {
		err = sv.c.freezeJob(j, job.ReasonClient)
	} else {
		err = sv.c.thawJob(j, job.ReasonClient)
	}
	if err != nil {
		return false, err
	}
	sv.c.g.ClientFreeze(j.ID(), freeze)
	return false, nil
}

// Kill sends sig to j for a client; a pending job is cancelled: it ends
// killed, signal 9, without ever starting.
func (sv *Supervisor) Kill(j *Job, sig int) error {
	defer sv.c.oc.enter("Kill")()
	if j.IsPending() {
		sv.c.rq.killPending(j)
		return nil
	}
	return sv.c.killJob(j, sig, job.ReasonClient)
}

// Errors of Remove.
var (
	ErrStillRunning = errors.New("still running")
	ErrPopulated    = errors.New("cgroup still populated")
)

// Remove removes j for a client: a pending job is cancelled and
// forgotten; an ended one loses its cgroup and record (job.cleanup), and
// keeps its log.
func (sv *Supervisor) Remove(j *Job) error {
	defer sv.c.oc.enter("Remove")()
	if j.IsPending() {
		sv.c.rq.removePending(j)
		return nil
	}
	if !j.IsEnded() {
		return ErrStillRunning
	}
	if err := j.Cgroup().Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, unix.EBUSY) {
			return ErrPopulated
		}
		return err
	}
	sv.c.forget(j, "removed")
	return nil
}

// CheckEvents reads j's cgroup.events again (after a notify overflow).
func (sv *Supervisor) CheckEvents(j *Job) {
	defer sv.c.oc.enter("CheckEvents")()
	sv.c.checkEvents(j)
}

// HostPSI is the host's pressure of resource (memory, cpu, io), from
// --host-pressure.
func (sv *Supervisor) HostPSI(resource string) (psi.PSI, error) { return sv.c.g.HostPSI(resource) }

// PSI reports whether the kernel measures pressure on the host and in the
// job tree: without, PSI figures are unknown.
func (sv *Supervisor) PSI() (host, root bool) { return sv.c.g.PSI() }

// HostMem is the host's memory figures (ok false: not readable).
func (sv *Supervisor) HostMem() (hostmem.Info, bool) {
	if sv.c.cfg.Meminfo == nil {
		return hostmem.Info{}, false
	}
	m, err := sv.c.cfg.Meminfo.Read()
	return m, err == nil
}

// Pressure is the engine's current measurement of the root over its
// window (ok false: no engine); without PSI in the job tree (PSI) it
// means nothing.
func (sv *Supervisor) Pressure() (pressure.Measurements, bool) { return sv.c.g.Measurements() }

// EngineConfig is the pressure engine's policy in force (ok false: none).
func (sv *Supervisor) EngineConfig() (pressure.Config, bool) { return sv.c.g.Policy() }

// Root is the cgroup the supervisor owns.
func (sv *Supervisor) Root() cgroup.Dir { return sv.c.cfg.Root }

// Stats are the journal's figures (ok false: no records kept).
func (sv *Supervisor) Stats() (writes, unlinks, errs uint64, ok bool) {
	if sv.c.journal == nil {
		return 0, 0, 0, false
	}
	st := sv.c.journal.Stats()
	return st.Writes, st.Unlinks, st.Errors, true
}
