// Package sock is the client side of the daemon's Unix stream socket, on
// raw syscalls: the net package would add a megabyte to a binary that is
// copied onto edge hosts, for one connect(2).
package sock

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is a connected Unix stream socket (blocking).
type Conn struct {
	*os.File
	fd int
}

// Dial connects to the Unix socket at path. Errors wrap the errno
// (errors.Is(err, unix.ECONNREFUSED) works) and read
// `connect PATH: <cause>`.
func Dial(path string) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", path, err)
	}
	return &Conn{File: os.NewFile(uintptr(fd), path), fd: fd}, nil
}

// WriteFDs writes b with the descriptors fds attached to its first byte
// (SCM_RIGHTS): the receiver gets its own copies of them. The error is
// the errno, as Write's is.
func (c *Conn) WriteFDs(b []byte, fds ...int) error {
	n, err := unix.SendmsgN(c.fd, b, unix.UnixRights(fds...), nil, 0)
	if err == nil {
		_, err = c.Write(b[n:]) // what a signal cut short, if anything
	}
	return err
}

// CloseWrite half-closes the connection (shutdown(SHUT_WR)): the end of a
// request.
func (c *Conn) CloseWrite() error {
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shutdown %s: %w", c.Name(), err)
	}
	return nil
}

// PeerPid is the pid of the process at the other end (SO_PEERCRED: the
// one that created the listening socket).
func (c *Conn) PeerPid() (int, error) {
	cred, err := unix.GetsockoptUcred(c.fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, fmt.Errorf("SO_PEERCRED %s: %w", c.Name(), err)
	}
	return int(cred.Pid), nil
}

// WaitExit waits up to timeout for process pid to end (a pidfd: no pid
// reuse race); ok is false when it is still running then. A process that
// is gone already has ended.
func WaitExit(pid int, timeout time.Duration) (ok bool, err error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll pidfd %d: %w", pid, err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// Answers reports whether something accepts connections at path: a live
// daemon. The probe is non-blocking, so a daemon with a full backlog
// (EAGAIN) counts as live rather than stalling the caller. A refused
// connection or a missing file is no answer, not an error.
func Answers(path string) (bool, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return false, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err {
	case nil, unix.EAGAIN, unix.EINPROGRESS:
		return true, nil
	case unix.ECONNREFUSED, unix.ENOENT:
		return false, nil
	default:
		return false, fmt.Errorf("connect %s: %w", path, err)
	}
}
