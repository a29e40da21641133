package psi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cgroupd/core/kfile"
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
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// Blank lines are skipped; keys the kernel may add later are ignored, but
// each of avg10, avg60, avg300 and total must be present.
func Parse(r io.Reader) (PSI, error) {
	var p PSI
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		l, err := parseLine(f[1:])
		if err != nil {
			return PSI{}, fmt.Errorf("line %d %q: %w", n, text, err)
		}
		switch f[0] {
		case "some":
			p.Some = l
		case "full":
			p.Full, p.HasFull = l, true
		default:
			return PSI{}, fmt.Errorf("line %d %q: want some or full", n, text)
		}
	}
	if err := sc.Err(); err != nil {
		return PSI{}, err
	}
	return p, nil
}

func parseLine(kvs []string) (Line, error) {
	var l Line
	const all = 1<<4 - 1
	seen := 0
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Line{}, fmt.Errorf("field %q: want key=value", kv)
		}
		var err error
		switch k {
		case "avg10":
			l.Avg10, err = parseAvg(v)
			seen |= 1
		case "avg60":
			l.Avg60, err = parseAvg(v)
			seen |= 2
		case "avg300":
			l.Avg300, err = parseAvg(v)
			seen |= 4
		case "total":
			l.Total, err = strconv.ParseUint(v, 10, 64)
			seen |= 8
		}
		if err != nil {
			return Line{}, fmt.Errorf("field %q: bad number", kv)
		}
	}
	if seen != all {
		return Line{}, fmt.Errorf("want avg10, avg60, avg300 and total")
	}
	return l, nil
}

func parseAvg(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("bad average %q", s)
	}
	return v, nil
}

// ReadFile reads and parses a pressure file (e.g. /proc/pressure/memory or
// <cgroup>/memory.pressure). A missing file is reported as an error wrapping
// fs.ErrNotExist.
func ReadFile(path string) (PSI, error) {
	b, err := kfile.Read(path)
	if err != nil {
		return PSI{}, err // *fs.PathError: names the path, wraps the errno
	}
	p, err := Parse(bytes.NewReader(b))
	if err != nil {
		return PSI{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
