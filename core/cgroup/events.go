package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Events is cgroup.events.
type Events struct{ Populated, Frozen bool }

// ParseEvents parses cgroup.events ("populated 0|1", "frozen 0|1").
// Unknown keys and blank or short lines are skipped.
func ParseEvents(r io.Reader) (Events, error) {
	var ev Events
	err := parseKeyed(r, func(key string, v uint64) {
		switch key {
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
	err = d.readFile(FileEvents, func(r io.Reader) (err error) {
		ev, err = ParseEvents(r)
		return err
	})
	return ev, err
}

// MemoryEvents is memory.events.
type MemoryEvents struct{ Low, High, Max, OOM, OOMKill, OOMGroupKill uint64 }

// ParseMemoryEvents parses memory.events. Unknown keys (sock_throttled on
// new kernels) and blank or short lines are skipped.
func ParseMemoryEvents(r io.Reader) (MemoryEvents, error) {
	var ev MemoryEvents
	err := parseKeyed(r, func(key string, v uint64) {
		switch key {
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
	err = d.readFile(FileMemoryEvents, func(r io.Reader) (err error) {
		ev, err = ParseMemoryEvents(r)
		return err
	})
	return ev, err
}

// parseKeyed calls set for every "key value" line of a flat keyed file
// (cgroup-v2.rst "Flat Keyed"). Lines with fewer than two fields are
// skipped; a value that is not a number is an error.
func parseKeyed(r io.Reader, set func(key string, v uint64)) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("key %q: bad value %q", f[0], f[1])
		}
		set(f[0], v)
	}
	return sc.Err()
}
