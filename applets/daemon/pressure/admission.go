package pressure

import (
	"slices"
	"time"
)

// Pending is a RUN waiting for admission.
type Pending struct {
	ID       string
	Priority int
	Seq      uint64    // arrival order; Push assigns it when 0
	Deadline time.Time // when the RUN fails with the admission reason; zero: never
}

// Queue holds pending RUNs, higher priority first (lower priority is
// evicted first, so it also starts last), then first come first served.
// The zero Queue is empty and ready to use.
type Queue struct {
	items []Pending
	seq   uint64
}

// before orders the queue.
func before(a, b Pending) int {
	switch {
	case a.Priority != b.Priority:
		if a.Priority > b.Priority {
			return -1
		}
		return 1
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// Push adds p, assigning the next sequence number when p.Seq is 0, and
// returns it as queued.
func (q *Queue) Push(p Pending) Pending {
	if p.Seq == 0 {
		q.seq++
		p.Seq = q.seq
	} else if p.Seq > q.seq {
		q.seq = p.Seq
	}
	i, _ := slices.BinarySearchFunc(q.items, p, before)
	q.items = slices.Insert(q.items, i, p)
	return p
}

// Len is the number of pending RUNs.
func (q *Queue) Len() int { return len(q.items) }

// Items returns the pending RUNs in the order they would start.
func (q *Queue) Items() []Pending { return slices.Clone(q.items) }

// Get returns the pending RUN with id.
func (q *Queue) Get(id string) (Pending, bool) {
	if i := q.index(id); i >= 0 {
		return q.items[i], true
	}
	return Pending{}, false
}

// Remove takes the pending RUN with id out of the queue (KILL, REMOVE).
func (q *Queue) Remove(id string) (Pending, bool) {
	i := q.index(id)
	if i < 0 {
		return Pending{}, false
	}
	p := q.items[i]
	q.items = slices.Delete(q.items, i, i+1)
	return p, true
}

func (q *Queue) index(id string) int {
	return slices.IndexFunc(q.items, func(p Pending) bool { return p.ID == id })
}

// Admit takes out of the queue the RUNs to start now, in order, and those
// whose deadline has passed. When admission is not blocked, up to limit
// RUNs start (limit <= 0: all), deadline or not; of the rest, those with a
// deadline at or before now expire. Both slices are in queue order.
func (q *Queue) Admit(now time.Time, blocked bool, limit int) (start, expired []Pending) {
	n := 0
	if !blocked {
		n = len(q.items)
		if limit > 0 {
			n = min(n, limit)
		}
		start = slices.Clone(q.items[:n])
	}
	kept := q.items[:0]
	for _, p := range q.items[n:] {
		if !p.Deadline.IsZero() && !p.Deadline.After(now) {
			expired = append(expired, p)
			continue
		}
		kept = append(kept, p)
	}
	clear(q.items[len(kept):])
	q.items = kept
	return start, expired
}

// NextDeadline returns the earliest deadline in the queue, for the loop's
// timer.
func (q *Queue) NextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, p := range q.items {
		if !p.Deadline.IsZero() && (!found || p.Deadline.Before(next)) {
			next, found = p.Deadline, true
		}
	}
	return next, found
}
