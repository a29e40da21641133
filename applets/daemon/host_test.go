package daemon

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Host integration tests: the real binary against this host's cgroup2.

var inspectKeys = strings.Fields(`id state pid priority exit signal oom_killed service_count
	require_path_count io_max_rule_count memory_current memory_swap_current pids_current
	cpu_usage_usec io_rbytes io_wbytes oom_kill_count age_ms start_mono_ms exit_mono_ms
	start_unix_ms exit_unix_ms pid_count pids cgroup log psi_mem_some_avg10 psi_mem_full_avg10
	psi_cpu_some_avg10 psi_io_some_avg10 psi_io_full_avg10`)

var listKeys = strings.Fields(`id state pid priority exit signal memory_current pids_current
	age_ms start_unix_ms exit_unix_ms cgroup`)

var statsKeys = strings.Fields(`root jobs running frozen memory_total psi_mem_some_avg10
	psi_mem_full_avg10 psi_cpu_some_avg10 psi_io_some_avg10 psi_io_full_avg10`)

func hasKeys(t *testing.T, what string, kv map[string]string, keys []string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := kv[k]; !ok {
			t.Errorf("%s: key %q missing in %v", what, k, kv)
		}
	}
}

// TestLifecycle runs, inspects, lists, kills, waits and removes a job with
// each spawn and kill path.
func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"clone3", nil},
		{"spawn-fallback", []string{"--spawn-fallback"}},
		{"kill-fallback", []string{"--kill-fallback"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDaemon(t, tc.args...)
			r := mustOK(t, d.run("life", []string{"sleep", "300"}, "priority", "20"))
			cg := filepath.Join(d.root, "life")
			if r.KV["id"] != "life" || r.KV["cgroup"] != cg || atoi(r.KV["pid"]) <= 0 {
				t.Fatalf("got RUN %v, want id life, cgroup %s and a pid", r.KV, cg)
			}
			pid := r.KV["pid"]
			if procs := readFile(t, filepath.Join(cg, "cgroup.procs")); procs != pid {
				t.Errorf("got cgroup.procs %q, want %q", procs, pid)
			}
			// The fallback helper execs the job just after it is released.
			pollUntil(t, 5*time.Second, "pid "+pid+" to exec sleep", func() bool {
				return readFile(t, "/proc/"+pid+"/comm") == "sleep"
			})
			d.out.waitEvent(t, "job.start", map[string]string{"id": "life", "pid": pid, "priority": "20", "cgroup": cg})

			in := mustOK(t, d.do("INSPECT", "id", "life"))
			hasKeys(t, "INSPECT", in.KV, inspectKeys)
			if in.KV["state"] != "running" || in.KV["pids"] != pid || in.KV["pid_count"] != "1" || in.KV["priority"] != "20" {
				t.Errorf("got INSPECT %v, want running with pids %s", in.KV, pid)
			}
			if in.KV["exit_unix_ms"] != "0" || atoi(in.KV["start_unix_ms"]) == 0 || atoi(in.KV["start_mono_ms"]) == 0 {
				t.Errorf("got times %s/%s/%s, want start set and exit 0", in.KV["start_unix_ms"], in.KV["start_mono_ms"], in.KV["exit_unix_ms"])
			}
			if !strings.Contains(in.KV["psi_cpu_some_avg10"], ".") || len(strings.Split(in.KV["psi_cpu_some_avg10"], ".")[1]) != 2 {
				t.Errorf("got psi_cpu_some_avg10 %q, want two decimals", in.KV["psi_cpu_some_avg10"])
			}
			ls := mustOK(t, d.do("LIST"))
			if ls.KV["count"] != "1" || len(ls.Blocks) != 1 {
				t.Fatalf("got LIST %q, want one job", ls.Raw)
			}
			hasKeys(t, "LIST", ls.Blocks[0], listKeys)
			st := mustOK(t, d.do("STATS"))
			hasKeys(t, "STATS", st.KV, statsKeys)
			if st.KV["root"] != d.root || st.KV["jobs"] != "1" || st.KV["running"] != "1" || st.KV["frozen"] != "0" {
				t.Errorf("got STATS %v, want root %s jobs 1 running 1 frozen 0", st.KV, d.root)
			}

			wantErr(t, d.do("REMOVE", "id", "life"), "still running")
			k := mustOK(t, d.do("KILL", "id", "life"))
			if k.KV["signal"] != "9" {
				t.Errorf("got KILL %v, want signal 9", k.KV)
			}
			w := mustOK(t, d.do("WAIT", "id", "life"))
			if w.KV["state"] != "killed" || w.KV["signal"] != "9" || w.KV["exit"] != "0" || w.KV["oom_killed"] != "0" {
				t.Errorf("got WAIT %v, want killed by signal 9", w.KV)
			}
			d.out.waitEvent(t, "job.kill", map[string]string{"id": "life", "signal": "9", "reason": "client"})
			ex := d.out.waitEvent(t, "job.exit", map[string]string{"id": "life", "state": "killed", "signal": "9"})
			if atoi(ex["exit_unix_ms"]) < atoi(ex["start_unix_ms"]) || atoi(ex["start_unix_ms"]) == 0 {
				t.Errorf("got job.exit times %v", ex)
			}
			if ev := readFile(t, filepath.Join(cg, "cgroup.events")); !strings.Contains(ev, "populated 0") {
				t.Errorf("got cgroup.events %q after WAIT, want populated 0", ev)
			}
			in = mustOK(t, d.do("INSPECT", "id", "life"))
			if in.KV["state"] != "killed" || in.KV["pids"] != "" || atoi(in.KV["exit_unix_ms"]) == 0 || atoi(in.KV["exit_mono_ms"]) == 0 {
				t.Errorf("got INSPECT after end %v", in.KV)
			}
			wantErr(t, d.do("KILL", "id", "life"), "job not running")
			mustOK(t, d.do("REMOVE", "id", "life"))
			if _, err := os.Stat(cg); !os.IsNotExist(err) {
				t.Errorf("got stat %s: %v, want not exist after REMOVE", cg, err)
			}
			d.out.waitEvent(t, "job.cleanup", map[string]string{"id": "life", "result": "removed"})
			wantErr(t, d.do("INSPECT", "id", "life"), "no such job")
			wantErr(t, d.do("REMOVE", "id", "life"), "no such job")

			// A short job, and its exit code through WAIT.
			mustOK(t, d.run("seven", []string{"sh", "-c", "exit 7"}))
			w = mustOK(t, d.do("WAIT", "id", "seven"))
			if w.KV["state"] != "failed" || w.KV["exit"] != "7" || w.KV["signal"] != "0" {
				t.Errorf("got WAIT %v, want failed exit 7", w.KV)
			}
			// Killing a job whose children keep running (the kill path under test).
			mustOK(t, d.run("tree", []string{"sh", "-c", "sleep 300 & sleep 300 & wait"}))
			pollUntil(t, 5*time.Second, "three processes in tree", func() bool {
				return len(strings.Fields(readFile(t, filepath.Join(d.root, "tree", "cgroup.procs")))) == 3
			})
			mustOK(t, d.do("KILL", "id", "tree"))
			w = mustOK(t, d.do("WAIT", "id", "tree"))
			if w.KV["state"] != "killed" {
				t.Errorf("got WAIT %v, want killed", w.KV)
			}
			if p := readFile(t, filepath.Join(d.root, "tree", "cgroup.procs")); p != "" {
				t.Errorf("got cgroup.procs %q after WAIT, want empty", p)
			}
		})
	}
}

// TestWaitExitCodes checks WAIT over the socket and cgroupctl's exit status.
func TestWaitExitCodes(t *testing.T) {
	d := startDaemon(t)
	for _, tc := range []struct {
		script string
		state  string
		exit   string
		signal string
		code   int // cgroupctl wait
	}{
		{"exit 0", "exited", "0", "0", 0},
		{"exit 7", "failed", "7", "0", 7},
		{"exit 42", "failed", "42", "0", 42},
		{"kill -TERM $$", "failed", "0", "15", 128 + 15},
		{"kill -KILL $$", "killed", "0", "9", 128 + 9},
	} {
		t.Run(tc.script, func(t *testing.T) {
			// The job outlives the test's WAIT requests by a little.
			r := mustOK(t, d.run("", []string{"sh", "-c", "sleep 0.3; " + tc.script}))
			id := r.KV["id"]
			if !strings.HasPrefix(id, "job-") {
				t.Errorf("got generated id %q, want job-<n>", id)
			}
			// Two waiters over the socket and one cgroupctl: all answered.
			var wg sync.WaitGroup
			resps := make([]response, 2)
			for i := range resps {
				wg.Add(1)
				go func() { defer wg.Done(); resps[i] = parseResponse(d.rawRequestNoFatal(encode("WAIT", "id", id))) }()
			}
			type ctlOut struct {
				out  string
				code int
			}
			ctlc := make(chan ctlOut, 1)
			go func() { o, _, c := d.ctl("wait", id); ctlc <- ctlOut{o, c} }()
			wg.Wait()
			for _, w := range resps {
				if w.Status != "ok" || w.KV["state"] != tc.state || w.KV["exit"] != tc.exit || w.KV["signal"] != tc.signal {
					t.Errorf("got WAIT %q, want state %s exit %s signal %s", w.Raw, tc.state, tc.exit, tc.signal)
				}
			}
			got := <-ctlc
			if got.code != tc.code {
				t.Errorf("got cgroupctl wait exit %d (%q), want %d", got.code, got.out, tc.code)
			}
			// WAIT on an ended job answers at once.
			w := mustOK(t, d.do("WAIT", "id", id))
			if w.KV["state"] != tc.state {
				t.Errorf("got late WAIT %v, want state %s", w.KV, tc.state)
			}
		})
	}
}

// rawRequestNoFatal is rawRequest for goroutines (no t.Fatal).
func (d *testDaemon) rawRequestNoFatal(b []byte) string {
	c, err := net.Dial("unix", d.sock)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write(b)
	c.(*net.UnixConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return string(out)
}

func TestFreezeThaw(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("ice", []string{"sleep", "300"}))
	cg := filepath.Join(d.root, "ice")
	f := mustOK(t, d.do("FREEZE", "id", "ice"))
	if f.KV["id"] != "ice" || f.KV["state"] != "frozen" {
		t.Errorf("got FREEZE %v, want state frozen", f.KV)
	}
	if ev := readFile(t, filepath.Join(cg, "cgroup.events")); !strings.Contains(ev, "frozen 1") {
		t.Errorf("got cgroup.events %q, want frozen 1", ev)
	}
	if s := mustOK(t, d.do("INSPECT", "id", "ice")).KV["state"]; s != "frozen" {
		t.Errorf("got INSPECT state %s, want frozen", s)
	}
	if st := mustOK(t, d.do("STATS")); st.KV["frozen"] != "1" || st.KV["running"] != "0" {
		t.Errorf("got STATS %v, want frozen 1 running 0", st.KV)
	}
	d.out.waitEvent(t, "job.freeze", map[string]string{"id": "ice", "reason": "client", "cgroup": cg})
	th := mustOK(t, d.do("THAW", "id", "ice"))
	if th.KV["state"] != "running" {
		t.Errorf("got THAW %v, want state running", th.KV)
	}
	if ev := readFile(t, filepath.Join(cg, "cgroup.events")); !strings.Contains(ev, "frozen 0") {
		t.Errorf("got cgroup.events %q, want frozen 0", ev)
	}
	d.out.waitEvent(t, "job.thaw", map[string]string{"id": "ice", "reason": "client", "cgroup": cg})

	// A frozen job still dies of SIGKILL.
	mustOK(t, d.do("FREEZE", "id", "ice"))
	mustOK(t, d.do("KILL", "id", "ice"))
	if w := mustOK(t, d.do("WAIT", "id", "ice")); w.KV["state"] != "killed" {
		t.Errorf("got WAIT %v, want killed", w.KV)
	}
	r := d.do("FREEZE", "id", "ice")
	wantErr(t, r, "job not running")
	if r.KV["state"] != "killed" {
		t.Errorf("got FREEZE of ended job %v, want state killed", r.KV)
	}
	wantErr(t, d.do("THAW", "id", "nope"), "no such job")
}

func TestKillSignal(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("sig", []string{"sleep", "300"}))
	for _, bad := range []string{"0", "65", "TERM", "-1"} {
		r := d.do("KILL", "id", "sig", "signal", bad)
		if r.Status != "err" || !strings.Contains(r.KV["reason"], "invalid signal") {
			t.Errorf("KILL signal %s: got %q, want invalid signal", bad, r.Raw)
		}
	}
	k := mustOK(t, d.do("KILL", "id", "sig", "signal", "15"))
	if k.KV["signal"] != "15" {
		t.Errorf("got KILL %v, want signal 15", k.KV)
	}
	w := mustOK(t, d.do("WAIT", "id", "sig"))
	if w.KV["state"] != "failed" || w.KV["signal"] != "15" {
		t.Errorf("got WAIT %v, want failed by signal 15", w.KV)
	}
	d.out.waitEvent(t, "job.kill", map[string]string{"id": "sig", "signal": "15", "reason": "client"})
	// cgroupctl's form.
	mustOK(t, d.run("sig2", []string{"sleep", "300"}))
	if out, errOut, code := d.ctl("kill", "sig2", "signal", "2"); code != 0 {
		t.Fatalf("cgroupctl kill: exit %d, %q %q", code, out, errOut)
	}
	if _, _, code := d.ctl("wait", "sig2"); code != 128+2 {
		t.Errorf("got cgroupctl wait exit %d, want %d", code, 128+2)
	}
}

func TestServices(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("svc", []string{"sleep", "300"}, "service", "exec sleep 301", "service", "exec sleep 302"))
	cg := filepath.Join(d.root, "svc")
	pollUntil(t, 5*time.Second, "three processes in the job's cgroup", func() bool {
		return len(strings.Fields(readFile(t, filepath.Join(cg, "cgroup.procs")))) == 3
	})
	in := mustOK(t, d.do("INSPECT", "id", "svc"))
	if in.KV["service_count"] != "2" || in.KV["pid_count"] != "3" {
		t.Errorf("got INSPECT %v, want service_count 2 pid_count 3", in.KV)
	}
	// The main pid's end stops the services; the status is the main's.
	mustOK(t, d.run("svc2", []string{"sh", "-c", "sleep 0.2; exit 5"}, "service", "sleep 300"))
	w := mustOK(t, d.do("WAIT", "id", "svc2"))
	if w.KV["state"] != "failed" || w.KV["exit"] != "5" || w.KV["signal"] != "0" {
		t.Errorf("got WAIT %v, want failed exit 5 (the main's status)", w.KV)
	}
	if p := readFile(t, filepath.Join(d.root, "svc2", "cgroup.procs")); p != "" {
		t.Errorf("got cgroup.procs %q after the main ended, want empty", p)
	}
	d.out.waitEvent(t, "job.exit", map[string]string{"id": "svc2", "state": "failed", "exit": "5"})
	if exits := len(filterEvents(d.out.events("job.exit"), "svc2")); exits != 1 {
		t.Errorf("got %d job.exit for svc2, want 1", exits)
	}
}

func filterEvents(evs []evt, id string) []evt {
	var out []evt
	for _, e := range evs {
		if e["id"] == id {
			out = append(out, e)
		}
	}
	return out
}

// TestRefusedRunLeavesNothing: every refused RUN creates no cgroup, emits
// no job.start, and INSPECT of its id says no such job.
func TestRefusedRunLeavesNothing(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("taken", []string{"sleep", "300"}))
	for _, tc := range []struct {
		name   string
		id     string
		req    []string
		reason string // exact, or prefix when it ends with "*"
	}{
		{"require_path", "rp", []string{"require_path", "/", "require_path", "/nonexistent/cgroupd-x", "arg", "true"}, "missing path: /nonexistent/cgroupd-x"},
		{"memory_max without controller", "mm", []string{"memory_max", "64M", "arg", "true"},
			"memory_max: controller memory not available in " + d.root},
		{"cpu_weight without controller", "cw", []string{"cpu_weight", "100", "arg", "true"},
			"cpu_weight: controller cpu not available in " + d.root},
		{"bad size", "bs", []string{"memory_max", "12Q", "arg", "true"}, "memory_max: *"},
		{"bad cpu_max", "cm", []string{"cpu_max", "0/0", "arg", "true"}, "cpu_max: *"},
		{"bare cpu_max quota", "cq", []string{"cpu_max", "100000", "arg", "true"}, "cpu_max: invalid value *"},
		{"no command", "nc", nil, "no command"},
		{"id exists", "taken", []string{"arg", "true"}, "id exists"},
		{"bad priority", "bp", []string{"priority", "500", "arg", "true"}, "priority: *"},
		{"env without =", "ev", []string{"env", "NOPE", "arg", "true"}, "env: *"},
		{"cwd missing", "cw2", []string{"cwd", "/nonexistent/dir", "arg", "true"}, "cwd: *"},
		{"executable missing", "ex", []string{"arg", "/nonexistent/cgroupd-bin"}, "spawn failed"},
		{"executable not in PATH", "ex2", []string{"arg", "cgroupd-no-such-command"}, "spawn failed"},
		{"hostile ../x", "../x", []string{"arg", "true"}, "id: *"},
		{"hostile .", ".", []string{"arg", "true"}, "id: *"},
		{"hostile ..", "..", []string{"arg", "true"}, "id: *"},
		{"hostile _x", "_x", []string{"arg", "true"}, "id: *"},
		{"hostile a/b", "a/b", []string{"arg", "true"}, "id: *"},
		{"hostile 65 chars", strings.Repeat("x", 65), []string{"arg", "true"}, "id: *"},
		{"hostile empty", "", []string{"arg", "true"}, "id: *"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := children(t, d.root)
			r := d.do("RUN", append([]string{"id", tc.id}, tc.req...)...)
			if r.Status != "err" {
				t.Fatalf("got %q, want refusal", r.Raw)
			}
			if p, ok := strings.CutSuffix(tc.reason, "*"); ok {
				if !strings.HasPrefix(r.KV["reason"], p) {
					t.Errorf("got reason %q, want prefix %q", r.KV["reason"], p)
				}
			} else if r.KV["reason"] != tc.reason {
				t.Errorf("got reason %q, want %q", r.KV["reason"], tc.reason)
			}
			if tc.reason == "spawn failed" && r.KV["detail"] == "" {
				t.Errorf("got %q, want a detail key", r.Raw)
			}
			if after := children(t, d.root); !slices.Equal(before, after) {
				t.Errorf("got cgroups %v after refusal, want %v", after, before)
			}
			if tc.id != "" && tc.id != "taken" {
				wantErr(t, d.do("INSPECT", "id", tc.id), "no such job")
				if n := len(filterEvents(d.out.events("job.start"), tc.id)); n != 0 {
					t.Errorf("got %d job.start for %q, want 0", n, tc.id)
				}
			}
		})
	}
	// Nothing escaped the root.
	if _, err := os.Stat(filepath.Join(filepath.Dir(d.root), "x")); err == nil {
		t.Errorf("a cgroup %q exists beside the root", "x")
	}
	d.out.waitEvent(t, "job.start", map[string]string{"id": "taken"}) // stderr lags the replies
	if n := len(d.out.events("job.start")); n != 1 {
		t.Errorf("got %d job.start events, want 1 (taken)", n)
	}
}

func TestAdmissionBlocked(t *testing.T) {
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		t.Skip("PSI not available: /proc/pressure/memory")
	}
	d := startDaemon(t, "--mem-admit-some-avg10", "0")
	r := d.run("adm", []string{"true"})
	if r.Status != "err" || !strings.HasPrefix(r.KV["reason"], "admission blocked: memory.some.avg10 ") ||
		!strings.HasSuffix(r.KV["reason"], " >= 0.00") {
		t.Fatalf("got %q, want admission blocked: memory.some.avg10 X.XX >= 0.00", r.Raw)
	}
	ev := d.out.waitEvent(t, "pressure", map[string]string{"resource": "memory", "action": "admission_reject", "target": "adm"})
	if !strings.Contains(ev["some_avg10"], ".") || !strings.Contains(ev["full_avg10"], ".") {
		t.Errorf("got pressure event %v, want some_avg10 and full_avg10", ev)
	}
	if c := children(t, d.root); len(c) != 0 {
		t.Errorf("got cgroups %v, want none", c)
	}
}

func TestLogs(t *testing.T) {
	logDir := t.TempDir()
	d := startDaemon(t, "-L", logDir)
	mustOK(t, d.run("hello", []string{"sh", "-c", "echo out-$FOO; pwd; echo err >&2"}, "env", "FOO=bar", "cwd", "/tmp"))
	mustOK(t, d.do("WAIT", "id", "hello"))
	raw := d.rawRequest(encode("LOGS", "id", "hello"))
	want := "STATUS: ok\nid: hello\n\nout-bar\n/tmp\nerr\n"
	if raw != want {
		t.Errorf("got LOGS %q, want %q", raw, want)
	}
	if in := mustOK(t, d.do("INSPECT", "id", "hello")); in.KV["log"] != filepath.Join(logDir, "hello.log") {
		t.Errorf("got log %q, want %q", in.KV["log"], filepath.Join(logDir, "hello.log"))
	}
	wantErr(t, d.do("LOGS", "id", "nope"), "no such job")

	// A spawn that fails after the log was opened leaves no log behind.
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte{0x7f, 'E', 'L', 'F', 0, 0}, 0o755); err != nil {
		t.Fatal(err)
	}
	r := d.run("junk", []string{junk})
	wantErr(t, r, "spawn failed")
	if _, err := os.Stat(filepath.Join(logDir, "junk.log")); !os.IsNotExist(err) {
		t.Errorf("got junk.log (%v) after a refused RUN, want none", err)
	}
	if _, err := os.Stat(filepath.Join(d.root, "junk")); !os.IsNotExist(err) {
		t.Errorf("got cgroup junk (%v) after a refused RUN, want none", err)
	}

	// A big log streams completely.
	mustOK(t, d.run("big", []string{"sh", "-c", "seq 1 400000"}))
	mustOK(t, d.do("WAIT", "id", "big"))
	raw = d.rawRequest(encode("LOGS", "id", "big"))
	body, ok := strings.CutPrefix(raw, "STATUS: ok\nid: big\n\n")
	if fi, err := os.Stat(filepath.Join(logDir, "big.log")); !ok || err != nil || int64(len(body)) != fi.Size() ||
		!strings.HasSuffix(body, "\n400000\n") {
		t.Errorf("got LOGS of %d bytes (header ok %v), want the whole file", len(body), ok)
	}

	// --follow streams as the job writes and ends when the job ends.
	mustOK(t, d.run("follow", []string{"sh", "-c", "echo one; sleep 0.3; echo two"}))
	c := d.dial()
	defer c.Close()
	c.Write(encode("LOGS", "id", "follow", "follow", "1"))
	c.(*net.UnixConn).CloseWrite()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read LOGS --follow: %v", err)
	}
	if got, want := string(all), "STATUS: ok\nid: follow\n\none\ntwo\n"; got != want {
		t.Errorf("got LOGS --follow %q, want %q", got, want)
	}
	if in := mustOK(t, d.do("INSPECT", "id", "follow")); in.KV["state"] != "exited" {
		t.Errorf("got state %s after follow ended, want exited", in.KV["state"])
	}

	// cgroupctl logs, and --follow on a job that runs a while.
	mustOK(t, d.run("slow", []string{"sh", "-c", "for i in 1 2 3; do echo tick$i; sleep 0.2; done"}))
	out, errOut, code := d.ctl("logs", "slow", "--follow")
	if code != 0 || out != "tick1\ntick2\ntick3\n" {
		t.Errorf("got cgroupctl logs --follow exit %d stdout %q stderr %q, want tick1..3", code, out, errOut)
	}
	if fi, err := os.Stat(filepath.Join(logDir, "slow.log")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("got log file %v %v, want mode 0640", fi.Mode(), err)
	}
}

func TestLogsWithoutLogDir(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("nolog", []string{"true"}))
	wantErr(t, d.do("LOGS", "id", "nolog"), "no log")
	if in := mustOK(t, d.do("INSPECT", "id", "nolog")); in.KV["log"] != "" {
		t.Errorf("got log %q, want empty", in.KV["log"])
	}
}

// TestProtocolErrors: malformed headers, unknown verb, oversized and
// silent clients never hurt the daemon.
func TestProtocolErrors(t *testing.T) {
	d := startDaemon(t)
	r := parseResponse(d.rawRequest([]byte("RUN\nno colon here\n\n")))
	wantErr(t, r, "malformed headers")
	r = parseResponse(d.rawRequest([]byte("FROB\n\n")))
	wantErr(t, r, "unknown verb")
	if r.KV["verb"] != "FROB" {
		t.Errorf("got %q, want verb: FROB", r.Raw)
	}
	// Half-close ends a request without the blank line.
	if r := parseResponse(d.rawRequest([]byte("  PING  \n"))); r.Status != "ok" || r.KV["pong"] != "1" {
		t.Errorf("got %q, want pong", r.Raw)
	}

	t.Run("silent client does not delay PING", func(t *testing.T) {
		silent := d.dial()
		defer silent.Close()
		half := d.dial()
		defer half.Close()
		half.Write([]byte("RUN\nid: x\n")) // unfinished, never completed
		start := time.Now()
		r := d.do("PING")
		if r.KV["pong"] != "1" {
			t.Fatalf("got %q, want pong", r.Raw)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("PING took %v with a silent client connected, want < 1s", el)
		}
	})

	t.Run("oversized request is refused", func(t *testing.T) {
		c := d.dial()
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		go func() {
			chunk := bytes.Repeat([]byte("arg: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"), 1024)
			c.Write([]byte("RUN\n"))
			for sent := 0; sent <= 5<<20; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return // the daemon closed on us: expected
				}
			}
		}()
		out, _ := io.ReadAll(c)
		r := parseResponse(string(out))
		if r.Status != "err" || r.KV["reason"] != "request too large" {
			t.Errorf("got %q, want request too large", r.Raw)
		}
		if r := d.do("PING"); r.KV["pong"] != "1" {
			t.Errorf("got %q after an oversized request, want pong", r.Raw)
		}
	})

	t.Run("client gone before the reply", func(t *testing.T) {
		mustOK(t, d.run("w", []string{"sleep", "300"}))
		for i := 0; i < 20; i++ {
			c := d.dial()
			c.Write(encode("WAIT", "id", "w"))
			c.Close()
		}
		mustOK(t, d.do("KILL", "id", "w"))
		mustOK(t, d.do("WAIT", "id", "w"))
		mustOK(t, d.do("PING"))
	})

	// A RUN waits its turn on the loop (handle); one whose client hung up
	// meanwhile still runs, as it did when a RUN ran at once.
	t.Run("RUN whose client is gone before the reply", func(t *testing.T) {
		const n = 20
		for i := 0; i < n; i++ {
			c := d.dial()
			c.Write(encode("RUN", "id", fmt.Sprintf("gone%02d", i), "arg", "true"))
			c.Close()
		}
		pollUntil(t, 30*time.Second, "their job.start events", func() bool {
			k := 0
			for _, e := range d.out.events("job.start") {
				if strings.HasPrefix(e["id"], "gone") {
					k++
				}
			}
			return k == n
		})
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("gone%02d", i)
			mustOK(t, d.do("WAIT", "id", id))
			mustOK(t, d.do("REMOVE", "id", id))
		}
	})
}

func TestList1000(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	d := startDaemon(t)
	fdDir := fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)
	idle, err := os.ReadDir(fdDir) // the daemon's own: socket, loop, watches, spares
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := 0; i < n; i++ {
		mustOK(t, d.run(fmt.Sprintf("j%04d", i), []string{"/bin/true"}))
	}
	ls := mustOK(t, d.do("LIST"))
	if ls.KV["count"] != strconv.Itoa(n) || len(ls.Blocks) != n {
		t.Fatalf("got count %s and %d blocks, want %d", ls.KV["count"], len(ls.Blocks), n)
	}
	for i, b := range ls.Blocks {
		if want := fmt.Sprintf("j%04d", i); b["id"] != want {
			t.Fatalf("block %d: got id %q, want %q (start order)", i, b["id"], want)
		}
	}
	// Every job ends exactly once, and an ended job holds no fd.
	pollUntil(t, 30*time.Second, "1000 job.exit events", func() bool { return len(d.out.events("job.exit")) >= n })
	if fds, err := os.ReadDir(fdDir); err != nil || len(fds) > len(idle)+2 {
		t.Errorf("got %d open fds (%v) with %d ended jobs, want at most %d (%d before any job)", len(fds), err, n, len(idle)+2, len(idle))
	}
	d.stop()
	if code := d.waitExit(30 * time.Second); code != 0 {
		t.Errorf("got exit %d, want 0", code)
	}
	if got := len(d.out.events("job.cleanup")); got != n {
		t.Errorf("got %d job.cleanup at shutdown, want %d", got, n)
	}
}

// TestShutdown: SIGTERM kills the jobs, removes their cgroups and the
// socket, exits 0; every job has exactly one job.start and one job.exit.
func TestShutdown(t *testing.T) {
	for _, how := range []string{"SIGTERM", "SIGINT", "QUIT"} {
		t.Run(how, func(t *testing.T) {
			d := startDaemon(t, "-d") // -d logs each request as it is taken
			mustOK(t, d.run("a", []string{"sleep", "300"}))
			mustOK(t, d.run("b", []string{"sh", "-c", "sleep 300 & wait"}, "service", "exec sleep 300"))
			mustOK(t, d.run("c", []string{"true"}))
			mustOK(t, d.do("WAIT", "id", "c"))
			// A WAIT in progress is answered when shutdown kills its job.
			waitc := make(chan string, 1)
			go func() { waitc <- d.rawRequestNoFatal(encode("WAIT", "id", "a")) }()
			// c's WAIT above was the first one the daemon logged.
			pollUntil(t, 5*time.Second, "the daemon to take the WAIT", func() bool {
				return d.out.count(func(s string) bool { return strings.HasPrefix(s, "cgroupd: debug: ") && strings.HasSuffix(s, ": WAIT") }) == 2
			})
			pollUntil(t, 5*time.Second, "b's processes", func() bool {
				return len(strings.Fields(readFile(t, filepath.Join(d.root, "b", "cgroup.procs")))) == 3
			})
			switch how {
			case "SIGTERM":
				d.cmd.Process.Signal(syscall.SIGTERM)
			case "SIGINT":
				d.cmd.Process.Signal(syscall.SIGINT)
			case "QUIT":
				r := mustOK(t, d.do("QUIT"))
				if r.KV["shutting_down"] != "1" {
					t.Errorf("got %q, want shutting_down: 1", r.Raw)
				}
			}
			if code := d.waitExit(15 * time.Second); code != 0 {
				t.Errorf("got exit %d, want 0", code)
			}
			w := parseResponse(<-waitc)
			if w.KV["state"] != "killed" {
				t.Errorf("got WAIT during shutdown %q, want state killed", w.Raw)
			}
			// The root this daemon made goes too, its jobs' cgroups first.
			if _, err := os.Stat(d.root); err == nil {
				t.Errorf("root %s still there after shutdown (cgroups %v), want it removed", d.root, children(t, d.root))
			}
			if _, err := os.Lstat(d.sock); !os.IsNotExist(err) {
				t.Errorf("socket still there after shutdown: %v", err)
			}
			starts, exits := map[string]int{}, map[string]int{}
			for _, ev := range d.out.events("") {
				switch ev["type"] {
				case "job.start":
					starts[ev["id"]]++
				case "job.exit":
					exits[ev["id"]]++
				}
			}
			for _, id := range []string{"a", "b", "c"} {
				if starts[id] != 1 || exits[id] != 1 {
					t.Errorf("job %s: got %d job.start and %d job.exit, want 1 each", id, starts[id], exits[id])
				}
			}
			if n := len(d.out.events("job.cleanup")); n != 3 {
				t.Errorf("got %d job.cleanup, want 3", n)
			}
			all, _, _ := d.out.snapshot()
			for _, s := range all {
				if strings.HasPrefix(s, "EVENT ") && !strings.HasPrefix(s, "EVENT schema=cgroupd.v1 ts_unix_ms=") {
					t.Errorf("malformed event line %q", s)
				}
			}
		})
	}
}

// TestStartup: usage, refusal of non-cgroup2 roots and live sockets,
// replacement of a stale socket.
func TestStartup(t *testing.T) {
	hostMount(t)
	t.Run("help", func(t *testing.T) {
		out, err := execBin("cgroupd", "-h")
		if err != nil || !strings.Contains(out, "usage: cgroupd") {
			t.Errorf("got %v %q, want usage and exit 0", err, out)
		}
		_, err = execBin("cgroupd", "--frob")
		if code := exitCode(err); code != 2 {
			t.Errorf("got exit %d for a bad flag, want 2", code)
		}
	})
	t.Run("not cgroup2", func(t *testing.T) {
		dir := t.TempDir()
		root := filepath.Join(dir, "cgroupd.slice")
		out, err := execBin("cgroupd", "-r", root, "-s", filepath.Join(dir, "s.sock"))
		if code := exitCode(err); code != 1 || !strings.Contains(out, "not a cgroup2") {
			t.Errorf("got exit %d %q, want 1 and not a cgroup2 filesystem", code, out)
		}
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Errorf("root %s was created on a non-cgroup2 filesystem", root)
		}
	})
	t.Run("live socket", func(t *testing.T) {
		d := startDaemon(t)
		root2 := newRootPath(t)
		out, err := execBin("cgroupd", "-r", root2, "-s", d.sock)
		if code := exitCode(err); code != 1 || !strings.Contains(out, d.sock+": address already in use") {
			t.Errorf("got exit %d %q, want 1 and address already in use", code, out)
		}
		if _, err := os.Stat(root2); !os.IsNotExist(err) {
			removeTree(t, root2)
			t.Errorf("second daemon created its root")
		}
		mustOK(t, d.do("PING"))
	})
	t.Run("stale socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "stale.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		d := startDaemonAt(t, newRootPath(t), sock)
		d.out.waitLine(t, 10*time.Second, "cgroupd ready", func(s string) bool { return s == "cgroupd ready" })
		mustOK(t, d.do("PING"))
		fi, err := os.Stat(sock)
		if err != nil || fi.Mode().Perm() != 0o660 {
			t.Errorf("got socket mode %v (%v), want 0660", fi.Mode().Perm(), err)
		}
		if line := d.out.waitLine(t, time.Second, "using cgroup root", func(s string) bool {
			return strings.HasPrefix(s, "using cgroup root: ")
		}); line != "using cgroup root: "+d.root {
			t.Errorf("got %q, want using cgroup root: %s", line, d.root)
		}
	})
}

func execBin(applet string, args ...string) (string, error) {
	cmd := execCommand(filepath.Join(binDir, applet), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestNonRootCaller: a client of another uid runs jobs as itself and sees
// only its own jobs.
func TestNonRootCaller(t *testing.T) {
	hostMount(t)
	const nobody = 65534
	logDir := t.TempDir()
	os.Chmod(logDir, 0o755)
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "-L", logDir)
	fi, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Gid != nobody {
		t.Errorf("got socket gid %d, want %d", st.Gid, nobody)
	}
	mustOK(t, d.run("rootjob", []string{"sleep", "300"}))
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	out, errOut, code := d.ctlAs(cred, "run", "--id", "mine", "--cwd", "/tmp", "--", "sh", "-c", "id -u; sleep 300")
	if code != 0 {
		t.Fatalf("cgroupctl run as nobody: exit %d %q %q", code, out, errOut)
	}
	pid := parseResponse(out).KV["pid"]
	status := readFile(t, "/proc/"+pid+"/status")
	if !strings.Contains(status, "\nUid:\t65534\t65534\t65534\t65534\n") || !strings.Contains(status, "\nGid:\t65534\t65534\t65534\t65534\n") {
		t.Errorf("job of nobody: got /proc status %q, want uid and gid 65534", status)
	}
	out, _, code = d.ctlAs(cred, "list")
	r := parseResponse(out)
	if code != 0 || r.KV["count"] != "1" || len(r.Blocks) != 1 || r.Blocks[0]["id"] != "mine" {
		t.Errorf("nobody's list: got %q, want only mine", out)
	}
	for _, args := range [][]string{{"inspect", "rootjob"}, {"kill", "rootjob"}, {"wait", "rootjob"}, {"remove", "rootjob"}, {"freeze", "rootjob"}, {"logs", "rootjob"}} {
		out, _, code := d.ctlAs(cred, args...)
		if code != 1 || !strings.Contains(out, "reason: no such job") {
			t.Errorf("nobody's %v: got exit %d %q, want no such job", args, code, out)
		}
	}
	if out, _, _ := d.ctlAs(cred, "quit"); !strings.Contains(out, "STATUS: err") {
		t.Errorf("nobody's quit: got %q, want refused", out)
	}
	if ls := mustOK(t, d.do("LIST")); ls.KV["count"] != "2" {
		t.Errorf("root's LIST: got count %s, want 2", ls.KV["count"])
	}
	if fi, err := os.Stat(filepath.Join(logDir, "mine.log")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Errorf("log of nobody's job: got %v, want owned by %d", err, nobody)
	}
	// nobody can read its job's log through the daemon, and kill its job.
	if _, _, code := d.ctlAs(cred, "kill", "mine"); code != 0 {
		t.Errorf("nobody's kill of its own job: exit %d", code)
	}
	out, _, code = d.ctlAs(cred, "logs", "mine")
	if code != 0 || out != "65534\n" {
		t.Errorf("nobody's logs: got exit %d %q, want 65534", code, out)
	}
}

func TestRequestTimeout(t *testing.T) {
	d := startDaemon(t, "--request-timeout", "1s")
	c := d.dial()
	defer c.Close()
	c.Write([]byte("PING\n")) // never finished
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	wantErr(t, parseResponse(string(out)), "request timeout")
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("timed out after %v, want about 1s", el)
	}
	mustOK(t, d.do("PING"))
}

// startDelegated starts a daemon for root from inside the cgroup start
// (root itself, or a child of it as systemd's DelegateSubgroup= makes),
// waits until it is ready and checks that it moved into <root>/_daemon.
func startDelegated(t *testing.T, root, start string) *testDaemon {
	t.Helper()
	if err := os.MkdirAll(start, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(t, root) })
	fd, err := syscall.Open(start, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	d := startDaemonCmd(t, root, filepath.Join(t.TempDir(), "s.sock"), func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	})
	d.out.waitLine(t, 10*time.Second, "cgroupd ready", func(s string) bool { return s == "cgroupd ready" })
	pid := strconv.Itoa(d.cmd.Process.Pid)
	if got := readFile(t, filepath.Join(root, "_daemon", "cgroup.procs")); got != pid {
		t.Errorf("got _daemon/cgroup.procs %q, want the daemon's pid %s", got, pid)
	}
	return d
}

// TestDelegatedRoot: a daemon whose own cgroup is its root moves itself
// into <root>/_daemon and runs jobs beside it.
func TestDelegatedRoot(t *testing.T) {
	root := newRootPath(t)
	d := startDelegated(t, root, root)
	if got := readFile(t, filepath.Join(root, "cgroup.procs")); got != "" {
		t.Errorf("got root cgroup.procs %q, want empty", got)
	}
	r := mustOK(t, d.run("j", []string{"true"}))
	if r.KV["cgroup"] != filepath.Join(root, "j") {
		t.Errorf("got cgroup %q, want %s", r.KV["cgroup"], filepath.Join(root, "j"))
	}
	mustOK(t, d.do("WAIT", "id", "j"))
	if ls := mustOK(t, d.do("LIST")); ls.KV["count"] != "1" {
		t.Errorf("got LIST count %s, want 1 (_daemon is not a job)", ls.KV["count"])
	}
	d.stop()
	if code := d.waitExit(10 * time.Second); code != 0 {
		t.Errorf("got exit %d, want 0", code)
	}
}

// TestDelegateSubgroup: a daemon started in a child of its root, as
// systemd's DelegateSubgroup=start does, moves itself into <root>/_daemon
// and removes the emptied child, so it is not reported as unknown.
func TestDelegateSubgroup(t *testing.T) {
	root := newRootPath(t)
	sub := filepath.Join(root, "start")
	d := startDelegated(t, root, sub)
	if _, err := os.Stat(sub); !os.IsNotExist(err) {
		t.Errorf("%s left after the daemon moved out (stat: %v)", sub, err)
	}
	if ev := d.out.events("cgroup.unknown"); len(ev) != 0 {
		t.Errorf("the daemon reported unknown cgroups: %v", ev)
	}
	d.stop()
	if code := d.waitExit(10 * time.Second); code != 0 {
		t.Errorf("got exit %d, want 0", code)
	}
}

// TestNonRootDaemon: a daemon running as nobody in a cgroup delegated to
// it (owned by nobody, as systemd's Delegate=yes does) moves itself into
// _daemon, runs nobody's jobs and refuses to run jobs as anyone else.
func TestNonRootDaemon(t *testing.T) {
	const nobody = 65534
	root := newRootPath(t)
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(t, root) })
	for _, p := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(root, p), nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := syscall.Open(root, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	dir, err := os.MkdirTemp("", "cgroupd-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chown(dir, nobody, nobody)
	d := startDaemonCmd(t, root, filepath.Join(dir, "s.sock"), func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd,
			Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	})
	d.out.waitLine(t, 10*time.Second, "cgroupd ready", func(s string) bool { return s == "cgroupd ready" })
	if got := readFile(t, filepath.Join(root, "_daemon", "cgroup.procs")); got != strconv.Itoa(d.cmd.Process.Pid) {
		t.Errorf("got _daemon/cgroup.procs %q, want the daemon's pid", got)
	}
	// Root's request: the daemon cannot run jobs as uid 0.
	r := d.run("asroot", []string{"true"})
	wantErr(t, r, "permission denied")
	if !strings.Contains(r.KV["detail"], "cannot run jobs as uid 0") {
		t.Errorf("got %q, want a detail naming the uid", r.Raw)
	}
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	out, errOut, code := d.ctlAs(cred, "run", "--id", "mine", "--", "sleep", "300")
	if code != 0 {
		t.Fatalf("cgroupctl run as nobody: exit %d %q %q", code, out, errOut)
	}
	pid := parseResponse(out).KV["pid"]
	if st := readFile(t, "/proc/"+pid+"/status"); !strings.Contains(st, "\nUid:\t65534\t65534\t65534\t65534\n") {
		t.Errorf("got status %q, want uid 65534", st)
	}
	if _, _, code := d.ctlAs(cred, "kill", "mine"); code != 0 {
		t.Errorf("kill: exit %d", code)
	}
	if _, _, code := d.ctlAs(cred, "wait", "mine"); code != 128+9 {
		t.Errorf("got wait exit %d, want %d", code, 128+9)
	}
	if out, _, code := d.ctlAs(cred, "quit"); code != 0 {
		t.Errorf("nobody's quit of its own daemon: exit %d %q", code, out)
	}
	if code := d.waitExit(10 * time.Second); code != 0 {
		t.Errorf("got exit %d, want 0", code)
	}
	if c := children(t, root); len(c) != 1 || c[0] != "_daemon" {
		t.Errorf("got cgroups %v after shutdown, want only _daemon", c)
	}
}

// TestKillFallbackWhileForking: with --kill-fallback a job that keeps
// forking is killed whole by rounds the loop drives (no wait on it): PING
// is answered while the kill is in progress, WAIT says killed, and the
// cgroup ends empty.
func TestKillFallbackWhileForking(t *testing.T) {
	d := startDaemon(t, "--kill-fallback", "-d")
	mustOK(t, d.run("forker", []string{"sh", "-c", "i=0; while [ $i -lt 3000 ]; do sleep 600 & i=$((i+1)); done; wait"}))
	cg := filepath.Join(d.root, "forker")
	pollUntil(t, 30*time.Second, "200 processes in the job", func() bool {
		return strings.Count(readFile(t, filepath.Join(cg, "cgroup.procs")), "\n") >= 199
	})
	mustOK(t, d.do("KILL", "id", "forker"))
	mustOK(t, d.do("PING"))
	w := mustOK(t, d.do("WAIT", "id", "forker"))
	if w.KV["state"] != "killed" {
		t.Errorf("got WAIT %v, want killed", w.KV)
	}
	if ev := readFile(t, filepath.Join(cg, "cgroup.events")); !strings.Contains(ev, "populated 0") {
		t.Errorf("cgroup.events %q after WAIT, want populated 0", ev)
	}
	if n := d.out.count(func(s string) bool { return strings.Contains(s, "still populated") }); n != 0 {
		t.Errorf("%d 'still populated' lines", n)
	}
	mustOK(t, d.do("REMOVE", "id", "forker"))
}
