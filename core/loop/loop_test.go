package loop

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func newLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pipe returns a non-blocking pipe closed at the end of the test.
func pipe(t *testing.T) (r, w int) {
	t.Helper()
	r, w = rawPipe(t)
	t.Cleanup(func() { unix.Close(r); unix.Close(w) })
	return r, w
}

// rawPipe returns a non-blocking pipe the test closes itself.
func rawPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

func TestDispatch(t *testing.T) {
	l := newLoop(t)
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	got := map[int]uint32{}
	for _, fd := range []int{r1, r2} {
		if err := l.Add(fd, unix.EPOLLIN, func(ev uint32) {
			got[fd] = ev
			var b [16]byte
			unix.Read(fd, b[:])
		}); err != nil {
			t.Fatal(err)
		}
	}
	unix.Write(w1, []byte("x"))
	unix.Write(w2, []byte("y"))
	for len(got) < 2 {
		if err := l.RunOnce(5000); err != nil {
			t.Fatal(err)
		}
	}
	for _, fd := range []int{r1, r2} {
		if got[fd] != unix.EPOLLIN {
			t.Errorf("fd %d: got events %#x, want EPOLLIN", fd, got[fd])
		}
	}
	// Hang-up of the writer reaches the reader.
	unix.Close(w1)
	delete(got, r1)
	if err := l.RunOnce(5000); err != nil {
		t.Fatal(err)
	}
	if got[r1]&unix.EPOLLHUP == 0 {
		t.Errorf("after close of writer: got %#x, want EPOLLHUP", got[r1])
	}
	if l.Len() != 2 {
		t.Errorf("Len() = %d, want 2", l.Len())
	}
}

// TestRemoveInHandler: two fds ready in one batch; whichever handler runs
// first removes and closes the other fd and registers a new pipe, which
// likely gets the same fd number. Neither the removed handler nor the new
// one may see the stale event.
func TestRemoveInHandler(t *testing.T) {
	l := newLoop(t)
	ra, wa := rawPipe(t)
	rb, wb := rawPipe(t)
	defer unix.Close(wa)
	defer unix.Close(wb)
	calls := map[string]int{}
	var reused bool
	var fresh [2]int
	other := map[int]int{ra: rb, rb: ra}
	name := map[int]string{ra: "a", rb: "b"}
	for _, fd := range []int{ra, rb} {
		l.Add(fd, unix.EPOLLIN, func(uint32) {
			calls[name[fd]]++
			o := other[fd]
			if err := l.Remove(o); err != nil {
				t.Errorf("Remove(%d) in handler: %v", o, err)
			}
			unix.Close(o)
			if err := unix.Pipe2(fresh[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			reused = fresh[0] == o
			if err := l.Add(fresh[0], unix.EPOLLIN, func(uint32) { calls["fresh"]++ }); err != nil {
				t.Fatal(err)
			}
			// Done with this one too.
			l.Remove(fd)
			unix.Close(fd)
		})
	}
	unix.Write(wa, []byte("x"))
	unix.Write(wb, []byte("x"))
	if err := l.RunOnce(5000); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fresh[0])
	defer unix.Close(fresh[1])
	if calls["a"]+calls["b"] != 1 || calls["fresh"] != 0 {
		t.Errorf("calls %v, want exactly one of a/b and no fresh (fd reused: %v)", calls, reused)
	}
	if !reused {
		t.Log("new pipe did not reuse the fd number; generation check not exercised")
	}
}

func TestModifyRun(t *testing.T) {
	l := newLoop(t)
	_, w := pipe(t)
	var got uint32
	if err := l.Add(w, 0, func(ev uint32) { got = ev }); err != nil {
		t.Fatal(err)
	}
	if err := l.RunOnce(0); err != nil || got != 0 {
		t.Fatalf("no events wanted: got %#x, %v", got, err)
	}
	if err := l.Modify(w, unix.EPOLLOUT); err != nil {
		t.Fatal(err)
	}
	rounds := 0
	if err := l.Run(func() bool { rounds++; return got != 0 }); err != nil {
		t.Fatal(err)
	}
	if got != unix.EPOLLOUT {
		t.Errorf("got %#x, want EPOLLOUT", got)
	}
	if rounds != 2 {
		t.Errorf("stop checked %d times, want 2 (before and after one batch)", rounds)
	}
}

func TestErrors(t *testing.T) {
	l := newLoop(t)
	r, _ := pipe(t)
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := l.Add(r, unix.EPOLLIN, func(uint32) {}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"add twice", l.Add(r, unix.EPOLLIN, func(uint32) {}), unix.EEXIST},
		{"modify unknown", l.Modify(1<<20, unix.EPOLLIN), unix.ENOENT},
		{"remove unknown", l.Remove(1 << 20), unix.ENOENT},
		{"regular file", l.Add(int(f.Fd()), unix.EPOLLIN, func(uint32) {}), unix.EPERM},
		{"bad fd", l.Add(1<<20, unix.EPOLLIN, func(uint32) {}), unix.EBADF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Errorf("got %v, want %v", tc.err, tc.want)
			}
		})
	}
	if l.Len() != 1 {
		t.Errorf("Len() = %d after failed adds, want 1", l.Len())
	}
	// Remove after the caller closed the fd is not an error.
	r2, w2 := rawPipe(t)
	defer unix.Close(w2)
	l.Add(r2, unix.EPOLLIN, func(uint32) {})
	unix.Close(r2)
	if err := l.Remove(r2); err != nil {
		t.Errorf("Remove of closed fd = %v, want nil", err)
	}
}

// CloseFD drops the registration with the fd, even when a dup keeps the
// file (and its epoll registration) alive: events from the old file never
// reach the handler of a new fd on the same number.
func TestCloseFDWithDupAlive(t *testing.T) {
	l := newLoop(t)
	r1, w1 := pipe(t)
	keep, err := unix.Dup(r1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(keep) })
	old := 0
	if err := l.Add(r1, unix.EPOLLIN, func(uint32) { old++ }); err != nil {
		t.Fatal(err)
	}
	if err := l.CloseFD(r1); err != nil {
		t.Fatal(err)
	}
	r3, w3 := rawPipe(t) // the lowest free number: r1's, most likely
	t.Cleanup(func() { unix.Close(r3); unix.Close(w3) })
	got := 0
	if err := l.Add(r3, unix.EPOLLIN, func(uint32) {
		got++
		var b [16]byte
		unix.Read(r3, b[:])
	}); err != nil {
		t.Fatal(err)
	}
	unix.Write(w1, []byte("x")) // the old file, still open through keep
	if err := l.RunOnce(50); err != nil {
		t.Fatal(err)
	}
	if old != 0 || got != 0 {
		t.Fatalf("an event of the closed fd reached a handler: old %d, new %d", old, got)
	}
	unix.Write(w3, []byte("y"))
	for got == 0 {
		if err := l.RunOnce(5000); err != nil {
			t.Fatal(err)
		}
	}
	if l.Len() != 1 {
		t.Fatalf("Len %d, want 1", l.Len())
	}
}

// A loop with nothing ready parks in Go's poller and wakes for an event
// that comes later, from another goroutine; a timeout with nothing ready
// dispatches nothing and is no error.
func TestParkedWait(t *testing.T) {
	l := newLoop(t)
	r, w := pipe(t)
	got := 0
	if err := l.Add(r, unix.EPOLLIN, func(uint32) {
		got++
		var b [16]byte
		unix.Read(r, b[:])
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.RunOnce(20); err != nil || got != 0 {
		t.Fatalf("RunOnce(20) with nothing ready: err %v, %d dispatched", err, got)
	}
	written := make(chan struct{})
	go func() {
		<-written
		unix.Write(w, []byte("x"))
	}()
	close(written)
	// The deadline of the timed wait above does not cut this untimed one.
	if err := l.RunOnce(-1); err != nil {
		t.Fatal(err)
	}
	if got != 1 {
		t.Fatalf("%d dispatched after a write, want 1", got)
	}
	go func() { unix.Write(w, []byte("y")) }()
	if err := l.RunOnce(-1); err != nil || got != 2 {
		t.Fatalf("second wait: err %v, %d dispatched", err, got)
	}
}

// OnBatch's functions run once around the handlers of each batch, and not
// for a wait that dispatched nothing.
func TestOnBatch(t *testing.T) {
	l := newLoop(t)
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	var trace []string
	l.OnBatch(func() { trace = append(trace, "begin") }, func() { trace = append(trace, "end") })
	for _, fd := range []int{r1, r2} {
		if err := l.Add(fd, unix.EPOLLIN, func(uint32) {
			trace = append(trace, "h")
			var b [16]byte
			unix.Read(fd, b[:])
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RunOnce(0); err != nil || len(trace) != 0 {
		t.Fatalf("empty wait: err %v, trace %v", err, trace)
	}
	unix.Write(w1, []byte("x"))
	unix.Write(w2, []byte("y"))
	if err := l.RunOnce(5000); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(trace, " "); got != "begin h h end" {
		t.Fatalf("trace %q, want \"begin h h end\"", got)
	}
}

// Later work runs one function a batch, oldest first, inside the batch's
// bracket, after the batch's ready events: an event that becomes ready
// while three are queued is handled after at most one of them.
func TestLater(t *testing.T) {
	l := newLoop(t)
	r, w := pipe(t)
	var trace []string
	l.OnBatch(func() { trace = append(trace, "begin") }, func() { trace = append(trace, "end") })
	if err := l.Add(r, unix.EPOLLIN, func(uint32) {
		var b [16]byte
		unix.Read(r, b[:])
		trace = append(trace, "ready")
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		l.Later(func() {
			trace = append(trace, name)
			if name == "a" {
				unix.Write(w, []byte("x")) // ready before b's turn
			}
		})
	}
	// Nothing is ready and Later work is queued: RunOnce(-1) must not
	// park, so these three calls return.
	for i := 0; i < 3; i++ {
		if err := l.RunOnce(-1); err != nil {
			t.Fatal(err)
		}
	}
	want := "begin a end begin ready b end begin c end"
	if got := strings.Join(trace, " "); got != want {
		t.Errorf("trace %q, want %q", got, want)
	}
	// Queue drained: a timeout dispatches nothing again.
	trace = nil
	if err := l.RunOnce(10); err != nil {
		t.Fatal(err)
	}
	if len(trace) != 0 {
		t.Errorf("with nothing queued or ready: %v", trace)
	}
}
