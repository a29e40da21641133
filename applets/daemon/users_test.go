package daemon

import (
	"cgroupd/applets/daemon/job"
	"strings"
	"testing"
)

// TestParseRunCeiling: the priority ceiling of a non-root caller.
func TestParseRunCeiling(t *testing.T) {
	tests := []struct {
		name     string
		capped   bool
		ceiling  int
		priority string // "" for none
		want     int
		reason   string
	}{
		{"root, default", false, 0, "", 50, ""},
		{"root, 100", false, 0, "100", 100, ""},
		{"user, default is capped", true, 30, "", 30, ""},
		{"user, at the ceiling", true, 30, "30", 30, ""},
		{"user, below", true, 30, "0", 0, ""},
		{"user, above", true, 30, "31", 0, "priority: 31 is above 30, the highest a non-root caller may request"},
		{"user, ceiling above 50: default stays 50", true, 60, "", 50, ""},
		{"user, ceiling 0", true, 0, "", 0, ""},
		{"user, invalid is invalid first", true, 30, "101", 0, "priority:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := []string{"arg", "true"}
			if tc.priority != "" {
				kv = append(kv, "priority", tc.priority)
			}
			next := 1
			s, rf := parseRun(req("RUN", kv...), runEnv{Cwd: "/", NextID: &next, Taken: func(string) bool { return false },
				Capped: tc.capped, Ceiling: tc.ceiling})
			switch {
			case tc.reason != "":
				if rf == nil || !strings.HasPrefix(rf.reason, tc.reason) {
					t.Errorf("got %v, want a refusal starting %q", rf, tc.reason)
				}
			case rf != nil:
				t.Errorf("got refusal %q, want priority %d", rf.reason, tc.want)
			case s.Priority != tc.want:
				t.Errorf("got priority %d, want %d", s.Priority, tc.want)
			}
		})
	}
}

// TestUserCounts: live and pending jobs count against their owner; ended
// and forgotten ones do not.
func TestUserCounts(t *testing.T) {
	d := &daemon{}
	j := testEntry("j", 1000, "", 50)
	k := testEntry("k", 1000, "", 50)
	was := map[*entry]string{}
	for _, step := range []struct {
		j     *entry
		state string
		want  int
	}{
		{j, job.StatePending, 1}, {j, job.StateRunning, 1}, {k, job.StateRunning, 2}, {j, job.StateFrozen, 2},
		{j, job.StateKilled, 1}, {j, "", 1}, {k, job.StateExited, 0},
	} {
		d.recount(step.j, was[step.j], step.state)
		was[step.j] = step.state
		if got := d.userJobs[1000]; got != step.want {
			t.Errorf("after %s: got %d jobs of uid 1000, want %d", step.state, got, step.want)
		}
	}
	if len(d.userJobs) != 0 {
		t.Errorf("got %v, want no entries left", d.userJobs)
	}
}
