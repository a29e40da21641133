package pressure

import (
	"slices"
	"strings"
	"testing"
	"time"

	"cgroupd/core/hostmem"
)

// hostFill is a 1 GiB host with no swap where high holds 350 MiB, the rest
// of the system 100 MiB, and low grows at rate MiB/s from onset until it is
// killed, by up to 700 MiB.
func hostFill(onset time.Duration, rate uint64, swap hostmem.Info) func(*sim, time.Duration) *hostmem.Info {
	return func(s *sim, t time.Duration) *hostmem.Info {
		used := uint64(450 * mib)
		if !s.jobs.isDead("low") && t > onset {
			used += min(uint64((t-onset)/ms)*rate*mib/1000, 700*mib)
		}
		total := uint64(1024 * mib)
		avail := uint64(0)
		if used < total {
			avail = total - used
		}
		i := swap
		i.Total, i.Available = total, avail
		return &i
	}
}

func TestHostHeadroomKill(t *testing.T) {
	const onset = 2 * sec
	s := newSim(t, cfgWith(nil), lowMidHigh(), func(*sim, time.Duration) load { return load{} })
	s.mem = hostFill(onset, 400, hostmem.Info{})
	s.loop(onset + 6*sec)
	k, ok := s.first(Kill, "")
	if !ok {
		t.Fatalf("no kill; actions:%s", s.dump())
	}
	// 10 % of 1 GiB is left when low has grown by 471.6 MiB: 1.18 s at
	// 400 MiB/s. The engine samples every 20 ms that close to the
	// threshold and acts on the sample before the crossing when the rate
	// of decline says it comes before the next one: within 20 ms of it,
	// either side.
	if d := k.at - onset; d < 1179*ms-headroomMinInterval || d > 1179*ms+headroomMinInterval {
		t.Errorf("kill %v after onset, want 1.18 s ± 20 ms;%s", d, s.dump())
	}
	if k.a.Targets[0] != "low" || k.a.Reason != ReasonHostMemory {
		t.Errorf("got %v, want kill low reason %s", k, ReasonHostMemory)
	}
	ex := strings.Join(k.a.Explain, " ")
	for _, w := range []string{"rule=host_memory", "threshold=10.00", "candidates=2", "victim_priority=10"} {
		if !strings.Contains(ex, w) {
			t.Errorf("explain %q lacks %s", ex, w)
		}
	}
	// Once low's memory is back the headroom is fine: one kill only.
	if got := s.summary(); !slices.Equal(got, []string{"kill low"}) {
		t.Errorf("actions %q, want one kill of low", got)
	}
}

// Far from the threshold the housekeeping tick is enough; close to it the
// engine asks to be sampled often enough to see memory fill.
func TestHostHeadroomSampling(t *testing.T) {
	e, err := New(Defaults(), newJobs())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(100, 0)
	obs := func(avail uint64) time.Duration {
		at = at.Add(sec)
		e.Observe(at, Sample{HostMem: &hostmem.Info{Total: 16 << 30, Available: avail}})
		return e.NextObserve()
	}
	if d := obs(12 << 30); d != 0 {
		t.Errorf("12 of 16 GiB free: NextObserve %v, want 0 (housekeeping tick)", d)
	}
	if d := obs(4 << 30); d <= 50*ms || d >= sec {
		t.Errorf("4 of 16 GiB free: NextObserve %v, want between the fast tick and 1 s", d)
	}
	if d := obs(1 << 30); d != headroomMinInterval {
		t.Errorf("1 of 16 GiB free: NextObserve %v, want %v", d, headroomMinInterval)
	}
	e.Observe(at.Add(sec), Sample{})
	if d := e.NextObserve(); d != 0 {
		t.Errorf("meminfo unknown: NextObserve %v, want 0", d)
	}
}

// Just above the threshold, a steady MemAvailable kills nothing; the same
// level reached falling fast enough to cross it before the next sample
// kills now, saying so (predicted_pct).
func TestHostHeadroomPredicts(t *testing.T) {
	const total = 16 << 30
	pct := func(p float64) uint64 { return uint64(p / 100 * total) }
	for _, tc := range []struct {
		name  string
		from  float64 // % available 100 ms before
		kills bool
	}{
		{"steady", 10.05, false},
		{"slow fall", 10.10, false}, // 0.5 %/s: 0.01 % in 20 ms
		{"fast fall", 11.05, true},  // 10 %/s: 0.2 % in 20 ms
	} {
		e, err := New(Defaults(), lowMidHigh())
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(100, 0)
		e.Observe(at, Sample{HostMem: &hostmem.Info{Total: total, Available: pct(tc.from)}})
		acts := e.Observe(at.Add(100*ms), Sample{HostMem: &hostmem.Info{Total: total, Available: pct(10.05)}})
		var kill *Action
		for i := range acts {
			if acts[i].Kind == Kill {
				kill = &acts[i]
			}
		}
		if (kill != nil) != tc.kills {
			t.Errorf("%s: kill %v, want %v (actions %v)", tc.name, kill != nil, tc.kills, acts)
			continue
		}
		if kill != nil && !strings.Contains(strings.Join(kill.Explain, " "), "predicted_pct=") {
			t.Errorf("%s: explain %q lacks predicted_pct", tc.name, kill.Explain)
		}
	}
}

func TestHostHeadroomSwap(t *testing.T) {
	const onset = 2 * sec
	for _, tc := range []struct {
		name     string
		swapFree uint64 // MiB of 512
		kill     bool
	}{
		{"swap half free: not yet", 256, false},
		{"swap nearly full: kill", 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, cfgWith(nil), lowHigh(), func(*sim, time.Duration) load { return load{} })
			s.mem = hostFill(onset, 400, hostmem.Info{SwapTotal: 512 * mib, SwapFree: tc.swapFree * mib})
			s.loop(onset + 4*sec)
			if _, ok := s.first(Kill, "low"); ok != tc.kill {
				t.Errorf("kill %v, want %v;%s", ok, tc.kill, s.dump())
			}
		})
	}
}

// A dry run reports the decision once per Cooldown and kills nothing; with
// nobody eligible the rule reports victim=none once per ReportInterval.
func TestHostHeadroomDryRunAndNoVictim(t *testing.T) {
	low := func(s *sim, t time.Duration) *hostmem.Info {
		return &hostmem.Info{Total: 1024 * mib, Available: 50 * mib}
	}
	s := newSim(t, cfgWith(func(c *Config) { c.DryRun = true }), lowHigh(), func(*sim, time.Duration) load { return load{} })
	s.mem = low
	s.loop(3*sec + 500*ms)
	n := 0
	for _, g := range s.acts {
		if g.a.Kind == Kill {
			n++
			if !g.a.DryRun || g.a.Targets[0] != "low" {
				t.Errorf("got %v, want a dry-run kill of low", g)
			}
		}
	}
	if n < 3 || n > 4 {
		t.Errorf("%d dry-run decisions in 3.5 s, want one per second;%s", n, s.dump())
	}

	s = newSim(t, cfgWith(nil), newJobs(Job{ID: "high", Priority: 60}), func(*sim, time.Duration) load { return load{} })
	s.mem = low
	s.loop(15 * sec)
	var none []string
	for _, g := range s.acts {
		if len(g.a.Targets) == 0 {
			none = append(none, strings.Join(g.a.Explain, " "))
		}
	}
	if len(none) != 2 || !strings.Contains(none[0], "victim=none") {
		t.Errorf("got %q, want two victim=none reports in 15 s", none)
	}
}

// Stall outside the job tree (the host's PSI) kills the lowest-priority
// job once it holds, as the tree's own full stall does.
func TestHostPSIKill(t *testing.T) {
	const onset = 2*sec + 345*ms
	s := newSim(t, cfgWith(nil), lowHigh(), untilDead(onset, "low", load{hostSome: 100, hostFull: 90}, load{}))
	s.loop(onset + 5*sec)
	k, ok := s.first(Kill, "low")
	if !ok {
		t.Fatalf("no kill; actions:%s", s.dump())
	}
	if k.a.Reason != ReasonHostPSI || k.at-onset > 2*sec {
		t.Errorf("got %v at %v after onset, want reason %s within 2 s", k, k.at-onset, ReasonHostPSI)
	}
	if got := s.summary(); !slices.Equal(got, []string{"kill low"}) {
		t.Errorf("actions %q, want one kill of low", got)
	}
}
