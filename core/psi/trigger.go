package psi

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// OpenTrigger opens path O_RDWR|O_NONBLOCK|O_CLOEXEC and registers
// "some|full <stall µs> <window µs>\x00". The fd reports EPOLLPRI when the
// threshold is crossed and EPOLLERR when the cgroup goes away.
//
// The kernel (since Linux 5.2) copies at most 32 bytes and overwrites the
// last byte written with NUL, hence the terminator. It refuses windows
// outside 500 ms–10 s (before 6.5; since 6.5 unprivileged openers need a
// multiple of 2 s) and stall > window with EINVAL, and a second trigger on
// one fd with EBUSY.
func OpenTrigger(path string, full bool, stall, window time.Duration) (int, error) {
	kind := "some"
	if full {
		kind = "full"
	}
	spec := fmt.Sprintf("%s %d %d", kind, stall.Microseconds(), window.Microseconds())
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("psi trigger %s %q: open: %w", path, spec, err)
	}
	for {
		_, err = unix.Write(fd, []byte(spec+"\x00"))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("psi trigger %s %q: %w", path, spec, err)
	}
	return fd, nil
}

// unprivWindow is the granularity of windows for openers without
// CAP_SYS_RESOURCE (since Linux 6.5; before, they could not open triggers
// at all).
const unprivWindow = 2 * time.Second

// maxWindow is the kernel's WINDOW_MAX_US.
const maxWindow = 10 * time.Second

// OpenTriggerAdapt is OpenTrigger for callers that may lack
// CAP_SYS_RESOURCE (containers, sandboxes): when the kernel refuses the
// window with EINVAL and the window is not a multiple of 2 s, it retries
// once with the window rounded up to the next multiple of 2 s (at most
// 10 s) and the stall scaled to keep the same percentage. It returns the
// stall and window actually registered.
func OpenTriggerAdapt(path string, full bool, stall, window time.Duration) (fd int, gotStall, gotWindow time.Duration, err error) {
	fd, err = OpenTrigger(path, full, stall, window)
	if err == nil || !errors.Is(err, unix.EINVAL) || window <= 0 || window%unprivWindow == 0 {
		return fd, stall, window, err
	}
	w := min((window+unprivWindow-1)/unprivWindow*unprivWindow, maxWindow)
	s := time.Duration(float64(stall) * float64(w) / float64(window))
	fd, err2 := OpenTrigger(path, full, s, w)
	if err2 != nil {
		return -1, 0, 0, err // the original refusal explains more
	}
	return fd, s, w, nil
}
