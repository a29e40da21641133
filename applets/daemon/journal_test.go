package daemon

import (
	"os/exec"
	"slices"
	"testing"
)

// Replies that wait for records keep their order: a callback queued while
// its record was unwritten runs before one queued after the writer caught
// up but before the loop heard of it (a RUN's ok block, then its end block).
func TestAfterJournalKeepsOrder(t *testing.T) {
	jn := &journal{}
	d := &daemon{supervisor: supervisor{journal: jn}}
	var got []string
	jn.posted = 2
	jn.done.Store(1)
	d.afterJournal(func() { got = append(got, "ok block") })
	jn.done.Store(2) // written; onReady has not run yet
	d.afterJournal(func() { got = append(got, "end block") })
	if want := []string{"ok block", "end block"}; !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q", got, want)
	}
	jn.posted = 3
	d.afterJournal(func() { got = append(got, "later") })
	if len(got) != 2 {
		t.Fatalf("ran %q before its record was written", got[2:])
	}
	jn.done.Store(3)
	jn.runWaiters()
	if len(got) != 3 {
		t.Fatalf("ran %q after the write, want the third callback too", got)
	}
}

// A process's start time taken from two clock readings around its spawn
// is the one /proc shows, and readings that straddle a tick give none.
func TestStartBetween(t *testing.T) {
	if clkTck == 0 {
		t.Fatal("no AT_CLKTCK in the auxiliary vector")
	}
	matched := 0
	for i := 0; i < 50; i++ {
		cmd := exec.Command("sleep", "5")
		t0 := bootNs()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t1 := bootNs()
		st, ok := startBetween(t0, t1)
		want, err := pidStart(cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			matched++
			if st != want {
				t.Fatalf("spawn %d: start %d from the clock, %d in /proc", i, st, want)
			}
		}
	}
	if matched == 0 {
		t.Fatal("no spawn fell within one tick")
	}
	tick := int64(1_000_000_000 / clkTck)
	if _, ok := startBetween(5*tick-1, 5*tick); ok {
		t.Error("readings that straddle a tick gave a start time")
	}
	if _, ok := startBetween(-1, 5); ok {
		t.Error("an unreadable clock gave a start time")
	}
}
