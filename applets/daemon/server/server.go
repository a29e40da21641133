package server

import (
	"bytes"
	"cgroupd/applets/daemon/budget"
	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/journal"
	"cgroupd/applets/daemon/logstore"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/applets/daemon/top"
	"cgroupd/core/account"
	"cgroupd/core/loop"
	"cgroupd/core/proto"
	"cgroupd/core/sock"
	"cgroupd/core/spawn"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

const (
	freezeWait = 5 * time.Second // FREEZE/THAW confirmation deadline
	readChunk  = 64 << 10
)

// Connection states.
const (
	connReading = iota // request not complete yet
	connBusy           // request taken; reply deferred (WAIT, FREEZE, LOGS --follow)
	connWriting        // reply queued; close when drained
)

// conn is one client connection.
type conn struct {
	fd       int
	cred     unix.Ucred
	state    int
	rbuf     []byte
	scan     int // rbuf before this offset holds no blank line
	wbuf     []byte
	wpos     int
	deadline time.Time
	closed   bool
	mask     uint32

	waitJob *supervisor.Job // WAIT in progress
	log     *logStream      // LOGS in progress
	pendJob *supervisor.Job // RUN waiting in the admission queue
	sub     *hub.Sub        // EVENTS --follow in progress
	queued  bool            // in srv.dirty: the hub queued lines to write out
	srv     *Server
	raw     []byte // the request as received (an upgrade asks it again)
	held    bool   // complete request held while an upgrade quiesces
	later   bool   // a RUN waiting for its turn on the loop (handle)
	fds     []int  // descriptors the request came with (pipe.go)
	fdsOver bool   // … and more than a request may carry
}

// Config is what the server is started with.
type Config struct {
	Socket      string
	SocketGroup string // --socket-group: chgrp the socket
	ReqTimeout  time.Duration
	// What one user may cost through its connections (budget.go).
	WriteTimeout    time.Duration // --write-timeout
	MaxUserConns    int           // --max-user-conns
	RootReserve     int           // --root-reserve
	ConnMemory      int           // --conn-memory: bytes of all connections' buffers
	EUID            int           // the daemon's user
	Env             []string      // jobs' environment: the daemon's, without its private variables
	Cwd             string        // jobs' working directory: the daemon's
	MaxUserPriority int
	MaxUserJobs     int
	MaxUserRunBytes int64 // argv + env bytes of a non-root RUN (<= 0: no bound)
	// JobRlimits are what a job starts with unless its RUN asks
	// otherwise; MaxUserUlimits the most a non-privileged caller's job
	// may have (--max-user-ulimit; a resource it does not name: the
	// default's hard limit).
	JobRlimits, MaxUserUlimits []spawn.Rlimit
	DryRun                     bool
	Thresholds                 guard.Thresholds // TOP shows them
	NoFile                     uint64           // the open file limit
	Version                    string
	Debug                      bool
	Logf                       func(format string, args ...any)
	// The root package's part of some verbs: QUIT begins the shutdown,
	// UPGRADE the preflight (c is the requester), METRICS renders the
	// exposition text, TOP's per-job figures come from the sampler.
	Quit    func()
	Upgrade func() error
	Metrics func(b []byte, shown func(*supervisor.Job) bool) []byte // per-job series of the jobs shown
	Top     *top.Sampler
	// Release gives the heap's free memory back to the kernel, after
	// connections let go of much (nil: nothing).
	Release func()
}

// Server is the daemon's socket side: the listener, the connections, the
// line protocol, the verbs and every stream a client waits on (WAIT, RUN
// wait: 1, LOGS and EVENTS followers, FREEZE/THAW confirmations, queued
// RUNs). It answers clients from the supervisor's changes (Answer).
type Server struct {
	cfg    Config
	lp     *loop.Loop
	sup    *supervisor.Supervisor
	jn     *journal.Journal
	logs   *logstore.Store
	events *hub.Hub

	lfd          int
	acceptPaused bool
	conns        map[int]*conn
	readQ        []*conn // connections in connReading, in deadline order
	dirty        []*conn // followers the hub queued lines for during this batch

	st  streams        // what connections wait for (streams.go)
	bud *budget.Budget // what each user's connections cost (budget.go)
	cl  callers        // who is asking: rights, ceilings, groups (users.go)

	upConn *conn // the UPGRADE requester while one is in progress
	hold   bool  // an upgrade quiesces: complete requests are held
	upFrom string
	quit   bool // shutting down: no new connections
}

// New is a server on loop lp for supervisor sup, answering once the
// records in jn are written, reading logs from logs, streaming events.
func New(cfg Config, lp *loop.Loop, sup *supervisor.Supervisor, jn *journal.Journal, logs *logstore.Store, events *hub.Hub) *Server {
	srv := &Server{cfg: cfg, lp: lp, sup: sup, jn: jn, logs: logs, events: events, lfd: -1, conns: map[int]*conn{}}
	srv.bud = newBudget(srv)
	srv.st = streams{srv: srv, waiters: map[*supervisor.Job]map[*conn]struct{}{},
		followers: map[*supervisor.Job]map[*conn]struct{}{}, held: map[*conn]*supervisor.Job{},
		runs: map[*supervisor.Job]runReq{}}
	srv.cl = callers{srv: srv}
	if srv.cfg.Logf == nil {
		srv.cfg.Logf = func(string, ...any) {}
	}
	return srv
}

// streams are what connections wait for once their request was taken
// (streams.go), answered from the supervisor's Outcomes.
type streams struct {
	srv       *Server
	waiters   map[*supervisor.Job]map[*conn]struct{} // WAIT in progress
	followers map[*supervisor.Job]map[*conn]struct{} // LOGS --follow
	held      map[*conn]*supervisor.Job              // RUN wait: 1 connections and their job
	freezeQ   []*freezeOp                            // FREEZE/THAW waiting for cgroup.events
	runs      map[*supervisor.Job]runReq             // RUNs the supervisor took, until started or refused
}

// callers is who is asking: the rights checks are made with, the
// ceilings that apply, the supplementary groups a job gets (users.go).
type callers struct {
	srv    *Server
	groups account.GroupCache
}

// Conns is the number of open connections.
func (srv *Server) Conns() int { return len(srv.conns) }

// CheckStaleSocket refuses a socket path that answers and removes a stale
// socket file nobody answers on.
func CheckStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s: exists and is not a socket", path)
	}
	live, err := sock.Answers(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if live {
		return fmt.Errorf("%s: address already in use", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// Listen binds the socket with mode 0660 (chmod after bind, so the umask
// does not matter) and the --socket-group, and registers it.
func (srv *Server) Listen() error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	// bind makes the node 0660 itself (umask, at start-up, before any
	// other goroutine creates files): a chmod of the path afterwards
	// would follow a link planted there in between.
	old := unix.Umask(0o117)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: srv.cfg.Socket})
	unix.Umask(old)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("bind %s: %w", srv.cfg.Socket, err)
	}
	srv.lfd = fd
	if g := srv.cfg.SocketGroup; g != "" {
		gid, err := LookupGroup(g)
		if err != nil {
			return fmt.Errorf("--socket-group %s: %w", g, err)
		}
		if err := os.Lchown(srv.cfg.Socket, -1, gid); err != nil {
			return fmt.Errorf("chgrp %s: %w", srv.cfg.Socket, err)
		}
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fmt.Errorf("listen %s: %w", srv.cfg.Socket, err)
	}
	if err := srv.lp.Add(fd, unix.EPOLLIN, func(uint32) { srv.onAccept() }); err != nil {
		return fmt.Errorf("epoll add listener: %w", err)
	}
	return nil
}

// LookupGroup resolves a --socket-group: a group name or numeric gid.
func LookupGroup(g string) (int, error) {
	if n, err := strconv.Atoi(g); err == nil && n >= 0 {
		return n, nil
	}
	gid, ok := account.GroupID(g)
	if !ok {
		return 0, fmt.Errorf("no group %q in %s", g, account.GroupFile)
	}
	return int(gid), nil
}

// onAccept accepts a bounded batch of connections.
func (srv *Server) onAccept() {
	for i := 0; i < 64 && !srv.quit; i++ {
		nfd, spare, err := srv.bud.Accept(srv.lfd)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
				// Out of fds: stop polling the listener (it would spin)
				// until a connection closes or the next tick.
				srv.logf("accept: %v; pausing accepts", err)
				srv.pauseAccept(true)
			default:
				srv.logf("accept: %v", err)
			}
			return
		}
		cred, err := unix.GetsockoptUcred(nfd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			srv.debugf("SO_PEERCRED: %v", err)
			unix.Close(nfd)
			srv.bud.OpenSpare()
			continue
		}
		c := &conn{fd: nfd, cred: *cred, state: connReading, deadline: time.Now().Add(srv.cfg.ReqTimeout), mask: unix.EPOLLIN, srv: srv}
		if why := srv.bud.Admit(cred.Uid, nfd, spare); why != "" {
			c.refuse(why)
			continue
		}
		if err := srv.lp.Add(nfd, c.mask, func(ev uint32) { srv.onConn(c, ev) }); err != nil {
			srv.logf("epoll add conn: %v", err)
			unix.Close(nfd)
			continue
		}
		srv.conns[nfd] = c
		srv.bud.Add(c.fd, c.cred.Uid)
		srv.readQ = append(srv.readQ, c)
	}
}

func (srv *Server) pauseAccept(pause bool) {
	if srv.lfd < 0 || pause == srv.acceptPaused {
		return
	}
	var err error
	if pause {
		err = srv.lp.Modify(srv.lfd, 0)
	} else {
		err = srv.lp.Modify(srv.lfd, unix.EPOLLIN)
	}
	if err != nil {
		srv.logf("listener: %v", err)
		return
	}
	srv.acceptPaused = pause
}

// onConn handles readiness of a client connection.
func (srv *Server) onConn(c *conn, ev uint32) {
	if c.closed {
		return
	}
	switch c.state {
	case connReading:
		srv.readRequest(c)
	default:
		if ev&unix.EPOLLOUT != 0 || len(c.wbuf) > c.wpos {
			srv.flush(c)
			return
		}
		if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.later {
			// The client went away while waiting (WAIT, LOGS --follow).
			// A RUN waiting for its turn still runs, as one run at once
			// would have: its reply finds the client gone.
			srv.closeConn(c)
		}
	}
}

// readRequest reads what is available; a request ends at the blank line
// or at half-close.
func (srv *Server) readRequest(c *conn) {
	var buf [readChunk]byte
	for {
		n, err := c.recv(buf[:]) // pipe.go: and the descriptors
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			srv.closeConn(c)
			return
		}
		if n == 0 { // half-close or close: the request is what we have
			if len(c.rbuf) == 0 {
				srv.closeConn(c)
				return
			}
			srv.handle(c)
			return
		}
		c.rbuf = appendRequest(c.rbuf, buf[:n])
		c.account()
		if trimConns(srv); c.closed {
			return // the largest of the user holding the most
		}
		if len(c.rbuf) > proto.MaxRequest {
			srv.reply(c, proto.Err("request too large").Add("max_bytes", strconv.Itoa(proto.MaxRequest)).Bytes())
			return
		}
		// Only the new lines can end the request: scan from the start of
		// the last incomplete line, not from the top (4 MiB in 64 KiB
		// reads would otherwise be quadratic).
		if proto.End(c.rbuf[c.scan:]) >= 0 {
			srv.handle(c)
			return
		}
		c.scan = bytes.LastIndexByte(c.rbuf, '\n') + 1
	}
}

// handle parses the request and runs its verb. The connection stops
// reading: one request per connection.
func (srv *Server) handle(c *conn) {
	c.state = connBusy
	srv.setMask(c, 0)
	if srv.hold {
		c.held = true // the new image answers it (upgrade.go)
		return
	}
	req, err := proto.Parse(c.rbuf)
	c.raw, c.rbuf = c.rbuf, nil
	if err != nil {
		if errors.Is(err, proto.ErrEmptyKey) {
			srv.reply(c, proto.Err("malformed headers").Add("detail", "empty key").Bytes())
		} else if errors.Is(err, proto.ErrTooManyHeaders) {
			srv.reply(c, proto.Err("request too large").Add("max_headers", strconv.Itoa(proto.MaxHeaders)).Bytes())
		} else if errors.Is(err, proto.ErrMalformed) {
			srv.reply(c, proto.Err("malformed headers").Bytes())
		} else {
			srv.reply(c, proto.Err("malformed request").Add("detail", err.Error()).Bytes())
		}
		return
	}
	srv.debugf("uid %d pid %d: %s", c.cred.Uid, c.cred.Pid, req.Verb)
	if out := c.refuseFDs(req.Verb); out != nil {
		srv.reply(c, out)
		return
	}
	if req.Verb == "RUN" || req.Verb == "PIPE" {
		// A RUN's work on the loop (cgroup, limits, watches, log) is the
		// loop's heaviest. It waits its turn, so that under a storm of
		// RUNs a PING, KILL or LIST is answered after at most one of them
		// instead of after every RUN of the batch.
		c.later = true
		srv.lp.Later(func() { srv.runLater(c, &req) })
		return
	}
	if out := srv.dispatch(c, &req); out != nil {
		srv.reply(c, out)
	}
}

// runLater runs a RUN that handle queued, unless its client has gone or
// an upgrade began meanwhile (the request is then held, as handle holds
// one).
func (srv *Server) runLater(c *conn, req *proto.Request) {
	c.later = false
	if c.closed {
		return
	}
	if srv.hold {
		c.held, c.rbuf, c.raw = true, c.raw, nil
		return
	}
	if out := srv.dispatch(c, req); out != nil {
		srv.reply(c, out)
	}
}

// reply queues a whole response and closes the connection once sent.
func (srv *Server) reply(c *conn, b []byte) {
	if c.closed {
		return
	}
	c.state = connWriting
	c.raw, c.rbuf = nil, nil
	c.closeFDs() // answered: a PIPE that ran has taken them
	c.wbuf = append(c.wbuf, b...)
	srv.flush(c)
}

// send queues bytes without ending the connection (LOGS streaming).
func (srv *Server) send(c *conn, b []byte) {
	c.wbuf = append(c.wbuf, b...)
	srv.flush(c)
}

// flush writes what the socket takes; the rest waits for EPOLLOUT.
func (srv *Server) flush(c *conn) {
	c.flush()
	c.account()
}

func (c *conn) flush() {
	srv := c.srv
	for chunks := 0; !c.closed; chunks++ {
		sent := 0
		for c.wpos < len(c.wbuf) {
			n, err := unix.SendmsgN(c.fd, c.wbuf[c.wpos:], nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) {
					c.wrote(sent, true)
					srv.setMask(c, unix.EPOLLOUT)
					return
				}
				if errors.Is(err, unix.EINTR) {
					continue
				}
				// EPIPE, ECONNRESET: the client is gone.
				srv.closeConn(c)
				return
			}
			c.wpos += n
			sent += n
		}
		c.wbuf, c.wpos = c.wbuf[:0], 0
		c.wrote(sent, false)
		if c.sub != nil && srv.st.markGap(c) {
			continue // an EVENTS follower caught up: its gap mark
		}
		if c.log != nil {
			if chunks >= 16 {
				// Fairness: a fast reader of a huge log gets 1 MiB per
				// turn; EPOLLOUT brings it back after the other events.
				srv.setMask(c, unix.EPOLLOUT)
				return
			}
			if srv.st.fillLog(c) {
				continue // more data queued
			}
			return // waiting for the file to grow, or closed
		}
		if c.state == connWriting {
			srv.closeConn(c)
			return
		}
		srv.setMask(c, 0)
		return
	}
}

func (srv *Server) setMask(c *conn, m uint32) {
	if c.closed || c.mask == m {
		return
	}
	if err := srv.lp.Modify(c.fd, m); err != nil {
		srv.debugf("epoll modify conn: %v", err)
		return
	}
	c.mask = m
}

// closeConn drops a connection and everything waiting on it.
func (srv *Server) closeConn(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	srv.lp.CloseFD(c.fd)
	srv.st.connGone(c) // what it waited for (streams.go)
	c.closeFDs()
	c.rbuf, c.wbuf, c.raw = nil, nil, nil
	delete(srv.conns, c.fd)
	srv.bud.Remove(c.fd)
	srv.pauseAccept(false)
}

// Tick runs every housekeeping tick: incomplete requests time out
// (oldest first), FREEZE/THAW the kernel never confirmed are answered,
// and a listener paused for want of fds listens again.
func (srv *Server) Tick(now time.Time) {
	for len(srv.readQ) > 0 {
		c := srv.readQ[0]
		if !c.closed && c.state == connReading {
			if now.Before(c.deadline) {
				break
			}
			srv.setMask(c, 0)
			held := srv.bud.Bytes(c.fd)
			srv.reply(c, proto.Err("request timeout").Bytes())
			c.dropped("request_timeout", held)
		}
		srv.readQ[0] = nil
		srv.readQ = srv.readQ[1:]
	}
	srv.st.expireFreezeOps(now)
	tickBudget(srv, now)
	srv.pauseAccept(false)
}

// logf writes a human log line (never starting with "EVENT ").
func (srv *Server) logf(format string, args ...any) { srv.cfg.Logf(format, args...) }

func (srv *Server) debugf(format string, args ...any) {
	if srv.cfg.Debug {
		srv.cfg.Logf("debug: "+format, args...)
	}
}

// Shutdown stops accepting (the socket file is removed) and drops the
// connections that have not sent a request; the others are answered as
// their jobs end.
func (srv *Server) Shutdown() {
	srv.quit = true
	srv.closeListener()
	for _, c := range srv.conns {
		if c.state == connReading {
			srv.closeConn(c)
		}
	}
}

// Idle: no connection is left (a shutdown has answered everyone).
func (srv *Server) Idle() bool { return len(srv.conns) == 0 }

// closeListener stops accepting and removes the socket file.
func (srv *Server) closeListener() {
	if srv.lfd < 0 {
		return
	}
	srv.lp.Remove(srv.lfd)
	unix.Close(srv.lfd)
	srv.lfd = -1
	if err := os.Remove(srv.cfg.Socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		srv.logf("remove socket: %v", err)
	}
}

// Close writes out what the hub queued, then drops every connection and
// the listener (start failure or end of shutdown).
func (srv *Server) Close() {
	srv.Answer()
	srv.FlushQueued()
	srv.closeListener()
	for _, c := range srv.conns {
		srv.closeConn(c)
	}
}
