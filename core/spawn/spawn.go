// Package spawn starts job processes inside a cgroup and returns a pidfd.
//
// The fast path is clone3(CLONE_INTO_CGROUP) through Go's SysProcAttr
// (UseCgroupFD, CgroupFD, PidFD). Go never falls back by itself, so the
// fallback is ours: re-execute this binary as HelperApplet, which blocks on
// a pipe; the daemon attaches its pid to cgroup.procs, then releases it and
// it execs the job.
package spawn

import (
	"io"
	"os"
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

	// Stdout and Stderr; nil means /dev/null. Stdin is always /dev/null.
	Stdout, Stderr *os.File

	CgroupFD   int    // O_DIRECTORY fd of the target cgroup (clone3 path)
	CgroupPath string // the target cgroup directory (fallback path)
	Fallback   bool   // force the fork-and-attach path
	Self       string // path of this binary, for the fallback helper
}

// Proc is a started process.
type Proc struct {
	Pid   int
	PidFD int // readable (EPOLLIN) when the process exits
}

// LookPath resolves name like execvp: names containing '/' are taken as
// they are (relative to dir if relative), others are searched in the PATH
// of env (default "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
func LookPath(name string, env []string, dir string) (string, error) { panic("unimplemented") }

// Start starts c in its cgroup. On clone3 failure with ENOSYS, E2BIG or
// EINVAL it uses the fallback automatically; errors otherwise are returned.
func Start(c *Cmd) (Proc, error) { panic("unimplemented") }

// Status is how a process ended.
type Status struct {
	Exit   int // exit status when it exited, else 0
	Signal int // signal that killed it, else 0
}

// Reap collects an exited process with waitid(P_PIDFD, WEXITED|WNOHANG)
// and closes nothing. ok is false if it has not exited yet.
func Reap(pidfd int) (st Status, ok bool, err error) { panic("unimplemented") }

// HelperMain is the fallback helper applet: argv is [path, argv...]; it
// reads one byte from fd 3, then execs.
func HelperMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int { panic("unimplemented") }
