package daemon

// A job's lifecycle is one explicit phase, changed only by advance. The
// v1 state a client sees (pending, running, frozen, exited, failed,
// killed) is derived from it plus the cgroup's frozen flag and the main
// process's status; the journal (journal.go) records the phases a
// restarted daemon must know.
//
//	new ──► pending ──► starting ──► running ──► stopping ──► ended
//	 │         │                        ▲  │                    ▲
//	 │         └──── KILL while pending ┼──┼────────────────────┤
//	 └── RUN without queue ─────────────┘  └── shutdown / adopt ┘
//
// new: validated, not in the job table (a RUN being spawned).
// pending: queued for admission; nothing created yet (not journaled: a
// crash answers its client with a closed connection).
// starting: a pending job whose turn came, being spawned.
// running: the main process lives (v1 running or frozen).
// stopping: the main process ended; the rest of the cgroup is being killed.
// ended: final; job.exit emitted, status recorded.
// A job whose RUN fails, or that is REMOVEd, leaves the table (forget).
type phase uint8

const (
	phaseNew phase = iota
	phasePending
	phaseStarting
	phaseRunning
	phaseStopping
	phaseEnded
)

var phaseNames = [...]string{"new", "pending", "starting", "running", "stopping", "ended"}

func (p phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase?"
}

// next lists the phases each phase may move to.
var next = [...][]phase{
	phaseNew:      {phasePending, phaseRunning, phaseStopping, phaseEnded}, // adoption may start anywhere
	phasePending:  {phaseStarting, phaseEnded},
	phaseStarting: {phaseRunning},
	phaseRunning:  {phaseStopping, phaseEnded},
	phaseStopping: {phaseEnded},
	phaseEnded:    nil,
}

func (p phase) canGo(to phase) bool {
	for _, n := range next[p] {
		if n == to {
			return true
		}
	}
	return false
}

// isPending: not started yet (queued, or its turn came and it is being
// spawned); v1 state pending.
func (j *job) isPending() bool { return j.phase == phasePending || j.phase == phaseStarting }

// mainGone: the main process has ended (stopping or ended).
func (j *job) mainGone() bool { return j.phase >= phaseStopping }

// isEnded: final, job.exit emitted.
func (j *job) isEnded() bool { return j.phase == phaseEnded }

// advance moves j to phase to. It is the only writer of j.phase; a move
// the diagram does not allow is a bug, logged and done anyway (the kernel
// has decided already). Steps a restarted daemon must know are journaled
// without waiting (journal.go): running (with its pid) and ended (with
// its status).
func (d *daemon) advance(j *job, to phase) {
	if !j.phase.canGo(to) {
		d.logf("job %s: unexpected lifecycle step %s -> %s", j.id, j.phase, to)
	}
	j.phase = to
	switch to {
	case phaseRunning, phaseEnded:
		d.record(j)
	}
}
