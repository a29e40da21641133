package supervisor

import (
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"strconv"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// Reasons of EVENTS.md beside the client's; the pressure engine passes
// its own.
const (
	ReasonShutdown = "shutdown" // extension: kills done by a daemon shutdown
)

// Notify watch kinds.
const (
	watchEvents    = iota // cgroup.events: populated, frozen
	watchMemEvents        // memory.events: oom_kill
	watchLog              // the job's log file, while LOGS --follow readers wait
)

type watch struct {
	job  *Job
	kind int
}

// Job is one job of the table: its model (applets/daemon/job), whose
// methods it has, and the kernel objects that follow it. Its fields are
// the supervisor's (only the supervisor makes a Job, newJob, or Detached
// for tests and benchmarks); only the loop goroutine touches them.
type Job struct {
	*model

	pidfd        int // -1 once reaped
	services     []*service
	stopDeadline time.Time // while stopping: retry the kill then
	stopTries    int       // kills sent after main ended
	noMemory     bool      // no memory controller in the cgroup: no memory file to read
	emptied      bool      // cgroup.events said populated 0 (all its processes gone)
	readers      int       // clients that hold it (Hold): an rm job waits for them
	attached     int       // … of them RUN wait: 1 connections (Attached): the last one gone detaches it
	logFollowers int       // LOGS --follow streams (FollowLog): the log stays watched

	wdEvents, wdMem, wdLog int // notify watch descriptors, -1 when none

	pend *pendingRun // while pending: the RUN waiting for admission

	stopStage int  // of a timeout or a detach: 0; 1: SIGTERM sent; 2: SIGKILL sent
	marked    bool // its start is on record on its cgroup (mark.go)
}

// newJob is the table's entry for a job model; Detached is one no
// supervisor runs, what top and metrics are tested and benchmarked with.
func newJob(m *job.Job) *Job { return &Job{model: m, pidfd: -1, wdEvents: -1, wdMem: -1, wdLog: -1} }

func Detached(m *job.Job) *Job { return newJob(m) }

// model is the job model, embedded under a name other packages cannot
// set; Model is it, for job.WaitKV and job.UnknownKeys.
type model = job.Job

func Model(j *Job) *job.Job { return j.model }

// service is a sidecar process of a job.
type service struct {
	pid, pidfd int
}

// monoMs is CLOCK_MONOTONIC in milliseconds.
func monoMs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return int64(ts.Sec)*1000 + int64(ts.Nsec)/1e6
}

// advance applies one transition of j's model (step), keeps the table's
// counters in step with the state it leaves, and records j: a record is
// made after the step has written every field it sets.
func (sv *core) advance(j *Job, step func(m *job.Job) error) {
	sv.apply(j, step)
	sv.record(j)
}

// apply is advance without the record (a job restored as recorded, or
// one that starts: markStarted records it).
func (sv *core) apply(j *Job, step func(m *job.Job) error) {
	old := j.State()
	if err := step(j.model); err != nil {
		sv.logf("%v", err)
	}
	sv.recount(j, old, j.State())
}

// recount keeps the STATS and per-user counters right as j goes from
// state old to state now ("": not in the table).
func (sv *core) recount(j *Job, old, now string) {
	if old == now {
		return
	}
	sv.countUser(j, old, now)
	switch old {
	case job.StateRunning:
		sv.nRunning--
	case job.StateFrozen:
		sv.nFrozen--
	}
	switch now {
	case job.StateRunning:
		sv.nRunning++
	case job.StateFrozen:
		sv.nFrozen++
	}
}

// ---- actions: the client verbs and the pressure engine both use these ----

// freezeJob writes cgroup.freeze 1 and emits job.freeze with reason. The
// state becomes frozen when cgroup.events confirms it.
func (sv *core) freezeJob(j *Job, reason string) error {
	if err := j.Cgroup().SetFrozen(true); err != nil {
		return err
	}
	j.FreezeFor(reason, time.Now()) // engine freezes do not count for --timeout
	sv.record(j)
	sv.emitJob(&hub.Event{Type: "job.freeze", Reason: reason}, j, "id", j.ID(), "reason", reason, "cgroup", string(j.Cgroup()))
	sv.checkEvents(j)
	return nil
}

// thawJob writes cgroup.freeze 0 and emits job.thaw with reason.
func (sv *core) thawJob(j *Job, reason string) error {
	if err := j.Cgroup().SetFrozen(false); err != nil {
		return err
	}
	j.FreezeFor("", time.Now())
	sv.record(j)
	sv.emitJob(&hub.Event{Type: "job.thaw", Reason: reason}, j, "id", j.ID(), "reason", reason, "cgroup", string(j.Cgroup()))
	sv.checkEvents(j)
	return nil
}

// killJob sends sig to every process of the job and emits job.kill.
// SIGKILL uses cgroup.kill (or the freeze+kill+thaw fallback).
func (sv *core) killJob(j *Job, sig int, reason string) error {
	var err error
	if sig == int(unix.SIGKILL) {
		err = sv.killCgroup(j.Cgroup())
		if err == nil {
			j.Killed()
		}
	} else {
		err = j.Cgroup().Signal(sig)
	}
	if err != nil {
		return err
	}
	sv.emitJob(&hub.Event{Type: "job.kill", Reason: reason}, j, "id", j.ID(), "signal", strconv.Itoa(sig), "reason", reason, "cgroup", string(j.Cgroup()))
	return nil
}

// throttleJob writes cpu.weight and emits job.throttle (pressure engine).
func (sv *core) throttleJob(j *Job, weight int, reason string) error {
	if err := j.Cgroup().Write("cpu.weight", strconv.Itoa(weight)); err != nil {
		return err
	}
	j.SetCPUWeight(weight)
	sv.emitJob(&hub.Event{Type: "job.throttle", Reason: reason}, j, "id", j.ID(), "resource", "cpu", "cpu_weight", strconv.Itoa(weight), "reason", reason, "cgroup", string(j.Cgroup()))
	return nil
}

// killCgroup SIGKILLs everything in cg: cgroup.kill, or the fallback when
// forced or when the kernel has none.
func (sv *core) killCgroup(cg cgroup.Dir) error {
	if !sv.cfg.KillFallback {
		err := cg.Kill()
		if err == nil {
			return nil
		}
		if !isNoKill(err) {
			return err
		}
		// ErrNoKill: kernel < 5.14 has no cgroup.kill; fall back to
		// freeze+kill+thaw.
	}
	return sv.kf.Start(cg)
}

// ---- lifecycle ----

// onMainExit runs when the main pid's pidfd is readable.
func (sv *core) onMainExit(j *Job) {
	if j.MainGone() {
		return
	}
	st, ok, err := spawn.Reap(j.pidfd)
	unknown := ""
	if err != nil {
		// Not our child (adopted after a restart: ECHILD), so the kernel
		// tells us nothing of how it ended. Known only when we killed it.
		st, unknown = sv.unknownEnd(j, err)
	} else if !ok {
		return // spurious wake-up
	}
	sv.closePidFD(&j.pidfd)
	// Not recorded yet: stopRest records the status if the cgroup does not
	// empty at once, finish records the end when it does.
	sv.apply(j, func(m *job.Job) error { return m.MainExited(st, unknown, time.Now(), monoMs()) })
	sv.debugf("job %s: main pid %d ended: exit %d signal %d", j.ID(), j.Pid(), st.Exit, st.Signal)
	sv.stopRest(j)
}

// stopRest kills what is left in the job's cgroup (services, children) and
// finalises the job once cgroup.events says populated 0.
func (sv *core) stopRest(j *Job) {
	if j.emptied {
		sv.finish(j)
		return
	}
	ev, err := j.Cgroup().Events()
	if err == nil && !ev.Populated {
		sv.finish(j)
		return
	}
	if err := sv.killCgroup(j.Cgroup()); err != nil {
		sv.logf("job %s: kill rest: %v", j.ID(), err)
	}
	j.stopTries++
	j.stopDeadline = time.Now().Add(2 * time.Second)
	sv.stopping[j] = struct{}{}
	// The populated 0 notification may already have come and gone.
	if ev, err := j.Cgroup().Events(); err == nil && !ev.Populated {
		sv.finish(j)
		return
	}
	sv.record(j) // the status, while the rest is being killed
}

// unknownEnd is the status of a job whose main process ended where the
// kernel tells us nothing (not our child: adopted after a restart; or
// gone while no daemon ran): SIGKILL when we killed it ourselves, else
// unknown (exit and signal 0, with the reason not_child).
func (sv *core) unknownEnd(j *Job, err error) (spawn.Status, string) {
	if j.KillSent() {
		return spawn.Status{Signal: int(unix.SIGKILL)}, ""
	}
	sv.debugf("job %s: pid %d ended, status unknown: %v", j.ID(), j.Pid(), err)
	return spawn.Status{}, "not_child"
}

// checkEvents reads cgroup.events of a job and acts on it: frozen state,
// deferred FREEZE/THAW replies, end of a job whose main pid is gone.
func (sv *core) checkEvents(j *Job) {
	if j.IsEnded() {
		return
	}
	ev, err := j.Cgroup().Events()
	if err != nil {
		sv.debugf("job %s: read events: %v", j.ID(), err)
		return
	}
	old := j.State()
	j.SetFrozen(ev.Frozen) // while the main process runs
	sv.recount(j, old, j.State())
	sv.oc.tell(Outcome{Kind: Frozen, Job: j, Frozen: ev.Frozen}) // FREEZE and THAW wait for this
	// Seen before main's exit is: no process is left, and none can come
	// back (only the daemon moves processes into a job), so stopRest
	// need not read it again.
	j.emptied = !ev.Populated
	if j.MainGone() && j.emptied {
		sv.finish(j)
	}
}

// checkMemEvents emits one job.oom per OOM kill the kernel made in the
// job. Without memory.oom.group that is each increase of oom_kill. With it
// (oomGroup) one OOM kill raises oom_kill once per process of the job, and
// the 10 ms rate limit of cgroupfs notifications can show the count half
// way (the first victim, then the rest), so the fact is the increase of
// oom_group_kill, which the kernel raises once per group kill; oom_kill_count
// is oom_kill as read then. At the job's end (final) an oom_kill increase
// with no group kill recorded yet is reported too: the main process can be
// reaped before the kernel has counted the group kill.
//
// It returns what it read (ok false: unreadable, or no memory controller).
func (sv *core) checkMemEvents(j *Job, final bool) (me cgroup.MemoryEvents, ok bool) {
	if j.noMemory {
		return me, false
	}
	me, err := j.Cgroup().MemoryEvents()
	if err != nil {
		return me, false
	}
	group, kills, groupKills := j.OOM()
	report := me.OOMKill > kills
	if group {
		report = me.OOMGroupKill > groupKills || (final && report && groupKills == 0)
	}
	if report {
		j.SawOOM(me.OOMKill, me.OOMGroupKill)
		sv.emitJob(&hub.Event{Type: "job.oom"}, j, "id", j.ID(), "cgroup", string(j.Cgroup()), "oom_kill_count", strconv.FormatUint(me.OOMKill, 10))
	}
	return me, true
}

// finish finalises an ended job: state, OOM figures, one job.exit, WAIT
// replies, watches and LOGS followers.
func (sv *core) finish(j *Job) {
	if j.IsEnded() {
		return
	}
	// The kernel raises oom_kill before it sends the SIGKILL, so this read
	// sees every OOM kill of the job, even when the exit is handled before
	// the memory.events notification (which is dropped with the watch
	// below): job.oom always precedes job.exit.
	me, meOK := sv.checkMemEvents(j, true)
	f := sv.figures(j, me, meOK) // run_ms cpu_usec memory_peak oom_kills, appended
	sv.advance(j, func(m *job.Job) error { return m.End(f) })
	delete(sv.stopping, j)
	delete(sv.liveJobs, j)
	sv.g.JobEnded(j.ID())
	sv.emitJob(&hub.Event{Type: "job.exit", State: j.State()}, j, job.ExitKV(j.model)...)
	sv.w.unwatch(j, &j.wdEvents)
	sv.w.unwatch(j, &j.wdMem)
	sv.logEnded(j)
	// WAITs, wait: 1 end blocks, FREEZE/THAW still waiting, LOGS
	// followers: the server answers them (once the end is on record),
	// after this step.
	sv.oc.tell(Outcome{Kind: Ended, Job: j})
	sv.maybeRemove(j) // rm, once nobody reads it
	sv.trimEnded(j)   // --max-user-ended
}

// closePidFD unregisters and closes a pidfd.
func (sv *core) closePidFD(fd *int) {
	if *fd < 0 {
		return
	}
	sv.lp.CloseFD(*fd)
	*fd = -1
	sv.pidfds--
}

// onServiceExit reaps a sidecar; its status does not matter.
func (sv *core) onServiceExit(j *Job, s *service) {
	st, ok, err := spawn.Reap(s.pidfd)
	if !ok && err == nil {
		return
	}
	sv.debugf("job %s: service pid %d ended: exit %d signal %d (err %v)", j.ID(), s.pid, st.Exit, st.Signal, err)
	sv.closePidFD(&s.pidfd)
}

// housekeepStopping retries kills of jobs whose cgroup does not empty
// after main ended and, as a last resort, finalises them. Only jobs in
// that transition are looked at.
func (sv *core) housekeepStopping(now time.Time) {
	for j := range sv.stopping {
		ev, err := j.Cgroup().Events()
		if err == nil && !ev.Populated {
			sv.finish(j)
			continue
		}
		if now.Before(j.stopDeadline) {
			continue
		}
		if j.stopTries >= 5 {
			sv.logf("job %s: cgroup %s still populated after %d kills; giving up waiting", j.ID(), j.Cgroup(), j.stopTries)
			sv.finish(j)
			continue
		}
		if err := sv.killCgroup(j.Cgroup()); err != nil {
			sv.logf("job %s: kill rest: %v", j.ID(), err)
		}
		j.stopTries++
		j.stopDeadline = now.Add(2 * time.Second)
	}
}
