package pressure

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"cgroupd/core/psi"
)

// stream drives an engine with the sample stream and job events encoded in
// data and checks the invariants that must hold whatever the input:
// no panic, no job above MaxVictimPriority ever touched, a job killed at
// most once, only jobs the engine froze thawed (never one a client took
// over), only demoted jobs restored, and with their original weight.
func stream(t *testing.T, data []byte) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	cfg := Defaults()
	th := func(b byte) float64 { return float64(int(b%110) - 5) } // -5..104 → some off, some > 100
	cfg.MemKill, cfg.MemFreeze, cfg.CPUDemote, cfg.IOFreeze = th(next()), th(next()), th(next()), th(next())
	for _, p := range []*float64{&cfg.MemKill, &cfg.MemFreeze, &cfg.CPUDemote, &cfg.IOFreeze} {
		*p = min(*p, 100)
	}
	b := next()
	cfg.DryRun = b&1 != 0
	cfg.Sustain = time.Duration(b>>1%8) * 50 * time.Millisecond
	cfg.Cooldown = time.Duration(next()%8) * 250 * time.Millisecond
	cfg.Hysteresis = time.Duration(next()%8) * 250 * time.Millisecond

	jobs := &fakeJobs{leak: true}
	for i := range 6 {
		jobs.jobs = append(jobs.jobs, &fakeJob{Job: Job{
			ID:            "j" + strconv.Itoa(i),
			Priority:      int(next()) % 101,
			MemoryCurrent: uint64(next()) * mib,
			MemoryLow:     uint64(next()) * mib,
			IOBytes:       uint64(next()) << 20,
			CPUWeight:     int(next()) * 40,
		}})
	}
	e, err := New(cfg, jobs)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}

	prio := map[string]int{}
	for _, j := range jobs.jobs {
		prio[j.ID] = j.Priority
	}
	engineFrozen := map[string]bool{}
	demoted := map[string]int{}
	killed := map[string]bool{}

	now := time.Unix(1_700_000_000, 0)
	var tot [nLines]uint64
	for len(data) > 0 {
		op := next()
		switch op % 16 {
		case 0: // the clock jumps back
			now = now.Add(-time.Duration(next()) * time.Millisecond)
		case 1: // a counter resets
			tot[next()%nLines] = 0
		case 2: // garbage: a huge jump
			tot[next()%nLines] += 1 << 50
		case 3: // a job ends
			j := jobs.jobs[int(next())%len(jobs.jobs)]
			j.dead = true
			e.JobEnded(j.ID)
		case 4: // a client freezes a job
			j := jobs.jobs[int(next())%len(jobs.jobs)]
			j.Frozen = true
			delete(engineFrozen, j.ID)
			e.ClientFroze(j.ID)
		case 5: // a client thaws a job
			j := jobs.jobs[int(next())%len(jobs.jobs)]
			j.Frozen = false
			delete(engineFrozen, j.ID)
			e.ClientThawed(j.ID)
		case 6: // memory and io change
			j := jobs.jobs[int(next())%len(jobs.jobs)]
			j.MemoryCurrent = uint64(next()) * mib
			j.IOBytes += uint64(next()) << 20
		default: // time passes with some stall
			dt := time.Duration(int(op)%200+1) * time.Millisecond
			now = now.Add(dt)
			for i := range tot {
				frac := uint64(next() % 9) // eighths of dt; 8 → 100%
				tot[i] += uint64(dt.Microseconds()) * min(frac, 8) / 8
			}
		}
		s := Sample{
			Memory: psi.PSI{Some: psi.Line{Total: tot[memSome], Avg10: float64(next())}, Full: psi.Line{Total: tot[memFull]}, HasFull: op&32 == 0},
			CPU:    psi.PSI{Some: psi.Line{Total: tot[cpuSome]}, Full: psi.Line{Total: tot[cpuFull]}, HasFull: true},
			IO:     psi.PSI{Some: psi.Line{Total: tot[ioSome]}, Full: psi.Line{Total: tot[ioFull]}, HasFull: true},
		}
		for _, a := range e.Observe(now, s) {
			for _, id := range a.Targets {
				p, known := prio[id]
				if !known {
					t.Fatalf("%v of unknown job %q", a.Kind, id)
				}
				if a.Kind != Thaw && a.Kind != Restore && p > MaxVictimPriority {
					t.Fatalf("%v of %s with priority %d", a.Kind, id, p)
				}
				if a.DryRun {
					if a.Kind == Thaw || a.Kind == Restore {
						t.Fatalf("dry-run %v of %s: nothing is done in a dry run, nothing to undo", a.Kind, id)
					}
					continue
				}
				j := jobs.get(id)
				switch a.Kind {
				case Kill:
					if killed[id] {
						t.Fatalf("%s killed twice", id)
					}
					killed[id] = true
					j.dead = next()%2 == 0 // dies now or never
				case Freeze:
					if j.Frozen {
						t.Fatalf("freeze of %s, already frozen", id)
					}
					j.Frozen, engineFrozen[id] = true, true
				case Thaw:
					if !engineFrozen[id] {
						t.Fatalf("thaw of %s, which the engine does not own", id)
					}
					j.Frozen = false
					delete(engineFrozen, id)
				case Demote:
					if _, ok := demoted[id]; ok {
						t.Fatalf("%s demoted twice", id)
					}
					if w := a.CPUWeight[id]; w < 1 || w > 10000 {
						t.Fatalf("demote %s to weight %d", id, w)
					}
					demoted[id] = max(j.CPUWeight, 0)
					if demoted[id] == 0 {
						demoted[id] = 100
					}
					j.CPUWeight = a.CPUWeight[id]
				case Restore:
					orig, ok := demoted[id]
					if !ok {
						t.Fatalf("restore of %s, never demoted", id)
					}
					if a.CPUWeight[id] != orig {
						t.Fatalf("restore of %s to %d, want its original %d", id, a.CPUWeight[id], orig)
					}
					j.CPUWeight = orig
					delete(demoted, id)
				}
			}
		}
		// Keep the model in step with what the engine forgets.
		for _, j := range jobs.jobs {
			if j.dead {
				delete(engineFrozen, j.ID)
				delete(demoted, j.ID)
			}
		}
		if d := e.NextObserve(); d != 0 && d != cfg.FastTick {
			t.Fatalf("NextObserve %v, want 0 or %v", d, cfg.FastTick)
		}
		_ = e.Snapshot()
	}
}

func FuzzObserve(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{65, 25, 55, 35, 0, 4, 8, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		b := make([]byte, 2000)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		f.Add(b)
	}
	f.Fuzz(stream)
}

// TestRandomStreams runs the fuzz invariants over many pseudo-random
// streams biased towards sustained pressure, so that every rule fires.
func TestRandomStreams(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 42))
		b := make([]byte, 4000)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		// Low thresholds, low priorities, then mostly "time passes" with
		// heavy stall.
		for i := range 4 {
			b[i] = byte(5 + rng.UintN(40))
		}
		for i := 7; i < 7+6*5; i += 5 {
			b[i] = byte(rng.UintN(45))
		}
		for i := 40; i < len(b); i++ {
			if rng.UintN(4) != 0 {
				b[i] = byte(16*rng.UintN(16) + 7 + rng.UintN(9))
			}
		}
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) { stream(t, b) })
	}
}
