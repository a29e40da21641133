package daemon

import (
	"strconv"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/proto"
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

// maxQueueTimeout bounds queue_timeout: a pending RUN holds a connection.
const maxQueueTimeout = 24 * time.Hour

// pendingRun is a validated RUN waiting for admission.
type pendingRun struct {
	conn    *conn // nil once the client went away
	spec    *runSpec
	path    string // resolved executable
	setCred bool
	groups  []uint32
	block   *admissionBlock // the latest refusal: the reason at the timeout
	queued  time.Time
}

// enqueue makes j (validated, not yet created) a pending job that waits
// for admission; c gets its reply when it starts or fails.
func (d *daemon) enqueue(c *conn, j *entry, pr *pendingRun) {
	now := time.Now()
	pr.conn, pr.queued = c, now
	j.pend = pr
	d.seq++
	d.jobs[j.ID()] = j
	d.advance(j, func(m *job.Job) error { return m.Queue(d.seq, now) })
	c.pendJob = j
	d.queue.Push(pressure.Pending{ID: j.ID(), Priority: j.Spec().Priority, Deadline: now.Add(pr.spec.QueueTimeout)})
	d.debugf("job %s pending for at most %v: %s", j.ID(), pr.spec.QueueTimeout, pr.block.Reason)
	d.rearm(now)
}

// checkQueue starts the pending jobs admission now allows and fails those
// whose queue_timeout has passed.
func (d *daemon) checkQueue(now time.Time) {
	if d.queue.Len() == 0 || d.quitting {
		return
	}
	b := d.admit()
	start, expired := d.queue.Admit(now, b != nil, 0)
	if b != nil {
		for _, p := range d.queue.Items() {
			if j := d.jobs[p.ID]; j != nil && j.IsPending() {
				j.pend.block = b
			}
		}
	}
	for _, p := range expired {
		if j := d.jobs[p.ID]; j != nil && j.IsPending() {
			d.expirePending(j, b)
		}
	}
	for _, p := range start {
		if j := d.jobs[p.ID]; j != nil && j.IsPending() {
			d.startPending(j)
		}
	}
	d.rearm(now)
}

// startPending starts a pending job that admission now allows.
func (d *daemon) startPending(j *entry) {
	pr := j.pend
	j.pend = nil
	d.advance(j, (*job.Job).Begin)
	if pr.conn != nil {
		pr.conn.pendJob = nil
	}
	d.spawnJob(j, pr.spec, pr.path, pr.setCred, pr.groups, func(rf *refusal) {
		if rf != nil {
			d.forgetPending(j, pr, rf.withID(j.ID()).resp())
			return
		}
		d.debugf("job %s: started after %v pending", j.ID(), time.Since(pr.queued).Round(time.Millisecond))
		if pr.conn != nil {
			d.replyRun(pr.conn, j)
		}
	})
}

// expirePending fails a pending job whose queue_timeout passed with the
// admission reason, as a RUN refused at once.
func (d *daemon) expirePending(j *entry, b *admissionBlock) {
	pr := j.pend
	if b == nil {
		b = pr.block
	}
	d.emitAdmissionReject(b, j.ID())
	d.dropPending(j, proto.Err(b.Reason).Add("id", j.ID()))
}

// dropPending takes a pending job out of the queue and forgets it: the
// RUN (if its client is still there) and any WAIT get resp.
func (d *daemon) dropPending(j *entry, resp *proto.Response) {
	pr := j.pend
	j.pend = nil
	d.queue.Remove(j.ID())
	d.forgetPending(j, pr, resp)
}

// forgetPending forgets a job that never started.
func (d *daemon) forgetPending(j *entry, pr *pendingRun, resp *proto.Response) {
	out := resp.Bytes()
	if pr.conn != nil {
		pr.conn.pendJob = nil
		d.reply(pr.conn, out)
	}
	for c := range j.waiters {
		c.waitJob = nil
		d.reply(c, out)
	}
	j.waiters = nil
	d.recount(j, j.State(), "")
	if d.jobs[j.ID()] == j {
		delete(d.jobs, j.ID())
	}
}

// killPending cancels a pending job on KILL: it ends as killed, signal 9,
// without ever starting.
func (d *daemon) killPending(j *entry) {
	pr := j.pend
	j.pend = nil
	d.queue.Remove(j.ID())
	if pr.conn != nil {
		pr.conn.pendJob = nil
		d.reply(pr.conn, proto.Err("killed while pending").Add("id", j.ID()).Bytes())
	}
	// Recorded once the kill is written into the model: after a crash
	// the job comes back killed, signal 9, never exited.
	d.advance(j, func(m *job.Job) error { return m.Cancel(time.Now(), monoMs()) })
	for c := range j.waiters {
		c.waitJob = nil
		d.reply(c, d.waitResponse(j))
	}
	j.waiters = nil
}

// removePending cancels and forgets a pending job on REMOVE.
func (d *daemon) removePending(j *entry) {
	d.dropPending(j, proto.Err("removed while pending").Add("id", j.ID()))
	d.emitJob(&hub.Event{Type: "job.cleanup"}, j, "id", j.ID(), "result", "removed", "cgroup", string(j.Cgroup()))
}

// cancelAllPending answers every pending RUN with reason (shutdown).
func (d *daemon) cancelAllPending(reason string) {
	for _, p := range d.queue.Items() {
		if j := d.jobs[p.ID]; j != nil && j.IsPending() {
			d.dropPending(j, proto.Err(reason).Add("id", j.ID()))
		}
	}
}

// runOK is RUN's ok reply.
func runOK(j *entry) []byte {
	return proto.OK().Add("id", j.ID()).Add("pid", strconv.Itoa(j.Pid())).Add("cgroup", string(j.Cgroup())).Bytes()
}
