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

// A record round-trips, and a record cut short or with a missing key is
// refused with a reason.
func TestRecordFormat(t *testing.T) {
	j := &job{id: "a", phase: phaseEnded, cg: "/sys/fs/cgroup/r/a", seq: 4, uid: 1000, gid: 100, priority: 20,
		pid: 42, pidStart: "777", startUnix: 10, argv: []string{"sh", "-c", "exit 3"}, exitUnix: 20}
	j.status.Exit = 3
	data := encodeRecord(j, "boot")
	rec, err := parseRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if rec.get("state") != stateFailed || rec.get("exit") != "3" || rec.get("pid_start") != "777" ||
		!slices.Equal(rec["arg"], j.argv) || rec.get("boot_id") != "boot" {
		t.Errorf("record %v does not hold the job", rec)
	}
	if _, err := parseRecord(data[:len(data)-3]); err == nil {
		t.Error("a record cut short was accepted")
	}
	if _, err := parseRecord([]byte(recordMagic + "\nid: a\n" + recordEnd + "\n")); err == nil {
		t.Error("a record without its keys was accepted")
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
