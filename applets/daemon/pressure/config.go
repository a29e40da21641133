package pressure

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxVictimPriority is the highest job priority the engine ever freezes,
// kills or demotes. Jobs above it are never touched.
const MaxVictimPriority = 30

// Resources, as Action.Resource and in events.
const (
	Memory = "memory"
	CPU    = "cpu"
	IO     = "io"
)

// Reasons, as Action.Reason and in the job.* events' reason key.
const (
	ReasonMemory  = "pressure_memory"
	ReasonCPU     = "pressure_cpu"
	ReasonIO      = "pressure_io"
	ReasonReceded = "pressure_receded"
	// ReasonHostMemory: the host's memory headroom (MemAvailable, and
	// SwapFree where there is swap) fell below its threshold.
	ReasonHostMemory = "pressure_host_memory"
	// ReasonHostPSI: the host's memory full stall (/proc/pressure/memory)
	// crossed its threshold, wherever the stalled tasks sit.
	ReasonHostPSI = "pressure_host_psi"
)

// kernelMaxWindow is the longest PSI trigger window the kernel accepts.
const kernelMaxWindow = 10 * time.Second

// Config is the engine's policy. Thresholds are percentages of time stalled
// over the Window; a negative threshold turns its rule off. The daemon fills
// it from its flags, starting from Defaults.
type Config struct {
	MemKill   float64 // memory full; -k/--mem-kill-avg10
	MemFreeze float64 // memory some; --mem-freeze-some-avg10
	CPUDemote float64 // cpu some; --cpu-demote-some-avg10
	IOFreeze  float64 // io full; --io-freeze-full-avg10

	// HostMemKill is the host headroom rule: kill when MemAvailable is
	// below this percentage of MemTotal and, on a host with swap, SwapFree
	// is below HostSwapKill percent of SwapTotal (--host-mem-kill-pct,
	// --host-swap-kill-pct). It needs no stall to begin: it acts before
	// the kernel starts evicting program text.
	HostMemKill  float64
	HostSwapKill float64
	// HostPSIKill is the host memory full stall (percent of Window) at
	// which the lowest-priority job is killed (--host-psi-kill).
	HostPSIKill float64

	// ReclaimHorizon is the reclaim rule's horizon: it acts when free
	// memory would reach the zones' high watermark within it at the fill
	// rate (--host-reclaim-horizon; 0: the rule is off). RiskHorizon: ...
	// and the memory available to unprotected jobs would run out within
	// it (reclaim.go). ProtectLevel: the least priority that is protected
	// (--protect-priority).
	ReclaimHorizon, RiskHorizon time.Duration
	ProtectLevel                int
	// ProtectMemoryLow: protected jobs get memory.low max, and the root
	// too (--protect-memory-low). Off by default: under a root capped by
	// memory.high the throttling penalty then lands on the unprotected
	// jobs and stretched 18-burst's 150 ms blip to 325-914 ms (5 of 5).
	ProtectMemoryLow bool

	// Window is the span over which stall percentages are measured.
	Window time.Duration
	// FastTick is how often the daemon should sample while the engine asks
	// for it (NextObserve); a rule stays on while the stall since the
	// newest sample at least FastTick/2 old is still half its threshold.
	FastTick time.Duration
	// Sustain is how long a rule must stay on before the engine acts.
	Sustain time.Duration
	// Cooldown is the least time between two actions of one rule.
	Cooldown time.Duration
	// Hysteresis is how long pressure must stay below a threshold before
	// the engine thaws what it froze or restores the weights it halved.
	Hysteresis time.Duration
	// ReleaseTimeout caps the wait for a kill victim's memory to be freed.
	ReleaseTimeout time.Duration
	// ReportInterval rate-limits "no eligible job" reports of one rule.
	ReportInterval time.Duration

	// DryRun: actions are returned, marked DryRun, and not remembered.
	DryRun bool
}

// Defaults returns the daemon's default policy; doc.go explains the timing.
func Defaults() Config {
	return Config{
		MemKill:   60,
		MemFreeze: 20,
		CPUDemote: 50,
		IOFreeze:  30,

		// 10 %: earlyoom's default, where the kernel has not started to
		// evict program text yet on the 1 GiB VM (README, host overload).
		HostMemKill:  10,
		HostSwapKill: 10,
		// 60 %: the job tree's kill level, for stall outside the tree.
		HostPSIKill: 60,

		// 100 ms, on one sample with free memory still falling: in the
		// 1 GiB VM the fast overload fills memory at 200-450 MiB/s and
		// the service's first late request came 3-560 ms after free
		// memory fell below the low watermark (90-960 ms after the high
		// one). A batch that grows as fast to 50 % of RAM and holds
		// (big-stable) stops 45 MB above the low watermark there, 110-130
		// ms of its fill: 150 ms (on two samples in a row) killed it in 3
		// runs of 3, 100 ms on one sample in 1 of 5. 5 s: at the slow
		// leak's 40 MiB/s that is 200 MiB of unprotected memory left, and
		// a host of cold page cache is far from it.
		ReclaimHorizon: 100 * time.Millisecond,
		RiskHorizon:    5 * time.Second,
		// 60: above the default priority 50, so a v1 job that names no
		// priority is not protected and behaves as before.
		ProtectLevel: 60,

		// 500 ms: the smallest PSI trigger window before Linux 6.5, and
		// short enough for a 100% stall to cross 60% in 300 ms.
		Window: 500 * time.Millisecond,
		// 100 ms: five samples per window; three small reads at 10 Hz only
		// while pressure is active. (50 ms was tried in the VM: real stall
		// comes in bursts, and 50 ms spans between samples see gaps that
		// restart a rule's run; the -k 5 kill then came up to 0.8 s late.)
		FastTick: 100 * time.Millisecond,
		// 200 ms (+ FastTick): reaction 0.4 s at MemKill=5 and 0.7 s at the
		// default MemKill under a 100% stall; bursts up to 200 ms ignored.
		Sustain: 200 * time.Millisecond,
		// 1 s: at most one action per rule per second, which is also how
		// often a dry run repeats a decision.
		Cooldown: time.Second,
		// 2 s: four trigger windows of calm before a thaw, so a stall that
		// comes and goes does not thaw and refreeze in a loop; a burst's
		// freeze is undone about 2.5 s after it ends.
		Hysteresis: 2 * time.Second,
		// 5 s: a victim stuck in uninterruptible sleep must not stop the
		// ladder for good.
		ReleaseTimeout: 5 * time.Second,
		// 10 s: pressure with nobody to act on is worth a line, not a flood.
		ReportInterval: 10 * time.Second,
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("invalid pressure config")

// Validate reports the first bad field, naming it and its value.
func (c Config) Validate() error {
	for _, th := range []struct {
		name string
		v    float64
	}{
		{"mem_kill", c.MemKill}, {"mem_freeze", c.MemFreeze},
		{"cpu_demote", c.CPUDemote}, {"io_freeze", c.IOFreeze},
		{"host_mem_kill", c.HostMemKill}, {"host_swap_kill", c.HostSwapKill},
		{"host_psi_kill", c.HostPSIKill},
	} {
		if math.IsNaN(th.v) || math.IsInf(th.v, 0) || th.v > 100 {
			return fmt.Errorf("%w: %s %v: want a percentage <= 100 (negative: off)", ErrConfig, th.name, th.v)
		}
	}
	if c.Window < 10*time.Millisecond || c.Window > kernelMaxWindow {
		return fmt.Errorf("%w: window %v: want 10ms..10s", ErrConfig, c.Window)
	}
	if c.FastTick <= 0 || c.FastTick > c.Window {
		return fmt.Errorf("%w: fast tick %v: want > 0 and <= window %v", ErrConfig, c.FastTick, c.Window)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"sustain", c.Sustain}, {"cooldown", c.Cooldown},
		{"hysteresis", c.Hysteresis}, {"report interval", c.ReportInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s %v: must not be negative", ErrConfig, d.name, d.v)
		}
	}
	if c.ReclaimHorizon < 0 || c.RiskHorizon <= 0 {
		return fmt.Errorf("%w: reclaim horizon %v, risk horizon %v: want >= 0 and > 0", ErrConfig, c.ReclaimHorizon, c.RiskHorizon)
	}
	if c.ProtectLevel <= MaxVictimPriority || c.ProtectLevel > 100 {
		return fmt.Errorf("%w: protect level %d: want %d..100", ErrConfig, c.ProtectLevel, MaxVictimPriority+1)
	}
	if c.ReleaseTimeout <= 0 {
		return fmt.Errorf("%w: release timeout %v: must be positive", ErrConfig, c.ReleaseTimeout)
	}
	return nil
}

// Trigger is a PSI trigger the daemon should register on the root's
// <Resource>.pressure (psi.OpenTrigger) so that the engine is woken as soon
// as a stall begins, before the rule's threshold is reached.
type Trigger struct {
	Resource string
	Full     bool
	Stall    time.Duration
	Window   time.Duration
	Host     bool // on the host's pressure file, not the root's
}

// Triggers returns one trigger per resource that has a rule on. Memory uses
// "some" for both rules (full never exceeds some). The stall is a quarter of
// the lowest threshold of the resource (at least 1 ms) over a window of
// max(Window, 500 ms): the smallest window kernels before 6.5 accept. The
// host PSI rule gets one more, on the host's memory pressure (Host).
func (c Config) Triggers() []Trigger {
	win := max(c.Window, 500*time.Millisecond)
	win = min(win, kernelMaxWindow)
	mk := func(res string, full bool, ths ...float64) []Trigger {
		low := math.Inf(1)
		for _, t := range ths {
			if t >= 0 && t < low {
				low = t
			}
		}
		if math.IsInf(low, 1) {
			return nil
		}
		stall := time.Duration(float64(win) * low / 100 / 4)
		stall = min(max(stall, time.Millisecond), win)
		return []Trigger{{Resource: res, Full: full, Stall: stall, Window: win}}
	}
	var ts []Trigger
	ts = append(ts, mk(Memory, false, c.MemKill, c.MemFreeze)...)
	ts = append(ts, mk(CPU, false, c.CPUDemote)...)
	ts = append(ts, mk(IO, true, c.IOFreeze)...)
	for _, t := range mk(Memory, false, c.HostPSIKill) {
		t.Host = true
		ts = append(ts, t)
	}
	return ts
}
