package supervisor

import (
	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/protect"
	"cgroupd/applets/daemon/spawner"
	"cgroupd/core/cgroup"
	"cgroupd/core/limits"
	"cgroupd/core/spawn"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdReserve is the fds kept free for connections and spawning.
const fdReserve = 128

// Start is a validated RUN: everything needed to start its job.
type Start struct {
	Spec         job.Spec
	Env          []string
	Cwd          string
	Services     []string
	QueueTimeout time.Duration // > 0: wait as a pending job while admission refuses
	SetCred      bool          // run as Spec.UID/GID with Groups
	Groups       []uint32
	Rlimits      []spawn.Rlimit // set on every process of the job before it runs
	// Lookup finds the executable (with the caller's rights), once the
	// checks before it passed.
	Lookup func() (string, error)
	// Stdio: the main process's fds 0, 1 and 2 (RUN --pipe, the caller's
	// own), in place of /dev/null and the log. The caller keeps them and
	// closes them once told Started or Refused.
	Stdio []int
	path  string
}

// Run starts the job of a validated RUN: the controllers its limits need,
// admission (a refusal, or with QueueTimeout a pending job), the
// executable, the fds, then the cgroup and the spawn. A refusal it can
// give at once is returned; otherwise Run returns the job (pending when
// queued) and an Outcome, Started or Refused, tells once it started or
// failed.
func (sv *Supervisor) Run(st *Start) (*Job, *Refusal) {
	defer sv.c.oc.enter("Run")()
	if sv.c.quitting {
		return nil, Refuse("shutting down")
	}
	if !sv.c.ids.Allowed(st.Spec.ID, sv.Taken) { // package jobid
		return nil, Refuse("id: "+st.Spec.ID+" is ahead of the automatic ids the daemon hands out", "next_id", sv.NewID())
	}
	if len(st.Spec.Settings) > 0 {
		enabled, err := sv.c.cfg.Root.SubtreeControl()
		if err != nil {
			return nil, Refuse("cannot read controllers of root", "detail", err.Error())
		}
		if s, ok := limits.Unavailable(st.Spec.Settings, enabled); ok {
			return nil, Refuse(fmt.Sprintf("%s: controller %s not available in %s", s.Key, s.Controller, sv.c.cfg.Root))
		}
	}
	b := sv.c.g.Admit()
	if b != nil && st.QueueTimeout == 0 {
		sv.c.g.Reject(b, st.Spec.ID)
		return nil, Refuse(b.Reason)
	}
	path, err := st.Lookup()
	if err != nil {
		return nil, spawnFailed(err, "")
	}
	st.path = path
	if rf := sv.c.sp.checkFDs(st); rf != nil {
		return nil, rf
	}
	j := newJob(job.Make(st.Spec))
	// An id of the automatic form is used up once its job exists, even
	// one a client named: the counter never hands it out later.
	sv.c.ids.Take(st.Spec.ID)
	if st.QueueTimeout > 0 && (b != nil || sv.c.rq.queue.Len() > 0) {
		// Blocked, or others are waiting already: queue it (queue.go).
		if b == nil {
			b = &guard.Block{Reason: "admission blocked: queued behind pending jobs"}
		}
		sv.c.rq.enqueue(j, &pendingRun{start: st, block: b})
		sv.c.rq.checkQueue(time.Now())
		return j, nil
	}
	sv.c.sp.spawnJob(j, st, func(rf *Refusal) { sv.c.oc.runDone(j, rf) })
	return j, nil
}

// spawnFailed is the refusal of a command that could not be started:
// spawn failed with the error as detail (after prefix), and, when the
// command was not found or is not executable, exec_error not_found or
// not_executable (extension), which a shell reports as 127 and 126.
func spawnFailed(err error, prefix string) *Refusal {
	rf := Refuse("spawn failed", "detail", prefix+err.Error())
	var de *spawn.DirError
	switch {
	case errors.As(err, &de): // the directory, not the command: no exec_error
	case errors.Is(err, spawn.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		rf.KV = append(rf.KV, "exec_error", "not_found")
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC):
		rf.KV = append(rf.KV, "exec_error", "not_executable")
	}
	return rf
}

// checkFDs refuses a job the open file limit has no room for: every job
// holds a pidfd (and one per service) while it runs, and every client
// connection an fd.
func (sp *spawns) checkFDs(st *Start) *Refusal {
	if uint64(sp.sv.pidfds+sp.startingFDs+len(st.Services)+1+sp.sv.cfg.Conns()+fdReserve) >= sp.sv.cfg.NoFile {
		return Refuse("too many jobs", "detail", fmt.Sprintf("open file limit %d reached", sp.sv.cfg.NoFile))
	}
	return nil
}

// attempt is a RUN being started: what it holds until its job runs, or
// until the RUN is refused and it is undone.
type attempt struct {
	j    *Job
	spec *Start
	logf *os.File // the job's log (nil: none, or closed)
	cgfd int      // the cgroup's directory fd for CLONE_INTO_CGROUP (-1: none)
}

// spawnJob creates j's cgroup, applies the limits and opens the log on the
// loop (prepare), then has the spawner start the services and the main
// argv off the loop (spawned); done runs on the loop with nil once j is a
// running job (job.start), or with the refusal (without the id key) after
// everything was undone. j is new, or a pending job whose turn came.
func (sp *spawns) spawnJob(j *Job, spec *Start, done func(*Refusal)) {
	if rf := sp.checkFDs(spec); rf != nil {
		done(rf)
		return
	}
	cg := j.Cgroup()
	// Marked before any process can be in it (mark.go).
	markErr, err := cg.CreateMarked(markXattr, intentXattr, []byte(markStart))
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			done(Refuse("id exists", "detail", "cgroup "+string(cg)+" exists"))
		} else {
			done(Refuse("spawn failed", "detail", "mkdir: "+err.Error()))
		}
		return
	}
	if markErr != nil {
		sp.sv.debugf("mark %s: %v", cg, markErr)
	}
	a := &attempt{j: j, spec: spec, cgfd: -1}
	if rf := sp.prepare(a); rf != nil {
		sp.undo(a, rf, nil, done)
		return
	}
	req := sp.request(a)
	nfd := len(req.Cmds)
	sp.starting[j.ID()] = j
	sp.startingFDs += nfd
	req.Done = func(r *spawner.Req) {
		delete(sp.starting, j.ID())
		sp.startingFDs -= nfd
		sp.spawned(a, r, done)
	}
	sp.spawner.Submit(req)
}

// prepare readies a's cgroup on the loop: the limits, what its priority
// buys, the watches, the OOM group, the log, the directory fd; a refusal
// leaves what it took in a, for undo.
func (sp *spawns) prepare(a *attempt) *Refusal {
	j, cg := a.j, a.j.Cgroup()
	for _, s := range a.spec.Spec.Settings {
		if err := cg.Write(s.File, s.Value); err != nil {
			return Refuse(fmt.Sprintf("%s: %v", s.Key, err))
		}
	}
	sp.sv.pt.Apply(j.ID(), cg, a.spec.Spec.Priority, a.spec.Spec.Settings)
	if err := sp.sv.watchCgroup(j); err != nil {
		return Refuse("too many jobs", "detail", err.Error())
	}
	if !j.noMemory {
		if ok, err := protect.SetOOMGroup(cg); err != nil {
			sp.sv.debugf("job %s: %v", j.ID(), err)
		} else {
			j.SetOOMGroup(ok)
		}
	}
	if sp.sv.logs != nil {
		logf, p, err := sp.sv.logs.Create(a.spec.Spec.ID)
		if err != nil {
			return Refuse("spawn failed", "detail", "log: "+err.Error())
		}
		a.logf = logf
		j.SetLog(p)
		if a.spec.SetCred {
			if err := logf.Chown(int(j.Spec().UID), int(j.Spec().GID)); err != nil {
				return Refuse("spawn failed", "detail", "log: "+err.Error())
			}
		}
		if err := sp.sv.logStarted(j); err != nil {
			return Refuse("too many jobs", "detail", "watch log: "+err.Error())
		}
	}
	fd, err := cg.OpenDir()
	if err != nil {
		return Refuse("spawn failed", "detail", "open cgroup: "+err.Error())
	}
	a.cgfd = fd
	return nil
}

// request is what the spawner starts for a: the services, then the main
// argv, each into the cgroup.
func (sp *spawns) request(a *attempt) *spawner.Req {
	j, spec := a.j, a.spec
	mk := func(path string, argv []string) *spawn.Cmd {
		return &spawn.Cmd{
			Path: path, Argv: argv, Env: spec.Env, Dir: spec.Cwd,
			SetCred: spec.SetCred, Uid: j.Spec().UID, Gid: j.Spec().GID, Groups: spec.Groups,
			Stdout: a.logf, Stderr: a.logf,
			CgroupFD: a.cgfd, CgroupPath: string(j.Cgroup()), Fallback: sp.sv.cfg.SpawnFallback, Self: sp.sv.cfg.Self,
			Rlimits: spec.Rlimits,
		}
	}
	req := &spawner.Req{Adj: protect.OOMScoreAdj(j.Spec().Priority, j.Spec().UID == 0)}
	for _, svc := range spec.Services {
		req.Cmds = append(req.Cmds, mk("/bin/sh", []string{"/bin/sh", "-c", svc}))
	}
	req.Cmds = append(req.Cmds, mk(spec.path, spec.Spec.Argv))
	req.Cmds[len(req.Cmds)-1].Stdio = spec.Stdio
	return req
}

// spawned takes the spawner's answer for a: a running job, or the RUN
// undone.
func (sp *spawns) spawned(a *attempt, r *spawner.Req, done func(*Refusal)) {
	j := a.j
	var started []int
	for _, p := range r.Procs {
		started = append(started, p.PidFD)
	}
	if r.Err != nil {
		prefix := ""
		if len(r.Procs) < len(a.spec.Services) {
			prefix = "service: "
		}
		sp.undo(a, spawnFailed(r.Err, prefix), started, done)
		return
	}
	main := r.Procs[len(r.Procs)-1]
	if err := sp.sv.lp.Add(main.PidFD, unix.EPOLLIN, func(uint32) { defer sp.sv.oc.enter("main exit")(); sp.sv.onMainExit(j) }); err != nil {
		sp.undo(a, Refuse("spawn failed", "detail", "epoll: "+err.Error()), started, done)
		return
	}
	a.logf.Close() // nil-safe: the processes hold their own copies
	unix.Close(a.cgfd)
	sp.sv.started(j, r.Procs, r.MainStart)
	done(nil) // Started: the server answers once the job is on record
	if sp.sv.quitting {
		// Started while the daemon shuts down: it goes with the rest.
		if err := sp.sv.killJob(j, int(unix.SIGKILL), ReasonShutdown); err != nil {
			sp.sv.logf("shutdown: kill job %s: %v", j.ID(), err)
		}
	}
}

// undo lets go what a took, abandons its cgroup, then refuses it (done).
func (sp *spawns) undo(a *attempt, rf *Refusal, started []int, done func(*Refusal)) {
	j := a.j
	if a.logf != nil {
		a.logf.Close()
	}
	if a.cgfd >= 0 {
		unix.Close(a.cgfd)
	}
	if j.Log() != "" {
		// A refused RUN leaves nothing behind, not even a log.
		if err := sp.sv.logs.Remove(j.Log()); err != nil {
			sp.sv.debugf("job %s: %v", j.ID(), err)
		}
		j.SetLog("")
	}
	sp.sv.w.unwatch(j, &j.wdEvents)
	sp.sv.w.unwatch(j, &j.wdMem)
	sp.sv.w.unwatch(j, &j.wdLog)
	j.services = nil
	sp.abandon(j.Cgroup(), started)
	done(rf)
}

// watchCgroup watches j's cgroup.events and, where the memory controller
// has it, memory.events (j.noMemory where it has not); the error names the
// file it could not watch.
func (sv *core) watchCgroup(j *Job) error {
	if err := sv.w.watchFile(j, filepath.Join(string(j.Cgroup()), cgroup.FileEvents), watchEvents, &j.wdEvents); err != nil {
		return fmt.Errorf("watch cgroup.events: %w", err)
	}
	err := sv.w.watchFile(j, filepath.Join(string(j.Cgroup()), cgroup.FileMemoryEvents), watchMemEvents, &j.wdMem)
	j.noMemory = errors.Is(err, unix.ENOENT)
	if err != nil && !j.noMemory {
		return fmt.Errorf("watch memory.events: %w", err)
	}
	return nil
}

// started makes j a running job with its processes (services first, main
// last, whose pidfd the loop already watches): job table, job.start.
func (sv *core) started(j *Job, procs []spawn.Proc, mainStart string) {
	main := procs[len(procs)-1]
	for _, sp := range procs[:len(procs)-1] {
		s := &service{pid: sp.Pid, pidfd: sp.PidFD}
		j.services = append(j.services, s)
		sv.pidfds++
		if err := sv.lp.Add(s.pidfd, unix.EPOLLIN, func(uint32) { defer sv.oc.enter("service exit")(); sv.onServiceExit(j, s) }); err != nil {
			sv.logf("job %s: epoll add service: %v", j.ID(), err)
		}
	}
	j.pidfd = main.PidFD
	sv.pidfds++
	now := time.Now()
	if j.Seq() == 0 {
		sv.seq++
	}
	sv.jobs[j.ID()] = j
	sv.liveJobs[j] = struct{}{}
	sv.apply(j, func(m *job.Job) error { return m.Start(main.Pid, mainStart, now, monoMs(), sv.seq) })
	sv.markStarted(j) // its record, on its cgroup too: before job.start and the reply
	sv.emitJob(&hub.Event{Type: "job.start"}, j, "id", j.ID(), "pid", strconv.Itoa(j.Pid()), "priority", strconv.Itoa(j.Spec().Priority), "cgroup", string(j.Cgroup()))
	sv.to.jobStarted(j, now) // its timeout
}

// abandon undoes a RUN that failed after mkdir: kill what started, rmdir.
// Nothing waits: each killed process is reaped when its pidfd says it
// exited, and a cgroup that is not empty yet is removed then (or on the
// housekeeping tick); it never becomes a job. removed: the cgroup is gone
// now, not left to a later tick.
func (sp *spawns) abandon(cg cgroup.Dir, pidfds []int) (removed bool) {
	if len(pidfds) > 0 {
		if err := sp.sv.killCgroup(cg); err != nil {
			sp.sv.debugf("abandon %s: kill: %v", cg, err)
		}
		for _, fd := range pidfds {
			sp.reapLater(fd)
		}
	}
	if err := cg.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		sp.sv.debugf("abandon %s: %v; retrying later", cg, err)
		sp.graves = append(sp.graves, cg)
		return false
	}
	return true
}

// reapLater reaps the child behind pidfd once it has exited, then retries
// the cgroups of refused RUNs. A pidfd the loop cannot watch is reaped on
// the housekeeping tick.
func (sp *spawns) reapLater(fd int) {
	done := func() bool {
		if _, ok, err := spawn.Reap(fd); !ok && err == nil {
			return false
		}
		unix.Close(fd)
		return true
	}
	if done() {
		return
	}
	err := sp.sv.lp.Add(fd, unix.EPOLLIN, func(uint32) {
		if _, ok, err := spawn.Reap(fd); !ok && err == nil {
			return // spurious wake-up
		}
		sp.sv.lp.Remove(fd)
		unix.Close(fd)
		sp.retryGraves()
	})
	if err != nil {
		sp.unreaped = append(sp.unreaped, fd)
	}
}

// retryGraves removes cgroups of refused RUNs that were still emptying,
// and reaps what reapLater could not watch.
func (sp *spawns) retryGraves() {
	kept := sp.unreaped[:0]
	for _, fd := range sp.unreaped {
		if _, ok, err := spawn.Reap(fd); !ok && err == nil {
			kept = append(kept, fd)
			continue
		}
		unix.Close(fd)
	}
	sp.unreaped = kept
	sp.removeGraves()
}

func (sp *spawns) removeGraves() {
	kept := sp.graves[:0]
	for _, cg := range sp.graves {
		if err := cg.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			kept = append(kept, cg)
		}
	}
	sp.graves = kept
}
