package server

import (
	"fmt"

	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/runreq"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/proto"
	"cgroupd/core/spawn"
)

// credFor decides the identity a caller's job runs as. A root daemon runs
// jobs as the caller (root as root); a non-root daemon can only run jobs
// as itself.
func (cl *callers) credFor(c *conn) (setCred bool, groups []uint32, r *supervisor.Refusal) {
	uid := c.cred.Uid
	if cl.srv.cfg.EUID != 0 {
		if int(uid) != cl.srv.cfg.EUID {
			return false, nil, supervisor.Refuse("permission denied",
				"detail", fmt.Sprintf("daemon runs as uid %d and cannot run jobs as uid %d", cl.srv.cfg.EUID, uid))
		}
		return false, nil, nil
	}
	if uid == 0 {
		return false, nil, nil
	}
	return true, cl.groupsOf(uid, c.cred.Gid), nil
}

// groupsOf returns the supplementary groups of uid (from /etc/group
// without cgo); just gid when the lookup fails. Read fresh: the answer is
// kept only while /etc/passwd and /etc/group are unchanged, so a group
// taken from a user is gone from its next job.
func (cl *callers) groupsOf(uid, gid uint32) []uint32 {
	return cl.groups.Groups(uid, gid)
}

// doRun answers RUN: the caller's identity and ceilings, the request
// validated (parseRun), then the supervisor starts the job (or queues
// it: the reply comes when it starts or fails).
func (srv *Server) doRun(c *conn, r *proto.Request) []byte {
	if srv.sup.Quitting() {
		return refusalResp(supervisor.Refuse("shutting down"), "").Bytes()
	}
	setCred, groups, rf := srv.cl.credFor(c)
	if rf != nil {
		return refusalResp(rf, "").Bytes()
	}
	spec, rf := runreq.Parse(r, runreq.Env{
		Env: srv.cfg.Env, Cwd: srv.cfg.Cwd, NewID: srv.sup.NewID, Taken: srv.sup.Taken,
		AsCaller: func(fn func()) error { return srv.cl.asCaller(c, fn) },
		Capped:   !srv.cl.privileged(c), Ceiling: srv.cl.priorityCeiling(c),
		Rlimits: srv.cfg.JobRlimits, UlimitMax: srv.cfg.MaxUserUlimits,
	})
	if rf != nil {
		return refusalResp(rf, "").Bytes()
	}
	if rf := srv.cl.checkUserJobs(c); rf != nil {
		return refusalResp(rf, spec.ID).Bytes()
	}
	if rf := srv.cl.checkRunSize(c, r); rf != nil {
		return refusalResp(rf, spec.ID).Bytes()
	}
	st := &supervisor.Start{
		Spec: job.Spec{
			ID: spec.ID, UID: c.cred.Uid, GID: c.cred.Gid, Cgroup: srv.sup.Root().Child(spec.ID), Priority: spec.Priority,
			Argv: spec.Argv, Settings: spec.Settings, ServiceCount: len(spec.Services), RequireCount: len(spec.RequirePaths),
			IOMaxCount: spec.IOMaxCount, Opts: spec.Opts,
		},
		Env: spec.Env, Cwd: spec.Cwd, Services: spec.Services, QueueTimeout: spec.QueueTimeout,
		SetCred: setCred, Groups: groups, Rlimits: spec.Rlimits,
		// The executable is looked up with the caller's rights too.
		Lookup: func() (path string, err error) {
			if cerr := srv.cl.asCaller(c, func() { path, err = spawn.LookPath(spec.Argv[0], spec.Env, spec.Cwd) }); cerr != nil {
				err = cerr
			}
			return path, err
		},
	}
	if r.Verb == "PIPE" {
		st.Stdio = c.takeFDs() // pipe.go; closed once the spawn is done
	}
	j, rf := srv.sup.Run(st)
	if rf != nil {
		closeFDs(st.Stdio)
		return refusalResp(rf, spec.ID).Bytes()
	}
	// Answered when the supervisor tells it started or was refused
	// (runDone).
	srv.st.runs[j] = runReq{c: c, stdio: st.Stdio}
	if j.IsPending() {
		c.pendJob = j // a client that goes away cancels it
	}
	return nil
}

// runReq is a RUN the supervisor took: its connection and the fds it
// lent the job (RUN --pipe), until the job started or was refused.
type runReq struct {
	c     *conn
	stdio []int
}

// runDone answers the RUN of j, which started (rf nil) or was refused.
func (st *streams) runDone(j *supervisor.Job, rf *supervisor.Refusal) {
	req, ok := st.runs[j]
	if !ok {
		return
	}
	delete(st.runs, j)
	c := req.c
	closeFDs(req.stdio)
	if c.pendJob == j {
		c.pendJob = nil
	}
	if rf != nil {
		st.srv.reply(c, refusalResp(rf, j.ID()).Bytes())
		return
	}
	st.replyRun(c, j) // wait: 1 keeps c for the end block
}

// maxReason bounds a RUN refusal's reason and values.
const maxReason = 2 * proto.MaxEcho

// refusalResp is rf as an err response, with id (when not "") first
// among its keys. Bounded: a reason or value quoting a huge request value
// (a limit's, argv[0] in a spawn detail) is cut; proto.Cut has bounded
// the rest where they are made.
func refusalResp(rf *supervisor.Refusal, id string) *proto.Response {
	resp := proto.Err(proto.CutAt(rf.Reason, maxReason))
	if id != "" {
		resp.Add("id", id)
	}
	for i := 0; i+1 < len(rf.KV); i += 2 {
		resp.Add(rf.KV[i], proto.CutAt(rf.KV[i+1], maxReason))
	}
	return resp
}
