package metrics

import (
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/metrics/promtest"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
	"cgroupd/core/spawn"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func promtool(t *testing.T, what string, text []byte) { promtest.Check(t, what, text) }

func series(t *testing.T, text string) map[string]float64 { return promtest.Series(t, text) }

func TestExpoEscapes(t *testing.T) {
	var w expo
	w.family("cgroupd_test_info", "gauge", "help with \\ and\nnewline")
	w.sample("cgroupd_test_info", 1, "version", "a\"b\\c\nd\xffe", "goversion", "go1")
	w.family("cgroupd_test_seconds", "gauge", "floats")
	w.sample("cgroupd_test_seconds", 0.000924)
	w.sample("cgroupd_test_seconds", 1234567.891, "x", "big")
	w.sample("cgroupd_test_seconds", 3, "x", "int")
	want := "# HELP cgroupd_test_info help with \\\\ and\\nnewline\n# TYPE cgroupd_test_info gauge\n" +
		"cgroupd_test_info{version=\"a\\\"b\\\\c\\nd\uFFFDe\",goversion=\"go1\"} 1\n" +
		"# HELP cgroupd_test_seconds floats\n# TYPE cgroupd_test_seconds gauge\n" +
		"cgroupd_test_seconds 0.000924\ncgroupd_test_seconds{x=\"big\"} 1.234567891e+06\ncgroupd_test_seconds{x=\"int\"} 3\n"
	if got := string(w.b); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	promtool(t, "escaped labels", w.b)
}

func TestMetricsEventCounts(t *testing.T) {
	m := New(Config{}, &fakeJobs{})
	for _, e := range []hub.Event{
		{Type: "job.start", Job: "a"},
		{Type: "job.start", Job: "b"},
		{Type: "job.freeze", Job: "a", Reason: "client"},
		{Type: "job.freeze", Job: "a", Reason: "pressure_memory"},
		{Type: "job.kill", Job: "a", Reason: "pressure_memory"},
		{Type: "job.throttle", Job: "a", Reason: "pressure_cpu"},
		{Type: "job.kill", Job: "a", Reason: "new_reason"},
		{Type: "pressure", Job: "c", Action: "admission_reject", Resource: "io"},
		{Type: "pressure", Job: "d", Action: "admission_reject"},
		{Type: "pressure", Job: "a", Action: "kill", Resource: "memory"},
		{Type: "job.oom", Job: "a"},
		{Type: "job.exit", Job: "a", State: "killed"},
		{Type: "job.cleanup", Job: "a"},
	} {
		m.Observe(&e)
	}
	s := series(t, string(m.appendMetrics(nil, time.Now(), nil)))
	for k, want := range map[string]float64{
		`cgroupd_jobs_started_total`:                                           2,
		`cgroupd_jobs_ended_total{state="killed"}`:                             1,
		`cgroupd_jobs_ended_total{state="exited"}`:                             0,
		`cgroupd_job_oom_events_total`:                                         1,
		`cgroupd_actions_total{kind="freeze",reason="client"}`:                 1,
		`cgroupd_actions_total{kind="freeze",reason="pressure_memory"}`:        1,
		`cgroupd_actions_total{kind="kill",reason="pressure_memory"}`:          1,
		`cgroupd_actions_total{kind="throttle",reason="pressure_cpu"}`:         1,
		`cgroupd_actions_total{kind="thaw",reason="pressure_receded"}`:         0,
		`cgroupd_actions_total{kind="kill",reason="new_reason"}`:               1,
		`cgroupd_admission_refusals_total{resource="io"}`:                      1,
		`cgroupd_admission_refusals_total{resource="queue"}`:                   1,
		`cgroupd_admission_refusals_total{resource="memory"}`:                  0,
		`cgroupd_jobs{state="pending"}`:                                        0,
		`cgroupd_admission_queue_length`:                                       0,
		`cgroupd_events_dropped_total`:                                         0,
		`cgroupd_actions_total{kind="kill",reason="pressure_host_memory"}`:     0,
		`cgroupd_actions_total{kind="kill",reason="pressure_host_psi"}`:        0,
		`cgroupd_build_info{version="` + bi() + `",goversion="` + gov() + `"}`: 1,
	} {
		if got, ok := s[k]; !ok || got != want {
			t.Errorf("%s: got %v (present %v), want %v", k, got, ok, want)
		}
	}
	if _, ok := s["cgroupd_pressure_window_seconds"]; ok {
		t.Error("got cgroupd_pressure_window_seconds without an engine measurement, want it absent")
	}
}

// The dropped event lines are the hub's figure, read from the hub.
func TestMetricsEventsDropped(t *testing.T) {
	m := New(Config{Events: dropped(7)}, &fakeJobs{})
	if got := series(t, string(m.appendMetrics(nil, time.Now(), nil)))["cgroupd_events_dropped_total"]; got != 7 {
		t.Errorf("cgroupd_events_dropped_total %v, want the hub's 7", got)
	}
}

type dropped uint64

func (d dropped) Dropped() uint64 { return uint64(d) }

func bi() string  { v, _ := buildInfo(); return v }
func gov() string { _, g := buildInfo(); return g }

// writePSI writes a fake host pressure file for --host-pressure.
// BenchmarkAppendMetrics renders the exposition for 10 000 live jobs with
// cached figures: the part of METRICS and of a --metrics-file write that
// does not depend on the kernel.
func BenchmarkAppendMetrics(b *testing.B) {
	src := &fakeJobs{}
	d := New(Config{}, src)
	d.samples = map[*supervisor.Job]jobSample{}
	for i := 0; i < 10000; i++ {
		j := src.start("job-"+strconv.Itoa(i), 1000, "", 50)
		d.samples[j] = jobSample{mem: 1 << 20, pids: 3, cpuUsec: 123456, memOK: true, pidsOK: true, cpuOK: true}
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(d.appendMetrics(nil, time.Now(), nil))
	}
	b.ReportMetric(float64(n), "bytes")
}

// TestRefreshSamples: the per-job cache over a fake cgroup tree: one call
// reads every live job once, an unreadable file leaves its figure absent,
// a job that ended drops out, and the pass duration appears after a pass.
func TestRefreshSamples(t *testing.T) {
	root := t.TempDir()
	src := &fakeJobs{}
	d := New(Config{}, src)
	var jobs []*supervisor.Job
	for i := 0; i < 5; i++ {
		id := "j" + strconv.Itoa(i)
		cg := cgroup.Dir(filepath.Join(root, id))
		if err := os.Mkdir(string(cg), 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{cgroup.FilePidsCurrent: "2\n", cgroup.FileCPUStat: "usage_usec 1500000\nuser_usec 1\n"}
		if i != 3 { // j3: no memory controller
			files[cgroup.FileMemoryCurrent] = strconv.Itoa(4096*(i+1)) + "\n"
		}
		for f, v := range files {
			if err := os.WriteFile(filepath.Join(string(cg), f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		j := src.start(id, 1000, cg, 10*i)
		jobs = append(jobs, j)
	}
	if n := d.refreshSamples(time.Hour); n != 5 {
		t.Fatalf("first call read %d jobs, want 5 (each once)", n)
	}
	s := series(t, string(d.appendMetrics(nil, time.Now(), nil)))
	for k, want := range map[string]float64{
		`cgroupd_job_memory_bytes{id="j0",priority="0",uid="1000"}`:       4096,
		`cgroupd_job_memory_bytes{id="j4",priority="40",uid="1000"}`:      20480,
		`cgroupd_job_pids{id="j3",priority="30",uid="1000"}`:              2,
		`cgroupd_job_cpu_seconds_total{id="j2",priority="20",uid="1000"}`: 1.5,
	} {
		if got, ok := s[k]; !ok || got != want {
			t.Errorf("%s: got %v (present %v), want %v", k, got, ok, want)
		}
	}
	if _, ok := s[`cgroupd_job_memory_bytes{id="j3",priority="30",uid="1000"}`]; ok {
		t.Error("memory of j3 (no memory.current): present, want absent")
	}
	if _, ok := s["cgroupd_job_figures_cycle_seconds"]; ok {
		t.Error("cgroupd_job_figures_cycle_seconds before a whole pass: present, want absent")
	}
	// j1 ends; the next pass drops it and times the previous one.
	jobs[1].MainExited(spawn.Status{}, "", time.UnixMilli(20), 0)
	jobs[1].End(job.Figures{})
	src.live = append(src.live[:1], src.live[2:]...)
	if n := d.refreshSamples(time.Hour); n != 4 {
		t.Errorf("second call read %d jobs, want 4", n)
	}
	s = series(t, string(d.appendMetrics(nil, time.Now(), nil)))
	if _, ok := s[`cgroupd_job_pids{id="j1",priority="10",uid="1000"}`]; ok {
		t.Error("ended job j1: present, want absent")
	}
	if _, ok := s["cgroupd_job_figures_cycle_seconds"]; !ok {
		t.Error("cgroupd_job_figures_cycle_seconds after a pass: absent")
	}
	if n := d.refreshSamples(0); n != 0 {
		t.Errorf("zero budget read %d jobs, want 0", n)
	}
	promtool(t, "per-job figures", d.appendMetrics(nil, time.Now(), nil))
}

// fakeJobs is a Source of made-up running jobs.
type fakeJobs struct {
	live []*supervisor.Job
}

func (f *fakeJobs) start(id string, uid uint32, cg cgroup.Dir, priority int) *supervisor.Job {
	m := job.Make(job.Spec{ID: id, UID: uid, GID: uid, Cgroup: cg, Priority: priority})
	m.Start(42, "", time.UnixMilli(10), 0, uint64(len(f.live)+1))
	j := supervisor.Detached(m)
	f.live = append(f.live, j)
	return j
}

func (f *fakeJobs) ByState() map[string]int {
	n := map[string]int{}
	for _, j := range f.live {
		n[j.State()]++
	}
	return n
}

func (f *fakeJobs) Counts() (running, frozen, pending int) { return len(f.live), 0, 0 }
func (f *fakeJobs) LiveJobs() []*supervisor.Job            { return f.live }
func (f *fakeJobs) Pressure() (pressure.Measurements, bool) {
	return pressure.Measurements{}, false
}
