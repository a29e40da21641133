package supervisor

import "cgroupd/applets/daemon/logstore"

// A job's log in the log store (applets/daemon/logstore): the store owns
// the directory, the trims and the retained logs; the supervisor watches
// a log while its job runs (when logs are capped) or while LOGS followers
// read it, and tells the store what happened to the job.

// logStarted registers the log of a job that starts: it is no longer a
// removed job's log, and it is watched for growth when a cap is set.
func (sv *core) logStarted(j *Job) error {
	sv.logs.Started(j.Log())
	if !sv.logs.Capped() {
		return nil
	}
	return sv.watchLog(j)
}

// watchLog watches j's log, paced: checked at most twice per
// logstore.CheckPeriod while it grows, however often the job writes.
func (sv *core) watchLog(j *Job) error {
	if err := sv.w.watchFile(j, j.Log(), watchLog, &j.wdLog); err != nil {
		return err
	}
	return sv.w.watcher.Pace(j.wdLog, j.Log(), logstore.CheckPeriod)
}

// logEnded: the job's processes are gone; a last check, and the watch is
// dropped unless LOGS --follow readers still use it.
func (sv *core) logEnded(j *Job) {
	if j.Log() == "" {
		return
	}
	sv.logs.Grew(j.Log())
	if j.logFollowers == 0 {
		sv.w.unwatch(j, &j.wdLog)
	}
}

// logForgotten keeps the log of a removed job, within --log-retain.
func (sv *core) logForgotten(j *Job) {
	if j.Log() == "" {
		return
	}
	sv.w.unwatch(j, &j.wdLog)
	sv.logs.Forgotten(j.Log(), j.Spec().UID)
}

// FollowLog registers a LOGS --follow stream of j: j's log is watched
// (LogGrew) until the last one ends. Watched before the first read: a
// write after it always notifies.
func (sv *Supervisor) FollowLog(j *Job) error {
	defer sv.c.oc.enter("FollowLog")()
	if j.wdLog < 0 {
		if err := sv.c.watchLog(j); err != nil {
			return err
		}
	}
	j.logFollowers++
	return nil
}

// UnfollowLog ends a FollowLog. The trimmer keeps the watch while the
// job runs.
func (sv *Supervisor) UnfollowLog(j *Job) {
	defer sv.c.oc.enter("UnfollowLog")()
	if j.logFollowers--; j.logFollowers <= 0 {
		j.logFollowers = 0
		if j.IsEnded() || !sv.c.logs.Capped() {
			sv.c.w.unwatch(j, &j.wdLog)
		}
	}
}
