package daemon

import (
	"cgroupd/core/spawn"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/journal"
	"cgroupd/applets/daemon/logstore"
	"cgroupd/applets/daemon/metrics"
	"cgroupd/applets/daemon/server"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/applets/daemon/top"
	"cgroupd/core/cgroup"
	"cgroupd/core/event"
	"cgroupd/core/hostmem"
	"cgroupd/core/loop"

	"golang.org/x/sys/unix"
)

// The root package wires the daemon's parts on one loop and sequences
// start, shutdown and upgrade. The parts, lowest first (an import may
// only point down this list; layers_test.go holds it, and checks that
// this list, DESIGN.md's and the README's say the same):
//
//	layer 0: job, jobid, retain, pressure      the job model and its record's encoding, the automatic ids, which ended jobs --max-user-ended removes, the engine's policy
//	layer 1: journal, logstore, hub, spawner, killfb, protect, budget   records, logs, events, fork/exec, the kill fallback, what a priority buys, what a user's connections may cost
//	layer 2: handoff, guard                    an upgrade's hand-over format (it carries the hub's ring), the engine in the loop
//	layer 3: supervisor                        the job table and every job's lifecycle
//	layer 4: metrics, top                      figures read from the supervisor and the hub
//	layer 5: runreq                            a RUN's validation: its keys into a Spec, with the caller's rights
//	layer 6: server                            the socket, the verbs, every stream
//	layer 7: daemon                            this package: flags, the root cgroup, start, shutdown, upgrade
//
// Changes flow one way: the server asks the supervisor, the supervisor
// queues outcomes, the server answers from them after the step.
//
// A RUN: the server parses it and asks the supervisor (Run), which checks
// admission, creates the cgroup and has the spawner start the processes
// off the loop. When they run (the spawner's fd wakes the supervisor),
// the job moves to running (the model's transition, then its record),
// job.start is published on the hub and Started is queued. At the end of
// the batch the root has the server take the outcomes (Answer): it sends
// the ok block once the record is written (journal.After; at once when
// the record is on the cgroup already) and, for wait: 1, holds the job
// (Hold, Attached).
//
// A job's end: the pidfd or cgroup.events wakes the supervisor, which ends
// the job in the model (job.oom before job.exit, the end recorded), emits
// job.exit and queues Ended. At the end of the batch the server answers
// the WAITs and wait: 1 end blocks once the record is written, lets LOGS
// followers drain, and releases its holds (Release), a step of its own
// after the one that ended the job: the last release of an rm job removes
// it (job.cleanup).

const (
	shutdownWait = 10 * time.Second // bound on waiting for jobs at shutdown
	tick         = time.Second      // housekeeping
	stderrMax    = 256 << 10        // bytes of events and log lines waiting for stderr
	sinkFlush    = 2 * time.Second  // at exit, how long stderr may take the rest
)

// daemon is the root: what it wires and what it sequences. Only the loop
// goroutine touches it.
type daemon struct {
	cfg    *config
	stderr io.Writer
	sink   *event.Sink // stderr, never blocking
	lp     *loop.Loop

	mount  string
	root   cgroup.Dir
	self   string // this binary, for the spawn fallback helper and upgrades
	euid   int
	nofile uint64

	events  *hub.Hub
	journal *journal.Journal
	logs    *logstore.Store
	sup     *supervisor.Supervisor
	metrics *metrics.Metrics
	top     *top.Sampler
	srv     *server.Server

	lockFDs  []int                // flocked: the root and the state dir
	made     []string             // what this start created and a clean exit removes, last first: the root, the default state dir
	madeLogs bool                 // -L was made by this start (removed only if the start fails)
	oomAdj   *hostmem.OOMScoreAdj // the daemon's own, while it can restore it
	locked   bool                 // mlockall holds its memory (protect.go)
	meminfo  *hostmem.Reader      // host headroom (nil: rule off)
	sd       sdState              // systemd notification (sdnotify.go)
	up       upgrade              // UPGRADE in progress (upgrade.go)

	quitting     bool
	quitDeadline time.Time
	giveUp       bool // the shutdown stopped waiting for jobs
}

// Run is the applet entry point.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cgroupd: %v (see 'cgroupd -h')\n", err)
		return 2
	}
	// Nothing the daemon writes to stderr may block it (a reader that
	// stopped reading): events and log lines go through a bounded sink.
	sink := event.NewSink(stderr, stderrMax, nil)
	d := &daemon{cfg: cfg, stderr: sink, sink: sink, euid: os.Geteuid(), events: hub.New(sink.Events(), nil)}
	if err := d.start(); err != nil {
		sink.Close(sinkFlush)
		fmt.Fprintf(stderr, "cgroupd: %v\n", err)
		d.closeAll()
		d.removeMade() // a refused start leaves what it made: nothing
		if d.madeLogs {
			os.Remove(d.cfg.LogDir) // empty: no job ran
		}
		return 1
	}
	for {
		err = d.lp.Run(d.stop)
		if err == nil && d.up.due {
			// Outside the loop: every part has handed over its state.
			d.up.due = false
			d.execUpgrade() // returns only when the exec failed
			continue
		}
		break
	}
	d.shutdownFinal()
	sink.Close(sinkFlush)
	if err != nil {
		fmt.Fprintf(stderr, "cgroupd: event loop: %v\n", err)
		return 1
	}
	return 0
}

// stop is the loop's stop predicate, checked after each batch: a shutdown
// with nothing left to wait for, or an upgrade with nothing in flight.
func (d *daemon) stop() bool {
	if d.quitting && (d.giveUp || d.sup.Idle() && d.srv.Idle()) {
		return true
	}
	return d.upgradeDue()
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
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	if d.cfg.LogDir != "" {
		if d.cfg.LogDir, err = filepath.Abs(d.cfg.LogDir); err != nil {
			return fmt.Errorf("log dir: %w", err)
		}
	}
	if d.cfg.Socket == "" {
		d.cfg.Socket = defaultSocket(d.euid, os.Getenv, isDir)
	}
	// An upgrading daemon left its listener, locks, pidfds and
	// connections to this image (upgrade.go).
	h, err := readHandoff()
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if h != nil {
		// Before anything is published: the old image's events first.
		d.events.Restore(h.Events, h.Dropped)
	}
	// Jobs get the daemon's environment without its private variables:
	// taken after readHandoff has unset the hand-over's.
	env := withoutSdEnv(os.Environ())
	// Nothing is created before every check passed (preflight.go).
	rs, err := findRoot(d.cfg.Root, d.debugf)
	if err != nil {
		return err
	}
	d.mount, d.root = rs.Mount, rs.Root
	if err := d.preflight(h != nil); err != nil {
		return err
	}
	if h == nil {
		// The socket is checked before the root so a second daemon on
		// the same socket changes nothing.
		if err := server.CheckStaleSocket(d.cfg.Socket); err != nil {
			return err
		}
	}
	err = setupRoot(rs, func(string) error { return d.lockRoot(h) }, d.debugf)
	if rs.Created {
		d.made = append(d.made, string(d.root))
	}
	if err != nil {
		return err
	}
	if err := d.openState(h); err != nil {
		return err
	}
	if d.cfg.LogDir != "" {
		if _, err := os.Stat(d.cfg.LogDir); errors.Is(err, fs.ErrNotExist) {
			d.madeLogs = true // removed if this start fails; after a clean run it keeps the logs
		}
		if d.logs, err = logstore.Open(d.cfg.LogDir, d.cfg.LogMaxSize, d.cfg.LogRetain, d.euid, d.logf); err != nil {
			return err
		}
	}
	d.protectSelf(rs.Delegated)
	d.logf("using cgroup root: %s", d.root)
	d.debugf("controllers in root subtree_control: %v", rs.Enabled)

	if d.lp, err = loop.New(); err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	d.sup = supervisor.New(supervisor.Config{
		Root: d.root, Self: d.self, BootID: readBootID(), Thresholds: d.cfg.Th, Engine: d.cfg.engineConfig(),
		HostPressure: d.cfg.HostPressure, Meminfo: d.meminfo, OOMAdj: d.oomAdj,
		SpawnFallback: d.cfg.SpawnFallback, KillFallback: d.cfg.KillFallback, DryRun: d.cfg.DryRun,
		Debug: d.cfg.Debug, NoFile: d.nofile, Logf: d.logf, MaxUserEnded: d.cfg.MaxUserEnded, EUID: d.euid,
	}, d.lp, d.events, d.journal, d.logs)
	d.metrics = metrics.New(metrics.Config{File: d.cfg.MetricsFile, Interval: d.cfg.MetricsInterval,
		Debug: d.cfg.Debug, Logf: d.logf, Events: d.events}, d.sup)
	if h != nil {
		d.metrics.Take(h) // before this image counts anything
	}
	d.events.Observe(d.metrics.Observe)
	d.top = top.New(d.lp, d.sup.LiveJobs, d.logf)
	d.srv = server.New(server.Config{
		Socket: d.cfg.Socket, SocketGroup: d.cfg.SocketGroup, ReqTimeout: d.cfg.ReqTimeout, EUID: d.euid,
		WriteTimeout: d.cfg.WriteTimeout, MaxUserConns: d.cfg.MaxUserConns, RootReserve: d.cfg.RootReserve,
		ConnMemory: int(d.cfg.ConnMemory), Release: d.giveBack,
		Env: env, Cwd: cwd, MaxUserPriority: d.cfg.MaxUserPriority, MaxUserJobs: d.cfg.MaxUserJobs,
		MaxUserRunBytes: d.cfg.MaxUserRunBytes,
		JobRlimits:      d.jobRlimits(), MaxUserUlimits: d.cfg.MaxUserUlimits,
		DryRun: d.cfg.DryRun, Thresholds: d.cfg.Th, NoFile: d.nofile, Version: Version, Debug: d.cfg.Debug,
		Logf: d.logf, Quit: d.beginShutdown, Upgrade: func() error { return d.beginUpgrade(true) },
		Metrics: d.metrics.Answer, Top: d.top,
	}, d.lp, d.sup, d.journal, d.logs, d.events)
	d.sup.SetConns(d.srv.Conns)
	// The event lines and job records of one batch of the loop reach
	// their writers in one wake-up each, after the hub's queued lines
	// are written to the EVENTS followers.
	d.lp.OnBatch(func() {
		d.sink.Hold()
		d.journal.Hold()
	}, func() {
		d.srv.Answer() // the supervisor's outcomes of this batch
		d.srv.FlushQueued()
		d.sink.Release()
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
	if err := d.sup.Open(); err != nil {
		return err
	}
	if d.journal != nil {
		if err := d.lp.Add(d.journal.FD(), unix.EPOLLIN, func(uint32) { d.journal.OnReady() }); err != nil {
			return fmt.Errorf("epoll add journal: %w", err)
		}
	}
	d.sup.Adopt(h)
	// Outcomes of the adoption (jobs that ended meanwhile) have no client
	// yet: those handed over see their jobs' states (Take).
	d.srv.Answer()
	if h != nil {
		if err := d.srv.Take(h); err != nil {
			return err
		}
		d.logf("upgrade: done, from %s to %s", h.From, Version)
		d.events.Publish(&hub.Event{Type: "daemon.upgrade", Owner: -1,
			KV: []string{"pid", strconv.Itoa(os.Getpid()), "from", h.From, "to", Version}})
	} else if err := d.srv.Listen(); err != nil {
		return err
	}
	if err := d.metrics.Start(); err != nil {
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

// jobRlimits is what a job starts with (README "What a job inherits"):
// the documented defaults, whatever the daemon's own limits are; a
// daemon without CAP_SYS_RESOURCE (not root, or root in a container)
// cannot raise a hard limit, so its own bound them.
func (d *daemon) jobRlimits() []spawn.Rlimit {
	rl := spawn.DefaultRlimits(spawn.ThreadsMax())
	if !spawn.CanRaise() {
		rl = spawn.Lower(rl, spawn.OwnHard())
	}
	return rl
}

// housekeeping runs every tick: each part's own, then the shutdown's
// bound.
func (d *daemon) housekeeping(now time.Time) {
	d.srv.Tick(now)
	d.sup.Tick(now)
	d.metrics.Tick(now, d.quitting)
	d.sdTick()
	if d.quitting && now.After(d.quitDeadline) {
		d.logf("shutdown: giving up waiting for %d jobs", len(d.sup.LiveJobs()))
		d.giveUp = true
	}
}

// onSignals: TERM and INT shut down; HUP is logged and ignored; USR2
// upgrades.
func (d *daemon) onSignals(sigs []os.Signal) {
	for _, s := range sigs {
		switch s {
		case syscall.SIGTERM, syscall.SIGINT:
			d.logf("%s: shutting down", unix.SignalName(s.(syscall.Signal)))
			d.beginShutdown()
		case syscall.SIGHUP:
			d.logf("SIGHUP: ignored")
		case syscall.SIGUSR2:
			if err := d.beginUpgrade(false); err != nil {
				d.logf("SIGUSR2: upgrade: %v", err)
			}
		}
	}
}

// beginShutdown (SIGTERM, SIGINT, QUIT): the server stops accepting and
// drops connections that have not sent a request, the supervisor cancels
// pending RUNs and SIGKILLs every live job. The loop keeps running so
// that jobs are reaped and WAITs answered as they end; it stops once no
// job is live and every reply is sent, or after shutdownWait.
func (d *daemon) beginShutdown() {
	if d.quitting {
		return
	}
	d.sdStopping()
	d.quitting = true
	d.srv.Shutdown()
	d.sup.Shutdown()
	// Counted from after the kills: thousands of cgroup.kill writes take
	// seconds of their own.
	d.quitDeadline = time.Now().Add(shutdownWait)
}

// shutdownFinal runs after the loop: every job gets its job.exit (forced
// for jobs that would not die in time), every job cgroup is removed with a
// job.cleanup, the socket is gone.
func (d *daemon) shutdownFinal() {
	d.srv.Shutdown()
	d.sup.Final()
	d.closeAll()
	d.removeMade()
}

// removeMade removes, after a clean shutdown, what this start created and
// nothing now uses: the default state directory once it is empty, the
// root cgroup once its jobs are gone. A directory that is not empty (a
// stray cgroup, a record that could not be deleted) is left, and said.
func (d *daemon) removeMade() {
	failed := false
	for i := len(d.made) - 1; i >= 0; i-- {
		p := d.made[i]
		err := unix.Rmdir(p)
		if err == unix.ENOTDIR && !failed {
			// A file of a directory made (the id reservation): only once
			// what precedes it (the records' directory) is gone.
			err = unix.Unlink(p)
		}
		if err != nil && err != unix.ENOENT {
			failed = true
			d.logf("shutdown: %s left in place: %v", p, err)
		}
	}
}

// closeAll releases every fd (start failure or end of shutdown).
func (d *daemon) closeAll() {
	if d.srv != nil {
		d.srv.Close()
	}
	if d.sup != nil {
		d.sup.Close()
	}
	d.top.Close()
	d.sdClose()
	d.logs.Close()
	for _, fd := range d.lockFDs {
		unix.Close(fd)
	}
	d.lockFDs = nil
	if d.lp != nil {
		d.lp.Close()
	}
}

// logf writes a human log line in the one form of every applet's
// messages, `cgroupd: TOPIC: MESSAGE` (never starting with "EVENT "); the
// two lines scripts wait for, `using cgroup root: PATH` and `cgroupd
// ready`, keep the C tool's form.
func (d *daemon) logf(format string, args ...any) {
	prefix := "cgroupd: "
	if format == "cgroupd ready" || strings.HasPrefix(format, "using cgroup root: ") {
		prefix = ""
	}
	fmt.Fprintf(d.stderr, prefix+format+"\n", args...)
}

func (d *daemon) debugf(format string, args ...any) {
	if d.cfg.Debug {
		fmt.Fprintf(d.stderr, "cgroupd: debug: "+format+"\n", args...)
	}
}
