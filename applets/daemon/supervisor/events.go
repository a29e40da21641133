package supervisor

import (
	"cgroupd/applets/daemon/hub"
	"strconv"
)

// emit publishes one event that is not a job.* event (pressure, state.*,
// cgroup.*, daemon.*); e.Job names the job it is about, if any, whose
// owner may then see it.
func (sv *core) emit(e *hub.Event, kv ...string) {
	e.KV, e.Owner = kv, -1
	if j := sv.jobs[e.Job]; j != nil && e.Job != "" {
		e.Owner = int64(j.Spec().UID)
	}
	sv.events.Publish(e)
}

// emitJob publishes a job.* event of j: the spec keys kv, then uid, the
// job's owner (appended: EVENTS.md allows new keys at the end only).
func (sv *core) emitJob(e *hub.Event, j *Job, kv ...string) {
	uid := j.Spec().UID
	e.Job, e.Owner = j.ID(), int64(uid)
	e.KV = append(kv, "uid", strconv.FormatUint(uint64(uid), 10))
	sv.events.Publish(e)
}
