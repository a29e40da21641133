package ctl

// Tests against a real cgroupd on this host's cgroup v2 hierarchy: the test
// binary is re-run as the applets (TestMain), the daemon with a root of its
// own under the cgroup2 mount and a socket in a temp dir. They skip with
// the exact missing thing: root, a cgroup v2 mount, tmux.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cgroupd/applets/daemon"
	"cgroupd/applets/daemon/hosttest"
	"cgroupd/core/event"
	"cgroupd/core/proto"
	"cgroupd/core/spawn"
)

// appletEnv names the applet a re-run of the test binary is.
const appletEnv = "CGROUPCTL_TEST_APPLET"

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == spawn.HelperApplet {
		os.Exit(spawn.HelperMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	switch os.Getenv(appletEnv) {
	case "cgroupd":
		os.Exit(daemon.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	case "cgroupctl":
		os.Exit(Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cgroup2Mount is the cgroup v2 mount point, or skips t.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	return hosttest.Mount(t)
}

// realDaemon is a cgroupd started for one test.
type realDaemon struct {
	sock, root string
	mu         sync.Mutex
	stderr     bytes.Buffer
}

func (d *realDaemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// startRealDaemon starts cgroupd (admission off: other work on this host
// must not refuse the test's jobs) and waits for `cgroupd ready`.
func startRealDaemon(t *testing.T, args ...string) *realDaemon {
	t.Helper()
	mnt := cgroup2Mount(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &realDaemon{
		sock: filepath.Join(t.TempDir(), "cgroupd.sock"),
		root: filepath.Join(mnt, fmt.Sprintf("ctl-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)),
	}
	argv := append([]string{"-r", d.root, "-s", d.sock, "--state-dir", "none",
		"--mem-admit-some-avg10", "-1", "--mem-admit-full-avg10", "-1",
		"--cpu-admit-some-avg10", "-1", "--io-admit-full-avg10", "-1"}, args...)
	cmd := exec.Command(self, argv...)
	cmd.Env = append(os.Environ(), appletEnv+"=cgroupd")
	cmd.Dir = "/"
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.stderr.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if sc.Text() == "cgroupd ready" {
				close(ready)
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(failAfter):
			cmd.Process.Kill()
			<-done
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", d.log())
		}
		os.Remove(d.root) // the daemon removed its jobs' cgroups
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("cgroupd exited before it was ready:\n%s", d.log())
	case <-time.After(failAfter):
		t.Fatalf("cgroupd not ready after %v:\n%s", failAfter, d.log())
	}
	return d
}

// do sends one request and returns every block of the response.
func (d *realDaemon) do(t *testing.T, verb string, kv ...string) []proto.Reply {
	t.Helper()
	req := proto.Request{Verb: verb}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Add(kv[i], kv[i+1])
	}
	wire, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(wire)
	c.CloseWrite()
	var blocks []proto.Reply
	br := bufio.NewReader(c)
	for {
		rep, err := proto.ReadBlock(br)
		if len(rep.Headers) > 0 || rep.Status != "" {
			blocks = append(blocks, rep)
		}
		if err != nil || rep.Status != "" {
			if verb == "EVENTS" { // the event lines follow the block
				rest, _ := io.ReadAll(br)
				for _, l := range strings.SplitAfter(string(rest), "\n") {
					if ev, ok := event.Parse(l); ok {
						var r proto.Reply
						for i := 0; i+1 < len(ev); i += 2 {
							r.Headers = append(r.Headers, proto.Header{Key: ev[i], Value: ev[i+1]})
						}
						blocks = append(blocks, r)
					}
				}
			}
			return blocks
		}
	}
}

// ctl runs cgroupctl (this binary) against d with stdout a pipe.
func (d *realDaemon) ctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(append([]string{"--socket", d.sock}, args...), nil, &stdout, &stderr)
	return stdout.String() + stderr.String(), code
}

// TestRealDaemonKeysTyped: every key a real daemon sends, in the replies
// of the verbs and in its event lines, has a type in jsonTypes (the
// source test, TestDaemonKeysTyped, covers the keys no run here reaches).
func TestRealDaemonKeysTyped(t *testing.T) {
	d := startRealDaemon(t, "-L", t.TempDir())
	if out, code := d.ctl(t, "run", "--id", "a", "--", "sleep", "30"); code != 0 {
		t.Fatalf("run a: %d %s", code, out)
	}
	if out, code := d.ctl(t, "run", "--id", "b", "--", "sh", "-c", "exit 3"); code != 0 {
		t.Fatalf("run b: %d %s", code, out)
	}
	if _, code := d.ctl(t, "wait", "b"); code != 3 {
		t.Fatalf("wait b: exit %d, want 3", code)
	}
	var all []proto.Reply
	for _, r := range []struct {
		verb string
		kv   []string
	}{
		{"PING", nil}, {"LIST", nil}, {"INSPECT", []string{"id", "a"}}, {"INSPECT", []string{"id", "b"}},
		{"INSPECT", []string{"id", "nope"}}, {"STATS", nil}, {"TOP", nil}, {"FREEZE", []string{"id", "a"}},
		{"THAW", []string{"id", "a"}}, {"WAIT", []string{"id", "b"}}, {"KILL", []string{"id", "a", "signal", "15"}},
		{"WAIT", []string{"id", "a"}}, {"REMOVE", []string{"id", "b"}}, {"REMOVE", []string{"id", "a"}},
		{"RUN", []string{"id", "c", "cpu_max", "bogus", "arg", "true"}}, {"NOPE", nil}, {"EVENTS", nil},
	} {
		all = append(all, d.do(t, r.verb, r.kv...)...)
	}
	seen := map[string]bool{}
	for _, b := range all {
		for _, h := range b.Headers {
			if _, ok := jsonTypes[h.Key]; !ok && !seen[h.Key] {
				t.Errorf("the daemon sent key %q (in %q): give it a type in jsonTypes", h.Key, b.Raw)
			}
			seen[h.Key] = true
		}
	}
	for _, want := range []string{"pong", "count", "oom_killed", "cpu_usage_usec", "user_jobs", "run_ms", "ts_unix_ms", "schema", "reason", "verb"} {
		if !seen[want] {
			t.Errorf("no %s in any answer: the test no longer reaches what it means to", want)
		}
	}
}

// ctlCommand is a shell command that runs cgroupctl (this binary) against d.
func (d *realDaemon) ctlCommand(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("env %s=cgroupctl %s --socket %s", appletEnv, self, d.sock)
}

// tmuxPane is a tmux session of a server of its own (160x30) that runs
// one shell script at a terminal.
type tmuxPane struct{ tmux, server, name string }

// startTmux starts script in a new session, or skips t without tmux
// (fails under CI=true, which installs it). Cleanup kills the server.
func startTmux(t *testing.T, name, script string) *tmuxPane {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tmux not found under CI=true (Debian package tmux): %v", err)
		}
		t.Skip("tmux not installed")
	}
	p := &tmuxPane{tmux: tmux, server: fmt.Sprintf("cgroupctl-test-%d-%s", os.Getpid(), name), name: name}
	p.do(t, "new-session", "-d", "-s", name, "-x", "160", "-y", "30", script)
	t.Cleanup(func() {
		exec.Command(tmux, "-L", p.server, "kill-server").Run()
		// kill-server can leave the socket file behind.
		dir := os.Getenv("TMUX_TMPDIR")
		if dir == "" {
			dir = "/tmp"
		}
		os.Remove(filepath.Join(dir, fmt.Sprintf("tmux-%d", os.Getuid()), p.server))
	})
	return p
}

// do runs a tmux command on p's server.
func (p *tmuxPane) do(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(p.tmux, append([]string{"-L", p.server}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitFor polls the screen until it shows want (tmux tells no one when
// it redraws), and returns it.
func (p *tmuxPane) waitFor(t *testing.T, want string) string {
	t.Helper()
	var screen string
	for deadline := time.Now().Add(failAfter); !strings.Contains(screen, want); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the screen after %v:\n%s", want, failAfter, screen)
		}
		time.Sleep(50 * time.Millisecond)
		screen = p.do(t, "capture-pane", "-p", "-t", p.name)
	}
	return screen
}

// TestListScreen: `cgroupctl list` in a terminal (tmux) prints the table,
// with the owner and command of a live job; piped, the v1 text.
func TestListScreen(t *testing.T) {
	d := startRealDaemon(t)
	if out, code := d.ctl(t, "run", "--id", "sleeper", "--priority", "20", "--", "sleep", "30"); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	if out, code := d.ctl(t, "run", "--id", "quick", "--", "sh", "-c", "exit 3"); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	d.ctl(t, "wait", "quick")
	ctl := d.ctlCommand(t)
	tm := startTmux(t, "list", fmt.Sprintf("%s list; echo LIST-EXIT=$?; %s list | head -n 2; %s inspect nope; echo INSPECT-EXIT=$?; sleep 60",
		ctl, ctl, ctl))
	screen := tm.waitFor(t, "INSPECT-EXIT=")
	lines := strings.Split(screen, "\n")
	row := func(prefix string) []string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(l)
			}
		}
		t.Errorf("no line starting with %q on the screen:\n%s", prefix, screen)
		return nil
	}
	if h := row("ID "); strings.Join(h, " ") != "ID OWNER STATE PRIO AGE RUN MEM COMMAND" {
		t.Errorf("header %q", h)
	}
	if r := row("sleeper "); len(r) < 8 || r[1] != "root" || r[2] != "running" || r[3] != "20" || strings.Join(r[len(r)-2:], " ") != "sleep 30" {
		t.Errorf("sleeper row %q, want root running 20 ... sleep 30", r)
	}
	if r := row("quick "); len(r) < 5 || r[2] != "failed" || r[3] != "(exit" {
		t.Errorf("quick row %q, want failed (exit 3)", r)
	}
	for _, want := range []string{"LIST-EXIT=0", "id: sleeper", "state: running",
		"cgroupctl: inspect: no such job: id nope", "INSPECT-EXIT=1"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "STATUS: err") {
		t.Errorf("a refusal at a terminal printed the v1 block:\n%s", screen)
	}
}

// TestInspectUnknownFigures: INSPECT names the v1 figures whose cgroup
// file the daemon could not read (unknown: ...); the text keeps them as
// the C tool's 0, the table and JSON leave them out.
func TestInspectUnknownFigures(t *testing.T) {
	d := startRealDaemon(t)
	if out, code := d.ctl(t, "run", "--id", "u", "--", "sleep", "30"); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	cg := filepath.Join(d.root, "u")
	var want []string
	for _, f := range []struct{ file, keys string }{
		{"memory.current", "memory_current"}, {"memory.swap.current", "memory_swap_current"},
		{"pids.current", "pids_current"}, {"cpu.stat", "cpu_usage_usec"}, {"io.stat", "io_rbytes,io_wbytes"},
		{"memory.events", "oom_kill_count"},
	} {
		if _, err := os.Stat(filepath.Join(cg, f.file)); err != nil {
			want = append(want, f.keys)
		}
	}
	text, code := d.ctl(t, "-o", "text", "inspect", "u")
	if code != 0 {
		t.Fatalf("inspect: %d %s", code, text)
	}
	if got := textValue(text, "unknown"); got != strings.Join(want, ",") {
		t.Errorf("unknown: %q, want %q (the files missing in %s)", got, strings.Join(want, ","), cg)
	}
	js, _ := d.ctl(t, "--json", "inspect", "u")
	table, _ := d.ctl(t, "-o", "table", "inspect", "u")
	for _, k := range strings.Split(strings.Join(want, ","), ",") {
		if k == "" {
			continue
		}
		if !strings.Contains(text, "\n"+k+": 0\n") {
			t.Errorf("text lacks the v1 %s: 0:\n%s", k, text)
		}
		if strings.Contains(js, `"`+k+`"`) || strings.Contains(table, k+":") {
			t.Errorf("%s is unknown but shown:\njson %s\ntable:\n%s", k, js, table)
		}
	}
	if strings.Contains(js, `"unknown"`) || strings.Contains(table, "unknown:") {
		t.Errorf("the unknown key itself is shown:\njson %s\ntable:\n%s", js, table)
	}
}

// textValue is key's value in a v1 text block ("" when absent).
func textValue(text, key string) string {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return v
		}
	}
	return ""
}
