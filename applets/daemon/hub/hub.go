// Package hub is the daemon's event hub: every event goes through
// Publish, which formats its line (core/event), writes it to the daemon's
// stderr sink, keeps it in a ring of recent events (EVENTS' history),
// hands it typed to the in-process observers (metrics) and queues it for
// the EVENTS followers, dropping and counting what a follower that fell
// behind cannot take.
//
// Publish is a leaf: a follower's Sink only queues the line, it never
// writes to a socket or closes a connection from inside Publish, so
// publishing one event never publishes another.
package hub

import (
	"io"
	"slices"
	"strconv"
	"time"

	"cgroupd/core/event"
)

const (
	// RingSize is how many events EVENTS' history holds.
	RingSize = 4096
	// SubscriberMax is how many unsent bytes a follower may fall behind by.
	SubscriberMax = 256 << 10
)

// Event is one event: its type, what it is about, the typed facts that
// observers count, and its line's keys after the type.
type Event struct {
	Type     string
	Job      string // the job it is about: its id, or a pressure event's target
	Owner    int64  // the job's uid when published; -1: root only
	Reason   string // job.freeze, job.thaw, job.kill, job.throttle: why
	State    string // job.exit: the end state
	Action   string // pressure: the action (kill, freeze, demote, admission_reject)
	Resource string // pressure: the resource
	KV       []string
}

// Sink is where a follower's lines go: Queue only queues (the server
// writes it out after the loop's batch), Backlog is what it has not sent.
type Sink interface {
	Queue(line []byte)
	Backlog() int
}

// Filter selects events: of one job (ID, "" for all), of some types (nil
// for all), visible to UID (Root sees everything).
type Filter struct {
	ID    string
	Types map[string]bool
	UID   uint32
	Root  bool
}

func (f *Filter) wants(e *entry) bool {
	return (f.Root || int64(f.UID) == e.owner) && (f.ID == "" || f.ID == e.job) && (f.Types == nil || f.Types[e.typ])
}

// Sub is one EVENTS follower.
type Sub struct {
	Filter
	sink    Sink
	dropped uint64 // lines dropped since the last gap mark
}

type entry struct {
	line  []byte
	typ   string
	job   string
	owner int64
}

// Hub holds the ring, the followers and the observers. Only the loop
// touches it.
type Hub struct {
	ev        *event.Emitter
	ring      []entry
	next      int // where the next entry goes once the ring is full
	subs      map[*Sub]struct{}
	observers []func(*Event)
	dropped   uint64  // lines dropped for followers, in all (and an upgraded image's total)
	out       dropper // the writer, when it counts the lines it drops (nil: it drops none)
}

// dropper is a writer that drops lines rather than block, and counts them
// (event.Sink's Events).
type dropper interface{ Dropped() uint64 }

// New is a hub writing each line to w (nil: nowhere) at clock now (nil:
// time.Now).
func New(w io.Writer, now func() time.Time) *Hub {
	h := &Hub{ev: &event.Emitter{W: w, Now: now}, subs: map[*Sub]struct{}{}}
	h.out, _ = w.(dropper)
	return h
}

// Observe adds fn, called with every event published from now on.
func (h *Hub) Observe(fn func(*Event)) { h.observers = append(h.observers, fn) }

// Publish formats e (its KV in schema order), writes it to stderr, keeps
// it in the ring and queues it for the followers that want it.
func (h *Hub) Publish(e *Event) {
	line := h.ev.Line(e.Type, e.KV...)
	if h.ev.W != nil {
		h.ev.W.Write(line)
	}
	for _, fn := range h.observers {
		fn(e)
	}
	en := entry{line: line, typ: e.Type, job: e.Job, owner: e.Owner}
	if len(h.ring) < RingSize {
		h.ring = append(h.ring, en)
	} else {
		h.ring[h.next] = en
		h.next = (h.next + 1) % RingSize
	}
	for s := range h.subs {
		if !s.wants(&en) {
			continue
		}
		if s.sink.Backlog()+len(line) > SubscriberMax {
			s.dropped++
			h.dropped++
			continue
		}
		s.sink.Queue(line)
	}
}

// History is the ring's events f wants, oldest first, and their count.
func (h *Hub) History(f Filter) ([]byte, int) {
	return h.AppendHistory(nil, f)
}

// AppendHistory is History appended to dst, grown once: a follower's
// history goes straight into its write buffer, not through copies.
func (h *Hub) AppendHistory(dst []byte, f Filter) ([]byte, int) {
	size, n := 0, 0
	for i := range h.ring {
		if e := &h.ring[i]; f.wants(e) {
			size += len(e.line)
			n++
		}
	}
	dst = slices.Grow(dst, size)
	for i := range h.ring {
		if e := &h.ring[(h.next+i)%len(h.ring)]; f.wants(e) {
			dst = append(dst, e.line...)
		}
	}
	return dst, n
}

// Count is how many of the ring's events f wants.
func (h *Hub) Count(f Filter) int {
	n := 0
	for i := range h.ring {
		if f.wants(&h.ring[i]) {
			n++
		}
	}
	return n
}

// Latest is the newest n events f wants, oldest first.
func (h *Hub) Latest(f Filter, n int) [][]byte {
	var out [][]byte
	for i := len(h.ring) - 1; i >= 0 && len(out) < n; i-- {
		e := &h.ring[(h.next+i)%len(h.ring)]
		if f.wants(e) {
			out = append(out, e.line)
		}
	}
	for a, b := 0, len(out)-1; a < b; a, b = a+1, b-1 {
		out[a], out[b] = out[b], out[a]
	}
	return out
}

// Kept is one event of the ring as an upgrade hands it over.
type Kept struct {
	Owner     int64
	Type, Job string
	Line      []byte
}

// Ring is the ring's events, oldest first (an upgrade's hand-over).
func (h *Hub) Ring() []Kept {
	out := make([]Kept, 0, len(h.ring))
	for i := range h.ring {
		e := &h.ring[(h.next+i)%len(h.ring)]
		out = append(out, Kept{Owner: e.owner, Type: e.typ, Job: e.job, Line: e.line})
	}
	return out
}

// Restore puts an upgrading image's ring and drop count back, before
// anything is published: EVENTS' history and events_dropped go on.
func (h *Hub) Restore(ring []Kept, dropped uint64) {
	h.dropped += dropped
	all := make([]entry, 0, len(ring)+len(h.ring))
	for _, k := range ring {
		all = append(all, entry{line: k.Line, typ: k.Type, job: k.Job, owner: k.Owner})
	}
	for i := range h.ring { // published already: after the old image's
		all = append(all, h.ring[(h.next+i)%len(h.ring)])
	}
	if len(all) > RingSize {
		all = all[len(all)-RingSize:]
	}
	h.ring, h.next = all, 0
}

// Subscribe makes sink a follower of the events f wants.
func (h *Hub) Subscribe(f Filter, sink Sink) *Sub {
	s := &Sub{Filter: f, sink: sink}
	h.subs[s] = struct{}{}
	return s
}

// Unsubscribe ends a follower.
func (h *Hub) Unsubscribe(s *Sub) { delete(h.subs, s) }

// Dropped counts the event lines dropped for a consumer that fell behind:
// EVENTS followers and the writer (stderr's sink), since the first
// image's start (STATS events_dropped, cgroupd_events_dropped_total).
func (h *Hub) Dropped() uint64 {
	n := h.dropped
	if h.out != nil {
		n += h.out.Dropped()
	}
	return n
}

// Gap is the events.dropped line a follower that had lines dropped gets
// once it has sent everything from before its gap (nil: none), at now.
func (s *Sub) Gap(now time.Time) []byte {
	if s.dropped == 0 {
		return nil
	}
	line := event.Format(now.UnixMilli(), "events.dropped", "count", strconv.FormatUint(s.dropped, 10), "log_lines", "0")
	s.dropped = 0
	return []byte(line)
}
