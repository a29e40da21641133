package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SetFrozen writes cgroup.freeze (does not wait for "frozen 1").
func (d Dir) SetFrozen(frozen bool) error {
	v := "0"
	if frozen {
		v = "1"
	}
	return d.Write(FileFreeze, v)
}

// Kill writes 1 to cgroup.kill; ErrNoKill when the file is missing.
func (d Dir) Kill() error {
	err := d.Write(FileKill, "1")
	if isNotExist(err) {
		// ENOENT: kernel < 5.14 has no cgroup.kill; the caller falls back
		// to KillFallback (freeze+kill+thaw).
		return fmt.Errorf("%w: %w", ErrNoKill, err)
	}
	return err
}

// KillRound is one round of the kill without cgroup.kill, and never
// waits: freeze (so that tasks stop forking), SIGKILL every pid in d and
// its descendants, thaw (fatal signals kill frozen tasks too; the thaw
// leaves the cgroup as cgroup.kill would). A task that forked between the
// listing and its kill leaves a child for the next round: the caller
// repeats rounds until cgroup.events says populated 0. ENOENT on
// cgroup.freeze (kernel < 5.2) is not an error: the rounds catch the forks.
func (d Dir) KillRound() error {
	frozeErr := d.SetFrozen(true)
	if frozeErr != nil && !isNotExist(frozeErr) {
		return frozeErr
	}
	killErr := d.Signal(int(unix.SIGKILL))
	if frozeErr == nil {
		if err := d.SetFrozen(false); err != nil && !isNotExist(err) {
			return err
		}
	}
	return killErr
}

// ClearStaleFrozen is clearStaleFrozen for callers of KillRound, once the
// cgroup is empty.
func (d Dir) ClearStaleFrozen() { d.clearStaleFrozen() }

// Fallback timing: the whole kill is bounded by killTimeout; inside a round
// cgroup.events is re-read on each change notification, at least every
// pollMax.
const (
	killTimeout   = 2 * time.Second
	freezeTimeout = 100 * time.Millisecond
	pollMax       = 20 * time.Millisecond
)

// KillFallback kills every process in d and its descendants without
// cgroup.kill: freeze, SIGKILL every pid in cgroup.procs, thaw; repeated
// until no pid is left (bounded number of rounds).
//
// Between rounds it polls cgroup.events for "populated 0" with a short
// backoff; after about 2 s it gives up with an error naming the pids left.
// It blocks: for tests and tools. The daemon drives KillRound from its
// event loop instead.
func (d Dir) KillFallback() error {
	deadline := time.Now().Add(killTimeout)
	for round := 1; ; round++ {
		// Freeze first so nothing forks while we list and kill. ENOENT:
		// kernel < 5.2 has no cgroup.freeze; kill anyway and rely on the
		// rounds to catch children forked in between.
		frozeErr := d.SetFrozen(true)
		if frozeErr != nil && !isNotExist(frozeErr) {
			return frozeErr
		}
		if frozeErr == nil {
			// Freezing is not instant; a task still running could fork.
			d.waitEvents(time.Now().Add(freezeTimeout), func(ev Events) bool { return ev.Frozen || !ev.Populated })
		}
		killErr := d.Signal(int(unix.SIGKILL))
		// Fatal signals kill frozen tasks too; thaw anyway so the cgroup
		// is left as it would be after cgroup.kill.
		if frozeErr == nil {
			if err := d.SetFrozen(false); err != nil && !isNotExist(err) {
				return err
			}
		}
		if killErr != nil {
			return killErr
		}
		roundEnd := time.Now().Add(250 * time.Millisecond)
		if roundEnd.After(deadline) {
			roundEnd = deadline
		}
		if d.waitEvents(roundEnd, func(ev Events) bool { return !ev.Populated }) {
			if frozeErr == nil {
				d.clearStaleFrozen()
			}
			return nil
		}
		if !time.Now().Before(deadline) {
			pids, _ := d.allProcs()
			return fmt.Errorf("kill %s: %d rounds, still populated after %v (pids %v)", d, round, killTimeout, pids)
		}
	}
}

// clearStaleFrozen: when the last task dies while a thaw is in flight the
// kernel can leave an empty, thawed cgroup reporting "frozen 1" in
// cgroup.events for good (seen on 6.18 under load, about 1 run in 300;
// writing 0 again does not clear it). Freezing and thawing the now empty
// cgroup, which touches no task, makes the kernel recompute the flag.
func (d Dir) clearStaleFrozen() {
	if ev, err := d.Events(); err == nil && ev.Frozen && !ev.Populated {
		if d.SetFrozen(true) == nil {
			d.SetFrozen(false)
		}
	}
}

// WaitEmpty waits (on cgroup.events change notifications) until d has no
// process left, at most timeout; it reports whether d is empty (or gone).
// It blocks: for tests and tools, never the daemon's loop.
func (d Dir) WaitEmpty(timeout time.Duration) bool {
	if ev, err := d.Events(); err != nil || !ev.Populated {
		return true
	}
	return d.waitEvents(time.Now().Add(timeout), func(ev Events) bool { return !ev.Populated })
}

// waitEvents re-reads cgroup.events until done returns true (true) or the
// deadline passes (false), waiting for the kernel's change notification
// (POLLPRI on cgroup.events) between reads, at most pollMax at a time. A
// missing or unreadable cgroup.events counts as done when no process is
// left in cgroup.procs of the subtree (fake trees).
func (d Dir) waitEvents(deadline time.Time, done func(Events) bool) bool {
	fd, ferr := unix.Open(d.path(FileEvents), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if ferr == nil {
		defer unix.Close(fd)
	}
	for {
		ev, err := d.Events()
		if err == nil && done(ev) {
			return true
		}
		if err != nil {
			if pids, perr := d.allProcs(); perr == nil && len(pids) == 0 {
				return true
			}
		}
		now := time.Now()
		if !now.Before(deadline) {
			return false
		}
		if ferr != nil {
			return false // no cgroup.events to be notified on
		}
		wait := min(deadline.Sub(now), pollMax)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		unix.Poll(pfd, int(max(wait.Milliseconds(), 1)))
	}
}

// Signal sends sig to every process in d (and descendants).
// A process that exits between listing and signalling (ESRCH) is skipped.
func (d Dir) Signal(sig int) error {
	var first error
	err := d.walk(func(c Dir) error {
		pids, err := c.Procs()
		if err != nil {
			if isNotExist(err) {
				return nil // removed while walking
			}
			return err
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, unix.Signal(sig)); err != nil && err != unix.ESRCH && first == nil {
				first = fmt.Errorf("kill %d (%s): %w", pid, unix.SignalName(unix.Signal(sig)), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return first
}

// walk calls fn for d and every descendant directory, parents first.
func (d Dir) walk(fn func(Dir) error) error {
	return filepath.WalkDir(string(d), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p != string(d) && errors.Is(err, fs.ErrNotExist) {
				return nil // a child cgroup removed while walking
			}
			return err
		}
		if !e.IsDir() {
			return nil
		}
		return fn(Dir(p))
	})
}

// allProcs returns the pids of d and its descendants.
func (d Dir) allProcs() ([]int, error) {
	var all []int
	err := d.walk(func(c Dir) error {
		pids, err := c.Procs()
		if err != nil && !isNotExist(err) {
			return err
		}
		all = append(all, pids...)
		return nil
	})
	return all, err
}

// Procs returns the pids in cgroup.procs.
func (d Dir) Procs() ([]int, error) {
	s, err := d.Read(FileProcs)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid %q", d.path(FileProcs), f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Attach writes pid into cgroup.procs.
func (d Dir) Attach(pid int) error { return d.Write(FileProcs, strconv.Itoa(pid)) }
