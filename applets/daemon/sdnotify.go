package daemon

import (
	"fmt"
	"os"
	"strings"
	"time"

	"cgroupd/core/loop"
	"cgroupd/core/sdnotify"

	"golang.org/x/sys/unix"
)

// systemd integration (Type=notify): when $NOTIFY_SOCKET is set the daemon
// sends READY=1 (with a first STATUS=) once it accepts clients, STATUS=
// with the job counts whenever they changed (checked once per housekeeping
// tick), WATCHDOG=1 every $WATCHDOG_USEC/2 from the event loop (so a stuck
// loop misses it and systemd restarts the unit), and STOPPING=1 when a
// shutdown begins. A send never blocks the loop; a failed send is logged
// once and otherwise ignored. The variables are removed from the jobs'
// environment: a job is not the service systemd is talking to.

// sdEnv are the variables of sd_notify(3) and the watchdog.
var sdEnv = []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="}

// sdState is the daemon's notify connection.
type sdState struct {
	conn     *sdnotify.Conn
	status   string // last STATUS= sent
	failed   bool   // a send failure was logged
	watchdog time.Duration
	wdFD     int // the watchdog's timerfd, while watchdog > 0
}

// withoutSdEnv drops the notify variables from env.
func withoutSdEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		drop := false
		for _, p := range sdEnv {
			if strings.HasPrefix(kv, p) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// sdStart opens the notify socket, arms the watchdog and sends READY=1.
// Called once the daemon accepts clients. Without $NOTIFY_SOCKET it does
// nothing. Bad notify variables are logged, never fatal: the service runs
// on without the notifications (systemd then reports the start as timed
// out, which names the problem).
func (d *daemon) sdStart(socket, wdUsec, wdPid string) {
	if socket == "" {
		return
	}
	c, err := sdnotify.Open(socket)
	if err != nil {
		d.logf("sd_notify: %v", err)
		return
	}
	d.sd.conn = c
	iv, err := sdnotify.Watchdog(wdUsec, wdPid, os.Getpid())
	if err != nil {
		d.logf("sd_notify: watchdog: %v", err)
	}
	if iv > 0 {
		fd, err := loop.TimerFD(iv)
		if err == nil {
			err = d.lp.Add(fd, unix.EPOLLIN, func(uint32) {
				loop.DrainTimer(fd)
				d.sdSend("WATCHDOG=1")
			})
			if err != nil {
				unix.Close(fd)
			}
		}
		if err != nil {
			d.logf("sd_notify: watchdog timer: %v", err)
		} else {
			d.sd.wdFD, d.sd.watchdog = fd, iv
			d.debugf("sd_notify: WATCHDOG=1 every %v", iv)
		}
	}
	d.sd.status = d.sdStatusText()
	d.sdSend("READY=1\nSTATUS=" + d.sd.status)
}

// sdStatusText is the STATUS= line: the job counts.
func (d *daemon) sdStatusText() string {
	running, frozen, pending := d.sup.Counts()
	ended := d.sup.Count() - running - frozen - pending
	return fmt.Sprintf("%d running, %d frozen, %d pending, %d ended", running, frozen, pending, max(ended, 0))
}

// sdTick sends STATUS= when the counts changed (housekeeping).
func (d *daemon) sdTick() {
	if d.sd.conn == nil || d.quitting {
		return
	}
	if s := d.sdStatusText(); s != d.sd.status {
		d.sd.status = s
		d.sdSend("STATUS=" + s)
	}
}

// sdStopping tells systemd the shutdown began.
func (d *daemon) sdStopping() {
	if d.sd.conn == nil {
		return
	}
	d.sd.status = "stopping: " + d.sdStatusText()
	d.sdSend("STOPPING=1\nSTATUS=" + d.sd.status)
}

// sdSend sends one message; only the first failure is logged.
func (d *daemon) sdSend(msg string) {
	if d.sd.conn == nil {
		return
	}
	if err := d.sd.conn.Send(msg); err != nil && !d.sd.failed {
		d.sd.failed = true
		d.logf("%v (further notify failures are not logged)", err)
	}
}

// sdClose releases the socket and the watchdog timer.
func (d *daemon) sdClose() {
	if d.sd.watchdog > 0 {
		d.sd.watchdog = 0
		if d.lp != nil {
			d.lp.Remove(d.sd.wdFD)
		}
		unix.Close(d.sd.wdFD)
		d.sd.wdFD = -1
	}
	if d.sd.conn != nil {
		d.sd.conn.Close()
		d.sd.conn = nil
	}
}
