package spawn

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Status is how a process ended.
type Status struct {
	Exit   int // exit status when it exited, else 0
	Signal int // signal that killed it, else 0
}

// si_code values for SIGCHLD (include/uapi/asm-generic/siginfo.h).
const (
	cldExited  = 1 // CLD_EXITED
	cldKilled  = 2 // CLD_KILLED
	cldDumped  = 3 // CLD_DUMPED
	cldTrapped = 4 // CLD_TRAPPED: a tracee stopped (rlimit.go)
	cldStopped = 5 // CLD_STOPPED
)

// Reap collects an exited process with waitid(P_PIDFD, WEXITED|WNOHANG)
// and closes nothing. ok is false if it has not exited yet.
//
// P_PIDFD since Linux 5.4.
func Reap(pidfd int) (st Status, ok bool, err error) {
	var info unix.Siginfo
	for {
		err = unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EAGAIN {
		// A pidfd opened O_NONBLOCK answers EAGAIN instead (since 5.10).
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, fmt.Errorf("waitid pidfd %d: %w", pidfd, err)
	}
	pid, status := sigchld(&info)
	if pid == 0 {
		return Status{}, false, nil // WNOHANG: still running
	}
	switch info.Code {
	case cldExited:
		return Status{Exit: int(status)}, true, nil
	case cldKilled, cldDumped:
		return Status{Signal: int(status)}, true, nil
	}
	return Status{}, true, fmt.Errorf("waitid pidfd %d: unexpected si_code %d", pidfd, info.Code)
}

// sigchld decodes si_pid and si_status of a SIGCHLD siginfo. The union
// follows si_signo, si_errno, si_code, aligned to the pointer size:
// offset 16 on 64-bit, 12 on 32-bit; si_pid, si_uid, si_status follow.
func sigchld(info *unix.Siginfo) (pid, status int32) {
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	base := unsafe.Pointer(info)
	pid = *(*int32)(unsafe.Add(base, off))
	status = *(*int32)(unsafe.Add(base, off+8))
	return pid, status
}
