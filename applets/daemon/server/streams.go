package server

import (
	"strconv"

	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/proto"
)

// The streams: what a connection waits for once its request was taken,
// kept here and only here, each in one place:
//
//   - WAIT: waiters[job] (and c.waitJob);
//   - RUN wait: 1: held[c], from the ok block to the end block and the
//     client's close;
//   - LOGS --follow: followers[job] (and c.log);
//   - FREEZE/THAW: freezeQ, until cgroup.events confirms;
//   - a RUN the supervisor took: runs[job] until it starts or is
//     refused, and c.pendJob while it is queued;
//   - EVENTS --follow: c.sub, the hub's.
//
// Each of them holds its job in the supervisor (Hold/Release), which keeps
// the one count of a job's clients: an rm job is removed once none is
// left, a kill_on_detach job is stopped once its last RUN wait: 1 is.
// The supervisor queues job changes (supervisor.Outcome); the server
// takes them after the step (Answer) and answers from them, never the
// other way round.

// Answer takes the supervisor's outcomes and answers the clients waiting
// on them (the root calls it at the end of each batch of the loop, before
// the queued lines are written). What it asks of the supervisor in answer
// (Release, Cancel, CheckEvents) are steps of their own, after the one
// that queued the outcome; their outcomes are taken next, until none is
// left.
func (srv *Server) Answer() {
	for {
		outs := srv.sup.Outcomes()
		if len(outs) == 0 {
			return
		}
		for i := range outs {
			srv.st.answer(&outs[i])
		}
	}
}

// answer answers the clients waiting on one outcome.
func (st *streams) answer(o *supervisor.Outcome) {
	switch o.Kind {
	case supervisor.Started:
		st.runDone(o.Job, nil)
	case supervisor.Refused:
		st.runDone(o.Job, o.Refusal)
	case supervisor.Ended:
		st.ended(o.Job)
	case supervisor.Frozen:
		st.resolveFreezeOps(o.Job, o.Frozen) // the FREEZE/THAW it confirms
	case supervisor.Dropped:
		st.dropped(o.Job, o.Refusal)
	case supervisor.LogGrew:
		st.logGrew(o.Job)
	case supervisor.Overflow:
		st.overflow()
	}
}

// ended answers what waited for j's end: WAITs and RUN wait: 1 end blocks
// (once the end is on record: a status a client was told is never lost
// by a crash), FREEZE/THAW that can no longer be confirmed, LOGS
// followers (they send what is left and close).
func (st *streams) ended(j *supervisor.Job) {
	st.resolveFreezeOps(j, false)
	end := waitResponse(j)
	for c := range st.waiters[j] {
		c.waitJob = nil
		st.replyRecorded(c, end)
		st.srv.sup.Release(j, supervisor.Reading)
	}
	delete(st.waiters, j)
	for c, hj := range st.held {
		if hj != j {
			continue
		}
		if st.srv.quit {
			// A shutdown waits for every connection: close this one.
			st.unhold(c)
			st.replyRecorded(c, end)
			continue
		}
		st.srv.jn.After(func() {
			if !c.closed {
				st.srv.send(c, end)
			}
		})
	}
	for c := range st.followers[j] {
		st.pumpLog(c)
	}
}

// dropped answers the WAITs of a pending job forgotten without starting
// with the RUN's error.
func (st *streams) dropped(j *supervisor.Job, rf *supervisor.Refusal) {
	out := refusalResp(rf, j.ID()).Bytes()
	for c := range st.waiters[j] {
		c.waitJob = nil
		st.srv.reply(c, out)
		st.srv.sup.Release(j, supervisor.Reading)
	}
	delete(st.waiters, j)
}

// logGrew resumes j's idle LOGS followers.
func (st *streams) logGrew(j *supervisor.Job) {
	for c := range st.followers[j] {
		st.pumpLog(c)
	}
}

// overflow: notifications were lost; what FREEZE/THAW wait for is read
// again.
func (st *streams) overflow() {
	for _, op := range append([]*freezeOp(nil), st.freezeQ...) {
		st.srv.sup.CheckEvents(op.job)
	}
}

// wait makes c wait for j's end (WAIT).
func (st *streams) wait(c *conn, j *supervisor.Job) {
	if st.waiters[j] == nil {
		st.waiters[j] = map[*conn]struct{}{}
	}
	st.waiters[j][c] = struct{}{}
	c.waitJob = j
	st.srv.sup.Hold(j, supervisor.Reading)
}

// follow makes c a LOGS follower of j.
func (st *streams) follow(c *conn, j *supervisor.Job) error {
	if err := st.srv.sup.FollowLog(j); err != nil {
		return err
	}
	if st.followers[j] == nil {
		st.followers[j] = map[*conn]struct{}{}
	}
	st.followers[j][c] = struct{}{}
	st.srv.sup.Hold(j, supervisor.Reading)
	return nil
}

// hold keeps c, a RUN wait: 1 connection, on j until the client closes it.
func (st *streams) holdJob(c *conn, j *supervisor.Job) {
	st.held[c] = j
	st.srv.sup.Hold(j, supervisor.Attached)
}

// unhold lets c's job go; the last holder of a job that has not ended
// detaches it (kill_on_detach, the supervisor's Release).
func (st *streams) unhold(c *conn) {
	j := st.held[c]
	if j == nil {
		return
	}
	delete(st.held, c)
	st.srv.sup.Release(j, supervisor.Attached)
}

// connGone undoes what c was waiting for (closeConn).
func (st *streams) connGone(c *conn) {
	if j := c.waitJob; j != nil {
		c.waitJob = nil
		if _, ok := st.waiters[j][c]; ok {
			delete(st.waiters[j], c)
			if len(st.waiters[j]) == 0 {
				delete(st.waiters, j)
			}
			st.srv.sup.Release(j, supervisor.Reading)
		}
	}
	if c.log != nil {
		st.closeLog(c)
	}
	if c.sub != nil {
		st.srv.events.Unsubscribe(c.sub)
		c.sub = nil
	}
	if j := c.pendJob; j != nil {
		// The client gave up on its queued RUN: cancel it.
		c.pendJob = nil
		st.srv.sup.Cancel(j)
	}
	st.unhold(c)
}

// replyRun answers a RUN whose job started: its ok block once the job's
// record is written (a job a client heard of survives a crash): at once
// when it is on its cgroup (supervisor.Recorded), else by the journal; with
// wait: 1 the connection stays open for the end block. The hold counts
// from now: an rm job that ends before the reply is out still waits for
// its client.
func (st *streams) replyRun(c *conn, j *supervisor.Job) {
	ok := runOK(j)
	onRecord := st.srv.jn.After
	if st.srv.sup.Recorded(j) {
		onRecord = func(fn func()) { fn() } // on its cgroup already: now
	}
	if !j.Spec().Opts.Wait || c.closed {
		onRecord(func() { st.srv.reply(c, ok) })
		if j.Spec().Opts.Wait && !j.IsEnded() {
			st.srv.sup.Detach(j) // gone before its reply
		}
		return
	}
	st.holdJob(c, j)
	onRecord(func() {
		if !c.closed {
			st.srv.send(c, ok)
		}
	})
}

// replyRecorded answers c with out once every record queued so far is
// written; c stays busy until then.
func (st *streams) replyRecorded(c *conn, out []byte) {
	st.srv.jn.After(func() { st.srv.reply(c, out) })
}

// waitResponse is WAIT's answer for ended job j.
func waitResponse(j *supervisor.Job) []byte {
	r := proto.OK()
	addKV(r, job.WaitKV(supervisor.Model(j)))
	return r.Bytes()
}

// runOK is RUN's ok reply.
func runOK(j *supervisor.Job) []byte {
	return proto.OK().Add("id", j.ID()).Add("pid", strconv.Itoa(j.Pid())).Add("cgroup", string(j.Cgroup())).Bytes()
}
