// Package loop is a single-threaded epoll event loop with signalfd and
// timerfd sources. Handlers run on the loop's goroutine; nothing is locked.
package loop

import (
	"os"
	"time"
)

// Handler is called with the epoll event mask of its fd.
type Handler func(events uint32)

// Loop owns an epoll instance.
type Loop struct{}

func New() (*Loop, error) { panic("unimplemented") }

// Add registers fd with the given epoll events (unix.EPOLLIN, EPOLLPRI, ...).
func (l *Loop) Add(fd int, events uint32, h Handler) error { panic("unimplemented") }

// Modify changes the events of a registered fd.
func (l *Loop) Modify(fd int, events uint32) error { panic("unimplemented") }

// Remove unregisters fd (it does not close it). Safe to call from inside a
// handler, including for fds that have pending events in the same batch.
func (l *Loop) Remove(fd int) error { panic("unimplemented") }

// Run dispatches events until stop returns true (checked after each batch)
// or an unrecoverable epoll error. EINTR is retried.
func (l *Loop) Run(stop func() bool) error { panic("unimplemented") }

// Close closes the epoll fd.
func (l *Loop) Close() error { panic("unimplemented") }

// Signals delivers os signals to the loop. Go cannot block a signal in
// every thread, so signalfd is unreliable in Go; instead os/signal.Notify
// feeds a goroutine that records the signal and writes to an eventfd,
// which the loop polls like any other fd.
type Signals struct {
	FD int // readable (EPOLLIN) when signals are pending
}

// NewSignals starts catching sigs.
func NewSignals(sigs ...os.Signal) (*Signals, error) { panic("unimplemented") }

// Drain returns the signals received since the last call and resets FD.
func (s *Signals) Drain() []os.Signal { panic("unimplemented") }

// TimerFD returns a non-blocking periodic timerfd (CLOCK_MONOTONIC).
func TimerFD(interval time.Duration) (int, error) { panic("unimplemented") }

// DrainTimer reads the expiration count from a timerfd.
func DrainTimer(fd int) (uint64, error) { panic("unimplemented") }
