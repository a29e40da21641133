// Package pressure is cgroupd's pressure engine: a pure policy that is fed
// PSI samples of the daemon's root cgroup and the time, and returns the
// actions to carry out. It does no I/O, reads no clock, starts no goroutine
// and logs nothing, so it is tested with fake samples and a fake clock.
//
// # Measurement
//
// Every Observe gets the root's memory, cpu and io pressure (some and full
// lines). The engine keeps a small ring of the cumulative stall counters
// (total, µs) and measures the percentage of time stalled over the last
// Window, interpolating the counters at the window's start, so it follows a
// step of pressure within one window, where the kernel's avg10 needs ~10 s.
// A counter that goes backwards, an impossible jump (more stall than twice
// the elapsed time) or a clock going backwards restarts the measurement.
//
// A rule is "on" at a sample when, with the whole Window measured:
//
//   - the stall over the Window is >= its threshold, and
//   - the stall is still going on: since the newest sample at least
//     FastTick/2 old (the previous one, at the fast tick) it is at least
//     half the threshold.
//
// The engine acts once a rule has been on at every sample for Sustain,
// counted from the first of those samples to the sample the last "still
// going on" span starts at (the stall began before the first and was still
// going on after the last): a burst of stall shorter than Sustain never
// causes an action, however it falls between samples.
//
// # The ladder
//
// Only jobs with priority <= 30 (MaxVictimPriority) are ever touched.
//
//   - cpu some >= CPUDemote: halve cpu.weight (minimum 1) of every such job
//     not yet demoted; the original weights are restored (one Restore
//     action) once cpu some has stayed below the threshold for Hysteresis.
//   - memory some >= MemFreeze: freeze the lowest-priority running job,
//     ties to the largest memory.current.
//   - memory full >= MemKill: kill the lowest-priority live job (a frozen
//     one counts), ties to the largest memory.current - memory.low.
//     While the full stall since the previous fast sample is at MemKill,
//     the memory freeze defers to this rule: the higher rung supersedes.
//     (Freezing a stalled allocator relieves the stall; the thaw after
//     Hysteresis brings it back, and the kill would come seconds late.)
//   - io full >= IOFreeze: freeze the lowest-priority running job among
//     those that did IO since the engine last looked, most IO first (a job
//     doing none would relieve nothing).
//
// After a kill nothing else is killed or frozen for memory until the victim
// has released its memory (the daemon reports it gone, or its
// memory.current fell below 1/8 of what it was; ReleaseTimeout caps the
// wait) and a whole Window has been measured after that: one overload, one
// kill, unless the pressure persists once the memory is back. A killed job
// is never picked again, even if it does not die. After any
// action the same rule waits for Cooldown and for a Window measured after
// the action, and the condition must hold for Sustain again.
//
// The engine thaws only jobs it froze itself (reason pressure_receded),
// highest priority first, one per Window, once the pressure that froze them
// (memory some, io full) has stayed below its threshold for Hysteresis. A
// job frozen again within 30 s of its thaw needs twice the calm of its
// previous freeze before the next thaw (up to 16 × Hysteresis, hold_ms on
// the freeze event): a freeze that relieves the pressure must not cycle
// freeze/thaw every few seconds for as long as the load lasts. A
// job a client froze or thawed is no longer the engine's. When a rule
// matures with no eligible job the decision is still reported (an Action
// with no Targets), at most once per ReportInterval; the rule then asks for
// candidates again after a Cooldown. In DryRun mode actions
// are returned marked DryRun and the engine keeps no state about them; a
// rule repeats its decision at most once per Cooldown.
//
// # Timing defaults
//
//	Window          500 ms  the kernel's smallest trigger window before 6.5;
//	                        a 100% stall crosses 60% in 300 ms, 5% in 25 ms
//	FastTick        100 ms  5 samples per window while pressure is active
//	Sustain         200 ms  bursts up to 200 ms are ignored
//	Cooldown        1 s     between two actions of one rule
//	Hysteresis      2 s     low pressure needed before a thaw or restore
//	ReleaseTimeout  5 s     longest wait for a kill victim's memory
//	ReportInterval  10 s    between "no eligible job" reports
//
// With these, under a 100% stall sampled at the fast tick the kill comes
// 0.4 s after the overload begins at MemKill=5 (target 0.5 s) and 0.7 s
// after at the default MemKill=60 (target 2 s, which leaves room for stalls
// well below 100%); a freeze caused by a burst is undone about 2.5 s after
// the burst ends.
//
// # The reclaim rule
//
// With Sample.HostVM (free pages and the zones' watermarks) and a Jobs
// that knows the protected jobs (ProtectedJobs), the engine also stops
// the growing lowest-priority job at the onset of reclaim, before the
// protected jobs stall on it; reclaim.go has the rule and the
// measurements behind it.
//
// The package also holds Queue, the pure helper behind queued admission
// (RUNs waiting for pressure to allow them, in priority order); the
// admission check itself is the daemon's (package guard).
package pressure
