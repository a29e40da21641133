package supervisor

import (
	"time"

	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
)

// Queued admission (extension). A RUN with `queue_timeout: <duration>`
// (Go syntax, or whole seconds; > 0 and at most maxQueueTimeout) that
// admission control would refuse is validated completely (everything a
// RUN checks before creating its cgroup, the executable included), then
// waits as a `pending` job: it is in LIST (state pending, pid 0, the cgroup
// path it will get, start_unix_ms 0, age_ms since it was queued) and
// INSPECT, its id is taken, but it has no cgroup, no process and no log
// file yet, and it is not the pressure engine's to touch. The connection
// that sent the RUN stays open, without a reply:
//
//   - when admission allows (checked every second, on PSI trigger
//     wake-ups and when a RUN arrives), the pending jobs start in priority
//     order, higher priority first, first come first served within one
//     priority; the RUN then gets its usual reply (id, pid, cgroup) and the
//     job its job.start; a start that fails (spawn failed, a limit the
//     kernel refuses) answers the RUN with that refusal and leaves nothing
//     behind. A RUN with queue_timeout that arrives while others are
//     pending queues behind them even if admission would allow it;
//   - when queue_timeout passes first, the RUN gets `STATUS: err` with the
//     admission reason (`admission blocked: <resource>.<some|full>.avg10 V
//     >= T`, the latest one seen) and its id, a `pressure ...
//     action=admission_reject target=<id>` event is emitted, and the job
//     is forgotten (INSPECT: no such job), as for a RUN refused at once;
//   - KILL (any signal) cancels it: the RUN gets `reason: killed while
//     pending`; the job stays, ended, with state killed and signal 9, and
//     REMOVE forgets it (job.cleanup);
//   - REMOVE cancels and forgets it: the RUN gets `reason: removed while
//     pending`, and job.cleanup is emitted, as for every removed job;
//   - if the RUN's client closes its connection, or the daemon shuts down
//     (`reason: shutting down`), it is cancelled and forgotten.
//
// A job that never started gets no job.start and no job.exit (nor
// job.kill): EVENTS.md pairs those with a process. WAIT on a pending job
// waits like on a running one; if the job is forgotten the WAIT gets the
// RUN's error.

// MaxQueueTimeout bounds queue_timeout: a pending RUN holds a connection.
const MaxQueueTimeout = 24 * time.Hour

// pendingRun is a validated RUN waiting for admission.
type pendingRun struct {
	start  *Start
	block  *guard.Block // the latest refusal: the reason at the timeout
	queued time.Time
}

// enqueue makes j (validated, not yet created) a pending job that waits
// for admission; it is told (Started, Refused) when it starts or fails.
func (q *runQueue) enqueue(j *Job, pr *pendingRun) {
	now := time.Now()
	pr.queued = now
	j.pend = pr
	q.sv.seq++
	q.sv.jobs[j.ID()] = j
	q.sv.advance(j, func(m *job.Job) error { return m.Queue(q.sv.seq, now) })
	q.queue.Push(pressure.Pending{ID: j.ID(), Priority: j.Spec().Priority, Deadline: now.Add(pr.start.QueueTimeout)})
	q.sv.debugf("job %s pending for at most %v: %s", j.ID(), pr.start.QueueTimeout, pr.block.Reason)
	q.sv.g.Rearm(now)
}

// checkQueue starts the pending jobs admission now allows and fails those
// whose queue_timeout has passed.
func (q *runQueue) checkQueue(now time.Time) {
	if q.queue.Len() == 0 || q.sv.quitting {
		return
	}
	b := q.sv.g.Admit()
	start, expired := q.queue.Admit(now, b != nil, 0)
	if b != nil {
		for _, p := range q.queue.Items() {
			if j := q.sv.jobs[p.ID]; j != nil && j.IsPending() {
				j.pend.block = b
			}
		}
	}
	for _, p := range expired {
		if j := q.sv.jobs[p.ID]; j != nil && j.IsPending() {
			q.expirePending(j, b)
		}
	}
	for _, p := range start {
		if j := q.sv.jobs[p.ID]; j != nil && j.IsPending() {
			q.startPending(j)
		}
	}
	q.sv.g.Rearm(now)
}

// startPending starts a pending job that admission now allows.
func (q *runQueue) startPending(j *Job) {
	pr := j.pend
	j.pend = nil
	q.sv.advance(j, (*job.Job).Begin)
	q.sv.sp.spawnJob(j, pr.start, func(rf *Refusal) {
		if rf != nil {
			q.forgetPending(j, rf)
			return
		}
		q.sv.debugf("job %s: started after %v pending", j.ID(), time.Since(pr.queued).Round(time.Millisecond))
		q.sv.oc.runDone(j, nil)
	})
}

// expirePending fails a pending job whose queue_timeout passed with the
// admission reason, as a RUN refused at once.
func (q *runQueue) expirePending(j *Job, b *guard.Block) {
	pr := j.pend
	if b == nil {
		b = pr.block
	}
	q.sv.g.Reject(b, j.ID())
	q.dropPending(j, Refuse(b.Reason))
}

// dropPending takes a pending job out of the queue and forgets it: its
// RUN and any WAIT get rf.
func (q *runQueue) dropPending(j *Job, rf *Refusal) {
	j.pend = nil
	q.queue.Remove(j.ID())
	q.forgetPending(j, rf)
}

// forgetPending forgets a job that never started.
func (q *runQueue) forgetPending(j *Job, rf *Refusal) {
	q.sv.recount(j, j.State(), "")
	if q.sv.jobs[j.ID()] == j {
		delete(q.sv.jobs, j.ID())
	}
	q.sv.oc.runDone(j, rf)
	q.sv.oc.tell(Outcome{Kind: Dropped, Job: j, Refusal: rf})
}

// killPending cancels a pending job on KILL: it ends as killed, signal 9,
// without ever starting.
func (q *runQueue) killPending(j *Job) {
	j.pend = nil
	q.queue.Remove(j.ID())
	// Recorded once the kill is written into the model: after a crash
	// the job comes back killed, signal 9, never exited.
	q.sv.advance(j, func(m *job.Job) error { return m.Cancel(time.Now(), monoMs()) })
	q.sv.oc.runDone(j, Refuse("killed while pending"))
	q.sv.oc.tell(Outcome{Kind: Ended, Job: j}) // its WAITs
}

// removePending cancels and forgets a pending job on REMOVE.
func (q *runQueue) removePending(j *Job) {
	q.dropPending(j, Refuse("removed while pending"))
	q.sv.emitJob(&hub.Event{Type: "job.cleanup"}, j, "id", j.ID(), "result", "removed", "cgroup", string(j.Cgroup()))
}

// cancelAllPending answers every pending RUN with reason (shutdown).
func (q *runQueue) cancelAllPending(reason string) {
	for _, p := range q.queue.Items() {
		if j := q.sv.jobs[p.ID]; j != nil && j.IsPending() {
			q.dropPending(j, Refuse(reason))
		}
	}
}

// Cancel drops pending job j whose client went away.
func (sv *Supervisor) Cancel(j *Job) {
	defer sv.c.oc.enter("Cancel")()
	if j.IsPending() && j.pend != nil {
		sv.c.rq.dropPending(j, Refuse("client went away"))
	}
}
