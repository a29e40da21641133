package server

import (
	"strconv"
	"time"

	"cgroupd/applets/daemon/budget"
	"cgroupd/applets/daemon/hub"
	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// The server's side of what one user may cost through its connections
// (package budget): a refused connection gets its reason, a dropped one
// a client.drop event its user sees; buffers are let go once used.

// newBudget is the budget of srv's connections from its Config.
func newBudget(srv *Server) *budget.Budget {
	return budget.New(budget.Limits{MaxUserConns: srv.cfg.MaxUserConns, RootReserve: srv.cfg.RootReserve,
		NoFile: srv.cfg.NoFile, Memory: srv.cfg.ConnMemory, WriteTimeout: srv.cfg.WriteTimeout,
		Privileged: func(uid uint32) bool { return uid == 0 || int(uid) == srv.cfg.EUID }})
}

// refuse answers a connection the budget has no room for and closes it.
func (c *conn) refuse(why string) {
	c.srv.debugf("uid %d pid %d: connection refused: %s", c.cred.Uid, c.cred.Pid, why)
	// An empty socket buffer takes the refusal whole.
	out := proto.Err("too many connections").Add("detail", why).Bytes()
	unix.SendmsgN(c.fd, out, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	unix.Close(c.fd)
	c.srv.bud.OpenSpare()
}

// appendRequest is append for a request's bytes: it doubles the buffer
// (append grows a large one by a quarter, leaving four times the request
// in garbage on the way to 4 MiB) and never beyond what the largest
// request and one read need.
func appendRequest(b, p []byte) []byte {
	if need := len(b) + len(p); need > cap(b) {
		nb := make([]byte, len(b), min(max(2*cap(b), need, 512), proto.MaxRequest+readChunk))
		copy(nb, b)
		b = nb
	}
	return append(b, p...)
}

// account brings c's share of --conn-memory up to date: its buffers'
// capacity, what they really hold.
func (c *conn) account() {
	n := 0
	if !c.closed {
		n = cap(c.rbuf) + cap(c.wbuf) + cap(c.raw)
	}
	c.srv.bud.Set(c.fd, n)
}

// trimConns drops connections while they hold more than --conn-memory. It
// runs where closing a connection is safe: after a read, after the loop's
// batch.
func trimConns(srv *Server) {
	for srv.bud.Over() {
		fd, ok := srv.bud.Victim()
		if !ok {
			return
		}
		if c := srv.conns[fd]; c != nil {
			c.drop("memory")
		} else {
			srv.bud.Remove(fd) // not a connection: never counted again
		}
	}
}

// drop closes c for what it cost, with a client.drop event.
func (c *conn) drop(reason string) {
	held := c.srv.bud.Bytes(c.fd)
	c.srv.closeConn(c)
	c.dropped(reason, held)
}

// dropped reports c dropped for reason, holding held bytes.
func (c *conn) dropped(reason string, held int) {
	c.srv.logf("uid %d pid %d: connection dropped: %s (%d bytes held)", c.cred.Uid, c.cred.Pid, reason, held)
	c.srv.events.Publish(&hub.Event{Type: "client.drop", Owner: int64(c.cred.Uid),
		KV: []string{"uid", strconv.FormatUint(uint64(c.cred.Uid), 10), "pid", strconv.Itoa(int(c.cred.Pid)),
			"reason", reason, "bytes", strconv.Itoa(held)}})
}

// wrote notes what a flush of c did: n bytes taken; pending: bytes left
// the socket did not take. A drained buffer grown past a read chunk (a
// big reply, an EVENTS history) is let go: a stream keeps one chunk.
func (c *conn) wrote(n int, pending bool) {
	c.srv.bud.Wrote(c.fd, n, pending, time.Now())
	if !pending && cap(c.wbuf) > readChunk {
		c.wbuf, c.wpos = nil, 0
	}
}

// tickBudget drops the clients stalled past --write-timeout and gives
// freed memory back.
func tickBudget(srv *Server, now time.Time) {
	for _, fd := range srv.bud.Stalled(now) {
		if c := srv.conns[fd]; c != nil {
			c.drop("write_timeout")
		}
	}
	srv.bud.OpenSpare()
	if srv.bud.Release(now) && srv.cfg.Release != nil {
		srv.cfg.Release()
	}
}
