package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFreezeThawIdempotent: a second FREEZE of a job a client froze, or a
// THAW of a running job nobody froze, answers ok with already: 1 and
// changes nothing: no second job.freeze or job.thaw (the C tool froze
// again and reported it twice).
func TestFreezeThawIdempotent(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("f", []string{"sleep", "100"}))
	if r := mustOK(t, d.do("THAW", "id", "f")); r.KV["already"] != "1" || r.KV["state"] != "running" {
		t.Errorf("THAW of a running job: %q, want ok, state running, already 1", r.Raw)
	}
	if r := mustOK(t, d.do("FREEZE", "id", "f")); r.KV["state"] != "frozen" || r.KV["already"] != "" {
		t.Fatalf("FREEZE: %q, want frozen (and no already)", r.Raw)
	}
	if r := mustOK(t, d.do("FREEZE", "id", "f")); r.KV["already"] != "1" || r.KV["state"] != "frozen" {
		t.Errorf("second FREEZE: %q, want ok, state frozen, already 1", r.Raw)
	}
	if r := mustOK(t, d.do("THAW", "id", "f")); r.KV["state"] != "running" || r.KV["already"] != "" {
		t.Fatalf("THAW: %q, want running", r.Raw)
	}
	if r := mustOK(t, d.do("THAW", "id", "f")); r.KV["already"] != "1" {
		t.Errorf("second THAW: %q, want already 1", r.Raw)
	}
	mustOK(t, d.do("KILL", "id", "f"))
	d.out.waitEvent(t, "job.exit", map[string]string{"id": "f"})
	for typ, want := range map[string]int{"job.freeze": 1, "job.thaw": 1} {
		if n := len(d.out.events(typ)); n != want {
			t.Errorf("got %d %s events, want %d", n, typ, want)
		}
	}
}

// TestRefusedRunTakesNoAutoID: only a RUN whose job starts (or is queued)
// takes an automatic id; one refused before leaves the next id free.
func TestRefusedRunTakesNoAutoID(t *testing.T) {
	d := startDaemon(t)
	r := d.do("RUN", "memory_max", "12Q", "arg", "true")
	if r.Status != "err" || !strings.Contains(r.KV["reason"], "memory_max") {
		t.Fatalf("RUN with a bad limit: %q, want a refusal naming memory_max", r.Raw)
	}
	if r := d.do("RUN", "arg", "/nonexistent/cmd"); r.Status != "err" {
		t.Fatalf("RUN of a missing command: %q, want a refusal", r.Raw)
	}
	if r := mustOK(t, d.do("RUN", "arg", "sleep", "arg", "100")); r.KV["id"] != "job-1" {
		t.Errorf("first started job got id %q, want job-1 (refused RUNs take no id)", r.KV["id"])
	}
	if r := mustOK(t, d.do("RUN", "arg", "sleep", "arg", "100")); r.KV["id"] != "job-2" {
		t.Errorf("second started job got id %q, want job-2", r.KV["id"])
	}
}

// TestQuitWaitCleansUp: `cgroupctl quit --wait` returns once the daemon
// has exited, and a clean shutdown leaves nothing this start created:
// neither the root cgroup nor the default state directory (issue 22 #8).
func TestQuitWaitCleansUp(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("q", []string{"sleep", "100"}))
	state := stateDirOf(d.root)
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("default state dir: %v", err)
	}
	out, errOut, code := d.ctl("quit", "--wait")
	if code != 0 || !strings.Contains(out, "shutting_down: 1") {
		t.Fatalf("quit --wait: exit %d, %q %q", code, out, errOut)
	}
	select {
	case <-d.exited:
	default:
		t.Fatal("quit --wait returned while the daemon still ran")
	}
	for _, p := range []string{d.root, state} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still there after a clean shutdown", p)
		}
	}
}

// TestRefusedStartLeavesNothing: a daemon that cannot start (here: a
// --metrics-file it cannot write) removes the root cgroup and the state
// directory it made (issue 22 #3).
func TestRefusedStartLeavesNothing(t *testing.T) {
	root := newRootPath(t)
	d := startDaemonAt(t, root, filepath.Join(t.TempDir(), "s.sock"), "--metrics-file", "/nonexistent/dir/m.prom")
	if code := d.waitExit(10 * time.Second); code != 1 {
		t.Fatalf("start with an unwritable --metrics-file: exit %d, want 1", code)
	}
	for _, p := range []string{root, stateDirOf(root)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind by a refused start", p)
		}
	}
}

// TestAttachedExitCodes: a RUN with --attach or --wait whose command is
// not found exits 127, one that is not executable 126, as a shell does;
// plain run keeps the C tool's 1. The refusal names the cause
// (exec_error) and leaves nothing behind.
func TestAttachedExitCodes(t *testing.T) {
	d := startDaemon(t)
	noexec := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(noexec, []byte("not a program\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badfmt := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(badfmt, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		kind string
	}{
		{[]string{"run", "--attach", "--", "nosuchcommand-xyz"}, 127, "not_found"},
		{[]string{"run", "--wait", "--", "/nonexistent/cmd"}, 127, "not_found"},
		{[]string{"run", "--attach", "--", noexec}, 126, "not_executable"},
		{[]string{"run", "--wait", "--", badfmt}, 126, "not_executable"},
		{[]string{"run", "--", "nosuchcommand-xyz"}, 1, "not_found"},
	} {
		out, errOut, code := d.ctl(tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, "exec_error") && !strings.Contains(out+errOut, "spawn failed") {
			t.Errorf("%v: exit %d (%q %q), want %d and the refusal", tc.args, code, out, errOut, tc.code)
		}
	}
	r := d.do("RUN", "arg", "nosuchcommand-xyz")
	if r.KV["reason"] != "spawn failed" || r.KV["exec_error"] != "not_found" {
		t.Errorf("RUN of a missing command: %q, want spawn failed with exec_error not_found", r.Raw)
	}
	if jobs := listByID(t, d); len(jobs) != 0 {
		t.Errorf("refused RUNs left jobs %v", jobs)
	}
}

// TestTimeoutSaysSo: a job --timeout stopped ends saying why: WAIT's
// answer has stop_reason timeout, and `run --wait` prints "timed out
// after 1s" (not just "failed (SIGTERM)"); LIST says whose the job is and
// what it runs.
func TestTimeoutSaysSo(t *testing.T) {
	d := startDaemon(t)
	out, errOut, code := d.ctl("run", "--wait", "--id", "slow", "--timeout", "1s", "--", "sleep", "100")
	if code != 128+15 || !strings.Contains(errOut, "job slow failed: timed out after 1s (SIGTERM)") {
		t.Errorf("run --wait --timeout 1s: exit %d, stderr %q (stdout %q); want 143 and the timeout named", code, errOut, out)
	}
	if w := mustOK(t, d.do("WAIT", "id", "slow")); w.KV["stop_reason"] != "timeout" {
		t.Errorf("WAIT of a timed-out job: %q, want stop_reason: timeout", w.Raw)
	}
	if ev := d.out.waitEvent(t, "job.exit", map[string]string{"id": "slow"}); ev["stop_reason"] != "timeout" {
		t.Errorf("job.exit %v, want stop_reason=timeout", ev)
	}
	b := listByID(t, d)["slow"]
	if b["uid"] != "0" || b["command"] != "sleep 100" {
		t.Errorf("LIST block %v, want uid 0 and command \"sleep 100\"", b)
	}
}
