// Package jobid hands out the automatic job ids, job-<n>, so that one
// never names two jobs of a root: not after a REMOVE, a crash, an upgrade
// or a reboot that kept the logs.
//
// The counter starts above every id the daemon can see at start: the
// records it replays, the log files in -L (job-7.log, job-7.log.1), the
// hand-over of an upgrading image (its counter) and the reservation kept
// in the state directory. The reservation is what outlives a REMOVE that
// deleted the last trace of an id: ids are reserved in blocks of Block,
// and the end of the block is written (by the journal's writer, before
// the record of the job that took the id) whenever an id is taken past
// it. A daemon started after a crash goes on from there: at most Block-1
// ids are skipped, none repeats.
//
// A client's --id is a name of its own choosing, and the automatic form is
// no exception, but it must not steer the counter: an id job-<n> with n
// at or above the next automatic number is refused (Allowed), except the
// very id the counter would hand out next, so no client can push
// everyone's ids up (job-999999999 moving the next to ten digits) nor out
// of range. Numbers have at most MaxDigits digits: a longer job-<n> is an
// ordinary name (an older daemon accepted them), which the counter never
// reaches (10^15 RUNs at a thousand a second take thirty thousand years).
package jobid

import (
	"strconv"
	"strings"
)

// Block is how many ids one write of the reservation covers.
const Block = 64

const prefix = "job-"

// MaxDigits bounds n of an automatic id job-<n>.
//
// 15 where int is 64 bits, 9 where it is 32 (arm, 386): n always fits.
const MaxDigits = 9 + 6*int(^uint(0)>>63)

// Counter is the loop's id counter. persist (nil: nothing kept) stores a
// new reservation: ids below it may have been handed out.
type Counter struct {
	next    int // the lowest n not handed out
	reserve int // ids below it are reserved on disk
	persist func(reserve int)
}

// New is a counter from 1 that keeps its reservation through persist.
func New(persist func(int)) *Counter { return &Counter{next: 1, persist: persist} }

// Number is n of an automatic id job-<n> (ok false for any other id,
// and for n of more than MaxDigits digits).
func Number(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, prefix)
	if !ok || s == "" || s[0] == '0' || len(s) > MaxDigits {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// Seen counts id as used (an id found at start): the counter goes on
// above it. Nothing is written.
func (c *Counter) Seen(id string) {
	if n, ok := Number(id); ok {
		c.Above(n)
	}
}

// Above makes n the highest number used so far, if it is higher: a
// reservation read back, or an upgrading image's counter (n = its next-1).
func (c *Counter) Above(n int) {
	if n >= c.next {
		c.next = n + 1
	}
	if n >= c.reserve {
		c.reserve = n + 1 // written by the daemon that used it
	}
}

// Peek is the next free automatic id, not taken: the smallest job-<n>
// from the counter on that taken does not name. A refused RUN uses up no
// id: Take takes it once its job exists.
func (c *Counter) Peek(taken func(string) bool) string {
	for n := c.next; ; n++ {
		id := prefix + strconv.Itoa(n)
		if !taken(id) {
			return id
		}
	}
}

// Allowed reports whether a client may name a job id: any id but one of
// the automatic form ahead of the counter, other than the one Peek gives
// now (taking that one is as if the client had not named it).
func (c *Counter) Allowed(id string, taken func(string) bool) bool {
	n, ok := Number(id)
	return !ok || n < c.next || id == c.Peek(taken)
}

// Take takes id, an id Peek gave: the counter goes on above it, and the
// reservation is extended first when id is past it.
func (c *Counter) Take(id string) {
	n, ok := Number(id)
	if !ok || n < c.next {
		return
	}
	c.next = n + 1
	if c.next > c.reserve {
		c.reserve = c.next + Block - 1
		if c.persist != nil {
			c.persist(c.reserve)
		}
	}
}

// Next is the lowest number not handed out yet (an upgrade's hand-over).
func (c *Counter) Next() int { return c.next }
