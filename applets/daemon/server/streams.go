package server

import (
	"strconv"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/proto"
)

// The streams: what a connection waits for once its request was taken,
// kept here and only here, each in one place:
//
//   - WAIT: waiters[job] (and c.waitJob);
//   - RUN wait: 1: held[c] and holds[job], from the ok block to the end
//     block and the client's close;
//   - LOGS --follow: followers[job] (and c.log);
//   - FREEZE/THAW: freezeQ, until cgroup.events confirms;
//   - a queued RUN: c.pendJob, until the supervisor says Done;
//   - EVENTS --follow: c.sub, the hub's.
//
// Each of them holds its job in the supervisor (Hold/Release) while it
// reads the job's end or its log: an rm job is removed once none is left.
// The supervisor tells the server of job changes (supervisor.Listener);
// the server answers from them, never the other way round.

// Ended answers what waited for j's end: WAITs and RUN wait: 1 end blocks
// (once the end is on record: a status a client was told is never lost
// by a crash), FREEZE/THAW that can no longer be confirmed, LOGS
// followers (they send what is left and close).
func (srv *Server) Ended(j *supervisor.Job) {
	srv.resolveFreezeOps(j, false)
	end := waitResponse(j)
	for c := range srv.waiters[j] {
		c.waitJob = nil
		srv.replyRecorded(c, end)
		srv.sup.Release(j)
	}
	delete(srv.waiters, j)
	for c, hj := range srv.held {
		if hj != j {
			continue
		}
		if srv.quit {
			// A shutdown waits for every connection: close this one.
			srv.unhold(c)
			srv.replyRecorded(c, end)
			continue
		}
		srv.jn.After(func() {
			if !c.closed {
				srv.send(c, end)
			}
		})
	}
	for c := range srv.followers[j] {
		srv.pumpLog(c)
	}
}

// Frozen answers the FREEZE/THAW of j that cgroup.events now confirms.
func (srv *Server) Frozen(j *supervisor.Job, frozen bool) { srv.resolveFreezeOps(j, frozen) }

// Dropped answers the WAITs of a pending job forgotten without starting
// with the RUN's error.
func (srv *Server) Dropped(j *supervisor.Job, rf *supervisor.Refusal) {
	out := refusalResp(rf, j.ID()).Bytes()
	for c := range srv.waiters[j] {
		c.waitJob = nil
		srv.reply(c, out)
		srv.sup.Release(j)
	}
	delete(srv.waiters, j)
}

// LogGrew resumes j's idle LOGS followers.
func (srv *Server) LogGrew(j *supervisor.Job) {
	for c := range srv.followers[j] {
		srv.pumpLog(c)
	}
}

// Overflow: notifications were lost; what FREEZE/THAW wait for is read
// again.
func (srv *Server) Overflow() {
	for _, op := range append([]*freezeOp(nil), srv.freezeQ...) {
		srv.sup.CheckEvents(op.job)
	}
}

// wait makes c wait for j's end (WAIT).
func (srv *Server) wait(c *conn, j *supervisor.Job) {
	if srv.waiters[j] == nil {
		srv.waiters[j] = map[*conn]struct{}{}
	}
	srv.waiters[j][c] = struct{}{}
	c.waitJob = j
	srv.sup.Hold(j)
}

// follow makes c a LOGS follower of j.
func (srv *Server) follow(c *conn, j *supervisor.Job) error {
	if err := srv.sup.FollowLog(j); err != nil {
		return err
	}
	if srv.followers[j] == nil {
		srv.followers[j] = map[*conn]struct{}{}
	}
	srv.followers[j][c] = struct{}{}
	srv.sup.Hold(j)
	return nil
}

// hold keeps c, a RUN wait: 1 connection, on j until the client closes it.
func (srv *Server) holdJob(c *conn, j *supervisor.Job) {
	srv.held[c] = j
	srv.holds[j]++
	srv.sup.Hold(j)
}

// unhold lets c's job go; the last holder of a job that has not ended
// detaches it (kill_on_detach).
func (srv *Server) unhold(c *conn) {
	j := srv.held[c]
	if j == nil {
		return
	}
	delete(srv.held, c)
	srv.holds[j]--
	last := srv.holds[j] <= 0
	if last {
		delete(srv.holds, j)
	}
	if last && !j.IsEnded() {
		srv.sup.Detach(j)
	}
	srv.sup.Release(j)
}

// connGone undoes what c was waiting for (closeConn).
func (srv *Server) connGone(c *conn) {
	if j := c.waitJob; j != nil {
		c.waitJob = nil
		if _, ok := srv.waiters[j][c]; ok {
			delete(srv.waiters[j], c)
			if len(srv.waiters[j]) == 0 {
				delete(srv.waiters, j)
			}
			srv.sup.Release(j)
		}
	}
	if c.log != nil {
		srv.closeLog(c)
	}
	if c.sub != nil {
		srv.events.Unsubscribe(c.sub)
		c.sub = nil
	}
	if j := c.pendJob; j != nil {
		// The client gave up on its queued RUN: cancel it.
		c.pendJob = nil
		srv.sup.Cancel(j)
	}
	srv.unhold(c)
}

// replyRun answers a RUN whose job started: its ok block once the job's
// record is written (a job a client heard of survives a crash), and with
// wait: 1 the connection stays open for the end block. The hold counts
// from now: an rm job that ends before the reply is out still waits for
// its client.
func (srv *Server) replyRun(c *conn, j *supervisor.Job) {
	ok := runOK(j)
	if !j.Spec().Opts.Wait || c.closed {
		srv.jn.After(func() { srv.reply(c, ok) })
		if j.Spec().Opts.Wait && !j.IsEnded() {
			srv.sup.Detach(j) // gone before its reply
		}
		return
	}
	srv.holdJob(c, j)
	srv.jn.After(func() {
		if !c.closed {
			srv.send(c, ok)
		}
	})
}

// replyRecorded answers c with out once every record queued so far is
// written; c stays busy until then.
func (srv *Server) replyRecorded(c *conn, out []byte) {
	srv.jn.After(func() { srv.reply(c, out) })
}

// waitResponse is WAIT's answer for ended job j.
func waitResponse(j *supervisor.Job) []byte {
	r := proto.OK()
	addKV(r, job.WaitKV(j.Job))
	return r.Bytes()
}

// runOK is RUN's ok reply.
func runOK(j *supervisor.Job) []byte {
	return proto.OK().Add("id", j.ID()).Add("pid", strconv.Itoa(j.Pid())).Add("cgroup", string(j.Cgroup())).Bytes()
}

var _ = time.Now
