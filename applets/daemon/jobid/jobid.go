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
package jobid

import (
	"strconv"
	"strings"
)

// Block is how many ids one write of the reservation covers.
const Block = 64

const prefix = "job-"

// Counter is the loop's id counter. persist (nil: nothing kept) stores a
// new reservation: ids below it may have been handed out.
type Counter struct {
	next    int // the lowest n not handed out
	reserve int // ids below it are reserved on disk
	persist func(reserve int)
}

// New is a counter from 1 that keeps its reservation through persist.
func New(persist func(int)) *Counter { return &Counter{next: 1, persist: persist} }

// Number is n of an automatic id job-<n> (ok false for any other id).
func Number(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, prefix)
	if !ok || s == "" || s[0] == '0' || len(s) > 18 {
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
