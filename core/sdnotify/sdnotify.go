// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) on raw syscalls: one datagram of newline-separated
// KEY=VALUE assignments (READY=1, STOPPING=1, STATUS=..., WATCHDOG=1) to the
// AF_UNIX datagram socket systemd names in $NOTIFY_SOCKET. A name starting
// with '@' is in the abstract namespace (its '@' becomes a NUL byte).
//
// Sends never block: the socket is non-blocking, so a full receive queue
// (systemd busy) is EAGAIN, an error the caller may ignore. The package does
// not read the environment: the caller passes $NOTIFY_SOCKET,
// $WATCHDOG_USEC and $WATCHDOG_PID in.
package sdnotify

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is an unconnected datagram socket aimed at one notify socket.
type Conn struct {
	fd   int
	addr *unix.SockaddrUnix
	name string
}

// Open creates the socket for the notify socket path (as in
// $NOTIFY_SOCKET: an absolute path, or '@' and an abstract name).
func Open(path string) (*Conn, error) {
	if path == "" || (path[0] != '/' && path[0] != '@') || len(path) < 2 {
		return nil, fmt.Errorf("notify socket %q: %w", path, unix.EINVAL)
	}
	// sockaddr_un.sun_path is 108 bytes, including the terminating NUL of
	// a path name.
	if len(path) >= 108 {
		return nil, fmt.Errorf("notify socket %q: %w", path, unix.ENAMETOOLONG)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	// x/sys/unix turns a leading '@' into the abstract namespace's NUL.
	return &Conn{fd: fd, addr: &unix.SockaddrUnix{Name: path}, name: path}, nil
}

// Send sends one message, e.g. "READY=1\nSTATUS=idle". It never blocks:
// when systemd's queue is full the error wraps EAGAIN.
func (c *Conn) Send(state string) error {
	for {
		err := unix.Sendto(c.fd, []byte(state), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, c.addr)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sd_notify %s: %w", c.name, err)
		}
		return nil
	}
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Watchdog returns the interval at which WATCHDOG=1 keep-alives are due
// (half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises) for the
// process pid. usec and wpid are the values of $WATCHDOG_USEC and
// $WATCHDOG_PID ("" when unset). It returns 0 when no watchdog is asked
// for, or when $WATCHDOG_PID names another process; an error for values
// that do not parse.
func Watchdog(usec, wpid string, pid int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	u, err := strconv.ParseUint(usec, 10, 64)
	if err != nil || u == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number", usec)
	}
	if wpid != "" {
		p, err := strconv.Atoi(wpid)
		if err != nil || p <= 0 {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: not a pid", wpid)
		}
		if p != pid {
			return 0, nil
		}
	}
	if u > uint64(1<<63-1)/1000 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: too large", usec)
	}
	return time.Duration(u) * time.Microsecond / 2, nil
}
