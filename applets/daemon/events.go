package daemon

import (
	"strconv"
	"strings"
	"time"

	"cgroupd/core/event"
	"cgroupd/core/proto"
)

// EVENTS (extension): request keys follow (1: keep the connection and
// send every new event), id (only events of that job: their id, or the
// target of a pressure event), type (a comma-separated list of types). The
// reply is "STATUS: ok\nhistory: N\n\n" followed by the N most recent
// events the daemon still holds (at most eventRingSize), then, with
// follow, each new event as it happens, until the client closes. A
// non-root caller gets the events of its own jobs only.
//
// Nothing waits on a subscriber: a line that would grow a subscriber's
// unsent backlog past subscriberMax is dropped for that subscriber alone
// and counted; once it has read everything from before the gap it gets
// `EVENT … type=events.dropped count=N log_lines=0`, then the events that
// follow. Its drops add to STATS events_dropped, as the stderr sink's do.

const (
	eventRingSize = 4096      // events kept for EVENTS' history
	subscriberMax = 256 << 10 // unsent bytes a subscriber may fall behind by
)

// evEntry is one event as the ring keeps it.
type evEntry struct {
	line  []byte
	typ   string
	id    string // the job it is about ("" for none)
	owner int64  // the job's uid when emitted; -1: root only
}

// subscription is an EVENTS --follow stream.
type subscription struct {
	id      string
	types   map[string]bool // nil: all
	dropped uint64          // lines dropped since the last mark
}

// eventHub is the ring of recent events and the followers.
type eventHub struct {
	ring    []evEntry
	next    int // where the next entry goes once the ring is full
	subs    map[*conn]*subscription
	dropped uint64 // lines dropped for subscribers, in all
}

// emit formats one event and hands it to the stderr sink (which never
// blocks), the ring and the subscribers.
func (d *daemon) emit(typ string, kv ...string) {
	line := d.ev.Line(typ, kv...)
	if d.ev.W != nil {
		d.ev.W.Write(line)
	}
	d.metrics.event(typ, kv) // metrics.go: counters from the event stream
	e := evEntry{line: line, typ: typ, owner: -1}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "id" || (kv[i] == "target" && typ == "pressure") {
			e.id = kv[i+1]
			break
		}
	}
	if j := d.jobs[e.id]; j != nil {
		e.owner = int64(j.Spec().UID)
	}
	h := &d.events
	if len(h.ring) < eventRingSize {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.next] = e
		h.next = (h.next + 1) % eventRingSize
	}
	for c, s := range h.subs {
		if s.wants(e, c) {
			d.sendEvent(c, s, line)
		}
	}
}

func (s *subscription) wants(e evEntry, c *conn) bool {
	return (c.cred.Uid == 0 || int64(c.cred.Uid) == e.owner) &&
		(s.id == "" || s.id == e.id) && (s.types == nil || s.types[e.typ])
}

// sendEvent queues line for a follower, or drops and counts it when the
// follower is too far behind.
func (d *daemon) sendEvent(c *conn, s *subscription, line []byte) {
	if len(c.wbuf)-c.wpos+len(line) > subscriberMax {
		s.dropped++
		d.events.dropped++
		return
	}
	d.send(c, line)
}

// markGap queues the events.dropped line of a follower that had lines
// dropped, once everything before its gap has been sent; it reports
// whether it queued one.
func (d *daemon) markGap(c *conn) bool {
	s := d.events.subs[c]
	if s == nil || s.dropped == 0 {
		return false
	}
	c.wbuf = append(c.wbuf, event.Format(time.Now().UnixMilli(), "events.dropped",
		"count", strconv.FormatUint(s.dropped, 10), "log_lines", "0")...)
	s.dropped = 0
	return true
}

func (d *daemon) doEvents(c *conn, r *proto.Request) []byte {
	s := &subscription{}
	s.id, _ = r.Get("id")
	if t, ok := r.Get("type"); ok && t != "" {
		s.types = map[string]bool{}
		for _, x := range strings.Split(t, ",") {
			s.types[x] = true
		}
	}
	var hist []byte
	n := 0
	h := &d.events
	for i := range h.ring {
		e := h.ring[(h.next+i)%len(h.ring)]
		if s.wants(e, c) {
			hist = append(hist, e.line...)
			n++
		}
	}
	head := proto.OK().Add("history", strconv.Itoa(n)).Bytes()
	if v, _ := r.Get("follow"); v == "" || v == "0" {
		return append(head, hist...)
	}
	if h.subs == nil {
		h.subs = map[*conn]*subscription{}
	}
	h.subs[c] = s
	c.events = true
	d.send(c, append(head, hist...))
	return nil
}
