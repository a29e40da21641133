package server

import (
	"strconv"
	"testing"
	"time"

	"cgroupd/applets/daemon/supervisor"
	"cgroupd/applets/daemon/top"
)

// BenchmarkTopRows is the loop's time per TOP over 10 000 jobs with
// cached figures (no file is read), for a whole table (-b) and for one
// screen (limit 40).
func BenchmarkTopRows(b *testing.B) {
	jobs := top.BenchJobs(10000)
	samples := map[*supervisor.Job]top.Sample{}
	for i, j := range jobs {
		samples[j] = top.BenchSample(i)
	}
	of := func(j *supervisor.Job) (top.Sample, bool) { s, ok := samples[j]; return s, ok }
	c := &conn{}
	for _, limit := range []int{0, 40} {
		b.Run("limit="+strconv.Itoa(limit), func(b *testing.B) {
			var n int
			for b.Loop() {
				out, _, _ := topRows(c, jobs, of, topOrders["cpu"], limit, time.Now())
				n = len(out)
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}
