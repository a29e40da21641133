package notify

import (
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Paced watches: a file written at full speed (a job's log, a write every
// few µs) would wake the reader once per write. A paced watch wakes it
// once, is then muted for its period (its mask becomes IN_DELETE_SELF:
// the wd stays, no IN_MODIFY is queued), and at the end of the period it
// is turned on again and reported once more, whether or not the file
// changed meanwhile: the reader checks the file at most twice per period,
// whatever is written. The periods run on one timerfd inside the
// Watcher's epoll fd (FD), so the caller sees one fd as before.

type pacer struct {
	timer int              // timerfd, -1 until the first Pace
	armed time.Time        // the timer's expiry (zero: disarmed)
	paced map[int]*paced   // wd -> its pace
	due   []dueWatch       // muted watches, in the order muted (their ends ascend)
	now   func() time.Time // the clock (tests)
}

type paced struct {
	path   string
	period time.Duration
	until  time.Time // muted until then (zero: not muted)
}

type dueWatch struct {
	wd    int
	until time.Time
}

// Pace makes the watch wd of path a paced one: at most one report per
// period while the file keeps changing (see above). Remove ends it.
func (w *Watcher) Pace(wd int, path string, period time.Duration) error {
	if w.timer < 0 {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("timerfd_create: %w", err)
		}
		if err := unix.EpollCtl(w.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("inotify epoll: %w", err)
		}
		w.timer = fd
		w.paced = map[int]*paced{}
		if w.now == nil {
			w.now = time.Now
		}
	}
	if p, ok := w.paced[wd]; ok {
		p.path, p.period = path, period
		return nil
	}
	w.paced[wd] = &paced{path: path, period: period}
	return nil
}

// pace filters the wds Read found: a paced wd that fires is muted (a
// muted one's events, queued before its mute, are dropped), and the wds
// whose period is over are turned on again and added.
func (w *Watcher) pace(wds []int) []int {
	if w.timer < 0 {
		return wds
	}
	now := w.now()
	out := wds[:0]
	for _, wd := range wds {
		p, ok := w.paced[wd]
		switch {
		case !ok:
			out = append(out, wd)
		case p.until.IsZero():
			out = append(out, wd)
			w.mute(wd, p, now)
		}
	}
	if !w.armed.IsZero() {
		var buf [8]byte
		unix.Read(w.timer, buf[:]) // EAGAIN: not expired; the due list says what is
	}
	n := 0
	for n < len(w.due) && !w.due[n].until.After(now) {
		n++
	}
	for _, d := range w.due[:n] {
		p, ok := w.paced[d.wd]
		if !ok || !p.until.Equal(d.until) {
			continue // removed, or muted again since
		}
		p.until = time.Time{}
		// On again first, then reported: a change after this notifies, one
		// before it is seen by the caller's check. Errors (the file went
		// away) leave it muted; its removal is the caller's.
		if got, err := unix.InotifyAddWatch(w.fd, p.path, unix.IN_MODIFY); err == nil && got == d.wd && !slices.Contains(out, d.wd) {
			out = append(out, d.wd)
		}
	}
	w.due = slices.Delete(w.due, 0, n)
	w.arm(now)
	return out
}

// mute silences wd until its period is over. A path that no longer names
// wd's file (or an error) leaves it unmuted: reported on every change.
func (w *Watcher) mute(wd int, p *paced, now time.Time) {
	got, err := unix.InotifyAddWatch(w.fd, p.path, unix.IN_DELETE_SELF)
	if err != nil {
		return
	}
	if got != wd {
		unix.InotifyRmWatch(w.fd, uint32(got))
		return
	}
	p.until = now.Add(p.period)
	w.due = append(w.due, dueWatch{wd, p.until})
}

// arm sets the timer to the earliest end of a mute (disarmed when none).
func (w *Watcher) arm(now time.Time) {
	var next time.Time
	if len(w.due) > 0 {
		next = w.due[0].until
	}
	if next.Equal(w.armed) {
		return
	}
	var its unix.ItimerSpec
	if !next.IsZero() {
		its.Value = unix.NsecToTimespec(max(next.Sub(now), time.Microsecond).Nanoseconds())
	}
	if unix.TimerfdSettime(w.timer, 0, &its, nil) == nil {
		w.armed = next
	}
}
