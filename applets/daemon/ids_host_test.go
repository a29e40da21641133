package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cgroupd/applets/daemon/jobid"
)

// autoRun runs a job without --id that prints what, waits for it and
// removes it (its log stays, under --log-retain); it returns the id.
func autoRun(t *testing.T, d *testDaemon, what string) string {
	t.Helper()
	id := mustOK(t, d.run("", []string{"echo", what})).KV["id"]
	mustOK(t, d.do("WAIT", "id", id))
	mustOK(t, d.do("REMOVE", "id", id))
	return id
}

func idNumber(t *testing.T, id string) int {
	t.Helper()
	n, ok := jobid.Number(id)
	if !ok {
		t.Fatalf("automatic id %q", id)
	}
	return n
}

// TestAutoIDsNeverRepeat: an automatic id names one job of a root, ever:
// after REMOVE, a crash, an upgrade, with --state-dir none, and after a
// "reboot" that lost the state dir (tmpfs) but kept the logs. A kept log
// is never overwritten: each still holds its own job's output.
func TestAutoIDsNeverRepeat(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(logs string) []string
		// between the crash and the restart
		lose func(d *testDaemon)
	}{
		{name: "state dir and logs", args: func(logs string) []string { return []string{"-L", logs} }},
		{name: "state dir only", args: func(string) []string { return nil }},
		{name: "state-dir none, logs", args: func(logs string) []string { return []string{"--state-dir", "none", "-L", logs} }},
		{name: "state dir lost, logs kept", args: func(logs string) []string { return []string{"-L", logs} },
			lose: func(d *testDaemon) { os.RemoveAll(stateDirOf(d.root)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := t.TempDir()
			args := tc.args(logs)
			d := startDaemon(t, args...)
			seen := map[string]string{} // id -> what its job printed
			last := 0
			next := func(d *testDaemon, what string) {
				t.Helper()
				id := autoRun(t, d, what)
				if prev, ok := seen[id]; ok {
					t.Fatalf("%s: id %s handed out again (it was the job that printed %q)", what, id, prev)
				}
				if n := idNumber(t, id); n <= last {
					t.Fatalf("%s: id %s after job-%d", what, id, last)
				} else {
					last = n
				}
				seen[id] = what
			}
			next(d, "first")
			next(d, "second")
			d.crash()
			if tc.lose != nil {
				tc.lose(d)
			}
			d = d.restart(args...)
			next(d, "after-crash")
			if out, _, code := d.ctl("upgrade"); code != 0 {
				t.Fatalf("upgrade: exit %d, %q", code, out)
			}
			next(d, "after-upgrade")
			if !strings.Contains(strings.Join(args, " "), "-L") {
				return
			}
			for id, what := range seen {
				if got := readFile(t, filepath.Join(logs, id+".log")); got != what {
					t.Errorf("%s.log holds %q, want %q (its own job's output)", id, got, what)
				}
			}
		})
	}
}

// TestKeptLogMovedAside: a client's --id that names a kept log still gets
// <id>.log; the kept one moves aside to <id>.log.1, .2, ..., and a RUN
// refused after the log was made puts it back.
func TestKeptLogMovedAside(t *testing.T) {
	logs := t.TempDir()
	d := startDaemon(t, "-L", logs)
	for i, what := range []string{"one", "two", "three"} {
		mustOK(t, d.run("web", []string{"echo", what}))
		mustOK(t, d.do("WAIT", "id", "web"))
		if i < 2 {
			mustOK(t, d.do("REMOVE", "id", "web"))
		}
	}
	for name, want := range map[string]string{"web.log": "three", "web.log.1": "one", "web.log.2": "two"} {
		if got := readFile(t, filepath.Join(logs, name)); got != want {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
	}
	mustOK(t, d.do("REMOVE", "id", "web"))
	// Refused after its log was made: execve fails (ENOEXEC: neither ELF
	// nor #!).
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.run("web", []string{bad}), "spawn failed")
	if got := readFile(t, filepath.Join(logs, "web.log")); got != "three" {
		t.Errorf("after a refused RUN web.log holds %q, want the kept log back", got)
	}
	if _, err := os.Stat(filepath.Join(logs, "web.log.3")); err == nil {
		t.Error("a refused RUN left web.log.3 behind")
	}
}

// TestAutoIDsOutOfReach (issue 33 #12): a client's id of the automatic
// form cannot push everyone's automatic ids up or out of range: ahead of
// the counter it is refused, and a number of more digits than the
// counter ever reaches is an ordinary name, which moves nothing, not
// even after a crash and restart finds its record. No id repeats.
func TestAutoIDsOutOfReach(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("job-999999999999999999", []string{"sleep", "100"}))
	r := d.run("job-5000", []string{"true"})
	if r.Status != "err" || !strings.Contains(r.KV["reason"], "ahead of the automatic ids") || r.KV["next_id"] != "job-1" {
		t.Fatalf("RUN --id job-5000: got %q, want a refusal naming next_id job-1", r.Raw)
	}
	seen := map[string]bool{}
	// want..upto: a restart goes on past the reserved block.
	next := func(d *testDaemon, want, upto int) {
		t.Helper()
		id := autoRun(t, d, "x")
		if n := idNumber(t, id); n < want || n > upto || seen[id] {
			t.Fatalf("automatic id %s, want job-%d..job-%d, new", id, want, upto)
		}
		seen[id] = true
	}
	next(d, 1, 1)
	mustOK(t, d.run("job-2", []string{"true"})) // the next one: allowed
	mustOK(t, d.do("WAIT", "id", "job-2"))
	mustOK(t, d.do("REMOVE", "id", "job-2"))
	seen["job-2"] = true
	next(d, 3, 3)
	d.crash()
	d = d.restart()
	next(d, 4, jobid.Block+1)
	mustOK(t, d.do("KILL", "id", "job-999999999999999999"))
}
