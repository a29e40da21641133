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
