// Package handoff is the format of an in-place upgrade's hand-over: what
// the old image passes to the new one in a memfd, one line per item, each
// part of the daemon writing and reading its own lines:
//
//	from VERSION                 the old image's version
//	listen FD                    the listening socket (the server)
//	lock FD                      a flocked directory (the root package)
//	job ID PIDFD [SERVICEFD...]  a job's pidfds (the supervisor)
//	reap FD                      a refused RUN's process to reap (the supervisor)
//	next N                       the lowest automatic id number not handed out (the supervisor)
//	demoted ID WEIGHT            a job the engine demoted, and its weight before (the supervisor)
//	event OWNER TYPE JOBHEX LINEHEX  the event ring, oldest first (the root, from the hub)
//	dropped N                    event lines dropped so far (the root)
//	counter NAME VALUE [LABEL...]    a metrics counter (package metrics)
//	conn FD UID GID PID KIND HEXDATA [ARG...]  a client connection (the server)
//
// A line of a kind the reader does not know is skipped, so a newer image
// may add kinds that an older one ignores. The format is the one the
// first release of `cgroupctl upgrade` wrote: an image of that release
// and this one read each other's hand-over.
package handoff

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cgroupd/applets/daemon/hub"
)

// Job is a job's pidfds: its main process and its services.
type Job struct {
	PidFD    int
	Services []int
}

// Conn is a client connection and what it was doing: Kind is read,
// write, held, wait, logs, events or upgrade; Data and Args are the
// kind's own.
type Conn struct {
	FD       int
	UID, GID uint32
	Pid      int32
	Kind     string
	Args     []string
	Data     []byte
}

// Counter is one counter of the metrics and its labels' values.
type Counter struct {
	Name   string
	Value  uint64
	Labels []string
}

// Handoff is everything an upgrading image passes on.
type Handoff struct {
	From      string
	Listen    int
	Locks     []int
	Jobs      map[string]*Job
	Reap      []int
	NextID    int            // 0: not said (an older image)
	Demoted   map[string]int // job id -> cpu.weight before the engine's demotion
	Events    []hub.Kept
	Dropped   uint64
	Counters  []Counter
	Conns     []Conn
	Requester int // fd of the UPGRADE connection, -1: SIGUSR2
}

// New is an empty hand-over from version from.
func New(from string) *Handoff {
	return &Handoff{From: from, Listen: -1, Requester: -1, Jobs: map[string]*Job{}, Demoted: map[string]int{}}
}

// Encode is h as the lines above; jobs in the order of ids.
func (h *Handoff) Encode(ids []string) []byte {
	var b strings.Builder
	line := func(f ...string) { b.WriteString(strings.Join(f, " ")); b.WriteByte('\n') }
	itoa := strconv.Itoa
	line("from", h.From)
	line("listen", itoa(h.Listen))
	for _, fd := range h.Locks {
		line("lock", itoa(fd))
	}
	for _, id := range ids {
		j := h.Jobs[id]
		if j == nil {
			continue
		}
		f := []string{"job", id, itoa(j.PidFD)}
		for _, s := range j.Services {
			f = append(f, itoa(s))
		}
		line(f...)
	}
	for _, fd := range h.Reap {
		line("reap", itoa(fd))
	}
	if h.NextID > 0 {
		line("next", itoa(h.NextID))
	}
	for _, id := range ids {
		if w, ok := h.Demoted[id]; ok {
			line("demoted", id, itoa(w))
		}
	}
	for _, e := range h.Events {
		line("event", strconv.FormatInt(e.Owner, 10), e.Type, hex.EncodeToString([]byte(e.Job)), hex.EncodeToString(e.Line))
	}
	if h.Dropped > 0 {
		line("dropped", strconv.FormatUint(h.Dropped, 10))
	}
	for _, c := range h.Counters {
		line(append([]string{"counter", c.Name, strconv.FormatUint(c.Value, 10)}, c.Labels...)...)
	}
	for _, c := range h.Conns {
		line(append([]string{"conn", itoa(c.FD), strconv.FormatUint(uint64(c.UID), 10), strconv.FormatUint(uint64(c.GID), 10),
			itoa(int(c.Pid)), c.Kind, hex.EncodeToString(c.Data)}, c.Args...)...)
	}
	return []byte(b.String())
}

// Decode reads a hand-over.
func Decode(r io.Reader) (*Handoff, error) {
	h := New("")
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	var err error
	num := func(s string) int {
		n, e := strconv.Atoi(s)
		if e != nil && err == nil {
			err = fmt.Errorf("handoff: %q", s)
		}
		return n
	}
	for sc.Scan() && err == nil {
		fl := strings.Split(sc.Text(), " ")
		if len(fl) < 2 {
			continue
		}
		switch fl[0] {
		case "from":
			h.From = strings.Join(fl[1:], " ")
		case "listen":
			h.Listen = num(fl[1])
		case "lock":
			h.Locks = append(h.Locks, num(fl[1]))
		case "job":
			if len(fl) < 3 {
				return nil, fmt.Errorf("handoff: %q", sc.Text())
			}
			j := &Job{PidFD: num(fl[2])}
			for _, s := range fl[3:] {
				j.Services = append(j.Services, num(s))
			}
			h.Jobs[fl[1]] = j
		case "reap":
			h.Reap = append(h.Reap, num(fl[1]))
		case "next":
			h.NextID = num(fl[1])
		case "demoted":
			if len(fl) == 3 {
				h.Demoted[fl[1]] = num(fl[2])
			}
		case "event":
			if len(fl) == 5 {
				job, e1 := hex.DecodeString(fl[3])
				ln, e2 := hex.DecodeString(fl[4])
				owner, e3 := strconv.ParseInt(fl[1], 10, 64)
				if e := errors.Join(e1, e2, e3); e != nil {
					return nil, fmt.Errorf("handoff: event: %w", e)
				}
				h.Events = append(h.Events, hub.Kept{Owner: owner, Type: fl[2], Job: string(job), Line: ln})
			}
		case "dropped":
			h.Dropped, _ = strconv.ParseUint(fl[1], 10, 64)
		case "counter":
			if len(fl) >= 3 {
				v, e := strconv.ParseUint(fl[2], 10, 64)
				if e != nil {
					return nil, fmt.Errorf("handoff: counter %q: %w", fl[1], e)
				}
				c := Counter{Name: fl[1], Value: v}
				if len(fl) > 3 {
					c.Labels = fl[3:]
				}
				h.Counters = append(h.Counters, c)
			}
		case "conn":
			if len(fl) < 7 {
				return nil, fmt.Errorf("handoff: %q", sc.Text())
			}
			data, herr := hex.DecodeString(fl[6])
			if herr != nil {
				return nil, fmt.Errorf("handoff: %w", herr)
			}
			c := Conn{FD: num(fl[1]), UID: uint32(num(fl[2])), GID: uint32(num(fl[3])), Pid: int32(num(fl[4])),
				Kind: fl[5], Data: data, Args: fl[7:]}
			if c.Kind == "upgrade" {
				h.Requester = c.FD
			}
			h.Conns = append(h.Conns, c)
		}
	}
	if err == nil {
		err = sc.Err()
	}
	if err == nil && h.Listen < 0 {
		err = errors.New("handoff: no listening socket")
	}
	return h, err
}

// FDs are every descriptor h names.
func (h *Handoff) FDs() []int {
	out := append([]int{h.Listen}, h.Locks...)
	for _, j := range h.Jobs {
		out = append(out, j.PidFD)
		out = append(out, j.Services...)
	}
	out = append(out, h.Reap...)
	for _, c := range h.Conns {
		out = append(out, c.FD)
	}
	return out
}
