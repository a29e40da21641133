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

// The message that releases the helper: one byte, go; or go keeping the
// limits the daemon set on the helper (prlimit), followed by 8 bytes
// (little-endian) of the job's soft NOFILE. Go's runtime sets its own
// soft NOFILE at start-up, which may come after the daemon's prlimit,
// and its Exec puts back the value it started with: the helper sets that
// one itself (a soft limit up to the hard one needs no privilege).
const (
	releaseGo         = 1
	releaseKeepLimits = 2
	releaseMax        = 9
)

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
	if b[0] == releaseKeepLimits && n == releaseMax {
		// syscall.Setrlimit of NOFILE also tells Go's Exec to leave it.
		var lim syscall.Rlimit
		err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		if err == nil {
			lim.Cur = binary.LittleEndian.Uint64(b[1:])
			err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
		if err != nil {
			fmt.Fprintf(stderr, "cgroupd: exec %s: ulimit nofile: %v\n", args[0], err)
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
