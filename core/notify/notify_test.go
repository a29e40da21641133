package notify

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/cgroup/cgrouptest"
	"golang.org/x/sys/unix"
)

func newWatcher(t *testing.T) *Watcher {
	t.Helper()
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitReadable blocks (poll, bounded) until the watcher has events.
func waitReadable(t *testing.T, w *Watcher, timeout time.Duration) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(w.FD()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
}

// event encodes one struct inotify_event.
func event(wd int32, mask uint32, name string) []byte {
	nameLen := 0
	if name != "" {
		nameLen = (len(name) + 1 + 15) / 16 * 16
	}
	b := make([]byte, unix.SizeofInotifyEvent+nameLen)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(nameLen))
	copy(b[16:], name)
	return b
}

func TestParse(t *testing.T) {
	cat := func(bs ...[]byte) []byte { return slices.Concat(bs...) }
	tests := []struct {
		name string
		in   []byte
		want []int
	}{
		{"empty", nil, nil},
		{"one", event(3, unix.IN_MODIFY, ""), []int{3}},
		{"dedup keeps order", cat(event(5, unix.IN_MODIFY, ""), event(2, unix.IN_MODIFY, ""), event(5, unix.IN_MODIFY, "")), []int{5, 2}},
		{"ignored dropped", cat(event(4, unix.IN_MODIFY, ""), event(4, unix.IN_IGNORED, "")), []int{4}},
		{"overflow", cat(event(-1, unix.IN_Q_OVERFLOW, ""), event(7, unix.IN_MODIFY, "")), []int{Overflow, 7}},
		{"with name", cat(event(1, unix.IN_MODIFY, "cgroup.events"), event(2, unix.IN_MODIFY, "")), []int{1, 2}},
		{"other mask", event(9, unix.IN_ATTRIB, ""), nil},
		{"truncated", event(1, unix.IN_MODIFY, "x")[:20], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parse(tc.in, nil); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlainFile(t *testing.T) {
	w := newWatcher(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wa, err := w.Add(a)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := w.Add(b)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := w.Add(a); again != wa {
		t.Errorf("Add twice: wd %d, want %d", again, wa)
	}
	if got, err := w.Read(); got != nil || err != nil {
		t.Errorf("Read with nothing pending = %v, %v; want nil, nil", got, err)
	}
	os.WriteFile(b, []byte("1"), 0o644)
	os.WriteFile(a, []byte("1"), 0o644)
	os.WriteFile(b, []byte("2"), 0o644)
	got, err := w.Read()
	if err != nil || !slices.Equal(got, []int{wb, wa}) {
		t.Errorf("Read = %v, %v; want [%d %d]", got, err, wb, wa)
	}
	if err := w.Remove(wa); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a, []byte("3"), 0o644)
	if got, _ := w.Read(); len(got) != 0 {
		t.Errorf("after Remove: Read = %v, want nothing", got)
	}
	// Deleting a watched file: IN_IGNORED is dropped, Remove is no error.
	os.Remove(b)
	got, _ = w.Read()
	if slices.Contains(got, wb) {
		t.Errorf("Read after delete = %v, want no wd %d", got, wb)
	}
	if err := w.Remove(wb); err != nil {
		t.Errorf("Remove of dropped wd = %v, want nil", err)
	}
	if _, err := w.Add(filepath.Join(dir, "missing")); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Add(missing) = %v, want ENOENT", err)
	}
}

// A paced watch reports a change once, then nothing for its period
// however often the file changes, then once more when the period is
// over; a quiet file is reported no more. Remove ends the pacing.
func TestPace(t *testing.T) {
	w := newWatcher(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, nil, 0o644)
	os.WriteFile(b, nil, 0o644)
	wa, _ := w.Add(a)
	wb, _ := w.Add(b)
	const period = 50 * time.Millisecond
	if err := w.Pace(wa, a, period); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(a, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("1"))
	if got, _ := w.Read(); !slices.Equal(got, []int{wa}) {
		t.Fatalf("first change: Read = %v, want [%d]", got, wa)
	}
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		f.Write([]byte("x"))
	}
	os.WriteFile(b, []byte("1"), 0o644)
	got, _ := w.Read()
	if time.Since(t0) < period && !slices.Equal(got, []int{wb}) {
		t.Errorf("1000 writes to a muted a, one to b: Read = %v, want [%d]", got, wb)
	}
	if !waitReadable(t, w, 10*period) {
		t.Fatal("the period ended without the watcher becoming readable")
	}
	if got, _ := w.Read(); !slices.Equal(got, []int{wa}) {
		t.Errorf("period over: Read = %v, want [%d]", got, wa)
	}
	if el := time.Since(t0); el < period {
		t.Errorf("reported again after %v, want after the period %v", el, period)
	}
	// On again: quiet now, so no report at the next period's end.
	if waitReadable(t, w, 3*period) {
		got, _ := w.Read()
		t.Errorf("quiet file: readable, Read = %v; want nothing", got)
	}
	f.Write([]byte("2"))
	if got, _ := w.Read(); !slices.Equal(got, []int{wa}) {
		t.Errorf("change after a quiet period: Read = %v, want [%d]", got, wa)
	}
	// Removed while muted: never reported again.
	w.Remove(wa)
	if waitReadable(t, w, 3*period) {
		if got, _ := w.Read(); len(got) != 0 {
			t.Errorf("removed while muted: Read = %v, want nothing", got)
		}
	}
}

// TestCgroupEvents verifies on the real kernel that cgroup.events sends
// IN_MODIFY when a cgroup is frozen and when it is populated, and that
// removing the cgroup drops the watch.
func TestCgroupEvents(t *testing.T) {
	d := cgrouptest.Temp(t)
	job := d.Child("job")
	if err := job.Create(); err != nil {
		t.Fatal(err)
	}
	other := d.Child("other")
	if err := other.Create(); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t)
	wd, err := w.Add(filepath.Join(string(job), cgroup.FileEvents))
	if err != nil {
		t.Fatal(err)
	}
	wdOther, err := w.Add(filepath.Join(string(other), cgroup.FileEvents))
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	start := func() error {
		fd, err := job.OpenDir()
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cmd = exec.Command("sleep", "100")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		return cmd.Start()
	}
	kill := func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return nil
	}
	steps := []struct {
		name string
		do   func() error
		want cgroup.Events
	}{
		{"populate", start, cgroup.Events{Populated: true}},
		{"freeze", func() error { return job.SetFrozen(true) }, cgroup.Events{Populated: true, Frozen: true}},
		{"thaw", func() error { return job.SetFrozen(false) }, cgroup.Events{Populated: true}},
		{"exit", kill, cgroup.Events{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			if !waitReadable(t, w, 5*time.Second) {
				t.Fatal("no inotify event within 5 s")
			}
			got, err := w.Read()
			if err != nil || !slices.Equal(got, []int{wd}) {
				t.Fatalf("Read = %v, %v; want [%d] (not %d)", got, err, wd, wdOther)
			}
			// Freezing and exiting take effect asynchronously: each change
			// of cgroup.events is an event, so wait for the wanted state.
			for {
				ev, err := job.Events()
				if err != nil {
					t.Fatal(err)
				}
				if ev == st.want {
					break
				}
				if !waitReadable(t, w, 5*time.Second) {
					t.Fatalf("cgroup.events = %+v, want %+v", ev, st.want)
				}
				w.Read()
			}
		})
	}
	t.Run("rmdir", func(t *testing.T) {
		// kernfs does not send IN_IGNORED on rmdir (6.18): the watch pins
		// the inode until it is removed, so the daemon must Remove it.
		if err := job.Remove(); err != nil {
			t.Fatal(err)
		}
		if err := w.Remove(wd); err != nil {
			t.Errorf("Remove after rmdir = %v, want nil", err)
		}
		if err := w.Remove(wd); err != nil {
			t.Errorf("second Remove = %v, want nil", err)
		}
	})
}

// TestManyWatches: thousands of watches cost one fd.
func TestManyWatches(t *testing.T) {
	w := newWatcher(t)
	dir := t.TempDir()
	const n = 2000
	wds := make(map[int]bool, n)
	for i := range n {
		p := filepath.Join(dir, "f"+strconv.Itoa(i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		wd, err := w.Add(p)
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		wds[wd] = true
	}
	if len(wds) != n {
		t.Errorf("%d distinct wds, want %d", len(wds), n)
	}
}
