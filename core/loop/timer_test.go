package loop

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTimerFD(t *testing.T) {
	if _, err := TimerFD(0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("TimerFD(0) = %v, want EINVAL", err)
	}
	fd, err := TimerFD(10 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if n, err := DrainTimer(fd); err != nil || n > 1 {
		t.Errorf("DrainTimer right away = %d, %v; want 0 (or 1 on a slow host)", n, err)
	}
	l := newLoop(t)
	var total uint64
	start := time.Now()
	if err := l.Add(fd, unix.EPOLLIN, func(uint32) {
		n, err := DrainTimer(fd)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(func() bool { return total >= 3 }); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("3 expirations of a 10ms timer after %v, want ≥ 20ms", el)
	}
	if _, err := DrainTimer(-1); !errors.Is(err, unix.EBADF) {
		t.Errorf("DrainTimer(-1) = %v, want EBADF", err)
	}
}

// An alarm fires once, at the moment it was set for, and not after it was
// disarmed; setting the same moment again does not restart it.
func TestAlarm(t *testing.T) {
	l := newLoop(t)
	var fired []time.Time
	a, err := l.NewAlarm(func(now time.Time) { fired = append(fired, now) })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	at := start.Add(20 * time.Millisecond)
	if err := a.Set(at, start); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(at, start.Add(15*time.Millisecond)); err != nil || !a.At().Equal(at) {
		t.Fatalf("Set of the same moment: %v, armed for %v", err, a.At())
	}
	if err := l.Run(func() bool { return len(fired) > 0 }); err != nil {
		t.Fatal(err)
	}
	if fired[0].Before(at) || !a.At().IsZero() {
		t.Errorf("fired at %v, before %v (or still armed for %v)", fired[0], at, a.At())
	}
	// Disarmed before it was due: it stays silent.
	a.Set(time.Now().Add(10*time.Millisecond), time.Now())
	a.Set(time.Time{}, time.Now())
	if err := l.RunOnce(40); err != nil {
		t.Fatal(err)
	}
	if len(fired) != 1 {
		t.Errorf("fired %d times, want once (the second was disarmed)", len(fired))
	}
}
