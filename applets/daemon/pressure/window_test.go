package pressure

import (
	"math"
	"testing"
	"time"
)

// pt is a sample for ring tests: ms since start and memory some total in µs.
type pt struct {
	at    time.Duration
	total uint64
}

func ringOf(window time.Duration, pts ...pt) (*ring, []addResult) {
	r := &ring{}
	base := time.Unix(1_700_000_000, 0)
	var res []addResult
	for _, p := range pts {
		var tot [nLines]uint64
		tot[memSome] = p.total
		res = append(res, r.add(base.Add(p.at), tot, window))
	}
	return r, res
}

func TestRingPct(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pts    []pt
		span   time.Duration
		want   float64
		wantOK bool
	}{
		{"empty", nil, 500 * ms, 0, false},
		{"one sample", []pt{{0, 100}}, 500 * ms, 0, false},
		{"steady 50%", []pt{{0, 0}, {100 * ms, 50_000}, {200 * ms, 100_000}, {300 * ms, 150_000}, {400 * ms, 200_000}, {500 * ms, 250_000}, {600 * ms, 300_000}}, 500 * ms, 50, true},
		{"step: only the last 100 ms stalled", []pt{{0, 0}, {500 * ms, 0}, {600 * ms, 100_000}}, 500 * ms, 20, true},
		{"interpolated window start", []pt{{0, 0}, {1000 * ms, 1_000_000}, {1100 * ms, 1_000_000}}, 500 * ms, 80, true},
		{"span longer than history", []pt{{0, 0}, {200 * ms, 100_000}}, 500 * ms, 50, true},
		{"short span inside the last interval", []pt{{0, 0}, {1000 * ms, 500_000}}, 100 * ms, 50, true},
		{"slack above 100% clamps", []pt{{0, 0}, {100 * ms, 150_000}}, 500 * ms, 100, true},
		{"zero span", []pt{{0, 0}, {100 * ms, 1}}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := ringOf(500*ms, tc.pts...)
			got, ok := r.pct(memSome, tc.span)
			if ok != tc.wantOK || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("pct over %v = %.4f, %v; want %.4f, %v", tc.span, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestRingAdd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pts      []pt
		want     []addResult
		wantPts  int
		covers   bool // covers the 500 ms window after the last add
		wantSpan time.Duration
	}{
		{"normal", []pt{{0, 0}, {300 * ms, 10}, {600 * ms, 20}}, []addResult{added, added, added}, 3, true, 600 * ms},
		{"duplicate time", []pt{{0, 0}, {100 * ms, 10}, {100 * ms, 20}}, []addResult{added, added, duplicate}, 2, false, 100 * ms},
		{"counter backwards", []pt{{0, 1000}, {100 * ms, 2000}, {200 * ms, 10}}, []addResult{added, added, restarted}, 1, false, 0},
		{"clock backwards", []pt{{time.Second, 0}, {500 * ms, 10}}, []addResult{added, restarted}, 1, false, 0},
		{"impossible jump", []pt{{0, 0}, {100 * ms, 1 << 40}}, []addResult{added, restarted}, 1, false, 0},
		{"jump within slack", []pt{{0, 0}, {100 * ms, 210_000}}, []addResult{added, added}, 2, false, 100 * ms},
		{"old samples pruned", []pt{{0, 0}, {100 * ms, 0}, {200 * ms, 0}, {900 * ms, 0}, {1000 * ms, 0}, {1500 * ms, 0}}, []addResult{added, added, added, added, added, added}, 2, true, 500 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, res := ringOf(500*ms, tc.pts...)
			for i := range res {
				if res[i] != tc.want[i] {
					t.Errorf("add #%d = %v, want %v", i, res[i], tc.want[i])
				}
			}
			if len(r.pts) != tc.wantPts {
				t.Errorf("%d points kept, want %d", len(r.pts), tc.wantPts)
			}
			if got := r.covers(500 * ms); got != tc.covers {
				t.Errorf("covers(500ms) = %v, want %v", got, tc.covers)
			}
			if got := r.span(); got != tc.wantSpan {
				t.Errorf("span = %v, want %v", got, tc.wantSpan)
			}
		})
	}
}

func TestRingBounded(t *testing.T) {
	r := &ring{}
	base := time.Unix(1_700_000_000, 0)
	var tot [nLines]uint64
	for i := range 10_000 {
		tot[memSome] += 500 // 50% of every 1 ms
		r.add(base.Add(time.Duration(i)*ms), tot, 500*ms)
	}
	if len(r.pts) > maxPoints {
		t.Errorf("%d points kept, want at most %d", len(r.pts), maxPoints)
	}
	if got, ok := r.pct(memSome, 500*ms); !ok || math.Abs(got-50) > 0.5 {
		t.Errorf("pct = %.2f, %v; want 50.00, true", got, ok)
	}
}
