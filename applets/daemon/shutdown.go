package daemon

import (
	"errors"
	"io/fs"
	"os"
	"sort"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/core/loop"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// beginShutdown (SIGTERM, SIGINT, QUIT): stop accepting, drop connections
// that have not sent a request, SIGKILL every live job. The loop keeps
// running so that jobs are reaped and WAITs answered as they end; it stops
// once no job is live and every reply is sent, or after shutdownWait.
func (d *daemon) beginShutdown() {
	if d.quitting {
		return
	}
	d.cancelAllPending("shutting down")
	d.sdStopping()
	d.quitting = true
	d.closeListener()
	for _, c := range d.conns {
		if c.state == connReading {
			d.closeConn(c)
		}
	}
	for _, j := range d.sortedJobs() {
		if !j.IsEnded() && !j.MainGone() {
			if err := d.killJob(j, int(unix.SIGKILL), reasonShutdown); err != nil {
				d.logf("shutdown: kill job %s: %v", j.ID(), err)
			}
		}
	}
	// Counted from after the kills: thousands of cgroup.kill writes take
	// seconds of their own.
	d.quitDeadline = time.Now().Add(shutdownWait)
}

// maybeDone ends the loop once a shutdown has nothing left to wait for.
func (d *daemon) maybeDone() {
	if d.quitting && len(d.liveJobs) == 0 && len(d.starting) == 0 && len(d.conns) == 0 {
		d.done = true
	}
}

// shutdownFinal runs after the loop: every job gets its job.exit (forced
// for jobs that would not die in time), every job cgroup is removed with a
// job.cleanup, the socket is gone.
func (d *daemon) shutdownFinal() {
	d.closeListener()
	for _, j := range d.sortedJobs() {
		if j.IsEnded() {
			continue
		}
		if !j.MainGone() {
			st, ok, err := spawn.Reap(j.pidfd)
			if err != nil || !ok {
				st = spawn.Status{Signal: int(unix.SIGKILL)}
			}
			d.closePidFD(&j.pidfd)
			d.advance(j, func(m *job.Job) error { return m.MainExited(st, "", time.Now(), monoMs()) })
		}
		d.finish(j)
	}
	for _, j := range d.sortedJobs() {
		for _, s := range j.services {
			if s.pidfd >= 0 {
				spawn.Reap(s.pidfd)
				d.closePidFD(&s.pidfd)
			}
		}
		err := j.Cgroup().Remove()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.logf("shutdown: remove %s: %v", j.Cgroup(), err)
			d.emitJob(&hub.Event{Type: "job.cleanup"}, j, "id", j.ID(), "result", "failed", "cgroup", string(j.Cgroup()))
			continue
		}
		d.forget(j, "removed")
	}
	d.retryGraves()
	d.journal.Close() // the records of the removed jobs are deleted
	d.closeAll()
}

// sortedJobs returns every job in start order.
func (d *daemon) sortedJobs() []*entry {
	out := make([]*entry, 0, len(d.jobs))
	for _, j := range d.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Seq() < out[b].Seq() })
	return out
}

// closeListener stops accepting and removes the socket file.
func (d *daemon) closeListener() {
	if d.lfd < 0 {
		return
	}
	if d.lp != nil {
		d.lp.Remove(d.lfd)
	}
	unix.Close(d.lfd)
	d.lfd = -1
	if err := os.Remove(d.sockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.logf("remove socket: %v", err)
	}
}

// closeAll releases every fd (start failure or end of shutdown).
func (d *daemon) closeAll() {
	d.closeListener()
	for _, c := range d.conns {
		d.closeConn(c)
	}
	if d.watcher != nil {
		d.watcher.Close()
	}
	for _, tr := range d.triggers {
		if tr.fd >= 0 {
			unix.Close(tr.fd)
			tr.fd = -1
		}
	}
	if d.spawner != nil {
		d.lp.Remove(d.spawner.efd)
		d.spawner.close()
		d.spawner = nil
	}
	if d.fbFD >= 0 {
		unix.Close(d.fbFD)
		d.fbFD = -1
	}
	for _, a := range []**loop.Alarm{&d.wake, &d.opts.alarm, &d.top.alarm} {
		if *a != nil {
			(*a).Close()
			*a = nil
		}
	}
	d.sdClose()
	d.logs.Close()
	for _, fd := range d.lockFDs {
		unix.Close(fd)
	}
	d.lockFDs = nil
	if d.lp != nil {
		d.lp.Close()
	}
}
