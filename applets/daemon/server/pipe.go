package server

import (
	"unsafe"

	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// PIPE (extension, `cgroupctl run --pipe`): a RUN whose request comes with
// three descriptors (SCM_RIGHTS), the caller's stdin, stdout and stderr,
// which become the main process's fds 0, 1 and 2. The daemon never reads
// or writes them: it hands them to the spawn and closes its copies once
// the spawn is done (doRun). A PIPE waits as RUN wait: 1 does. A v1
// daemon answers the verb with `unknown verb`, so it starts nothing.
//
// Descriptors are received with MSG_CMSG_CLOEXEC: a job spawned meanwhile
// never inherits another caller's stdio. Any other request that carries
// descriptors, or a request with more than three, is refused and they
// are closed; so are those of a request that is never answered
// (closeConn).

// pipeFDs is how many descriptors a PIPE carries: stdin, stdout, stderr.
const pipeFDs = 3

// recv reads what is available of c's request into buf, taking the
// descriptors that came with it. The control buffer has room for one more
// than a request may carry, so that too many is seen (the kernel closes
// what does not fit and says MSG_CTRUNC). It holds one SCM_RIGHTS message
// at most: a read of a stream socket stops after the bytes that brought
// descriptors, and no other control message is asked for (no
// SO_PASSCRED), so it is read in place rather than with
// unix.ParseSocketControlMessage (1 KiB of binary for a list of one).
func (c *conn) recv(buf []byte) (int, error) {
	var oob [4]uint64 // a cmsghdr and 4 fds: unix.CmsgSpace(16) is 32 on 32- and 64-bit; aligned
	b := unsafe.Slice((*byte)(unsafe.Pointer(&oob[0])), len(oob)*8)
	n, oobn, flags, _, err := unix.Recvmsg(c.fd, buf, b, unix.MSG_CMSG_CLOEXEC)
	if flags&unix.MSG_CTRUNC != 0 {
		c.fdsOver = true
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if oobn > unix.CmsgLen(0) && h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_RIGHTS {
		for data := b[unix.CmsgLen(0):min(int(h.Len), oobn)]; len(data) >= 4; data = data[4:] {
			fd := int(*(*int32)(unsafe.Pointer(&data[0])))
			if len(c.fds) == pipeFDs {
				unix.Close(fd)
				c.fdsOver = true
				continue
			}
			c.fds = append(c.fds, fd)
		}
	}
	return n, err
}

// refuseFDs is the refusal of a request whose descriptors do not fit its
// verb (nil when they do); reply closes them.
func (c *conn) refuseFDs(verb string) []byte {
	reason := ""
	switch {
	case verb == "PIPE" && (c.fdsOver || len(c.fds) != pipeFDs):
		reason = "descriptors: PIPE takes 3 (stdin, stdout and stderr)"
	case verb != "PIPE" && (c.fdsOver || len(c.fds) > 0):
		reason = "descriptors: only PIPE takes any"
	default:
		return nil
	}
	return proto.Err(reason).Bytes()
}

// takeFDs hands c's descriptors to its PIPE: from now on the caller
// closes them (closeFDs), once the spawn no longer needs them.
func (c *conn) takeFDs() []int {
	fds := c.fds
	c.fds = nil
	return fds
}

// closeFDs closes the descriptors c still holds.
func (c *conn) closeFDs() {
	closeFDs(c.fds)
	c.fds = nil
}

// closeFDs closes the descriptors a PIPE took.
func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
