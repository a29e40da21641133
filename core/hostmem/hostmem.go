// Package hostmem reads the host's memory headroom (/proc/meminfo) through
// a descriptor kept open, and sets what protects this process from the
// host's OOM killer: oom_score_adj and mlockall.
//
// The daemon reads /proc/meminfo up to ten times a second while the host
// nears its memory limit: a kept-open fd and pread at offset 0 cost one
// syscall per read and no allocation, and need no open(2) (no path walk,
// no new file) at the moment memory is short.
package hostmem

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"cgroupd/core/kfile"

	"golang.org/x/sys/unix"
)

// Info is what the headroom rule needs from /proc/meminfo, in bytes.
type Info struct {
	Total, Available    uint64 // MemTotal, MemAvailable (since Linux 3.14)
	SwapTotal, SwapFree uint64
}

// AvailablePct is MemAvailable as a percentage of MemTotal.
func (i Info) AvailablePct() float64 {
	if i.Total == 0 {
		return 0
	}
	return float64(i.Available) / float64(i.Total) * 100
}

// SwapFreePct is SwapFree as a percentage of SwapTotal; 0 without swap.
func (i Info) SwapFreePct() float64 {
	if i.SwapTotal == 0 {
		return 0
	}
	return float64(i.SwapFree) / float64(i.SwapTotal) * 100
}

// ErrNoAvailable: the kernel has no MemAvailable line (before 3.14).
var ErrNoAvailable = errors.New("meminfo: no MemTotal or MemAvailable line")

// Parse reads the MemTotal, MemAvailable, SwapTotal and SwapFree lines
// ("Key:   123 kB") of a meminfo text. MemTotal and MemAvailable are
// required; missing swap lines mean no swap.
func Parse(b []byte) (Info, error) {
	var i Info
	var haveTotal, haveAvail bool
	for len(b) > 0 {
		line := b
		if n := bytes.IndexByte(b, '\n'); n >= 0 {
			line, b = b[:n], b[n+1:]
		} else {
			b = nil
		}
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "MemTotal":
			dst, haveTotal = &i.Total, true
		case "MemAvailable":
			dst, haveAvail = &i.Available, true
		case "SwapTotal":
			dst = &i.SwapTotal
		case "SwapFree":
			dst = &i.SwapFree
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return Info{}, fmt.Errorf("meminfo: %s: no value", key)
		}
		v, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return Info{}, fmt.Errorf("meminfo: %s: %w", key, err)
		}
		mult := uint64(1)
		if len(f) > 1 && string(f[1]) == "kB" {
			mult = 1024
		}
		*dst = v * mult
	}
	if !haveTotal || !haveAvail {
		return Info{}, ErrNoAvailable
	}
	return i, nil
}

// File is a small kernel file (procfs) read through a descriptor kept
// open: one pread at offset 0 per read and no allocation once the buffer
// has grown to the file's size.
type File struct {
	fd   int
	path string
	buf  []byte
	proc bool // on procfs
}

// OpenFile opens path for reading.
func OpenFile(path string) (*File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &File{fd: fd, path: path, buf: make([]byte, 8192), proc: kfile.OnProc(fd)}, nil
}

// OnProc says the file is on procfs: what the kernel computes, not a file
// someone writes.
func (f *File) OnProc() bool { return f.proc }

// Bytes re-reads the file from offset 0; the slice is valid until the
// next call.
func (f *File) Bytes() ([]byte, error) {
	n := 0
	for {
		if n == len(f.buf) {
			f.buf = append(f.buf, make([]byte, len(f.buf))...)
		}
		m, err := unix.Pread(f.fd, f.buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: f.path, Err: err}
		}
		if m == 0 {
			return f.buf[:n], nil
		}
		n += m
	}
}

// Close closes the descriptor.
func (f *File) Close() error { return unix.Close(f.fd) }

// Reader reads a meminfo file through a descriptor kept open.
type Reader struct{ f *File }

// Open opens path (normally /proc/meminfo) and checks that it parses.
func Open(path string) (*Reader, error) {
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{f: f}
	if _, err := r.Read(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// OnProc says the file is on procfs (File.OnProc).
func (r *Reader) OnProc() bool { return r.f.OnProc() }

// Read re-reads the file from offset 0 and parses it.
func (r *Reader) Read() (Info, error) {
	b, err := r.f.Bytes()
	if err != nil {
		return Info{}, err
	}
	return Parse(b)
}

// Close closes the descriptor.
func (r *Reader) Close() error { return r.f.Close() }

// OOMScoreAdj is this process's /proc/self/oom_score_adj, kept open.
type OOMScoreAdj struct {
	fd  int
	cur int
}

// OpenOOMScoreAdj opens path (normally /proc/self/oom_score_adj) and reads
// the current value.
func OpenOOMScoreAdj(path string) (*OOMScoreAdj, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var b [16]byte
	n, err := unix.Pread(fd, b[:], 0)
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b[:n])))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &OOMScoreAdj{fd: fd, cur: v}, nil
}

// Value is the last value read or written.
func (o *OOMScoreAdj) Value() int { return o.cur }

// Set writes v. Lowering the value below what the process had when it was
// last privileged needs CAP_SYS_RESOURCE (EACCES otherwise).
func (o *OOMScoreAdj) Set(v int) error {
	if v == o.cur {
		return nil
	}
	if _, err := unix.Pwrite(o.fd, []byte(strconv.Itoa(v)), 0); err != nil {
		return fmt.Errorf("write oom_score_adj %d: %w", v, err)
	}
	o.cur = v
	return nil
}

// Close closes the descriptor.
func (o *OOMScoreAdj) Close() error { return unix.Close(o.fd) }

// LockAll is mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT): every page the
// process has or will have stays resident once touched, and nothing is
// faulted in ahead (MCL_ONFAULT, since Linux 4.4: the Go runtime's large
// virtual reservations stay unbacked). Bounded by RLIMIT_MEMLOCK without
// CAP_IPC_LOCK.
func LockAll() error {
	return unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
}

// UnlockAll is munlockall: what LockAll and LockExecutable locked may be
// evicted or discarded again.
func UnlockAll() error { return unix.Munlockall() }

// capIPCLock is CAP_IPC_LOCK's bit in the capability sets.
const capIPCLock = 14

// CanLockAll reports whether LockAll is safe: the process has
// CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK. Otherwise MCL_FUTURE makes
// every later mapping count against the limit, and a heap that grows past
// it fails to map (a Go runtime then dies); limit is the limit in bytes.
func CanLockAll() (ok bool, limit uint64) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err == nil {
		if rl.Cur == unix.RLIM_INFINITY {
			return true, rl.Cur
		}
		limit = rl.Cur
	}
	status, err := kfile.Read("/proc/self/status")
	if err != nil {
		return false, limit
	}
	for _, line := range bytes.Split(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			caps, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			return err == nil && caps&(1<<capIPCLock) != 0, limit
		}
	}
	return false, limit
}

// LockExecutable mlocks every mapping of the running executable (text,
// read-only data, data), faulting them all in now. LockAll's MCL_ONFAULT
// locks only pages once touched: code the process has not run yet — the
// kill path, the first time it is needed — would otherwise be read from
// disk at the moment memory is short, when page cache is being evicted
// and the disk is thrashing. It returns the bytes locked.
func LockExecutable() (int, error) {
	exe, err := readLink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	maps, err := kfile.Read("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	total := 0
	for _, line := range bytes.Split(maps, []byte("\n")) {
		// 00400000-00c8a000 r-xp 00000000 fd:01 1234   /path/to/exe
		f := bytes.Fields(line)
		if len(f) < 6 || string(bytes.Join(f[5:], []byte(" "))) != exe {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MLOCK, uintptr(start), uintptr(end-start), 0); e != 0 {
			return total, fmt.Errorf("mlock %s %s: %w", f[0], exe, e)
		}
		total += int(end - start)
	}
	if total == 0 {
		return 0, fmt.Errorf("no mapping of %s in /proc/self/maps", exe)
	}
	return total, nil
}

func readLink(path string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: path, Err: err}
	}
	return string(buf[:n]), nil
}
