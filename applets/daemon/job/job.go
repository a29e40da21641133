// Package job is the daemon's job model: what a job is (its spec, phase,
// status and end figures), the one transition function that moves it
// through its lifecycle, and its record's encoding and decoding
// (record.go). It does no I/O: the supervisor reads the kernel and tells
// the model what happened; the journal writes what Encode makes.
package job

import (
	"strconv"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/limits"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// Job states of PROTOCOL.md.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateFrozen  = "frozen"
	StateExited  = "exited"
	StateFailed  = "failed"
	StateKilled  = "killed"
)

// States are every state of PROTOCOL.md.
var States = []string{StatePending, StateRunning, StateFrozen, StateExited, StateFailed, StateKilled}

// ReasonClient is the reason of a freeze, thaw or kill a client asked
// for (EVENTS.md); the engine's reasons are its own.
const ReasonClient = "client"

// Opts are the extension keys of one RUN (rm, wait, kill_on_detach,
// timeout, timeout_grace).
type Opts struct {
	RM, Wait, KillOnDetach bool
	Timeout, Grace         time.Duration
}

// Spec is what a RUN asked for; it does not change once the job exists.
type Spec struct {
	ID           string
	UID, GID     uint32
	Cgroup       cgroup.Dir
	Priority     int
	Argv         []string         // the command (records, INSPECT)
	Settings     []limits.Setting // the limits it was started with
	ServiceCount int
	RequireCount int
	IOMaxCount   int
	Opts         Opts
}

// Figures are a job's end figures; the ok flags say which are known.
type Figures struct {
	CPUUsec, MemPeak, OOMKills uint64
	CPUOK, PeakOK, OOMOK       bool
}

// Job is one RUN. Only the loop goroutine touches it.
type Job struct {
	spec  Spec
	seq   uint64 // start order
	phase Phase

	frozen   bool   // cgroup.events says frozen (while running)
	pid      int    // main process
	pidStart string // its start time (/proc/<pid>/stat): names the process in records
	log      string // its log file ("" without)

	startUnix, startMono int64 // ms
	exitUnix, exitMono   int64 // ms, 0 until the main process ended
	queuedUnix           int64 // ms, when it was queued (0: never pending)

	status      spawn.Status // how main ended
	exitUnknown string       // why status is not known ("": it is the kernel's)
	killSent    bool         // the daemon SIGKILLed the job (how an adopted job's end is known)
	adopted     bool         // not the daemon's child: taken over after a restart

	oomGroup      bool   // memory.oom.group is 1: OOM kills take the whole job
	oomKillCount  uint64 // memory.events oom_kill at the last job.oom
	oomGroupCount uint64 // memory.events oom_group_kill at the last job.oom
	frozenBy      string // reason of the freeze in force ("" when thawed)
	cpuWeight     int    // weight the engine set (0: untouched)

	startT    time.Time     // when its timeout counts from
	engSince  time.Time     // frozen by the pressure engine since (zero: not)
	engFrozen time.Duration // time frozen by the engine before engSince

	figures    Figures
	figured    bool
	stopReason string // why the daemon stops it (timeout, detach); "": it does not
}

// Make is a validated RUN's job, in phase new.
func Make(s Spec) *Job { return &Job{spec: s} }

// Spec is what the RUN asked for.
func (j *Job) Spec() Spec { return j.spec }

// ID is the job's id.
func (j *Job) ID() string { return j.spec.ID }

// Cgroup is the job's cgroup.
func (j *Job) Cgroup() cgroup.Dir { return j.spec.Cgroup }

// Seq is the job's place in start order (0: not given one yet).
func (j *Job) Seq() uint64 { return j.seq }

// Phase is where the job is in its lifecycle.
func (j *Job) Phase() Phase { return j.phase }

// IsPending: not started yet (queued, or its turn came and it is being
// spawned); v1 state pending.
func (j *Job) IsPending() bool { return j.phase == Pending || j.phase == Starting }

// MainGone: the main process has ended (stopping or ended).
func (j *Job) MainGone() bool { return j.phase >= Stopping }

// IsEnded: final.
func (j *Job) IsEnded() bool { return j.phase == Ended }

// State is the v1 state ("" for a job in phase new, not in the table).
func (j *Job) State() string {
	switch j.phase {
	case Pending, Starting:
		return StatePending
	case Running, Stopping:
		if j.frozen {
			return StateFrozen
		}
		return StateRunning
	case Ended:
		return j.EndState()
	}
	return ""
}

// EndState is the state the job ends in (stopping: will end in). An
// unknown status is failed: never an invented success.
func (j *Job) EndState() string {
	if j.exitUnknown != "" {
		return StateFailed
	}
	return EndState(j.status)
}

// EndState maps how a main process ended to a job state: exit 0 →
// exited; SIGKILL (client, OOM killer, pressure) → killed; any other
// signal or a non-zero exit → failed.
func EndState(st spawn.Status) string {
	switch {
	case st.Signal == int(unix.SIGKILL):
		return StateKilled
	case st.Signal != 0 || st.Exit != 0:
		return StateFailed
	default:
		return StateExited
	}
}

// Pid is the main process (0 before it started).
func (j *Job) Pid() int { return j.pid }

// PidStart is the main process's start time in clock ticks ("": unknown).
func (j *Job) PidStart() string { return j.pidStart }

// Log is the job's log file ("" without).
func (j *Job) Log() string { return j.log }

// Times are the job's start and end in Unix and monotonic ms (0: not yet).
func (j *Job) Times() (startUnix, startMono, exitUnix, exitMono int64) {
	return j.startUnix, j.startMono, j.exitUnix, j.exitMono
}

// AgeMs is the job's age at now (Unix ms): since it started, or since it
// was queued while pending.
func (j *Job) AgeMs(now int64) int64 {
	if j.startUnix == 0 {
		return now - j.queuedUnix
	}
	return now - j.startUnix
}

// Status is how the main process ended, as far as it is known.
func (j *Job) Status() spawn.Status { return j.status }

// Adopted: not the daemon's child, taken over after a restart.
func (j *Job) Adopted() bool { return j.adopted }

// KillSent: the daemon SIGKILLed it.
func (j *Job) KillSent() bool { return j.killSent }

// FrozenBy is the reason of the freeze in force ("" when thawed).
func (j *Job) FrozenBy() string { return j.frozenBy }

// CPUWeight is the cpu.weight the engine set (0: untouched).
func (j *Job) CPUWeight() int { return j.cpuWeight }

// OOM is memory.oom.group and the oom_kill and oom_group_kill counts at
// the last job.oom.
func (j *Job) OOM() (group bool, kills, groupKills uint64) {
	return j.oomGroup, j.oomKillCount, j.oomGroupCount
}

// OOMKilled is "1" when the kernel OOM-killed in j, else "0".
func OOMKilled(j *Job) string {
	if j.oomKillCount > 0 {
		return "1"
	}
	return "0"
}

// ---- transitions ----

// to moves the job to phase p: the one writer of the phase. A move the
// diagram does not allow is reported (the kernel has decided already) and
// done anyway.
func (j *Job) to(p Phase) error {
	var err error
	if !j.phase.CanGo(p) {
		err = &StepError{ID: j.spec.ID, From: j.phase, To: p}
	}
	j.phase = p
	return err
}

// StepError is a lifecycle step the diagram does not allow.
type StepError struct {
	ID       string
	From, To Phase
}

func (e *StepError) Error() string {
	return "job " + e.ID + ": unexpected lifecycle step " + e.From.String() + " -> " + e.To.String()
}

// Queue makes a new job pending at now, seq its place in start order.
func (j *Job) Queue(seq uint64, now time.Time) error {
	j.queuedUnix, j.seq = now.UnixMilli(), seq
	return j.to(Pending)
}

// Begin: a pending job's turn came; it is being spawned.
func (j *Job) Begin() error { return j.to(Starting) }

// SetLog names the job's log file (before it starts; "" undoes it).
func (j *Job) SetLog(path string) { j.log = path }

// SetOOMGroup records that memory.oom.group is set (before it starts).
func (j *Job) SetOOMGroup(on bool) { j.oomGroup = on }

// Start makes the job running with its main process pid (start time
// pidStart) started at now (mono: CLOCK_MONOTONIC ms); seq is used when
// the job has no place in start order yet.
func (j *Job) Start(pid int, pidStart string, now time.Time, mono int64, seq uint64) error {
	j.pid, j.pidStart = pid, pidStart
	j.startUnix, j.startMono = now.UnixMilli(), mono
	j.startT = now
	if j.seq == 0 {
		j.seq = seq
	}
	return j.to(Running)
}

// MainExited: the main process ended with st at now; unknown says why st
// is not the kernel's ("": it is). The rest of the cgroup is killed next.
func (j *Job) MainExited(st spawn.Status, unknown string, now time.Time, mono int64) error {
	j.status, j.exitUnknown = st, unknown
	j.exitUnix, j.exitMono = now.UnixMilli(), mono
	return j.to(Stopping)
}

// End finalises a job whose cgroup emptied, with its end figures.
func (j *Job) End(f Figures) error {
	j.figures, j.figured = f, true
	return j.to(Ended)
}

// Cancel ends a pending job a client killed: killed, signal 9, at now,
// without ever starting.
func (j *Job) Cancel(now time.Time, mono int64) error {
	j.status, j.exitUnknown = spawn.Status{Signal: int(unix.SIGKILL)}, ""
	j.exitUnix, j.exitMono = now.UnixMilli(), mono
	j.killSent = true
	return j.to(Ended)
}

// SetFrozen records what cgroup.events says while the main process runs.
func (j *Job) SetFrozen(frozen bool) {
	if j.phase == Running {
		j.frozen = frozen
	}
}

// FreezeFor records a freeze asked for with reason ("" once thawed) at
// now. Time frozen by the pressure engine does not count for --timeout
// (the engine froze it to save the host, not the job's owner); time
// frozen by a client does (the client chose to hold it).
func (j *Job) FreezeFor(reason string, now time.Time) {
	j.frozenBy = reason
	engine := reason != "" && reason != ReasonClient
	switch {
	case engine && j.engSince.IsZero():
		j.engSince = now
	case !engine && !j.engSince.IsZero():
		j.engFrozen += now.Sub(j.engSince)
		j.engSince = time.Time{}
	}
}

// EngineFrozen reports whether the engine holds the job frozen now.
func (j *Job) EngineFrozen() bool { return !j.engSince.IsZero() }

// Ran is how long the job has run for its timeout at now: since its
// start, less the time the engine kept it frozen.
func (j *Job) Ran(now time.Time) time.Duration {
	t := now.Sub(j.startT) - j.engFrozen
	if !j.engSince.IsZero() {
		t -= now.Sub(j.engSince)
	}
	return t
}

// StopFor records that the daemon stops the job for reason (timeout,
// detach: SIGTERM, then SIGKILL after the grace); its end says so.
func (j *Job) StopFor(reason string) { j.stopReason = reason }

// StopReason is why the daemon stops the job ("": it does not).
func (j *Job) StopReason() string { return j.stopReason }

// SetCPUWeight records the cpu.weight the engine set (0: the job's own).
func (j *Job) SetCPUWeight(w int) { j.cpuWeight = w }

// Killed records that the daemon SIGKILLed the job.
func (j *Job) Killed() { j.killSent = true }

// SawOOM records the memory.events counts reported by a job.oom.
func (j *Job) SawOOM(kills, groupKills uint64) {
	j.oomKillCount, j.oomGroupCount = kills, groupKills
}

// ---- what clients are told ----

// CommandKnown reports whether j's argv is known: not for a job restored
// from its cgroup's mark alone (EncodeMark), its record lost. Every RUN
// has a command, so no argv means an unknown one.
func CommandKnown(j *Job) bool { return len(j.spec.Argv) > 0 }

// UnknownKeys are the extension keys of an end whose status is unknown:
// exit_known 0 and exit_reason (v1's exit and signal stay numbers, 0).
func UnknownKeys(j *Job) []string {
	if j.exitUnknown == "" {
		return nil
	}
	return []string{"exit_known", "0", "exit_reason", j.exitUnknown}
}

// FigureKV is j's end figures as key, value pairs (job.exit, WAIT): run_ms,
// cpu_usec, memory_peak, oom_kills; only those known.
func FigureKV(j *Job) []string {
	if !j.figured {
		return nil
	}
	f := &j.figures
	var kv []string
	if j.startMono > 0 && j.exitMono >= j.startMono {
		kv = append(kv, "run_ms", strconv.FormatInt(j.exitMono-j.startMono, 10))
	}
	if f.CPUOK {
		kv = append(kv, "cpu_usec", strconv.FormatUint(f.CPUUsec, 10))
	}
	if f.PeakOK {
		kv = append(kv, "memory_peak", strconv.FormatUint(f.MemPeak, 10))
	}
	if f.OOMOK {
		kv = append(kv, "oom_kills", strconv.FormatUint(f.OOMKills, 10))
	}
	return kv
}

// ExitKV is the keys of j's job.exit: the v1 ones, then the end figures and the
// unknown-status keys.
func ExitKV(j *Job) []string {
	kv := []string{"id", j.spec.ID, "state", j.State(), "exit", strconv.Itoa(j.status.Exit),
		"signal", strconv.Itoa(j.status.Signal), "oom_killed", OOMKilled(j), "cgroup", string(j.spec.Cgroup),
		"start_unix_ms", strconv.FormatInt(j.startUnix, 10), "exit_unix_ms", strconv.FormatInt(j.exitUnix, 10)}
	return appendEndKV(kv, j)
}

// appendEndKV appends the extension keys of j's end after kv (job.exit's
// and WAIT's v1 keys): the end figures, the unknown-status keys, and
// stop_reason of a job the daemon stopped.
func appendEndKV(kv []string, j *Job) []string {
	kv = append(append(kv, FigureKV(j)...), UnknownKeys(j)...)
	if j.stopReason != "" {
		kv = append(kv, "stop_reason", j.stopReason)
	}
	return kv
}

// WaitKV is WAIT's answer for ended job j, after STATUS: ok.
func WaitKV(j *Job) []string {
	kv := []string{"id", j.spec.ID, "state", j.State(), "exit", strconv.Itoa(j.status.Exit),
		"signal", strconv.Itoa(j.status.Signal), "oom_killed", OOMKilled(j)}
	return appendEndKV(kv, j)
}
