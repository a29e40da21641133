package server

import (
	"fmt"

	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/fsid"
	"cgroupd/core/proto"
)

// Multi-user safety (README "Threat model"). Identity comes from the
// socket (SO_PEERCRED). Root, and the daemon's own user when it does not
// run as root, are privileged: they see every job and no ceiling applies.
// Any other caller:
//
//   - sees and acts on its own jobs only; a try on another user's job
//     answers `no such job` and is logged (lookup);
//   - has every check the daemon makes on its behalf (cwd, require_path,
//     the executable's PATH lookup) done with its own rights (asCaller),
//     so a check tells it nothing `ls` would not;
//   - may request a priority up to --max-user-priority (30: its jobs stay
//     pressure candidates); above it RUN is refused, naming priority; a
//     RUN without priority gets 50 capped at that ceiling;
//   - may hold at most --max-user-jobs live and pending jobs, and keeps
//     at most --max-user-ended ended ones (supervisor/retain.go);
//   - may send at most --max-user-run-bytes of argv and env in a RUN
//     (its record holds the argv until REMOVE).

// privileged: root, or the user a non-root daemon runs as.
func (cl *callers) privileged(c *conn) bool {
	return c.cred.Uid == 0 || int(c.cred.Uid) == cl.srv.cfg.EUID
}

// asCaller runs fn with the caller's filesystem rights: its uid, gid and
// supplementary groups (the ones its job gets) on a locked thread
// (core/fsid). Root callers, and every caller of a non-root daemon (which
// only serves its own user), run fn as they are. The error is only for a
// failure to take the identity; fn has not run then.
func (cl *callers) asCaller(c *conn, fn func()) error {
	if cl.srv.cfg.EUID != 0 || c.cred.Uid == 0 {
		fn()
		return nil
	}
	if err := fsid.Do(c.cred.Uid, c.cred.Gid, cl.groupsOf(c.cred.Uid, c.cred.Gid), fn); err != nil {
		return fmt.Errorf("checks as uid %d: %w", c.cred.Uid, err)
	}
	return nil
}

// priorityCeiling is the highest priority c may request.
func (cl *callers) priorityCeiling(c *conn) int {
	if cl.privileged(c) {
		return 100
	}
	return cl.srv.cfg.MaxUserPriority
}

// checkUserJobs refuses a RUN of a non-privileged caller that already has
// --max-user-jobs live or pending jobs.
func (cl *callers) checkUserJobs(c *conn) *supervisor.Refusal {
	if cl.privileged(c) {
		return nil
	}
	if n := cl.srv.sup.UserCount(c.cred.Uid); n >= cl.srv.cfg.MaxUserJobs {
		return supervisor.Refuse("too many jobs", "detail",
			fmt.Sprintf("uid %d has %d live or pending jobs, the most a non-root caller may have (--max-user-jobs %d)", c.cred.Uid, n, cl.srv.cfg.MaxUserJobs))
	}
	if why := cl.srv.bud.Reserved(c.cred.Uid, c.fd); why != "" {
		return supervisor.Refuse("too many jobs", "detail", why)
	}
	return nil
}

// checkRunSize refuses a RUN of a non-privileged caller whose argv and env
// values are larger than --max-user-run-bytes: its record (on /run, a
// tmpfs) keeps the argv until the job is removed.
func (cl *callers) checkRunSize(c *conn, r *proto.Request) *supervisor.Refusal {
	max := cl.srv.cfg.MaxUserRunBytes
	if max <= 0 || cl.privileged(c) {
		return nil
	}
	var n int64
	for _, key := range []string{"arg", "env"} {
		for _, v := range r.All(key) {
			n += int64(len(v))
		}
	}
	if n > max {
		return supervisor.Refuse("command too large", "detail",
			fmt.Sprintf("argv and env of %d bytes, more than the %d a non-root caller may send (--max-user-run-bytes)", n, max))
	}
	return nil
}
