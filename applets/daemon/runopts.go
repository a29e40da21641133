package daemon

import (
	"container/heap"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

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

// runOpts are the extension keys of one RUN.
type runOpts struct {
	rm, wait, killOnDetach bool
	timeout, grace         time.Duration
}

// jobOpts is a job's share of the extensions (the job field x).
type jobOpts struct {
	runOpts
	startT    time.Time     // when it started (its timeout counts from here)
	engSince  time.Time     // frozen by the pressure engine since (zero: not)
	engFrozen time.Duration // total time frozen by the engine before engSince
	stopStage int           // 0; 1: SIGTERM sent; 2: SIGKILL sent
	stopWhy   string        // reason of the stop in progress
	holds     int           // wait: 1 connections still open

	// End figures (figures); the ok flags say which are known.
	cpuUsec, memPeak, oomKills uint64
	cpuOK, peakOK, oomOK       bool
	figured                    bool
}

// optsState is the daemon's share (the daemon field opts).
type optsState struct {
	alarm   *loop.Alarm // the earliest deadline (nil until first use)
	due     deadlines
	held    map[*conn]*job    // wait: 1 connections and their job
	rmAfter map[*job]struct{} // rm jobs waiting for their readers
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
	if o.rm, rf = flag("rm"); rf != nil {
		return rf
	}
	if o.wait, rf = flag("wait"); rf != nil {
		return rf
	}
	if o.killOnDetach, rf = flag("kill_on_detach"); rf != nil {
		return rf
	}
	if o.killOnDetach && !o.wait {
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
	if o.timeout, _, err = dur("timeout", time.Millisecond); err != nil {
		return err
	}
	g, set, err := dur("timeout_grace", 0)
	if err != nil {
		return err
	}
	o.grace = defaultTimeoutGrace
	if set {
		o.grace = g
	}
	return nil
}

// replyRun answers a RUN whose job started: its ok block once the job's
// record is written (journal.go: a job a client heard of survives a
// crash), and with wait: 1 the connection stays open for the end block
// (run and the queue call it). The hold counts from now: an rm job that
// ends before the reply is out still waits for its client.
func (d *daemon) replyRun(c *conn, j *job) {
	ok := runOK(j)
	if !j.x.wait || c.closed {
		d.afterJournal(func() { d.reply(c, ok) })
		if j.x.wait {
			d.detached(j) // gone before its reply
		}
		return
	}
	if d.opts.held == nil {
		d.opts.held = map[*conn]*job{}
	}
	d.opts.held[c] = j
	j.x.holds++
	d.afterJournal(func() {
		if !c.closed {
			d.send(c, ok)
		}
	})
}

// jobStarted arms the timeout of a job that just started.
func (d *daemon) jobStarted(j *job, now time.Time) {
	j.x.startT = now
	if j.x.timeout > 0 {
		d.schedule(j, now.Add(j.x.timeout))
	}
}

// frozenBy keeps the time a job spends frozen by the engine (freezeJob
// and thawJob call it with the reason in force, "" once thawed).
func (x *jobOpts) frozenBy(reason string, now time.Time) {
	engine := reason != "" && reason != reasonClient
	switch {
	case engine && x.engSince.IsZero():
		x.engSince = now
	case !engine && !x.engSince.IsZero():
		x.engFrozen += now.Sub(x.engSince)
		x.engSince = time.Time{}
	}
}

// ran is how long the job has run for its timeout: since its start, less
// the time the engine kept it frozen.
func (x *jobOpts) ran(now time.Time) time.Duration {
	t := now.Sub(x.startT) - x.engFrozen
	if !x.engSince.IsZero() {
		t -= now.Sub(x.engSince)
	}
	return t
}

// jobEnded runs at the end of finish: it answers the wait: 1
// connections (end block), then removes an rm job if nothing holds it.
func (d *daemon) jobEnded(j *job) {
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
		d.afterJournal(func() {
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
		if !j.isEnded() {
			d.detached(j)
		}
	}
	for j := range d.opts.rmAfter {
		d.maybeRemove(j)
	}
}

// detached: the client that held j went away before it ended.
func (d *daemon) detached(j *job) {
	if j.x.killOnDetach && j.x.holds == 0 && !j.isEnded() {
		d.stopJob(j, reasonDetach, time.Now())
	}
}

// maybeRemove removes an ended rm job once no one reads it any more.
func (d *daemon) maybeRemove(j *job) {
	if !j.x.rm || !j.isEnded() || d.jobs[j.id] != j {
		delete(d.opts.rmAfter, j)
		return
	}
	if len(j.waiters) > 0 || len(j.followers) > 0 || j.x.holds > 0 {
		if d.opts.rmAfter == nil {
			d.opts.rmAfter = map[*job]struct{}{}
		}
		d.opts.rmAfter[j] = struct{}{}
		return
	}
	delete(d.opts.rmAfter, j)
	if err := j.cg.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Left as an ended job: REMOVE can take it later.
		d.logf("job %s: rm: %v", j.id, err)
		return
	}
	d.forget(j, "removed")
}

// stopJob stops a running job: SIGTERM, then SIGKILL after its grace.
func (d *daemon) stopJob(j *job, why string, now time.Time) {
	if j.isEnded() || j.mainGone() || j.x.stopStage > 0 {
		return
	}
	j.x.stopWhy = why
	if j.x.grace == 0 {
		d.stopKill(j)
		return
	}
	j.x.stopStage = 1
	if err := d.killJob(j, int(unix.SIGTERM), why); err != nil {
		d.logf("job %s: %s: SIGTERM: %v", j.id, why, err)
	}
	d.schedule(j, now.Add(j.x.grace))
}

func (d *daemon) stopKill(j *job) {
	j.x.stopStage = 2
	if err := d.killJob(j, int(unix.SIGKILL), j.x.stopWhy); err != nil {
		d.logf("job %s: %s: SIGKILL: %v", j.id, j.x.stopWhy, err)
	}
}

// onDeadline runs for a job whose deadline came: its timeout (if the
// engine froze it meanwhile, the deadline moves by that time) or the end
// of its grace.
func (d *daemon) onDeadline(j *job, now time.Time) {
	if j.isEnded() || j.mainGone() {
		return
	}
	switch j.x.stopStage {
	case 0:
		if left := j.x.timeout - j.x.ran(now); left > 0 {
			if !j.x.engSince.IsZero() {
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

// figures reads a job's end figures once (finish, before job.exit); me is
// memory.events as finish read it (meOK false: not read).
func (d *daemon) figures(j *job, me cgroup.MemoryEvents, meOK bool) {
	x := &j.x
	if x.figured {
		return
	}
	x.figured = true
	x.cpuUsec, x.cpuOK = j.cg.CPUUsage()
	if j.noMemory {
		return
	}
	if v, err := j.cg.Read(cgroup.FileMemoryPeak); err == nil {
		x.memPeak, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		x.peakOK = err == nil
	}
	if meOK {
		x.oomKills, x.oomOK = max(me.OOMKill, j.oomKillCount), true
	}
}

// figureKV is the end figures as key, value pairs (job.exit, WAIT); only
// those known.
func (j *job) figureKV() []string {
	x := &j.x
	if !x.figured {
		return nil
	}
	var kv []string
	if j.startMono > 0 && j.exitMono >= j.startMono {
		kv = append(kv, "run_ms", strconv.FormatInt(j.exitMono-j.startMono, 10))
	}
	if x.cpuOK {
		kv = append(kv, "cpu_usec", u64(x.cpuUsec))
	}
	if x.peakOK {
		kv = append(kv, "memory_peak", u64(x.memPeak))
	}
	if x.oomOK {
		kv = append(kv, "oom_kills", u64(x.oomKills))
	}
	return kv
}

// addFigures appends j's end figures to a response.
func addFigures(r *proto.Response, j *job) *proto.Response {
	kv := j.figureKV()
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	return r
}

// ---- deadlines ----

type deadline struct {
	at  time.Time
	job *job
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
func (d *daemon) schedule(j *job, at time.Time) {
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
	for h.Len() > 0 && ((*h)[0].job.isEnded() || (*h)[0].job.mainGone()) {
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
