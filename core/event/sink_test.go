package event

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is a writer that blocks until opened, like a pipe nobody reads.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
	out  bytes.Buffer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

func TestSinkNeverBlocksAndMarksTheGap(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	s := NewSink(g, 100, func() time.Time { return time.UnixMilli(7) })
	line := func(i int) []byte { return []byte(Format(int64(i), "job.start", "id", strings.Repeat("x", 10))) }
	done := make(chan struct{})
	go func() {
		// 1000 lines of ~60 bytes into a 100-byte buffer whose consumer
		// is stuck: every call must return at once.
		for i := range 1000 {
			s.Event(line(i))
		}
		s.Write([]byte("a log line\n"))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Event blocked on a stalled consumer")
	}
	if s.Dropped() < 990 {
		t.Errorf("dropped %d, want nearly all of 1000", s.Dropped())
	}
	close(g.open) // the consumer recovers
	s.Close(5 * time.Second)
	out := g.String()
	// Lines in order, each gap marked where it was, the marks adding up to
	// what was dropped, nothing else lost.
	var kept, marked, logs uint64
	last := int64(-1)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			t.Fatalf("bad line %q", l)
		}
		if f[3] == "type=events.dropped" {
			if !strings.HasPrefix(l, "EVENT schema=cgroupd.v1 ts_unix_ms=7 type=events.dropped count=") || len(f) != 6 {
				t.Errorf("mark %q", l)
			}
			n, _ := strconv.ParseUint(strings.TrimPrefix(f[4], "count="), 10, 64)
			m, _ := strconv.ParseUint(strings.TrimPrefix(f[5], "log_lines="), 10, 64)
			marked, logs = marked+n, logs+m
			continue
		}
		ts, _ := strconv.ParseInt(strings.TrimPrefix(f[2], "ts_unix_ms="), 10, 64)
		if ts <= last {
			t.Errorf("line %d after line %d", ts, last)
		}
		last = ts
		kept++
	}
	if marked != s.Dropped() || kept+marked != 1000 || logs != 1 {
		t.Errorf("%d written, %d marked, %d dropped, %d log lines marked; want 1000 in all and 1 log line:\n%s",
			kept, marked, s.Dropped(), logs, out)
	}
}

func TestSinkCloseFlushes(t *testing.T) {
	var b bytes.Buffer
	s := NewSink(&b, 1<<20, nil)
	for i := range 100 {
		s.Event([]byte(Format(int64(i), "job.exit")))
	}
	s.Close(5 * time.Second)
	if n := strings.Count(b.String(), "\n"); n != 100 || s.Dropped() != 0 {
		t.Errorf("%d lines, %d dropped; want 100, 0", n, s.Dropped())
	}
	s.Event([]byte("late\n")) // after Close: dropped silently, no panic
}

// Lines queued while held all reach the consumer, in order, once released;
// Flush writes them out even while held (an upgrade flushes from inside a
// batch of the loop).
func TestSinkHoldRelease(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	s := NewSink(g, 1<<16, nil)
	defer s.Close(time.Second)
	s.Hold()
	s.Event([]byte("EVENT a\n"))
	s.Event([]byte("EVENT b\n"))
	s.Release()
	s.Flush(10 * time.Second)
	if got := g.String(); got != "EVENT a\nEVENT b\n" {
		t.Fatalf("after release: %q", got)
	}
	s.Hold()
	s.Event([]byte("EVENT c\n"))
	s.Flush(10 * time.Second)
	if got := g.String(); !strings.HasSuffix(got, "EVENT c\n") {
		t.Fatalf("flush while held: %q", got)
	}
	s.Release()
}
