package event

import (
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Sink writes lines to a consumer that may stall (stderr on a pipe nobody
// reads, a wedged log shipper) without ever blocking the writer: lines go
// to a bounded buffer that a goroutine of its own writes out. When the
// buffer is full a line is dropped and counted; once the consumer takes
// lines again the gap is marked with one event line,
//
//	EVENT schema=cgroupd.v1 ts_unix_ms=… type=events.dropped count=N log_lines=M
//
// (N events and M human log lines lost since the last mark), written
// before the lines that follow the gap.
type Sink struct {
	w   io.Writer
	max int // bytes buffered at most
	now func() time.Time

	mu   sync.Mutex
	cond *sync.Cond
	buf  []byte
	// gap: lines are being dropped. It starts when a line does not fit
	// and lasts until the writer takes the buffer, so that every line in
	// the buffer came before the gap and the mark goes right after them.
	gap      bool
	events   uint64 // dropped in the gap
	logLines uint64
	closing  bool
	held     bool          // Hold: the writer is woken at Release
	kick     bool          // lines came while held
	writing  bool          // the writer holds a batch
	flushed  chan struct{} // closed when the buffer is written out (Flush)
	done     chan struct{}

	total atomic.Uint64 // events dropped since the start
}

// NewSink starts the writer of w; max bounds the buffered bytes. now is
// the clock of the gap marks (nil: time.Now).
func NewSink(w io.Writer, max int, now func() time.Time) *Sink {
	if now == nil {
		now = time.Now
	}
	s := &Sink{w: w, max: max, now: now, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.run()
	return s
}

// Event queues an event line (with its newline); it never blocks.
func (s *Sink) Event(line []byte) { s.put(line, true) }

// Write queues a human log line (or lines); it never blocks and never
// fails: a dropped line is counted, not reported to the caller.
func (s *Sink) Write(p []byte) (int, error) {
	s.put(p, false)
	return len(p), nil
}

// Events is the Sink as an io.Writer of event lines (Event per Write).
func (s *Sink) Events() io.Writer { return eventWriter{s} }

type eventWriter struct{ s *Sink }

func (w eventWriter) Write(p []byte) (int, error) {
	w.s.Event(p)
	return len(p), nil
}

// Dropped is the Sink's: the event lines it dropped since the start.
func (w eventWriter) Dropped() uint64 { return w.s.Dropped() }

// Dropped is the number of events dropped since the start.
func (s *Sink) Dropped() uint64 { return s.total.Load() }

func (s *Sink) put(p []byte, isEvent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	if s.gap || len(s.buf)+len(p) > s.max {
		s.gap = true
		s.wake()
		if isEvent {
			s.events++
			s.total.Add(1)
		} else {
			s.logLines++
		}
		return
	}
	s.buf = append(s.buf, p...)
	s.wake()
}

// wake wakes the writer, or at Release while held (under mu).
func (s *Sink) wake() {
	if s.held {
		s.kick = true
		return
	}
	s.cond.Signal()
}

// Hold defers waking the writer until Release: the lines of one batch of
// the caller's work go out in one wake-up (and one write) instead of one
// each. Lines are still queued (and dropped when the buffer is full) as
// they come.
func (s *Sink) Hold() {
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
}

// Release ends Hold and wakes the writer if lines came meanwhile.
func (s *Sink) Release() {
	s.mu.Lock()
	s.held = false
	if s.kick {
		s.kick = false
		s.cond.Signal()
	}
	s.mu.Unlock()
}

func (s *Sink) run() {
	defer close(s.done)
	var out []byte
	for {
		s.mu.Lock()
		for len(s.buf) == 0 && !s.gap && !s.closing {
			s.cond.Wait()
		}
		if len(s.buf) == 0 && !s.gap && s.closing {
			s.mu.Unlock()
			return
		}
		out, s.buf = s.buf, out[:0]
		ev, ll := s.events, s.logLines
		s.gap, s.events, s.logLines = false, 0, 0
		s.writing = true
		s.mu.Unlock()
		s.w.Write(out)
		if ev > 0 || ll > 0 {
			s.w.Write([]byte(Format(s.now().UnixMilli(), "events.dropped",
				"count", strconv.FormatUint(ev, 10), "log_lines", strconv.FormatUint(ll, 10))))
		}
		s.mu.Lock()
		s.writing = false
		if len(s.buf) == 0 && !s.gap && s.flushed != nil {
			close(s.flushed)
			s.flushed = nil
		}
		s.mu.Unlock()
	}
}

// Flush waits at most wait for what is buffered to be written (before
// the process re-executes itself); the sink stays open.
func (s *Sink) Flush(wait time.Duration) {
	s.mu.Lock()
	if len(s.buf) == 0 && !s.gap && !s.writing {
		s.mu.Unlock()
		return
	}
	if s.flushed == nil {
		s.flushed = make(chan struct{})
	}
	ch := s.flushed
	s.cond.Signal() // even while held
	s.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(wait):
	}
}

// Close writes out what is buffered, waiting at most wait for the
// consumer, and stops the writer. Lines queued after Close are dropped.
func (s *Sink) Close(wait time.Duration) {
	s.mu.Lock()
	s.closing = true
	s.cond.Signal()
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(wait):
	}
}
