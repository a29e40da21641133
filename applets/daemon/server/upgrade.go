package server

import (
	"cgroupd/applets/daemon/handoff"
	"cgroupd/applets/daemon/hub"
	"cgroupd/core/proto"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// doUpgrade answers UPGRADE: root or the daemon's own user only. The
// root package runs the preflight and the exec; the new image answers
// the requester (Take), or this one does if it fails (UpgradeFailed).
func (srv *Server) doUpgrade(c *conn) []byte {
	if c.cred.Uid != 0 && int(c.cred.Uid) != srv.cfg.EUID {
		return proto.Err("permission denied").Add("detail", "only root or the daemon's user may upgrade it").Bytes()
	}
	if srv.upConn != nil {
		return proto.Err("upgrade failed").Add("detail", "an upgrade is in progress").Bytes()
	}
	srv.upConn = c
	if err := srv.cfg.Upgrade(); err != nil {
		srv.upConn = nil
		return proto.Err("upgrade failed").Add("detail", err.Error()).Bytes()
	}
	return nil
}

// Quiesce holds what an upgrade must not start: new clients wait in the
// listen backlog, complete requests are held unanswered (the new image
// answers them).
func (srv *Server) Quiesce() {
	srv.hold = true
	if srv.lfd >= 0 {
		srv.lp.Modify(srv.lfd, 0)
	}
}

// Busy reports what an upgrade waits for: FREEZE/THAW confirmations.
func (srv *Server) Busy() bool { return len(srv.st.freezeQ) > 0 }

// UpgradeFailed: the old image goes on. The requester gets `upgrade
// failed` with the reason; requests held while quiescing are served now.
func (srv *Server) UpgradeFailed(err error) {
	if srv.lfd >= 0 && !srv.acceptPaused {
		srv.lp.Modify(srv.lfd, unix.EPOLLIN)
	}
	srv.hold = false
	if c := srv.upConn; c != nil {
		srv.upConn = nil
		srv.reply(c, proto.Err("upgrade failed").Add("detail", proto.CutAt(err.Error(), maxReason)).Bytes())
	}
	for _, c := range srv.conns {
		if c.held {
			c.held = false
			srv.handle(c)
		}
	}
}

// Handoff adds the server's share of an upgrade's hand-over: the
// listening socket and every connection with what it is doing. It
// returns their fds.
func (srv *Server) Handoff(h *handoff.Handoff) []int {
	h.Listen = srv.lfd
	fds := []int{srv.lfd}
	for _, c := range srv.conns {
		kind, args, data := srv.st.connHandoff(c)
		if kind == "" {
			continue
		}
		h.Conns = append(h.Conns, handoff.Conn{FD: c.fd, UID: c.cred.Uid, GID: c.cred.Gid, Pid: c.cred.Pid,
			Kind: kind, Args: args, Data: data})
		fds = append(fds, c.fd)
	}
	return fds
}

// Take carries on what an upgrading image handed over: the listener and
// the connections (start, before "cgroupd ready").
func (srv *Server) Take(h *handoff.Handoff) error {
	srv.upFrom = h.From
	srv.lfd = h.Listen
	if err := srv.lp.Add(srv.lfd, unix.EPOLLIN, func(uint32) { srv.onAccept() }); err != nil {
		return fmt.Errorf("epoll add listener: %w", err)
	}
	for _, hc := range h.Conns {
		c := &conn{fd: hc.FD, cred: unix.Ucred{Pid: hc.Pid, Uid: hc.UID, Gid: hc.GID}, state: connBusy,
			deadline: time.Now().Add(srv.cfg.ReqTimeout), mask: unix.EPOLLIN, srv: srv}
		if err := srv.lp.Add(c.fd, c.mask, func(ev uint32) { srv.onConn(c, ev) }); err != nil {
			srv.logf("upgrade: connection %d: %v", c.fd, err)
			unix.Close(c.fd)
			continue
		}
		srv.conns[c.fd] = c
		srv.bud.Add(c.fd, c.cred.Uid)
		srv.st.takeConn(c, hc)
		c.account()
	}
	return nil
}

// connHandoff describes what c is doing; "" for nothing worth keeping.
func (st *streams) connHandoff(c *conn) (kind string, args []string, data []byte) {
	if c.closed {
		return "", nil, nil
	}
	unsent := c.wbuf[c.wpos:]
	switch {
	case c == st.srv.upConn:
		return "upgrade", nil, nil
	case c.state == connReading || c.held:
		return "read", nil, c.rbuf
	case c.pendJob != nil || c.later:
		return "read", nil, c.raw // the queued RUN is asked again
	case st.held[c] != nil: // RUN wait: 1
		return "held", []string{st.held[c].ID()}, unsent
	case c.waitJob != nil:
		return "wait", []string{c.waitJob.ID()}, nil
	case c.log != nil:
		ls := c.log
		return "logs", []string{ls.job.ID(), strconv.FormatInt(ls.pos, 10), boolStr(ls.midLn), boolStr(ls.follow)}, unsent
	case c.sub != nil:
		types := make([]string, 0, len(c.sub.Types))
		for t := range c.sub.Types {
			types = append(types, t)
		}
		return "events", []string{"id=" + c.sub.ID, "type=" + strings.Join(types, ",")}, unsent
	case c.state == connWriting:
		return "write", nil, unsent
	}
	return "", nil, nil
}

func (st *streams) takeConn(c *conn, hc handoff.Conn) {
	arg := func(i int) string {
		if i < len(hc.Args) {
			return hc.Args[i]
		}
		return ""
	}
	switch hc.Kind {
	case "upgrade":
		st.srv.reply(c, proto.OK().Add("pid", strconv.Itoa(os.Getpid())).Add("from", st.srv.upFrom).Add("to", st.srv.cfg.Version).Bytes())
	case "read":
		c.state, c.rbuf = connReading, hc.Data
		st.srv.readQ = append(st.srv.readQ, c)
		if proto.End(c.rbuf) >= 0 {
			st.srv.handle(c)
		}
	case "write":
		st.srv.reply(c, hc.Data)
	case "wait":
		j := st.srv.sup.Get(arg(0))
		switch {
		case j == nil:
			st.srv.reply(c, proto.Err("no such job").Add("id", arg(0)).Bytes())
		case j.IsEnded():
			st.replyRecorded(c, waitResponse(j))
		default:
			st.wait(c, j)
			st.srv.setMask(c, 0)
		}
	case "held":
		j := st.srv.sup.Get(arg(0))
		if j == nil {
			st.srv.reply(c, hc.Data)
			return
		}
		st.holdJob(c, j)
		st.srv.send(c, hc.Data)
		if j.IsEnded() {
			st.srv.send(c, waitResponse(j))
		}
	case "logs":
		j := st.srv.sup.Get(arg(0))
		if j == nil || j.Log() == "" {
			st.srv.reply(c, hc.Data)
			return
		}
		f, err := st.srv.logs.Open(j.Log())
		if err != nil {
			st.srv.reply(c, hc.Data)
			return
		}
		pos, _ := strconv.ParseInt(arg(1), 10, 64)
		ls := &logStream{f: f, job: j, pos: pos, midLn: arg(2) == "1", follow: arg(3) == "1" && !j.IsEnded()}
		if ls.follow && st.follow(c, j) != nil {
			ls.follow = false // sends what is there, then closes
		}
		c.log = ls
		st.srv.send(c, hc.Data)
	case "events":
		f := hub.Filter{ID: strings.TrimPrefix(arg(0), "id="), UID: c.cred.Uid, Root: c.cred.Uid == 0}
		if t := strings.TrimPrefix(arg(1), "type="); t != "" {
			f.Types = map[string]bool{}
			for _, x := range strings.Split(t, ",") {
				f.Types[x] = true
			}
		}
		c.sub = st.srv.events.Subscribe(f, c)
		st.srv.send(c, hc.Data)
	default:
		st.srv.closeConn(c)
	}
}
