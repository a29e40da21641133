package pressure

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"cgroupd/core/hostmem"
	"cgroupd/core/psi"
)

// This file holds the test harness: a fake clock and fake PSI counters
// driven by a load function, a fake job table that carries out the
// engine's actions, and two samplers (fixed step, and one that behaves like
// the daemon's loop: housekeeping tick, PSI trigger wake-ups, fast tick).

const (
	ms  = time.Millisecond
	sec = time.Second
	mib = 1 << 20
)

// load is the percentage of time stalled on each line at one moment.
type load [nLines]float64

func memLoad(some, full float64) load { return load{memSome: some, memFull: full} }
func cpuLoad(some float64) load       { return load{cpuSome: some} }
func ioLoad(full float64) load        { return load{ioSome: full, ioFull: full} }

func (l load) plus(o load) load {
	for i := range l {
		l[i] += o[i]
	}
	return l
}

// during returns l between from and to, nothing outside.
func during(from, to time.Duration, l load) func(*sim, time.Duration) load {
	return func(_ *sim, t time.Duration) load {
		if t >= from && t < to {
			return l
		}
		return load{}
	}
}

// untilDead returns l from `from` on, as long as job id is not dead, then
// after (the pressure left once the victim's memory is back).
func untilDead(from time.Duration, id string, l, after load) func(*sim, time.Duration) load {
	return func(s *sim, t time.Duration) load {
		switch {
		case t < from:
			return load{}
		case s.jobs.isDead(id):
			return after
		}
		return l
	}
}

type fakeJob struct {
	Job
	killed   bool
	killedAt time.Duration
	dead     bool
}

// fakeJobs is the daemon's job table as the engine sees it.
type fakeJobs struct {
	jobs  []*fakeJob
	leak  bool          // Candidates ignores maxPriority, as a buggy daemon might
	calls int           // Candidates calls
	now   time.Duration // set by the sim before each Observe
}

func newJobs(js ...Job) *fakeJobs {
	f := &fakeJobs{}
	for _, j := range js {
		f.jobs = append(f.jobs, &fakeJob{Job: j})
	}
	return f
}

func (f *fakeJobs) get(id string) *fakeJob {
	for _, j := range f.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

func (f *fakeJobs) isDead(id string) bool {
	j := f.get(id)
	return j == nil || j.dead
}

func (f *fakeJobs) Candidates(maxPriority int) []Job {
	f.calls++
	var out []Job
	for _, j := range f.jobs {
		if !j.dead && (f.leak || j.Priority <= maxPriority) {
			out = append(out, j.Job)
		}
	}
	return out
}

func (f *fakeJobs) Alive(id string) (uint64, bool) {
	j := f.get(id)
	if j == nil || j.dead {
		return 0, false
	}
	return j.MemoryCurrent, true
}

// got is an action and when the engine returned it.
type got struct {
	at time.Duration
	a  Action
}

func (g got) String() string {
	s := g.a.Kind.String()
	if len(g.a.Targets) > 0 {
		s += " " + strings.Join(g.a.Targets, ",")
	} else {
		s += " -"
	}
	if g.a.DryRun {
		s += " dry"
	}
	return s
}

type sim struct {
	t    *testing.T
	e    *Engine
	jobs *fakeJobs
	load func(*sim, time.Duration) load

	// release is how long a killed job takes to die; < 0: never.
	release time.Duration
	// notify calls Engine.JobEnded when a job dies (the daemon reaped it).
	notify bool
	// mem gives the host's meminfo at a time; nil: unknown.
	mem func(*sim, time.Duration) *hostmem.Info
	// short gives what is short of memory at a time; nil: not measured.
	short func(time.Duration) Shortage

	origin time.Time
	now    time.Duration
	total  [nLines]float64 // µs
	hist   [][nLines]float64
	acts   []got
	obs    int
}

func newSim(t *testing.T, cfg Config, jobs *fakeJobs, l func(*sim, time.Duration) load) *sim {
	t.Helper()
	e, err := New(cfg, jobs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &sim{
		t: t, e: e, jobs: jobs, load: l,
		release: 150 * ms, notify: true,
		origin: time.Unix(1_700_000_000, 0),
	}
}

// advance integrates the load millisecond by millisecond up to `to`.
func (s *sim) advance(to time.Duration) {
	for s.now < to {
		l := s.load(s, s.now)
		for i := range l {
			s.total[i] += min(max(l[i], 0), 100) / 100 * 1000
		}
		s.now += ms
		s.hist = append(s.hist, s.total)
		for _, j := range s.jobs.jobs {
			if j.killed && !j.dead && s.release >= 0 && s.now-j.killedAt >= s.release {
				j.dead = true
				if s.notify {
					s.e.JobEnded(j.ID)
				}
			}
		}
	}
}

func (s *sim) sample() Sample {
	line := func(i int) psi.Line { return psi.Line{Avg10: s.recentPct(i, 10*sec), Total: uint64(s.total[i])} }
	var hostMem *hostmem.Info
	if s.mem != nil {
		hostMem = s.mem(s, s.now)
	}
	var short Shortage
	if s.short != nil {
		short = s.short(s.now)
	}
	return Sample{
		Memory:  psi.PSI{Some: line(memSome), Full: line(memFull), HasFull: true},
		CPU:     psi.PSI{Some: line(cpuSome), Full: line(cpuFull), HasFull: true},
		IO:      psi.PSI{Some: line(ioSome), Full: line(ioFull), HasFull: true},
		HostPSI: psi.PSI{Some: line(hostSome), Full: line(hostFull), HasFull: true},
		HostMem: hostMem,
		Short:   short,
	}
}

// recentPct is the exact stall of line over the last span (for avg10 and
// for the trigger).
func (s *sim) recentPct(line int, span time.Duration) float64 {
	n := int(span / ms)
	if n > len(s.hist) {
		n = len(s.hist)
	}
	if n == 0 {
		return 0
	}
	prev := 0.0
	if len(s.hist) > n {
		prev = s.hist[len(s.hist)-n-1][line]
	}
	return (s.total[line] - prev) / float64(n*1000) * 100
}

// observe feeds the engine and carries out its actions on the job table.
func (s *sim) observe() {
	s.jobs.now = s.now
	s.obs++
	for _, a := range s.e.Observe(s.origin.Add(s.now), s.sample()) {
		s.acts = append(s.acts, got{at: s.now, a: a})
		if a.DryRun {
			continue
		}
		for _, id := range a.Targets {
			j := s.jobs.get(id)
			if j == nil {
				s.t.Errorf("%v at %v: unknown job %q", a.Kind, s.now, id)
				continue
			}
			switch a.Kind {
			case Kill:
				j.killed, j.killedAt = true, s.now
			case Freeze:
				j.Frozen = true
			case Thaw:
				j.Frozen = false
			case Demote, Restore:
				j.CPUWeight = a.CPUWeight[id]
			}
		}
	}
}

// run samples every step until `until`.
func (s *sim) run(until, step time.Duration) {
	for s.now+step <= until {
		s.advance(s.now + step)
		s.observe()
	}
	s.advance(until)
}

// loop samples the way the daemon does until `until`: on the 1 s
// housekeeping tick, on the engine's fast tick while it asks for it, and
// when one of the engine's PSI triggers would fire (at most once per
// trigger window each).
func (s *sim) loop(until time.Duration) {
	trig := s.e.Config().Triggers()
	armed := make([]time.Duration, len(trig)) // next time each may fire
	lastObs := s.now
	for s.now < until {
		s.advance(s.now + ms)
		due := s.now%sec == 0
		if d := s.e.NextObserve(); d > 0 && s.now-lastObs >= d {
			due = true
		}
		for i, tr := range trig {
			line := map[string]int{Memory: memSome, CPU: cpuSome, IO: ioSome}[tr.Resource]
			if tr.Host {
				line = hostSome
			}
			if tr.Full {
				line++
			}
			if s.now >= armed[i] && s.recentPct(line, tr.Window)/100*float64(tr.Window) >= float64(tr.Stall) {
				due = true
				armed[i] = s.now + tr.Window
			}
		}
		if due {
			s.observe()
			lastObs = s.now
		}
	}
}

// first returns the first action of kind k (on target, if not empty).
func (s *sim) first(k Kind, target string) (got, bool) {
	for _, g := range s.acts {
		if g.a.Kind == k && (target == "" || (len(g.a.Targets) > 0 && g.a.Targets[0] == target)) {
			return g, true
		}
	}
	return got{}, false
}

// summary lists the actions as "kind targets" words.
func (s *sim) summary() []string {
	out := make([]string, 0, len(s.acts))
	for _, g := range s.acts {
		out = append(out, g.String())
	}
	return out
}

func (s *sim) dump() string {
	var b strings.Builder
	for _, g := range s.acts {
		fmt.Fprintf(&b, "\n  %6v %v %s", g.at, g, strings.Join(g.a.Explain, " "))
	}
	return b.String()
}

func cfgWith(mod func(*Config)) Config {
	c := Defaults()
	if mod != nil {
		mod(&c)
	}
	return c
}
