package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// created watches dirs for entries created in them (inotify IN_CREATE):
// the names, read once the watched action is over.
type created struct{ fd int }

func watchCreates(t *testing.T, dirs ...string) *created {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, d := range dirs {
		if _, err := unix.InotifyAddWatch(fd, d, unix.IN_CREATE); err != nil {
			t.Fatalf("inotify %s: %v", d, err)
		}
	}
	return &created{fd}
}

// names are the entries created since the watch began.
func (c *created) names() []string {
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(c.fd, buf)
		if err != nil || n <= 0 {
			return out
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			l := int(buf[off+12]) | int(buf[off+13])<<8 | int(buf[off+14])<<16 | int(buf[off+15])<<24
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+l]), "\x00")
			out = append(out, name)
			off += unix.SizeofInotifyEvent + l
		}
	}
}

// TestStartChecksFirst: a start that cannot work is refused, with the
// cause, before it creates anything: no root cgroup, state dir, log dir
// or socket appears even for a moment (inotify sees every creation).
func TestStartChecksFirst(t *testing.T) {
	mount := hostMount(t)
	for _, tc := range []struct {
		name string
		args func(tmp string) []string
		want string
	}{
		{"missing socket directory", func(tmp string) []string {
			return []string{"-s", filepath.Join(tmp, "no", "such", "dir", "s.sock")}
		}, "no such directory"},
		{"unknown socket group", func(string) []string { return []string{"--socket-group", "no-such-group-xyz"} }, "--socket-group no-such-group-xyz"},
		{"metrics file in a missing directory", func(tmp string) []string {
			return []string{"--metrics-file", filepath.Join(tmp, "no", "m.prom")}
		}, "metrics file"},
		{"state dir under a file", func(tmp string) []string {
			return []string{"--state-dir", filepath.Join(tmp, "file", "state")}
		}, "state dir"},
		{"log dir under a file", func(tmp string) []string { return []string{"-L", filepath.Join(tmp, "file", "logs")} }, "log dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			if err := os.WriteFile(filepath.Join(tmp, "file"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			root := newRootPath(t)
			w := watchCreates(t, mount, tmp, "/run")
			args := append([]string{"--state-dir", filepath.Join(tmp, "state"), "-L", filepath.Join(tmp, "logs")}, tc.args(tmp)...)
			d := startDaemonAt(t, root, filepath.Join(tmp, "s.sock"), args...)
			if code := d.waitExit(10 * time.Second); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			all, _, _ := d.out.snapshot()
			if len(all) == 0 || !strings.Contains(all[len(all)-1], tc.want) {
				t.Errorf("stderr %q: want the cause (%q) last", all, tc.want)
			}
			for _, n := range w.names() {
				if n == filepath.Base(root) || n == "state" || n == "logs" || n == "s.sock" || n == "cgroupd" {
					t.Errorf("the refused start created %s (removed after, perhaps, but made first)", n)
				}
			}
		})
	}
}

// TestSecondDaemonTouchesNothing: a second daemon on a root in use is
// refused by the root's lock before it reads, prunes or writes any of the
// first one's state: its kept logs (a --log-retain 0 would prune them),
// its records, its metrics file.
func TestSecondDaemonTouchesNothing(t *testing.T) {
	logs := t.TempDir()
	metrics := filepath.Join(t.TempDir(), "m.prom")
	d := startDaemon(t, "-L", logs, "--metrics-file", metrics, "--metrics-interval", "1h")
	for _, id := range []string{"a", "b"} {
		mustOK(t, d.run(id, []string{"echo", id}))
		mustOK(t, d.do("WAIT", "id", id))
		mustOK(t, d.do("REMOVE", "id", id))
	}
	before, err := os.Stat(metrics)
	if err != nil {
		t.Fatal(err)
	}
	other := startDaemonAt(t, d.root, filepath.Join(t.TempDir(), "other.sock"), "-L", logs, "--log-retain", "0", "--metrics-file", metrics)
	if code := other.waitExit(10 * time.Second); code != 1 {
		t.Fatalf("second daemon: exit %d, want 1", code)
	}
	all, _, _ := other.out.snapshot()
	if !strings.Contains(strings.Join(all, "\n"), "in use by another cgroupd") {
		t.Errorf("second daemon's stderr: %q", all)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(logs, id+".log")); err != nil {
			t.Errorf("the refused daemon pruned the first one's kept log %s.log: %v", id, err)
		}
	}
	if after, err := os.Stat(metrics); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the refused daemon wrote the first one's metrics file")
	}
	mustOK(t, d.do("PING"))
}
