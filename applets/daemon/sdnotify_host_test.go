package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notifyListener is a stand-in for systemd's notify socket: it collects
// every datagram.
type notifyListener struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, msgs: make(chan string, 1024)}
	// Closing the fd does not wake a blocked recvfrom; a timeout does.
	tv := unix.Timeval{Usec: 100000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, _, err := unix.Recvfrom(fd, buf, 0)
			if err == nil {
				n.msgs <- string(buf[:k])
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; unix.Close(fd) })
	return n
}

// next returns the next message that satisfies pred, skipping others
// (keep-alives arrive between the interesting ones).
func (n *notifyListener) next(t *testing.T, what string, pred func(string) bool) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-n.msgs:
			if pred(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no notify message %s within 10 s", what)
		}
	}
}

func TestSdNotify(t *testing.T) {
	n := listenNotify(t)
	logDir := t.TempDir()
	dir := t.TempDir()
	d := startDaemonCmd(t, newRootPath(t), filepath.Join(dir, "s.sock"), func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path, "WATCHDOG_USEC=200000")
	}, "-L", logDir)
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })

	// READY=1 comes with the first status, after "cgroupd ready".
	m := n.next(t, "READY=1", func(m string) bool { return m != "WATCHDOG=1" })
	if want := "READY=1\nSTATUS=0 running, 0 frozen, 0 pending, 0 ended"; m != want {
		t.Fatalf("first message %q, want %q", m, want)
	}
	// A job: the status follows within a tick, and the job does not see
	// the notify variables.
	mustOK(t, d.run("env", []string{"sh", "-c", "env; exec sleep 30"}))
	m = n.next(t, "STATUS= with the running job", func(m string) bool { return strings.HasPrefix(m, "STATUS=") })
	if want := "STATUS=1 running, 0 frozen, 0 pending, 0 ended"; m != want {
		t.Errorf("status %q, want %q", m, want)
	}
	log := readFile(t, filepath.Join(logDir, "env.log"))
	for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC="} {
		if strings.Contains(log, v) {
			t.Errorf("the job's environment has %s: %q", v, log)
		}
	}
	if !strings.Contains(log, "PATH=") {
		t.Errorf("job env looks empty: %q", log)
	}
	// WATCHDOG_USEC=200000: a keep-alive every 100 ms.
	start := time.Now()
	for i := 0; i < 5; i++ {
		n.next(t, "WATCHDOG=1", func(m string) bool { return m == "WATCHDOG=1" })
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("5 keep-alives took %v, want about 0.5 s", el)
	}
	d.cmd.Process.Signal(unix.SIGTERM)
	m = n.next(t, "STOPPING=1", func(m string) bool { return strings.HasPrefix(m, "STOPPING=1") })
	if want := "STOPPING=1\nSTATUS=stopping: 1 running, 0 frozen, 0 pending, 0 ended"; m != want {
		t.Errorf("stop message %q, want %q", m, want)
	}
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}

// A notify socket nobody listens on: the daemon runs on and logs the
// failure once, not once per keep-alive.
func TestSdNotifyNoListener(t *testing.T) {
	dir := t.TempDir()
	d := startDaemonCmd(t, newRootPath(t), filepath.Join(dir, "s.sock"), func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(dir, "absent"), "WATCHDOG_USEC=20000")
	})
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	mustOK(t, d.run("a", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "a"))
	// Many keep-alives (every 10 ms) have failed by the second tick.
	mustOK(t, d.run("b", []string{"sleep", "1.5"}))
	mustOK(t, d.do("WAIT", "id", "b"))
	if got := d.out.count(func(s string) bool { return strings.HasPrefix(s, "cgroupd: sd_notify ") }); got != 1 {
		t.Errorf("%d sd_notify failure lines, want 1", got)
	}
	// A watchdog interval that does not parse is reported, not fatal.
	d2 := startDaemonCmd(t, newRootPath(t), filepath.Join(dir, "s2.sock"), func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(dir, "absent"), "WATCHDOG_USEC=soon")
	})
	d2.out.waitLine(t, 10*time.Second, "the watchdog error", func(s string) bool {
		return strings.Contains(s, `WATCHDOG_USEC="soon"`)
	})
	mustOK(t, d2.do("PING"))
}
