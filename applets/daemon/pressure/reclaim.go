package pressure

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The reclaim rule (issue 23): protect the service, not just kill the
// batch job. A job at or above Config.ProtectLevel is protected: the rule
// stops the growing lowest-priority job before reclaim reaches the
// protected jobs' memory, instead of waiting for MemAvailable, which counts
// their file cache as available to anyone, to reach a level.
//
// Measured in the 1 GiB VM (scripts/suite/bench-service.sh, a trace of
// /proc/zoneinfo and /proc/vmstat every 50 ms): the host's free pages fall
// below the zones' high watermark 90-500 ms before the service's first
// late request (kswapd's first scan 50-150 ms before it, direct reclaim at
// the same time or after, file refaults after it), while MemAvailable is
// still above 10 %. So the rule watches two times, each at the fill rate
// (an average of the fall of the figure between samples):
//
//   - time to reclaim: free memory above the high watermark (the sum over
//     the zones; below it kswapd is reclaiming) over its fill rate; at or
//     below the watermark it is 0. The rule is due when it is below
//     ReclaimHorizon.
//   - time to risk: the memory available to unprotected work (MemAvailable
//     less the protected jobs' file cache, which MemAvailable counts) over
//     its fill rate. Reclaim that only takes other cache harms no protected
//     job (a host whose cold page cache keeps free memory at the watermarks
//     is the normal case): the rule also needs this below RiskHorizon.
//
// Growth, not size: the victim is the lowest-priority candidate (priority
// <= MaxVictimPriority) whose memory.current grew since the engine last
// looked by at least reclaimMinGrowth per second (and a tenth of the
// fill rate); ties to the fastest growing. A job that stopped growing is
// never this rule's victim, whatever its size; when nobody grows the rule
// reports victim=none and the other rules stay the backstop. With no
// protected job the rule does nothing: there is nothing to protect.

// ReasonHostReclaim: the reclaim rule (free memory approaching the
// watermarks while a low-priority job grows and protected jobs are at
// risk).
const ReasonHostReclaim = "pressure_host_reclaim"

// ProtectedJobs is implemented by a Jobs that knows the protected jobs
// (priority >= Config.ProtectLevel); without it the reclaim rule is off.
type ProtectedJobs interface {
	// Protected returns the live protected jobs with their memory.current
	// and file cache (Job.File).
	Protected() []Job
}

const (
	// reclaimMinFill is the least fill rate that counts (bytes/s): below
	// it the times are taken as infinite.
	reclaimMinFill = 1 << 20
	// reclaimMinGrowth is the least growth of a victim (bytes/s).
	reclaimMinGrowth = 1 << 20
	// reclaimArm: within this many horizons of the reclaim onset the
	// engine samples at reclaimTick and follows the candidates' growth.
	reclaimArm  = 4
	reclaimTick = 50 * time.Millisecond
	// growthMaxAge: a memory.current older than this says nothing about
	// the growth now.
	growthMaxAge = 2 * time.Second
)

type memPoint struct {
	v  uint64
	at time.Time
}

// reclaimState is the reclaim rule's memory between samples.
type reclaimState struct {
	r                   rule
	prevFree, prevAvail memPoint
	fillFree, fillAvail float64 // bytes/s, averaged
	toReclaim           time.Duration
	grow                map[string]memPoint // candidate → its last memory.current
}

// fill updates an averaged fill rate with the fall from p to v at now.
func fill(avg *float64, p *memPoint, v uint64, now time.Time) {
	if !p.at.IsZero() && now.After(p.at) {
		inst := (float64(p.v) - float64(v)) / now.Sub(p.at).Seconds()
		*avg = 0.5**avg + 0.5*inst
	}
	*p = memPoint{v: v, at: now}
}

// timeTo is how long left takes to fill at rate; 0 when nothing is left,
// infinite (MaxInt64) below reclaimMinFill.
func timeTo(left, rate float64) time.Duration {
	if left <= 0 {
		return 0
	}
	if rate < reclaimMinFill {
		return math.MaxInt64
	}
	return time.Duration(left / rate * float64(time.Second))
}

// reclaimInterval is the reclaim rule's sampling interval: reclaimTick
// while armed, else the time the headroom above the watermark takes to
// fill at headroomFillRate (20 ms .. 1 s); 0: the tick is enough.
func (e *Engine) reclaimInterval() time.Duration {
	s := &e.rc
	if e.cfg.ReclaimHorizon <= 0 || s.prevFree.at.IsZero() {
		return 0
	}
	if s.toReclaim < reclaimArm*e.cfg.ReclaimHorizon {
		return reclaimTick
	}
	d := timeTo(float64(s.prevFree.v), headroomFillRate)
	if d >= headroomMaxInterval {
		return 0
	}
	return max(d, headroomMinInterval)
}

// msOrNone is d in ms, -1 for an infinite time.
func msOrNone(d time.Duration) string {
	if d == math.MaxInt64 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// stepReclaim runs the reclaim rule.
func (e *Engine) stepReclaim(now time.Time, c **candidates) (Action, bool) {
	s, vm, m := &e.rc, e.last.HostVM, e.hostMem
	pj, ok := e.jobs.(ProtectedJobs)
	if e.cfg.ReclaimHorizon <= 0 || vm == nil || m == nil || !ok {
		return Action{}, false
	}
	page := max(vm.PageSize, 1)
	free, low := vm.Free*page, vm.Low*page
	fill(&s.fillFree, &s.prevFree, free-min(free, low), now)
	s.toReclaim = timeTo(float64(free)-float64(low), s.fillFree)
	if s.toReclaim >= reclaimArm*e.cfg.ReclaimHorizon || e.pending != nil {
		s.r.on = stamp{}
		return Action{}, false
	}
	// Armed: the protected jobs and the candidates' growth.
	prot := pj.Protected()
	var protFile uint64
	var risk Job
	for _, j := range prot {
		protFile += j.File
		if j.File > risk.File || risk.ID == "" {
			risk = j
		}
	}
	avail := m.Available - min(m.Available, protFile)
	fill(&s.fillAvail, &s.prevAvail, avail, now)
	toRisk := timeTo(float64(avail), s.fillAvail)
	type grower struct {
		Job
		rate float64
	}
	var growing []grower
	minRate := max(reclaimMinGrowth, s.fillFree/10)
	seen := map[string]bool{}
	for _, j := range e.fetch(c).jobs {
		seen[j.ID] = true
		p, had := s.grow[j.ID]
		s.grow[j.ID] = memPoint{v: j.MemoryCurrent, at: now}
		if !had || now.Sub(p.at) > growthMaxAge || !now.After(p.at) || e.killed[j.ID] {
			continue
		}
		if rate := (float64(j.MemoryCurrent) - float64(p.v)) / now.Sub(p.at).Seconds(); rate >= minRate {
			growing = append(growing, grower{j, rate})
		}
	}
	for id := range s.grow {
		if !seen[id] {
			delete(s.grow, id)
		}
	}
	r := &s.r
	if len(prot) == 0 || s.toReclaim >= e.cfg.ReclaimHorizon || toRisk >= e.cfg.RiskHorizon {
		r.on = stamp{}
		return Action{}, false
	}
	if !r.on.set {
		r.on = at(now)
	}
	if r.lastAct.set && r.lastAct.since(now) < e.cfg.Cooldown {
		return Action{}, false
	}
	mk := func(extra ...string) Action {
		a := Action{Kind: Kill, Resource: Memory, Reason: ReasonHostReclaim, DryRun: e.cfg.DryRun}
		a.SomeAvg10, a.FullAvg10 = e.last.HostPSI.Some.Avg10, e.last.HostPSI.Full.Avg10
		a.Explain = []string{
			"rule=host_reclaim",
			"measure=free_above_low_watermark",
			"value_ms=" + msOrNone(s.toReclaim),
			"horizon_ms=" + msOrNone(e.cfg.ReclaimHorizon),
			"free_bytes=" + strconv.FormatUint(free, 10),
			"low_watermark_bytes=" + strconv.FormatUint(low, 10),
			"fill_rate_bytes_s=" + strconv.FormatInt(int64(max(s.fillFree, 0)), 10),
			"available_unprotected_bytes=" + strconv.FormatUint(avail, 10),
			"risk_ms=" + msOrNone(toRisk),
			"risk_horizon_ms=" + msOrNone(e.cfg.RiskHorizon),
			"protected=" + risk.ID,
			"protected_priority=" + strconv.Itoa(risk.Priority),
			"protected_file_bytes=" + strconv.FormatUint(protFile, 10),
			"candidates=" + strconv.Itoa(len(growing)),
		}
		a.Explain = append(a.Explain, extra...)
		if a.DryRun {
			a.Explain = append(a.Explain, "dry_run=1")
		}
		return a
	}
	if len(growing) == 0 {
		if !e.reportNone(r, now) {
			return Action{}, false
		}
		return mk("victim=none"), true
	}
	slices.SortFunc(growing, func(a, b grower) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.rate, a.rate), strings.Compare(a.ID, b.ID))
	})
	v := growing[0]
	a := mk("victim_priority="+strconv.Itoa(v.Priority),
		"victim_memory="+strconv.FormatUint(v.MemoryCurrent, 10),
		"victim_growth_bytes_s="+strconv.FormatInt(int64(v.rate), 10))
	a.Targets = []string{v.ID}
	e.killed1(r, now, v.Job, a.DryRun)
	return a, true
}
