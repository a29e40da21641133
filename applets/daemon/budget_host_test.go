package daemon

// Host tests of what one user may cost the daemon through its connections
// (package budget, issue 33 #2 and #3): a client that does not read is
// dropped with an event, buffers are bounded and given back, and one
// user's connections leave root its ping, run and quit.

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileUser is a cgroupbench hostile process holding connections.
type hostileUser struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	ready string
}

// hostile starts `cgroupbench hostile` against d as cred (nil: root) and
// waits for its "ready" line; cleanup lets it go.
func (d *testDaemon) hostile(cred *syscall.Credential, args ...string) *hostileUser {
	t := d.t
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "cgroupbox"), append([]string{"cgroupbench", "hostile", "-socket", d.sock}, args...)...)
	cmd.Dir = "/"
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostileUser{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { h.stop() })
	line, err := h.out.ReadString('\n')
	if !strings.HasPrefix(line, "ready ") {
		t.Fatalf("cgroupbench hostile %v: got %q (%v), want a ready line", args, line, err)
	}
	h.ready = strings.TrimSpace(line)
	return h
}

// stop closes the hostile user's connections and waits for it to exit.
func (h *hostileUser) stop() {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	io.Copy(io.Discard, h.out)
	h.cmd.Wait()
}

// vmRSS is a process's resident memory in bytes (/proc/PID/status).
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(ln, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// A client that takes none of what waits for it is dropped after
// --write-timeout, with a client.drop event, whatever it waits for: an
// EVENTS follower whose history fills its socket, a LOGS reader.
func TestSlowConsumerDropped(t *testing.T) {
	logDir := t.TempDir()
	d := startDaemon(t, "--write-timeout", "1s", "-L", logDir)
	// 400 jobs of 64-byte ids: their start, exit and cleanup lines are
	// more than a socket buffer (212 KiB) of history.
	prefix := strings.Repeat("h", 56)
	cmd := exec.Command(filepath.Join(binDir, "cgroupbox"), "cgroupbench", "run", "-socket", d.sock,
		"-count", "400", "-warmup", "0", "-clients", "4", "-prefix", prefix)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cgroupbench run: %v\n%s", err, out)
	}
	h := d.hostile(nil, "-kind", "events", "-conns", "1")
	if h.ready != "ready opened=1 refused=0" {
		t.Fatalf("EVENTS follower: %s", h.ready)
	}
	ev := d.out.waitEvent(t, "client.drop", map[string]string{"reason": "write_timeout", "uid": "0"})
	if n, _ := strconv.Atoi(ev["bytes"]); n < 64<<10 {
		t.Errorf("client.drop of the EVENTS follower: bytes=%s, want the unsent history (more than 64 KiB)", ev["bytes"])
	}

	mustOK(t, d.run("big", []string{"head", "-c", "4000000", "/dev/zero"}))
	mustOK(t, d.do("WAIT", "id", "big"))
	c := d.dial()
	defer c.Close()
	if _, err := c.Write(encode("LOGS", "id", "big")); err != nil {
		t.Fatal(err)
	}
	d.out.waitEvent(t, "client.drop", map[string]string{"reason": "write_timeout", "pid": strconv.Itoa(os.Getpid())})
	mustOK(t, d.do("PING"))
}

// Requests that never end hold at most --conn-memory (the largest of the
// user holding the most are dropped, with client.drop reason=memory), and
// once the connections close the daemon's RSS comes back near what it was
// idle, although mlockall holds every page it touched.
func TestConnMemoryBoundedAndGivenBack(t *testing.T) {
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "--conn-memory", "16M")
	pid := d.cmd.Process.Pid
	mustOK(t, d.do("PING"))
	idle := vmRSS(t, pid)
	// 60 requests of 4 MiB less 4 KiB that never end: 240 MiB unbounded.
	h := d.hostile(asNobody, "-kind", "partial", "-conns", "60")
	pollUntil(t, 30*time.Second, "the 60 partial requests read", func() bool {
		return d.out.count(func(s string) bool { return strings.Contains(s, "type=client.drop") }) >= 50
	})
	if ev := d.out.events("client.drop")[0]; ev["reason"] != "memory" || ev["uid"] != strconv.Itoa(nobody) {
		t.Errorf("first client.drop %v, want reason memory of uid %d", ev, nobody)
	}
	held := vmRSS(t, pid)
	mustOK(t, d.do("PING"))
	h.stop()
	// Freed memory is given back at the next tick past 8 MiB freed.
	var now int64
	pollUntil(t, 30*time.Second, "RSS near idle", func() bool {
		now = vmRSS(t, pid)
		return now <= idle+24<<20
	})
	t.Logf("RSS idle %d MiB, under 60 partial requests %d MiB, after they closed %d MiB", idle>>20, held>>20, now>>20)
	if held > idle+160<<20 {
		t.Errorf("RSS under 60 partial 4 MiB requests with --conn-memory 16M: %d MiB, idle %d MiB: want the buffers bounded", held>>20, idle>>20)
	}
}

// One user holds its --max-user-conns: its next connection is refused,
// root's ping, run and quit are answered.
func TestUserConnQuota(t *testing.T) {
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "--max-user-conns", "40")
	h := d.hostile(asNobody, "-kind", "silent", "-conns", "40")
	if h.ready != "ready opened=40 refused=0" {
		t.Fatalf("nobody's connections: %s", h.ready)
	}
	out, _, _ := d.ctlAs(asNobody, "ping")
	if !strings.Contains(out, "too many connections") || !strings.Contains(out, "--max-user-conns 40") {
		t.Errorf("nobody's 41st connection: got %q, want too many connections naming --max-user-conns 40", out)
	}
	rootServed(t, d)
}

// One user takes every descriptor it may: root's ping, run and quit are
// still answered, from the descriptors kept for root (--root-reserve) or,
// with none kept, from the spare closed when accept meets EMFILE.
func TestRootReserve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reserve string
		run     bool // root's RUN: the reserve leaves it descriptors
	}{
		{"reserve", "200", true},
		{"spare only", "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDaemonCmd(t, newRootPath(t), sockPath(t), func(c *exec.Cmd) {
				// A low open file limit, soft and hard: the daemon raises
				// its soft limit to the hard one.
				c.Args = append([]string{"sh", "-c", `ulimit -n 400 && exec "$0" "$@"`}, c.Args...)
				c.Path = "/bin/sh"
			}, "--socket-group", strconv.Itoa(nobody), "--max-user-conns", "5000", "--root-reserve", tc.reserve)
			d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
			h := d.hostile(asNobody, "-kind", "silent", "-conns", "600")
			t.Logf("nobody: %s", h.ready)
			out, _, _ := d.ctlAs(asNobody, "ping")
			if !strings.Contains(out, "too many connections") {
				t.Errorf("nobody's connection past the limit: got %q, want too many connections", out)
			}
			if tc.run {
				rootServed(t, d)
				return
			}
			mustOK(t, d.do("PING"))
			mustOK(t, d.do("QUIT"))
			if code := d.waitExit(20 * time.Second); code != 0 {
				t.Errorf("daemon exit %d after QUIT, want 0", code)
			}
		})
	}
}

// rootServed: root's ping, run and quit are answered.
func rootServed(t *testing.T, d *testDaemon) {
	t.Helper()
	mustOK(t, d.do("PING"))
	mustOK(t, d.run("root-job", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "root-job"))
	mustOK(t, d.do("QUIT"))
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("daemon exit %d after QUIT, want 0", code)
	}
}
