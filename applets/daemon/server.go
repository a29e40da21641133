package daemon

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/journal"
	"cgroupd/applets/daemon/logstore"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/cgroup"
	"cgroupd/core/event"
	"cgroupd/core/hostmem"
	"cgroupd/core/loop"
	"cgroupd/core/notify"
	"cgroupd/core/proto"
	"cgroupd/core/psi"
	"cgroupd/core/sock"

	"golang.org/x/sys/unix"
)

const (
	freezeWait   = 5 * time.Second  // FREEZE/THAW confirmation deadline
	shutdownWait = 10 * time.Second // bound on waiting for jobs at shutdown
	tick         = time.Second      // housekeeping
	readChunk    = 64 << 10
	fdReserve    = 128             // fds kept free for connections and spawning
	stderrMax    = 256 << 10       // bytes of events and log lines waiting for stderr
	sinkFlush    = 2 * time.Second // at exit, how long stderr may take the rest
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

	waitJob *entry     // WAIT in progress
	log     *logStream // LOGS in progress
	pendJob *entry     // RUN waiting in the admission queue
	sub     *hub.Sub   // EVENTS --follow in progress
	queued  bool       // in srv.dirty: the hub queued lines to write out
	srv     *server
	raw     []byte // the request as received (an upgrade asks it again)
	held    bool   // complete request held while an upgrade quiesces
}

// daemon is all state; only the loop goroutine touches it. It is made of
// two parts with one concern each, plus what both use (config, loop,
// events, the pressure engine):
//
//   - server: the socket and the connections, the line protocol, requests
//     and replies (server.go), and the hand-over of both in an upgrade;
//   - supervisor: the jobs and their lifecycle (lifecycle.go), the kernel
//     objects that follow them (pidfds, watches, cgroups being emptied),
//     the spawner and the job records (journal.go, adopt.go).
//
// The verbs (verbs.go, run.go) are where the two meet: a request from the
// server becomes a step of the supervisor, and the supervisor answers a
// connection when a job gets there (WAIT, FREEZE, RUN).
type daemon struct {
	cfg    *config
	stderr io.Writer
	lp     *loop.Loop

	mount string
	root  cgroup.Dir
	self  string // this binary, for the spawn fallback helper
	euid  int
	env   []string
	cwd   string

	server
	supervisor

	engine      *pressure.Engine
	triggers    []*trigger
	wake        *loop.Alarm // fast samples, queue deadlines (nil: no engine)
	lastObserve time.Time
	queue       pressure.Queue // pending RUNs (queue.go)

	sd sdState // systemd notification (sdnotify.go)

	metrics metrics   // metrics.go
	opts    optsState // rm, wait, timeouts (runopts.go)
	top     topState  // TOP and its sampler (top.go)

	quitting     bool
	quitDeadline time.Time
	done         bool
	userCache    map[uint32][]uint32
	logs         *logstore.Store // -L (nil without)

	meminfo      *hostmem.Reader        // host headroom (nil: rule off)
	hostPSIFiles map[string]*psi.Reader // the host's pressure files by resource (hostPSI)
	// psiHost and psiRoot: the kernel measures pressure on the host and
	// in the job tree (checkPSI); without, PSI figures are unknown.
	psiHost, psiRoot bool

	sink   *event.Sink // stderr, never blocking (nil in unit tests)
	events *hub.Hub    // every event: stderr, EVENTS history and followers, metrics

	oomAdj *hostmem.OOMScoreAdj // the daemon's own, while it can restore it
}

// server is the daemon's socket side.
type server struct {
	sockPath     string
	lfd          int
	acceptPaused bool
	nofile       uint64

	conns map[int]*conn
	dirty []*conn // followers the hub queued lines for during this batch
	readQ []*conn // connections in connReading, in deadline order

	up     upgrade // UPGRADE in progress (upgrade.go)
	upFrom string  // the version this image was upgraded from ("": not upgraded)
}

// supervisor is the daemon's job side.
type supervisor struct {
	jobs     map[string]*entry
	seq      uint64
	nextID   int
	nRunning int
	nFrozen  int
	pidfds   int
	userJobs map[uint32]int // live and pending jobs per uid (users.go)

	watcher  *notify.Watcher
	watches  map[int]watch
	freezeQ  []*freezeOp
	stopping map[*entry]struct{}
	graves   []cgroup.Dir // cgroups of refused RUNs still emptying
	unreaped []int        // pidfds of refused RUNs' processes to reap (reapLater)

	spawner     *spawner          // fork/exec off the loop (spawner.go)
	starting    map[string]*entry // RUNs whose processes the spawner is starting
	startingFDs int               // the pidfds they will hold

	liveJobs map[*entry]struct{} // jobs not ended: the engine's candidates

	fbKills map[cgroup.Dir]*fallbackKill // kill fallback rounds in progress (killfb.go)
	fbFD    int                          // their round timer (-1: none yet)

	journal  *journal.Journal // job records; nil with --state-dir none
	stateDir string           // where they are ("" without)
	bootID   string
	lockFDs  []int           // flocked: the root and the state dir (adopt.go)
	strays   map[string]bool // cgroups under the root no job is known for
}

// newSupervisor is an empty job side.
func newSupervisor() supervisor {
	return supervisor{
		jobs: map[string]*entry{}, nextID: 1, watches: map[int]watch{}, stopping: map[*entry]struct{}{},
		liveJobs: map[*entry]struct{}{}, starting: map[string]*entry{}, fbFD: -1,
	}
}

// Run is the applet entry point.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cgroupd: %v\n", err)
		fmt.Fprint(stderr, usage)
		return 2
	}
	// Nothing the daemon writes to stderr may block it (a reader that
	// stopped reading): events and log lines go through a bounded sink.
	sink := event.NewSink(stderr, stderrMax, nil)
	d := &daemon{
		cfg:        cfg,
		stderr:     sink,
		events:     hub.New(sink.Events(), nil),
		sink:       sink,
		euid:       os.Geteuid(),
		userCache:  map[uint32][]uint32{},
		server:     server{lfd: -1, conns: map[int]*conn{}},
		supervisor: newSupervisor(),
	}
	if err := d.start(); err != nil {
		sink.Close(sinkFlush)
		fmt.Fprintf(stderr, "cgroupd: %v\n", err)
		d.closeAll()
		return 1
	}
	err = d.lp.Run(func() bool { d.maybeUpgrade(); return d.done })
	d.shutdownFinal()
	sink.Close(sinkFlush)
	if err != nil {
		fmt.Fprintf(stderr, "cgroupd: event loop: %v\n", err)
		return 1
	}
	return 0
}

// start prepares everything up to "cgroupd ready".
func (d *daemon) start() error {
	d.raiseNofile()
	// A SIGPIPE handler (not SIG_IGN, which jobs would inherit) keeps a
	// closed stderr reader from killing the daemon: writes fail instead.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	var err error
	if d.self, err = os.Executable(); err != nil {
		return fmt.Errorf("own executable: %w", err)
	}
	if d.cwd, err = os.Getwd(); err != nil {
		d.cwd = "/"
	}
	d.env = withoutSdEnv(os.Environ())
	if d.cfg.LogDir != "" {
		if d.cfg.LogDir, err = filepath.Abs(d.cfg.LogDir); err != nil {
			return fmt.Errorf("log dir: %w", err)
		}
		if d.logs, err = logstore.Open(d.cfg.LogDir, d.cfg.LogMaxSize, d.cfg.LogRetain, d.euid, d.logf); err != nil {
			return err
		}
	}
	d.sockPath = d.cfg.Socket
	if d.sockPath == "" {
		d.sockPath = defaultSocket(d.euid, os.Getenv, isDir)
	}
	// An upgrading daemon left its listener, locks, pidfds and
	// connections to this image (upgrade.go).
	h, err := readHandoff()
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if h != nil {
		d.upFrom = h.from
	} else if err := checkStaleSocket(d.sockPath); err != nil {
		// The socket is checked before the root so a second daemon on
		// the same socket changes nothing.
		return err
	}
	rs, err := setupRoot(d.cfg.Root, d.debugf)
	if err != nil {
		return err
	}
	d.mount, d.root = rs.Mount, rs.Root
	if err := d.openState(h); err != nil {
		return err
	}
	d.protectSelf(rs.Delegated)
	d.logf("using cgroup root: %s", d.root)
	d.debugf("controllers in root subtree_control: %v", rs.Enabled)

	if d.lp, err = loop.New(); err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	// The event lines and job records of one batch of the loop reach
	// their writers in one wake-up each.
	d.events.Observe(d.metrics.observe)
	d.lp.OnBatch(func() {
		if d.sink != nil {
			d.sink.Hold()
		}
		d.journal.Hold()
	}, func() {
		d.flushQueued() // what the hub queued for EVENTS followers
		if d.sink != nil {
			d.sink.Release()
		}
		d.journal.Release()
	})
	sig, err := loop.NewSignals(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2)
	if err != nil {
		return fmt.Errorf("signals: %w", err)
	}
	if err := d.lp.Add(sig.FD, unix.EPOLLIN, func(uint32) { d.onSignals(sig.Drain()) }); err != nil {
		return fmt.Errorf("epoll add signals: %w", err)
	}
	tfd, err := loop.TimerFD(tick)
	if err != nil {
		return fmt.Errorf("timerfd: %w", err)
	}
	if err := d.lp.Add(tfd, unix.EPOLLIN, func(uint32) {
		loop.DrainTimer(tfd)
		d.housekeeping(time.Now())
	}); err != nil {
		return fmt.Errorf("epoll add timer: %w", err)
	}
	if d.watcher, err = notify.New(); err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	if err := d.lp.Add(d.watcher.FD(), unix.EPOLLIN, func(uint32) { d.onNotify() }); err != nil {
		return fmt.Errorf("epoll add inotify: %w", err)
	}
	if err := d.startEngine(); err != nil {
		return fmt.Errorf("pressure engine: %w", err)
	}
	if d.spawner, err = newSpawner(d.oomAdj); err != nil {
		return fmt.Errorf("spawner: %w", err)
	}
	if err := d.lp.Add(d.spawner.efd, unix.EPOLLIN, func(uint32) { d.spawner.onReady() }); err != nil {
		return fmt.Errorf("epoll add spawner: %w", err)
	}
	if d.journal != nil {
		if err := d.lp.Add(d.journal.FD(), unix.EPOLLIN, func(uint32) { d.journal.OnReady() }); err != nil {
			return fmt.Errorf("epoll add journal: %w", err)
		}
	}
	var handed map[string]*handedJob
	if h != nil {
		handed = h.jobs
	}
	d.adopt(handed)
	if h != nil {
		if err := d.takeListener(h); err != nil {
			return err
		}
		d.logf("upgraded from %s to %s", h.from, Version)
		d.emit(&hub.Event{Type: "daemon.upgrade"}, "pid", strconv.Itoa(os.Getpid()), "from", h.from, "to", Version)
		d.takeConns(h)
	} else if err := d.listen(); err != nil {
		return err
	}
	if err := d.startMetricsFile(); err != nil {
		return err
	}
	d.logf("cgroupd ready")
	d.sdStart(os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"))
	return nil
}

// raiseNofile lifts the soft RLIMIT_NOFILE to the hard limit: every
// running job holds a pidfd.
func (d *daemon) raiseNofile() {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		d.nofile = 1024
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
		}
	}
	d.nofile = rl.Cur
}

// checkStaleSocket refuses a socket path that answers and removes a stale
// socket file nobody answers on.
func checkStaleSocket(path string) error {
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

// listen binds the socket with mode 0660 (chmod after bind, so the umask
// does not matter) and the --socket-group, and registers it.
func (d *daemon) listen() error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	// bind makes the node 0660 itself (umask, at start-up, before any
	// other goroutine creates files): a chmod of the path afterwards
	// would follow a link planted there in between.
	old := unix.Umask(0o117)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: d.sockPath})
	unix.Umask(old)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("bind %s: %w", d.sockPath, err)
	}
	d.lfd = fd
	if g := d.cfg.SocketGroup; g != "" {
		gid, err := lookupGroup(g)
		if err != nil {
			return fmt.Errorf("--socket-group %s: %w", g, err)
		}
		if err := os.Lchown(d.sockPath, -1, gid); err != nil {
			return fmt.Errorf("chgrp %s: %w", d.sockPath, err)
		}
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fmt.Errorf("listen %s: %w", d.sockPath, err)
	}
	if err := d.lp.Add(fd, unix.EPOLLIN, func(uint32) { d.onAccept() }); err != nil {
		return fmt.Errorf("epoll add listener: %w", err)
	}
	return nil
}

// lookupGroup resolves a group name or numeric gid.
func lookupGroup(g string) (int, error) {
	if n, err := strconv.Atoi(g); err == nil && n >= 0 {
		return n, nil
	}
	gr, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(gr.Gid)
}

// onAccept accepts a bounded batch of connections.
func (d *daemon) onAccept() {
	for i := 0; i < 64 && !d.quitting; i++ {
		nfd, _, err := unix.Accept4(d.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE):
				// Out of fds: stop polling the listener (it would spin)
				// until a connection closes or the next tick.
				d.logf("accept: %v; pausing accepts", err)
				d.pauseAccept(true)
			default:
				d.logf("accept: %v", err)
			}
			return
		}
		cred, err := unix.GetsockoptUcred(nfd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			d.debugf("SO_PEERCRED: %v", err)
			unix.Close(nfd)
			continue
		}
		c := &conn{fd: nfd, cred: *cred, state: connReading, deadline: time.Now().Add(d.cfg.ReqTimeout), mask: unix.EPOLLIN, srv: &d.server}
		if err := d.lp.Add(nfd, c.mask, func(ev uint32) { d.onConn(c, ev) }); err != nil {
			d.logf("epoll add conn: %v", err)
			unix.Close(nfd)
			continue
		}
		d.conns[nfd] = c
		d.readQ = append(d.readQ, c)
	}
}

func (d *daemon) pauseAccept(pause bool) {
	if d.lfd < 0 || pause == d.acceptPaused {
		return
	}
	var err error
	if pause {
		err = d.lp.Modify(d.lfd, 0)
	} else {
		err = d.lp.Modify(d.lfd, unix.EPOLLIN)
	}
	if err != nil {
		d.logf("listener: %v", err)
		return
	}
	d.acceptPaused = pause
}

// onConn handles readiness of a client connection.
func (d *daemon) onConn(c *conn, ev uint32) {
	if c.closed {
		return
	}
	switch c.state {
	case connReading:
		d.readRequest(c)
	default:
		if ev&unix.EPOLLOUT != 0 || len(c.wbuf) > c.wpos {
			d.flush(c)
			return
		}
		if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			// The client went away while waiting (WAIT, LOGS --follow).
			d.closeConn(c)
		}
	}
}

// readRequest reads what is available; a request ends at the blank line
// or at half-close.
func (d *daemon) readRequest(c *conn) {
	var buf [readChunk]byte
	for {
		n, err := unix.Read(c.fd, buf[:])
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			d.closeConn(c)
			return
		}
		if n == 0 { // half-close or close: the request is what we have
			if len(c.rbuf) == 0 {
				d.closeConn(c)
				return
			}
			d.handle(c)
			return
		}
		c.rbuf = append(c.rbuf, buf[:n]...)
		if len(c.rbuf) > proto.MaxRequest {
			d.reply(c, proto.Err("request too large").Add("max_bytes", strconv.Itoa(proto.MaxRequest)).Bytes())
			return
		}
		// Only the new lines can end the request: scan from the start of
		// the last incomplete line, not from the top (4 MiB in 64 KiB
		// reads would otherwise be quadratic).
		if proto.End(c.rbuf[c.scan:]) >= 0 {
			d.handle(c)
			return
		}
		c.scan = bytes.LastIndexByte(c.rbuf, '\n') + 1
	}
}

// handle parses the request and runs its verb. The connection stops
// reading: one request per connection.
func (d *daemon) handle(c *conn) {
	c.state = connBusy
	d.setMask(c, 0)
	if d.up.ready {
		c.held = true // the new image answers it (upgrade.go)
		return
	}
	req, err := proto.Parse(c.rbuf)
	c.raw, c.rbuf = c.rbuf, nil
	if err != nil {
		if errors.Is(err, proto.ErrEmptyKey) {
			d.reply(c, proto.Err("malformed headers").Add("detail", "empty key").Bytes())
		} else if errors.Is(err, proto.ErrMalformed) {
			d.reply(c, proto.Err("malformed headers").Bytes())
		} else {
			d.reply(c, proto.Err("malformed request").Add("detail", err.Error()).Bytes())
		}
		return
	}
	d.debugf("uid %d pid %d: %s", c.cred.Uid, c.cred.Pid, req.Verb)
	if out := d.dispatch(c, &req); out != nil {
		d.reply(c, out)
	}
}

// reply queues a whole response and closes the connection once sent.
func (d *daemon) reply(c *conn, b []byte) {
	if c.closed {
		return
	}
	c.state = connWriting
	c.raw = nil
	c.wbuf = append(c.wbuf, b...)
	d.flush(c)
}

// send queues bytes without ending the connection (LOGS streaming).
func (d *daemon) send(c *conn, b []byte) {
	c.wbuf = append(c.wbuf, b...)
	d.flush(c)
}

// flush writes what the socket takes; the rest waits for EPOLLOUT.
func (d *daemon) flush(c *conn) {
	for chunks := 0; !c.closed; chunks++ {
		for c.wpos < len(c.wbuf) {
			n, err := unix.SendmsgN(c.fd, c.wbuf[c.wpos:], nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) {
					d.setMask(c, unix.EPOLLOUT)
					return
				}
				if errors.Is(err, unix.EINTR) {
					continue
				}
				// EPIPE, ECONNRESET: the client is gone.
				d.closeConn(c)
				return
			}
			c.wpos += n
		}
		c.wbuf, c.wpos = c.wbuf[:0], 0
		if c.sub != nil && d.markGap(c) {
			continue // an EVENTS follower caught up: its gap mark
		}
		if c.log != nil {
			if chunks >= 16 {
				// Fairness: a fast reader of a huge log gets 1 MiB per
				// turn; EPOLLOUT brings it back after the other events.
				d.setMask(c, unix.EPOLLOUT)
				return
			}
			if d.fillLog(c) {
				continue // more data queued
			}
			return // waiting for the file to grow, or closed
		}
		if c.state == connWriting {
			d.closeConn(c)
			return
		}
		d.setMask(c, 0)
		return
	}
}

func (d *daemon) setMask(c *conn, m uint32) {
	if c.closed || c.mask == m {
		return
	}
	if err := d.lp.Modify(c.fd, m); err != nil {
		d.debugf("epoll modify conn: %v", err)
		return
	}
	c.mask = m
}

// closeConn drops a connection and everything waiting on it.
func (d *daemon) closeConn(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	d.lp.CloseFD(c.fd)
	delete(d.conns, c.fd)
	if c.waitJob != nil {
		delete(c.waitJob.waiters, c)
		c.waitJob = nil
	}
	if c.log != nil {
		d.closeLog(c)
	}
	if c.sub != nil {
		d.events.Unsubscribe(c.sub)
		c.sub = nil
	}
	if j := c.pendJob; j != nil {
		// The client gave up on its queued RUN: cancel it.
		c.pendJob = nil
		j.pend.conn = nil
		d.dropPending(j, proto.Err("client went away").Add("id", j.ID()))
	}
	c.rbuf, c.wbuf = nil, nil
	d.connClosed(c) // runopts.go: wait: 1 holds, rm
	d.pauseAccept(false)
}

// housekeeping runs every tick. It must not read per-job files except for
// the few jobs in a transition (stopping, freezing).
func (d *daemon) housekeeping(now time.Time) {
	// Incomplete requests time out, oldest first.
	for len(d.readQ) > 0 {
		c := d.readQ[0]
		if !c.closed && c.state == connReading {
			if now.Before(c.deadline) {
				break
			}
			d.setMask(c, 0)
			d.reply(c, proto.Err("request timeout").Bytes())
		}
		d.readQ[0] = nil
		d.readQ = d.readQ[1:]
	}
	d.expireFreezeOps(now)
	d.housekeepStopping(now)
	d.retryGraves()
	d.pauseAccept(false)
	// While the engine samples at its fast tick, that timer feeds it.
	if d.engine != nil && (d.engine.NextObserve() == 0 || now.Sub(d.lastObserve) >= d.engine.NextObserve()/2) {
		d.pressureTick(now)
	}
	d.checkQueue(now)
	d.metricsTick(now)
	d.sdTick()
	if d.quitting && now.After(d.quitDeadline) {
		d.logf("shutdown: giving up waiting for %d jobs", len(d.liveJobs))
		d.done = true
	}
	d.maybeDone()
}

// onNotify dispatches inotify events to the jobs they belong to.
func (d *daemon) onNotify() {
	wds, err := d.watcher.Read()
	if err != nil {
		d.debugf("inotify read: %v", err)
	}
	for _, wd := range wds {
		if wd == notify.Overflow {
			// Queue overflow: recheck every job in a transition, and
			// every live job's oom_kill (a lost notification must not
			// lose a job.oom).
			for j := range d.stopping {
				d.checkEvents(j)
			}
			for j := range d.liveJobs {
				d.checkMemEvents(j, false)
			}
			for _, op := range d.freezeQ {
				d.checkEvents(op.job)
			}
			continue
		}
		w, ok := d.watches[wd]
		if !ok {
			continue // removed watch (IN_IGNORED) or a stale wd
		}
		switch w.kind {
		case watchEvents:
			d.checkEvents(w.job)
		case watchMemEvents:
			d.checkMemEvents(w.job, false)
		case watchLog:
			d.logs.Grew(w.job.Log())
			for c := range w.job.followers {
				d.pumpLog(c)
			}
		}
	}
	d.maybeDone()
}

// watchFile adds a notify watch on file of j; *wd gets the descriptor.
func (d *daemon) watchFile(j *entry, path string, kind int, wd *int) error {
	w, err := d.watcher.Add(path)
	if err != nil {
		return err
	}
	*wd = w
	d.watches[w] = watch{job: j, kind: kind}
	return nil
}

func (d *daemon) unwatch(j *entry, wd *int) {
	if *wd < 0 {
		return
	}
	if w, ok := d.watches[*wd]; ok && w.job == j {
		delete(d.watches, *wd)
		// EINVAL: the kernel dropped the watch already (file removed).
		d.watcher.Remove(*wd)
	}
	*wd = -1
}

// onSignals: TERM and INT shut down; HUP is logged and ignored.
func (d *daemon) onSignals(sigs []os.Signal) {
	for _, s := range sigs {
		switch s {
		case syscall.SIGTERM, syscall.SIGINT:
			d.logf("%s: shutting down", unix.SignalName(s.(syscall.Signal)))
			d.beginShutdown()
		case syscall.SIGHUP:
			d.logf("SIGHUP ignored")
		case syscall.SIGUSR2:
			if err := d.beginUpgrade(nil); err != nil {
				d.logf("SIGUSR2: upgrade: %v", err)
			}
		}
	}
	d.maybeDone()
}

// emit writes one event line.

// logf writes a human log line (never starting with "EVENT ").
func (d *daemon) logf(format string, args ...any) {
	fmt.Fprintf(d.stderr, format+"\n", args...)
}

func (d *daemon) debugf(format string, args ...any) {
	if d.cfg.Debug {
		fmt.Fprintf(d.stderr, "debug: "+format+"\n", args...)
	}
}

func isNoKill(err error) bool { return errors.Is(err, cgroup.ErrNoKill) }
