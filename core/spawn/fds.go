package spawn

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeOnExec marks every descriptor above 2 of this process
// close-on-exec, so that a job gets its fds 0, 1 and 2 and nothing else:
// the descriptors the daemon itself was started with (a parent's fd 7 on
// a root-only file) are not close-on-exec, and Go's ForkExec passes every
// such descriptor on. The clone3 path runs no code of ours between fork
// and exec, so this is done in the daemon before each start (the
// descriptors ForkExec is handed in ProcAttr.Files are dup2'ed into
// place, which clears the flag on the copies); the fallback helper does
// it again in itself before its exec.
//
// close_range(CLOSE_RANGE_CLOEXEC) sets one bit per possible descriptor
// in one call (since Linux 5.11; close_range itself since 5.9). Before
// that, each open descriptor listed in /proc/self/fd gets F_SETFD. An
// upgrade clears the flag on what it hands over only while no spawn is
// in flight (upgrade.go waits for that), so the two never cross.
func closeOnExec() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err != unix.ENOSYS && err != unix.EINVAL {
		return err
	}
	// ENOSYS: kernel < 5.9; EINVAL: 5.9 and 5.10 know close_range but
	// not CLOSE_RANGE_CLOEXEC.
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return err
	}
	defer d.Close() // close-on-exec already (Go opens it so)
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 {
			continue
		}
		// EBADF: the descriptor was the directory's own, or closed since.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return err
		}
	}
	return nil
}
