package daemon

import (
	"strconv"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/limits"
	"cgroupd/core/proto"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// Job states of PROTOCOL.md.
const (
	statePending = "pending"
	stateRunning = "running"
	stateFrozen  = "frozen"
	stateExited  = "exited"
	stateFailed  = "failed"
	stateKilled  = "killed"
)

// Reasons of EVENTS.md; the pressure engine passes its own.
const (
	reasonClient   = "client"
	reasonShutdown = "shutdown" // extension: kills done by a daemon shutdown
)

// Notify watch kinds.
const (
	watchEvents    = iota // cgroup.events: populated, frozen
	watchMemEvents        // memory.events: oom_kill
	watchLog              // the job's log file, while LOGS --follow readers wait
)

type watch struct {
	job  *job
	kind int
}

// job is one RUN. All fields are owned by the loop goroutine.
type job struct {
	id       string
	seq      uint64 // start order
	uid, gid uint32
	cg       cgroup.Dir
	priority int
	state    string

	pid      int
	pidStart string // start time of pid (/proc/<pid>/stat): names the process in records
	pidfd    int    // -1 once reaped

	argv         []string         // the command (records, INSPECT)
	settings     []limits.Setting // the limits it was started with (records)
	services     []*service
	serviceCount int
	requireCount int
	ioMaxCount   int
	logPath      string
	logTrim      int64 // head of the log punched out up to here (logtrim.go)

	startUnix, startMono int64 // ms
	exitUnix, exitMono   int64 // ms, 0 until the job ended

	phase         phase        // where the job is in its lifecycle (lifecycle.go)
	status        spawn.Status // how main ended
	exitUnknown   string       // why status is not known ("": it is the kernel's)
	killSent      bool         // the daemon SIGKILLed the job (how an adopted job's end is known)
	adopted       bool         // not the daemon's child: taken over after a restart (adopt.go)
	stopDeadline  time.Time    // while stopping: retry the kill then
	stopTries     int          // kills sent after main ended
	oomKillCount  uint64       // memory.events oom_kill at the last job.oom
	oomGroup      bool         // memory.oom.group is 1: OOM kills take the whole job
	noMemory      bool         // no memory controller in the cgroup: no memory file to read
	emptied       bool         // cgroup.events said populated 0 (all its processes gone)
	oomGroupCount uint64       // memory.events oom_group_kill at the last job.oom
	frozenBy      string       // reason of the freeze in force ("" when thawed)
	cpuWeight     int          // weight the engine set (0: untouched)
	waiters       map[*conn]struct{}
	followers     map[*conn]struct{} // LOGS --follow streams

	wdEvents, wdMem, wdLog int // notify watch descriptors, -1 when none

	pend       *pendingRun // while pending: the RUN waiting for admission
	queuedUnix int64       // ms, when it was queued (0: never pending)

	x jobOpts // rm, wait, timeout, end figures (runopts.go)
}

// ageMs is the job's age at now (ms): since it started, or since it was
// queued while pending.
func (j *job) ageMs(now int64) int64 {
	if j.startUnix == 0 {
		return now - j.queuedUnix
	}
	return now - j.startUnix
}

// service is a sidecar process of a job.
type service struct {
	pid, pidfd int
}

// endState maps how the main process ended to a job state: exit 0 →
// exited; SIGKILL (client, OOM killer, pressure) → killed; any other
// signal or a non-zero exit → failed.
func endState(st spawn.Status) string {
	switch {
	case st.Signal == int(unix.SIGKILL):
		return stateKilled
	case st.Signal != 0 || st.Exit != 0:
		return stateFailed
	default:
		return stateExited
	}
}

// genID returns job-<n> for the smallest n >= *next that is not taken, and
// advances *next past it.
func genID(next *int, taken func(string) bool) string {
	if *next < 1 {
		*next = 1
	}
	for {
		id := "job-" + strconv.Itoa(*next)
		*next++
		if !taken(id) {
			return id
		}
	}
}

// monoMs is CLOCK_MONOTONIC in milliseconds.
func monoMs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return int64(ts.Sec)*1000 + int64(ts.Nsec)/1e6
}

// setState changes a job's state and keeps the STATS counters right.
func (d *daemon) setState(j *job, s string) {
	if j.state == s {
		return
	}
	d.countUser(j, j.state, s)
	switch j.state {
	case stateRunning:
		d.nRunning--
	case stateFrozen:
		d.nFrozen--
	}
	switch s {
	case stateRunning:
		d.nRunning++
	case stateFrozen:
		d.nFrozen++
	}
	j.state = s
}

// ---- actions: the client verbs and the pressure engine both use these ----

// freezeJob writes cgroup.freeze 1 and emits job.freeze with reason. The
// state becomes frozen when cgroup.events confirms it.
func (d *daemon) freezeJob(j *job, reason string) error {
	if err := j.cg.SetFrozen(true); err != nil {
		return err
	}
	j.frozenBy = reason
	j.x.frozenBy(reason, time.Now()) // runopts.go: engine freezes do not count for timeout
	d.record(j)
	d.emitJob("job.freeze", j, "id", j.id, "reason", reason, "cgroup", string(j.cg))
	d.checkEvents(j)
	return nil
}

// thawJob writes cgroup.freeze 0 and emits job.thaw with reason.
func (d *daemon) thawJob(j *job, reason string) error {
	if err := j.cg.SetFrozen(false); err != nil {
		return err
	}
	j.frozenBy = ""
	j.x.frozenBy("", time.Now())
	d.record(j)
	d.emitJob("job.thaw", j, "id", j.id, "reason", reason, "cgroup", string(j.cg))
	d.checkEvents(j)
	return nil
}

// killJob sends sig to every process of the job and emits job.kill.
// SIGKILL uses cgroup.kill (or the freeze+kill+thaw fallback).
func (d *daemon) killJob(j *job, sig int, reason string) error {
	var err error
	if sig == int(unix.SIGKILL) {
		err = d.killCgroup(j.cg)
		j.killSent = err == nil
	} else {
		err = j.cg.Signal(sig)
	}
	if err != nil {
		return err
	}
	d.emitJob("job.kill", j, "id", j.id, "signal", strconv.Itoa(sig), "reason", reason, "cgroup", string(j.cg))
	return nil
}

// throttleJob writes cpu.weight and emits job.throttle (pressure engine).
func (d *daemon) throttleJob(j *job, weight int, reason string) error {
	if err := j.cg.Write("cpu.weight", strconv.Itoa(weight)); err != nil {
		return err
	}
	j.cpuWeight = weight
	d.emitJob("job.throttle", j, "id", j.id, "resource", "cpu", "cpu_weight", strconv.Itoa(weight), "reason", reason, "cgroup", string(j.cg))
	return nil
}

// killCgroup SIGKILLs everything in cg: cgroup.kill, or the fallback when
// forced or when the kernel has none.
func (d *daemon) killCgroup(cg cgroup.Dir) error {
	if !d.cfg.KillFallback {
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
	return d.startFallbackKill(cg)
}

// ---- lifecycle ----

// onMainExit runs when the main pid's pidfd is readable.
func (d *daemon) onMainExit(j *job) {
	if j.mainGone() {
		return
	}
	st, ok, err := spawn.Reap(j.pidfd)
	if err != nil {
		// Not our child (adopted after a restart: ECHILD), so the kernel
		// tells us nothing of how it ended. Known only when we killed it.
		st = d.unknownEnd(j, err)
	} else if !ok {
		return // spurious wake-up
	}
	d.closePidFD(&j.pidfd)
	j.status = st
	d.advance(j, phaseStopping)
	j.exitUnix = time.Now().UnixMilli()
	j.exitMono = monoMs()
	d.debugf("job %s: main pid %d ended: exit %d signal %d", j.id, j.pid, st.Exit, st.Signal)
	d.stopRest(j)
}

// stopRest kills what is left in the job's cgroup (services, children) and
// finalises the job once cgroup.events says populated 0.
func (d *daemon) stopRest(j *job) {
	if j.emptied {
		d.finish(j)
		return
	}
	ev, err := j.cg.Events()
	if err == nil && !ev.Populated {
		d.finish(j)
		return
	}
	if err := d.killCgroup(j.cg); err != nil {
		d.logf("job %s: kill rest: %v", j.id, err)
	}
	j.stopTries++
	j.stopDeadline = time.Now().Add(2 * time.Second)
	d.stopping[j] = struct{}{}
	// The populated 0 notification may already have come and gone.
	if ev, err := j.cg.Events(); err == nil && !ev.Populated {
		d.finish(j)
		return
	}
	d.record(j) // the status, while the rest is being killed
}

// unknownEnd is the status of a job whose main process ended where the
// kernel tells us nothing (not our child: adopted after a restart; or
// gone while no daemon ran): SIGKILL when we killed it ourselves, else
// unknown (exit and signal 0, exit_known 0 with reason).
func (d *daemon) unknownEnd(j *job, err error) spawn.Status {
	if j.killSent {
		return spawn.Status{Signal: int(unix.SIGKILL)}
	}
	d.debugf("job %s: pid %d ended, status unknown: %v", j.id, j.pid, err)
	j.exitUnknown = "not_child"
	return spawn.Status{}
}

// unknownKeys are the extension keys of an end whose status is unknown:
// exit_known 0 and exit_reason (v1's exit and signal stay numbers, 0).
func (j *job) unknownKeys() []string {
	if j.exitUnknown == "" {
		return nil
	}
	return []string{"exit_known", "0", "exit_reason", j.exitUnknown}
}

// checkEvents reads cgroup.events of a job and acts on it: frozen state,
// deferred FREEZE/THAW replies, end of a job whose main pid is gone.
func (d *daemon) checkEvents(j *job) {
	if j.isEnded() {
		return
	}
	ev, err := j.cg.Events()
	if err != nil {
		d.debugf("job %s: read events: %v", j.id, err)
		return
	}
	if !j.mainGone() {
		if ev.Frozen && j.state == stateRunning {
			d.setState(j, stateFrozen)
		} else if !ev.Frozen && j.state == stateFrozen {
			d.setState(j, stateRunning)
		}
	}
	d.resolveFreezeOps(j, ev.Frozen)
	// Seen before main's exit is: no process is left, and none can come
	// back (only the daemon moves processes into a job), so stopRest
	// need not read it again.
	j.emptied = !ev.Populated
	if j.mainGone() && j.emptied {
		d.finish(j)
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
func (d *daemon) checkMemEvents(j *job, final bool) (me cgroup.MemoryEvents, ok bool) {
	if j.noMemory {
		return me, false
	}
	me, err := j.cg.MemoryEvents()
	if err != nil {
		return me, false
	}
	report := me.OOMKill > j.oomKillCount
	if j.oomGroup {
		report = me.OOMGroupKill > j.oomGroupCount || (final && report && j.oomGroupCount == 0)
	}
	if report {
		j.oomKillCount, j.oomGroupCount = me.OOMKill, me.OOMGroupKill
		d.emitJob("job.oom", j, "id", j.id, "cgroup", string(j.cg), "oom_kill_count", strconv.FormatUint(me.OOMKill, 10))
	}
	return me, true
}

// finish finalises an ended job: state, OOM figures, one job.exit, WAIT
// replies, watches and LOGS followers.
func (d *daemon) finish(j *job) {
	if j.isEnded() {
		return
	}
	// The kernel raises oom_kill before it sends the SIGKILL, so this read
	// sees every OOM kill of the job, even when the exit is handled before
	// the memory.events notification (which is dropped with the watch
	// below): job.oom always precedes job.exit.
	me, meOK := d.checkMemEvents(j, true)
	d.advance(j, phaseEnded)
	delete(d.stopping, j)
	delete(d.liveJobs, j)
	if d.engine != nil {
		d.engine.JobEnded(j.id)
	}
	d.setState(j, endStateName(j))
	oom := "0"
	if j.oomKillCount > 0 {
		oom = "1"
	}
	d.figures(j, me, meOK) // runopts.go: run_ms cpu_usec memory_peak oom_kills, appended
	kv := []string{"id", j.id, "state", j.state, "exit", strconv.Itoa(j.status.Exit),
		"signal", strconv.Itoa(j.status.Signal), "oom_killed", oom, "cgroup", string(j.cg),
		"start_unix_ms", strconv.FormatInt(j.startUnix, 10), "exit_unix_ms", strconv.FormatInt(j.exitUnix, 10)}
	d.emitJob("job.exit", j, append(append(kv, j.figureKV()...), j.unknownKeys()...)...)
	d.unwatch(j, &j.wdEvents)
	d.unwatch(j, &j.wdMem)
	d.resolveFreezeOps(j, false)
	// WAITs are answered once the end is on record: a status a client
	// was told is never lost by a crash.
	for c := range j.waiters {
		c.waitJob = nil
		d.replyRecorded(c, j)
	}
	j.waiters = nil
	for c := range j.followers {
		d.pumpLog(c)
	}
	d.logEnded(j)
	d.jobEnded(j) // runopts.go: wait: 1 end blocks, rm
}

// replyRecorded answers c's WAIT on ended job j once its end is written
// (journal.go); c stays busy until then.
func (d *daemon) replyRecorded(c *conn, j *job) {
	resp := d.waitResponse(j) // final: an rm job may be forgotten by then
	d.afterJournal(func() { d.reply(c, resp) })
}

// waitResponse is WAIT's answer for an ended job.
func (d *daemon) waitResponse(j *job) []byte {
	oom := "0"
	if j.oomKillCount > 0 {
		oom = "1"
	}
	r := addFigures(proto.OK().Add("id", j.id).Add("state", j.state).Add("exit", strconv.Itoa(j.status.Exit)).
		Add("signal", strconv.Itoa(j.status.Signal)).Add("oom_killed", oom), j)
	addKV(r, j.unknownKeys())
	return r.Bytes()
}

// closePidFD unregisters and closes a pidfd.
func (d *daemon) closePidFD(fd *int) {
	if *fd < 0 {
		return
	}
	d.lp.CloseFD(*fd)
	*fd = -1
	d.pidfds--
}

// onServiceExit reaps a sidecar; its status does not matter.
func (d *daemon) onServiceExit(j *job, s *service) {
	st, ok, err := spawn.Reap(s.pidfd)
	if !ok && err == nil {
		return
	}
	d.debugf("job %s: service pid %d ended: exit %d signal %d (err %v)", j.id, s.pid, st.Exit, st.Signal, err)
	d.closePidFD(&s.pidfd)
}

// housekeepStopping retries kills of jobs whose cgroup does not empty
// after main ended and, as a last resort, finalises them. Only jobs in
// that transition are looked at.
func (d *daemon) housekeepStopping(now time.Time) {
	for j := range d.stopping {
		ev, err := j.cg.Events()
		if err == nil && !ev.Populated {
			d.finish(j)
			continue
		}
		if now.Before(j.stopDeadline) {
			continue
		}
		if j.stopTries >= 5 {
			d.logf("job %s: cgroup %s still populated after %d kills; giving up waiting", j.id, j.cg, j.stopTries)
			d.finish(j)
			continue
		}
		if err := d.killCgroup(j.cg); err != nil {
			d.logf("job %s: kill rest: %v", j.id, err)
		}
		j.stopTries++
		j.stopDeadline = now.Add(2 * time.Second)
	}
}
