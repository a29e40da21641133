// Package notify watches many kernfs files (cgroup.events, memory.events
// of every job) through one inotify descriptor, so the daemon does not
// need an fd per job: 10 000 jobs fit under a 20 000 fd limit.
//
// kernfs files that notify (cgroup.events, memory.events) generate
// IN_MODIFY when their content changes
// (kernfs_notify; verified on 6.18 for cgroup.events on populate, freeze,
// thaw and exit).
//
// Removing a cgroup does not send IN_IGNORED for its files (the watch pins
// the kernfs inode): Remove the watch when the job's cgroup is removed, or
// the wd leaks.
package notify

import (
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// Overflow is reported among the watch descriptors by Read when the
// kernel's event queue overflowed (IN_Q_OVERFLOW): events were lost, and
// the caller must re-read every watched file.
const Overflow = -1

// Watcher is one inotify instance. It is not safe for concurrent use; the
// event loop owns it.
type Watcher struct {
	fd  int // inotify
	ep  int // epoll over fd and the pace timer: FD
	buf []byte
	pacer
}

// New creates the inotify instance (IN_NONBLOCK|IN_CLOEXEC).
func New() (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
		if err != nil {
			unix.Close(ep)
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify epoll: %w", err)
	}
	// Room for many events per read(2); one event without a name is 16 bytes.
	return &Watcher{fd: fd, ep: ep, buf: make([]byte, 64*1024), pacer: pacer{timer: -1}}, nil
}

// FD is readable (EPOLLIN) when events are pending or a paced watch's
// period is over (an epoll fd over both).
func (w *Watcher) FD() int { return w.ep }

// Add watches path for IN_MODIFY and returns its watch descriptor. Adding
// the same file twice returns the same wd.
func (w *Watcher) Add(path string) (wd int, err error) {
	wd, err = unix.InotifyAddWatch(w.fd, path, unix.IN_MODIFY)
	if err != nil {
		return -1, fmt.Errorf("inotify watch %s: %w", path, err)
	}
	return wd, nil
}

// Remove stops watching wd. A wd the kernel already dropped (its file or
// cgroup was removed: IN_IGNORED) is not an error.
func (w *Watcher) Remove(wd int) error {
	delete(w.paced, wd)
	if _, err := unix.InotifyRmWatch(w.fd, uint32(wd)); err != nil {
		if err == unix.EINVAL {
			return nil // already gone: removed with its cgroup
		}
		return fmt.Errorf("inotify rm watch %d: %w", wd, err)
	}
	return nil
}

// Read drains the pending events until EAGAIN and returns the wds that
// fired (IN_MODIFY), each once, in the order first seen; Overflow is
// included when events were lost. IN_IGNORED (the watch went away with
// its file, e.g. a deleted plain file) is dropped. A paced watch (Pace)
// is returned when it fires and is then muted, and returned again when
// its period is over (its file may have changed meanwhile). No events
// pending: nil, nil.
func (w *Watcher) Read() ([]int, error) {
	var wds []int
	var err error
	for {
		n, rerr := unix.Read(w.fd, w.buf)
		if rerr == unix.EINTR {
			continue
		}
		if rerr == unix.EAGAIN {
			break
		}
		if rerr != nil {
			err = fmt.Errorf("read inotify: %w", rerr)
			break
		}
		wds = parse(w.buf[:n], wds)
	}
	return w.pace(wds), err
}

// parse appends the wds of the events in b to wds.
func parse(b []byte, wds []int) []int {
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event { int wd; u32 mask, cookie, len; char name[]; }
		wd := int(int32(binary.NativeEndian.Uint32(b[0:4])))
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		size := unix.SizeofInotifyEvent + nameLen
		if size > len(b) {
			break // cannot happen: the kernel returns whole events
		}
		b = b[size:]
		switch {
		case mask&unix.IN_Q_OVERFLOW != 0:
			wd = Overflow
		case mask&unix.IN_IGNORED != 0:
			continue
		case mask&unix.IN_MODIFY == 0:
			continue
		}
		if !slices.Contains(wds, wd) {
			wds = append(wds, wd)
		}
	}
	return wds
}

// Close closes the inotify fd; all watches go with it.
func (w *Watcher) Close() error {
	if w.timer >= 0 {
		unix.Close(w.timer)
	}
	unix.Close(w.ep)
	return unix.Close(w.fd)
}
