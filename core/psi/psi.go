// Package psi parses pressure stall information and opens PSI triggers.
package psi

import (
	"io"
	"time"
)

// Line is one "some" or "full" line. Total is cumulative stall in µs.
type Line struct {
	Avg10, Avg60, Avg300 float64
	Total                uint64
}

// PSI is one pressure file.
type PSI struct {
	Some, Full Line
	HasFull    bool
}

// Parse parses a pressure file. Empty input yields a zero PSI, no error;
// short or malformed lines are an error, never a panic.
func Parse(r io.Reader) (PSI, error) { panic("unimplemented") }

// ReadFile reads and parses a pressure file (e.g. /proc/pressure/memory or
// <cgroup>/memory.pressure). A missing file is reported as an error wrapping
// fs.ErrNotExist.
func ReadFile(path string) (PSI, error) { panic("unimplemented") }

// OpenTrigger opens path O_RDWR|O_NONBLOCK|O_CLOEXEC and registers
// "some|full <stall µs> <window µs>\x00". The fd reports EPOLLPRI when the
// threshold is crossed and EPOLLERR when the cgroup goes away.
func OpenTrigger(path string, full bool, stall, window time.Duration) (int, error) {
	panic("unimplemented")
}
