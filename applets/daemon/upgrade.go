package daemon

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// In-place upgrade (UPGRADE, SIGUSR2): the daemon re-executes its binary
// from its path (typically a newly copied file) in the same process, so
// the jobs stay its children and their pidfds stay open: statuses of jobs
// that end after the upgrade are exact.
//
//  1. preflight: the new file is run once (`-V`, off the loop); if it
//     cannot start, the old image keeps running and the requester gets
//     `upgrade failed` with the reason;
//  2. quiesce: new connections wait in the listen backlog, complete
//     requests are held unanswered, and the daemon waits (on its loop,
//     at most upgradeQuiesce) until no spawn, FREEZE/THAW confirmation or
//     kill fallback round is in flight and every record is written;
//  3. hand-off: the listening socket, the locks, every job's pidfds and
//     every open connection (with what it was doing: a held or partial
//     request, a reply being sent, WAIT, RUN wait: 1, LOGS --follow at its offset,
//     EVENTS --follow with its filters, a queued RUN) are described in a
//     memfd whose number is in $CGROUPD_UPGRADE_FD, their close-on-exec
//     flag cleared, and execve runs the file;
//  4. the new image takes them over, replays the journal with the pidfds
//     (adopt.go) and carries on each connection; the requester gets
//     `STATUS: ok` with `pid`, `from` and `to` (versions).
//
// If execve itself fails, the flags are restored and the old image goes
// on. Lost on the way: the event ring (EVENTS history starts again), the
// metrics counters and the engine's demotions (the weights it lowered stay
// until a job ends); freezes the engine made are its own again (the record
// keeps who froze a job).

const (
	upgradeEnv     = "CGROUPD_UPGRADE_FD"
	upgradeQuiesce = 10 * time.Second
	upgradeCheck   = 10 * time.Second
)

// Version is the daemon's version, set by main (-ldflags).
var Version = "unknown"

type upgrade struct {
	active   bool      // preflight or quiesce in progress
	ready    bool      // preflight passed: quiescing
	conn     *conn     // the requester (nil: SIGUSR2)
	deadline time.Time // quiesce gives up then
	checkFD  int       // read end of the preflight's result pipe
}

// handoff is what the old image passes to the new one.
type handoff struct {
	from      string
	listen    int
	locks     []int
	jobs      map[string]*handedJob
	conns     []handedConn
	reap      []int
	requester int // fd of the UPGRADE connection, -1: SIGUSR2
}

type handedJob struct {
	pidfd    int
	services []int
}

type handedConn struct {
	fd       int
	uid, gid uint32
	pid      int32
	kind     string // read, write, wait, logs, events, upgrade
	args     []string
	data     []byte
}

// doUpgrade answers UPGRADE: root or the daemon's own user only.
func (d *daemon) doUpgrade(c *conn) []byte {
	if c.cred.Uid != 0 && int(c.cred.Uid) != d.euid {
		return proto.Err("permission denied").Add("detail", "only root or the daemon's user may upgrade it").Bytes()
	}
	if err := d.beginUpgrade(c); err != nil {
		return proto.Err("upgrade failed").Add("detail", err.Error()).Bytes()
	}
	return nil
}

// beginUpgrade starts the preflight: the new file runs once with -V in a
// goroutine, which reports through a pipe.
func (d *daemon) beginUpgrade(c *conn) error {
	switch {
	case d.quitting:
		return errors.New("shutting down")
	case d.up.active:
		return errors.New("an upgrade is in progress")
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	self := d.self
	go func() {
		cmd := exec.Command(self, "-V")
		cmd.Args[0] = "cgroupbox" // whatever the file is called
		out, err := cmd.CombinedOutput()
		msg := "ok"
		if err != nil {
			msg = fmt.Sprintf("%s -V: %v: %s", self, err, strings.TrimSpace(string(out)))
		}
		unix.Write(p[1], []byte(msg))
		unix.Close(p[1])
	}()
	if err := d.lp.Add(p[0], unix.EPOLLIN, func(uint32) { d.onPreflight(p[0]) }); err != nil {
		unix.Close(p[0])
		return err
	}
	d.up = upgrade{active: true, conn: c, deadline: time.Now().Add(upgradeCheck + upgradeQuiesce), checkFD: p[0]}
	d.logf("upgrade: checking %s", self)
	return nil
}

func (d *daemon) onPreflight(fd int) {
	var buf [4096]byte
	n, _ := unix.Read(fd, buf[:])
	d.lp.Remove(fd)
	unix.Close(fd)
	d.up.checkFD = -1
	msg := string(buf[:max(n, 0)])
	if msg != "ok" {
		if msg == "" {
			msg = "preflight gave no answer"
		}
		d.failUpgrade(errors.New(msg))
		return
	}
	d.up.ready = true
	d.up.deadline = time.Now().Add(upgradeQuiesce)
	if d.lfd >= 0 {
		d.lp.Modify(d.lfd, 0) // new clients wait in the backlog
	}
	d.maybeUpgrade()
}

// failUpgrade gives up: the old image goes on.
func (d *daemon) failUpgrade(err error) {
	d.logf("upgrade failed: %v", err)
	c := d.up.conn
	d.up = upgrade{checkFD: -1}
	if d.lfd >= 0 && !d.acceptPaused {
		d.lp.Modify(d.lfd, unix.EPOLLIN)
	}
	if c != nil {
		d.reply(c, proto.Err("upgrade failed").Add("detail", proto.CutAt(err.Error(), maxReason)).Bytes())
	}
	// Requests held while quiescing are served now.
	for _, c := range d.conns {
		if c.held {
			c.held = false
			d.handle(c)
		}
	}
}

// maybeUpgrade execs once nothing is in flight (checked every loop turn
// while quiescing).
func (d *daemon) maybeUpgrade() {
	if !d.up.ready {
		return
	}
	busy := len(d.starting) > 0 || len(d.freezeQ) > 0 || len(d.fbKills) > 0 ||
		!d.journal.Idle()
	if busy {
		if time.Now().After(d.up.deadline) {
			d.failUpgrade(errors.New("still busy (spawns, freezes or kills in flight) after " + upgradeQuiesce.String()))
		}
		return
	}
	d.journal.RunWaiters() // replies that waited on the last records
	err := d.execNew()
	d.failUpgrade(fmt.Errorf("exec %s: %w", d.self, err))
}

// execNew hands everything over and execs the binary; it returns only
// when execve failed (everything restored).
func (d *daemon) execNew() error {
	var b strings.Builder
	var keep []int
	line := func(f ...string) { b.WriteString(strings.Join(f, " ")); b.WriteByte('\n') }
	line("from", Version)
	line("listen", strconv.Itoa(d.lfd))
	keep = append(keep, d.lfd)
	for _, fd := range d.lockFDs {
		line("lock", strconv.Itoa(fd))
		keep = append(keep, fd)
	}
	for _, j := range d.sortedJobs() {
		if j.pidfd < 0 {
			continue
		}
		f := []string{"job", j.ID(), strconv.Itoa(j.pidfd)}
		keep = append(keep, j.pidfd)
		for _, s := range j.services {
			if s.pidfd >= 0 {
				f = append(f, strconv.Itoa(s.pidfd))
				keep = append(keep, s.pidfd)
			}
		}
		line(f...)
	}
	for _, fd := range d.unreaped {
		line("reap", strconv.Itoa(fd))
		keep = append(keep, fd)
	}
	for _, c := range d.conns {
		kind, args, data := d.connHandoff(c)
		if kind == "" {
			continue
		}
		line(append([]string{"conn", strconv.Itoa(c.fd), u64(uint64(c.cred.Uid)), u64(uint64(c.cred.Gid)),
			strconv.Itoa(int(c.cred.Pid)), kind, hex.EncodeToString(data)}, args...)...)
		keep = append(keep, c.fd)
	}
	mfd, err := unix.MemfdCreate("cgroupd-upgrade", 0)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	if _, err := unix.Write(mfd, []byte(b.String())); err != nil {
		return err
	}
	if _, err := unix.Seek(mfd, 0, 0); err != nil {
		return err
	}
	for _, fd := range keep {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	}
	env := append(os.Environ(), upgradeEnv+"="+strconv.Itoa(mfd))
	d.logf("upgrade: executing %s (%d jobs, %d connections)", d.self, len(d.jobs), len(d.conns))
	if d.sink != nil {
		d.sink.Flush(time.Second)
	}
	err = syscall.Exec(d.self, os.Args, env)
	for _, fd := range keep {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	return err
}

// connHandoff describes what c is doing; "" for nothing worth keeping.
func (d *daemon) connHandoff(c *conn) (kind string, args []string, data []byte) {
	if c.closed {
		return "", nil, nil
	}
	unsent := c.wbuf[c.wpos:]
	switch {
	case c == d.up.conn:
		return "upgrade", nil, nil
	case c.state == connReading || c.held:
		return "read", nil, c.rbuf
	case c.pendJob != nil:
		return "read", nil, c.raw // the queued RUN is asked again
	case d.opts.held[c] != nil: // RUN wait: 1 (runopts.go)
		return "held", []string{d.opts.held[c].ID()}, unsent
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

// readHandoff reads the description the old image left ($CGROUPD_UPGRADE_FD),
// and unsets the variable so that jobs never see it.
func readHandoff() (*handoff, error) {
	v := os.Getenv(upgradeEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(upgradeEnv)
	fd, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q", upgradeEnv, v)
	}
	f := os.NewFile(uintptr(fd), "upgrade")
	defer f.Close()
	h := &handoff{listen: -1, requester: -1, jobs: map[string]*handedJob{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	num := func(s string) int {
		n, err2 := strconv.Atoi(s)
		if err2 != nil && err == nil {
			err = fmt.Errorf("handoff: %q", s)
		}
		return n
	}
	for sc.Scan() {
		fl := strings.Split(sc.Text(), " ")
		switch fl[0] {
		case "from":
			h.from = strings.Join(fl[1:], " ")
		case "listen":
			h.listen = num(fl[1])
		case "lock":
			h.locks = append(h.locks, num(fl[1]))
		case "job":
			hj := &handedJob{pidfd: num(fl[2])}
			for _, s := range fl[3:] {
				hj.services = append(hj.services, num(s))
			}
			h.jobs[fl[1]] = hj
		case "reap":
			h.reap = append(h.reap, num(fl[1]))
		case "conn":
			if len(fl) < 7 {
				return nil, fmt.Errorf("handoff: %q", sc.Text())
			}
			data, herr := hex.DecodeString(fl[6])
			if herr != nil {
				return nil, herr
			}
			hc := handedConn{fd: num(fl[1]), uid: uint32(num(fl[2])), gid: uint32(num(fl[3])), pid: int32(num(fl[4])),
				kind: fl[5], data: data, args: fl[7:]}
			if hc.kind == "upgrade" {
				h.requester = hc.fd
			}
			h.conns = append(h.conns, hc)
		}
	}
	if err == nil {
		err = sc.Err()
	}
	if err == nil && h.listen < 0 {
		err = errors.New("handoff: no listening socket")
	}
	// Everything handed over is close-on-exec again: jobs never get it.
	for _, fd := range h.fds() {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	return h, err
}

func (h *handoff) fds() []int {
	out := append([]int{h.listen}, h.locks...)
	for _, j := range h.jobs {
		out = append(out, j.pidfd)
		out = append(out, j.services...)
	}
	out = append(out, h.reap...)
	for _, c := range h.conns {
		out = append(out, c.fd)
	}
	return out
}

// takeOver adopts the listening socket (start, before "cgroupd ready").
func (d *daemon) takeListener(h *handoff) error {
	d.lfd = h.listen
	if err := d.lp.Add(d.lfd, unix.EPOLLIN, func(uint32) { d.onAccept() }); err != nil {
		return fmt.Errorf("epoll add listener: %w", err)
	}
	return nil
}

// takeConns carries on the connections the old image was serving.
func (d *daemon) takeConns(h *handoff) {
	for _, fd := range h.reap {
		d.reapLater(fd)
	}
	for _, hc := range h.conns {
		c := &conn{fd: hc.fd, cred: unix.Ucred{Pid: hc.pid, Uid: hc.uid, Gid: hc.gid}, state: connBusy,
			deadline: time.Now().Add(d.cfg.ReqTimeout), mask: unix.EPOLLIN, srv: &d.server}
		if err := d.lp.Add(c.fd, c.mask, func(ev uint32) { d.onConn(c, ev) }); err != nil {
			d.logf("upgrade: connection %d: %v", c.fd, err)
			unix.Close(c.fd)
			continue
		}
		d.conns[c.fd] = c
		d.takeConn(c, hc)
	}
}

func (d *daemon) takeConn(c *conn, hc handedConn) {
	arg := func(i int) string {
		if i < len(hc.args) {
			return hc.args[i]
		}
		return ""
	}
	switch hc.kind {
	case "upgrade":
		d.reply(c, proto.OK().Add("pid", strconv.Itoa(os.Getpid())).Add("from", d.upFrom).Add("to", Version).Bytes())
	case "read":
		c.state, c.rbuf = connReading, hc.data
		d.readQ = append(d.readQ, c)
		if proto.End(c.rbuf) >= 0 {
			d.handle(c)
		}
	case "write":
		d.reply(c, hc.data)
	case "wait":
		j := d.jobs[arg(0)]
		switch {
		case j == nil:
			d.reply(c, proto.Err("no such job").Add("id", arg(0)).Bytes())
		case j.IsEnded():
			d.replyRecorded(c, j)
		default:
			if j.waiters == nil {
				j.waiters = map[*conn]struct{}{}
			}
			j.waiters[c] = struct{}{}
			c.waitJob = j
			d.setMask(c, 0)
		}
	case "held":
		j := d.jobs[arg(0)]
		if j == nil {
			d.reply(c, hc.data)
			return
		}
		if d.opts.held == nil {
			d.opts.held = map[*conn]*entry{}
		}
		d.opts.held[c] = j
		j.x.holds++
		d.send(c, hc.data)
		if j.IsEnded() {
			d.send(c, d.waitResponse(j))
		}
	case "logs":
		j := d.jobs[arg(0)]
		if j == nil || j.Log() == "" {
			d.reply(c, hc.data)
			return
		}
		f, err := d.logs.Open(j.Log())
		if err != nil {
			d.reply(c, hc.data)
			return
		}
		pos, _ := strconv.ParseInt(arg(1), 10, 64)
		ls := &logStream{f: f, job: j, pos: pos, midLn: arg(2) == "1", follow: arg(3) == "1" && !j.IsEnded()}
		if ls.follow {
			if j.wdLog < 0 {
				d.watchFile(j, j.Log(), watchLog, &j.wdLog)
			}
			if j.followers == nil {
				j.followers = map[*conn]struct{}{}
			}
			j.followers[c] = struct{}{}
		}
		c.log = ls
		d.send(c, hc.data)
	case "events":
		f := hub.Filter{ID: strings.TrimPrefix(arg(0), "id="), UID: c.cred.Uid, Root: c.cred.Uid == 0}
		if t := strings.TrimPrefix(arg(1), "type="); t != "" {
			f.Types = map[string]bool{}
			for _, x := range strings.Split(t, ",") {
				f.Types[x] = true
			}
		}
		c.sub = d.events.Subscribe(f, c)
		d.send(c, hc.data)
	default:
		d.closeConn(c)
	}
}
