// memhog — allocate memory and hold it.
//
//	usage: memhog <megabytes> [seconds]
//	  allocate and touch <megabytes> MiB, hold for [seconds] (default 10), exit 0
//	  memhog -V | --version   print the version
//
// Allocates <megabytes> MiB of anonymous memory in 64 MiB chunks, writing
// one byte to every page of each chunk as it goes (so the resident set
// grows steadily and the memory is really charged to the cgroup), then
// holds it for [seconds] (default 10; fractions allowed) and exits 0. It
// prints nothing but errors. A usage error is one line and exits 2; an
// allocation the kernel refuses exits 1 (an OOM kill ends it with SIGKILL,
// as intended).

package hogs

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const memhogUsage = `usage: memhog <megabytes> [seconds]
  allocate and touch <megabytes> MiB, hold for [seconds] (default 10), exit 0
  memhog -V | --version   print the version
`

// memChunk is how much memhog maps at a time.
const memChunk = 64 << 20

// Memhog: memhog <megabytes> [seconds]
func Memhog(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	pos, code, ok := parseArgs("memhog", memhogUsage, args, 2, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) < 1 {
		return usageErr(stderr, "memhog", "missing <megabytes>")
	}
	mb, err := parseCount("megabytes", pos[0], 0, 1<<30)
	hold := 10 * time.Second
	if err == nil && len(pos) == 2 {
		hold, err = parseSeconds(pos[1])
	}
	if err != nil {
		return usageErr(stderr, "memhog", err.Error())
	}
	chunks, err := hog(mb<<20, os.Getpagesize())
	defer func() {
		for _, c := range chunks {
			unix.Munmap(c)
		}
	}()
	if err != nil {
		fmt.Fprintf(stderr, "memhog: %v\n", err)
		return 1
	}
	time.Sleep(hold)
	return 0
}

// hog maps size bytes in memChunk pieces and writes one byte per page of
// each piece before mapping the next. It returns the mappings, also those
// made before an error.
func hog(size int64, pageSize int) ([][]byte, error) {
	var chunks [][]byte
	for done := int64(0); done < size; {
		n := min(size-done, memChunk)
		b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return chunks, fmt.Errorf("mmap %d bytes after %d MiB: %w", n, done>>20, err)
		}
		chunks = append(chunks, b)
		for i := 0; i < len(b); i += pageSize {
			b[i] = 1
		}
		done += n
	}
	return chunks, nil
}
