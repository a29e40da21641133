package supervisor

import (
	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/jobid"
	"cgroupd/applets/daemon/journal"
	"cgroupd/applets/daemon/killfb"
	"cgroupd/applets/daemon/logstore"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/daemon/protect"
	"cgroupd/applets/daemon/retain"
	"cgroupd/applets/daemon/spawner"
	"cgroupd/core/cgroup"
	"cgroupd/core/hostmem"
	"cgroupd/core/loop"
	"cgroupd/core/notify"
	"errors"
)

// Config is what the supervisor is started with.
type Config struct {
	Root               cgroup.Dir // the cgroup it owns (created and locked by the root package)
	Self               string     // this binary, for the spawn fallback helper
	BootID             string     // this boot: a record from another has no live processes
	Thresholds         guard.Thresholds
	Engine             pressure.Config
	HostPressure       string          // --host-pressure
	Meminfo            *hostmem.Reader // host headroom (nil: rule off)
	OOMAdj             *hostmem.OOMScoreAdj
	SpawnFallback      bool
	KillFallback       bool
	DryRun             bool
	Debug              bool
	NoFile             uint64     // the open file limit
	MaxUserEnded, EUID int        // ended jobs kept per uid but root's and EUID's (package retain)
	Conns              func() int // open client connections (they need fds too)
	Logf               func(format string, args ...any)
}

// Supervisor is the daemon's job side: the job table and every job's
// lifecycle, the kernel objects that follow them (pidfds, watches,
// cgroups being emptied), the spawner, kills, freezes, timeouts, the
// admission queue, the pressure engine's view of the jobs, adoption and
// the job records. It never writes to a socket: what clients wait for, it
// publishes (events on the hub, job changes as Outcomes, outcomes.go).
type Supervisor struct{ c *core }

// core is the supervisor's state and its lifecycle steps; Supervisor's
// methods, the API, reach it by a field: none of core's is Supervisor's.
type core struct {
	cfg     Config
	lp      *loop.Loop
	events  *hub.Hub
	journal *journal.Journal // job records; nil with --state-dir none
	logs    *logstore.Store  // -L; nil without
	oc      outcomes         // queued for the server (outcomes.go)

	jobs     map[string]*Job
	seq      uint64
	ids      *jobid.Counter // automatic ids
	nRunning int
	nFrozen  int
	pidfds   int
	userJobs map[uint32]int    // live and pending jobs per uid
	stopping map[*Job]struct{} // main ended, the cgroup not empty yet
	liveJobs map[*Job]struct{} // jobs not ended: the engine's candidates
	quitting bool

	// The parts, each owning its state and the methods that change it.
	rq    runQueue           // the admission queue (queue.go)
	to    timeouts           // --timeout and --kill-on-detach deadlines (timeouts.go)
	g     *guard.Guard       // the pressure engine in the loop, admission
	pt    *protect.Set       // what a job's priority buys (issue 23)
	sp    spawns             // spawns in flight, refused RUNs being undone (spawn.go)
	kf    *killfb.Killer     // the kill fallback's rounds
	w     watches            // notify watches of cgroup.events, memory.events, logs (watch.go)
	ad    adoption           // restarts and upgrades: records replayed, strays (adopt.go)
	ended retain.Ended[*Job] // --max-user-ended
}

// runQueue is the admission queue: RUNs with queue_timeout waiting as
// pending jobs.
type runQueue struct {
	sv    *core
	queue pressure.Queue
}

// timeouts are the deadlines of --timeout and of a stop's grace, in a
// heap served by one alarm.
type timeouts struct {
	sv    *core
	alarm *loop.Alarm // the earliest timeout (nil until first use)
	due   deadlines
}

// spawns are the RUNs the spawner is starting and what refused RUNs
// left to undo.
type spawns struct {
	sv          *core
	spawner     *spawner.Spawner // fork/exec off the loop
	starting    map[string]*Job  // RUNs whose processes the spawner is starting
	startingFDs int              // the pidfds they will hold
	graves      []cgroup.Dir     // cgroups of refused RUNs still emptying
	unreaped    []int            // pidfds of refused RUNs' processes to reap (reapLater)
}

// watches are the notify watches of the jobs' files.
type watches struct {
	sv      *core
	watcher *notify.Watcher
	watches map[int]watch
}

// adoption replays the records and reconciles them with the cgroup tree.
type adoption struct {
	sv     *core
	strays map[string]bool // cgroups under the root no job is known for
}

// New is an empty job side on loop lp (nil in unit tests that feed it by
// hand), publishing on events, recording in jn (nil: no records), logging
// to logs (nil: no logs); what clients wait for it queues as Outcomes.
func New(cfg Config, lp *loop.Loop, events *hub.Hub, jn *journal.Journal, logs *logstore.Store) *Supervisor {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Conns == nil {
		cfg.Conns = func() int { return 0 }
	}
	c := &core{
		cfg: cfg, lp: lp, events: events, journal: jn, logs: logs,
		jobs: map[string]*Job{}, stopping: map[*Job]struct{}{}, liveJobs: map[*Job]struct{}{},
	}
	c.ids = jobid.New(jn.Reserve)
	c.rq = runQueue{sv: c}
	c.to = timeouts{sv: c}
	c.pt = protect.New(cfg.Root, cfg.Engine.ProtectLevel, cfg.Engine.ProtectMemoryLow, cfg.Logf)
	c.g = guard.New(guard.Config{Root: cfg.Root, Engine: cfg.Engine, Thresholds: cfg.Thresholds,
		HostPressure: cfg.HostPressure, Meminfo: cfg.Meminfo, Protect: c.pt, Debug: cfg.Debug, Logf: cfg.Logf}, lp, engineJobs{c})
	c.sp = spawns{sv: c, starting: map[string]*Job{}}
	c.kf = killfb.New(lp, cfg.Logf, c.debugf)
	c.w = watches{sv: c, watches: map[int]watch{}}
	c.ad = adoption{sv: c}
	c.ended.Max = cfg.MaxUserEnded
	return &Supervisor{c: c}
}

// DaemonLeaf is the daemon's own cgroup under a delegated root: not a job.
const DaemonLeaf = "_daemon"

// SetConns sets how the supervisor counts the open client connections
// (they need fds too); the server is made after the supervisor.
func (sv *Supervisor) SetConns(n func() int) { sv.c.cfg.Conns = n }

func (sv *core) logf(format string, args ...any) { sv.cfg.Logf(format, args...) }

func (sv *core) debugf(format string, args ...any) {
	if sv.cfg.Debug {
		sv.cfg.Logf("debug: "+format, args...)
	}
}

func isNoKill(err error) bool { return errors.Is(err, cgroup.ErrNoKill) }

// userCount is uid's live and pending jobs, and its new jobs the spawner
// is starting (they have no state until they run).
func (sv *core) userCount(uid uint32) int {
	n := sv.userJobs[uid]
	for _, j := range sv.sp.starting {
		if j.Spec().UID == uid && !isLive(j.State()) {
			n++
		}
	}
	return n
}

// isLive: the states a job counts against its owner's --max-user-jobs in.
func isLive(state string) bool {
	return state == job.StatePending || state == job.StateRunning || state == job.StateFrozen
}

// countUser keeps userJobs right as j goes from state old to new.
func (sv *core) countUser(j *Job, old, new string) {
	switch {
	case isLive(old) == isLive(new):
	case isLive(new):
		if sv.userJobs == nil {
			sv.userJobs = map[uint32]int{}
		}
		sv.userJobs[j.Spec().UID]++
	default:
		if sv.userJobs[j.Spec().UID]--; sv.userJobs[j.Spec().UID] <= 0 {
			delete(sv.userJobs, j.Spec().UID)
		}
	}
}

// forget drops an ended job whose cgroup is gone and emits job.cleanup.
// The log file is kept: its owner may still want it.
func (sv *core) forget(j *Job, result string) {
	sv.emitJob(&hub.Event{Type: "job.cleanup"}, j, "id", j.ID(), "result", result, "cgroup", string(j.Cgroup()))
	sv.logForgotten(j)
	sv.unrecord(j)
	sv.recount(j, j.State(), "")
	delete(sv.jobs, j.ID())
}

// Refusal is a RUN refused before anything was created (or with
// everything undone): the protocol reason clients match on plus extra
// key, value pairs (detail, ...).
type Refusal struct {
	Reason string
	KV     []string
}

func (r *Refusal) Error() string { return r.Reason }

// Refuse is a refusal for reason with the key, value pairs kv.
func Refuse(reason string, kv ...string) *Refusal { return &Refusal{Reason: reason, KV: kv} }
