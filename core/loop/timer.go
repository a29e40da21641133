package loop

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// TimerFD returns a non-blocking periodic timerfd (CLOCK_MONOTONIC).
// The first expiry is one interval from now.
func TimerFD(interval time.Duration) (int, error) {
	if interval <= 0 {
		return -1, fmt.Errorf("timerfd interval %v: %w", interval, unix.EINVAL)
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("timerfd_create: %w", err)
	}
	ts := unix.NsecToTimespec(interval.Nanoseconds())
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("timerfd_settime %v: %w", interval, err)
	}
	return fd, nil
}

// DrainTimer reads the expiration count from a timerfd.
// 0 with no error means it had not expired (EAGAIN).
func DrainTimer(fd int) (uint64, error) {
	var buf [8]byte
	for {
		n, err := unix.Read(fd, buf[:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("read timerfd %d: %w", fd, err)
		case n != 8:
			return 0, fmt.Errorf("read timerfd %d: short read %d", fd, n)
		}
		return binary.NativeEndian.Uint64(buf[:]), nil
	}
}
