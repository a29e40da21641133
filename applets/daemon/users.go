package daemon

import (
	"fmt"

	"cgroupd/applets/daemon/job"
	"cgroupd/core/fsid"
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
//   - may hold at most --max-user-jobs live and pending jobs.

// privileged: root, or the user a non-root daemon runs as.
func (d *daemon) privileged(c *conn) bool {
	return c.cred.Uid == 0 || int(c.cred.Uid) == d.euid
}

// asCaller runs fn with the caller's filesystem rights: its uid, gid and
// supplementary groups (the ones its job gets) on a locked thread
// (core/fsid). Root callers, and every caller of a non-root daemon (which
// only serves its own user), run fn as they are. The error is only for a
// failure to take the identity; fn has not run then.
func (d *daemon) asCaller(c *conn, fn func()) error {
	if d.euid != 0 || c.cred.Uid == 0 {
		fn()
		return nil
	}
	if err := fsid.Do(c.cred.Uid, c.cred.Gid, d.groupsOf(c.cred.Uid, c.cred.Gid), fn); err != nil {
		return fmt.Errorf("checks as uid %d: %w", c.cred.Uid, err)
	}
	return nil
}

// priorityCeiling is the highest priority c may request.
func (d *daemon) priorityCeiling(c *conn) int {
	if d.privileged(c) {
		return 100
	}
	return d.cfg.MaxUserPriority
}

// checkUserJobs refuses a RUN of a non-privileged caller that already has
// --max-user-jobs live or pending jobs.
func (d *daemon) checkUserJobs(c *conn) *refusal {
	if d.privileged(c) {
		return nil
	}
	if n := d.userCount(c.cred.Uid); n >= d.cfg.MaxUserJobs {
		return refuse("too many jobs", "detail",
			fmt.Sprintf("uid %d has %d live or pending jobs, the most a non-root caller may have (--max-user-jobs %d)", c.cred.Uid, n, d.cfg.MaxUserJobs))
	}
	return nil
}

// userCount is uid's live and pending jobs, and its new jobs the spawner
// is starting (they have no state until they run).
func (d *daemon) userCount(uid uint32) int {
	n := d.userJobs[uid]
	for _, j := range d.starting {
		if j.Spec().UID == uid && !isLive(j.State()) {
			n++
		}
	}
	return n
}

// isLive: the states a job counts against its owner's --max-user-jobs in.
func isLive(state string) bool {
	return state == job.StatePending || state == job.StateRunning || state == job.StateFrozen
}

// countUser keeps userJobs right as j goes from state old to new.
func (d *daemon) countUser(j *entry, old, new string) {
	switch {
	case isLive(old) == isLive(new):
	case isLive(new):
		if d.userJobs == nil {
			d.userJobs = map[uint32]int{}
		}
		d.userJobs[j.Spec().UID]++
	default:
		if d.userJobs[j.Spec().UID]--; d.userJobs[j.Spec().UID] <= 0 {
			delete(d.userJobs, j.Spec().UID)
		}
	}
}
