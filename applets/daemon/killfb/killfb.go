// Package killfb is the kill fallback: on kernels before 5.14 (no
// cgroup.kill), or with --kill-fallback, a cgroup is killed by rounds of
// freeze, SIGKILL every pid, thaw, as a state of the loop, never a wait on
// it: one KillRound now, then another every fallbackRound while the
// cgroup is still populated, for at most fallbackTimeout. A job's end is
// still seen the usual way (pidfd, cgroup.events populated 0); the rounds
// only make sure that children forked during a round die too.
package killfb

import (
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/loop"

	"golang.org/x/sys/unix"
)

// Killer is the rounds in progress. Only the loop touches it.
type Killer struct {
	lp           *loop.Loop
	logf, debugf func(string, ...any)
	kills        map[cgroup.Dir]*fallbackKill
	fd           int // their round timer (-1: none yet)
}

// New is a killer on loop lp.
func New(lp *loop.Loop, logf, debugf func(string, ...any)) *Killer {
	return &Killer{lp: lp, logf: logf, debugf: debugf, fd: -1}
}

// Busy reports whether a kill is in progress.
func (k *Killer) Busy() bool { return len(k.kills) > 0 }

// Close releases the round timer.
func (k *Killer) Close() {
	if k.fd >= 0 {
		unix.Close(k.fd)
		k.fd = -1
	}
}

const (
	fallbackRound   = 10 * time.Millisecond
	fallbackTimeout = 2 * time.Second
)

// fallbackKill is a kill by the fallback in progress.
type fallbackKill struct {
	deadline time.Time
	rounds   int
}

// Start runs the first round on cg and follows it with more
// until the cgroup is empty.
func (k *Killer) Start(cg cgroup.Dir) error {
	if err := cg.KillRound(); err != nil {
		return err
	}
	if ev, err := cg.Events(); err == nil && !ev.Populated {
		cg.ClearStaleFrozen()
		return nil
	}
	if k.kills == nil {
		k.kills = map[cgroup.Dir]*fallbackKill{}
	}
	if kk := k.kills[cg]; kk != nil {
		kk.rounds++
		return nil
	}
	k.kills[cg] = &fallbackKill{deadline: time.Now().Add(fallbackTimeout), rounds: 1}
	k.armFallback(true)
	return nil
}

// onFallbackTick runs the next round of every fallback kill in progress.
func (k *Killer) onFallbackTick(now time.Time) {
	for cg, kk := range k.kills {
		ev, err := cg.Events()
		switch {
		case err != nil || !ev.Populated:
			// Empty (or gone): done.
			cg.ClearStaleFrozen()
			delete(k.kills, cg)
		case now.After(kk.deadline):
			pids, _ := cg.Procs()
			k.logf("kill %s: still populated after %d rounds in %v (pids %v)", cg, kk.rounds, fallbackTimeout, pids)
			delete(k.kills, cg)
		default:
			if err := cg.KillRound(); err != nil {
				k.debugf("kill %s: round %d: %v", cg, kk.rounds+1, err)
			}
			kk.rounds++
		}
	}
	if len(k.kills) == 0 {
		k.armFallback(false)
	}
}

// armFallback starts or stops the round timer.
func (k *Killer) armFallback(on bool) {
	if k.fd < 0 {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			k.logf("kill fallback: timerfd: %v", err)
			return
		}
		if err := k.lp.Add(fd, unix.EPOLLIN, func(uint32) {
			loop.DrainTimer(fd)
			k.onFallbackTick(time.Now())
		}); err != nil {
			unix.Close(fd)
			k.logf("kill fallback: epoll add timer: %v", err)
			return
		}
		k.fd = fd
	}
	var its unix.ItimerSpec
	if on {
		its.Value = unix.NsecToTimespec(fallbackRound.Nanoseconds())
		its.Interval = its.Value
	}
	if err := unix.TimerfdSettime(k.fd, 0, &its, nil); err != nil {
		k.logf("kill fallback: arm timer: %v", err)
	}
}
