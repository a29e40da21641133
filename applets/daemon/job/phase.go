package job

// A job's lifecycle is one explicit phase, changed only by to (job.go),
// which every transition method calls after it has written the fields the
// step sets: a record made after a transition always holds them. The v1
// state a client sees (pending, running, frozen, exited, failed, killed)
// is derived from it plus the cgroup's frozen flag and the main process's
// status (State).
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
// ended: final; job.exit emitted (or, for a pending job a client killed,
// the kill recorded), status known or marked unknown.
// A job whose RUN fails, or that is REMOVEd, leaves the table (the
// supervisor forgets it).
type Phase uint8

const (
	New Phase = iota
	Pending
	Starting
	Running
	Stopping
	Ended
)

var phaseNames = [...]string{"new", "pending", "starting", "running", "stopping", "ended"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase?"
}

// ParsePhase is the phase named s (a record's phase line).
func ParsePhase(s string) (Phase, bool) {
	for i, n := range phaseNames {
		if n == s {
			return Phase(i), true
		}
	}
	return 0, false
}

// next lists the phases each phase may move to.
var next = [...][]Phase{
	New:      {Pending, Running, Stopping, Ended}, // adoption may start anywhere
	Pending:  {Starting, Ended},
	Starting: {Running},
	Running:  {Stopping, Ended},
	Stopping: {Ended},
	Ended:    nil,
}

// CanGo reports whether the lifecycle allows p -> to.
func (p Phase) CanGo(to Phase) bool {
	for _, n := range next[p] {
		if n == to {
			return true
		}
	}
	return false
}
