package spawn

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"cgroupd/core/cgroup"
	"golang.org/x/sys/unix"
)

// startFallback starts Self as HelperApplet with the read end of a release
// pipe as fd 3, opens a pidfd, attaches the pid to CgroupPath and then
// releases the helper, which execs the job. The helper runs with the job's
// credentials, environment, directory and stdio from the start, so only
// the exec is left when it is released.
func startFallback(c *Cmd, s *stdio) (Proc, error) {
	if c.Self == "" {
		return Proc{}, errors.New("spawn fallback: Self (path of this binary) not set")
	}
	if c.CgroupPath == "" {
		return Proc{}, errors.New("spawn fallback: CgroupPath not set")
	}
	r, w, err := os.Pipe() // O_CLOEXEC on both ends in the daemon
	if err != nil {
		return Proc{}, fmt.Errorf("spawn fallback: %w", err)
	}
	defer w.Close()
	argv := append([]string{HelperApplet, c.Path}, c.Argv...)
	// Files[3] is dup2'ed to fd 3 in the child, which clears its CLOEXEC.
	pid, err := syscall.ForkExec(c.Self, argv, c.procAttr(s, c.sysProcAttr(), r.Fd()))
	r.Close()
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: helper %s: %w", c.Path, c.Self, err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0) // since Linux 5.3
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		return Proc{}, fmt.Errorf("start %s: pidfd_open %d: %w", c.Path, pid, err)
	}
	fail := func(err error) (Proc, error) {
		// The helper has not exec'ed the job: kill it through the pidfd
		// (no pid reuse race) and reap it before returning.
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		waitPidfd(pidfd)
		unix.Close(pidfd)
		return Proc{}, fmt.Errorf("start %s: %w", c.Path, err)
	}
	if err := cgroup.Dir(c.CgroupPath).Attach(pid); err != nil {
		return fail(fmt.Errorf("attach to %s: %w", c.CgroupPath, err))
	}
	if len(c.Rlimits) > 0 && canRaise() {
		// A hard limit above the daemon's own: only the daemon can.
		if err := setRlimits(pid, c.Rlimits); err != nil {
			return fail(err)
		}
	}
	release := releaseMsg(c.Rlimits)
	if _, err := w.Write(release); err != nil {
		return fail(fmt.Errorf("release helper: %w", err))
	}
	return Proc{Pid: pid, PidFD: pidfd}, nil
}

// waitPidfd blocks until the process of pidfd has exited and reaps it.
func waitPidfd(pidfd int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil)
		if err != unix.EINTR {
			return
		}
	}
}
