package daemon

// Host tests of multi-user safety (users.go): strict requests, bounded
// echoes, the checks made with the caller's rights, the ceilings for
// non-root callers, the audit trail, the log directory.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nobody = 65534

var asNobody = &syscall.Credential{Uid: nobody, Gid: nobody}

func TestStrictRequests(t *testing.T) {
	d := startDaemon(t)
	for _, tc := range []struct {
		name, req, reason string
	}{
		{"id twice", "RUN\nid: a\narg: true\nid: b\n\n", "id: given more than once"},
		{"same id twice", "RUN\nid: a\nid: a\narg: true\n\n", "id: given more than once"},
		{"priority twice", "RUN\nid: a\npriority: 10\npriority: 90\narg: true\n\n", "priority: given more than once"},
		{"cwd twice", "RUN\nid: a\ncwd: /\ncwd: /tmp\narg: true\n\n", "cwd: given more than once"},
		{"limit twice", "RUN\nid: a\npids_max: 10\npids_max: 20\narg: true\n\n", "pids_max: given more than once"},
		{"queue_timeout twice", "RUN\nid: a\nqueue_timeout: 1\nqueue_timeout: 2\narg: true\n\n", "queue_timeout: given more than once"},
		{"inspect id twice", "INSPECT\nid: a\nid: b\n\n", "id: given more than once"},
		{"kill signal twice", "KILL\nid: a\nsignal: 1\nsignal: 9\n\n", "signal: given more than once"},
		{"empty key", "RUN\nid: a\n: true\narg: true\n\n", "malformed headers"},
		{"blank key", "PING\n  : x\n\n", "malformed headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := parseResponse(d.rawRequest([]byte(tc.req)))
			wantErr(t, r, tc.reason)
			if strings.Contains(tc.name, "empty") || strings.Contains(tc.name, "blank") {
				if r.KV["detail"] != "empty key" {
					t.Errorf("got %q, want detail: empty key", r.Raw)
				}
			}
		})
	}
	wantErr(t, d.do("INSPECT", "id", "a"), "no such job")
	// Repeatable keys stay repeatable.
	r := mustOK(t, d.run("rep", []string{"sh", "-c", `echo "$A$B"`}, "env", "A=1", "env", "B=2", "require_path", "/", "require_path", "/tmp"))
	mustOK(t, d.do("WAIT", "id", r.KV["id"]))

	t.Run("echoed values are cut", func(t *testing.T) {
		huge := strings.Repeat("x", 2<<20)
		for _, tc := range []struct {
			name   string
			req    []byte
			key    string // the key that echoes the value
			prefix string
		}{
			{"invalid id", encode("RUN", "id", huge, "arg", "true"), "reason", `id: invalid id "` + strings.Repeat("x", 128) + `...(cut, 2097152 bytes)"`},
			{"unknown id", encode("INSPECT", "id", huge), "id", strings.Repeat("x", 128) + "...(cut, 2097152 bytes)"},
			{"missing path", encode("RUN", "id", "p", "require_path", "/"+huge, "arg", "true"), "reason", "missing path: /" + strings.Repeat("x", 127) + "...(cut, 2097153 bytes)"},
			{"cwd", encode("RUN", "id", "p", "cwd", "/"+huge, "arg", "true"), "reason", "cwd: /" + strings.Repeat("x", 127) + "...(cut, 2097153 bytes): "},
			{"env", encode("RUN", "id", "p", "env", huge, "arg", "true"), "reason", `env: want K=V, got "` + strings.Repeat("x", 128) + `...(cut, 2097152 bytes)"`},
			{"limit", encode("RUN", "id", "p", "memory_max", huge, "arg", "true"), "reason", "memory_max: "},
			{"executable", encode("RUN", "id", "p", "arg", huge), "detail", ""},
			{"signal", encode("KILL", "id", "rep", "signal", huge), "reason", `invalid signal "` + strings.Repeat("x", 128) + `...(cut, 2097152 bytes)"`},
			{"unknown verb", []byte(huge + "\n\n"), "verb", strings.Repeat("x", 128) + "...(cut, 2097152 bytes)"},
		} {
			r := parseResponse(d.rawRequest(tc.req))
			v := r.KV[tc.key]
			if r.Status != "err" || !strings.HasPrefix(v, tc.prefix) || len(r.Raw) > 1024 {
				t.Errorf("%s: got %d bytes, %s %.300q, want err and %s starting %.300q, under 1 KiB", tc.name, len(r.Raw), tc.key, v, tc.key, tc.prefix)
			}
		}
		wantErr(t, d.do("INSPECT", "id", "p"), "no such job")
	})
}

// secretTree makes <tmp>/secret (0700, root) holding key (a file), sub
// (a directory) and prog (an executable), under a directory anyone may
// search.
func secretTree(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cgroupd-secret-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	secret := filepath.Join(dir, "secret")
	for _, err := range []error{
		os.Mkdir(secret, 0o700),
		os.WriteFile(filepath.Join(secret, "key"), nil, 0o644),
		os.Mkdir(filepath.Join(secret, "sub"), 0o755),
		os.WriteFile(filepath.Join(secret, "prog"), []byte("#!/bin/sh\n"), 0o755),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return secret
}

// TestCallerRightsProbe: a non-root caller's checks (require_path, cwd,
// the executable) give the same answer for a file it cannot see whether
// it exists or not; root's are unchanged.
func TestCallerRightsProbe(t *testing.T) {
	hostMount(t)
	secret := secretTree(t)
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody))
	same := func(what string, exists, missing []string) {
		t.Helper()
		o1, _, c1 := d.ctlAs(asNobody, exists...)
		o2, _, c2 := d.ctlAs(asNobody, missing...)
		// The answers differ only in the name asked for.
		n1 := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(o1, "nokey", "X"), "key", "X"), "nosub", "X")
		n2 := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(o2, "nokey", "X"), "key", "X"), "nosub", "X")
		n1 = strings.ReplaceAll(strings.ReplaceAll(n1, "noprog", "X"), "prog", "X")
		n2 = strings.ReplaceAll(strings.ReplaceAll(n2, "noprog", "X"), "prog", "X")
		n1 = strings.ReplaceAll(n1, "/sub", "/X")
		if c1 != 1 || c2 != 1 || n1 != n2 || !strings.Contains(o1, "STATUS: err") {
			t.Errorf("%s as nobody: existing gives exit %d %q, missing exit %d %q; want the same refusal", what, c1, o1, c2, o2)
		}
	}
	key, nokey := filepath.Join(secret, "key"), filepath.Join(secret, "nokey")
	same("require_path",
		[]string{"run", "--id", "p1", "--require-path", key, "--", "/bin/true"},
		[]string{"run", "--id", "p1", "--require-path", nokey, "--", "/bin/true"})
	if o, _, _ := d.ctlAs(asNobody, "run", "--id", "p1", "--require-path", key, "--", "/bin/true"); !strings.Contains(o, "reason: missing path: "+key+"\n") {
		t.Errorf("require_path as nobody: got %q, want the spec's reason missing path: %s", o, key)
	}
	same("cwd",
		[]string{"run", "--id", "p2", "--cwd", filepath.Join(secret, "sub"), "--", "/bin/true"},
		[]string{"run", "--id", "p2", "--cwd", filepath.Join(secret, "nosub"), "--", "/bin/true"})
	same("executable",
		[]string{"run", "--id", "p3", "--", filepath.Join(secret, "prog")},
		[]string{"run", "--id", "p3", "--", filepath.Join(secret, "noprog")})
	same("PATH lookup",
		[]string{"run", "--id", "p4", "--env", "PATH=" + secret, "--", "prog"},
		[]string{"run", "--id", "p4", "--env", "PATH=" + secret, "--", "noprog"})
	// Through a root process's working directory (/proc/<pid>/cwd), a
	// directory anyone may search inside the secret one: the checks run
	// without CAP_SYS_PTRACE, so they see what nobody's own stat sees
	// (EACCES), not whether the file is there.
	sleeper := exec.Command("sleep", "60")
	sleeper.Dir = filepath.Join(secret, "sub")
	for _, name := range []string{"key", "prog"} {
		if err := os.WriteFile(filepath.Join(secret, "sub", name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	cwd := "/proc/" + strconv.Itoa(sleeper.Process.Pid) + "/cwd"
	same("require_path through /proc/<pid>/cwd",
		[]string{"run", "--id", "p5", "--require-path", cwd + "/key", "--", "/bin/true"},
		[]string{"run", "--id", "p5", "--require-path", cwd + "/nokey", "--", "/bin/true"})
	same("PATH lookup through /proc/<pid>/cwd",
		[]string{"run", "--id", "p6", "--env", "PATH=" + cwd, "--", "prog"},
		[]string{"run", "--id", "p6", "--env", "PATH=" + cwd, "--", "noprog"})
	if o, _, _ := d.ctlAs(asNobody, "list"); !strings.Contains(o, "count: 0\n") {
		t.Errorf("nobody's list after refused RUNs: got %q, want none", o)
	}
	// What nobody may see still works for nobody.
	out, errOut, code := d.ctlAs(asNobody, "run", "--id", "ok", "--cwd", "/tmp", "--require-path", "/etc/passwd", "--", "true")
	if code != 0 {
		t.Fatalf("run as nobody with visible paths: exit %d %q %q", code, out, errOut)
	}
	// Root is unchanged: it sees through the directory.
	mustOK(t, d.run("r1", []string{filepath.Join(secret, "prog")}, "require_path", key, "cwd", filepath.Join(secret, "sub")))
	wantErr(t, d.run("r2", []string{"true"}, "require_path", nokey), "missing path: "+nokey)
}

// TestUserCeilings: priority ceiling and per-user job cap for non-root
// callers, raised by the flags; root is not limited; the refused
// cross-user access is logged; job events carry the owner's uid.
func TestUserCeilings(t *testing.T) {
	hostMount(t)
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "--max-user-jobs", "2")
	if fi, err := os.Lstat(d.sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket: got %v %v, want a socket of mode 0660", fi.Mode(), err)
	}
	mustOK(t, d.run("rootjob", []string{"sleep", "300"}, "priority", "95"))
	run := func(args ...string) (response, int) {
		t.Helper()
		out, _, code := d.ctlAs(asNobody, append([]string{"run"}, args...)...)
		return parseResponse(out), code
	}
	if r, _ := run("--id", "hi", "--priority", "31", "--", "sleep", "300"); r.KV["reason"] != "priority: 31 is above 30, the highest a non-root caller may request" {
		t.Errorf("priority 31 as nobody: got %q, want refused naming priority", r.Raw)
	}
	if r, code := run("--id", "u1", "--priority", "30", "--", "sleep", "300"); code != 0 {
		t.Fatalf("priority 30 as nobody: got %q", r.Raw)
	}
	if r, code := run("--id", "u2", "--", "sleep", "300"); code != 0 {
		t.Fatalf("second job as nobody: got %q", r.Raw)
	}
	if p := mustOK(t, d.do("INSPECT", "id", "u2")).KV["priority"]; p != "30" {
		t.Errorf("nobody's job without priority: got priority %s, want 30 (50 capped at the ceiling)", p)
	}
	r, code := run("--id", "u3", "--", "sleep", "300")
	if code != 1 || r.KV["reason"] != "too many jobs" || !strings.Contains(r.KV["detail"], "uid 65534 has 2 live or pending jobs") {
		t.Errorf("third job as nobody: got %q, want too many jobs with a detail naming the uid and count", r.Raw)
	}
	out, _, _ := d.ctlAs(asNobody, "stats")
	st := parseResponse(out)
	if st.KV["user_jobs"] != "2" || st.KV["user_jobs_max"] != "2" || st.KV["user_priority_max"] != "30" {
		t.Errorf("nobody's stats: got user_jobs %q user_jobs_max %q user_priority_max %q, want 2 2 30", st.KV["user_jobs"], st.KV["user_jobs_max"], st.KV["user_priority_max"])
	}
	// Root is not capped, and its count is its own.
	mustOK(t, d.run("rootjob2", []string{"sleep", "300"}))
	mustOK(t, d.run("rootjob3", []string{"sleep", "300"}))
	if st := mustOK(t, d.do("STATS")); st.KV["user_jobs"] != "3" || st.KV["user_jobs_max"] != "" {
		t.Errorf("root's stats: got user_jobs %q user_jobs_max %q, want 3 and no cap", st.KV["user_jobs"], st.KV["user_jobs_max"])
	}
	// An ended job no longer counts.
	if _, _, code := d.ctlAs(asNobody, "kill", "u1"); code != 0 {
		t.Fatalf("nobody's kill of u1: exit %d", code)
	}
	d.ctlAs(asNobody, "wait", "u1")
	if r, code := run("--id", "u3", "--", "sleep", "300"); code != 0 {
		t.Errorf("job as nobody after one ended: got %q", r.Raw)
	}
	// Cross-user access is refused and logged with the caller's uid.
	for _, verb := range []string{"inspect", "kill", "logs", "freeze", "thaw", "wait", "remove"} {
		out, _, code := d.ctlAs(asNobody, verb, "rootjob")
		if code != 1 || !strings.Contains(out, "reason: no such job") {
			t.Errorf("nobody's %s rootjob: got exit %d %q, want no such job", verb, code, out)
		}
		want := "cgroupd: access refused: uid 65534 (pid "
		d.out.waitLine(t, 5*time.Second, "audit line of "+verb, func(s string) bool {
			return strings.HasPrefix(s, want) && strings.HasSuffix(s, ") "+strings.ToUpper(verb)+" job rootjob of uid 0")
		})
	}
	// Every job event ends in the owner's uid.
	d.out.waitEvent(t, "job.exit", map[string]string{"id": "u1", "uid": "65534"})
	all, _, _ := d.out.snapshot()
	n := 0
	for _, ln := range all {
		e, ok := parseEvent(ln)
		if !ok || !strings.HasPrefix(e["type"], "job.") {
			continue
		}
		n++
		want := "0"
		if strings.HasPrefix(e["id"], "u") {
			want = "65534"
		}
		if !strings.HasSuffix(ln, " uid="+want) {
			t.Errorf("got %q, want it to end in uid=%s", ln, want)
		}
	}
	if n < 7 {
		t.Errorf("got %d job events, want at least 7", n)
	}

	t.Run("raised by root", func(t *testing.T) {
		d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "--max-user-priority", "60")
		if r, code := run2(d, "--id", "a", "--priority", "60", "--", "true"); code != 0 {
			t.Errorf("priority 60 with --max-user-priority 60: got %q", r.Raw)
		}
		if r, code := run2(d, "--id", "b", "--", "true"); code != 0 || mustOK(t, d.do("INSPECT", "id", "b")).KV["priority"] != "50" {
			t.Errorf("no priority with --max-user-priority 60: got %q, want priority 50", r.Raw)
		}
	})
}

func run2(d *testDaemon, args ...string) (response, int) {
	out, _, code := d.ctlAs(asNobody, append([]string{"run"}, args...)...)
	return parseResponse(out), code
}

// TestLogDirLinks: a symlink or a file planted in the log dir is not
// followed or reused: the job gets a new log file of its own.
func TestLogDirLinks(t *testing.T) {
	hostMount(t)
	logDir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "-L", logDir)
	if err := os.Symlink(target, filepath.Join(logDir, "victim.log")); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(logDir, "held.log")
	if err := os.WriteFile(planted, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(planted)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, id := range []string{"victim", "held"} {
		mustOK(t, d.run(id, []string{"sh", "-c", "echo out-" + id}))
		mustOK(t, d.do("WAIT", "id", id))
		fi, err := os.Lstat(filepath.Join(logDir, id+".log"))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s.log: got %v %v, want a regular file", id, fi, err)
		}
		if got := readFile(t, filepath.Join(logDir, id+".log")); got != "out-"+id {
			t.Errorf("%s.log: got %q, want out-%s", id, got, id)
		}
		out, _, code := d.ctl("logs", id)
		if code != 0 || out != "out-"+id+"\n" {
			t.Errorf("logs %s: got exit %d %q", id, code, out)
		}
	}
	if got := readFile(t, target); got != "precious" {
		t.Errorf("symlink target: got %q, want it untouched", got)
	}
	if b := make([]byte, 64); true {
		if n, _ := held.Read(b); n != 0 {
			t.Errorf("a descriptor opened on the planted file reads %q, want nothing of the job's output", b[:n])
		}
	}
	// A link planted after the job started is not followed by LOGS.
	os.Remove(filepath.Join(logDir, "victim.log"))
	os.Symlink(target, filepath.Join(logDir, "victim.log"))
	out, _, _ := d.ctl("logs", "victim")
	if !strings.Contains(out, "reason: no log") || strings.Contains(out, "precious") {
		t.Errorf("logs through a planted link: got %q, want no log", out)
	}
}

// TestCwdCause: a directory the caller cannot enter is named as the cause
// of the refusal (spawn failed, detail cwd DIR: permission denied), with
// no exec_error: --wait exits 1, not a shell's 126. So it is for --cwd,
// for ./prog there, and for the daemon's own directory.
func TestCwdCause(t *testing.T) {
	hostMount(t)
	secret := secretTree(t)
	want := "cwd " + secret + ": permission denied"
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody))
	for _, args := range [][]string{
		{"run", "--wait", "--cwd", secret, "--", "/bin/true"},
		{"run", "--wait", "--cwd", secret, "--", "./prog"},
	} {
		out, _, code := d.ctlAs(asNobody, args...)
		r := parseResponse(out)
		if code != 1 || r.KV["reason"] != "spawn failed" || r.KV["detail"] != want || r.KV["exec_error"] != "" {
			t.Errorf("%v as nobody: exit %d %q; want exit 1, spawn failed, detail %q, no exec_error", args, code, out, want)
		}
	}
	mustOK(t, d.run("root", []string{"/bin/true"}, "cwd", secret)) // root enters it

	root := newRootPath(t)
	d2 := startDaemonCmd(t, root, filepath.Join(filepath.Dir(d.sock), "d2.sock"), func(c *exec.Cmd) { c.Dir = secret },
		"--socket-group", strconv.Itoa(nobody))
	d2.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	out, _, code := d2.ctlAs(asNobody, "run", "--", "/bin/true")
	if r := parseResponse(out); code != 1 || r.KV["detail"] != want || r.KV["exec_error"] != "" {
		t.Errorf("run as nobody with the daemon in %s: exit %d %q; want detail %q", secret, code, out, want)
	}
}

// TestUserEndedAndRunSize (issue 33 #5): a non-root user's ended jobs are
// bounded by --max-user-ended (its oldest removed as REMOVE does, with
// job.cleanup, its cgroup gone) and a RUN's argv + env by
// --max-user-run-bytes (refused with the reason); root's are not.
func TestUserEndedAndRunSize(t *testing.T) {
	hostMount(t)
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "--max-user-ended", "2", "--max-user-run-bytes", "4K")
	for i := 1; i <= 4; i++ {
		id := "u" + strconv.Itoa(i)
		if r, code := run2(d, "--id", id, "--", "true"); code != 0 {
			t.Fatalf("run %s as nobody: %q", id, r.Raw)
		}
		d.ctlAs(asNobody, "wait", id)
		mustOK(t, d.run("r"+strconv.Itoa(i), []string{"true"}))
		mustOK(t, d.do("WAIT", "id", "r"+strconv.Itoa(i)))
	}
	for _, id := range []string{"u1", "u2"} {
		d.out.waitEvent(t, "job.cleanup", map[string]string{"id": id, "result": "removed", "uid": strconv.Itoa(nobody)})
		if _, err := os.Stat(filepath.Join(d.root, id)); !os.IsNotExist(err) {
			t.Errorf("%s's cgroup is left: %v", id, err)
		}
	}
	list := listByID(t, d)
	for _, id := range []string{"u3", "u4", "r1", "r2", "r3", "r4"} {
		if list[id] == nil {
			t.Errorf("%s was removed; want only nobody's two oldest ended jobs removed", id)
		}
	}
	if len(list) != 6 {
		t.Errorf("LIST holds %d jobs, want 6", len(list))
	}
	big := strings.Repeat("x", 4000)
	r, code := run2(d, "--env", "PAD="+big[:200], "--", "echo", big)
	if code != 1 || r.KV["reason"] != "command too large" || !strings.Contains(r.KV["detail"], "argv and env of 4208 bytes, more than the 4096") {
		t.Errorf("nobody's RUN of 4208 bytes: got %q, want refused: command too large", r.Raw)
	}
	if r, code := run2(d, "--", "echo", big[:3000]); code != 0 {
		t.Errorf("nobody's RUN under the bound: got %q", r.Raw)
	}
	mustOK(t, d.run("rbig", []string{"echo", big, big}))
}
