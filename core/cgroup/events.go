package cgroup

import (
	"bytes"
	"fmt"
	"io"
)

// Events is cgroup.events.
type Events struct{ Populated, Frozen bool }

// ParseEvents parses cgroup.events ("populated 0|1", "frozen 0|1").
// Unknown keys and blank or short lines are skipped.
func ParseEvents(r io.Reader) (Events, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Events{}, err
	}
	return parseEvents(b)
}

func parseEvents(b []byte) (Events, error) {
	var ev Events
	err := parseKeyed(b, func(key []byte, v uint64) {
		switch string(key) {
		case "populated":
			ev.Populated = v != 0
		case "frozen":
			ev.Frozen = v != 0
		}
	})
	return ev, err
}

// Events reads d's cgroup.events.
func (d Dir) Events() (ev Events, err error) {
	err = d.readBytes(FileEvents, func(b []byte) (err error) {
		ev, err = parseEvents(b)
		return err
	})
	return ev, err
}

// MemoryEvents is memory.events.
type MemoryEvents struct{ Low, High, Max, OOM, OOMKill, OOMGroupKill uint64 }

// ParseMemoryEvents parses memory.events. Unknown keys (sock_throttled on
// new kernels) and blank or short lines are skipped.
func ParseMemoryEvents(r io.Reader) (MemoryEvents, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return MemoryEvents{}, err
	}
	return parseMemoryEvents(b)
}

func parseMemoryEvents(b []byte) (MemoryEvents, error) {
	var ev MemoryEvents
	err := parseKeyed(b, func(key []byte, v uint64) {
		switch string(key) {
		case "low":
			ev.Low = v
		case "high":
			ev.High = v
		case "max":
			ev.Max = v
		case "oom":
			ev.OOM = v
		case "oom_kill":
			ev.OOMKill = v
		case "oom_group_kill": // since Linux 5.19
			ev.OOMGroupKill = v
		}
	})
	return ev, err
}

// MemoryEvents reads d's memory.events.
func (d Dir) MemoryEvents() (ev MemoryEvents, err error) {
	err = d.readBytes(FileMemoryEvents, func(b []byte) (err error) {
		ev, err = parseMemoryEvents(b)
		return err
	})
	return ev, err
}

// parseKeyed calls set for every "key value" line of a flat keyed file
// (cgroup-v2.rst "Flat Keyed"). Lines with fewer than two fields are
// skipped; a value that is not a number is an error. It allocates
// nothing: the daemon parses cgroup.events and memory.events at every
// job's end.
func parseKeyed(b []byte, set func(key []byte, v uint64)) error {
	var badKey, bad []byte
	EachKeyed(b, func(key, val []byte, v uint64, ok bool) {
		switch {
		case bad != nil:
		case !ok:
			badKey, bad = key, val
		default:
			set(key, v)
		}
	})
	if bad != nil {
		return fmt.Errorf("key %q: bad value %q", badKey, bad)
	}
	return nil
}

// EachKeyed calls fn for every line of b with two fields or more: its
// first field, its second, that as a number and whether it is one. Flat
// keyed cgroup files, /proc/vmstat and the "key value" lines of
// /proc/zoneinfo have this shape.
func EachKeyed(b []byte, fn func(key, val []byte, v uint64, ok bool)) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		key, rest := nextField(line)
		val, _ := nextField(rest)
		if len(val) == 0 {
			continue
		}
		v, ok := atou(val)
		fn(key, val, v, ok)
	}
}

// nextField splits the first space-separated field off b.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// atou parses a decimal uint64 (no sign, no overflow).
func atou(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
