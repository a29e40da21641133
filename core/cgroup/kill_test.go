package cgroup_test

import (
	"errors"
	"io/fs"
	"slices"
	"syscall"
	"testing"

	"cgroupd/core/cgroup"
	"cgroupd/core/cgroup/cgrouptest"
	"golang.org/x/sys/unix"
)

func TestProcsFake(t *testing.T) {
	root := fakeTree(t, "full")
	tests := []struct {
		name    string
		d       cgroup.Dir
		want    []int
		wantErr bool
	}{
		{"two", root.Child("job1"), []int{4194401, 4194402}, false},
		{"empty", root.Child("job2"), nil, false},
		{"garbage", fakeTree(t, "garbage").Child("job1"), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.Procs()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKillFake(t *testing.T) {
	// No cgroup.kill: ErrNoKill, still an ENOENT underneath.
	h := fakeTree(t, "hybrid").Child("job1")
	err := h.Kill()
	if !errors.Is(err, cgroup.ErrNoKill) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Kill() = %v, want ErrNoKill wrapping ENOENT", err)
	}
	// Nothing to kill: the fallback returns at once.
	if err := h.KillFallback(); err != nil {
		t.Errorf("KillFallback() = %v", err)
	}
	if got, _ := h.Read(cgroup.FileFreeze); got != "0" {
		t.Errorf("cgroup.freeze after fallback = %q, want 0 (thawed)", got)
	}
	// Pids above PID_MAX_LIMIT do not exist: ESRCH is skipped.
	if err := fakeTree(t, "full").Child("job1").Signal(int(unix.SIGCONT)); err != nil {
		t.Errorf("Signal() on vanished pids = %v", err)
	}
	j := fakeTree(t, "full").Child("job1")
	if err := j.Kill(); err != nil {
		t.Errorf("Kill() on fake file = %v", err)
	}
	if got, _ := j.Read(cgroup.FileKill); got != "1" {
		t.Errorf("cgroup.kill = %q, want 1", got)
	}
}

// exitSignal waits for cmd and returns the signal that killed it.
func exitSignal(t *testing.T, cmd interface{ Wait() error }) syscall.Signal {
	t.Helper()
	err := cmd.Wait()
	var ee interface{ Sys() any }
	if !errors.As(err, &ee) {
		t.Fatalf("wait: %v, want killed by a signal", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		t.Fatalf("wait status %v, want killed by a signal", ws)
	}
	return ws.Signal()
}

func TestKillReal(t *testing.T) {
	tests := []struct {
		name string
		kill func(cgroup.Dir) error
	}{
		{"cgroup.kill", cgroup.Dir.Kill},
		{"fallback", cgroup.Dir.KillFallback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := cgrouptest.Temp(t)
			sub := d.Child("sub")
			if err := sub.Create(); err != nil {
				t.Fatal(err)
			}
			// A shell that keeps forking, a plain sleeper, and one nested.
			forker := startIn(t, d, "sh", "-c", "while :; do sleep 100 & sleep 0.01; done")
			sleeper := startIn(t, d, "sleep", "100")
			nested := startIn(t, sub, "sleep", "100")
			if err := tc.kill(d); err != nil {
				t.Fatalf("kill: %v", err)
			}
			for _, c := range []interface{ Wait() error }{forker, sleeper, nested} {
				if got := exitSignal(t, c); got != syscall.SIGKILL {
					t.Errorf("got signal %v, want SIGKILL", got)
				}
			}
			ev := waitEvents(t, d, func(ev cgroup.Events) bool { return !ev.Populated })
			if ev.Frozen {
				t.Errorf("left frozen: %+v", ev)
			}
			for _, c := range []cgroup.Dir{d, sub} {
				if pids, err := c.Procs(); err != nil || len(pids) != 0 {
					t.Errorf("%s procs = %v, %v; want none", c, pids, err)
				}
			}
		})
	}
}

func TestSignalAttachReal(t *testing.T) {
	d := cgrouptest.Temp(t)
	sub := d.Child("sub")
	if err := sub.Create(); err != nil {
		t.Fatal(err)
	}
	a := startIn(t, d, "sleep", "100")
	// Attach moves a process started elsewhere.
	b := startIn(t, d, "sleep", "100")
	if err := sub.Attach(b.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got, _ := sub.Procs(); !slices.Equal(got, []int{b.Process.Pid}) {
		t.Errorf("sub procs = %v, want [%d]", got, b.Process.Pid)
	}
	if got, _ := d.Procs(); !slices.Equal(got, []int{a.Process.Pid}) {
		t.Errorf("procs = %v, want [%d]", got, a.Process.Pid)
	}
	if err := sub.Attach(1 << 30); !errors.Is(err, unix.ESRCH) {
		t.Errorf("Attach(no such pid) = %v, want ESRCH", err)
	}
	if err := d.Signal(int(unix.SIGTERM)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Wait() error }{a, b} {
		if got := exitSignal(t, c); got != syscall.SIGTERM {
			t.Errorf("got signal %v, want SIGTERM", got)
		}
	}
}
