package supervisor

import (
	"cgroupd/applets/daemon/hub"
	"strconv"
)

// EVENTS (extension): request keys follow (1: keep the connection and
// send every new event), id (only events of that job: their id, or the
// target of a pressure event), type (a comma-separated list of types). The
// reply is "STATUS: ok\nhistory: N\n\n" followed by the N most recent
// events the daemon still holds (at most hub.RingSize), then, with
// follow, each new event as it happens, until the client closes. A
// non-root caller gets the events of its own jobs only.
//
// Nothing waits on a subscriber: a line that would grow a subscriber's
// unsent backlog past hub.SubscriberMax is dropped for that subscriber
// alone and counted; once it has read everything from before the gap it
// gets `EVENT … type=events.dropped count=N log_lines=0`, then the events
// that follow. Its drops add to STATS events_dropped, as the stderr
// sink's do.

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
