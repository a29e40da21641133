package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cgroupd/applets/daemon/handoff"

	"golang.org/x/sys/unix"
)

// In-place upgrade (UPGRADE, SIGUSR2): the daemon re-executes its binary
// from its path (typically a newly copied file) in the same process, so
// the jobs stay its children and their pidfds stay open: statuses of jobs
// that end after the upgrade are exact.
//
//  1. preflight: the new file is run once (`-V`, off the loop); if it
//     cannot start, the old image keeps running and the requester gets
//     `upgrade failed` with the reason;
//  2. quiesce: new connections wait in the listen backlog, complete
//     requests are held unanswered, and the daemon waits (on its loop,
//     at most upgradeQuiesce) until no spawn, FREEZE/THAW confirmation or
//     kill fallback round is in flight and every record is written;
//  3. hand-off, once the loop has stopped: each part describes its own
//     state (package handoff): the root its locks, the supervisor every
//     job's pidfds, the server the listening socket and every open
//     connection (with what it was doing: a held or partial request, a
//     reply being sent, WAIT, RUN wait: 1, LOGS --follow at its offset,
//     EVENTS --follow with its filters, a queued RUN), in a memfd whose
//     number is in $CGROUPD_UPGRADE_FD, their close-on-exec flag cleared,
//     and execve runs the file;
//  4. the new image takes them over, replays the journal with the pidfds
//     (the supervisor's adoption) and carries on each connection; the
//     requester gets `STATUS: ok` with `pid`, `from` and `to` (versions).
//
// If execve itself fails, the flags are restored and the old image goes
// on. Nothing starts over: the event ring (EVENTS' history), the count of
// dropped event lines, the metrics counters and the engine's demotions
// are handed over too, and the engine's freezes are its own again (the
// record keeps who froze a job). From an image older than those lines,
// they start over, as after a crash.

const (
	upgradeEnv     = "CGROUPD_UPGRADE_FD"
	upgradeQuiesce = 10 * time.Second
	upgradeCheck   = 10 * time.Second
)

// Version is the daemon's version, set by main (-ldflags).
var Version = "unknown"

// upgrade is an UPGRADE or SIGUSR2 in progress.
type upgrade struct {
	active   bool      // preflight or quiesce in progress
	ready    bool      // preflight passed: quiescing
	due      bool      // nothing in flight: the loop stopped for the exec
	deadline time.Time // quiesce gives up then
	checkFD  int       // read end of the preflight's result pipe
}

// beginUpgrade starts the preflight: the new file runs once with -V in a
// goroutine, which reports through a pipe. requested: an UPGRADE request
// (the server holds the requester), else SIGUSR2.
func (d *daemon) beginUpgrade(requested bool) error {
	switch {
	case d.quitting:
		return errors.New("shutting down")
	case d.up.active:
		return errors.New("an upgrade is in progress")
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	self := d.self
	go func() {
		msg := "ok"
		if out, err := runOnce(self, "cgroupbox", "-V"); err != nil { // argv[0]: whatever the file is called
			msg = fmt.Sprintf("%s -V: %v: %s", self, err, strings.TrimSpace(string(out)))
		}
		unix.Write(p[1], []byte(msg))
		unix.Close(p[1])
	}()
	if err := d.lp.Add(p[0], unix.EPOLLIN, func(uint32) { d.onPreflight(p[0]) }); err != nil {
		unix.Close(p[0])
		return err
	}
	d.up = upgrade{active: true, deadline: time.Now().Add(upgradeCheck + upgradeQuiesce), checkFD: p[0]}
	d.logf("upgrade: checking %s", self)
	return nil
}

// runOnce runs path with argv, its stdout and stderr into one pipe, and
// waits for it (the preflight's goroutine, never the loop); the error
// says how it ended if not with 0.
func runOnce(path string, argv ...string) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	p, err := os.StartProcess(path, argv, &os.ProcAttr{Files: []*os.File{null, w, w}})
	w.Close()
	null.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	out, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	r.Close()
	st, err := p.Wait()
	if err == nil && !st.Success() {
		err = errors.New(st.String())
	}
	return out, err
}

func (d *daemon) onPreflight(fd int) {
	var buf [4096]byte
	n, _ := unix.Read(fd, buf[:])
	d.lp.Remove(fd)
	unix.Close(fd)
	d.up.checkFD = -1
	msg := string(buf[:max(n, 0)])
	if msg != "ok" {
		if msg == "" {
			msg = "preflight gave no answer"
		}
		d.failUpgrade(errors.New(msg))
		return
	}
	d.up.ready = true
	d.up.deadline = time.Now().Add(upgradeQuiesce)
	d.srv.Quiesce()
}

// failUpgrade gives up: the old image goes on.
func (d *daemon) failUpgrade(err error) {
	d.logf("upgrade failed: %v", err)
	d.up = upgrade{checkFD: -1}
	d.srv.UpgradeFailed(err)
}

// upgradeDue is the loop's stop predicate while quiescing: true once no
// spawn, FREEZE/THAW confirmation or kill fallback round is in flight and
// every record is written; past the deadline the upgrade fails.
func (d *daemon) upgradeDue() bool {
	if !d.up.ready {
		return false
	}
	if d.sup.Busy() || d.srv.Busy() {
		if time.Now().After(d.up.deadline) {
			d.failUpgrade(errors.New("still busy (spawns, freezes or kills in flight) after " + upgradeQuiesce.String()))
		}
		return false
	}
	d.up.due = true
	return true
}

// execUpgrade runs after the loop stopped for the upgrade: replies that
// waited on the last records are queued, each part hands over its state
// and the binary is executed. It returns only when execve failed
// (everything restored, the old image goes on).
func (d *daemon) execUpgrade() {
	d.journal.RunWaiters() // replies that waited on the last records
	d.srv.FlushQueued()
	h := handoff.New(Version)
	h.Locks = d.lockFDs
	keep := append([]int(nil), d.lockFDs...)
	fds, ids := d.sup.Handoff(h)
	keep = append(keep, fds...)
	keep = append(keep, d.srv.Handoff(h)...)
	// EVENTS' history, events_dropped and the metrics counters go on.
	h.Events = d.events.Ring()
	h.Dropped = d.events.Dropped()
	d.metrics.Handoff(h)
	err := d.exec(h.Encode(ids), keep, len(ids), len(h.Conns))
	d.failUpgrade(fmt.Errorf("exec %s: %w", d.self, err))
}

// exec writes the hand-over to a memfd, clears close-on-exec of the fds
// to keep and execs the binary; it returns only when execve failed.
func (d *daemon) exec(desc []byte, keep []int, jobs, conns int) error {
	mfd, err := unix.MemfdCreate("cgroupd-upgrade", 0)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if _, err := unix.Write(mfd, desc); err != nil {
		return err
	}
	if _, err := unix.Seek(mfd, 0, 0); err != nil {
		return err
	}
	for _, fd := range keep {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	}
	env := append(os.Environ(), upgradeEnv+"="+strconv.Itoa(mfd))
	d.logf("upgrade: executing %s (%d jobs, %d connections)", d.self, jobs, conns)
	d.sink.Flush(time.Second)
	err = syscall.Exec(d.self, os.Args, env)
	for _, fd := range keep {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	return err
}

// readHandoff reads the description the old image left ($CGROUPD_UPGRADE_FD),
// and unsets the variable so that jobs never see it.
func readHandoff() (*handoff.Handoff, error) {
	v := os.Getenv(upgradeEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(upgradeEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q", upgradeEnv, v)
	}
	f := os.NewFile(uintptr(fd), "upgrade")
	defer f.Close()
	h, err := handoff.Decode(f)
	if h != nil {
		// Everything handed over is close-on-exec again: jobs never get it.
		for _, fd := range h.FDs() {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return h, err
}
