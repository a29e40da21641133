package spawn

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Rlimit is one resource limit a job starts with (setrlimit(2)).
type Rlimit struct {
	Resource int    // unix.RLIMIT_*
	Cur, Max uint64 // soft and hard; Infinity for none
}

// Infinity is RLIM_INFINITY: no limit.
const Infinity = unix.RLIM_INFINITY

// Ulimits names the resources as docker's --ulimit and ulimit(1) do, in
// the order they are listed and applied.
var Ulimits = []struct {
	Name     string
	Resource int
}{
	{"as", unix.RLIMIT_AS}, {"core", unix.RLIMIT_CORE}, {"cpu", unix.RLIMIT_CPU},
	{"data", unix.RLIMIT_DATA}, {"fsize", unix.RLIMIT_FSIZE}, {"locks", unix.RLIMIT_LOCKS},
	{"memlock", unix.RLIMIT_MEMLOCK}, {"msgqueue", unix.RLIMIT_MSGQUEUE}, {"nice", unix.RLIMIT_NICE},
	{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}, {"rss", unix.RLIMIT_RSS},
	{"rtprio", unix.RLIMIT_RTPRIO}, {"rttime", unix.RLIMIT_RTTIME}, {"sigpending", unix.RLIMIT_SIGPENDING},
	{"stack", unix.RLIMIT_STACK},
}

// UlimitName is the name of resource ("" if unknown).
func UlimitName(resource int) string {
	for _, u := range Ulimits {
		if u.Resource == resource {
			return u.Name
		}
	}
	return ""
}

// FormatLimit is a limit value as ParseUlimit takes it.
func FormatLimit(v uint64) string {
	if v == Infinity {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// String is the limit as NAME=SOFT:HARD.
func (r Rlimit) String() string {
	return UlimitName(r.Resource) + "=" + FormatLimit(r.Cur) + ":" + FormatLimit(r.Max)
}

// ParseUlimit parses NAME=SOFT[:HARD] as docker's --ulimit does (one
// value sets both); a value is a decimal number or "unlimited" (also
// "infinity" and -1). The soft limit may not be above the hard one.
func ParseUlimit(s string) (Rlimit, error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok {
		return Rlimit{}, fmt.Errorf("want NAME=SOFT[:HARD], got %q", s)
	}
	r := Rlimit{Resource: -1}
	for _, u := range Ulimits {
		if u.Name == name {
			r.Resource = u.Resource
		}
	}
	if r.Resource < 0 {
		if len(name) > 32 {
			name = name[:32] + "..."
		}
		return Rlimit{}, fmt.Errorf("%q: no such resource (want as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending or stack)", name)
	}
	soft, hard, both := strings.Cut(v, ":")
	var err error
	if r.Cur, err = parseLimit(soft); err != nil {
		return Rlimit{}, fmt.Errorf("%s: %w", name, err)
	}
	r.Max = r.Cur
	if both {
		if r.Max, err = parseLimit(hard); err != nil {
			return Rlimit{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if r.Cur > r.Max {
		return Rlimit{}, fmt.Errorf("%s: soft limit %s is above the hard limit %s", name, FormatLimit(r.Cur), FormatLimit(r.Max))
	}
	return r, nil
}

func parseLimit(s string) (uint64, error) {
	switch s {
	case "unlimited", "infinity", "-1":
		return Infinity, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == Infinity {
		return 0, fmt.Errorf("%q: want a number or unlimited", s)
	}
	return n, nil
}

// DefaultRlimits is what a job starts with unless it asks otherwise,
// whatever the daemon's own limits are (they are the daemon's, raised for
// its connections and jobs): systemd's DefaultLimitNOFILE (1024 soft,
// 524288 hard) and DefaultLimitMEMLOCK (8 MiB, the kernel's own since
// 5.16), and for the rest what the kernel gives its first process
// (include/asm-generic/resource.h): stack 8 MiB soft, core 0 soft,
// msgqueue 819200 bytes, nice and rtprio 0, nproc and sigpending half of
// kernel.threads-max, everything else unlimited. threads-max is read
// from /proc/sys/kernel/threads-max (threadsMax, 0: unreadable; nproc
// and sigpending are then left as the daemon has them).
func DefaultRlimits(threadsMax uint64) []Rlimit {
	const inf = Infinity
	out := []Rlimit{
		{unix.RLIMIT_AS, inf, inf}, {unix.RLIMIT_CORE, 0, inf}, {unix.RLIMIT_CPU, inf, inf},
		{unix.RLIMIT_DATA, inf, inf}, {unix.RLIMIT_FSIZE, inf, inf}, {unix.RLIMIT_LOCKS, inf, inf},
		{unix.RLIMIT_MEMLOCK, 8 << 20, 8 << 20}, {unix.RLIMIT_MSGQUEUE, 819200, 819200}, {unix.RLIMIT_NICE, 0, 0},
		{unix.RLIMIT_NOFILE, 1024, 524288}, {unix.RLIMIT_RSS, inf, inf}, {unix.RLIMIT_RTPRIO, 0, 0},
		{unix.RLIMIT_RTTIME, inf, inf}, {unix.RLIMIT_STACK, 8 << 20, inf},
	}
	if threadsMax > 0 {
		out = append(out, Rlimit{unix.RLIMIT_NPROC, threadsMax / 2, threadsMax / 2}, Rlimit{unix.RLIMIT_SIGPENDING, threadsMax / 2, threadsMax / 2})
	}
	return out
}

// ThreadsMax is kernel.threads-max (0 when unreadable).
func ThreadsMax() uint64 {
	b, err := os.ReadFile("/proc/sys/kernel/threads-max")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// RlimitError is a start refused because a limit could not be set on
// the new process: nothing of the job ran.
type RlimitError struct {
	Limit Rlimit
	Err   error
}

func (e *RlimitError) Error() string { return "ulimit " + e.Limit.String() + ": " + e.Err.Error() }
func (e *RlimitError) Unwrap() error { return e.Err }

// setRlimits sets rl on process pid (prlimit(2), since Linux 2.6.36).
// Raising a hard limit needs CAP_SYS_RESOURCE in the daemon.
func setRlimits(pid int, rl []Rlimit) error {
	for _, r := range rl {
		lim := unix.Rlimit{Cur: r.Cur, Max: r.Max}
		if err := unix.Prlimit(pid, r.Resource, &lim, nil); err != nil {
			return &RlimitError{r, err}
		}
	}
	return nil
}

// execStopped sets rl on the process the clone3 path started with
// Ptrace (PTRACE_TRACEME just before its execve): the kernel stops it
// with SIGTRAP once the new program is loaded and before its first
// instruction; the limits are set then, and it is let go. Go's ForkExec
// has no hook between clone and exec, and a limit set after the job ran
// would miss what it forked first. The caller holds the OS thread that
// forked (the tracer). A process that died before the stop is left to
// its reaper.
func execStopped(pid, pidfd int, rl []Rlimit) error {
	var info unix.Siginfo
	for {
		// WNOWAIT: an exit stays for the reaper; a stop is cleared by
		// the detach.
		err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for exec stop: %w", err)
		}
		break
	}
	if code := info.Code; code != cldTrapped && code != cldStopped {
		return nil // exited or killed before the stop
	}
	_, status := sigchld(&info)
	sig := int(status)
	err := setRlimits(pid, rl)
	// The exec's SIGTRAP is the tracer's alone (it is delivered first,
	// being synchronous); any other signal that stopped it goes on.
	if sig == int(unix.SIGTRAP) {
		sig = 0
	}
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(pid), 0, uintptr(sig), 0, 0); e != 0 && err == nil {
		err = fmt.Errorf("ptrace detach: %w", e)
	}
	return err
}

// startTraced runs fork with the calling goroutine on one OS thread, so
// that the thread which forked is the one that waits for the exec stop
// and detaches (ptrace(2) ties a tracee to its tracer thread).
func startTraced(fork func() (pid, pidfd int, err error), rl []Rlimit) (int, int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, pidfd, err := fork()
	if err != nil {
		return pid, pidfd, err
	}
	if err := execStopped(pid, pidfd, rl); err != nil {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		waitPidfd(pidfd)
		unix.Close(pidfd)
		return 0, -1, err
	}
	return pid, pidfd, nil
}

// Lower is rl with each limit lowered to ceiling's for its resource
// (soft to its soft, hard to its hard); resources ceiling does not name
// are as they were.
func Lower(rl, ceiling []Rlimit) []Rlimit {
	out := append([]Rlimit(nil), rl...)
	for i := range out {
		for _, c := range ceiling {
			if c.Resource == out[i].Resource {
				out[i].Cur, out[i].Max = min(out[i].Cur, c.Cur), min(out[i].Max, c.Max)
			}
		}
	}
	return out
}

// OwnHard is this process's hard limit of every resource of Ulimits, as
// a ceiling (soft = hard): what a process without CAP_SYS_RESOURCE can
// give its children at most.
func OwnHard() []Rlimit {
	var out []Rlimit
	for _, u := range Ulimits {
		var lim unix.Rlimit
		if unix.Prlimit(0, u.Resource, nil, &lim) == nil {
			out = append(out, Rlimit{u.Resource, lim.Max, lim.Max})
		}
	}
	return out
}

// CanRaise reports whether this process may raise a hard limit
// (CAP_SYS_RESOURCE in its effective set): root in a container often
// may not.
func CanRaise() bool { return canRaise() }

// canRaise is CanRaise, asked once.
var canRaise = sync.OnceValue(capSysResource)

func capSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}
