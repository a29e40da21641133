package daemon

// Helpers of the host integration tests: they build the real binary once
// (TestMain), start `cgroupd` against this host's cgroup2 hierarchy with a
// unique root and a socket in a temp dir, and talk to it over the socket
// or through the real `cgroupctl`.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cgroupd/applets/daemon/hosttest"
)

// binDir holds cgroupbox and its applet links; empty when the build failed.
var (
	binDir   string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cgroupd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// World-readable so a test can run the client as another uid.
	os.Chmod(dir, 0o755)
	buildErr = buildBinary(dir)
	if buildErr == nil {
		binDir = dir
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildBinary(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	if err := goBuild(filepath.Dir(strings.TrimSpace(string(out))), filepath.Join(dir, "cgroupbox")); err != nil {
		return err
	}
	for _, a := range []string{"cgroupd", "cgroupctl", "memhog", "cpuhog"} {
		if err := os.Symlink("cgroupbox", filepath.Join(dir, a)); err != nil {
			return err
		}
	}
	return nil
}

// goBuild builds the static cgroupbox of the module at modRoot as bin.
func goBuild(modRoot, bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, "cgroupd")
	cmd.Dir = modRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// hostMount returns the cgroup2 mount or skips the test with the exact
// missing thing.
func hostMount(t *testing.T) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building the binary: %v", buildErr)
	}
	return hosttest.Mount(t)
}

// lines collects the daemon's stderr and lets tests wait for lines.
type lines struct {
	held    sync.Mutex // held while the reader must not read (pause)
	mu      sync.Mutex
	all     []string
	changed chan struct{}
	closed  bool
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

// pause stops reading the daemon's stderr after the current line, as a
// consumer that stopped reading; resume reads on.
func (l *lines) pause()  { l.held.Lock() }
func (l *lines) resume() { l.held.Unlock() }

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *lines) close() {
	l.mu.Lock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *lines) snapshot() ([]string, chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...), l.changed, l.closed
}

// waitLine waits until pred holds for some line; it returns that line.
func (l *lines) waitLine(t *testing.T, timeout time.Duration, what string, pred func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		all, ch, closed := l.snapshot()
		for _, s := range all {
			if pred(s) {
				return s
			}
		}
		if closed {
			t.Fatalf("daemon stderr ended without %s", what)
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// count returns how many lines satisfy pred.
func (l *lines) count(pred func(string) bool) int {
	all, _, _ := l.snapshot()
	n := 0
	for _, s := range all {
		if pred(s) {
			n++
		}
	}
	return n
}

// evt is a parsed EVENT line.
type evt map[string]string

func parseEvent(s string) (evt, bool) {
	if !strings.HasPrefix(s, "EVENT ") {
		return nil, false
	}
	ev := evt{}
	for _, f := range strings.Fields(s)[1:] {
		k, v, _ := strings.Cut(f, "=")
		ev[k] = v
	}
	return ev, true
}

// events returns the events of a type (all types for "").
func (l *lines) events(typ string) []evt {
	all, _, _ := l.snapshot()
	var out []evt
	for _, s := range all {
		if ev, ok := parseEvent(s); ok && (typ == "" || ev["type"] == typ) {
			out = append(out, ev)
		}
	}
	return out
}

// find is the first event of typ so far whose keys include want.
func (l *lines) find(typ string, want map[string]string) (evt, bool) {
next:
	for _, ev := range l.events(typ) {
		for k, v := range want {
			if ev[k] != v {
				continue next
			}
		}
		return ev, true
	}
	return nil, false
}

// waitEvent waits for an event of typ whose keys include want.
func (l *lines) waitEvent(t *testing.T, typ string, want map[string]string) evt {
	t.Helper()
	s := l.waitLine(t, 10*time.Second, fmt.Sprintf("event %s %v", typ, want), func(s string) bool {
		ev, ok := parseEvent(s)
		if !ok || ev["type"] != typ {
			return false
		}
		for k, v := range want {
			if ev[k] != v {
				return false
			}
		}
		return true
	})
	ev, _ := parseEvent(s)
	return ev
}

// testDaemon is one running cgroupd.
type testDaemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	root   string
	sock   string
	logDir string
	out    *lines
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
}

var rootSeq int

// newRootPath returns a unique cgroup root path for one daemon.
func newRootPath(t *testing.T) string {
	mount := hostMount(t)
	rootSeq++
	return filepath.Join(mount, fmt.Sprintf("cgroupd-test-%d-%d", os.Getpid(), rootSeq))
}

// startDaemon starts cgroupd with a fresh root and socket and waits for
// "cgroupd ready". Cleanup stops it and removes every cgroup it left.
func startDaemon(t *testing.T, args ...string) *testDaemon {
	t.Helper()
	d := startDaemonAt(t, newRootPath(t), sockPath(t), args...)
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	return d
}

// sockPath is a socket path in a directory of its own that every user
// may search (not t.TempDir: its parent is 0700, and a test connects as
// nobody), removed at cleanup.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cgroupd-sock-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "cgroupd.sock")
}

// startDaemonAt starts cgroupd without waiting for it to be ready.
func startDaemonAt(t *testing.T, root, sock string, args ...string) *testDaemon {
	t.Helper()
	return startDaemonCmd(t, root, sock, nil, args...)
}

// startDaemonCmd is startDaemonAt with a hook to adjust the command.
func startDaemonCmd(t *testing.T, root, sock string, prep func(*exec.Cmd), args ...string) *testDaemon {
	t.Helper()
	if os.Getenv("CGROUPD_TEST_USER_EMU") != "" {
		// make test-cross: the daemon built for another architecture runs
		// only through binfmt_misc, and qemu-user has no clone3 (ENOSYS).
		// Every daemon test runs natively and in the VMs.
		t.Skip("starts the daemon: not under user-mode emulation")
	}
	d := &testDaemon{t: t, root: root, sock: sock, out: newLines(), exited: make(chan struct{})}
	// Admission off unless a test turns it on (later flags win): host
	// pressure from other work must not refuse the tests' jobs.
	argv := append([]string{"-r", root, "-s", sock, "--mem-admit-some-avg10", "-1", "--mem-admit-full-avg10", "-1",
		"--cpu-admit-some-avg10", "-1", "--io-admit-full-avg10", "-1"}, args...)
	for i, a := range argv {
		if (a == "-L" || a == "--log-dir") && i+1 < len(argv) {
			d.logDir = argv[i+1]
		}
	}
	d.cmd = exec.Command(filepath.Join(binDir, "cgroupd"), argv...)
	d.cmd.Dir = "/"
	if prep != nil {
		prep(d.cmd)
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			d.out.add(sc.Text())
			d.out.held.Lock() // pause() stops reading here
			d.out.held.Unlock()
		}
		d.out.close()
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			all, _, _ := d.out.snapshot()
			t.Logf("daemon stderr:\n%s", strings.Join(all, "\n"))
		}
		removeTree(t, root)
		os.RemoveAll(filepath.Join("/run/cgroupd", filepath.Base(root))) // default --state-dir
	})
	return d
}

// stop sends SIGTERM (if still running) and waits for the exit.
func (d *testDaemon) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.t.Errorf("daemon did not exit 20 s after SIGTERM; killing it")
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// waitExit waits for the daemon to exit and returns its exit code.
func (d *testDaemon) waitExit(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.t.Fatalf("daemon still running after %v", timeout)
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode()
	}
	if d.err != nil {
		d.t.Fatalf("daemon wait: %v", d.err)
	}
	return 0
}

// removeTree kills and removes every cgroup under root (children first),
// then root itself. Only cgroups the test's daemon created are touched.
func removeTree(t *testing.T, root string) {
	if _, err := os.Stat(root); err != nil {
		return
	}
	var dirs []string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		p := dirs[i]
		os.WriteFile(filepath.Join(p, "cgroup.kill"), []byte("1"), 0)
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := syscall.Rmdir(p)
			if err == nil || errors.Is(err, syscall.ENOENT) || time.Now().After(deadline) {
				if err != nil && !errors.Is(err, syscall.ENOENT) {
					t.Errorf("cleanup: rmdir %s: %v", p, err)
				}
				break
			}
			time.Sleep(10 * time.Millisecond) // poll: the kill is asynchronous
		}
	}
}

// response is a parsed protocol response.
type response struct {
	Status string
	KV     map[string]string
	Blocks []map[string]string // LIST job blocks
	Raw    string
}

func parseResponse(raw string) response {
	r := response{KV: map[string]string{}, Raw: raw}
	for _, block := range strings.Split(strings.TrimRight(raw, "\n"), "\n\n") {
		kv := map[string]string{}
		status := ""
		for _, ln := range strings.Split(block, "\n") {
			k, v, _ := strings.Cut(ln, ": ")
			if k == "STATUS" {
				status = v
				continue
			}
			if _, ok := kv[k]; !ok {
				kv[k] = v
			}
		}
		if status != "" {
			r.Status, r.KV = status, kv
		} else {
			r.Blocks = append(r.Blocks, kv)
		}
	}
	return r
}

// dial connects to the daemon's socket.
func (d *testDaemon) dial() net.Conn {
	d.t.Helper()
	c, err := net.Dial("unix", d.sock)
	if err != nil {
		d.t.Fatalf("connect %s: %v", d.sock, err)
	}
	return c
}

// rawRequest sends raw bytes, half-closes and reads the whole response.
func (d *testDaemon) rawRequest(b []byte) string {
	d.t.Helper()
	c := d.dial()
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(b); err != nil {
		d.t.Fatalf("write: %v", err)
	}
	c.(*net.UnixConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		d.t.Fatalf("read response: %v", err)
	}
	return string(out)
}

// encode builds a request from a verb and key/value pairs.
func encode(verb string, kv ...string) []byte {
	var b bytes.Buffer
	b.WriteString(verb + "\n")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + ": " + kv[i+1] + "\n")
	}
	b.WriteString("\n")
	return b.Bytes()
}

// do sends one request and parses the response.
func (d *testDaemon) do(verb string, kv ...string) response {
	d.t.Helper()
	return parseResponse(d.rawRequest(encode(verb, kv...)))
}

// mustOK fails the test unless the response is ok.
func mustOK(t *testing.T, r response) response {
	t.Helper()
	if r.Status != "ok" {
		t.Fatalf("got %q, want STATUS: ok", r.Raw)
	}
	return r
}

// wantErr fails the test unless the response is an err with that reason.
func wantErr(t *testing.T, r response, reason string) {
	t.Helper()
	if r.Status != "err" || r.KV["reason"] != reason {
		t.Fatalf("got %q, want STATUS: err with reason %q", r.Raw, reason)
	}
}

// run starts a job from argv and returns the RUN response.
func (d *testDaemon) run(id string, argv []string, kv ...string) response {
	d.t.Helper()
	var req []string
	if id != "" {
		req = append(req, "id", id)
	}
	req = append(req, kv...)
	for _, a := range argv {
		req = append(req, "arg", a)
	}
	return d.do("RUN", req...)
}

// ctl runs the real cgroupctl against the daemon; it returns stdout,
// stderr and the exit code.
func (d *testDaemon) ctl(args ...string) (string, string, int) {
	return d.ctlAs(nil, args...)
}

func (d *testDaemon) ctlAs(cred *syscall.Credential, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "cgroupctl"), append([]string{"--socket", d.sock}, args...)...)
	cmd.Dir = "/"
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("cgroupctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// readFile returns a cgroup file's content, trimmed.
func readFile(t *testing.T, p string) string { t.Helper(); return hosttest.ReadFile(t, p) }

// pollUntil polls cond until it holds or the deadline passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// children lists the cgroup directories directly under root.
func children(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("read root: %v", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

var execCommand = exec.Command

// exitCode is the exit status in an exec error (0 for nil, -1 otherwise).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
