package pressure

import "math"

// Shortage is what was short of memory at a sample, for the rules on
// memory stall (the job tree's kill and freeze rules, the host PSI rule).
// A stall while nothing is short is not the jobs' doing now: tasks that
// went over a memory.high sleep off a throttling penalty of up to 2 s
// (mm/memcontrol.c) after the cap is lifted, and the kernel counts that
// sleep as full stall. Killing or freezing a job cannot end it, so those
// rules do not act on it.
type Shortage struct {
	// Known: measured. The zero value (not measured: no memory
	// controller, no vmstat) leaves the rules to the stall alone.
	Known bool
	// What is short: "" nothing; "memory.high" or "memory.max" of the
	// cgroup Where (the root or an ancestor) or of the job Job
	// (memory.current within reach of it, WithinReach); "host" (the page
	// scanners ran since the last sample, or free pages are below the low
	// watermarks).
	What, Where, Job string
}

// None: measured, and nothing short.
func (s Shortage) None() bool { return s.Known && s.What == "" }

// explain is the keys a memory decision adds for it.
func (s Shortage) explain() []string {
	switch {
	case !s.Known:
		return nil
	case s.Where != "":
		return []string{"shortage=" + s.What, "shortage_cgroup=" + s.Where}
	case s.Job != "":
		return []string{"shortage=" + s.What, "shortage_job=" + s.Job}
	default:
		return []string{"shortage=" + s.What}
	}
}

// WithinReach says memory.current cur is within reach of the limit lim
// (0 or math.MaxUint64: none): within a sixteenth of it, at least 1 MiB,
// which is where reclaim and throttling work.
func WithinReach(cur, lim uint64) bool {
	return lim != 0 && lim != math.MaxUint64 && cur+max(lim/16, 1<<20) >= lim
}

// atLimit is which of job j's own limits its memory is within reach of,
// "" when neither.
func atLimit(j Job) string {
	switch {
	case WithinReach(j.MemoryCurrent, j.MemoryHigh):
		return "memory.high"
	case WithinReach(j.MemoryCurrent, j.MemoryMax):
		return "memory.max"
	}
	return ""
}

// memoryLine: l is a memory stall line (the tree's or the host's).
func memoryLine(l int) bool { return l == memSome || l == memFull || l == hostSome || l == hostFull }

// shortFor is what is short of memory for rule r, about to act: for a
// memory rule the sample's Shortage (sample), unless it measured nothing
// short; then one of the candidates at its own memory.high or memory.max
// (the stall is its own, and it is a candidate to end it). ok false:
// nothing is short and the rule leaves the stall alone. A rule on another
// resource gets the zero Shortage, which explains nothing.
func shortFor(r *rule, sample Shortage, candidates []Job) (s Shortage, ok bool) {
	if !memoryLine(r.line) {
		return Shortage{}, true
	}
	if s = sample; !s.None() {
		return s, true
	}
	for _, j := range candidates {
		if w := atLimit(j); w != "" {
			return Shortage{Known: true, What: w, Job: j.ID}, true
		}
	}
	return s, false
}
