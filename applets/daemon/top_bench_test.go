package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/core/cgroup"
	"cgroupd/core/proto"
)

// The cost of a `cgroupctl top` refresh at 10 000 jobs (README "top"):
//
//	go test -run '^$' -bench 'Top' -benchtime 20x ./applets/daemon/
//
// BenchmarkTopVerb is the loop's time per TOP (figures cached: no file is
// read), for a whole table (-b) and for one screen (limit 40);
// BenchmarkTopSamplerPass is the sampler's pass over 10 000 real (empty)
// cgroups, off the loop, and BenchmarkTopMerge the loop's share of a pass
// (taking its results).

func topBenchDaemon(n int) *daemon {
	d := &daemon{cfg: defaultConfig(), supervisor: newSupervisor(), events: hub.New(nil, nil)}
	d.top.samples = map[*entry]topSample{}
	d.top.inFlight = true // as if the sampler were busy: no pass starts here
	for i := 0; i < n; i++ {
		j := testEntry("job-"+strconv.Itoa(i), 1000, cgroup.Dir("/nonexistent/job-"+strconv.Itoa(i)), i%100)
		testStart(d, j)
		d.top.samples[j] = topSample{at: time.Now(), mem: uint64(i) << 20, memOK: true, memMax: maxUnlimited, maxOK: true,
			pids: 3, pidsOK: true, cpu: 1, cpuOK: true, cpuPct: float64(i%300) / 3, cpuPctOK: true, psiOK: true, psiMem: 1.5}
	}
	return d
}

func BenchmarkTopVerb(b *testing.B) {
	d := topBenchDaemon(10000)
	c := &conn{}
	for _, limit := range []string{"0", "40"} {
		b.Run("limit="+limit, func(b *testing.B) {
			var r proto.Request
			r.Verb = "TOP"
			r.Add("sort", "cpu").Add("limit", limit)
			var n int
			for b.Loop() {
				n = len(d.doTop(c, &r))
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}

func BenchmarkTopMerge(b *testing.B) {
	d := topBenchDaemon(10000)
	res := make([]topResult, 0, 10000)
	for j, s := range d.top.samples {
		s.at = s.at.Add(time.Second)
		res = append(res, topResult{j: j, s: s})
	}
	d.top.lastUsed = time.Time{} // no next pass
	for b.Loop() {
		d.top.done = res
		d.top.inFlight = true
		d.topMerge()
	}
}

func BenchmarkTopSamplerPass(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	mount, err := cgroup.Mount()
	if err != nil {
		b.Skip("cgroup v2 not mounted: " + err.Error())
	}
	root := filepath.Join(mount, fmt.Sprintf("cgroupd-bench-%d", os.Getpid()))
	if err := os.Mkdir(root, 0o755); err != nil {
		b.Fatal(err)
	}
	var targets []topTarget
	defer func() {
		for _, t := range targets {
			os.Remove(t.dir)
		}
		os.Remove(root)
	}()
	for i := 0; i < 10000; i++ {
		dir := filepath.Join(root, "job-"+strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		targets = append(targets, topTarget{dir: dir, needMax: true})
	}
	buf := make([]byte, 4096)
	b.ResetTimer()
	for b.Loop() {
		for _, t := range targets {
			sampleTop(t, buf)
		}
	}
}
