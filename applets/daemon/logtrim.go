package daemon

// A job's log in the log store (applets/daemon/logstore): the store owns
// the directory, the trims and the retained logs; the supervisor watches
// a log while its job runs (when logs are capped) or while LOGS followers
// read it, and tells the store what happened to the job.

// logStarted registers the log of a job that starts: it is no longer a
// removed job's log, and it is watched for growth when a cap is set.
func (d *daemon) logStarted(j *entry) error {
	d.logs.Started(j.Log())
	if !d.logs.Capped() {
		return nil
	}
	return d.watchFile(j, j.Log(), watchLog, &j.wdLog)
}

// logEnded: the job's processes are gone; a last check, and the watch is
// dropped unless LOGS --follow readers still use it.
func (d *daemon) logEnded(j *entry) {
	if j.Log() == "" {
		return
	}
	d.logs.Grew(j.Log())
	if len(j.followers) == 0 {
		d.unwatch(j, &j.wdLog)
	}
}

// logForgotten keeps the log of a removed job, within --log-retain.
func (d *daemon) logForgotten(j *entry) {
	if j.Log() == "" {
		return
	}
	d.unwatch(j, &j.wdLog)
	d.logs.Forgotten(j.Log())
}
