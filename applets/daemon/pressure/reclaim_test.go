package pressure

import (
	"strings"
	"testing"
	"time"

	"cgroupd/core/hostmem"
)

// reclaimHost is a host for the reclaim rule: the jobs' memory.current
// as a function of time, free memory what the jobs leave of 900 MiB, the
// protected job "svc" holding 250 MiB of page cache.
type reclaimHost struct {
	now   time.Duration
	mem   map[string]func(time.Duration) uint64 // candidates
	prios map[string]int
	prot  []Protected
	dead  map[string]bool
	// kswapd: below the low watermark kswapd holds free memory at 4 MiB
	// and what the jobs take beyond that comes out of svc's page cache.
	kswapd bool
}

func (h *reclaimHost) Candidates(maxPriority int) []Job {
	var out []Job
	for id, f := range h.mem {
		if !h.dead[id] && h.prios[id] <= maxPriority {
			out = append(out, Job{ID: id, Priority: h.prios[id], MemoryCurrent: f(h.now)})
		}
	}
	return out
}

func (h *reclaimHost) Alive(id string) (uint64, bool) {
	if h.dead[id] {
		return 0, false
	}
	return h.mem[id](h.now), true
}

func (h *reclaimHost) Protected() []Protected {
	if !h.kswapd || len(h.prot) == 0 {
		return h.prot
	}
	_, cache := h.held()
	p := h.prot[0]
	p.File = cache
	return []Protected{p}
}

// held is free memory and svc's page cache now.
func (h *reclaimHost) held() (free, cache uint64) {
	used := uint64(0)
	for id, f := range h.mem {
		if !h.dead[id] {
			used += f(h.now)
		}
	}
	free, cache = 900*mib, 250*mib
	free -= min(free, used)
	if h.kswapd && free < 4*mib {
		cache -= min(cache, 4*mib-free)
		free = 4 * mib
	}
	return free, cache
}

func (h *reclaimHost) sample() Sample {
	free, cache := h.held()
	const page = 4096
	vm := &hostmem.VM{Free: free / page, Min: 4 * mib / page, Low: 5 * mib / page, High: 6 * mib / page, PageSize: page}
	// MemAvailable counts the service's cache (and, as the kernel's, not
	// what lies below the low watermark).
	avail := free + cache
	if h.kswapd {
		avail -= min(avail, 5*mib)
	}
	return Sample{HostMem: &hostmem.Info{Total: 1024 * mib, Available: avail}, HostVM: vm}
}

// grow is memory.current that rises at rate MiB/s from start up to cap MiB.
func grow(start time.Duration, rate, capMiB float64) func(time.Duration) uint64 {
	return func(t time.Duration) uint64 {
		if t < start {
			return 0
		}
		return uint64(min(rate*(t-start).Seconds(), capMiB) * mib)
	}
}

func runReclaim(t *testing.T, cfg Config, h *reclaimHost, until time.Duration) (acts []Action, when []time.Duration) {
	return runReclaimEvery(t, cfg, h, until, 10*time.Millisecond)
}

func runReclaimEvery(t *testing.T, cfg Config, h *reclaimHost, until, step time.Duration) (acts []Action, when []time.Duration) {
	t.Helper()
	e, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	e.Protect(h)
	origin := time.Unix(1000, 0)
	for h.now = 0; h.now <= until; h.now += step {
		for _, a := range e.Observe(origin.Add(h.now), h.sample()) {
			acts = append(acts, a)
			when = append(when, h.now)
			if a.Kind == Kill && !a.DryRun {
				for _, id := range a.Targets {
					h.dead[id] = true
					e.JobEnded(id)
				}
			}
		}
	}
	return acts, when
}

func newReclaimHost() *reclaimHost {
	return &reclaimHost{
		mem:   map[string]func(time.Duration) uint64{},
		prios: map[string]int{},
		prot:  []Protected{{ID: "svc", Priority: 90, File: 250 * mib}},
		dead:  map[string]bool{},
	}
}

func reclaimKills(acts []Action) []Action {
	var out []Action
	for _, a := range acts {
		if a.Reason == ReasonHostReclaim {
			out = append(out, a)
		}
	}
	return out
}

func TestReclaimKillsTheGrowingJob(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64
	}{{"fast overload", 400}, {"slow leak", 40}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newReclaimHost()
			h.mem["batch"], h.prios["batch"] = grow(time.Second, tc.rate, 1024), 5
			// A big job of the same priority that stopped growing.
			h.mem["stable"], h.prios["stable"] = grow(0, 1000, 300), 5
			acts, when := runReclaim(t, cfgWith(nil), h, 30*time.Second)
			ks := reclaimKills(acts)
			if len(ks) != 1 || len(ks[0].Targets) != 1 || ks[0].Targets[0] != "batch" {
				t.Fatalf("got %v, want one reclaim kill of batch", acts)
			}
			// Free memory (600 MiB once stable holds) must not reach the
			// low watermark (5 MiB): the kill comes with at least 50 ms
			// of fill left.
			left := 600 - tc.rate*(when[0]-time.Second).Seconds()
			if want := 5 + tc.rate*0.05; left < want {
				t.Errorf("kill with %.0f MiB free, want at least %.0f; %s", left, want, strings.Join(ks[0].Explain, " "))
			}
			for _, k := range []string{"rule=host_reclaim", "measure=free_above_low_watermark", "horizon_ms=100",
				"protected=svc", "protected_file_bytes=262144000", "victim_priority=5"} {
				if !strings.Contains(strings.Join(ks[0].Explain, " "), k) {
					t.Errorf("explain %v lacks %s", ks[0].Explain, k)
				}
			}
		})
	}
}

func TestReclaimLeavesAStableJob(t *testing.T) {
	h := newReclaimHost()
	// Big-stable: grows fast to 486 MiB (50 % of RAM) and holds.
	h.mem["batch"], h.prios["batch"] = grow(time.Second, 400, 486), 5
	acts, _ := runReclaim(t, cfgWith(nil), h, 30*time.Second)
	if ks := reclaimKills(acts); len(ks) != 0 {
		t.Errorf("got %v, want no reclaim kill", ks)
	}
}

func TestReclaimNeedsProtectedJobs(t *testing.T) {
	h := newReclaimHost()
	h.prot = nil
	h.mem["batch"], h.prios["batch"] = grow(time.Second, 400, 1024), 5
	acts, _ := runReclaim(t, cfgWith(func(c *Config) { c.HostMemKill = -1 }), h, 10*time.Second)
	if ks := reclaimKills(acts); len(ks) != 0 {
		t.Errorf("got %v, want nothing with no protected job", ks)
	}
}

func TestReclaimOffAndDryRun(t *testing.T) {
	h := newReclaimHost()
	h.mem["batch"], h.prios["batch"] = grow(time.Second, 400, 1024), 5
	acts, _ := runReclaim(t, cfgWith(func(c *Config) { c.ReclaimHorizon = 0 }), h, 10*time.Second)
	if ks := reclaimKills(acts); len(ks) != 0 {
		t.Errorf("horizon 0: got %v, want the rule off", ks)
	}
	h = newReclaimHost()
	h.mem["batch"], h.prios["batch"] = grow(time.Second, 400, 1024), 5
	acts, _ = runReclaim(t, cfgWith(func(c *Config) { c.DryRun = true; c.HostMemKill = -1 }), h, 4*time.Second)
	ks := reclaimKills(acts)
	if len(ks) == 0 || !ks[0].DryRun || !strings.HasSuffix(strings.Join(ks[0].Explain, " "), "dry_run=1") {
		t.Fatalf("dry run: got %v, want a dry-run decision", ks)
	}
	if h.dead["batch"] {
		t.Error("dry run killed batch")
	}
}

func TestReclaimNoGrowingVictim(t *testing.T) {
	h := newReclaimHost()
	// Someone outside the jobs fills memory; the only job is stable.
	h.mem["stable"], h.prios["stable"] = grow(0, 1000, 100), 5
	h.mem["outside"], h.prios["outside"] = grow(time.Second, 400, 1024), 99
	acts, _ := runReclaim(t, cfgWith(func(c *Config) { c.HostMemKill = -1 }), h, 5*time.Second)
	ks := reclaimKills(acts)
	if len(ks) == 0 || len(ks[0].Targets) != 0 || !strings.Contains(strings.Join(ks[0].Explain, " "), "victim=none") {
		t.Fatalf("got %v, want a report with victim=none", ks)
	}
	if h.dead["stable"] {
		t.Error("the stable job was killed")
	}
}

// A host whose cold page cache keeps free memory at the watermarks: the
// rule is not armed (no candidate is asked about) and samples no faster
// than its unprotected memory could run out.
func TestReclaimColdCache(t *testing.T) {
	h := newReclaimHost()
	n := 0
	e, err := New(cfgWith(func(c *Config) { c.HostMemKill = -1 }), countingJobs{h, &n})
	if err != nil {
		t.Fatal(err)
	}
	e.Protect(h)
	origin := time.Unix(1000, 0)
	for h.now = 0; h.now <= 5*time.Second; h.now += 100 * time.Millisecond {
		s := h.sample()
		s.HostVM.Free = s.HostVM.Low // free memory at the watermark, steady
		s.HostMem.Available = 8 << 30
		if acts := e.Observe(origin.Add(h.now), s); len(acts) > 0 {
			t.Fatalf("at %v: %v", h.now, acts)
		}
	}
	if n != 0 {
		t.Errorf("candidates asked %d times, want 0", n)
	}
	if d := e.NextObserve(); d != 0 {
		t.Errorf("NextObserve %v, want 0 (the tick is enough)", d)
	}
}

type countingJobs struct {
	*reclaimHost
	n *int
}

func (c countingJobs) Candidates(p int) []Job { *c.n++; return c.reclaimHost.Candidates(p) }

// A slow leak whose job stalls in reclaim now and then (100 ms of every
// 300): between two samples (50 ms, as the daemon takes them) it may not
// grow at all; over a second it does, and it is the victim, not
// "nobody".
func TestReclaimStalledGrower(t *testing.T) {
	h := newReclaimHost()
	leak := grow(time.Second, 40, 1024)
	h.mem["batch"], h.prios["batch"] = func(t time.Duration) uint64 {
		if t%(300*time.Millisecond) < 100*time.Millisecond {
			t -= t % (300 * time.Millisecond) // stalled: as at the pause's start
		}
		return leak(t)
	}, 5
	acts, _ := runReclaimEvery(t, cfgWith(func(c *Config) { c.HostMemKill = -1 }), h, 30*time.Second, reclaimTick)
	ks := reclaimKills(acts)
	if len(ks) == 0 || len(ks[0].Targets) != 1 || ks[0].Targets[0] != "batch" {
		t.Fatalf("got %v, want the first decision a kill of batch", ks)
	}
}

// Big-stable: a batch that grows fast and stops with free memory just
// above the horizon's reach is not killed once it stopped, though the
// averaged fill rate still says it is filling.
func TestReclaimStopsGrowing(t *testing.T) {
	h := newReclaimHost()
	// 400 MiB/s, up to 850 MiB: it stops with 50 MiB free, 45 above the
	// low watermark, less than 150 ms of that fill.
	h.mem["batch"], h.prios["batch"] = grow(time.Second, 400, 850), 5
	acts, _ := runReclaimEvery(t, cfgWith(func(c *Config) { c.HostMemKill = -1 }), h, 10*time.Second, reclaimTick)
	for _, a := range reclaimKills(acts) {
		if len(a.Targets) > 0 {
			t.Errorf("got %v, want no reclaim kill of a job that stopped", a)
		}
	}
}

// The fast overload sampled at reclaimTick, as the daemon does: the kill
// still comes before free memory reaches the low watermark.
func TestReclaimFastAtTick(t *testing.T) {
	h := newReclaimHost()
	h.mem["batch"], h.prios["batch"] = grow(time.Second, 400, 1024), 5
	acts, when := runReclaimEvery(t, cfgWith(func(c *Config) { c.HostMemKill = -1 }), h, 10*time.Second, reclaimTick)
	ks := reclaimKills(acts)
	if len(ks) == 0 || len(ks[0].Targets) != 1 {
		t.Fatalf("got %v, want a kill", ks)
	}
	if left := 900 - 400*(when[0]-time.Second).Seconds(); left < 5 {
		t.Errorf("kill with %.0f MiB free, want above the low watermark (5)", left)
	}
}

// Free memory already below the low watermark, held there by kswapd while
// a slow leak takes the protected service's page cache: nothing falls,
// yet the service is losing its cache. The growing job is killed at once;
// a job that does not grow is not.
func TestReclaimBelowLowWatermark(t *testing.T) {
	cfg := cfgWith(func(c *Config) { c.HostMemKill = -1 })
	h := newReclaimHost()
	h.kswapd = true
	h.mem["batch"], h.prios["batch"] = func(t time.Duration) uint64 { return uint64(896*mib + 40*mib*t.Seconds()) }, 5
	acts, when := runReclaimEvery(t, cfg, h, 5*time.Second, reclaimTick)
	ks := reclaimKills(acts)
	if len(ks) == 0 || len(ks[0].Targets) != 1 || ks[0].Targets[0] != "batch" {
		t.Fatalf("got %v, want a reclaim kill of batch", acts)
	}
	if when[0] > 1500*time.Millisecond {
		t.Errorf("kill at %v, want within 1.5 s (growth measured over about a second)", when[0])
	}
	h = newReclaimHost()
	h.kswapd = true
	h.mem["stable"], h.prios["stable"] = func(time.Duration) uint64 { return 897 * mib }, 5
	acts, _ = runReclaimEvery(t, cfg, h, 5*time.Second, reclaimTick)
	for _, a := range reclaimKills(acts) {
		if len(a.Targets) > 0 {
			t.Errorf("got %v, want no reclaim kill of a job that does not grow", a)
		}
	}
}
