package loop

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// Signals delivers os signals to the loop. Go cannot block a signal in
// every thread, so signalfd is unreliable in Go; instead os/signal.Notify
// feeds a goroutine that records the signal and writes to an eventfd,
// which the loop polls like any other fd.
type Signals struct {
	FD int // readable (EPOLLIN) when signals are pending

	ch   chan os.Signal
	done chan struct{}

	mu      sync.Mutex
	pending []os.Signal
}

// NewSignals starts catching sigs.
func NewSignals(sigs ...os.Signal) (*Signals, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	s := &Signals{FD: fd, ch: make(chan os.Signal, 32), done: make(chan struct{})}
	signal.Notify(s.ch, sigs...)
	go s.forward()
	return s, nil
}

func (s *Signals) forward() {
	defer close(s.done)
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for sig := range s.ch {
		s.mu.Lock()
		s.pending = append(s.pending, sig)
		s.mu.Unlock()
		// Append before the write: a Drain woken by this write sees the
		// signal. EAGAIN (counter at its maximum) still leaves it readable.
		unix.Write(s.FD, one[:])
	}
}

// Drain returns the signals received since the last call and resets FD.
func (s *Signals) Drain() []os.Signal {
	var buf [8]byte
	unix.Read(s.FD, buf[:]) // EAGAIN: nothing pending, fine
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pending
	s.pending = nil
	return out
}

// Close stops catching the signals (they get their default action again)
// and closes FD.
func (s *Signals) Close() error {
	signal.Stop(s.ch)
	close(s.ch)
	<-s.done
	return unix.Close(s.FD)
}
