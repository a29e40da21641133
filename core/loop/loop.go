// Package loop is a single-threaded epoll event loop with signalfd and
// timerfd sources. Handlers run on the loop's goroutine; nothing is locked.
//
// loop.go is the epoll dispatcher, signals.go delivers os signals through
// an eventfd, timer.go wraps timerfd.
//
// The loop never sleeps in epoll_wait itself: it asks for ready events
// without waiting and, when there are none, parks on the epoll fd in Go's
// poller (an epoll fd is readable while it has events). A goroutine
// blocked in a raw epoll_wait holds its thread and scheduler slot, and
// the Go runtime answers with a monitor that wakes every 20 µs and hands
// the slot to other threads; on a 2-CPU host that churn (a dozen context
// switches per job) cost more CPU than the daemon's own work.
package loop

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Handler is called with the epoll event mask of its fd.
type Handler func(events uint32)

// Loop owns an epoll instance.
type Loop struct {
	epf      *os.File        // epfd, registered with Go's poller
	rc       syscall.RawConn // waits on epfd without holding a thread
	deadline bool            // a read deadline is set on epf
	epfd     int
	handlers map[int]*entry
	gen      int32 // last generation handed out
	events   []unix.EpollEvent
	begin    []func()
	end      []func()
	later    []func() // Later's queue, oldest first
}

// entry is one registration. gen is stored in the event's user data next
// to the fd, so an event queued for an fd that was removed (and maybe
// re-added) in the same batch is recognised as stale and dropped.
type entry struct {
	h   Handler
	gen int32
	ev  uint32
}

// batch is the number of events read per epoll_wait.
const batch = 256

// New creates the epoll instance (EPOLL_CLOEXEC).
func New() (*Loop, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	return &Loop{epf: f, rc: rc, epfd: fd, handlers: make(map[int]*entry), events: make([]unix.EpollEvent, batch)}, nil
}

// Len returns the number of registered fds.
func (l *Loop) Len() int { return len(l.handlers) }

// Add registers fd with the given epoll events (unix.EPOLLIN, EPOLLPRI, ...).
func (l *Loop) Add(fd int, events uint32, h Handler) error {
	if _, ok := l.handlers[fd]; ok {
		return fmt.Errorf("epoll add fd %d: %w", fd, unix.EEXIST)
	}
	l.gen++
	if l.gen <= 0 { // wrapped: generations only need to differ from recent ones
		l.gen = 1
	}
	e := &entry{h: h, gen: l.gen, ev: events}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: e.gen}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll add fd %d: %w", fd, err)
	}
	l.handlers[fd] = e
	return nil
}

// Modify changes the events of a registered fd.
func (l *Loop) Modify(fd int, events uint32) error {
	e, ok := l.handlers[fd]
	if !ok {
		return fmt.Errorf("epoll mod fd %d: %w", fd, unix.ENOENT)
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: e.gen}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("epoll mod fd %d: %w", fd, err)
	}
	e.ev = events
	return nil
}

// Remove unregisters fd (it does not close it). Safe to call from inside a
// handler, including for fds that have pending events in the same batch.
func (l *Loop) Remove(fd int) error {
	if _, ok := l.handlers[fd]; !ok {
		return fmt.Errorf("epoll del fd %d: %w", fd, unix.ENOENT)
	}
	delete(l.handlers, fd)
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		// EBADF/ENOENT: the caller closed fd before removing it (and the
		// number may already be reused); closing dropped it from the epoll
		// set, and stale events are filtered by generation.
		if err == unix.EBADF || err == unix.ENOENT {
			return nil
		}
		return fmt.Errorf("epoll del fd %d: %w", fd, err)
	}
	return nil
}

// CloseFD closes fd and unregisters it if it is registered: one syscall,
// not two. Closing the last descriptor of a file drops it from the epoll
// set; should a dup of fd live on elsewhere, its events carry fd's old
// generation and are dropped (RunOnce).
func (l *Loop) CloseFD(fd int) error {
	delete(l.handlers, fd)
	return unix.Close(fd)
}

// OnBatch adds functions called before and after the handlers of each
// batch (either may be nil): work the handlers hand to other goroutines
// can be handed over once per batch instead of once per event.
func (l *Loop) OnBatch(begin, end func()) {
	if begin != nil {
		l.begin = append(l.begin, begin)
	}
	if end != nil {
		l.end = append(l.end, end)
	}
}

// Later queues f, work that may wait its turn, to run on the loop after
// the ready events of a coming batch: one such function per batch, the
// oldest first, inside the batch's OnBatch bracket. However many are
// queued, an event that becomes ready waits for at most one of them, and
// none waits for ever: every batch runs one, and while any is queued the
// loop does not park.
func (l *Loop) Later(f func()) { l.later = append(l.later, f) }

// Run dispatches events until stop returns true (checked after each batch)
// or an unrecoverable epoll error. EINTR is retried.
//
// stop is also checked once before the first wait; with nothing
// registered and stop false, Run blocks forever.
func (l *Loop) Run(stop func() bool) error {
	for !stop() {
		if err := l.RunOnce(-1); err != nil {
			return err
		}
	}
	return nil
}

// RunOnce waits up to timeoutMs (-1: forever; 0 while Later work is
// queued) for one batch of events and dispatches it, then one Later
// function. A timeout or EINTR with no Later work dispatches nothing and
// is no error.
func (l *Loop) RunOnce(timeoutMs int) error {
	if len(l.later) > 0 {
		timeoutMs = 0
	}
	n, err := l.wait(timeoutMs)
	if err != nil {
		return fmt.Errorf("epoll_wait: %w", err)
	}
	if n == 0 && len(l.later) == 0 {
		return nil
	}
	for _, f := range l.begin {
		f()
	}
	for i := 0; i < n; i++ {
		ev := l.events[i]
		// Re-lookup each time: an earlier handler of this batch may have
		// removed this fd, or removed it and registered a new one on the
		// same number (different generation).
		e, ok := l.handlers[int(ev.Fd)]
		if !ok || e.gen != ev.Pad {
			continue
		}
		e.h(ev.Events)
	}
	if len(l.later) > 0 {
		f := l.later[0]
		l.later[0] = nil
		l.later = l.later[1:]
		f()
	}
	for _, f := range l.end {
		f()
	}
	return nil
}

// wait returns the next batch of events, waiting up to timeoutMs (-1:
// forever) for one, parked in Go's poller.
func (l *Loop) wait(timeoutMs int) (int, error) {
	n, err := unix.EpollWait(l.epfd, l.events, 0)
	if err == unix.EINTR {
		n, err = 0, nil
	}
	if n > 0 || err != nil || timeoutMs == 0 {
		return n, err
	}
	if timeoutMs > 0 {
		l.epf.SetReadDeadline(time.Now().Add(time.Duration(timeoutMs) * time.Millisecond))
		l.deadline = true
	} else if l.deadline {
		l.epf.SetReadDeadline(time.Time{})
		l.deadline = false
	}
	rerr := l.rc.Read(func(fd uintptr) bool {
		n, err = unix.EpollWait(int(fd), l.events, 0)
		if err == unix.EINTR {
			n, err = 0, nil
		}
		return n > 0 || err != nil
	})
	if errors.Is(rerr, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if rerr != nil {
		return 0, rerr
	}
	return n, err
}

// Close closes the epoll fd.
func (l *Loop) Close() error {
	l.handlers = nil
	return l.epf.Close()
}
