// Package hogs holds the load generators memhog and cpuhog, applets of the
// cgroupd binary used by the tests and benchmarks; their -h texts (the
// consts memhogUsage and cpuhogUsage) are their synopses:
//
//	usage: memhog <megabytes> [seconds]
//	  allocate and touch <megabytes> MiB, hold for [seconds] (default 10), exit 0
//	  memhog -V | --version   print the version
//
//	usage: cpuhog [threads] [seconds]
//	  spin [threads] (default 1) for [seconds] (default 5), exit 0
//	  cpuhog -V | --version   print the version
//
// Both print nothing but errors: a usage error is one line on stderr
// (`memhog: invalid seconds "x" (want a number >= 0) (see memhog -h)`) and
// exits 2, a failure exits 1.
package hogs

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// usageError is a bad command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseArgs handles -h and counts: it returns ok=false after printing help
// or a usage error, with the exit status. (--version and -V as the first
// argument are answered by main.)
func parseArgs(name, usage string, args []string, max int, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for _, a := range args {
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			io.WriteString(stdout, usage)
			return nil, 0, false
		case a == "--":
			continue
		case len(a) > 1 && a[0] == '-' && (a[1] < '0' || a[1] > '9'):
			return nil, usageErr(stderr, name, fmt.Sprintf("unknown option %q", a)), false
		}
		pos = append(pos, a)
	}
	if len(pos) > max {
		return nil, usageErr(stderr, name, "too many arguments"), false
	}
	return pos, 0, true
}

// usageErr prints a usage error as one line, with the pointer to -h, and
// returns the usage exit status.
func usageErr(stderr io.Writer, name, msg string) int {
	fmt.Fprintf(stderr, "%s: %s (see %s -h)\n", name, msg, name)
	return 2
}

// parseSeconds parses a non-negative, finite number of seconds ("10",
// "0.5").
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > float64(math.MaxInt64/int64(time.Second)) {
		return 0, &usageError{fmt.Sprintf("invalid seconds %q (want a number >= 0)", s)}
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parseCount parses an integer in lo..hi.
func parseCount(what, s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, &usageError{fmt.Sprintf("invalid %s %q (want %d..%d)", what, s, lo, hi)}
	}
	return n, nil
}
