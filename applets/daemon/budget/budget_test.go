package budget

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func newTest(lim Limits) *Budget {
	if lim.Privileged == nil {
		lim.Privileged = func(uid uint32) bool { return uid == 0 }
	}
	return New(lim)
}

// Admit refuses an unprivileged uid past its connections or in root's
// reserve, and one that took the spare; root never.
func TestAdmit(t *testing.T) {
	b := newTest(Limits{MaxUserConns: 2, RootReserve: 10, NoFile: 100, Memory: 1 << 20})
	b.Add(1, 1000)
	for _, tc := range []struct {
		name  string
		uid   uint32
		nfd   int
		spare bool
		want  string // a part of the refusal; "" admitted
	}{
		{"user below its cap", 1000, 5, false, ""},
		{"user in root's reserve", 1000, 90, false, "kept for root"},
		{"user on the spare", 1000, 5, true, "open file limit 100 reached"},
		{"root in the reserve", 0, 99, false, ""},
		{"root on the spare", 0, 99, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := b.Admit(tc.uid, tc.nfd, tc.spare)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	b.Add(2, 1000)
	if got := b.Admit(1000, 5, false); !strings.Contains(got, "--max-user-conns 2") {
		t.Errorf("third connection of uid 1000: got %q, want refused naming --max-user-conns 2", got)
	}
	b.Remove(1)
	if got := b.Admit(1000, 5, false); got != "" {
		t.Errorf("after one closed: got %q, want admitted", got)
	}
}

// Over the memory, the victim is the largest connection of the
// unprivileged uid holding the most; root's are never victims.
func TestVictim(t *testing.T) {
	b := newTest(Limits{MaxUserConns: 10, Memory: 100})
	b.Add(10, 0)
	b.Add(11, 1)
	b.Add(12, 1)
	b.Add(20, 2)
	b.Set(10, 90)
	if b.Over() {
		t.Fatal("90 of 100: over")
	}
	b.Set(20, 35)
	b.Set(11, 20)
	b.Set(12, 30)
	if !b.Over() {
		t.Fatal("175 of 100: not over")
	}
	var order []int
	for {
		v, ok := b.Victim()
		if !ok {
			break
		}
		order = append(order, v)
		b.Remove(v)
	}
	// u1 holds 50, u2 35: u1's largest first, then u2 (35 > u1's 20 left).
	if got := fmt.Sprint(order); got != "[12 20 11]" {
		t.Errorf("dropped %q, want 12 20 11: u1-big u2 u1-small (root's 90 alone stay over)", got)
	}
	if b.Over() || b.Total() != 90 {
		t.Errorf("after: over %v total %d, want false 90", b.Over(), b.Total())
	}
}

// A client is stalled from the last write that left bytes unsent, and no
// longer once it took them all.
func TestStalled(t *testing.T) {
	b := newTest(Limits{WriteTimeout: time.Second, Memory: 1 << 20})
	b.Add(1, 1)
	b.Add(2, 1)
	t0 := time.Unix(1000, 0)
	b.Wrote(1, 100, true, t0) // took some, left some
	b.Wrote(2, 100, true, t0)
	b.Wrote(2, 0, true, t0.Add(500*time.Millisecond)) // took none: still since t0
	b.Wrote(1, 10, true, t0.Add(800*time.Millisecond))
	if got := b.Stalled(t0.Add(time.Second)); len(got) != 1 || got[0] != 2 {
		t.Errorf("stalled at 1 s: %v, want [b]", got)
	}
	b.Wrote(2, 50, false, t0.Add(1100*time.Millisecond))
	if got := b.Stalled(t0.Add(1900 * time.Millisecond)); len(got) != 1 || got[0] != 1 {
		t.Errorf("stalled at 1.9 s: %v, want [a]", got)
	}
	b.Remove(1)
	if got := b.Stalled(t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("stalled after both: %v, want none", got)
	}
}

// Memory is given back after ReleaseAfter bytes were freed, at most once
// per ReleaseEvery.
func TestRelease(t *testing.T) {
	b := newTest(Limits{Memory: 1 << 30})
	b.Add(1, 1)
	b.Set(1, 2*ReleaseAfter)
	t0 := time.Unix(1000, 0)
	if b.Release(t0) {
		t.Error("nothing freed: release")
	}
	b.Set(1, ReleaseAfter)
	if !b.Release(t0) {
		t.Error("ReleaseAfter freed: no release")
	}
	b.Remove(1)
	if b.Release(t0.Add(ReleaseEvery / 2)) {
		t.Error("a second release within ReleaseEvery")
	}
	if !b.Release(t0.Add(ReleaseEvery)) {
		t.Error("no release ReleaseEvery later")
	}
}
