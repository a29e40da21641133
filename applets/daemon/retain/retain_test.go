package retain

import (
	"slices"
	"testing"
)

// Past Max, a uid's oldest ended jobs are picked, but for a busy one
// (picked at a later Add); other uids and removed jobs do not count.
func TestEnded(t *testing.T) {
	e := Ended[string]{Max: 2}
	gone := map[string]bool{}
	busy := map[string]bool{"a1": true}
	add := func(uid uint32, j string) []string {
		out := e.Add(uid, j, func(x string) bool { return !gone[x] }, func(x string) bool { return busy[x] })
		for _, x := range out {
			gone[x] = true
		}
		return out
	}
	for _, tc := range []struct {
		uid  uint32
		job  string
		want []string
	}{
		{1, "a1", nil}, {1, "a2", nil}, {2, "b1", nil}, {2, "b2", nil},
		{1, "a3", []string{"a2"}}, // a1 is read: passed over
		{1, "a4", []string{"a3"}},
		{2, "b3", []string{"b1"}},
	} {
		if got := add(tc.uid, tc.job); !slices.Equal(got, tc.want) {
			t.Errorf("after %s: removed %q, want %q", tc.job, got, tc.want)
		}
	}
	busy["a1"] = false
	if got := add(1, "a5"); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("after a5: removed %q, want a1 (no longer read)", got)
	}
	gone["a5"] = true // a REMOVE
	if got := add(1, "a6"); got != nil {
		t.Errorf("after a REMOVE and a6: removed %q, want none", got)
	}
	if (&Ended[string]{}).Add(1, "x", nil, nil) != nil {
		t.Error("no bound picked a job")
	}
}
