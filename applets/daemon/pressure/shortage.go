package pressure

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
	// cgroup Where (the root or an ancestor; memory.current within reach
	// of it); "host" (the page scanners ran since the last sample, or
	// free pages are below the low watermarks).
	What, Where string
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
	default:
		return []string{"shortage=" + s.What}
	}
}

// memoryLine: l is a memory stall line (the tree's or the host's).
func memoryLine(l int) bool { return l == memSome || l == memFull || l == hostSome || l == hostFull }
