package bench

import (
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// hostileMode: what a hostile member of the socket group does to the
// daemon, held until stdin closes (run it as that user: setpriv, or a test
// with a credential). With -conns N it opens N connections and does -kind
// on each: silent (connect only), events (EVENTS follow: 1, never read),
// partial (-bytes of a request that never ends), wait (WAIT -id, never
// read). With -kind flood it sends the largest request the daemon accepts
// (a PING of proto.MaxHeaders distinct keys) again and again on one
// connection at a time, reading each reply (-requests N: N of them, their
// latency printed, then it exits). It prints "ready opened=N
// refused=M" once the connections are made, then holds them; at EOF on
// stdin it closes them, prints "done requests=K" (flood) and exits.
func hostileMode(e *env, args []string) error {
	f := newFlags(e, "hostile", "hostile", true)
	conns := f.Int("conns", 1, "connections to open and hold")
	kind := f.String("kind", "silent", "silent, events, partial, wait or flood")
	size := f.Int("bytes", 4<<20-4096, "partial: bytes of the request sent")
	id := f.String("id", "", "wait: the job id")
	requests := f.Int("requests", 0, "flood: send this many, print their latency, exit (0: until stdin closes)")
	if err := f.parse(args, conns, size); err != nil {
		return err
	}
	var req []byte
	switch *kind {
	case "silent":
	case "events":
		req, _ = encode("EVENTS", "follow", "1")
	case "wait":
		req, _ = encode("WAIT", "id", *id)
	case "partial":
		req = partialRequest(*size)
	case "flood":
		if *requests > 0 {
			return floodN(e, f, *requests)
		}
		return flood(e, f)
	default:
		return usagef("-kind: %q: want silent, events, partial, wait or flood", *kind)
	}
	c := newClient(f.socket, 0)
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	refused := 0
	for range *conns {
		fd, err := c.dial()
		if err != nil {
			refused++ // the backlog is full, or no descriptor left here
			continue
		}
		fds = append(fds, fd)
		if len(req) > 0 && writeAll(fd, req) != nil {
			refused++ // the daemon refused it and closed
		}
	}
	fmt.Fprintf(e.stdout, "ready opened=%d refused=%d\n", len(fds), refused)
	io.Copy(io.Discard, e.stdin)
	return nil
}

// partialRequest is n bytes of a PING that never ends: key lines and no
// blank line.
func partialRequest(n int) []byte {
	b := append(make([]byte, 0, n), "PING\n"...)
	for i := 0; len(b) < n; i++ {
		b = strconv.AppendInt(append(b, 'k'), int64(i), 10)
		b = append(b, ": x\n"...)
	}
	return b[:n]
}

// largestRequest is a PING of distinct keys, the largest the daemon
// accepts: proto.MaxHeaders of them (more is refused as too large before
// the 4 MiB proto.MaxRequest is reached), within proto.MaxRequest.
func largestRequest() []byte {
	b := []byte("PING\n")
	for i := 0; i < proto.MaxHeaders && len(b) < proto.MaxRequest-32; i++ {
		b = strconv.AppendInt(append(b, 'k'), int64(i), 10)
		b = append(b, ": x\n"...)
	}
	return append(b, '\n')
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// floodN sends the largest request n times, one after the other, and
// prints their latency figures.
func floodN(e *env, f *flags, n int) error {
	req := largestRequest()
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = req
	}
	r := newClient(f.socket, f.timeout).load(reqs, 1)
	e.fig.latency(r.lat)
	e.fig.int("bytes", int64(len(req)))
	return r.report(e.stderr, "largest request")
}

// flood sends the largest request until stdin closes.
func flood(e *env, f *flags) error {
	c := newClient(f.socket, f.timeout)
	req := largestRequest()
	var n atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 0, 4096)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			resp, err := c.do(req, buf)
			if err != nil {
				done <- err
				return
			}
			if err := check(resp); err != nil {
				done <- fmt.Errorf("largest request: %w", err)
				return
			}
			n.Add(1)
		}
	}()
	fmt.Fprintf(e.stdout, "ready opened=1 refused=0 bytes=%d\n", len(req))
	io.Copy(io.Discard, e.stdin)
	close(stop)
	fmt.Fprintf(e.stdout, "done requests=%d\n", n.Load())
	select {
	case err := <-done:
		return err
	default:
		return nil // a request still in flight: the exit ends it
	}
}
