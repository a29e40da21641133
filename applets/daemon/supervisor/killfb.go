package supervisor

import (
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/loop"

	"golang.org/x/sys/unix"
)

// The kill fallback (kernels before 5.14 have no cgroup.kill, or
// --kill-fallback) as a state of the loop, never a wait on it: each kill
// is one KillRound (freeze, SIGKILL every pid, thaw) now, then another
// every fallbackRound while the cgroup is still populated, for at most
// fallbackTimeout. A job's end is still seen the usual way (pidfd,
// cgroup.events populated 0); the rounds only make sure that children
// forked during a round die too.

const (
	fallbackRound   = 10 * time.Millisecond
	fallbackTimeout = 2 * time.Second
)

// fallbackKill is a kill by the fallback in progress.
type fallbackKill struct {
	deadline time.Time
	rounds   int
}

// startFallbackKill runs the first round on cg and follows it with more
// until the cgroup is empty.
func (kl *killer) startFallbackKill(cg cgroup.Dir) error {
	if err := cg.KillRound(); err != nil {
		return err
	}
	if ev, err := cg.Events(); err == nil && !ev.Populated {
		cg.ClearStaleFrozen()
		return nil
	}
	if kl.fbKills == nil {
		kl.fbKills = map[cgroup.Dir]*fallbackKill{}
	}
	if k := kl.fbKills[cg]; k != nil {
		k.rounds++
		return nil
	}
	kl.fbKills[cg] = &fallbackKill{deadline: time.Now().Add(fallbackTimeout), rounds: 1}
	kl.armFallback(true)
	return nil
}

// onFallbackTick runs the next round of every fallback kill in progress.
func (kl *killer) onFallbackTick(now time.Time) {
	for cg, k := range kl.fbKills {
		ev, err := cg.Events()
		switch {
		case err != nil || !ev.Populated:
			// Empty (or gone): done.
			cg.ClearStaleFrozen()
			delete(kl.fbKills, cg)
		case now.After(k.deadline):
			pids, _ := cg.Procs()
			kl.sv.logf("kill %s: still populated after %d rounds in %v (pids %v)", cg, k.rounds, fallbackTimeout, pids)
			delete(kl.fbKills, cg)
		default:
			if err := cg.KillRound(); err != nil {
				kl.sv.debugf("kill %s: round %d: %v", cg, k.rounds+1, err)
			}
			k.rounds++
		}
	}
	if len(kl.fbKills) == 0 {
		kl.armFallback(false)
	}
}

// armFallback starts or stops the round timer.
func (kl *killer) armFallback(on bool) {
	if kl.fbFD < 0 {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			kl.sv.logf("kill fallback: timerfd: %v", err)
			return
		}
		if err := kl.sv.lp.Add(fd, unix.EPOLLIN, func(uint32) {
			loop.DrainTimer(fd)
			kl.onFallbackTick(time.Now())
		}); err != nil {
			unix.Close(fd)
			kl.sv.logf("kill fallback: epoll add timer: %v", err)
			return
		}
		kl.fbFD = fd
	}
	var its unix.ItimerSpec
	if on {
		its.Value = unix.NsecToTimespec(fallbackRound.Nanoseconds())
		its.Interval = its.Value
	}
	if err := unix.TimerfdSettime(kl.fbFD, 0, &its, nil); err != nil {
		kl.sv.logf("kill fallback: arm timer: %v", err)
	}
}
