package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"cgroupd/core/kfile"
)

// Stat is the per-job usage INSPECT reports. A file that does not exist
// (controller not enabled, swap not accounted, the cgroup gone) or cannot
// be read gives 0, and its No* flag says the figure is not known.
type Stat struct {
	MemoryCurrent, MemorySwapCurrent, PidsCurrent uint64
	CPUUsageUsec                                  uint64
	IORBytes, IOWBytes                            uint64

	NoMemory, NoSwap, NoPids, NoCPU, NoIO bool
}

// Stat reads memory.current, memory.swap.current, pids.current,
// cpu.stat usage_usec and io.stat rbytes/wbytes (summed over devices).
// Every file is read; the error is the first one (its figures unknown).
func (d Dir) Stat() (Stat, error) {
	var st Stat
	var first error
	keep := func(err error) bool {
		if first == nil {
			first = err
		}
		return err != nil
	}
	var ok bool
	var err error
	st.MemoryCurrent, ok, err = d.readUint(FileMemoryCurrent)
	st.NoMemory = keep(err) || !ok
	st.MemorySwapCurrent, ok, err = d.readUint(FileMemorySwapCurrent)
	st.NoSwap = keep(err) || !ok
	st.PidsCurrent, ok, err = d.readUint(FilePidsCurrent)
	st.NoPids = keep(err) || !ok
	ok, err = d.parseFile(FileCPUStat, func(r io.Reader) (err error) {
		st.CPUUsageUsec, err = ParseCPUUsage(r)
		return err
	})
	st.NoCPU = keep(err) || !ok
	ok, err = d.parseFile(FileIOStat, func(r io.Reader) (err error) {
		st.IORBytes, st.IOWBytes, err = ParseIOBytes(r)
		return err
	})
	st.NoIO = keep(err) || !ok
	return st, first
}

// MemoryCurrent reads memory.current (0 when absent).
func (d Dir) MemoryCurrent() uint64 { return d.Uint(FileMemoryCurrent) }

// IOBytes is read+written bytes of io.stat, summed over devices (0 when
// there is no io controller).
func (d Dir) IOBytes() uint64 {
	s, err := d.Read(FileIOStat)
	if err != nil {
		return 0
	}
	r, w, _ := ParseIOBytes(strings.NewReader(s))
	return r + w
}

// Uint reads a single-number file such as memory.low, cpu.weight or
// pids.current for a figure that may be absent: "max" reads as
// math.MaxUint64, a missing, unreadable or malformed file as 0.
func (d Dir) Uint(file string) uint64 {
	s, err := d.Read(file)
	if err != nil {
		return 0
	}
	s = strings.TrimSpace(s)
	if s == "max" {
		return math.MaxUint64
	}
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

// readUint reads a single-value file; missing reads as 0, not ok.
func (d Dir) readUint(file string) (v uint64, ok bool, err error) {
	s, err := d.Read(file)
	if isNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true, nil
	}
	v, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: bad value %q", d.path(file), s)
	}
	return v, true, nil
}

// parseFile reads file and hands it to parse; missing is not an error
// (not ok).
func (d Dir) parseFile(file string, parse func(io.Reader) error) (ok bool, err error) {
	if err := d.readFile(file, parse); !isNotExist(err) {
		return err == nil, err
	}
	return false, nil
}

// readFile reads file and hands its contents to parse; a parse error
// names the file.
func (d Dir) readFile(file string, parse func(io.Reader) error) error {
	return d.readBytes(file, func(b []byte) error { return parse(bytes.NewReader(b)) })
}

// readBytes reads file and hands its contents to parse; a parse error
// names the file.
func (d Dir) readBytes(file string, parse func([]byte) error) error {
	b, err := kfile.Read(d.path(file))
	if err != nil {
		return err
	}
	if err := parse(b); err != nil {
		return fmt.Errorf("%s: %w", d.path(file), err)
	}
	return nil
}

// ParseCPUUsage returns usage_usec of a cpu.stat stream (0 when absent).
func ParseCPUUsage(r io.Reader) (uint64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	usage, _, err := cpuUsage(b)
	return usage, err
}

// CPUUsage is d's cpu.stat usage_usec; ok is false when the file cannot
// be read or parsed or has no usage_usec (unknown, never 0).
func (d Dir) CPUUsage() (usec uint64, ok bool) {
	err := d.readBytes(FileCPUStat, func(b []byte) (err error) {
		usec, ok, err = cpuUsage(b)
		return err
	})
	return usec, ok && err == nil
}

// cpuUsage is usage_usec of cpu.stat's contents; found says it was there.
func cpuUsage(b []byte) (usage uint64, found bool, err error) {
	err = parseKeyed(b, func(key []byte, v uint64) {
		if string(key) == "usage_usec" {
			usage, found = v, true
		}
	})
	return usage, found, err
}

// ParseIOBytes sums rbytes= and wbytes= over the device lines of io.stat
// ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0").
func ParseIOBytes(r io.Reader) (rbytes, wbytes uint64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || (k != "rbytes" && k != "wbytes") {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("device %s: bad %s %q", f[0], k, v)
			}
			if k == "rbytes" {
				rbytes += n
			} else {
				wbytes += n
			}
		}
	}
	return rbytes, wbytes, sc.Err()
}
