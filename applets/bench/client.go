package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"time"

	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// client speaks the v1 protocol over plain blocking Unix-socket syscalls:
// socket, connect, write, shutdown(SHUT_WR), read to EOF, close. No Go
// netpoller, no goroutine hand-offs, so the measured time is the daemon's
// plus the bare kernel cost of one connection.
type client struct {
	socket  string
	timeout time.Duration // per request, 0 for none (SO_RCVTIMEO/SO_SNDTIMEO)
}

func newClient(socket string, timeout time.Duration) *client {
	return &client{socket: socket, timeout: timeout}
}

// dial opens a connected socket. The caller closes it.
func (c *client) dial() (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if c.timeout > 0 {
		tv := unix.NsecToTimeval(c.timeout.Nanoseconds())
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	}
	// One per call: a SockaddrUnix caches its raw form and is not safe
	// for concurrent use.
	addr := &unix.SockaddrUnix{Name: c.socket}
	for {
		err = unix.Connect(fd, addr)
		// EINTR: Go's preemption signal landed while the backlog was
		// full; the retry either connects or finds it done (EISCONN).
		if err == unix.EINTR {
			continue
		}
		if err == unix.EISCONN {
			err = nil
		}
		break
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", c.socket, err)
	}
	return fd, nil
}

// do sends one encoded request and returns the whole response (everything
// up to EOF), appended to buf[:0].
func (c *client) do(req, buf []byte) ([]byte, error) {
	fd, err := c.dial()
	if err != nil {
		return buf[:0], err
	}
	defer unix.Close(fd)
	for off := 0; off < len(req); {
		n, err := unix.Write(fd, req[off:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf[:0], fmt.Errorf("write: %w", err)
		}
		off += n
	}
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return buf[:0], fmt.Errorf("shutdown: %w", err)
	}
	return readAll(fd, buf[:0])
}

// readAll reads fd to EOF, appending to buf.
func readAll(fd int, buf []byte) ([]byte, error) {
	for {
		if cap(buf)-len(buf) < 4096 {
			nb := make([]byte, len(buf), 2*cap(buf)+64<<10)
			copy(nb, buf)
			buf = nb
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return buf, errors.New("read: timed out")
		}
		if err != nil {
			return buf, fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// call encodes and sends a request and parses the response: the STATUS
// block, and the bare blocks before it (LIST) passed to each if non-nil.
func (c *client) call(req *proto.Request, each func(proto.Reply) error) (proto.Reply, error) {
	b, err := req.Encode()
	if err != nil {
		return proto.Reply{}, err
	}
	resp, err := c.do(b, nil)
	if err != nil {
		return proto.Reply{}, err
	}
	return parse(resp, each)
}

// parse reads a whole response held in memory.
func parse(resp []byte, each func(proto.Reply) error) (proto.Reply, error) {
	rep, err := proto.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), each)
	if err != nil {
		return rep, fmt.Errorf("bad response %q: %w", clip(resp), err)
	}
	return rep, nil
}

// check turns a response into nil (STATUS: ok) or an error naming its reason.
func check(resp []byte) error {
	rep, err := parse(resp, nil)
	if err != nil {
		return err
	}
	if !rep.IsOK() {
		reason, _ := rep.Get("reason")
		return fmt.Errorf("STATUS: %s, reason: %s", rep.Status, reason)
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// isClosed reports whether the peer has closed fd (it is readable and a
// peek reads 0 bytes, or it reports HUP/ERR) without blocking.
func isClosed(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	n, err := unix.Poll(p, 0)
	if err != nil || n == 0 {
		return false
	}
	if p[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLRDHUP) != 0 {
		return true
	}
	var b [1]byte
	m, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil && m == 0
}
