package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/metrics/promtest"
	"cgroupd/core/cgroup"
)

func promtool(t *testing.T, what string, text []byte) { promtest.Check(t, what, text) }

func series(t *testing.T, text string) map[string]float64 { return promtest.Series(t, text) }

func writePSI(t *testing.T, dir, res string, someAvg10 string) {
	t.Helper()
	s := "some avg10=" + someAvg10 + " avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	if err := os.WriteFile(filepath.Join(dir, res), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsHost: METRICS on a real daemon, `cgroupctl metrics`, and
// --metrics-file, each checked by promtool and for the figures the
// actions taken must have moved.
func TestMetricsHost(t *testing.T) {
	hp := t.TempDir()
	for _, r := range []string{"memory", "cpu", "io"} {
		writePSI(t, hp, r, "0.00")
	}
	mdir := t.TempDir()
	mf := filepath.Join(mdir, "cgroupd.prom")
	d := startDaemon(t, "--host-pressure", hp, "--mem-admit-some-avg10", "10",
		"--metrics-file", mf, "--metrics-interval", "1s")

	// Written once before "cgroupd ready", with every counter at 0.
	first, err := os.ReadFile(mf)
	if err != nil {
		t.Fatalf("metrics file after ready: %v", err)
	}
	s0 := series(t, string(first))
	for _, k := range []string{`cgroupd_actions_total{kind="kill",reason="client"}`, `cgroupd_admission_refusals_total{resource="memory"}`,
		`cgroupd_jobs{state="running"}`, `cgroupd_jobs_started_total`} {
		if v, ok := s0[k]; !ok || v != 0 {
			t.Errorf("first metrics file: %s = %v (present %v), want 0", k, v, ok)
		}
	}
	promtool(t, "the first metrics file", first)

	mustOK(t, d.run("a", []string{"sleep", "300"}, "priority", "20"))
	mustOK(t, d.run("b", []string{"sleep", "300"}))
	mustOK(t, d.do("FREEZE", "id", "a"))
	mustOK(t, d.do("THAW", "id", "a"))
	mustOK(t, d.do("KILL", "id", "b"))
	writePSI(t, hp, "memory", "50.00")
	wantErr(t, d.run("c", []string{"true"}), "admission blocked: memory.some.avg10 50.00 >= 10.00")
	writePSI(t, hp, "memory", "0.00")
	mustOK(t, d.do("WAIT", "id", "b"))

	raw := d.rawRequest(encode("METRICS"))
	text, ok := strings.CutPrefix(raw, "STATUS: ok\n\n")
	if !ok {
		t.Fatalf("METRICS: got %.200q, want a STATUS: ok block then the text", raw)
	}
	s := series(t, text)
	for k, want := range map[string]float64{
		`cgroupd_jobs{state="running"}`:                        1,
		`cgroupd_jobs{state="killed"}`:                         1,
		`cgroupd_jobs{state="frozen"}`:                         0,
		`cgroupd_jobs_started_total`:                           2,
		`cgroupd_jobs_ended_total{state="killed"}`:             1,
		`cgroupd_actions_total{kind="freeze",reason="client"}`: 1,
		`cgroupd_actions_total{kind="thaw",reason="client"}`:   1,
		`cgroupd_actions_total{kind="kill",reason="client"}`:   1,
		`cgroupd_admission_refusals_total{resource="memory"}`:  1,
		`cgroupd_admission_queue_length`:                       0,
	} {
		if got, ok := s[k]; !ok || got != want {
			t.Errorf("%s: got %v (present %v), want %v", k, got, ok, want)
		}
	}
	// Per-job figures: present exactly when the kernel file is readable;
	// only the live job a; labels id, priority, uid.
	a := cgroup.Dir(d.root).Child("a")
	for _, f := range []struct{ metric, file string }{
		{"cgroupd_job_memory_bytes", cgroup.FileMemoryCurrent},
		{"cgroupd_job_pids", cgroup.FilePidsCurrent},
		{"cgroupd_job_cpu_seconds_total", cgroup.FileCPUStat},
	} {
		_, readErr := a.Read(f.file)
		_, got := s[f.metric+`{id="a",priority="20",uid="0"}`]
		if got != (readErr == nil) {
			t.Errorf("%s of a: present %v, but reading %s: %v", f.metric, got, f.file, readErr)
		}
		if _, got := s[f.metric+`{id="b",priority="50",uid="0"}`]; got {
			t.Errorf("%s of the ended job b: present, want absent", f.metric)
		}
	}
	// The engine's window figures come once it has two samples (the start
	// and a tick later).
	if _, err := os.Stat(filepath.Join(d.root, "memory.pressure")); err == nil {
		pollUntil(t, 10*time.Second, "cgroupd_pressure_stall_ratio in METRICS", func() bool {
			return strings.Contains(d.rawRequest(encode("METRICS")), "\ncgroupd_pressure_stall_ratio{resource=\"memory\",kind=\"full\"} ")
		})
	}
	promtool(t, "METRICS", []byte(text))

	// cgroupctl metrics prints the text alone.
	out, errOut, code := d.ctl("metrics")
	if code != 0 || errOut != "" {
		t.Fatalf("cgroupctl metrics: exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "# HELP cgroupd_build_info ") {
		t.Errorf("cgroupctl metrics: got %.100q, want the exposition text first", out)
	}
	promtool(t, "cgroupctl metrics", []byte(out))

	// The file follows (interval 1s), and no temp file stays behind.
	var file []byte
	pollUntil(t, 10*time.Second, "metrics file with the kill", func() bool {
		file, _ = os.ReadFile(mf)
		return bytes.Contains(file, []byte(`cgroupd_actions_total{kind="kill",reason="client"} 1`+"\n"))
	})
	promtool(t, "the metrics file", file)
	ents, _ := os.ReadDir(mdir)
	for _, e := range ents {
		if e.Name() != "cgroupd.prom" {
			t.Errorf("left in the metrics dir: %s", e.Name())
		}
	}
	if fi, err := os.Stat(mf); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("metrics file mode: %v %v, want 0644", fi.Mode(), err)
	}
}

func TestMetricsFileFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-interval", "500ms"}, "--metrics-interval: must be at least 1s"},
		{[]string{"--metrics-file", ""}, "-metrics-file: empty value"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q): got %v, want %q", tc.args, err, tc.want)
		}
	}
	c, err := parseFlags([]string{"--metrics-file", "/x/m.prom"})
	if err != nil || c.MetricsFile != "/x/m.prom" || c.MetricsInterval != 15*time.Second {
		t.Errorf("got %+v, %v; want the file and the 15s default", c, err)
	}
}

// TestMetricsFileUnwritable: a --metrics-file the daemon cannot write
// stops the start (exit 1) with the path in the message.
func TestMetricsFileUnwritable(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "missing-dir", "m.prom")
	d := startDaemonAt(t, newRootPath(t), filepath.Join(t.TempDir(), "s.sock"), "--metrics-file", mf)
	if code := d.waitExit(10 * time.Second); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if d.out.count(func(s string) bool { return strings.Contains(s, "metrics file: "+mf+": ") }) != 1 {
		all, _, _ := d.out.snapshot()
		t.Errorf("stderr %q, want one line naming %s", all, mf)
	}
}

// TestJSONRealDaemon: `cgroupctl --json` on every subcommand against a real
// daemon, each output decoded by encoding/json as exactly one object.
func TestJSONRealDaemon(t *testing.T) {
	d := startDaemon(t)
	decode := func(args ...string) (map[string]any, int) {
		t.Helper()
		out, errOut, code := d.ctl(append([]string{"--json"}, args...)...)
		dec := json.NewDecoder(strings.NewReader(out))
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v: decode %q (stderr %q): %v", args, out, errOut, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("%v: more than one JSON value in %q", args, out)
		}
		return v, code
	}
	check := func(args []string, wantCode int, want map[string]any) map[string]any {
		t.Helper()
		v, code := decode(args...)
		if code != wantCode {
			t.Errorf("%v: exit %d, want %d", args, code, wantCode)
		}
		for k, w := range want {
			if v[k] != w {
				t.Errorf("%v: %s = %#v, want %#v (all: %v)", args, k, v[k], w, v)
			}
		}
		return v
	}
	r := check([]string{"run", "--id", "a", "--", "sleep", "300"}, 0, map[string]any{"status": "ok", "id": "a"})
	if _, isNum := r["pid"].(float64); !isNum {
		t.Errorf("run: pid %#v, want a number", r["pid"])
	}
	check([]string{"run", "--id", "bad", "--cpu-max", "100000", "--", "true"}, 1,
		map[string]any{"status": "err", "reason": `cpu_max: invalid value "100000" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`, "id": "bad"})
	check([]string{"run", "--id", "sp", "--require-path", "/nonexistent/a \"b\"\x01\xff", "--", "true"}, 1,
		map[string]any{"status": "err", "reason": "missing path: /nonexistent/a \"b\"\x01\uFFFD"})
	in := check([]string{"inspect", "a"}, 0, map[string]any{"status": "ok", "id": "a", "state": "running", "oom_killed": false, "priority": float64(50)})
	if pids, ok := in["pids"].([]any); !ok || len(pids) != 1 || pids[0] != r["pid"] {
		t.Errorf("inspect: pids %#v, want [%v]", in["pids"], r["pid"])
	}
	if _, ok := in["psi_cpu_some_avg10"].(float64); !ok {
		t.Errorf("inspect: psi_cpu_some_avg10 %#v, want a number", in["psi_cpu_some_avg10"])
	}
	check([]string{"stats"}, 0, map[string]any{"status": "ok", "jobs": float64(1), "running": float64(1), "dry_run": false})
	check([]string{"freeze", "a"}, 0, map[string]any{"status": "ok", "id": "a", "state": "frozen"})
	check([]string{"thaw", "a"}, 0, map[string]any{"status": "ok", "id": "a", "state": "running"})
	check([]string{"remove", "a"}, 1, map[string]any{"status": "err", "reason": "still running", "state": "running"})
	check([]string{"kill", "a"}, 0, map[string]any{"status": "ok", "id": "a", "signal": float64(9)})
	check([]string{"wait", "a"}, 137, map[string]any{"status": "ok", "id": "a", "state": "killed", "signal": float64(9), "exit": float64(0)})
	ls := check([]string{"list"}, 0, map[string]any{"status": "ok", "count": float64(1)})
	if jobs, ok := ls["jobs"].([]any); !ok || len(jobs) != 1 || jobs[0].(map[string]any)["id"] != "a" {
		t.Errorf("list: jobs %#v, want one object for a", ls["jobs"])
	}
	check([]string{"remove", "a"}, 0, map[string]any{"status": "ok", "id": "a"})
	check([]string{"inspect", "a"}, 1, map[string]any{"status": "err", "reason": "no such job", "id": "a"})
	check([]string{"logs", "a"}, 1, map[string]any{"status": "err", "reason": "no such job"})
	check([]string{"ping"}, 0, map[string]any{"status": "ok", "pong": true})
	check([]string{"quit"}, 0, map[string]any{"status": "ok", "shutting_down": true})
}
