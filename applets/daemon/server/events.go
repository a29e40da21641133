package server

import (
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/core/event"
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
// sink's do (the hub's Dropped).
func (st *streams) doEvents(c *conn, r *proto.Request) []byte {
	f := hub.Filter{UID: c.cred.Uid, Root: c.cred.Uid == 0}
	f.ID, _ = r.Get("id")
	if t, ok := r.Get("type"); ok && t != "" {
		f.Types = map[string]bool{}
		for _, x := range strings.Split(t, ",") {
			if !event.IsType(x) {
				// New types may appear: a filter naming one this daemon
				// does not emit would wait silently forever.
				return proto.Err("type: unknown event type").Add("type", proto.Cut(x)).Bytes()
			}
			f.Types[x] = true
		}
	}
	// The history goes straight into the write buffer: up to 4096 lines,
	// a MiB, that a copy or two per EVENTS would make garbage of.
	c.wbuf = append(c.wbuf, proto.OK().Add("history", strconv.Itoa(st.srv.events.Count(f))).Bytes()...)
	c.wbuf, _ = st.srv.events.AppendHistory(c.wbuf, f)
	if v, _ := r.Get("follow"); v == "" || v == "0" {
		st.srv.reply(c, nil)
		return nil
	}
	c.sub = st.srv.events.Subscribe(f, c)
	st.srv.flush(c)
	return nil
}

// Queue is the hub's way to a follower (hub.Sink): the line is queued
// and written out after the loop's batch (FlushQueued), never from inside
// the publishing.
func (c *conn) Queue(line []byte) {
	c.wbuf = append(c.wbuf, line...)
	c.account()
	if !c.queued {
		c.queued = true
		c.srv.dirty = append(c.srv.dirty, c)
	}
}

// Backlog is what the follower has not sent yet (hub.Sink).
func (c *conn) Backlog() int { return len(c.wbuf) - c.wpos }

// FlushQueued writes out what the hub queued during a batch of the loop.
func (srv *Server) FlushQueued() {
	for {
		for len(srv.dirty) > 0 {
			q := srv.dirty
			srv.dirty = nil
			for _, c := range q {
				c.queued = false
				if !c.closed {
					srv.flush(c)
				}
			}
		}
		if !srv.bud.Over() {
			return
		}
		trimConns(srv) // the batch's replies and lines are over --conn-memory: its drops' events are queued
	}
}

// markGap queues the events.dropped line of a follower that had lines
// dropped, once everything before its gap has been sent; it reports
// whether it queued one.
func (st *streams) markGap(c *conn) bool {
	g := c.sub.Gap(time.Now())
	if g == nil {
		return false
	}
	c.wbuf = append(c.wbuf, g...)
	return true
}
