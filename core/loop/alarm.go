package loop

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Alarm is a one-shot timer of a Loop: Set arms it for a moment, and its
// handler runs on the loop when that moment has come. It is how a wait
// becomes a state driven by the loop instead of a sleep.
type Alarm struct {
	l  *Loop
	fd int
	at time.Time // armed for then (zero: disarmed)
}

// NewAlarm makes a disarmed alarm whose expiry runs fn on the loop, with
// the time it ran.
func (l *Loop) NewAlarm(fn func(now time.Time)) (*Alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	a := &Alarm{l: l, fd: fd}
	if err := l.Add(fd, unix.EPOLLIN, func(uint32) {
		DrainTimer(fd)
		a.at = time.Time{}
		fn(time.Now())
	}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return a, nil
}

// Set arms the alarm for at (at least 1 ms after now), or disarms it when
// at is the zero time. Setting the moment it is armed for costs nothing.
func (a *Alarm) Set(at, now time.Time) error {
	if at.Equal(a.at) {
		return nil
	}
	var its unix.ItimerSpec // zero: disarm
	if !at.IsZero() {
		its.Value = unix.NsecToTimespec(max(at.Sub(now), time.Millisecond).Nanoseconds())
	}
	if err := unix.TimerfdSettime(a.fd, 0, &its, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	a.at = at
	return nil
}

// At is the moment the alarm is armed for (zero: disarmed).
func (a *Alarm) At() time.Time { return a.at }

// Close removes the alarm from the loop.
func (a *Alarm) Close() {
	a.l.Remove(a.fd)
	unix.Close(a.fd)
}
