package pressure

import (
	"slices"
	"testing"
	"time"
)

func ids(ps []Pending) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestQueue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	in := func(d time.Duration) time.Time { return t0.Add(d) }
	fill := func() *Queue {
		q := &Queue{}
		q.Push(Pending{ID: "p50-a", Priority: 50, Deadline: in(30 * sec)})
		q.Push(Pending{ID: "p10", Priority: 10, Deadline: in(5 * sec)})
		q.Push(Pending{ID: "p90", Priority: 90})
		q.Push(Pending{ID: "p50-b", Priority: 50, Deadline: in(2 * sec)})
		q.Push(Pending{ID: "p0", Priority: 0, Deadline: in(10 * sec)})
		return q
	}
	for _, tc := range []struct {
		name        string
		now         time.Duration
		blocked     bool
		limit       int
		start, exp  []string
		left        []string
		nextDeadlin time.Duration // 0: none
	}{
		{"blocked, nothing due", sec, true, 0, []string{}, []string{}, []string{"p90", "p50-a", "p50-b", "p10", "p0"}, 2 * sec},
		{"blocked, two expired", 5 * sec, true, 0, []string{}, []string{"p50-b", "p10"}, []string{"p90", "p50-a", "p0"}, 10 * sec},
		{"blocked, deadline is inclusive", 2 * sec, true, 0, []string{}, []string{"p50-b"}, []string{"p90", "p50-a", "p10", "p0"}, 5 * sec},
		{"admitted: priority then FIFO", sec, false, 0, []string{"p90", "p50-a", "p50-b", "p10", "p0"}, []string{}, []string{}, 0},
		{"admitted with a limit", sec, false, 2, []string{"p90", "p50-a"}, []string{}, []string{"p50-b", "p10", "p0"}, 2 * sec},
		{"limit, late: started past deadline, rest expire", 6 * sec, false, 3, []string{"p90", "p50-a", "p50-b"}, []string{"p10"}, []string{"p0"}, 10 * sec},
		{"everything expired", time.Minute, true, 0, []string{}, []string{"p50-a", "p50-b", "p10", "p0"}, []string{"p90"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := fill()
			start, exp := q.Admit(in(tc.now), tc.blocked, tc.limit)
			if got := ids(start); !slices.Equal(got, tc.start) {
				t.Errorf("start %q, want %q", got, tc.start)
			}
			if got := ids(exp); !slices.Equal(got, tc.exp) {
				t.Errorf("expired %q, want %q", got, tc.exp)
			}
			if got := ids(q.Items()); !slices.Equal(got, tc.left) || q.Len() != len(tc.left) {
				t.Errorf("left %q (len %d), want %q", got, q.Len(), tc.left)
			}
			d, ok := q.NextDeadline()
			if ok != (tc.nextDeadlin != 0) || (ok && !d.Equal(in(tc.nextDeadlin))) {
				t.Errorf("NextDeadline = %v, %v; want %v", d.Sub(t0), ok, tc.nextDeadlin)
			}
		})
	}
}

func TestQueueRemoveGet(t *testing.T) {
	q := &Queue{}
	a := q.Push(Pending{ID: "a", Priority: 5})
	b := q.Push(Pending{ID: "b", Priority: 5})
	if a.Seq != 1 || b.Seq != 2 {
		t.Errorf("seqs %d, %d, want 1, 2", a.Seq, b.Seq)
	}
	q.Push(Pending{ID: "early", Priority: 5, Seq: 100})
	if c := q.Push(Pending{ID: "c", Priority: 5}); c.Seq != 101 {
		t.Errorf("seq after an explicit 100: %d, want 101", c.Seq)
	}
	if p, ok := q.Get("b"); !ok || p.Seq != 2 {
		t.Errorf("Get(b) = %+v, %v; want seq 2, true", p, ok)
	}
	if _, ok := q.Remove("b"); !ok {
		t.Errorf("Remove(b) = false, want true")
	}
	if _, ok := q.Remove("b"); ok {
		t.Errorf("second Remove(b) = true, want false")
	}
	if _, ok := q.Get("nope"); ok {
		t.Errorf("Get(nope) = true, want false")
	}
	if got, want := ids(q.Items()), []string{"a", "early", "c"}; !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
}
