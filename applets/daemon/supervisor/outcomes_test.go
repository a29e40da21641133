package supervisor

import (
	"testing"

	"cgroupd/core/spawn"
)

// A job's end is queued as an outcome, not told from inside the step: a
// client's Release made while the step runs (what the server's Listener
// did from inside finish) panics; made after it, from the outcome, it
// lets the job go.
func TestOutcomesFlowOneWay(t *testing.T) {
	d, j, _ := fakeDaemon(t)
	d.Hold(j, Reading) // a WAIT
	d.Outcomes()
	setEvents(t, j, 0, 0)
	leave := d.c.oc.enter("main exit")
	testExit(d, j, spawn.Status{Exit: 3})
	d.c.checkEvents(j) // populated 0: no process left, the job ends
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Release from inside a step did not panic")
			}
		}()
		d.Release(j, Reading)
	}()
	if j.readers != 1 {
		t.Fatalf("the re-entering Release counted: %d readers, want 1", j.readers)
	}
	leave()
	outs := d.Outcomes()
	if len(outs) != 2 || outs[0].Kind != Frozen || outs[1].Kind != Ended || outs[1].Job != j || !j.IsEnded() {
		t.Fatalf("outcomes %+v, ended %v: want Frozen (not frozen), then Ended of the job", outs, j.IsEnded())
	}
	d.Release(j, Reading) // the server, answering the WAIT after the step
	if j.readers != 0 || len(d.Outcomes()) != 0 {
		t.Errorf("after the answer: %d readers, want 0 and no new outcome", j.readers)
	}
}

// The supervisor keeps the one count of a job's clients: readers of every
// kind, and among them the RUN wait: 1 connections, whose last Release
// detaches the job.
func TestHoldCounts(t *testing.T) {
	d, j, _ := fakeDaemon(t)
	for _, step := range []struct {
		hold              bool
		kind              HoldKind
		readers, attached int
	}{
		{true, Attached, 1, 1}, {true, Reading, 2, 1}, {true, Attached, 3, 2},
		{false, Attached, 2, 1}, {false, Reading, 1, 1}, {false, Attached, 0, 0}, {false, Attached, 0, 0},
	} {
		if step.hold {
			d.Hold(j, step.kind)
		} else {
			d.Release(j, step.kind)
		}
		if j.readers != step.readers || j.attached != step.attached {
			t.Fatalf("after %+v: %d readers, %d attached; want %d, %d", step, j.readers, j.attached, step.readers, step.attached)
		}
	}
}
