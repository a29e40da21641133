package cgroup

import "testing"

// The daemon parses cgroup.events and memory.events at every job's end:
// parsing must not allocate.
func TestParseKeyedAllocatesNothing(t *testing.T) {
	ev := []byte("populated 1\nfrozen 0\n")
	me := []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 1\nsock_throttled 0\n")
	n := testing.AllocsPerRun(100, func() {
		if e, err := parseEvents(ev); err != nil || !e.Populated {
			t.Fatalf("parseEvents: %+v, %v", e, err)
		}
		if m, err := parseMemoryEvents(me); err != nil || m.Max != 3 || m.OOMGroupKill != 1 {
			t.Fatalf("parseMemoryEvents: %+v, %v", m, err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per parse, want 0", n)
	}
}
