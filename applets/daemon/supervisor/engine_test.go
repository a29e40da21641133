package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/psi"
	"cgroupd/core/spawn"
)

// Unit tests of the engine's wiring: pressureStep is fed made-up samples
// of the root's pressure on a fake clock, over the fake cgroupfs of
// fakeDaemon; the engine's policy itself is tested in ./pressure.

// withEngine gives a fakeDaemon an engine with cfg (no triggers, no timer).
func withEngine(t *testing.T, d *Supervisor, cfg pressure.Config) {
	t.Helper()
	d.c.cfg.Engine = cfg
	d.c.g = guard.New(guard.Config{Root: d.c.cfg.Root, Engine: cfg}, nil, engineJobs{d.c})
	if err := d.c.g.Start(); err != nil {
		t.Fatal(err)
	}
}

// only returns the default policy with every rule off but the ones set.
func only(f func(c *pressure.Config)) pressure.Config {
	c := pressure.Defaults()
	c.MemKill, c.MemFreeze, c.CPUDemote, c.IOFreeze = -1, -1, -1, -1
	f(&c)
	return c
}

// feeder makes samples with per-line stall rates on a fake clock.
type feeder struct {
	d   *Supervisor
	now time.Time
	tot [6]uint64 // µs: mem some/full, cpu some/full, io some/full
}

// step advances the clock by dt with the lines stalled pct% of it and
// feeds the sample. avg10 figures are fixed so events are predictable.
func (f *feeder) step(dt time.Duration, memSome, memFull, cpuSome, ioFull float64) {
	rates := [6]float64{memSome, memFull, cpuSome, 0, ioFull, ioFull}
	for i, r := range rates {
		f.tot[i] += uint64(float64(dt.Microseconds()) * r / 100)
	}
	f.now = f.now.Add(dt)
	line := func(i int, avg float64) psi.Line { return psi.Line{Avg10: avg, Total: f.tot[i]} }
	s := pressure.Sample{
		Memory: psi.PSI{Some: line(0, 12.5), Full: line(1, 7.25), HasFull: true},
		CPU:    psi.PSI{Some: line(2, 33), Full: line(3, 0), HasFull: true},
		IO:     psi.PSI{Some: line(4, 1), Full: line(5, 0.5), HasFull: true},
	}
	f.d.c.g.Observe(f.now, s)
}

// run feeds n samples FastTick apart.
func (f *feeder) run(n int, memSome, memFull, cpuSome, ioFull float64) {
	for range n {
		f.step(100*time.Millisecond, memSome, memFull, cpuSome, ioFull)
	}
}

func writeCg(t *testing.T, j *Job, file, v string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(string(j.Cgroup()), file), []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventLines returns the captured event lines without their timestamp
// prefix ("type=... k=v ...").
func eventLines(ev string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(ev), "\n") {
		if _, rest, ok := strings.Cut(l, " type="); ok {
			out = append(out, "type="+rest)
		}
	}
	return out
}

func TestPressureKill(t *testing.T) {
	for _, dry := range []bool{false, true} {
		name := "kill"
		if dry {
			name = "dry run"
		}
		t.Run(name, func(t *testing.T) {
			d, j, ev := fakeDaemon(t)
			writeCg(t, j, "memory.current", "104857600\n")
			writeCg(t, j, "memory.low", "max\n")
			withEngine(t, d, only(func(c *pressure.Config) { c.MemKill = 5; c.DryRun = dry }))
			f := &feeder{d: d, now: time.Unix(1000, 0)}
			f.run(3, 0, 0, 0, 0) // calm
			f.run(8, 100, 100, 0, 0)
			got := eventLines(ev.String())
			if len(got) == 0 {
				t.Fatalf("no events after 800 ms of full memory stall")
			}
			wantPrefix := "type=pressure resource=memory some_avg10=12.50 full_avg10=7.25 action=kill target=job window_ms=500 "
			if !strings.HasPrefix(got[0], wantPrefix) {
				t.Fatalf("got %q, want prefix %q", got[0], wantPrefix)
			}
			for _, k := range []string{" some_pct=", " full_pct=", " threshold=5.00 ", " held_ms=", " candidates=1 ",
				" victim_priority=10 ", " victim_memory=104857600 ", " victim_memory_low=18446744073709551615"} {
				if !strings.Contains(got[0], k) {
					t.Errorf("pressure event %q lacks %q", got[0], k)
				}
			}
			kill := readFile(t, filepath.Join(string(j.Cgroup()), "cgroup.kill"))
			if dry {
				if !strings.HasSuffix(got[0], " dry_run=1") {
					t.Errorf("got %q, want dry_run=1 at the end", got[0])
				}
				for _, l := range got {
					if !strings.HasPrefix(l, "type=pressure ") {
						t.Errorf("dry run: got event %q, want pressure events only", l)
					}
				}
				if kill != "" {
					t.Errorf("dry run: cgroup.kill = %q, want untouched", kill)
				}
				// A dry run repeats the decision at most once per Cooldown.
				if n := len(got); n != 1 {
					t.Errorf("dry run: got %d decisions in 800 ms, want 1 (cooldown 1s)", n)
				}
				return
			}
			if len(got) != 2 || got[1] != "type=job.kill id=job signal=9 reason=pressure_memory cgroup="+string(j.Cgroup())+" uid=1000" {
				t.Fatalf("got events %q, want pressure then job.kill", got)
			}
			if kill != "1" {
				t.Errorf("cgroup.kill = %q, want 1", kill)
			}
			// One overload, one kill: the victim's memory is not released
			// yet, nothing else happens however long the stall lasts.
			f.run(30, 100, 100, 0, 0)
			if n := len(eventLines(ev.String())); n != 2 {
				t.Errorf("got %d events after more stall, want still 2: %q", n, eventLines(ev.String()))
			}
		})
	}
}

func TestPressureFreezeThaw(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	writeCg(t, j, "memory.current", "1000\n")
	withEngine(t, d, only(func(c *pressure.Config) { c.MemFreeze = 10 }))
	f := &feeder{d: d, now: time.Unix(1000, 0)}
	f.run(10, 50, 0, 0, 0)
	got := eventLines(ev.String())
	if len(got) != 2 || !strings.HasPrefix(got[0], "type=pressure resource=memory some_avg10=12.50 full_avg10=7.25 action=freeze target=job ") ||
		got[1] != "type=job.freeze id=job reason=pressure_memory cgroup="+string(j.Cgroup())+" uid=1000" {
		t.Fatalf("got %q, want a pressure freeze then job.freeze", got)
	}
	if v := readFile(t, filepath.Join(string(j.Cgroup()), "cgroup.freeze")); v != "1" || j.FrozenBy() != pressure.ReasonMemory {
		t.Fatalf("got cgroup.freeze %q frozenBy %q, want 1 and pressure_memory", v, j.FrozenBy())
	}
	setEvents(t, j, 1, 1)
	d.c.checkEvents(j)
	if j.State() != job.StateFrozen || d.c.nFrozen != 1 {
		t.Fatalf("got state %s, frozen count %d, want frozen 1", j.State(), d.c.nFrozen)
	}
	ev.Reset()
	f.run(10, 0, 0, 0, 0) // 1 s calm: less than Hysteresis (2 s)
	if ev.Len() != 0 {
		t.Fatalf("got %q 1 s after the pressure ended, want nothing yet", ev.String())
	}
	f.run(25, 0, 0, 0, 0)
	got = eventLines(ev.String())
	if len(got) != 1 || got[0] != "type=job.thaw id=job reason=pressure_receded cgroup="+string(j.Cgroup())+" uid=1000" {
		t.Fatalf("got %q, want one job.thaw reason=pressure_receded", got)
	}
	if v := readFile(t, filepath.Join(string(j.Cgroup()), "cgroup.freeze")); v != "0" || j.FrozenBy() != "" {
		t.Errorf("got cgroup.freeze %q frozenBy %q, want 0 and none", v, j.FrozenBy())
	}
}

// A job the engine froze and a client then froze too is the client's: the
// engine never thaws it.
func TestPressureClientFreezeWins(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	withEngine(t, d, only(func(c *pressure.Config) { c.MemFreeze = 10 }))
	f := &feeder{d: d, now: time.Unix(1000, 0)}
	f.run(10, 50, 0, 0, 0)
	if !d.c.g.FrozenByEngine("job") {
		t.Fatalf("engine did not freeze the job: %q", ev.String())
	}
	setEvents(t, j, 1, 1)
	d.c.checkEvents(j)
	if _, err := d.Freeze(j, true); err != nil {
		t.Fatalf("client FREEZE: %v", err)
	}
	if d.c.g.FrozenByEngine("job") || j.FrozenBy() != job.ReasonClient {
		t.Fatalf("after a client FREEZE: engine owns %v, frozenBy %q; want the client's", d.c.g.FrozenByEngine("job"), j.FrozenBy())
	}
	ev.Reset()
	f.run(60, 0, 0, 0, 0)
	if strings.Contains(ev.String(), "job.thaw") || readFile(t, filepath.Join(string(j.Cgroup()), "cgroup.freeze")) != "1" {
		t.Errorf("the engine thawed a client freeze: %q", ev.String())
	}
	// A job a client froze is never picked to freeze either.
	f.run(10, 50, 0, 0, 0)
	if strings.Contains(ev.String(), "job.freeze") {
		t.Errorf("the engine froze a frozen job again: %q", ev.String())
	}
}

func TestPressureDemoteRestore(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	writeCg(t, j, "cpu.weight", "300\n")
	withEngine(t, d, only(func(c *pressure.Config) { c.CPUDemote = 20 }))
	f := &feeder{d: d, now: time.Unix(1000, 0)}
	f.run(10, 0, 0, 80, 0)
	got := eventLines(ev.String())
	if len(got) != 2 || !strings.HasPrefix(got[0], "type=pressure resource=cpu some_avg10=33.00 full_avg10=0.00 action=demote window_ms=500 ") ||
		got[1] != "type=job.throttle id=job resource=cpu cpu_weight=150 reason=pressure_cpu cgroup="+string(j.Cgroup())+" uid=1000" {
		t.Fatalf("got %q, want a pressure demote (no target) then job.throttle 150", got)
	}
	if strings.Contains(got[0], " target=") {
		t.Errorf("demote event %q has a target", got[0])
	}
	if w := readFile(t, filepath.Join(string(j.Cgroup()), "cpu.weight")); w != "150" || j.CPUWeight() != 150 {
		t.Fatalf("got cpu.weight %q, job.cpuWeight %d, want 150", w, j.CPUWeight())
	}
	ev.Reset()
	f.run(30, 0, 0, 0, 0)
	got = eventLines(ev.String())
	if len(got) != 1 || got[0] != "type=job.throttle id=job resource=cpu cpu_weight=300 reason=pressure_receded cgroup="+string(j.Cgroup())+" uid=1000" {
		t.Fatalf("got %q, want one restore to 300", got)
	}
	if w := readFile(t, filepath.Join(string(j.Cgroup()), "cpu.weight")); w != "300" || j.CPUWeight() != 0 {
		t.Errorf("got cpu.weight %q, job.cpuWeight %d, want 300 and 0", w, j.CPUWeight())
	}
}

// High-priority jobs are never touched; a rule with nobody to act on is
// reported with an empty target.
func TestPressureNoVictim(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	j = testEntry("job", 1000, d.c.cfg.Root.Child("job"), 90)
	d.c.jobs["job"], d.c.liveJobs = j, map[*Job]struct{}{}
	testStart(d, j)
	withEngine(t, d, only(func(c *pressure.Config) { c.MemKill = 5 }))
	f := &feeder{d: d, now: time.Unix(1000, 0)}
	f.run(20, 100, 100, 0, 0)
	got := eventLines(ev.String())
	if len(got) != 1 || !strings.HasPrefix(got[0], "type=pressure resource=memory some_avg10=12.50 full_avg10=7.25 action=kill target= ") ||
		!strings.Contains(got[0], " candidates=0 victim=none") {
		t.Fatalf("got %q, want one report with an empty target and victim=none", got)
	}
	if kill := readFile(t, filepath.Join(string(j.Cgroup()), "cgroup.kill")); kill != "" {
		t.Errorf("cgroup.kill = %q, want untouched", kill)
	}
}

// A job that ends is forgotten by the engine: a victim that ended counts
// as released, and the next overload may pick another victim.
func TestPressureJobEnded(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	withEngine(t, d, only(func(c *pressure.Config) { c.MemFreeze = 10 }))
	f := &feeder{d: d, now: time.Unix(1000, 0)}
	f.run(10, 50, 0, 0, 0)
	if !d.c.g.FrozenByEngine("job") {
		t.Fatalf("engine did not freeze the job: %q", ev.String())
	}
	testExit(d, j, spawn.Status{})
	setEvents(t, j, 0, 0)
	d.c.checkEvents(j)
	if !j.IsEnded() || d.c.g.FrozenByEngine("job") {
		t.Fatalf("ended %v, engine still owns its freeze %v; want ended and forgotten", j.IsEnded(), d.c.g.FrozenByEngine("job"))
	}
	ev.Reset()
	f.run(40, 0, 0, 0, 0)
	if strings.Contains(ev.String(), "job.thaw") {
		t.Errorf("got %q: a thaw of an ended job", ev.String())
	}
}

// The queue's bookkeeping without a loop: pending jobs are in the table
// as pending, with no process and no start time; KILL cancels one (killed,
// signal 9), REMOVE forgets one, and neither ever gets a cgroup.
func TestPendingVerbs(t *testing.T) {
	d, _, ev := fakeDaemon(t)
	withEngine(t, d, pressure.Defaults())
	d.c.cfg.HostPressure = t.TempDir() // no files: admission never blocks
	for _, id := range []string{"p1", "p2"} {
		j := testEntry(id, 1000, d.c.cfg.Root.Child(id), 40)
		d.c.rq.enqueue(j, &pendingRun{start: &Start{Spec: j.Spec(), QueueTimeout: time.Hour},
			block: &guard.Block{Reason: "admission blocked: x"}})
	}
	if d.Count() != 3 {
		t.Fatalf("got %d jobs, want the running one and two pending", d.Count())
	}
	for _, id := range []string{"p1", "p2"} {
		j := d.Get(id)
		su, _, _, _ := j.Times()
		if j.State() != job.StatePending || j.Pid() != 0 || su != 0 {
			t.Fatalf("%s: got state %s pid %d start %d, want pending with pid 0 and start 0", id, j.State(), j.Pid(), su)
		}
	}
	if _, _, pending := d.Counts(); pending != 2 {
		t.Errorf("got %d pending, want 2", pending)
	}
	if err := d.Kill(d.Get("p1"), 15); err != nil {
		t.Fatalf("KILL: %v", err)
	}
	p1 := d.Get("p1")
	if p1 == nil || p1.State() != job.StateKilled || p1.Status().Signal != 9 || !p1.IsEnded() || d.c.rq.queue.Len() != 1 {
		t.Fatalf("after KILL: got %+v, queue %d; want killed, signal 9, one left pending", p1, d.c.rq.queue.Len())
	}
	if err := d.Remove(d.Get("p2")); err != nil {
		t.Fatalf("REMOVE: %v", err)
	}
	if d.Get("p2") != nil || d.c.rq.queue.Len() != 0 {
		t.Fatalf("after REMOVE: p2 still known or queued (%d)", d.c.rq.queue.Len())
	}
	var done, told []string
	for _, o := range d.Outcomes() {
		if o.Kind == Refused {
			done = append(done, o.Job.ID()+": "+o.Refusal.Reason)
		}
		told = append(told, fmt.Sprint(o.Job.ID(), " ", o.Kind))
	}
	if strings.Join(done, "; ") != "p1: killed while pending; p2: removed while pending" {
		t.Errorf("the RUNs were told %q", done)
	}
	// Refused=1, Ended=2, Dropped=4: p1's RUN and WAITs, p2's RUN and WAITs.
	if got := strings.Join(told, ", "); got != "p1 1, p1 2, p2 1, p2 4" {
		t.Errorf("outcomes %q, want p1 refused then ended, p2 refused then dropped", got)
	}
	got := eventLines(ev.String())
	if len(got) != 1 || got[0] != "type=job.cleanup id=p2 result=removed cgroup="+string(d.c.cfg.Root.Child("p2"))+" uid=1000" {
		t.Errorf("got events %q, want only job.cleanup of p2", got)
	}
	if _, err := os.Stat(string(d.c.cfg.Root.Child("p2"))); err == nil {
		t.Errorf("a pending job got a cgroup")
	}
}
