package sdnotify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen binds a datagram socket at path (or abstract '@name') and returns
// its fd.
func listen(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatalf("bind %s: %v", path, err)
	}
	return fd
}

func recv(t *testing.T, fd int) string {
	t.Helper()
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return string(buf[:n])
}

func TestSendPathAndAbstract(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", fmt.Sprintf("@cgroupd-sdnotify-test-%d", os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := listen(t, tc.path)
			c, err := Open(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, msg := range []string{"READY=1\nSTATUS=0 jobs", "WATCHDOG=1", "STOPPING=1"} {
				if err := c.Send(msg); err != nil {
					t.Fatalf("Send(%q): %v", msg, err)
				}
				if got := recv(t, fd); got != msg {
					t.Errorf("received %q, want %q", got, msg)
				}
			}
		})
	}
}

// A receiver that never reads fills up: Send must fail with EAGAIN, not
// block.
func TestSendNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	listen(t, path)
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := string(make([]byte, 1024))
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 100000; i++ {
			if err := c.Send(msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("Send to a full queue: got %v, want EAGAIN", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked on a full receive queue")
	}
}

func TestSendNoListener(t *testing.T) {
	c, err := Open(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send("READY=1"); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Send without a listener: got %v, want ENOENT", err)
	}
}

func TestOpenBad(t *testing.T) {
	for _, p := range []string{"", "@", "relative/path", "/" + string(make([]byte, 120))} {
		if c, err := Open(p); err == nil {
			c.Close()
			t.Errorf("Open(%q): no error", p)
		}
	}
}

func TestWatchdog(t *testing.T) {
	for _, tc := range []struct {
		usec, wpid string
		pid        int
		want       time.Duration
		bad        bool
	}{
		{"", "", 7, 0, false},
		{"30000000", "", 7, 15 * time.Second, false},
		{"30000000", "7", 7, 15 * time.Second, false},
		{"30000000", "8", 7, 0, false},
		{"1", "", 7, 500 * time.Nanosecond, false},
		{"0", "", 7, 0, true},
		{"x", "", 7, 0, true},
		{"-5", "", 7, 0, true},
		{"30000000", "pid", 7, 0, true},
		{"99999999999999999999", "", 7, 0, true},
	} {
		got, err := Watchdog(tc.usec, tc.wpid, tc.pid)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Watchdog(%q, %q, %d) = %v, %v; want %v, error %v", tc.usec, tc.wpid, tc.pid, got, err, tc.want, tc.bad)
		}
	}
}
