package pressure

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cgroupd/core/hostmem"
)

// Job is what the engine needs to know about a job to pick a victim.
type Job struct {
	ID            string
	Priority      int
	Frozen        bool   // frozen, by anyone
	MemoryCurrent uint64 // bytes; 0 when unknown
	MemoryLow     uint64 // bytes
	// MemoryHigh, MemoryMax are the job's own limits; 0 or MaxUint64:
	// none.
	MemoryHigh, MemoryMax uint64
	IOBytes               uint64 // cumulative read+write bytes
	CPUWeight             int    // current cpu.weight; <= 0: unknown (taken as 100)
}

// Jobs is implemented by the daemon. The engine calls it only when it has
// to pick victims or follow a kill, never for every sample.
type Jobs interface {
	// Candidates returns the live (running or frozen) jobs with priority
	// <= maxPriority, with fresh per-job numbers.
	Candidates(maxPriority int) []Job
	// Alive reports whether job id still exists (not yet reaped, or its
	// cgroup still populated) and its memory.current.
	Alive(id string) (memoryCurrent uint64, alive bool)
}

// Kind is what an Action does.
type Kind int

// Action kinds.
const (
	Kill    Kind = iota + 1 // SIGKILL the job's cgroup (cgroup.kill)
	Freeze                  // cgroup.freeze 1
	Thaw                    // cgroup.freeze 0
	Demote                  // write the halved cpu.weight
	Restore                 // write back the original cpu.weight
)

func (k Kind) String() string {
	switch k {
	case Kill:
		return "kill"
	case Freeze:
		return "freeze"
	case Thaw:
		return "thaw"
	case Demote:
		return "demote"
	case Restore:
		return "restore"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Action is a decision for the daemon to carry out and report.
//
// Kill, Freeze and Demote are reported with a `pressure` event (action=
// Kind, target= the job for kill and freeze; Explain appended), then one
// job.kill / job.freeze / job.throttle per target with reason=Reason. Thaw
// and Restore (reason pressure_receded) are reported by job.thaw and
// job.throttle only. An Action with no Targets is a report only: the rule
// fired and no job was eligible (Explain has candidates=0). A DryRun action
// is reported and not carried out.
type Action struct {
	Kind     Kind
	Resource string   // Memory, CPU or IO
	Targets  []string // job ids, in the order to act on them
	// CPUWeight is the weight to write per target: the halved weight for
	// Demote, the original one for Restore.
	CPUWeight map[string]int
	Reason    string
	// SomeAvg10 and FullAvg10 are the kernel's avg10 of Resource at the
	// decision, for the pressure event's some_avg10 and full_avg10 keys.
	SomeAvg10, FullAvg10 float64
	// Explain holds "key=value" words to append to the pressure event:
	// the window measurement that crossed, the threshold, how long it
	// held, how many jobs were eligible, what the victim looked like.
	Explain []string
	DryRun  bool
}

// ExplainKV returns Explain as alternating keys and values, the form
// event.Emitter.Emit takes.
func (a Action) ExplainKV() []string {
	kv := make([]string, 0, 2*len(a.Explain))
	for _, w := range a.Explain {
		k, v, _ := strings.Cut(w, "=")
		kv = append(kv, k, v)
	}
	return kv
}

// Stall is the measurement of one resource.
type Stall struct {
	Some, Full           float64 // percent of the window stalled
	SomeAvg10, FullAvg10 float64 // the kernel's avg10 of the last sample
}

// Measurements is the engine's current view, for STATS.
type Measurements struct {
	// Window is the span measured: Config.Window once enough samples have
	// come, less before; 0 when there is no measurement yet.
	Window          time.Duration
	Memory, CPU, IO Stall
}

// stamp is a point in time that may be unset.
type stamp struct {
	t   time.Time
	set bool
}

func at(t time.Time) stamp { return stamp{t: t, set: true} }

// since is the time from s to now; 0 for an unset stamp.
func (s stamp) since(now time.Time) time.Duration {
	if !s.set {
		return 0
	}
	return now.Sub(s.t)
}

// rule is one rung of the ladder and its timing state.
type rule struct {
	kind   Kind
	res    string
	reason string
	line   int     // the PSI line it watches
	thr    float64 // percent; < 0: off

	on        stamp // first sample of the current run of "on" samples
	notBefore stamp // a window must start at or after this to count
	lastAct   stamp // last action (or dry-run decision)
	lastNone  stamp // last "no eligible job" report
}

type frozenJob struct {
	res      string
	priority int
	at       time.Time
	hold     time.Duration // calm needed before the engine thaws it
}

// thawed is a job the engine thawed: if the pressure brings it back to a
// freeze soon, the next thaw waits twice as long (flapping backoff).
type thawed struct {
	at   time.Time
	hold time.Duration
}

// Flapping backoff: a job frozen again within refreezeWindow of its thaw
// needs twice the calm of its previous freeze before the next thaw, up to
// maxHoldFactor × Hysteresis. Freezing that relieves the pressure and a thaw
// that brings it back would otherwise cycle every Hysteresis for as long as
// the load lasts.
const (
	refreezeWindow = 30 * time.Second
	maxHoldFactor  = 16
)

// victim is a killed job whose memory has not been released yet.
type victim struct {
	id     string
	memory uint64
	at     time.Time
	gone   bool // JobEnded was called
}

// Engine is the pressure policy. It is not safe for concurrent use: the
// daemon's event loop owns it.
type Engine struct {
	cfg  Config
	jobs Jobs

	ring   ring
	valid  bool // a whole window is measured
	window [nLines]float64
	recent [nLines]float64 // since recentFrom
	// recentFrom is the sample the recent stall is measured from: the
	// newest one at least FastTick/2 old.
	recentFrom time.Time
	last       Sample // for the kernel's avg10 figures
	fast       bool

	kill, memFreeze, ioFreeze, demote rule
	hostPSI, headroom                 rule // host rules: full stall, MemAvailable
	hostMem                           *hostmem.Info
	prevMem                           memSample // the headroom rule's last sample
	rc                                reclaimState

	pending *victim
	killed  map[string]bool // killed, not ended yet: never picked again
	frozen  map[string]frozenJob
	demoted map[string]int // id → original cpu.weight
	lastIO  map[string]uint64

	memBelow, ioBelow, cpuBelow stamp
	lastThaw                    map[string]stamp // per resource
	thawed                      map[string]thawed
}

// New returns an engine for cfg; jobs is asked for victims.
func New(cfg Config, jobs Jobs) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if jobs == nil {
		return nil, fmt.Errorf("%w: nil Jobs", ErrConfig)
	}
	return &Engine{
		cfg:       cfg,
		jobs:      jobs,
		kill:      rule{kind: Kill, res: Memory, reason: ReasonMemory, line: memFull, thr: cfg.MemKill},
		memFreeze: rule{kind: Freeze, res: Memory, reason: ReasonMemory, line: memSome, thr: cfg.MemFreeze},
		ioFreeze:  rule{kind: Freeze, res: IO, reason: ReasonIO, line: ioFull, thr: cfg.IOFreeze},
		demote:    rule{kind: Demote, res: CPU, reason: ReasonCPU, line: cpuSome, thr: cfg.CPUDemote},
		hostPSI:   rule{kind: Kill, res: Memory, reason: ReasonHostPSI, line: hostFull, thr: cfg.HostPSIKill},
		headroom:  rule{kind: Kill, res: Memory, reason: ReasonHostMemory, line: -1, thr: cfg.HostMemKill},
		killed:    map[string]bool{},
		frozen:    map[string]frozenJob{},
		demoted:   map[string]int{},
		lastIO:    map[string]uint64{},
		lastThaw:  map[string]stamp{},
		thawed:    map[string]thawed{},
		rc:        reclaimState{r: rule{kind: Kill, res: Memory, reason: ReasonHostReclaim, line: -1}, grow: map[string]growth{}},
	}, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// FastTick reports whether the daemon should sample every Config.FastTick:
// pressure is present, a rule is running, a kill victim is being released
// or something the engine froze or demoted is waiting to be undone.
func (e *Engine) FastTick() bool { return e.fast }

// NextObserve is how long the daemon may wait before the next Observe
// beyond PSI trigger wake-ups: Config.FastTick while FastTick() is true, 0
// otherwise (the housekeeping tick is enough).
//
// Near the host headroom threshold it also asks for samples often enough
// to see memory fill up, as earlyoom does, fast tick or not: the time the
// headroom left above the threshold takes to fill at headroomFillRate,
// between headroomMinInterval (20 ms; earlyoom's floor is 100 ms) and
// headroomMaxInterval.
func (e *Engine) NextObserve() time.Duration {
	hd := e.headroomInterval()
	if rd := e.reclaimInterval(); rd > 0 && (hd == 0 || rd < hd) {
		hd = rd
	}
	if e.fast && (hd == 0 || hd > e.cfg.FastTick) {
		return e.cfg.FastTick
	}
	return hd
}

// headroomInterval is the headroom rule's sampling interval; 0: the
// housekeeping tick is soon enough (or the rule is off).
func (e *Engine) headroomInterval() time.Duration {
	if e.hostMem == nil || e.headroom.thr < 0 || e.hostMem.Total == 0 {
		return 0
	}
	thr := uint64(float64(e.hostMem.Total) * e.headroom.thr / 100)
	left := float64(0)
	if e.hostMem.Available > thr {
		left = float64(e.hostMem.Available - thr)
	}
	d := time.Duration(left / headroomFillRate * float64(time.Second))
	if d >= headroomMaxInterval {
		return 0
	}
	return max(d, headroomMinInterval)
}

// headroomFillRate is the fastest the engine assumes memory can fill
// (bytes/s; earlyoom assumes 6000 MiB/s), headroomMaxInterval the interval
// at and above which the housekeeping tick samples often enough.
const (
	headroomFillRate    = 6000 << 20
	headroomMaxInterval = time.Second
	headroomMinInterval = 20 * time.Millisecond
)

// memSample is one MemAvailable reading of the headroom rule.
type memSample struct {
	avail uint64
	at    time.Time
	set   bool
}

// JobEnded tells the engine a job is gone: it forgets it, and a kill
// victim that ended counts as released.
func (e *Engine) JobEnded(id string) {
	delete(e.frozen, id)
	delete(e.demoted, id)
	delete(e.lastIO, id)
	delete(e.killed, id)
	delete(e.thawed, id)
	if e.pending != nil && e.pending.id == id {
		e.pending.gone = true
	}
}

// FrozenBefore hands the engine a job it froze before the daemon
// restarted (reason pressure_<res>, from the job's record): it is the
// engine's again, thawed once res has been calm for the hysteresis.
func (e *Engine) FrozenBefore(id, res string, priority int, now time.Time) {
	e.frozen[id] = frozenJob{res: res, priority: priority, at: now, hold: e.cfg.Hysteresis}
}

// DemotedBefore hands the engine a job it demoted before an upgrade, with
// its cpu.weight before: restored once CPU pressure has receded, as if
// the engine had never stopped.
func (e *Engine) DemotedBefore(id string, weight int) { e.demoted[id] = weight }

// Demotions are the jobs the engine demoted and their weights before.
func (e *Engine) Demotions() map[string]int { return maps.Clone(e.demoted) }

// ClientFroze tells the engine a client froze the job: if the engine had
// frozen it, the freeze is now the client's and the engine will not thaw it.
func (e *Engine) ClientFroze(id string) { delete(e.frozen, id) }

// ClientThawed tells the engine a client thawed the job.
func (e *Engine) ClientThawed(id string) { delete(e.frozen, id) }

// FrozenByEngine reports whether the engine froze job id and will thaw it.
func (e *Engine) FrozenByEngine(id string) bool {
	_, ok := e.frozen[id]
	return ok
}

// Snapshot returns the current window measurements.
func (e *Engine) Snapshot() Measurements {
	m := Measurements{}
	if len(e.ring.pts) >= 2 {
		m.Window = min(e.ring.span(), e.cfg.Window)
	}
	st := func(res string, some int) Stall {
		s := Stall{Some: e.window[some], Full: e.window[some+1]}
		s.SomeAvg10, s.FullAvg10 = e.avg10(res)
		return s
	}
	m.Memory, m.CPU, m.IO = st(Memory, memSome), st(CPU, cpuSome), st(IO, ioSome)
	return m
}

// Observe feeds one sample taken at now (monotonic) and returns the actions
// to carry out, in order. Call it on every PSI trigger wake-up, on the
// housekeeping tick, and every NextObserve while that is non-zero.
func (e *Engine) Observe(now time.Time, s Sample) []Action {
	switch e.ring.add(now, s.totals(), e.cfg.Window) {
	case duplicate:
		return nil
	case restarted:
		e.restart(now)
	}
	e.last = s
	e.hostMem = s.HostMem
	e.measure()

	var acts []Action
	var cands *candidates
	e.checkRelease(now)

	// The kill rules, most urgent first; one kill per overload (pending).
	killed := false
	for _, step := range []func() (Action, bool){
		func() (Action, bool) { return e.stepReclaim(now, &cands) },
		func() (Action, bool) { return e.stepHeadroom(now, &cands) },
		func() (Action, bool) { return e.stepKill(&e.kill, now, &cands) },
		func() (Action, bool) { return e.stepKill(&e.hostPSI, now, &cands) },
	} {
		if a, ok := step(); ok {
			acts = append(acts, a)
			killed = killed || len(a.Targets) > 0 && !a.DryRun
		}
	}
	if !killed {
		if a, ok := e.stepFreeze(&e.memFreeze, now, &cands); ok {
			acts = append(acts, a)
		}
	}
	if a, ok := e.stepFreeze(&e.ioFreeze, now, &cands); ok {
		acts = append(acts, a)
	}
	if a, ok := e.stepDemote(now, &cands); ok {
		acts = append(acts, a)
	}
	acts = append(acts, e.stepRecede(now)...)
	e.fast = e.needFast()
	return acts
}

// restart forgets every run after the measurement restarted; stamps that
// lie in the future of a clock that went backwards are pulled back to now.
func (e *Engine) restart(now time.Time) {
	for _, r := range e.rules() {
		r.on = stamp{}
		for _, s := range []*stamp{&r.notBefore, &r.lastAct, &r.lastNone} {
			if s.set && s.t.After(now) {
				*s = at(now)
			}
		}
	}
	e.memBelow, e.ioBelow, e.cpuBelow = stamp{}, stamp{}, stamp{}
	for k, s := range e.lastThaw {
		if s.t.After(now) {
			e.lastThaw[k] = at(now)
		}
	}
	if e.pending != nil && e.pending.at.After(now) {
		e.pending.at = now
	}
}

// rules are the PSI rules (the headroom rule watches no PSI line).
func (e *Engine) rules() []*rule {
	return []*rule{&e.kill, &e.memFreeze, &e.ioFreeze, &e.demote, &e.hostPSI}
}

func (e *Engine) measure() {
	var ok bool
	e.recent, e.recentFrom, ok = e.ring.recent(e.cfg.FastTick / 2)
	e.valid = ok && e.ring.covers(e.cfg.Window)
	for l := range nLines {
		e.window[l], _ = e.ring.pct(l, e.cfg.Window)
	}
}

// isOn is the rule's condition at the newest sample.
func (e *Engine) isOn(r *rule, now time.Time) bool {
	if r.thr < 0 || !e.valid {
		return false
	}
	if r.notBefore.set && now.Add(-e.cfg.Window).Before(r.notBefore.t) {
		return false // the window still holds samples from before the action
	}
	return e.window[r.line] >= r.thr && e.recent[r.line] >= r.thr/2
}

// track updates the rule's run and reports whether it is due to act.
func (e *Engine) track(r *rule, now time.Time) bool {
	if !e.isOn(r, now) {
		r.on = stamp{}
		return false
	}
	if !r.on.set {
		r.on = at(now)
	}
	// The stall began before r.on (a stall showed in the recent span of
	// that sample) and was still going on after recentFrom (isOn): counting
	// Sustain between the two, a burst shorter than Sustain never gets
	// here, however the samples fall.
	if e.recentFrom.Sub(r.on.t) < e.cfg.Sustain {
		return false
	}
	return !r.lastAct.set || r.lastAct.since(now) >= e.cfg.Cooldown
}

// acted records an action (or a dry-run decision) of rule r.
func (e *Engine) acted(r *rule, now time.Time, dry bool) {
	r.lastAct = at(now)
	if dry {
		return // no settle, no reset: a dry run must not hide decisions
	}
	r.on = stamp{}
	r.notBefore = at(now)
}

// noVictim returns the report-only action, rate-limited per rule. The
// rule then waits a Cooldown before it asks Jobs again, so that pressure
// with nobody to act on does not cost a Candidates call per sample; its run
// and settle state are kept. extra follows victim=none.
func (e *Engine) noVictim(r *rule, now time.Time, extra ...string) (Action, bool) {
	if !e.reportNone(r, now) {
		return Action{}, false
	}
	return e.action(r, now, nil, 0, append([]string{"victim=none"}, extra...)...), true
}

// reportNone records that rule r found nobody to act on and reports
// whether that is worth a report now (ReportInterval).
func (e *Engine) reportNone(r *rule, now time.Time) bool {
	r.lastAct = at(now)
	if r.lastNone.set && r.lastNone.since(now) < e.cfg.ReportInterval {
		return false
	}
	r.lastNone = at(now)
	return true
}

// action builds an Action of rule r with its explanation.
func (e *Engine) action(r *rule, now time.Time, targets []string, ncand int, extra ...string) Action {
	some, full := r.line, r.line
	if r.line%2 == 0 {
		full = r.line + 1
	} else {
		some = r.line - 1
	}
	a := Action{
		Kind: r.kind, Resource: r.res, Targets: targets, Reason: r.reason,
		DryRun: e.cfg.DryRun,
	}
	a.SomeAvg10, a.FullAvg10 = e.avg10(r.res)
	a.Explain = []string{
		"window_ms=" + strconv.FormatInt(e.cfg.Window.Milliseconds(), 10),
		"some_pct=" + pct2(e.window[some]),
		"full_pct=" + pct2(e.window[full]),
		"threshold=" + pct2(r.thr),
		"held_ms=" + strconv.FormatInt(r.on.since(now).Milliseconds(), 10),
		"candidates=" + strconv.Itoa(ncand),
	}
	a.Explain = append(a.Explain, extra...)
	if a.DryRun {
		a.Explain = append(a.Explain, "dry_run=1")
	}
	return a
}

func (e *Engine) avg10(res string) (some, full float64) {
	switch res {
	case Memory:
		return e.last.Memory.Some.Avg10, e.last.Memory.Full.Avg10
	case CPU:
		return e.last.CPU.Some.Avg10, e.last.CPU.Full.Avg10
	default:
		return e.last.IO.Some.Avg10, e.last.IO.Full.Avg10
	}
}

func pct2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// candidates is the per-Observe cache of Jobs.Candidates, fetched at most
// once and only when a rule is due.
type candidates struct {
	jobs    []Job
	ioDelta map[string]uint64
}

func (e *Engine) fetch(c **candidates) *candidates {
	if *c != nil {
		return *c
	}
	cs := &candidates{ioDelta: map[string]uint64{}}
	for _, j := range e.jobs.Candidates(MaxVictimPriority) {
		if j.Priority > MaxVictimPriority {
			continue // the daemon's filter is not trusted with this
		}
		if prev, ok := e.lastIO[j.ID]; ok && j.IOBytes >= prev {
			cs.ioDelta[j.ID] = j.IOBytes - prev
		} else {
			cs.ioDelta[j.ID] = j.IOBytes
		}
		e.lastIO[j.ID] = j.IOBytes
		cs.jobs = append(cs.jobs, j)
	}
	*c = cs
	return cs
}

// checkRelease ends the wait for a kill victim's memory.
func (e *Engine) checkRelease(now time.Time) {
	v := e.pending
	if v == nil {
		return
	}
	released := v.gone || now.Sub(v.at) >= e.cfg.ReleaseTimeout
	if !released {
		cur, alive := e.jobs.Alive(v.id)
		// A dead cgroup may keep page cache charged: 1/8 of the memory it
		// had when killed is "released" enough.
		released = !alive || (v.memory > 0 && cur <= v.memory/8)
	}
	if !released {
		return
	}
	e.pending = nil
	// The next window must be measured entirely after the release.
	for _, r := range []*rule{&e.kill, &e.memFreeze, &e.hostPSI} {
		r.notBefore, r.on = at(now), stamp{}
	}
}

// stepKill runs a PSI kill rule: the job tree's memory full (kill) or the
// host's (hostPSI).
func (e *Engine) stepKill(r *rule, now time.Time, c **candidates) (Action, bool) {
	if e.pending != nil {
		r.on = stamp{}
		return Action{}, false
	}
	if !e.track(r, now) {
		return Action{}, false
	}
	short, ok := shortFor(r, e.last.Short, e.fetch(c).jobs)
	if !ok {
		return Action{}, false // a stall nothing short of memory explains
	}
	return e.killOne(r, now, c, func(ncand int, extra ...string) Action {
		return e.action(r, now, nil, ncand, append(extra, short.explain()...)...)
	})
}

// stepHeadroom runs the host headroom rule: MemAvailable below HostMemKill
// percent of MemTotal (and, with swap, SwapFree below HostSwapKill
// percent) kills the lowest-priority job at once, with no sustain: a level
// of free memory is not a burst of stall, and at this level the kernel is
// about to evict the program text of every process. After a kill it waits
// for the victim's memory like the PSI rules; a rule with nobody to act on
// asks again after Cooldown.
func (e *Engine) stepHeadroom(now time.Time, c **candidates) (Action, bool) {
	r, m := &e.headroom, e.hostMem
	if r.thr < 0 || m == nil || m.Total == 0 || e.pending != nil {
		return Action{}, false
	}
	avail := m.AvailablePct()
	// Falling at the rate since the last sample, MemAvailable would be
	// below the threshold before the next sample: that counts as below
	// already (the kill lands one sample earlier, before the stall).
	predicted, falling := avail, false
	if p := e.prevMem; p.set && p.avail > m.Available && now.After(p.at) {
		rate := float64(p.avail-m.Available) / now.Sub(p.at).Seconds()
		next := max(e.headroomInterval(), headroomMinInterval).Seconds()
		predicted = 100 * (float64(m.Available) - rate*next) / float64(m.Total)
		falling = true
	}
	e.prevMem = memSample{avail: m.Available, at: now, set: true}
	low := (avail < r.thr || falling && predicted < r.thr) && (m.SwapTotal == 0 || m.SwapFreePct() < e.cfg.HostSwapKill)
	if !e.levelDue(r, low, now) {
		return Action{}, false
	}
	return e.killOne(r, now, c, func(ncand int, extra ...string) Action {
		a := Action{Kind: Kill, Resource: Memory, Reason: r.reason, DryRun: e.cfg.DryRun}
		a.SomeAvg10, a.FullAvg10 = e.last.HostPSI.Some.Avg10, e.last.HostPSI.Full.Avg10
		a.Explain = []string{
			"rule=host_memory",
			"mem_available_bytes=" + strconv.FormatUint(m.Available, 10),
			"mem_total_bytes=" + strconv.FormatUint(m.Total, 10),
			"mem_available_pct=" + pct2(avail),
			"threshold=" + pct2(r.thr),
		}
		if avail >= r.thr {
			a.Explain = append(a.Explain, "predicted_pct="+pct2(max(predicted, 0)))
		}
		if m.SwapTotal > 0 {
			a.Explain = append(a.Explain, "swap_free_pct="+pct2(m.SwapFreePct()),
				"swap_threshold="+pct2(e.cfg.HostSwapKill))
		}
		a.Explain = append(a.Explain, "candidates="+strconv.Itoa(ncand))
		a.Explain = append(a.Explain, extra...)
		if a.DryRun {
			a.Explain = append(a.Explain, "dry_run=1")
		}
		return a
	})
}

// levelDue runs a rule on a level (no sustain): on starts or keeps its
// run; it is due when on and its last action is a Cooldown old.
func (e *Engine) levelDue(r *rule, on bool, now time.Time) bool {
	if !on {
		r.on = stamp{}
		return false
	}
	if !r.on.set {
		r.on = at(now)
	}
	return !r.lastAct.set || r.lastAct.since(now) >= e.cfg.Cooldown
}

// killOne picks the victim of kill rule r: the lowest-priority live job
// not killed yet (a frozen one counts), ties to the largest
// memory.current - memory.low, then the largest memory.current. mk builds
// the action for ncand eligible jobs with the victim's figures as extra.
func (e *Engine) killOne(r *rule, now time.Time, c **candidates, mk func(ncand int, extra ...string) Action) (Action, bool) {
	var elig []Job
	for _, j := range e.fetch(c).jobs {
		if !e.killed[j.ID] { // live jobs, frozen ones too
			elig = append(elig, j)
		}
	}
	if len(elig) == 0 {
		if !e.reportNone(r, now) {
			return Action{}, false
		}
		return mk(0, "victim=none"), true
	}
	slices.SortFunc(elig, func(a, b Job) int {
		return cmp.Or(
			cmp.Compare(a.Priority, b.Priority),
			cmp.Compare(excess(b), excess(a)),
			cmp.Compare(b.MemoryCurrent, a.MemoryCurrent),
			strings.Compare(a.ID, b.ID),
		)
	})
	v := elig[0]
	a := mk(len(elig),
		"victim_priority="+strconv.Itoa(v.Priority),
		"victim_memory="+strconv.FormatUint(v.MemoryCurrent, 10),
		"victim_memory_low="+strconv.FormatUint(v.MemoryLow, 10))
	a.Targets = []string{v.ID}
	e.killed1(r, now, v, a.DryRun)
	return a, true
}

// killed1 records the kill of v by rule r: the engine waits for its
// memory, never picks it again, and memory freezes wait too.
func (e *Engine) killed1(r *rule, now time.Time, v Job, dry bool) {
	e.acted(r, now, dry)
	if dry {
		return
	}
	e.pending = &victim{id: v.ID, memory: v.MemoryCurrent, at: now}
	e.killed[v.ID] = true
	delete(e.frozen, v.ID)
	delete(e.demoted, v.ID)
	// Memory freezes wait for the release too.
	e.memFreeze.on = stamp{}
	e.memFreeze.notBefore = at(now)
}

// killLevel reports whether the memory full stall is at the kill rule's
// threshold since the newest sample at least FastTick/2 old: the kill rule
// is running or about to.
func (e *Engine) killLevel() bool {
	return e.kill.thr >= 0 && e.valid && e.recent[memFull] >= e.kill.thr
}

// excess is memory.current - memory.low, floored at 0.
func excess(j Job) uint64 {
	if j.MemoryCurrent < j.MemoryLow {
		return 0
	}
	return j.MemoryCurrent - j.MemoryLow
}

func (e *Engine) stepFreeze(r *rule, now time.Time, c **candidates) (Action, bool) {
	if r == &e.memFreeze && e.pending != nil {
		r.on = stamp{}
		return Action{}, false
	}
	if !e.track(r, now) {
		return Action{}, false
	}
	if r == &e.memFreeze && e.killLevel() {
		// The higher rung supersedes: a freeze now would only delay the
		// kill (and, if it relieved the stall, the thaw would bring the
		// overload back). The run is kept: should the full stall drop
		// below the kill level, the freeze acts at once.
		return Action{}, false
	}
	cs := e.fetch(c)
	short, ok := shortFor(r, e.last.Short, cs.jobs)
	if !ok {
		return Action{}, false // a stall nothing short of memory explains
	}
	var elig []Job
	for _, j := range cs.jobs {
		if _, mine := e.frozen[j.ID]; j.Frozen || mine || e.killed[j.ID] {
			continue
		}
		if r.res == IO && cs.ioDelta[j.ID] == 0 {
			continue // freezing a job that does no IO relieves no IO pressure
		}
		elig = append(elig, j)
	}
	if len(elig) == 0 {
		return e.noVictim(r, now, short.explain()...)
	}
	var extra []string
	if r.res == IO {
		slices.SortFunc(elig, func(a, b Job) int {
			return cmp.Or(
				cmp.Compare(a.Priority, b.Priority),
				cmp.Compare(cs.ioDelta[b.ID], cs.ioDelta[a.ID]),
				strings.Compare(a.ID, b.ID),
			)
		})
		extra = append(extra, "victim_io_bytes="+strconv.FormatUint(cs.ioDelta[elig[0].ID], 10))
	} else {
		slices.SortFunc(elig, func(a, b Job) int {
			return cmp.Or(
				cmp.Compare(a.Priority, b.Priority),
				cmp.Compare(b.MemoryCurrent, a.MemoryCurrent),
				strings.Compare(a.ID, b.ID),
			)
		})
		extra = append(extra, "victim_memory="+strconv.FormatUint(elig[0].MemoryCurrent, 10))
	}
	v := elig[0]
	extra = append([]string{"victim_priority=" + strconv.Itoa(v.Priority)}, extra...)
	a := e.action(r, now, []string{v.ID}, len(elig), append(extra, short.explain()...)...)
	e.acted(r, now, a.DryRun)
	if !a.DryRun {
		hold := e.cfg.Hysteresis
		if t, ok := e.thawed[v.ID]; ok && now.Sub(t.at) < refreezeWindow {
			hold = min(2*t.hold, maxHoldFactor*e.cfg.Hysteresis)
			a.Explain = append(a.Explain, "hold_ms="+strconv.FormatInt(hold.Milliseconds(), 10))
		}
		e.frozen[v.ID] = frozenJob{res: r.res, priority: v.Priority, at: now, hold: hold}
	}
	return a, true
}

func (e *Engine) stepDemote(now time.Time, c **candidates) (Action, bool) {
	r := &e.demote
	if !e.track(r, now) {
		return Action{}, false
	}
	cs := e.fetch(c)
	if len(cs.jobs) == 0 {
		return e.noVictim(r, now)
	}
	var elig []Job
	for _, j := range cs.jobs {
		if _, done := e.demoted[j.ID]; !done && !e.killed[j.ID] {
			elig = append(elig, j)
		}
	}
	if len(elig) == 0 {
		// Everyone eligible is demoted already; nothing new to say.
		e.acted(r, now, e.cfg.DryRun)
		return Action{}, false
	}
	slices.SortFunc(elig, func(a, b Job) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.ID, b.ID))
	})
	ids := make([]string, len(elig))
	weights := make(map[string]int, len(elig))
	for i, j := range elig {
		w := j.CPUWeight
		if w <= 0 {
			w = 100 // the kernel's default cpu.weight
		}
		ids[i] = j.ID
		weights[j.ID] = max(1, w/2)
		if !e.cfg.DryRun {
			e.demoted[j.ID] = w
		}
	}
	a := e.action(r, now, ids, len(cs.jobs))
	a.CPUWeight = weights
	e.acted(r, now, a.DryRun)
	return a, true
}

// stepRecede follows how long each resource has been below its threshold
// and undoes the engine's freezes and demotions once that lasts Hysteresis.
func (e *Engine) stepRecede(now time.Time) []Action {
	below := func(s *stamp, r *rule) {
		switch {
		case !e.valid:
			*s = stamp{} // unknown: start counting again
		case r.thr < 0 || e.window[r.line] < r.thr:
			if !s.set {
				*s = at(now)
			}
		default:
			*s = stamp{}
		}
	}
	below(&e.memBelow, &e.memFreeze)
	below(&e.ioBelow, &e.ioFreeze)
	below(&e.cpuBelow, &e.demote)

	var acts []Action
	if e.pending == nil {
		if a, ok := e.thaw(Memory, &e.memFreeze, e.memBelow, now); ok {
			acts = append(acts, a)
		}
	}
	if a, ok := e.thaw(IO, &e.ioFreeze, e.ioBelow, now); ok {
		acts = append(acts, a)
	}
	if len(e.demoted) > 0 && e.cpuBelow.set && e.cpuBelow.since(now) >= e.cfg.Hysteresis {
		ids := make([]string, 0, len(e.demoted))
		for id := range e.demoted {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		a := Action{Kind: Restore, Resource: CPU, Targets: ids, Reason: ReasonReceded,
			CPUWeight: make(map[string]int, len(ids))}
		a.SomeAvg10, a.FullAvg10 = e.avg10(CPU)
		for _, id := range ids {
			a.CPUWeight[id] = e.demoted[id]
		}
		a.Explain = e.recededExplain(&e.demote, e.cpuBelow, now)
		clear(e.demoted)
		acts = append(acts, a)
	}
	return acts
}

// thaw thaws one job the engine froze for res, highest priority first.
func (e *Engine) thaw(res string, r *rule, below stamp, now time.Time) (Action, bool) {
	if !below.set || below.since(now) < e.cfg.Hysteresis {
		return Action{}, false
	}
	if lt := e.lastThaw[res]; lt.set && lt.since(now) < e.cfg.Window {
		return Action{}, false // let the window see the last thaw first
	}
	best, found := "", false
	for id, f := range e.frozen {
		if f.res != res || below.since(now) < f.hold {
			continue
		}
		if !found {
			best, found = id, true
			continue
		}
		b := e.frozen[best]
		if c := cmp.Or(cmp.Compare(b.priority, f.priority), f.at.Compare(b.at), strings.Compare(id, best)); c < 0 {
			best = id
		}
	}
	if !found {
		return Action{}, false
	}
	e.thawed[best] = thawed{at: now, hold: e.frozen[best].hold}
	delete(e.frozen, best)
	e.lastThaw[res] = at(now)
	a := Action{Kind: Thaw, Resource: res, Targets: []string{best}, Reason: ReasonReceded}
	a.SomeAvg10, a.FullAvg10 = e.avg10(res)
	a.Explain = e.recededExplain(r, below, now)
	return a, true
}

func (e *Engine) recededExplain(r *rule, below stamp, now time.Time) []string {
	return []string{
		"window_ms=" + strconv.FormatInt(e.cfg.Window.Milliseconds(), 10),
		"pct=" + pct2(e.window[r.line]),
		"threshold=" + pct2(r.thr),
		"below_ms=" + strconv.FormatInt(below.since(now).Milliseconds(), 10),
	}
}

// fastLevel is the stall, in percent, above which the engine wants to be
// sampled at the fast tick even though no threshold is reached yet: the
// onset of pressure must be followed closely from the first trigger wake-up.
const fastLevel = 1.0

func (e *Engine) needFast() bool {
	if e.pending != nil || len(e.frozen) > 0 || len(e.demoted) > 0 {
		return true
	}
	for _, r := range e.rules() {
		if r.thr < 0 {
			continue
		}
		if r.on.set {
			return true
		}
		lvl := min(fastLevel, r.thr)
		if e.window[r.line] >= lvl || e.recent[r.line] >= lvl {
			return true
		}
	}
	return false
}
