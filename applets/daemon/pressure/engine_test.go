package pressure

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// Two jobs that share an overloaded host, as in the VM target.
func lowHigh() *fakeJobs {
	return newJobs(
		Job{ID: "low", Priority: 10, MemoryCurrent: 600 * mib, CPUWeight: 100},
		Job{ID: "high", Priority: 60, MemoryCurrent: 900 * mib, CPUWeight: 100},
	)
}

func lowMidHigh() *fakeJobs {
	return newJobs(
		Job{ID: "low", Priority: 10, MemoryCurrent: 600 * mib, CPUWeight: 100},
		Job{ID: "mid", Priority: 20, MemoryCurrent: 300 * mib, CPUWeight: 100},
		Job{ID: "high", Priority: 60, MemoryCurrent: 900 * mib, CPUWeight: 100},
	)
}

func TestReactionTime(t *testing.T) {
	k5 := func(c *Config) { c.MemKill = 5 }
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		stall float64 // memory some and full, percent
		onset time.Duration
		loop  bool // sample like the daemon (triggers); else every FastTick
		limit time.Duration
	}{
		{"k5 fast tick", k5, 100, 2*sec + 3*ms, false, 500 * ms},
		{"k5 fast tick late in the tick", k5, 100, 2*sec + 97*ms, false, 500 * ms},
		{"k5 daemon loop", k5, 100, 2*sec + 345*ms, true, 500 * ms},
		{"k5 daemon loop 30% stall", k5, 30, 2*sec + 345*ms, true, 500 * ms},
		{"defaults fast tick", nil, 100, 2*sec + 3*ms, false, 2 * sec},
		{"defaults daemon loop", nil, 100, 2*sec + 345*ms, true, 2 * sec},
		{"defaults daemon loop 70% stall", nil, 70, 2*sec + 345*ms, true, 2 * sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, cfgWith(tc.cfg), lowHigh(),
				untilDead(tc.onset, "low", memLoad(tc.stall, tc.stall), load{}))
			if tc.loop {
				s.loop(tc.onset + 8*sec)
			} else {
				s.run(tc.onset+8*sec, s.e.Config().FastTick)
			}
			k, ok := s.first(Kill, "low")
			if !ok {
				t.Fatalf("got no kill of low, want one within %v; actions:%s", tc.limit, s.dump())
			}
			if d := k.at - tc.onset; d > tc.limit || d <= 0 {
				t.Errorf("kill of low %v after the overload began, want within %v;%s", d, tc.limit, s.dump())
			}
			var kills []string
			for _, g := range s.acts {
				if g.a.Kind == Kill {
					kills = append(kills, g.String())
				}
			}
			if want := []string{"kill low"}; !slices.Equal(kills, want) {
				t.Errorf("kills %q, want %q;%s", kills, want, s.dump())
			}
			t.Logf("reaction %v", k.at-tc.onset)
		})
	}
}

// TestKillSupersedesFreeze: while memory full is at the kill level the
// freeze rung defers to the kill. In a real overload the allocator is the
// stalled job: freezing it would relieve the stall, the thaw would bring
// it back, and the kill would come seconds late (2.5 s of hysteresis).
// Here the stall stops while low is frozen, as it does in the kernel.
func TestKillSupersedesFreeze(t *testing.T) {
	const onset = 2*sec + 345*ms
	for _, tc := range []struct {
		name       string
		some, full float64
		want       []string // first actions
		limit      time.Duration
	}{
		{"full at the kill level", 100, 100, []string{"kill low"}, 2 * sec},
		{"full at 70%", 100, 70, []string{"kill low"}, 2 * sec},
		{"some only: freeze, then thaw brings it back", 100, 30, []string{"freeze low", "thaw low", "freeze low"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			s := newSim(t, cfg, lowHigh(), func(s *sim, now time.Duration) load {
				j := s.jobs.get("low")
				if now < onset || j.dead || j.Frozen {
					return load{}
				}
				return memLoad(tc.some, tc.full)
			})
			s.loop(onset + 8*sec)
			got := s.summary()
			if len(got) < len(tc.want) || !slices.Equal(got[:len(tc.want)], tc.want) {
				t.Fatalf("actions %q, want %q first;%s", got, tc.want, s.dump())
			}
			if tc.limit > 0 {
				k, _ := s.first(Kill, "low")
				if d := k.at - onset; d > tc.limit {
					t.Errorf("kill %v after the onset, want within %v;%s", d, tc.limit, s.dump())
				}
				if _, ok := s.first(Freeze, ""); ok {
					t.Errorf("a freeze under full pressure at the kill level;%s", s.dump())
				}
			}
		})
	}
}

// A burst of stall shorter than Sustain never causes an action, wherever it
// falls between samples; a longer one does.
func TestBurst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		burst  time.Duration
		act    bool
		stalls load
	}{
		{"k5 50ms", func(c *Config) { c.MemKill = 5 }, 50 * ms, false, memLoad(100, 100)},
		{"k5 150ms", func(c *Config) { c.MemKill = 5 }, 150 * ms, false, memLoad(100, 100)},
		{"k5 199ms", func(c *Config) { c.MemKill = 5 }, 199 * ms, false, memLoad(100, 100)},
		{"defaults 199ms", nil, 199 * ms, false, memLoad(100, 100)},
		{"defaults 199ms all resources", nil, 199 * ms, false, memLoad(100, 100).plus(cpuLoad(100)).plus(ioLoad(100))},
		{"zero sustain 250ms", func(c *Config) { c.Sustain = 0; c.MemKill = 5 }, 250 * ms, true, memLoad(100, 100)},
		{"k5 600ms", func(c *Config) { c.MemKill = 5 }, 600 * ms, true, memLoad(100, 100)},
		{"defaults 1s", nil, sec, true, memLoad(100, 100)},
	} {
		for _, loop := range []bool{false, true} {
			for off := time.Duration(0); off < 100*ms; off += 23 * ms {
				name := tc.name + " fast"
				if loop {
					name = tc.name + " loop"
				}
				t.Run(name+" +"+off.String(), func(t *testing.T) {
					on := 3*sec + off
					s := newSim(t, cfgWith(tc.cfg), lowMidHigh(), during(on, on+tc.burst, tc.stalls))
					if loop {
						s.loop(on + 6*sec)
					} else {
						s.run(on+6*sec, 100*ms)
					}
					acted := false
					for _, g := range s.acts {
						acted = acted || g.a.Kind == Kill || g.a.Kind == Freeze || g.a.Kind == Demote
					}
					if acted != tc.act {
						t.Errorf("%v burst: acted %v, want %v;%s", tc.burst, acted, tc.act, s.dump())
					}
				})
			}
		}
	}
}

// After a kill nothing else is killed while the victim's memory is being
// released and until a window has been measured after the release; then a
// second victim is killed only if the pressure persists.
func TestOneKillPerOverload(t *testing.T) {
	const onset = 2 * sec
	full := memLoad(100, 100)
	for _, tc := range []struct {
		name    string
		release time.Duration // victim dies this long after its kill; < 0 never
		notify  bool          // the daemon calls JobEnded
		after   load          // pressure once low is dead
		want    []string
	}{
		{"released at once, JobEnded", 50 * ms, true, load{}, []string{"kill low"}},
		{"released at once, Alive", 50 * ms, false, load{}, []string{"kill low"}},
		{"slow release, pressure during it", 3 * sec, true, load{}, []string{"kill low"}},
		{"pressure persists after release", 200 * ms, true, full, []string{"kill low", "kill mid", "kill -", "kill -"}},
		{"victim never dies", -1, true, full, []string{"kill low", "kill mid", "kill -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			s := newSim(t, cfg, lowMidHigh(), untilDead(onset, "low", full, tc.after))
			s.release, s.notify = tc.release, tc.notify
			s.run(onset+14*sec, cfg.FastTick)
			var kills []string
			for _, g := range s.acts {
				if g.a.Kind == Kill {
					kills = append(kills, g.String())
				}
			}
			if !slices.Equal(kills, tc.want) {
				t.Fatalf("kills %q, want %q;%s", kills, tc.want, s.dump())
			}
			k1, _ := s.first(Kill, "low")
			k2, ok := s.first(Kill, "mid")
			if !ok {
				return
			}
			// The second kill waits for the release (or its timeout), a
			// window measured after it, and Sustain.
			wait := tc.release
			if wait < 0 {
				wait = cfg.ReleaseTimeout
			}
			if min := wait + cfg.Window + cfg.Sustain; k2.at-k1.at < min {
				t.Errorf("second kill %v after the first, want at least %v;%s", k2.at-k1.at, min, s.dump())
			}
		})
	}
}

func TestFreezeCooldownAndThaw(t *testing.T) {
	cfg := Defaults()
	jobs := newJobs(
		Job{ID: "low", Priority: 10, MemoryCurrent: 100 * mib},
		Job{ID: "big", Priority: 10, MemoryCurrent: 500 * mib},
		Job{ID: "mid", Priority: 25, MemoryCurrent: 100 * mib},
		Job{ID: "high", Priority: 31, MemoryCurrent: 900 * mib},
	)
	const on, off = sec, 4 * sec
	s := newSim(t, cfg, jobs, during(on, off, memLoad(50, 0)))
	s.run(12*sec, cfg.FastTick)

	// Thaws: highest priority first, then the earliest frozen.
	want := []string{"freeze big", "freeze low", "freeze mid", "thaw mid", "thaw big", "thaw low"}
	if got := s.summary(); !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q;%s", got, want, s.dump())
	}
	var last time.Duration = -1
	for _, g := range s.acts {
		switch g.a.Kind {
		case Freeze:
			if last >= 0 && g.at-last < cfg.Cooldown {
				t.Errorf("freeze at %v, %v after the previous one, want >= cooldown %v", g.at, g.at-last, cfg.Cooldown)
			}
			last = g.at
		case Thaw:
			// Pressure ends at `off`; the window falls below 20% at
			// off+0.3s; hysteresis runs from the first sample below.
			if g.at < off+cfg.Hysteresis {
				t.Errorf("thaw of %v at %v, want after %v", g.a.Targets, g.at, off+cfg.Hysteresis)
			}
			if g.at > off+cfg.Hysteresis+3*cfg.Window {
				t.Errorf("thaw of %v at %v, want by %v", g.a.Targets, g.at, off+cfg.Hysteresis+3*cfg.Window)
			}
			if g.a.Reason != ReasonReceded {
				t.Errorf("thaw reason %q, want %q", g.a.Reason, ReasonReceded)
			}
		}
	}
	if j := jobs.get("high"); j.Frozen {
		t.Errorf("priority 31 job frozen")
	}
}

func TestClientFreezes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		do    func(s *sim) // at 2.5 s, after the engine froze "low"
		want  []string
		still map[string]bool // frozen at the end
	}{
		{"engine thaws its own freeze", func(*sim) {}, []string{"freeze low", "thaw low"}, map[string]bool{"low": false, "user": true}},
		{"client took over the freeze", func(s *sim) { s.e.ClientFroze("low") }, []string{"freeze low"}, map[string]bool{"low": true, "user": true}},
		{"client thawed it", func(s *sim) {
			s.jobs.get("low").Frozen = false
			s.e.ClientThawed("low")
		}, []string{"freeze low"}, map[string]bool{"low": false, "user": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := newJobs(
				Job{ID: "user", Priority: 0, MemoryCurrent: 900 * mib, Frozen: true}, // a client froze it
				Job{ID: "low", Priority: 10, MemoryCurrent: 100 * mib},
			)
			cfg := Defaults()
			cfg.Cooldown = 10 * sec // one freeze only
			s := newSim(t, cfg, jobs, during(sec, 2*sec, memLoad(50, 0)))
			s.run(2500*ms, cfg.FastTick)
			tc.do(s)
			s.run(10*sec, cfg.FastTick)
			if got := s.summary(); !slices.Equal(got, tc.want) {
				t.Errorf("actions %q, want %q;%s", got, tc.want, s.dump())
			}
			for id, want := range tc.still {
				if got := jobs.get(id).Frozen; got != want {
					t.Errorf("%s frozen %v, want %v", id, got, want)
				}
			}
		})
	}
}

func TestDemoteRestore(t *testing.T) {
	jobs := newJobs(
		Job{ID: "a", Priority: 10, CPUWeight: 100},
		Job{ID: "b", Priority: 30, CPUWeight: 1},
		Job{ID: "c", Priority: 5, CPUWeight: 0}, // unknown: the kernel's 100
		Job{ID: "d", Priority: 20, CPUWeight: 333},
		Job{ID: "e", Priority: 31, CPUWeight: 100},
	)
	cfg := Defaults()
	s := newSim(t, cfg, jobs, during(sec, 3*sec, cpuLoad(80)))
	s.run(8*sec, cfg.FastTick)

	if got, want := s.summary(), []string{"demote c,a,d,b", "restore a,b,c,d"}; !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q;%s", got, want, s.dump())
	}
	d, r := s.acts[0].a, s.acts[1].a
	if want := map[string]int{"a": 50, "b": 1, "c": 50, "d": 166}; !maps.Equal(d.CPUWeight, want) {
		t.Errorf("demote weights %v, want %v", d.CPUWeight, want)
	}
	if want := map[string]int{"a": 100, "b": 1, "c": 100, "d": 333}; !maps.Equal(r.CPUWeight, want) {
		t.Errorf("restore weights %v, want %v", r.CPUWeight, want)
	}
	if d.Reason != ReasonCPU || r.Reason != ReasonReceded {
		t.Errorf("reasons %q, %q, want %q, %q", d.Reason, r.Reason, ReasonCPU, ReasonReceded)
	}
	if g := s.acts[1]; g.at < 3*sec+cfg.Hysteresis {
		t.Errorf("restore at %v, want after %v", g.at, 3*sec+cfg.Hysteresis)
	}
	if w := jobs.get("e").CPUWeight; w != 100 {
		t.Errorf("priority 31 job weight %d, want 100", w)
	}
}

// A job started while the CPU is still under pressure is demoted by itself
// in a later round; jobs already demoted are not halved twice.
func TestDemoteNewJob(t *testing.T) {
	jobs := newJobs(Job{ID: "a", Priority: 10, CPUWeight: 100})
	cfg := Defaults()
	s := newSim(t, cfg, jobs, during(sec, 5*sec, cpuLoad(80)))
	s.run(2500*ms, cfg.FastTick)
	jobs.jobs = append(jobs.jobs, &fakeJob{Job: Job{ID: "b", Priority: 10, CPUWeight: 200}})
	s.run(10*sec, cfg.FastTick)
	if got, want := s.summary(), []string{"demote a", "demote b", "restore a,b"}; !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q;%s", got, want, s.dump())
	}
	if got := s.acts[2].a.CPUWeight; !maps.Equal(got, map[string]int{"a": 100, "b": 200}) {
		t.Errorf("restore weights %v, want a:100 b:200", got)
	}
}

func TestVictimOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    load
		jobs []Job
		leak bool
		want string
	}{
		{"kill: lowest priority", memLoad(100, 100), []Job{
			{ID: "p20", Priority: 20, MemoryCurrent: 900 * mib},
			{ID: "p10", Priority: 10, MemoryCurrent: 1 * mib},
		}, false, "kill p10"},
		{"kill: ties to largest current-low", memLoad(100, 100), []Job{
			{ID: "protected", Priority: 10, MemoryCurrent: 900 * mib, MemoryLow: 850 * mib},
			{ID: "plain", Priority: 10, MemoryCurrent: 200 * mib},
		}, false, "kill plain"},
		{"kill: low above current floors at 0", memLoad(100, 100), []Job{
			{ID: "under-low", Priority: 10, MemoryCurrent: 100 * mib, MemoryLow: 900 * mib},
			{ID: "tiny", Priority: 10, MemoryCurrent: 1 * mib},
		}, false, "kill tiny"},
		{"kill: a frozen job counts", memLoad(100, 100), []Job{
			{ID: "frozen", Priority: 5, MemoryCurrent: 10 * mib, Frozen: true},
			{ID: "running", Priority: 6, MemoryCurrent: 900 * mib},
		}, false, "kill frozen"},
		{"kill: never above priority 30", memLoad(100, 100), []Job{
			{ID: "p31", Priority: 31, MemoryCurrent: 900 * mib},
			{ID: "p30", Priority: 30, MemoryCurrent: 1 * mib},
		}, true, "kill p30"},
		{"kill: nobody eligible", memLoad(100, 100), []Job{
			{ID: "p31", Priority: 31, MemoryCurrent: 900 * mib},
			{ID: "p100", Priority: 100, MemoryCurrent: 900 * mib},
		}, true, "kill -"},
		{"freeze: ties to largest memory", memLoad(50, 0), []Job{
			{ID: "small", Priority: 10, MemoryCurrent: 10 * mib},
			{ID: "large", Priority: 10, MemoryCurrent: 700 * mib, MemoryLow: 700 * mib},
		}, false, "freeze large"},
		{"freeze: skips frozen jobs", memLoad(50, 0), []Job{
			{ID: "frozen", Priority: 0, MemoryCurrent: 10 * mib, Frozen: true},
			{ID: "running", Priority: 30, MemoryCurrent: 10 * mib},
		}, false, "freeze running"},
		{"freeze: all frozen", memLoad(50, 0), []Job{
			{ID: "frozen", Priority: 0, MemoryCurrent: 10 * mib, Frozen: true},
		}, false, "freeze -"},
		{"io: most io first", ioLoad(60), []Job{
			{ID: "quiet", Priority: 10, IOBytes: 1 << 20},
			{ID: "busy", Priority: 10, IOBytes: 1 << 30},
			{ID: "busier-high", Priority: 11, IOBytes: 1 << 40},
		}, false, "freeze busy"},
		{"ties by id", memLoad(100, 100), []Job{
			{ID: "b", Priority: 10, MemoryCurrent: mib},
			{ID: "a", Priority: 10, MemoryCurrent: mib},
		}, false, "kill a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := newJobs(tc.jobs...)
			jobs.leak = tc.leak
			s := newSim(t, Defaults(), jobs, during(sec, 10*sec, tc.l))
			s.run(3*sec, 100*ms)
			kind, _, _ := strings.Cut(tc.want, " ")
			for _, g := range s.acts {
				if g.a.Kind.String() == kind {
					if got := g.String(); got != tc.want {
						t.Errorf("first %s %q, want %q;%s", kind, got, tc.want, s.dump())
					}
					return
				}
			}
			t.Errorf("no %s, want %q;%s", kind, tc.want, s.dump())
		})
	}
}

// The IO rule ranks by IO done since the engine last looked, not by the
// cumulative counter.
func TestIODelta(t *testing.T) {
	jobs := newJobs(
		Job{ID: "a", Priority: 10, IOBytes: 10 << 30},
		Job{ID: "b", Priority: 10, IOBytes: 1 << 30},
		Job{ID: "c", Priority: 10, IOBytes: 5 << 30},
	)
	cfg := Defaults()
	s := newSim(t, cfg, jobs, during(sec, 10*sec, ioLoad(60)))
	s.run(2*sec, cfg.FastTick)
	if got, want := s.summary(), []string{"freeze a"}; !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q;%s", got, want, s.dump())
	}
	jobs.get("b").IOBytes += 4 << 30 // 5 GiB, +4
	jobs.get("c").IOBytes += 1 << 30 // 6 GiB, +1
	s.run(3400*ms, cfg.FastTick)     // before the cooldown of the second freeze ends
	if got, want := s.summary(), []string{"freeze a", "freeze b"}; !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q;%s", got, want, s.dump())
	}
}

// A job doing no IO is no IO victim, however low its priority: freezing it
// would relieve nothing (seen in the VM: an idle priority-5 job frozen
// before the priority-10 writer that caused the pressure).
func TestIOIdleNotVictim(t *testing.T) {
	jobs := newJobs(
		Job{ID: "idle", Priority: 5},
		Job{ID: "writer", Priority: 10, IOBytes: 1 << 20},
	)
	cfg := Defaults()
	s := newSim(t, cfg, jobs, func(s *sim, now time.Duration) load {
		if now < sec || s.jobs.get("writer").Frozen {
			return load{}
		}
		return ioLoad(60)
	})
	s.run(3*sec, cfg.FastTick)
	if got, want := s.summary(), []string{"freeze writer"}; !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q;%s", got, want, s.dump())
	}
}

func TestNoVictimReport(t *testing.T) {
	jobs := newJobs(Job{ID: "high", Priority: 50, MemoryCurrent: 900 * mib})
	cfg := Defaults()
	// Memory full below the kill level for a freeze report, at it for a
	// kill report (the freeze defers to the kill then: TestKillSupersedesFreeze).
	s := newSim(t, cfg, jobs, during(sec, 30*sec, memLoad(100, 100)))
	s.load = func(_ *sim, t time.Duration) load {
		switch {
		case t < sec:
			return load{}
		case t < 26*sec:
			return memLoad(100, 40)
		}
		return load{}
	}
	s.run(26*sec, cfg.FastTick)
	// Then 25 s at the kill level.
	s.load = during(27*sec, 60*sec, memLoad(100, 100))
	s.run(52*sec, cfg.FastTick)
	var kills, freezes int
	for _, g := range s.acts {
		if len(g.a.Targets) != 0 {
			t.Errorf("action on %v, want none", g.a.Targets)
		}
		if !slices.Contains(g.a.Explain, "candidates=0") {
			t.Errorf("explain %q, want candidates=0", g.a.Explain)
		}
		switch g.a.Kind {
		case Kill:
			kills++
		case Freeze:
			freezes++
		}
	}
	// 25 s of pressure each, one report per rule per 10 s.
	if kills != 3 || freezes != 3 {
		t.Errorf("%d kill and %d freeze reports, want 3 and 3;%s", kills, freezes, s.dump())
	}
	// Jobs is asked once per cooldown per rule (two rules on), not on
	// every sample (250 of them).
	if max := 2*int(50*sec/cfg.Cooldown) + 2; jobs.calls > max {
		t.Errorf("%d Candidates calls, want at most %d", jobs.calls, max)
	}
}

func TestDryRun(t *testing.T) {
	cfg := Defaults()
	cfg.DryRun = true
	jobs := lowMidHigh()
	jobs.get("low").CPUWeight = 100
	// Memory full at the kill level, then memory some alone (a freeze
	// decision defers to a kill decision, as a real freeze would).
	s := newSim(t, cfg, jobs, func(_ *sim, t time.Duration) load {
		switch {
		case t >= sec && t < 5*sec:
			return memLoad(100, 100).plus(cpuLoad(80))
		case t >= 7*sec && t < 11*sec:
			return memLoad(100, 0)
		}
		return load{}
	})
	s.run(16*sec, cfg.FastTick)

	n := map[Kind]int{}
	last := map[Kind]time.Duration{}
	for _, g := range s.acts {
		if !g.a.DryRun || !slices.Contains(g.a.Explain, "dry_run=1") {
			t.Errorf("%v: not marked dry run", g)
		}
		if p, ok := last[g.a.Kind]; ok && g.at-p < cfg.Cooldown {
			t.Errorf("%v at %v, %v after the previous one, want >= %v", g, g.at, g.at-p, cfg.Cooldown)
		}
		last[g.a.Kind] = g.at
		n[g.a.Kind]++
		// Nothing is remembered: the same victim every time.
		want := map[Kind]string{Kill: "kill low dry", Freeze: "freeze low dry", Demote: "demote low,mid dry"}[g.a.Kind]
		if g.String() != want {
			t.Errorf("%v, want %q", g, want)
		}
	}
	// About 4 s of decisions, once per cooldown each; no thaw, no restore.
	for _, k := range []Kind{Kill, Freeze, Demote} {
		if n[k] < 3 || n[k] > 5 {
			t.Errorf("%d dry-run %v decisions, want 3..5;%s", n[k], k, s.dump())
		}
	}
	if n[Thaw]+n[Restore] != 0 {
		t.Errorf("%d thaws and %d restores in a dry run, want none", n[Thaw], n[Restore])
	}
	for _, id := range []string{"low", "mid"} {
		if s.e.FrozenByEngine(id) {
			t.Errorf("%s frozen by engine in a dry run", id)
		}
		if _, ok := s.e.Demotions()[id]; ok {
			t.Errorf("%s demoted in a dry run", id)
		}
	}
}

func TestExplain(t *testing.T) {
	cfg := Defaults()
	cfg.MemKill = 5
	s := newSim(t, cfg, lowHigh(), untilDead(sec, "low", memLoad(100, 40), load{}))
	s.run(3*sec, cfg.FastTick)
	k, ok := s.first(Kill, "low")
	if !ok {
		t.Fatalf("no kill;%s", s.dump())
	}
	a := k.a
	if a.Resource != Memory || a.Reason != ReasonMemory || a.DryRun {
		t.Errorf("resource %q reason %q dry %v, want memory pressure_memory false", a.Resource, a.Reason, a.DryRun)
	}
	keys := []string{}
	for i, kv := 0, a.ExplainKV(); i < len(kv); i += 2 {
		keys = append(keys, kv[i])
	}
	want := []string{"window_ms", "some_pct", "full_pct", "threshold", "held_ms", "candidates", "victim_priority", "victim_memory", "victim_memory_low"}
	if !slices.Equal(keys, want) {
		t.Errorf("explain keys %q, want %q", keys, want)
	}
	for _, w := range []string{"window_ms=500", "threshold=5.00", "candidates=1", "victim_priority=10"} {
		if !slices.Contains(a.Explain, w) {
			t.Errorf("explain %q lacks %q", a.Explain, w)
		}
	}
	if a.FullAvg10 <= 0 || a.SomeAvg10 < a.FullAvg10 {
		t.Errorf("avg10 some %.2f full %.2f, want the kernel's figures (some >= full > 0)", a.SomeAvg10, a.FullAvg10)
	}
	for _, w := range a.Explain {
		if strings.ContainsAny(w, " \n") || !strings.Contains(w, "=") {
			t.Errorf("explain word %q: want key=value without spaces", w)
		}
	}
}

func TestSnapshotAndFastTick(t *testing.T) {
	cfg := Defaults()
	s := newSim(t, cfg, lowHigh(), during(2*sec, 3*sec, memLoad(25, 10).plus(ioLoad(4))))
	steps := []struct {
		at       time.Duration
		fast     bool
		window   time.Duration
		memSome  float64
		memFull  float64
		ioFull   float64
		cpuSome  float64
		describe string
	}{
		{300 * ms, false, 200 * ms, 0, 0, 0, 0, "short history"},
		{2 * sec, false, 500 * ms, 0, 0, 0, 0, "idle"},
		{2800 * ms, true, 500 * ms, 25, 10, 4, 0, "under pressure"},
		{4 * sec, true, 500 * ms, 0, 0, 0, 0, "calm, a frozen job waits for hysteresis"},
		{12 * sec, false, 500 * ms, 0, 0, 0, 0, "all undone"},
	}
	for _, st := range steps {
		s.run(st.at, 100*ms)
		m := s.e.Snapshot()
		near := func(got, want float64) bool { return got > want-0.01 && got < want+0.01 }
		if m.Window != st.window || !near(m.Memory.Some, st.memSome) || !near(m.Memory.Full, st.memFull) ||
			!near(m.IO.Full, st.ioFull) || !near(m.CPU.Some, st.cpuSome) {
			t.Errorf("%s: snapshot %+v, want window %v memory %.2f/%.2f io full %.2f cpu some %.2f",
				st.describe, m, st.window, st.memSome, st.memFull, st.ioFull, st.cpuSome)
		}
		if got := s.e.FastTick(); got != st.fast {
			t.Errorf("%s: FastTick %v, want %v", st.describe, got, st.fast)
		}
		wantNext := time.Duration(0)
		if st.fast {
			wantNext = cfg.FastTick
		}
		if got := s.e.NextObserve(); got != wantNext {
			t.Errorf("%s: NextObserve %v, want %v", st.describe, got, wantNext)
		}
	}
	if got, want := s.summary(), []string{"freeze low", "thaw low"}; !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q;%s", got, want, s.dump())
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Defaults(), nil); err == nil {
		t.Errorf("New with nil Jobs: got no error, want one")
	}
	bad := Defaults()
	bad.Window = 0
	if _, err := New(bad, newJobs()); err == nil {
		t.Errorf("New with window 0: got no error, want one")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Kill: "kill", Freeze: "freeze", Thaw: "thaw", Demote: "demote", Restore: "restore", 0: "kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// A freeze that relieves the pressure and a thaw that brings it back must
// not cycle every Hysteresis for as long as the load lasts: each refreeze
// within refreezeWindow doubles the calm the next thaw waits for, up to
// maxHoldFactor × Hysteresis; a job left thawed for longer starts over.
func TestThawBackoff(t *testing.T) {
	cfg := Defaults()
	const onset, gapFrom, gapTo, end = sec, 90 * sec, 160 * sec, 185 * sec
	s := newSim(t, cfg, lowHigh(), func(s *sim, now time.Duration) load {
		j := s.jobs.get("low")
		if now < onset || (now >= gapFrom && now < gapTo) || j.Frozen {
			return load{}
		}
		return memLoad(60, 10) // some over the freeze level, full under the kill level
	})
	s.loop(end)

	var freezeAt time.Duration
	var holds []time.Duration // frozen time before each thaw
	var holdsAfterGap []time.Duration
	for _, g := range s.acts {
		switch {
		case g.a.Kind == Kill:
			t.Fatalf("kill under full pressure below the kill level;%s", s.dump())
		case g.a.Kind == Freeze:
			freezeAt = g.at
		case g.a.Kind == Thaw && g.at < gapTo:
			holds = append(holds, g.at-freezeAt)
		case g.a.Kind == Thaw:
			holdsAfterGap = append(holdsAfterGap, g.at-freezeAt)
		}
	}
	if len(holds) < 4 {
		t.Fatalf("thaws before the gap at %v, want at least 4;%s", holds, s.dump())
	}
	// Without backoff there would be a thaw every ~2.5 s: ~35 before the gap.
	if len(holds) > 8 {
		t.Errorf("%d thaws in %v of steady load, want the calm to double each time;%s", len(holds), gapFrom-onset, s.dump())
	}
	for i := 1; i < len(holds); i++ {
		want := min(cfg.Hysteresis<<i, maxHoldFactor*cfg.Hysteresis)
		if holds[i] < want {
			t.Errorf("thaw %d after %v frozen, want >= %v (holds %v)", i, holds[i], want, holds)
		}
	}
	// Thawed for longer than refreezeWindow (the last thaw is at most
	// maxHoldFactor × Hysteresis after the gap begins), it starts over.
	if len(holdsAfterGap) == 0 || holdsAfterGap[0] >= 2*cfg.Hysteresis {
		t.Errorf("first hold after the calm gap %v, want < %v (holds %v)", holdsAfterGap, 2*cfg.Hysteresis, holds)
	}
}

// TestStallWithNothingShort: the memory rules act on a stall only while
// something is short of memory. A root capped by memory.high for 300 ms
// (the blip) leaves 2 s of full stall behind, tasks sleeping off their
// throttling penalty: nothing is killed or frozen for it. While the cap
// holds, the same stall kills, and says which limit is short; so does a
// candidate at its own memory.high (its stall is its own, and ending it is
// the engine's to do); a sample that measured nothing (Shortage's zero
// value) acts as before.
func TestStallWithNothingShort(t *testing.T) {
	const onset = 2*sec + 345*ms
	capped := Shortage{Known: true, What: "memory.high", Where: "/sys/fs/cgroup/t"}
	atOwnHigh := func() *fakeJobs {
		return newJobs(
			Job{ID: "low", Priority: 10, MemoryCurrent: 600 * mib, MemoryHigh: 600 * mib, CPUWeight: 100},
			Job{ID: "high", Priority: 60, MemoryCurrent: 900 * mib, CPUWeight: 100},
		)
	}
	for _, tc := range []struct {
		name  string
		short func(time.Duration) Shortage
		kill  bool
		jobs  func() *fakeJobs
		want  string // the shortage keys of the kill
	}{
		{"cap lifted 300 ms in", func(now time.Duration) Shortage {
			if now >= onset && now < onset+300*ms {
				return capped
			}
			return Shortage{Known: true}
		}, false, nil, ""},
		{"cap holds", func(now time.Duration) Shortage { return capped }, true, nil, "shortage=memory.high shortage_cgroup=/sys/fs/cgroup/t"},
		{"not measured", nil, true, nil, ""},
		{"the host short", func(time.Duration) Shortage { return Shortage{Known: true, What: "host"} }, true, nil, "shortage=host"},
		{"a candidate at its own memory.high", func(time.Duration) Shortage { return Shortage{Known: true} }, true, atOwnHigh, "shortage=memory.high shortage_job=low"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := lowHigh()
			if tc.jobs != nil {
				jobs = tc.jobs()
			}
			s := newSim(t, Defaults(), jobs, func(s *sim, now time.Duration) load {
				if now < onset || now >= onset+2300*ms || s.jobs.get("low").dead {
					return load{}
				}
				return memLoad(100, 100)
			})
			s.short = tc.short
			s.loop(onset + 8*sec)
			k, killed := s.first(Kill, "low")
			_, froze := s.first(Freeze, "")
			switch {
			case tc.kill && !killed:
				t.Fatalf("no kill of low;%s", s.dump())
			case !tc.kill && (killed || froze):
				t.Fatalf("acted on a stall with nothing short: %q;%s", s.summary(), s.dump())
			}
			if ex := strings.Join(k.a.Explain, " "); killed && !strings.Contains(ex, tc.want) {
				t.Errorf("kill explained %q, want %q in it", ex, tc.want)
			}
		})
	}
}
