package daemon

import (
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/core/proto"
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
func (d *daemon) emit(e *hub.Event, kv ...string) {
	e.KV, e.Owner = kv, -1
	if j := d.jobs[e.Job]; j != nil && e.Job != "" {
		e.Owner = int64(j.Spec().UID)
	}
	d.events.Publish(e)
}

// emitJob publishes a job.* event of j: the spec keys kv, then uid, the
// job's owner (appended: EVENTS.md allows new keys at the end only).
func (d *daemon) emitJob(e *hub.Event, j *entry, kv ...string) {
	uid := j.Spec().UID
	e.Job, e.Owner = j.ID(), int64(uid)
	e.KV = append(kv, "uid", strconv.FormatUint(uint64(uid), 10))
	d.events.Publish(e)
}

func (d *daemon) doEvents(c *conn, r *proto.Request) []byte {
	f := hub.Filter{UID: c.cred.Uid, Root: c.cred.Uid == 0}
	f.ID, _ = r.Get("id")
	if t, ok := r.Get("type"); ok && t != "" {
		f.Types = map[string]bool{}
		for _, x := range strings.Split(t, ",") {
			f.Types[x] = true
		}
	}
	hist, n := d.events.History(f)
	head := proto.OK().Add("history", strconv.Itoa(n)).Bytes()
	if v, _ := r.Get("follow"); v == "" || v == "0" {
		return append(head, hist...)
	}
	c.sub = d.events.Subscribe(f, c)
	d.send(c, append(head, hist...))
	return nil
}

// Queue is the hub's way to a follower (hub.Sink): the line is queued
// and written out after the loop's batch (flushQueued), never from inside
// the publishing.
func (c *conn) Queue(line []byte) {
	c.wbuf = append(c.wbuf, line...)
	if !c.queued {
		c.queued = true
		c.srv.dirty = append(c.srv.dirty, c)
	}
}

// Backlog is what the follower has not sent yet (hub.Sink).
func (c *conn) Backlog() int { return len(c.wbuf) - c.wpos }

// flushQueued writes out what the hub queued during a batch of the loop.
func (d *daemon) flushQueued() {
	for len(d.dirty) > 0 {
		q := d.dirty
		d.dirty = nil
		for _, c := range q {
			c.queued = false
			if !c.closed {
				d.flush(c)
			}
		}
	}
}

// markGap queues the events.dropped line of a follower that had lines
// dropped, once everything before its gap has been sent; it reports
// whether it queued one.
func (d *daemon) markGap(c *conn) bool {
	g := c.sub.Gap(time.Now())
	if g == nil {
		return false
	}
	c.wbuf = append(c.wbuf, g...)
	return true
}
