package supervisor

// Outcomes flow one way: a step records its transition (model, record,
// event) and queues an Outcome; the server takes them after the step (at
// the end of each batch) and answers from them. What it asks in answer is
// a step of its own: a call into a running step panics (enter).

// OutcomeKind is what happened to a job.
type OutcomeKind int

const (
	Started  OutcomeKind = iota // a RUN's job runs (its record is queued: Recorded)
	Refused                     // a RUN's job did not start (Refusal, without the id key); nothing is left
	Ended                       // job.exit is published and the end recorded
	Frozen                      // cgroup.events read while it runs: Frozen (FREEZE and THAW wait for it)
	Dropped                     // a pending job forgotten without starting, for Refusal (its WAITs)
	LogGrew                     // its log file grew (LOGS followers)
	Overflow                    // notifications were lost: what waits is read again (Job nil)
)

// Outcome is one job change a client may wait on.
type Outcome struct {
	Kind    OutcomeKind
	Job     *Job
	Frozen  bool     // Frozen: the state read
	Refusal *Refusal // Refused, Dropped: why
}

// outcomes are the outcomes not taken yet, and the step in progress.
type outcomes struct {
	out, spare []Outcome
	stepping   string // the step a call from outside began ("": none)
}

func (oc *outcomes) tell(o Outcome) { oc.out = append(oc.out, o) }

// runDone queues how j's RUN ended: started (rf nil) or refused.
func (oc *outcomes) runDone(j *Job, rf *Refusal) {
	if rf != nil {
		oc.tell(Outcome{Kind: Refused, Job: j, Refusal: rf})
	} else {
		oc.tell(Outcome{Kind: Started, Job: j})
	}
}

// Outcomes takes the outcomes queued since the last call, oldest first;
// the slice is the caller's until the next call.
func (sv *Supervisor) Outcomes() []Outcome {
	oc := &sv.c.oc
	taken := oc.out
	clear(oc.spare)
	oc.out, oc.spare = oc.spare[:0], taken
	return taken
}

// enter begins a step called from outside (the server, the loop) and
// returns its end; a call made while a step runs re-enters it: a panic.
func (oc *outcomes) enter(what string) func() {
	if oc.stepping != "" {
		panic("supervisor: " + what + " called back from inside " + oc.stepping)
	}
	oc.stepping = what
	return func() { oc.stepping = "" }
}
