package psi

import (
	"bytes"
	"fmt"
	"io/fs"

	"cgroupd/core/kfile"

	"golang.org/x/sys/unix"
)

// Reader reads one pressure file again and again (the daemon's admission
// reads the host's three at every RUN). On procfs it keeps the file open
// and reads it again from offset 0, which saves the open, the path walk
// and the close of each read; a file anywhere else (a test's fake tree,
// written or replaced between reads) is opened for each read, as
// ReadFile does. Not safe for concurrent use.
type Reader struct {
	path  string
	fd    int // kept open (procfs); -1: open for each read
	tried bool
	buf   []byte
}

// NewReader reads path; nothing is opened before the first Read.
func NewReader(path string) *Reader { return &Reader{path: path, fd: -1} }

// Kept says the file is on procfs and kept open: what the kernel computes,
// not a file someone writes (known after the first Read).
func (r *Reader) Kept() bool { return r.fd >= 0 }

// Read returns the file's current figures.
func (r *Reader) Read() (PSI, error) {
	if !r.tried {
		r.tried = true
		r.keep()
	}
	if r.fd < 0 {
		return ReadFile(r.path)
	}
	n, err := unix.Pread(r.fd, r.buf, 0)
	if err != nil {
		return PSI{}, &fs.PathError{Op: "read", Path: r.path, Err: err}
	}
	p, err := Parse(bytes.NewReader(r.buf[:max(n, 0)]))
	if err != nil {
		return PSI{}, fmt.Errorf("%s: %w", r.path, err)
	}
	return p, nil
}

// keep opens the file for good when it is on procfs.
func (r *Reader) keep() {
	fd, err := unix.Open(r.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	if !kfile.OnProc(fd) {
		unix.Close(fd)
		return
	}
	r.fd, r.buf = fd, make([]byte, 512) // two lines of about 80 bytes
}

// Close closes a kept file.
func (r *Reader) Close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}
