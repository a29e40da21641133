package top

import (
	"strconv"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
)

// BenchJobs are n made-up running jobs (priorities 0-99, cgroups that do
// not exist), and BenchSample the figures of the i-th: what the TOP
// benchmarks of this package and the server's measure over.
func BenchJobs(n int) []*supervisor.Job {
	out := make([]*supervisor.Job, n)
	for i := range out {
		m := job.Make(job.Spec{ID: "job-" + strconv.Itoa(i), UID: 1000, GID: 1000,
			Cgroup: cgroup.Dir("/nonexistent/job-" + strconv.Itoa(i)), Priority: i % 100})
		m.Start(42, "", time.Now(), 1, uint64(i+1))
		out[i] = supervisor.Detached(m)
	}
	return out
}

// BenchSample is the figures BenchJobs' i-th job gets.
func BenchSample(i int) Sample {
	return Sample{At: time.Now(), Mem: uint64(i) << 20, MemOK: true, MemMax: MaxUnlimited, MaxOK: true,
		Pids: 3, PidsOK: true, CPU: 1, CPUOK: true, CPUPct: float64(i%300) / 3, CPUPctOK: true, PSIOK: true, PSIMem: 1.5}
}
