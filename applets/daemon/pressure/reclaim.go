package pressure

import (
	"math"
	"strconv"
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

// ProtectedJobs knows the protected jobs (priority >= Config.ProtectLevel);
// without one (Engine.Protect) the reclaim rule is off.
type ProtectedJobs interface {
	// Protected returns the live protected jobs with their page cache.
	Protected() []Protected
}

// Protected is a protected job as the reclaim rule sees it.
type Protected struct {
	ID       string
	Priority int
	File     uint64 // memory.stat file: its page cache, bytes
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
	// growthSpan, growthMinSpan: a growth is measured over about a
	// second, and over no less than 100 ms (two samples at reclaimTick).
	// Between two samples 50 ms apart the slow leak's batch, stalled in
	// reclaim, read as not growing, and the rule found no victim.
	growthSpan    = time.Second
	growthMinSpan = 100 * time.Millisecond
	// protectEvery: how often the protected jobs' memory.stat is read
	// while the rule is not about to act.
	protectEvery = time.Second
)

type memPoint struct {
	v  uint64
	at time.Time
}

// growth is a candidate's memory.current at the start of the span its
// growth is measured over (anchor) and at the last sample.
type growth struct{ anchor, last memPoint }

// reclaimState is the reclaim rule's memory between samples.
type reclaimState struct {
	r                   rule
	prevFree, prevAvail memPoint
	fillFree, fillAvail float64 // bytes/s, averaged
	toReclaim           time.Duration
	grow                map[string]growth // candidate → its memory.current points
	prot                ProtectedJobs
	// The protected jobs as last read: how many, their page cache, the
	// one with the most (the job at risk), when.
	nprot    int
	protFile uint64
	risk     Protected
	protAt   time.Time
	armed    bool
}

// Protect hands the engine the protected jobs: the reclaim rule is on.
func (e *Engine) Protect(p ProtectedJobs) { e.rc.prot = p }

// fill updates an averaged fill rate with the fall from p to v at now
// and returns the fall's own rate.
func fill(avg *float64, p *memPoint, v uint64, now time.Time) (inst float64) {
	if !p.at.IsZero() && now.After(p.at) {
		inst = (float64(p.v) - float64(v)) / now.Sub(p.at).Seconds()
		*avg = 0.5**avg + 0.5*inst
	}
	*p = memPoint{v: v, at: now}
	return inst
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
// while armed, else the time the memory available to unprotected jobs
// takes to fill at headroomFillRate (20 ms .. 1 s); 0: the tick is
// enough (or there is nothing to protect). A host whose cold page cache
// keeps free memory at the watermarks is sampled by this rule as often
// as its unprotected memory could run out, not all the time.
func (e *Engine) reclaimInterval() time.Duration {
	s := &e.rc
	if e.cfg.ReclaimHorizon <= 0 || s.prevAvail.at.IsZero() || s.nprot == 0 {
		return 0
	}
	if s.armed {
		return reclaimTick
	}
	d := timeTo(float64(s.prevAvail.v), headroomFillRate)
	if d >= headroomMaxInterval {
		return 0
	}
	return max(d, headroomMinInterval)
}

// msOrNone is d in ms, -1 for an infinite time.
func msOrNone(d time.Duration) int64 {
	if d == math.MaxInt64 {
		return -1
	}
	return d.Milliseconds()
}

// stepReclaim runs the reclaim rule.
func (e *Engine) stepReclaim(now time.Time, c **candidates) (Action, bool) {
	s, vm, m, pj := &e.rc, e.last.HostVM, e.hostMem, e.rc.prot
	if e.cfg.ReclaimHorizon <= 0 || vm == nil || m == nil || pj == nil {
		return Action{}, false
	}
	page := max(vm.PageSize, 1)
	free, low := vm.Free*page, vm.Low*page
	falling := fill(&s.fillFree, &s.prevFree, free-min(free, low), now) >= reclaimMinFill
	s.toReclaim = timeTo(float64(free)-float64(low), s.fillFree)
	// The protected jobs' page cache: read again at most once a
	// protectEvery, and whenever the rule is about to act. Due needs free
	// memory still falling since the last sample: the average lags a
	// fill that stopped (a batch that reached its size and holds). Below
	// the low watermark nothing falls: kswapd holds free memory there
	// while what the jobs take comes out of the page cache, so there the
	// victim's growth alone decides (in the VM's slow leak free memory
	// once crossed the watermark between two samples, and the kill came
	// 1 s late, with 5.5 % of the service's requests late).
	due := s.toReclaim < e.cfg.ReclaimHorizon && (falling || free < low)
	if due || now.Sub(s.protAt) >= protectEvery || now.Before(s.protAt) {
		s.nprot, s.protFile, s.risk, s.protAt = 0, 0, Protected{}, now
		for _, j := range pj.Protected() {
			s.nprot++
			s.protFile += j.File
			if j.File >= s.risk.File {
				s.risk = j
			}
		}
	}
	avail := m.Available - min(m.Available, s.protFile)
	fill(&s.fillAvail, &s.prevAvail, avail, now)
	toRisk := timeTo(float64(avail), s.fillAvail)
	// Armed: reclaim and the risk are near; follow the candidates' growth.
	s.armed = s.nprot > 0 && e.pending == nil &&
		s.toReclaim < reclaimArm*e.cfg.ReclaimHorizon && toRisk < 2*e.cfg.RiskHorizon
	if !s.armed {
		s.r.on = stamp{}
		clear(s.grow)
		return Action{}, false
	}
	// The candidates' growth since the last look; only the lowest
	// priority, then the fastest growing one matters (the victim).
	var v Job
	var vrate float64
	var ngrow, nhist, paused int
	minRate := max(reclaimMinGrowth, s.fillFree/10)
	grow := make(map[string]growth, len(s.grow))
	for _, j := range e.fetch(c).jobs {
		cur := memPoint{v: j.MemoryCurrent, at: now}
		g, had := s.grow[j.ID]
		if !had {
			g.anchor = cur
		}
		p := g.anchor
		// The anchor moves up to the previous sample once it is older
		// than growthSpan: the growth is measured over about that span,
		// not between two samples (a job stalled in reclaim for one
		// sample has not stopped growing).
		if now.Sub(g.anchor.at) > growthSpan {
			g.anchor = g.last
		}
		g.last = cur
		grow[j.ID] = g
		dt := now.Sub(p.at)
		if dt < growthMinSpan || dt > growthMaxAge || e.killed[j.ID] {
			continue
		}
		nhist++
		rate := (float64(j.MemoryCurrent) - float64(p.v)) / dt.Seconds()
		if rate < minRate {
			continue
		}
		if had && j.MemoryCurrent <= s.grow[j.ID].last.v {
			paused++ // grew over the span, not since the last sample
			continue
		}
		ngrow++
		if ngrow == 1 || j.Priority < v.Priority || j.Priority == v.Priority && (rate > vrate || rate == vrate && j.ID < v.ID) {
			v, vrate = j, rate
		}
	}
	s.grow = grow
	r := &s.r
	if ngrow == 0 && (nhist == 0 && len(grow) > 0 || paused > 0) {
		// No growth measured yet, or a grower paused for a sample
		// (stalled in reclaim, or done): the next sample says.
		return Action{}, false
	}
	if !e.levelDue(r, due && toRisk < e.cfg.RiskHorizon, now) {
		return Action{}, false
	}
	mk := func(extra ...string) Action {
		a := Action{Kind: Kill, Resource: Memory, Reason: ReasonHostReclaim, DryRun: e.cfg.DryRun}
		a.SomeAvg10, a.FullAvg10 = e.last.HostPSI.Some.Avg10, e.last.HostPSI.Full.Avg10
		a.Explain = []string{"rule=host_reclaim", "measure=free_above_low_watermark"}
		for _, n := range [...]struct {
			k string
			v int64
		}{
			{"value_ms", msOrNone(s.toReclaim)}, {"horizon_ms", msOrNone(e.cfg.ReclaimHorizon)},
			{"free_bytes", int64(free)}, {"low_watermark_bytes", int64(low)},
			{"fill_rate_bytes_s", int64(max(s.fillFree, 0))}, {"available_unprotected_bytes", int64(avail)},
			{"risk_ms", msOrNone(toRisk)}, {"risk_horizon_ms", msOrNone(e.cfg.RiskHorizon)},
		} {
			a.Explain = append(a.Explain, n.k+"="+strconv.FormatInt(n.v, 10))
		}
		a.Explain = append(a.Explain, "protected="+s.risk.ID, "protected_priority="+strconv.Itoa(s.risk.Priority),
			"protected_file_bytes="+strconv.FormatUint(s.protFile, 10), "candidates="+strconv.Itoa(ngrow))
		a.Explain = append(a.Explain, extra...)
		if a.DryRun {
			a.Explain = append(a.Explain, "dry_run=1")
		}
		return a
	}
	if ngrow == 0 {
		if !e.reportNone(r, now) {
			return Action{}, false
		}
		return mk("victim=none"), true
	}
	a := mk("victim_priority="+strconv.Itoa(v.Priority),
		"victim_memory="+strconv.FormatUint(v.MemoryCurrent, 10),
		"victim_growth_bytes_s="+strconv.FormatInt(int64(vrate), 10))
	a.Targets = []string{v.ID}
	e.killed1(r, now, v, a.DryRun)
	return a, true
}
