package supervisor

import (
	"cgroupd/applets/daemon/job"
	"testing"
)

// TestUserCounts: live and pending jobs count against their owner; ended
// and forgotten ones do not.
func TestUserCounts(t *testing.T) {
	d := New(Config{}, nil, nil, nil, nil)
	j := testEntry("j", 1000, "", 50)
	k := testEntry("k", 1000, "", 50)
	was := map[*Job]string{}
	for _, step := range []struct {
		j     *Job
		state string
		want  int
	}{
		{j, job.StatePending, 1}, {j, job.StateRunning, 1}, {k, job.StateRunning, 2}, {j, job.StateFrozen, 2},
		{j, job.StateKilled, 1}, {j, "", 1}, {k, job.StateExited, 0},
	} {
		d.c.recount(step.j, was[step.j], step.state)
		was[step.j] = step.state
		if got := d.c.userJobs[1000]; got != step.want {
			t.Errorf("after %s: got %d jobs of uid 1000, want %d", step.state, got, step.want)
		}
	}
	if len(d.c.userJobs) != 0 {
		t.Errorf("got %v, want no entries left", d.c.userJobs)
	}
}

// A Job made outside the supervisor (Detached: top's and metrics'
// benchmarks) holds no process and no watch: pidfd -1, never fd 0.
func TestDetachedHoldsNothing(t *testing.T) {
	j := Detached(job.Make(job.Spec{ID: "d"}))
	if j.pidfd != -1 || j.wdEvents != -1 || j.wdMem != -1 || j.wdLog != -1 || Model(j) == nil {
		t.Errorf("pidfd %d, watches %d %d %d, model %v: want -1 each and the model", j.pidfd, j.wdEvents, j.wdMem, j.wdLog, Model(j))
	}
}
