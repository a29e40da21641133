package spawn

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// releaseFD is the read end of the release pipe in the helper.
const releaseFD = 3

// HelperMain is the fallback helper applet: argv is [path, argv...]; it
// reads one byte from fd 3, then execs.
//
// EOF without a byte means the daemon gave up (attach failed, or it died):
// exit 127 without running the job. An exec failure is reported on stderr,
// which is the job's log, as `cgroupd: exec <path>: <err>`, exit 127.
func HelperMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintf(stderr, "usage: %s PATH ARGV0 [ARG...] (internal: started by cgroupd with a release pipe on fd 3)\n", HelperApplet)
		return 127
	}
	var b [1]byte
	for {
		n, err := unix.Read(releaseFD, b[:])
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
	// The job gets fds 0-2 only, whatever this helper was started with.
	if err := closeOnExec(); err != nil {
		fmt.Fprintf(stderr, "cgroupd: exec %s: close-on-exec: %v\n", args[0], err)
		return 127
	}
	err := syscall.Exec(args[0], args[1:], os.Environ())
	fmt.Fprintf(stderr, "cgroupd: exec %s: %v\n", args[0], err)
	return 127
}
