package daemon

import (
	"container/heap"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"
	"cgroupd/core/loop"
	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// RUN keys of `cgroupctl run --rm/--timeout/--wait/--attach` (extensions;
// a v1 peer never sends them):
//
//   - rm: 1 — the job is removed (cgroup and record, job.cleanup
//     result=removed; the log follows --log-retain) as soon as it has ended,
//     its WAIT waiters were answered, its LOGS followers have read to the
//     end and no client holds it (wait: 1 below). Done by the daemon, so a
//     client that dies leaves nothing behind either.
//   - wait: 1 — the RUN's connection stays open after its ok block
//     (id pid cgroup) and, when the job ends, gets a second block: WAIT's
//     answer (with the figures below). The connection holds the job (for
//     rm) until the client closes it, so an attached client can read the
//     whole log first.
//   - kill_on_detach: 1 (needs wait: 1) — if that connection closes before
//     the job ended (the client was killed, its terminal went away), the
//     job is stopped as a timeout is: SIGTERM, SIGKILL after timeout_grace;
//     job.kill reason=detach.
//   - timeout: D — a job still running D after its start (Go duration or
//     whole seconds; at most maxRunTimeout) gets SIGTERM, then SIGKILL
//     timeout_grace later (default 10s; 0: SIGKILL at once); its job.kill
//     events carry reason=timeout, and it ends killed or failed as the
//     signals decide. Time spent frozen by the pressure engine does not
//     count (the engine froze it to save the host, not the job's owner);
//     time frozen by a client does (the client chose to hold it).
//
// Deadlines live in a heap served by one timerfd of their own, rearmed to
// the earliest; nothing waits on the loop.
//
// The end figures: job.exit gets, appended after its v1 keys, run_ms
// (start to exit of the main process), cpu_usec (cpu.stat usage_usec),
// memory_peak (memory.peak, Linux 5.19, memory controller) and oom_kills
// (memory.events oom_kill). A figure the daemon cannot know is absent,
// never 0. WAIT's answer carries the same keys.

const (
	maxRunTimeout       = 365 * 24 * time.Hour
	defaultTimeoutGrace = 10 * time.Second
	reasonTimeout       = "timeout" // extension: job.kill of a --timeout
	reasonDetach        = "detach"  // extension: job.kill of --kill-on-detach
)

// jobOpts is a job's share of the extensions (the entry field x).
type jobOpts struct {
	stopStage int    // 0; 1: SIGTERM sent; 2: SIGKILL sent
	stopWhy   string // reason of the stop in progress
	holds     int    // wait: 1 connections still open
}

// optsState is the daemon's share (the daemon field opts).
type optsState struct {
	alarm   *loop.Alarm // the earliest deadline (nil until first use)
	due     deadlines
	held    map[*conn]*entry    // wait: 1 connections and their job
	rmAfter map[*entry]struct{} // rm jobs waiting for their readers
}

// parseRunOpts reads the extension keys into s (parseRun calls it).
func parseRunOpts(r *proto.Request, s *runSpec) *refusal {
	flag := func(key string) (bool, *refusal) {
		v, ok := r.Get(key)
		switch {
		case !ok || v == "0":
			return false, nil
		case v == "1":
			return true, nil
		}
		return false, refuse(fmt.Sprintf("%s: want 0 or 1, got %q", key, proto.Cut(v)), "id", s.ID)
	}
	o := &s.Opts
	var rf *refusal
	if o.RM, rf = flag("rm"); rf != nil {
		return rf
	}
	if o.Wait, rf = flag("wait"); rf != nil {
		return rf
	}
	if o.KillOnDetach, rf = flag("kill_on_detach"); rf != nil {
		return rf
	}
	if o.KillOnDetach && !o.Wait {
		return refuse("kill_on_detach: needs wait: 1 (a connection to detach from)", "id", s.ID)
	}
	dur := func(key string, min time.Duration) (time.Duration, bool, *refusal) {
		v, ok := r.Get(key)
		if !ok {
			return 0, false, nil
		}
		d, err := parseTimeout(v)
		if err != nil {
			return 0, true, refuse(key+": "+err.Error(), "id", s.ID)
		}
		if d < min || d > maxRunTimeout {
			return 0, true, refuse(fmt.Sprintf("%s: %v: want at least %v and at most %v", key, d, min, maxRunTimeout), "id", s.ID)
		}
		return d, true, nil
	}
	var err *refusal
	if o.Timeout, _, err = dur("timeout", time.Millisecond); err != nil {
		return err
	}
	g, set, err := dur("timeout_grace", 0)
	if err != nil {
		return err
	}
	o.Grace = defaultTimeoutGrace
	if set {
		o.Grace = g
	}
	return nil
}

// replyRun answers a RUN whose job started: its ok block once the job's
// record is written (journal.go: a job a client heard of survives a
// crash), and with wait: 1 the connection stays open for the end block
// (run and the queue call it). The hold counts from now: an rm job that
// ends before the reply is out still waits for its client.
func (d *daemon) replyRun(c *conn, j *entry) {
	ok := runOK(j)
	if !j.Spec().Opts.Wait || c.closed {
		d.journal.After(func() { d.reply(c, ok) })
		if j.Spec().Opts.Wait {
			d.detached(j) // gone before its reply
		}
		return
	}
	if d.opts.held == nil {
		d.opts.held = map[*conn]*entry{}
	}
	d.opts.held[c] = j
	j.x.holds++
	d.journal.After(func() {
		if !c.closed {
			d.send(c, ok)
		}
	})
}

// jobStarted arms the timeout of a job that just started.
func (d *daemon) jobStarted(j *entry, now time.Time) {
	if j.Spec().Opts.Timeout > 0 {
		d.schedule(j, now.Add(j.Spec().Opts.Timeout))
	}
}

// jobEnded runs at the end of finish: it answers the wait: 1
// connections (end block), then removes an rm job if nothing holds it.
func (d *daemon) jobEnded(j *entry) {
	for c, hj := range d.opts.held {
		if hj != j {
			continue
		}
		if d.quitting {
			// A shutdown waits for every connection: close this one.
			delete(d.opts.held, c)
			j.x.holds--
			d.replyRecorded(c, j)
			continue
		}
		// Sent once the end is on record, as WAIT's answer (journal.go).
		end := d.waitResponse(j)
		d.journal.After(func() {
			if !c.closed {
				d.send(c, end)
			}
		})
	}
	d.maybeRemove(j)
}

// connClosed is closeConn's hook: a wait: 1 connection that closes before
// its job ended detaches from it; one that closes after releases it.
func (d *daemon) connClosed(c *conn) {
	if j := d.opts.held[c]; j != nil {
		delete(d.opts.held, c)
		j.x.holds--
		if !j.IsEnded() {
			d.detached(j)
		}
	}
	for j := range d.opts.rmAfter {
		d.maybeRemove(j)
	}
}

// detached: the client that held j went away before it ended.
func (d *daemon) detached(j *entry) {
	if j.Spec().Opts.KillOnDetach && j.x.holds == 0 && !j.IsEnded() {
		d.stopJob(j, reasonDetach, time.Now())
	}
}

// maybeRemove removes an ended rm job once no one reads it any more.
func (d *daemon) maybeRemove(j *entry) {
	if !j.Spec().Opts.RM || !j.IsEnded() || d.jobs[j.ID()] != j {
		delete(d.opts.rmAfter, j)
		return
	}
	if len(j.waiters) > 0 || len(j.followers) > 0 || j.x.holds > 0 {
		if d.opts.rmAfter == nil {
			d.opts.rmAfter = map[*entry]struct{}{}
		}
		d.opts.rmAfter[j] = struct{}{}
		return
	}
	delete(d.opts.rmAfter, j)
	if err := j.Cgroup().Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Left as an ended job: REMOVE can take it later.
		d.logf("job %s: rm: %v", j.ID(), err)
		return
	}
	d.forget(j, "removed")
}

// stopJob stops a running job: SIGTERM, then SIGKILL after its grace.
func (d *daemon) stopJob(j *entry, why string, now time.Time) {
	if j.IsEnded() || j.MainGone() || j.x.stopStage > 0 {
		return
	}
	j.x.stopWhy = why
	if j.Spec().Opts.Grace == 0 {
		d.stopKill(j)
		return
	}
	j.x.stopStage = 1
	if err := d.killJob(j, int(unix.SIGTERM), why); err != nil {
		d.logf("job %s: %s: SIGTERM: %v", j.ID(), why, err)
	}
	d.schedule(j, now.Add(j.Spec().Opts.Grace))
}

func (d *daemon) stopKill(j *entry) {
	j.x.stopStage = 2
	if err := d.killJob(j, int(unix.SIGKILL), j.x.stopWhy); err != nil {
		d.logf("job %s: %s: SIGKILL: %v", j.ID(), j.x.stopWhy, err)
	}
}

// onDeadline runs for a job whose deadline came: its timeout (if the
// engine froze it meanwhile, the deadline moves by that time) or the end
// of its grace.
func (d *daemon) onDeadline(j *entry, now time.Time) {
	if j.IsEnded() || j.MainGone() {
		return
	}
	switch j.x.stopStage {
	case 0:
		if left := j.Spec().Opts.Timeout - j.Ran(now); left > 0 {
			if j.EngineFrozen() {
				left = max(left, time.Second) // re-checked while frozen
			}
			d.schedule(j, now.Add(left))
			return
		}
		d.stopJob(j, reasonTimeout, now)
	case 1:
		d.stopKill(j)
	}
}

// figures reads a job's end figures (finish, before job.exit); me is
// memory.events as finish read it (meOK false: not read). A figure whose
// file cannot be read is unknown, never 0.
func (d *daemon) figures(j *entry, me cgroup.MemoryEvents, meOK bool) job.Figures {
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
	job *entry
}

type deadlines []deadline

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(a, b int) bool { return h[a].at.Before(h[b].at) }
func (h deadlines) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *deadlines) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlines) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return x
}

// schedule adds a deadline for j (onDeadline runs then) and rearms.
func (d *daemon) schedule(j *entry, at time.Time) {
	heap.Push(&d.opts.due, deadline{at: at, job: j})
	d.rearmDeadlines(time.Now())
}

// onDeadlineTimer serves every deadline that has come.
func (d *daemon) onDeadlineTimer(now time.Time) {
	for d.opts.due.Len() > 0 && !d.opts.due[0].at.After(now) {
		dl := heap.Pop(&d.opts.due).(deadline)
		d.onDeadline(dl.job, now)
	}
	d.rearmDeadlines(now)
}

// rearmDeadlines sets the alarm to the earliest deadline of a job that
// is still running (ended jobs' deadlines are dropped here).
func (d *daemon) rearmDeadlines(now time.Time) {
	h := &d.opts.due
	for h.Len() > 0 && ((*h)[0].job.IsEnded() || (*h)[0].job.MainGone()) {
		heap.Pop(h)
	}
	var next time.Time
	if h.Len() > 0 {
		next = (*h)[0].at
	}
	if d.opts.alarm == nil {
		if next.IsZero() {
			return
		}
		a, err := d.lp.NewAlarm(d.onDeadlineTimer)
		if err != nil {
			d.logf("timeouts: %v", err)
			return
		}
		d.opts.alarm = a
	}
	if err := d.opts.alarm.Set(next, now); err != nil {
		d.logf("timeouts: arm timer: %v", err)
	}
}
