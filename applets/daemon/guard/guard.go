package guard

import (
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/daemon/protect"
	"cgroupd/core/cgroup"
	"cgroupd/core/hostmem"
	"cgroupd/core/loop"
	"cgroupd/core/psi"

	"golang.org/x/sys/unix"
)

// Jobs is what the guard asks of the job side (the supervisor): the
// engine's view of the jobs, the actions it decides, the events it
// reports, and the admission queue it wakes.
type Jobs interface {
	pressure.Jobs
	// Act carries out one decision of kind on job id (reason, and the
	// cpu.weight of a demote or restore); an error says why it could not.
	Act(kind pressure.Kind, id, reason string, weight int) error
	// Emit publishes a pressure event (the job side knows its owner).
	Emit(e *hub.Event, kv ...string)
	// CheckQueue starts the pending RUNs admission allows now.
	CheckQueue(now time.Time)
	// NextQueueDeadline is the earliest queue_timeout of a pending RUN.
	NextQueueDeadline() (time.Time, bool)
}

// Config is what the guard is started with.
type Config struct {
	Root         cgroup.Dir // the root whose pressure files it samples
	Engine       pressure.Config
	Thresholds   Thresholds
	HostPressure string          // --host-pressure
	Meminfo      *hostmem.Reader // host headroom (nil: rule off)
	// Protect is the protected jobs, for the reclaim rule (nil: rule
	// off); HostVM the directory of its vmstat and zoneinfo (default
	// /proc).
	Protect *protect.Set
	HostVM  string
	Debug   bool
	Logf    func(format string, args ...any)
}

// Guard is the pressure engine in the loop; only the loop touches it.
type Guard struct {
	cfg  Config
	lp   *loop.Loop
	jobs Jobs

	engine       *pressure.Engine
	triggers     []*trigger
	wake         *loop.Alarm // fast samples, queue deadlines (nil: no engine)
	lastObserve  time.Time
	hostPSIFiles map[string]*psi.Reader // the host's pressure files by resource (hostPSI)
	seen         admitSeen              // what admission read, for admitFresh
	// psiHost and psiRoot: the kernel measures pressure on the host and
	// in the job tree (checkPSI); without, PSI figures are unknown.
	psiHost, psiRoot bool
	vm               *vmReader     // the reclaim rule's files (nil: rule off)
	limits           []*limitLevel // the memory limits above the jobs (shortage.go)
	prevVM           *hostmem.VM   // the last sample's vmstat, for the scanners
}

// New is a guard on loop lp (nil in unit tests that feed it by hand) for
// the jobs of jobs.
func New(cfg Config, lp *loop.Loop, jobs Jobs) *Guard {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Guard{cfg: cfg, lp: lp, jobs: jobs}
}

func (g *Guard) debugf(format string, args ...any) {
	if g.cfg.Debug {
		g.cfg.Logf("debug: "+format, args...)
	}
}

// Start creates the engine, registers its PSI triggers and the wake
// alarm, and takes a first sample.
func (g *Guard) Start() error { return g.startEngine() }

// The engine alone keeps what it did to the jobs (its freezes and
// demotions); the job side tells it, through the methods below, what
// changed under it. Before Start (no engine) each does nothing.

// JobEnded: job id ended; the engine forgets what it did to it.
func (g *Guard) JobEnded(id string) {
	if g.engine != nil {
		g.engine.JobEnded(id)
	}
}

// ClientFreeze: a client froze (freeze) or thawed job id; a freeze the
// engine made is now the client's, and the engine will not thaw it.
func (g *Guard) ClientFreeze(id string, freeze bool) {
	switch {
	case g.engine == nil:
	case freeze:
		g.engine.ClientFroze(id)
	default:
		g.engine.ClientThawed(id)
	}
}

// FrozenBefore hands the engine a job it froze for resource res before a
// restart or an upgrade (the job's record says so), as frozen at now.
func (g *Guard) FrozenBefore(id, res string, priority int, now time.Time) {
	if g.engine != nil {
		g.engine.FrozenBefore(id, res, priority, now)
	}
}

// FrozenByEngine: the engine froze job id and may thaw it.
func (g *Guard) FrozenByEngine(id string) bool {
	return g.engine != nil && g.engine.FrozenByEngine(id)
}

// DemotedBefore hands the engine the jobs it demoted before an upgrade
// and their weights before (Demotions); live tells which are still live.
func (g *Guard) DemotedBefore(demoted map[string]int, live func(id string) bool) {
	if g.engine == nil {
		return
	}
	for id, w := range demoted {
		if live(id) {
			g.engine.DemotedBefore(id, w)
		}
	}
}

// Demotions are the jobs the engine demoted and their weights before, for
// an upgrade's hand-over (nil: none).
func (g *Guard) Demotions() map[string]int {
	if g.engine == nil {
		return nil
	}
	return g.engine.Demotions()
}

// Measurements is the engine's current measurement of the root over its
// window (ok false: no engine).
func (g *Guard) Measurements() (pressure.Measurements, bool) {
	if g.engine == nil {
		return pressure.Measurements{}, false
	}
	return g.engine.Snapshot(), true
}

// Policy is the engine's policy in force (ok false: no engine).
func (g *Guard) Policy() (pressure.Config, bool) {
	if g.engine == nil {
		return pressure.Config{}, false
	}
	return g.engine.Config(), true
}

// Tick is the housekeeping tick: a sample, unless the fast tick feeds the
// engine already.
func (g *Guard) Tick(now time.Time) {
	if g.engine != nil && (g.engine.NextObserve() == 0 || now.Sub(g.lastObserve) >= g.engine.NextObserve()/2) {
		g.pressureTick(now)
	}
}

// Rearm sets the wake alarm to the next fast sample or queue deadline.
func (g *Guard) Rearm(now time.Time) { g.rearm(now) }

// Observe feeds one sample to the engine and carries out what it decides
// (tests feed made-up samples).
func (g *Guard) Observe(now time.Time, s pressure.Sample) { g.pressureStep(now, s) }

// Admit is admission's verdict now (nil: admitted).
func (g *Guard) Admit() *Block { return g.admit() }

// Reject reports a refused (or expired) RUN of job id.
func (g *Guard) Reject(b *Block, id string) { g.emitAdmissionReject(b, id) }

// HostPSI is the host's pressure of resource, from --host-pressure.
func (g *Guard) HostPSI(resource string) (psi.PSI, error) { return g.hostPSI(resource) }

// PSI reports whether the kernel measures pressure on the host and in the
// job tree.
func (g *Guard) PSI() (host, root bool) { return g.psiHost, g.psiRoot }

// Close releases the triggers and the wake alarm.
func (g *Guard) Close() {
	for _, tr := range g.triggers {
		if tr.fd >= 0 {
			unix.Close(tr.fd)
			tr.fd = -1
		}
	}
	if g.wake != nil {
		g.wake.Close()
		g.wake = nil
	}
	g.vm.close()
	for _, l := range g.limits {
		l.close()
	}
	g.limits = nil
}
