package top

import (
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The cost of a `cgroupctl top` refresh at 10 000 jobs (README "top"):
//
//	go test -run '^$' -bench 'Top' -benchtime 20x ./applets/daemon/...
//
// BenchmarkTopSamplerPass is the sampler's pass over 10 000 real (empty)
// cgroups, off the loop, and BenchmarkTopMerge the loop's share of a pass
// (taking its results); the verb's share is server's BenchmarkTopRows.

// benchSampler is a sampler with figures for n running jobs.
func benchSampler(n int) *Sampler {
	t := New(nil, func() []*supervisor.Job { return nil }, func(string, ...any) {})
	t.samples = map[*supervisor.Job]Sample{}
	t.inFlight = true // as if the sampler were busy: no pass starts here
	for i, j := range BenchJobs(n) {
		t.samples[j] = BenchSample(i)
	}
	return t
}

func BenchmarkTopMerge(b *testing.B) {
	t := benchSampler(10000)
	res := make([]topResult, 0, 10000)
	for j, s := range t.samples {
		s.At = s.At.Add(time.Second)
		res = append(res, topResult{j: j, s: s})
	}
	t.lastUsed = time.Time{} // no next pass
	for b.Loop() {
		t.done = res
		t.inFlight = true
		t.merge()
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
