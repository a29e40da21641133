package psi

import "time"

// Stall returns the percentage of elapsed wall time stalled between two
// samples of the same line, from their cumulative Total (µs), clamped to
// 0..100. A counter that went backwards (file recreated) or a non-positive
// elapsed time gives 0.
func Stall(prev, cur Line, elapsed time.Duration) float64 {
	us := elapsed.Microseconds()
	if us <= 0 || cur.Total <= prev.Total {
		return 0
	}
	pct := float64(cur.Total-prev.Total) * 100 / float64(us)
	return min(pct, 100)
}
