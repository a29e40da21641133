package spawner

import (
	"os/exec"
	"testing"
)

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
		want, err := PidStart(cmd.Process.Pid)
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
