package spawn

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// releaseFD is the read end of the release pipe in the helper.
const releaseFD = 3

// The message that releases the helper: one byte, go; or go setting the
// job's limits, followed by each limit as 20 bytes (little-endian int32
// resource, uint64 soft, uint64 hard). The helper sets them on itself
// (setrlimit): lowering a limit, or a soft one up to the hard one, needs
// no privilege, and a daemon that may raise a hard limit has already set
// them on the helper (prlimit); a daemon that may not has its own as a
// bound, which the helper inherited. Go's runtime sets its own soft
// NOFILE at start-up, perhaps after the daemon's prlimit, and its Exec
// puts back the value it started with: setting them here, through
// syscall.Setrlimit, settles both.
const (
	releaseGo     = 1
	releaseLimits = 2
	limitBytes    = 20
	releaseMax    = 1 + 16*limitBytes
)

// releaseMsg is the message that releases the helper with limits rl.
func releaseMsg(rl []Rlimit) []byte {
	if len(rl) == 0 {
		return []byte{releaseGo}
	}
	b := []byte{releaseLimits}
	for _, r := range rl {
		b = binary.LittleEndian.AppendUint32(b, uint32(r.Resource))
		b = binary.LittleEndian.AppendUint64(b, r.Cur)
		b = binary.LittleEndian.AppendUint64(b, r.Max)
	}
	return b
}

// setOwnLimits sets the limits of a release message on this process.
func setOwnLimits(b []byte) error {
	for ; len(b) >= limitBytes; b = b[limitBytes:] {
		r := Rlimit{Resource: int(binary.LittleEndian.Uint32(b)), Cur: binary.LittleEndian.Uint64(b[4:]), Max: binary.LittleEndian.Uint64(b[12:])}
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
			return &RlimitError{r, err}
		}
	}
	return nil
}

// HelperMain is the fallback helper applet: argv is [path, argv...]; it
// reads its release from fd 3, then execs.
//
// EOF without a byte means the daemon gave up (attach failed, or it died):
// exit 127 without running the job. An exec failure is reported on stderr,
// which is the job's log, as `cgroupd: exec <path>: <err>`, exit 127.
func HelperMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintf(stderr, "usage: %s PATH ARGV0 [ARG...] (internal: started by cgroupd with a release pipe on fd 3)\n", HelperApplet)
		return 127
	}
	var b [releaseMax]byte
	var n int
	for {
		var err error
		n, err = unix.Read(releaseFD, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(stderr, "cgroupd: exec %s: release pipe: %v\n", args[0], err)
			return 127
		}
		if n == 0 {
			return 127 // released by no one: the daemon did not attach us
		}
		break
	}
	unix.Close(releaseFD)
	if b[0] == releaseLimits {
		if err := setOwnLimits(b[1:n]); err != nil {
			fmt.Fprintf(stderr, "cgroupd: exec %s: %v\n", args[0], err)
			return 127
		}
	}
	// The job gets fds 0-2 only, whatever this helper was started with.
	if err := closeOnExec(); err != nil {
		fmt.Fprintf(stderr, "cgroupd: exec %s: close-on-exec: %v\n", args[0], err)
		return 127
	}
	err := syscall.Exec(args[0], args[1:], os.Environ())
	fmt.Fprintf(stderr, "cgroupd: exec %s: %v\n", args[0], err)
	return 127
}
