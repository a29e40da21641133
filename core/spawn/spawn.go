// Package spawn starts job processes inside a cgroup and returns a pidfd.
//
// The fast path is clone3(CLONE_INTO_CGROUP) through Go's SysProcAttr
// (UseCgroupFD, CgroupFD, PidFD). Go never falls back by itself, so the
// fallback is ours: re-execute this binary as HelperApplet, which blocks on
// a pipe; the daemon attaches its pid to cgroup.procs, then releases it and
// it execs the job.
//
// spawn.go starts processes, fallback.go and helper.go are the
// fork-and-attach path, reap.go collects exits, lookpath.go resolves
// commands.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// HelperApplet is the hidden applet name of the fallback helper.
const HelperApplet = "cgroupd-spawn-helper"

// Cmd describes one process to start.
type Cmd struct {
	Path string   // resolved executable path (see LookPath)
	Argv []string // argv including argv[0]
	Env  []string
	Dir  string // working directory; "" = daemon's

	// Credential: when SetCred, run as Uid/Gid with supplementary Groups.
	SetCred bool
	Uid     uint32
	Gid     uint32
	Groups  []uint32

	// Stdout and Stderr; nil means /dev/null. Stdin is always /dev/null,
	// unless Stdio is set: then it is the child's fds 0, 1 and 2, as they
	// are (a caller's own, RUN --pipe), and Stdout and Stderr are unused.
	Stdout, Stderr *os.File
	Stdio          []int

	CgroupFD   int    // O_DIRECTORY fd of the target cgroup (clone3 path)
	CgroupPath string // the target cgroup directory (fallback path)
	Fallback   bool   // force the fork-and-attach path
	Self       string // path of this binary, for the fallback helper

	// Rlimits are set on the new process before the job's first
	// instruction (rlimit.go): on the clone3 path at its exec stop, on
	// the fallback path on the helper before it is released. Nil: the
	// process keeps what it inherits.
	Rlimits []Rlimit
}

// Proc is a started process.
type Proc struct {
	Pid   int
	PidFD int // readable (EPOLLIN) when the process exits
}

// Start starts c in its cgroup. On clone3 failure with ENOSYS, E2BIG or
// EINVAL it uses the fallback automatically; errors otherwise are returned.
//
// ENOSYS: kernel < 5.3 or a seccomp profile that hides clone3; E2BIG:
// 5.3–5.6 know clone3 but not the cgroup field (CLONE_INTO_CGROUP since
// 5.7); EINVAL: a kernel that rejects the flag combination. A start that
// failed because the job's user cannot enter Dir is a *DirError (cause.go).
func Start(c *Cmd) (Proc, error) {
	p, err := start(c)
	if err != nil {
		err = c.cause(err)
	}
	return p, err
}

func start(c *Cmd) (Proc, error) {
	if c.Path == "" || len(c.Argv) == 0 {
		return Proc{}, errors.New("spawn: empty command")
	}
	stdio, err := openStdio(c)
	if err != nil {
		return Proc{}, err
	}
	if err := closeOnExec(); err != nil { // fds.go: nothing past 2 reaches the job
		return Proc{}, fmt.Errorf("spawn: close-on-exec: %w", err)
	}
	// A job of another user cannot be given limits from outside by a
	// daemon without CAP_SYS_RESOURCE (prlimit(2) on another uid needs
	// it): the helper sets them on itself before its exec.
	ownLimits := len(c.Rlimits) > 0 && c.SetCred && !canRaise()
	if !c.Fallback && !ownLimits {
		p, err := startClone3(c, stdio)
		if err == nil {
			clone3Works.Store(true)
			if len(c.Rlimits) > 0 {
				traceWorks.Store(true)
			}
			return p, nil
		}
		var rerr *RlimitError
		if errors.As(err, &rerr) {
			return p, err
		}
		// EPERM from PTRACE_TRACEME before any traced start worked: Yama
		// ptrace_scope 3 or a seccomp profile forbids it, and the helper
		// is the way to set the limits before the job runs.
		if len(c.Rlimits) > 0 && !traceWorks.Load() && errors.Is(err, unix.EPERM) {
			return startFallback(c, stdio)
		}
		// ForkExec also returns the errno of a failed execve in the child
		// (E2BIG: argument list too long, EINVAL: bad binary). Once clone3
		// has worked in this process the kernel supports it, so these are
		// the job's errors, not a reason to fall back.
		if clone3Works.Load() || !(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.E2BIG) || errors.Is(err, unix.EINVAL)) {
			return p, err
		}
	}
	return startFallback(c, stdio)
}

// clone3Works is set after the first successful clone3 start, traceWorks
// after the first one with Rlimits (a traced exec).
var clone3Works, traceWorks atomic.Bool

// stdio holds the three descriptors of the child.
type stdio struct {
	fds3 [3]uintptr
}

func (s *stdio) fds() []uintptr { return s.fds3[:] }

// devNull is one O_RDWR descriptor of /dev/null, opened on first use and
// kept: every job without a log gets it as stdin, stdout and stderr, and
// reopening it per spawn cost six syscalls through the os package.
var devNull struct {
	once sync.Once
	fd   int
	err  error
}

func nullFD() (uintptr, error) {
	devNull.once.Do(func() {
		devNull.fd, devNull.err = unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if devNull.err != nil {
			devNull.err = &os.PathError{Op: "open", Path: os.DevNull, Err: devNull.err}
		}
	})
	return uintptr(devNull.fd), devNull.err
}

func openStdio(c *Cmd) (*stdio, error) {
	null, err := nullFD()
	if err != nil {
		return nil, err
	}
	s := &stdio{fds3: [3]uintptr{null, null, null}}
	if len(c.Stdio) == 3 {
		for i, fd := range c.Stdio {
			s.fds3[i] = uintptr(fd)
		}
		return s, nil
	}
	for i, f := range []*os.File{c.Stdout, c.Stderr} {
		if f != nil {
			s.fds3[i+1] = f.Fd()
		}
	}
	return s, nil
}

// sysProcAttr is what both paths share: a process group of its own and
// the credentials.
func (c *Cmd) sysProcAttr() *syscall.SysProcAttr {
	sys := &syscall.SysProcAttr{Setpgid: true}
	if c.SetCred {
		sys.Credential = &syscall.Credential{
			Uid:         c.Uid,
			Gid:         c.Gid,
			Groups:      c.Groups, // nil: setgroups(0) drops the daemon's groups
			NoSetGroups: false,
		}
	}
	return sys
}

func (c *Cmd) procAttr(s *stdio, sys *syscall.SysProcAttr, extra ...uintptr) *syscall.ProcAttr {
	return &syscall.ProcAttr{
		Dir:   c.Dir,
		Env:   c.Env,
		Files: append(s.fds(), extra...),
		Sys:   sys,
	}
}

// clone3ForkExec is syscall.ForkExec; tests replace it to simulate kernels
// without clone3.
var clone3ForkExec = syscall.ForkExec

// startClone3 is the fast path: clone3(CLONE_INTO_CGROUP|CLONE_PIDFD).
func startClone3(c *Cmd, s *stdio) (Proc, error) {
	pidfd := -1
	sys := c.sysProcAttr()
	sys.UseCgroupFD = true
	sys.CgroupFD = c.CgroupFD
	sys.PidFD = &pidfd
	if len(c.Rlimits) > 0 {
		sys.Ptrace = true // stopped at its exec, for the limits (rlimit.go)
		pid, fd, err := startTraced(func() (int, int, error) {
			pid, err := clone3ForkExec(c.Path, c.Argv, c.procAttr(s, sys))
			if err == nil && pidfd < 0 {
				// clone3 (5.3) comes with CLONE_PIDFD (5.2); without a
				// pidfd the exec stop cannot be waited for by waitid
				// (P_PIDFD): refuse rather than let the job run unlimited.
				unix.Kill(pid, unix.SIGKILL)
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, unix.WALL, nil)
				return 0, -1, fmt.Errorf("no pidfd from clone3 (CLONE_PIDFD since 5.2)")
			}
			return pid, pidfd, err
		}, c.Rlimits)
		if err != nil {
			return Proc{}, fmt.Errorf("start %s: %w", c.Path, err)
		}
		return Proc{Pid: pid, PidFD: fd}, nil
	}
	pid, err := clone3ForkExec(c.Path, c.Argv, c.procAttr(s, sys))
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", c.Path, err)
	}
	if pidfd < 0 {
		// Go reports -1 when the kernel gave no pidfd (CLONE_PIDFD since
		// 5.2); pidfd_open (since 5.3) is then the only race-free handle.
		pidfd, err = unix.PidfdOpen(pid, 0)
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			return Proc{}, fmt.Errorf("start %s: pidfd_open %d: %w", c.Path, pid, err)
		}
	}
	return Proc{Pid: pid, PidFD: pidfd}, nil
}
