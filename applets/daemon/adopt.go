package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/journal"
	"cgroupd/core/cgroup"

	"golang.org/x/sys/unix"
)

// Adoption: a daemon that starts where another one died (SIGKILL, a crash,
// the OOM killer) or re-executed itself (UPGRADE) replays the job records
// of the journal and reconciles them with the cgroup tree:
//
//   - a record of an ended job is the job, as it ended;
//   - a running job whose main process is still there (the same pid, the
//     same start time, still in the job's cgroup) is adopted: a pidfd on it,
//     watches, the engine's candidate again. After a crash it is not our
//     child, so how it ends is known only if we kill it (killed, signal 9);
//     otherwise it ends with exit_known 0. After an upgrade it still is our
//     child and its pidfd was handed over: its status is exact;
//   - a running job whose main process is gone ended while no daemon
//     watched: it ends now with exit_known 0, exit_reason ended_while_down
//     (or reboot), after what is left in its cgroup is killed;
//   - a cgroup under the root that no record names is reported (event
//     cgroup.unknown and a log line) and left alone;
//   - a record that cannot be read is reported (event state.corrupt) and
//     skipped.

// defaultStateDir: /run/cgroupd/<root> for root; $XDG_RUNTIME_DIR/cgroupd
// or /tmp/cgroupd-<uid> for others. <root> is the root below the cgroup2
// mount with "/" as "-".
func defaultStateDir(euid int, mount string, root cgroup.Dir, getenv func(string) string) string {
	rel, err := filepath.Rel(mount, string(root))
	if err != nil || rel == "." {
		rel = "root"
	}
	name := strings.ReplaceAll(rel, "/", "-")
	if euid == 0 {
		return filepath.Join("/run/cgroupd", name)
	}
	if x := getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "cgroupd", name)
	}
	return filepath.Join(fmt.Sprintf("/tmp/cgroupd-%d", euid), name)
}

// lockDir takes an exclusive flock on dir, refusing a second daemon.
func lockDir(dir, what string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return -1, fmt.Errorf("%s %s is in use by another cgroupd (locked)", what, dir)
		}
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	return fd, nil
}

// openState locks the root and the state dir and opens the journal. An
// upgraded daemon inherits the locked fds (h non-nil).
func (d *daemon) openState(h *handoff) error {
	if h != nil {
		d.lockFDs = h.locks
	} else {
		fd, err := lockDir(string(d.root), "cgroup root")
		if err != nil {
			return err
		}
		d.lockFDs = append(d.lockFDs, fd)
	}
	d.bootID = readBootID()
	dir := d.cfg.StateDir
	if dir == "none" {
		return nil
	}
	if dir == "" {
		dir = defaultStateDir(d.euid, d.mount, d.root, os.Getenv)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if h == nil {
		fd, err := lockDir(dir, "state dir")
		if err != nil {
			return err
		}
		d.lockFDs = append(d.lockFDs, fd)
	}
	jn, err := journal.Open(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	d.journal, d.stateDir = jn, dir
	return nil
}

// adopt replays the records and reconciles them with the cgroup tree
// (before the daemon accepts clients). handed are the pidfds an upgrading
// daemon passed on, by job id.
func (d *daemon) adopt(handed map[string]*handedJob) {
	if d.journal == nil {
		d.reportStrays()
		return
	}
	t0 := time.Now()
	type loaded struct {
		j    *entry
		meta job.Meta
	}
	var jobs []loaded
	err := d.journal.Replay(func(r journal.Record) {
		if len(jobs)%1000 == 999 {
			// The daemon's memory is locked (protect.go): a heap peak
			// stays resident. Collect the files read so far as we go.
			runtime.GC()
		}
		err := r.Err
		var m *job.Job
		var meta job.Meta
		if err == nil {
			m, meta, err = job.Decode(r.Data, r.ID, d.root)
		}
		if err != nil {
			d.logf("state: record %s skipped: %v", r.Path, err)
			d.emit(&hub.Event{Type: "state.corrupt"}, "file", r.Path, "detail", err.Error())
			return
		}
		jobs = append(jobs, loaded{newEntry(m), meta})
	})
	if err != nil {
		d.logf("state dir: %v", err)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].j.Seq() < jobs[b].j.Seq() })
	var adopted, ended, gone int
	for _, l := range jobs {
		switch d.restore(l.j, l.meta, handed[l.j.ID()]) {
		case job.Running:
			adopted++
		case job.Ended:
			ended++
		default:
			gone++
		}
	}
	d.reportStrays()
	if len(jobs) > 1000 {
		// Reading thousands of records left garbage the heap would keep
		// for minutes: give it back now (once, at start; the records
		// themselves are dropped when this returns).
		defer debug.FreeOSMemory()
	}
	if len(jobs) > 0 {
		d.logf("state: %d jobs from %s in %v: %d running adopted, %d ended, %d ended while no daemon ran",
			len(jobs), d.stateDir, time.Since(t0).Round(time.Millisecond), adopted, ended, gone)
	}
}

// restore puts a loaded job back: ended as recorded, running adopted, or
// ended now with an unknown status. It returns the phase it is in after.
func (d *daemon) restore(j *entry, meta job.Meta, h *handedJob) job.Phase {
	d.jobs[j.ID()] = j
	d.seq = max(d.seq, j.Seq())
	d.logs.Started(j.Log()) // not a removed job's log: never pruned
	if meta.Phase == job.Ended {
		d.apply(j, func(m *job.Job) error { return m.Restore(job.Ended, false, "") }) // as recorded
		d.maybeRemove(j)                                                              // --rm: the old daemon died before it could
		return job.Ended
	}
	pidfd, why := -1, ""
	switch {
	case h != nil:
		pidfd = h.pidfd // our child still: its status will be exact
	case meta.BootID != d.bootID:
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
		d.resume(j, job.Stopping, false, "")
		return job.Stopping
	}
	if pidfd < 0 {
		d.resume(j, job.Stopping, false, why)
		return job.Stopping
	}
	j.pidfd = pidfd
	d.pidfds++
	if err := d.lp.Add(pidfd, unix.EPOLLIN, func(uint32) { d.onMainExit(j); d.maybeDone() }); err != nil {
		d.logf("job %s: epoll add pidfd: %v", j.ID(), err)
	}
	if h != nil {
		for _, fd := range h.services {
			s := &service{pidfd: fd}
			j.services = append(j.services, s)
			d.pidfds++
			if err := d.lp.Add(fd, unix.EPOLLIN, func(uint32) { d.onServiceExit(j, s) }); err != nil {
				d.logf("job %s: epoll add service: %v", j.ID(), err)
			}
		}
	}
	d.resume(j, job.Running, h == nil, "")
	return job.Running
}

// resume makes a restored job live again in phase p (notChild: adopted
// after a crash; unknown: why its status is not known): watches, state,
// engine; a stopping job has the rest of its cgroup killed.
func (d *daemon) resume(j *entry, p job.Phase, notChild bool, unknown string) {
	d.liveJobs[j] = struct{}{}
	d.apply(j, func(m *job.Job) error { return m.Restore(p, notChild, unknown) }) // as recorded; what follows records
	_, err := os.Stat(string(j.Cgroup()))
	if err != nil && p != job.Running {
		d.finish(j) // nothing left to kill
		return
	}
	if err == nil {
		if err := d.watchCgroup(j); err != nil {
			d.logf("job %s: %v", j.ID(), err)
		}
	}
	if j.Log() != "" {
		if err := d.logStarted(j); err != nil {
			d.logf("job %s: watch log: %v", j.ID(), err)
		}
	}
	if p != job.Running {
		d.stopRest(j)
		return
	}
	if ev, err := j.Cgroup().Events(); err == nil && ev.Frozen {
		old := j.State()
		j.SetFrozen(true)
		d.recount(j, old, j.State())
		if res, ok := strings.CutPrefix(j.FrozenBy(), "pressure_"); ok && d.engine != nil {
			d.engine.FrozenBefore(j.ID(), res, j.Spec().Priority, time.Now())
		}
	}
	// --timeout counts from the start, as recorded (the time the engine
	// kept it frozen before the restart is not known any more: counted).
	startUnix, _, _, _ := j.Times()
	d.jobStarted(j, time.UnixMilli(startUnix))
	kv := []string{"id", j.ID(), "pid", strconv.Itoa(j.Pid()), "priority", strconv.Itoa(j.Spec().Priority), "cgroup", string(j.Cgroup())}
	if j.Adopted() {
		kv = append(kv, "exit_known", "0")
	}
	d.emitJob(&hub.Event{Type: "job.adopt"}, j, kv...)
	d.checkMemEvents(j, false) // OOM kills while no daemon watched
}

// verifyPid opens a pidfd on the recorded main process and checks it is
// still that process (start time) in the job's cgroup; -1 and the reason
// when it is not.
func verifyPid(j *entry) (int, string) {
	const gone = "ended_while_down"
	if j.Pid() <= 0 {
		return -1, gone
	}
	fd, err := unix.PidfdOpen(j.Pid(), 0)
	if err != nil {
		return -1, gone
	}
	ok := true
	if j.PidStart() != "" {
		st, err := pidStart(j.Pid())
		ok = err == nil && strconv.FormatUint(st, 10) == j.PidStart()
	}
	if ok {
		ok = inCgroup(j.Pid(), j.Cgroup())
	}
	if ok {
		// Checked after the pidfd was opened: if the process is still
		// alive now, the checks were about the process the pidfd holds.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(pfd, 0)
		ok = n == 0
	}
	if !ok {
		unix.Close(fd)
		return -1, gone
	}
	return fd, ""
}

// inCgroup tells whether pid's cgroup v2 path ends with cg's path below
// the mount (/proc/<pid>/cgroup "0::/path").
func inCgroup(pid int, cg cgroup.Dir) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p != "/" && strings.HasSuffix(string(cg), p)
		}
	}
	return false
}

// reportStrays reports the cgroups under the root no job is known for.
func (d *daemon) reportStrays() {
	ents, err := os.ReadDir(string(d.root))
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		// .control: systemd's cgroup for ExecReload= and the like in a
		// delegated unit.
		if !e.IsDir() || name == daemonLeaf || d.jobs[name] != nil || strings.HasPrefix(name, ".") {
			continue
		}
		cg := d.root.Child(name)
		populated := "0"
		if ev, err := cg.Events(); err == nil && ev.Populated {
			populated = "1"
		}
		if d.strays == nil {
			d.strays = map[string]bool{}
		}
		d.strays[name] = true
		d.logf("unknown cgroup %s: no job record; left alone (populated %s)", cg, populated)
		d.emit(&hub.Event{Type: "cgroup.unknown"}, "cgroup", string(cg), "populated", populated)
	}
}
