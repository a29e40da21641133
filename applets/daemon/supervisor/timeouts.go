package supervisor

import (
	"container/heap"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"

	"golang.org/x/sys/unix"
)

// The RUN keys rm, wait, kill_on_detach, timeout and timeout_grace are
// the protocol's (core/proto/PROTOCOL.md, "RUN: new request keys"); the
// daemon does it all itself, so a client that dies leaves nothing behind.
// Time frozen by the pressure engine does not count against a timeout
// (it froze the job to save the host, not for its owner). Deadlines live
// in a heap served by one timerfd, rearmed to the earliest.

const (
	reasonTimeout = "timeout" // extension: job.kill of a --timeout
	reasonDetach  = "detach"  // extension: job.kill of --kill-on-detach
)

// jobStarted arms the timeout of a job that just started.
func (tm *timeouts) jobStarted(j *Job, now time.Time) {
	if j.Spec().Opts.Timeout > 0 {
		tm.schedule(j, now.Add(j.Spec().Opts.Timeout))
	}
}

// Detach: the client of j's RUN wait: 1 went away before its reply and
// before j ended; with kill_on_detach the job is stopped as a timeout is.
func (sv *Supervisor) Detach(j *Job) {
	defer sv.c.oc.enter("Detach")()
	sv.c.to.detach(j)
}

// detach stops j, with kill_on_detach, as its timeout would.
func (tm *timeouts) detach(j *Job) {
	if j.Spec().Opts.KillOnDetach && !j.IsEnded() {
		tm.stopJob(j, reasonDetach, time.Now())
	}
}

// HoldKind is how a client holds a job: Reading (a WAIT, a LOGS stream)
// or Attached (a RUN wait: 1 connection, whose last Release before the
// end detaches the job: kill_on_detach).
type HoldKind int

const (
	Reading HoldKind = iota
	Attached
)

// Hold counts a client that holds j, in the one count of j's clients: an
// rm job is removed only once none is left.
func (sv *Supervisor) Hold(j *Job, kind HoldKind) {
	defer sv.c.oc.enter("Hold")()
	j.readers++
	if kind == Attached {
		j.attached++
	}
}

// Release ends a Hold of kind; the last Attached one of a job that has
// not ended detaches it, the last one of all lets an ended rm job go.
func (sv *Supervisor) Release(j *Job, kind HoldKind) {
	defer sv.c.oc.enter("Release")()
	if kind == Attached {
		if j.attached--; j.attached <= 0 {
			j.attached = 0
			sv.c.to.detach(j)
		}
	}
	if j.readers--; j.readers <= 0 {
		j.readers = 0
		sv.c.maybeRemove(j)
	}
}

// maybeRemove removes an ended rm job once no one reads it any more.
func (sv *core) maybeRemove(j *Job) {
	if !j.Spec().Opts.RM || !j.IsEnded() || sv.jobs[j.ID()] != j {
		return
	}
	if j.readers > 0 {
		return // Release comes back
	}
	if err := j.Cgroup().Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Left as an ended job: REMOVE can take it later.
		sv.logf("job %s: rm: %v", j.ID(), err)
		return
	}
	sv.forget(j, "removed")
}

// trimEnded removes the oldest ended jobs of j's owner, not root nor the
// daemon's user, past --max-user-ended (package retain) as REMOVE does.
func (sv *core) trimEnded(j *Job) {
	uid := j.Spec().UID
	if uid == 0 || int(uid) == sv.cfg.EUID || sv.jobs[j.ID()] != j {
		return
	}
	for _, x := range sv.ended.Add(uid, j, func(x *Job) bool { return sv.jobs[x.ID()] == x }, func(x *Job) bool { return x.readers > 0 }) {
		if err := x.Cgroup().Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			sv.logf("job %s: --max-user-ended: %v", x.ID(), err) // kept: REMOVE can take it later
			continue
		}
		sv.logf("job %s: removed: uid %d has more than %d ended jobs (--max-user-ended)", x.ID(), uid, sv.ended.Max)
		sv.forget(x, "removed")
	}
}

// stopJob stops a running job: SIGTERM, then SIGKILL after its grace.
func (tm *timeouts) stopJob(j *Job, why string, now time.Time) {
	if j.IsEnded() || j.MainGone() || j.stopStage > 0 {
		return
	}
	j.StopFor(why)
	if j.Spec().Opts.Grace == 0 {
		tm.stopKill(j)
		return
	}
	j.stopStage = 1
	if err := tm.sv.killJob(j, int(unix.SIGTERM), why); err != nil {
		tm.sv.logf("job %s: %s: SIGTERM: %v", j.ID(), why, err)
	}
	tm.schedule(j, now.Add(j.Spec().Opts.Grace))
}

func (tm *timeouts) stopKill(j *Job) {
	j.stopStage = 2
	if err := tm.sv.killJob(j, int(unix.SIGKILL), j.StopReason()); err != nil {
		tm.sv.logf("job %s: %s: SIGKILL: %v", j.ID(), j.StopReason(), err)
	}
}

// onDeadline runs for a job whose deadline came: its timeout (if the
// engine froze it meanwhile, the deadline moves by that time) or the end
// of its grace.
func (tm *timeouts) onDeadline(j *Job, now time.Time) {
	if j.IsEnded() || j.MainGone() {
		return
	}
	switch j.stopStage {
	case 0:
		if left := j.Spec().Opts.Timeout - j.Ran(now); left > 0 {
			if j.EngineFrozen() {
				left = max(left, time.Second) // re-checked while frozen
			}
			tm.schedule(j, now.Add(left))
			return
		}
		tm.stopJob(j, reasonTimeout, now)
	case 1:
		tm.stopKill(j)
	}
}

// figures reads a job's end figures (finish, before job.exit); me is
// memory.events as finish read it (meOK false: not read). A figure whose
// file cannot be read is unknown, never 0.
func (sv *core) figures(j *Job, me cgroup.MemoryEvents, meOK bool) job.Figures {
	var f job.Figures
	f.CPUUsec, f.CPUOK = j.Cgroup().CPUUsage()
	if j.noMemory {
		return f
	}
	if v, err := j.Cgroup().Read(cgroup.FileMemoryPeak); err == nil {
		f.MemPeak, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		f.PeakOK = err == nil
	}
	if meOK {
		_, kills, _ := j.OOM()
		f.OOMKills, f.OOMOK = max(me.OOMKill, kills), true
	}
	return f
}

// ---- deadlines ----

type deadline struct {
	at  time.Time
	job *Job
}

type deadlines []deadline

func (h deadlines) Len() int { return len(h) }

func (h deadlines) Less(a, b int) bool { return h[a].at.Before(h[b].at) }

func (h deadlines) Swap(a, b int) { h[a], h[b] = h[b], h[a] }

func (h *deadlines) Push(x any) { *h = append(*h, x.(deadline)) }

func (h *deadlines) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return x
}

// schedule adds a deadline for j (onDeadline runs then) and rearms.
func (tm *timeouts) schedule(j *Job, at time.Time) {
	heap.Push(&tm.due, deadline{at: at, job: j})
	tm.rearmDeadlines(time.Now())
}

// onDeadlineTimer serves every deadline that has come.
func (tm *timeouts) onDeadlineTimer(now time.Time) {
	for tm.due.Len() > 0 && !tm.due[0].at.After(now) {
		dl := heap.Pop(&tm.due).(deadline)
		tm.onDeadline(dl.job, now)
	}
	tm.rearmDeadlines(now)
}

// rearmDeadlines sets the alarm to the earliest deadline of a job that
// is still running (ended jobs' deadlines are dropped here).
func (tm *timeouts) rearmDeadlines(now time.Time) {
	h := &tm.due
	for h.Len() > 0 && ((*h)[0].job.IsEnded() || (*h)[0].job.MainGone()) {
		heap.Pop(h)
	}
	var next time.Time
	if h.Len() > 0 {
		next = (*h)[0].at
	}
	if tm.alarm == nil {
		if next.IsZero() {
			return
		}
		a, err := tm.sv.lp.NewAlarm(tm.onDeadlineTimer)
		if err != nil {
			tm.sv.logf("timeouts: %v", err)
			return
		}
		tm.alarm = a
	}
	if err := tm.alarm.Set(next, now); err != nil {
		tm.sv.logf("timeouts: arm timer: %v", err)
	}
}
