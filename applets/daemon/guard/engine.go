// Package guard is the pressure engine (applets/daemon/pressure) in the
// loop: its PSI triggers, the samples it is fed, its wake alarm, the
// actions it returns carried out through the job side, and admission.
package guard

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/psi"

	"golang.org/x/sys/unix"
)

// The pressure engine (applets/daemon/pressure) in the event loop.
//
// The engine is fed a sample of the root's memory.pressure, cpu.pressure
// and io.pressure (three small reads, never a per-job file):
//   - when a PSI trigger on one of those files fires (EPOLLPRI): one
//     trigger per resource whose rule is on (pressure.Config.Triggers),
//     registered with psi.OpenTriggerAdapt, which rounds the window up to
//     2 s where the daemon lacks CAP_SYS_RESOURCE (Linux >= 6.5); a trigger
//     that reports EPOLLERR (its cgroup went away) is closed for good;
//   - on the housekeeping tick (1 s);
//   - every Config.FastTick while the engine asks for it (NextObserve), on
//     a one-shot timerfd that also wakes the admission queue at its next
//     deadline.
// The actions it returns are carried out at once, each reported as
// EVENTS.md says: kill, freeze and demote with a `pressure` event (the spec
// keys, then the engine's explanation) followed by job.kill, job.freeze or
// one job.throttle per job, reason pressure_memory, pressure_io or
// pressure_cpu; a thaw by job.thaw and a weight restore by job.throttle,
// reason pressure_receded. A dry-run decision (--dry-run) gets its
// `pressure` event, ending in dry_run=1, and nothing else. A rule that
// matured with no eligible job is reported by a `pressure` event with an
// empty target and victim=none.

// trigger is one PSI trigger fd on a root pressure file.
type trigger struct {
	fd            int
	path          string
	full          bool
	stall, window time.Duration
}

// startEngine creates the engine, registers its PSI triggers and the wake
// timer. A trigger the kernel refuses is logged: the engine then samples
// on the ticks only.
func (g *Guard) startEngine() error {
	cfg := g.cfg.Engine
	g.checkPSI(&cfg)
	reclaim := g.startReclaim(&cfg)
	eng, err := pressure.New(cfg, g.jobs)
	if err != nil {
		return err
	}
	if reclaim {
		eng.Protect(g.cfg.Protect)
	}
	g.engine = eng
	g.limits = openLimits(string(g.cfg.Root))
	if g.lp == nil {
		return nil // no loop: fed by hand (Observe), as unit tests do
	}
	for _, t := range eng.Config().Triggers() {
		path := filepath.Join(string(g.cfg.Root), t.Resource+".pressure")
		if t.Host {
			path = filepath.Join(g.cfg.HostPressure, t.Resource)
			var st unix.Statfs_t
			if err := unix.Statfs(path, &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
				// --host-pressure names a copy (tests, containers):
				// a trigger would only write into it.
				g.debugf("pressure: no trigger on %s: not procfs", path)
				continue
			}
		}
		fd, stall, win, err := psi.OpenTriggerAdapt(path, t.Full, t.Stall, t.Window)
		if err != nil {
			g.cfg.Logf("pressure: no PSI trigger on %s (sampling every %v only): %v", path, time.Second, err)
			continue
		}
		tr := &trigger{fd: fd, path: path, full: t.Full, stall: stall, window: win}
		if err := g.lp.Add(fd, unix.EPOLLPRI, func(ev uint32) { g.onTrigger(tr, ev) }); err != nil {
			unix.Close(fd)
			return fmt.Errorf("epoll add psi trigger %s: %w", path, err)
		}
		g.triggers = append(g.triggers, tr)
		kind := "some"
		if t.Full {
			kind = "full"
		}
		g.debugf("pressure: trigger on %s: %s %v per %v", path, kind, stall, win)
	}
	if g.wake, err = g.lp.NewAlarm(g.onWake); err != nil {
		return err
	}
	// A baseline sample now: an overload that begins before the first
	// housekeeping tick is then measured against it from the first trigger
	// wake-up on, instead of the engine waiting for a whole window of
	// samples (seen in the VM: a kill 850 ms after the onset instead of
	// ~450 ms when the overload came within a second of the start).
	g.pressureTick(time.Now())
	return nil
}

// checkPSI finds out whether the kernel measures pressure, on the host
// (--host-pressure) and in the job tree (the root's memory.pressure), says
// once what follows, and turns off the rules that would read nothing:
// without PSI every stall would read as 0, an unknown taken for calm.
// A kernel without CONFIG_PSI, or booted with psi=0, has neither;
// cgroup.pressure 0 (Linux 6.2) turns off one cgroup's.
func (g *Guard) checkPSI(cfg *pressure.Config) {
	_, herr := g.hostPSI("memory")
	_, rerr := psi.ReadFile(filepath.Join(string(g.cfg.Root), "memory.pressure"))
	g.psiHost, g.psiRoot = herr == nil, rerr == nil
	headroom := "memory headroom rule on"
	if g.cfg.Meminfo == nil || cfg.HostMemKill < 0 {
		headroom = "memory headroom rule off"
	}
	switch {
	case !g.psiHost && !g.psiRoot:
		g.cfg.Logf("pressure: PSI unavailable (kernel without CONFIG_PSI, or booted with psi=0): PSI rules and PSI admission off; %s", headroom)
	case !g.psiRoot:
		g.cfg.Logf("pressure: PSI unavailable in %s (%v): the job tree's PSI rules off; host PSI rule, PSI admission and %s", g.cfg.Root, rerr, headroom)
	case !g.psiHost:
		g.cfg.Logf("pressure: host PSI unavailable (%v): host PSI rule and PSI admission off; the job tree's PSI rules and %s", herr, headroom)
	}
	if !g.psiRoot {
		cfg.MemKill, cfg.MemFreeze, cfg.CPUDemote, cfg.IOFreeze = -1, -1, -1, -1
	}
	if !g.psiHost {
		cfg.HostPSIKill = -1
	}
}

// onTrigger: a PSI trigger fired (EPOLLPRI) or its cgroup is gone
// (EPOLLERR: close it, or epoll would report it forever).
func (g *Guard) onTrigger(tr *trigger, ev uint32) {
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 && tr.fd >= 0 {
		g.cfg.Logf("pressure: PSI trigger on %s failed; sampling on the ticks only", tr.path)
		g.lp.Remove(tr.fd)
		unix.Close(tr.fd)
		tr.fd = -1
	}
	if ev&unix.EPOLLPRI != 0 {
		now := time.Now()
		g.pressureTick(now)
		g.jobs.CheckQueue(now)
	}
}

// onWake: the wake timer expired: a fast sample is due, or a pending RUN's
// deadline.
func (g *Guard) onWake(now time.Time) {
	if g.engine == nil {
		return
	}
	if n := g.engine.NextObserve(); n > 0 && now.Sub(g.lastObserve) >= n/2 {
		g.pressureTick(now)
	}
	g.jobs.CheckQueue(now)
	g.rearm(now)
}

// rearm sets the wake timer to the next fast sample or queue deadline,
// whichever comes first, or disarms it.
func (g *Guard) rearm(now time.Time) {
	if g.wake == nil || g.engine == nil {
		return
	}
	var next time.Time
	if n := g.engine.NextObserve(); n > 0 {
		next = g.lastObserve.Add(n)
	}
	if dl, ok := g.jobs.NextQueueDeadline(); ok && (next.IsZero() || dl.Before(next)) {
		next = dl
	}
	if err := g.wake.Set(next, now); err != nil {
		g.cfg.Logf("pressure: arm wake timer: %v", err)
	}
}

// rootSample reads the root cgroup's memory, cpu and io pressure; a
// missing or unreadable file reads as zero.
func (g *Guard) rootSample() (mem, cpu, io psi.PSI) {
	root := string(g.cfg.Root)
	mem, _ = psi.ReadFile(filepath.Join(root, "memory.pressure"))
	cpu, _ = psi.ReadFile(filepath.Join(root, "cpu.pressure"))
	io, _ = psi.ReadFile(filepath.Join(root, "io.pressure"))
	return mem, cpu, io
}

// pressureTick samples the root's pressure files, the host's memory
// pressure and meminfo, and feeds the engine. It never reads per-job files.
func (g *Guard) pressureTick(now time.Time) {
	if g.engine == nil {
		return
	}
	mem, cpu, io := g.rootSample()
	hp, _ := g.hostPSI("memory") // unreadable: zero, no stall
	s := pressure.Sample{Memory: mem, CPU: cpu, IO: io, HostPSI: hp}
	if g.cfg.Meminfo != nil {
		if i, err := g.cfg.Meminfo.Read(); err == nil {
			s.HostMem = &i
		}
	}
	s.HostVM = g.vm.read(now)
	s.Short = g.shortage(s.HostVM)
	g.pressureStep(now, s)
}

// pressureStep feeds one sample to the engine and carries out what it
// decides. Tests call it with made-up samples.
func (g *Guard) pressureStep(now time.Time, s pressure.Sample) {
	g.lastObserve = now
	acts := g.engine.Observe(now, s)
	if g.cfg.Debug {
		m := g.engine.Snapshot()
		g.debugf("pressure: sample at %d ms: window %v memory some %.1f%% full %.1f%%, cpu some %.1f%%, io full %.1f%% (memory totals some %d full %d µs)",
			now.UnixMilli(), m.Window, m.Memory.Some, m.Memory.Full, m.CPU.Some, m.IO.Full, s.Memory.Some.Total, s.Memory.Full.Total)
	}
	for _, a := range acts {
		g.carryOut(a)
	}
	g.rearm(now)
}

// carryOut reports one engine action and, unless it is a dry run, acts on
// its targets.
func (g *Guard) carryOut(a pressure.Action) {
	switch a.Kind {
	case pressure.Kill, pressure.Freeze, pressure.Demote:
		kv := []string{"resource", a.Resource, "some_avg10", fmtPct(a.SomeAvg10), "full_avg10", fmtPct(a.FullAvg10),
			"action", a.Kind.String()}
		if a.Kind != pressure.Demote {
			kv = append(kv, "target", strings.Join(a.Targets, ","))
		}
		kv = append(kv, a.ExplainKV()...)
		if (a.Reason == pressure.ReasonHostMemory || a.Reason == pressure.ReasonHostReclaim) && !g.psiHost {
			kv = append(kv, "psi_available", "0") // some_avg10, full_avg10: not measured
		}
		e := &hub.Event{Type: "pressure", Action: a.Kind.String(), Resource: a.Resource}
		if len(a.Targets) == 1 {
			e.Job = a.Targets[0]
		}
		g.jobs.Emit(e, kv...)
	}
	if a.DryRun {
		return
	}
	for _, id := range a.Targets {
		err := g.jobs.Act(a.Kind, id, a.Reason, a.CPUWeight[id])
		if err != nil && a.Kind == pressure.Freeze {
			// Not frozen: the engine must not thaw it later.
			g.engine.ClientThawed(id)
		}
		if err != nil {
			g.cfg.Logf("pressure: %s job %s: %v", a.Kind, id, err)
		}
	}
}
