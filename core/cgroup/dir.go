package cgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cgroupd/core/kfile"

	"golang.org/x/sys/unix"
)

// Dir is a cgroup directory (absolute path).
type Dir string

// Child returns the directory of the child cgroup name.
func (d Dir) Child(name string) Dir { return Dir(filepath.Join(string(d), name)) }

func (d Dir) path(file string) string { return filepath.Join(string(d), file) }

// Create makes the directory (mkdir, mode 0755). Exists is an error (fs.ErrExist).
func (d Dir) Create() error { return os.Mkdir(string(d), 0o755) }

// Remove rmdirs the directory (EBUSY while populated).
func (d Dir) Remove() error {
	// Not os.Remove: it tries unlink first, which cgroupfs answers with a
	// confusing error; a cgroup is only ever a directory.
	if err := unix.Rmdir(string(d)); err != nil {
		return &os.PathError{Op: "rmdir", Path: string(d), Err: err}
	}
	return nil
}

// Read returns a file's contents with the trailing newline trimmed.
func (d Dir) Read(file string) (string, error) {
	b, err := kfile.Read(d.path(file))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// Write writes value to a file in one write(2). The error carries the data:
// `write memory.max "64M": device or resource busy`, wrapping the errno.
//
// O_TRUNC is a no-op on cgroupfs (verified on 6.18) and makes plain files
// of fake trees behave like kernel files: the new value replaces the old.
func (d Dir) Write(file, value string) error {
	fd, err := unix.Open(d.path(file), unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return &WriteError{File: file, Value: value, Err: err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Write(fd, []byte(value))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &WriteError{File: file, Value: value, Err: err}
		}
		if n != len(value) {
			return &WriteError{File: file, Value: value, Err: io.ErrShortWrite}
		}
		return nil
	}
}

// WriteError is a failed write of Value to File; Err is usually an errno.
type WriteError struct {
	File, Value string
	Err         error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("write %s %q: %v", e.File, e.Value, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// Controllers returns cgroup.controllers as a list.
func (d Dir) Controllers() ([]string, error) { return d.list(FileControllers) }

// SubtreeControl returns cgroup.subtree_control as a list.
func (d Dir) SubtreeControl() ([]string, error) { return d.list(FileSubtreeControl) }

func (d Dir) list(file string) ([]string, error) {
	s, err := d.Read(file)
	if err != nil {
		return nil, err
	}
	return strings.Fields(s), nil
}

// HasController reports whether c is listed in d's cgroup.controllers
// (a missing file reads as no controllers).
func (d Dir) HasController(c string) bool {
	l, err := d.Controllers()
	return err == nil && slices.Contains(l, c)
}

// EnableControllers writes "+c" for every available controller in want
// that is not yet enabled in d's cgroup.subtree_control; it returns the
// ones now enabled. Unavailable ones are skipped, not an error.
//
// The result lists, in the order of want, every controller of want that
// is enabled in d's subtree_control after the call (already or newly).
// Each controller is written on its own so an error names the one the
// kernel refused; the result then holds those enabled so far.
func (d Dir) EnableControllers(want []string) ([]string, error) {
	avail, err := d.Controllers()
	if err != nil {
		return nil, err
	}
	enabled, err := d.SubtreeControl()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range want {
		if slices.Contains(out, c) || !slices.Contains(avail, c) {
			continue
		}
		if !slices.Contains(enabled, c) {
			if err := d.Write(FileSubtreeControl, "+"+c); err != nil {
				return out, err
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// OpenDir opens d as an O_DIRECTORY|O_CLOEXEC fd (for CLONE_INTO_CGROUP).
func (d Dir) OpenDir() (int, error) {
	fd, err := unix.Open(string(d), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: string(d), Err: err}
	}
	return fd, nil
}

// OpenNotify opens a file of d (cgroup.events, memory.events) O_RDONLY|O_CLOEXEC
// for EPOLLPRI notification.
//
// kernfs reports EPOLLPRI|EPOLLERR once the file changed since it was last
// read through this fd; read it (ReadFD) to re-arm.
func (d Dir) OpenNotify(file string) (int, error) {
	fd, err := unix.Open(d.path(file), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: d.path(file), Err: err}
	}
	return fd, nil
}

// ReadFD reads a whole small kernfs file from offset 0 of fd (as opened by
// OpenNotify); reading re-arms its EPOLLPRI notification.
func ReadFD(fd int) ([]byte, error) {
	buf := make([]byte, 4096)
	var out []byte
	off := int64(0)
	for {
		n, err := unix.Pread(fd, buf, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pread fd %d: %w", fd, err)
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
		off += int64(n)
	}
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// SetXattr sets the extended attribute name (a user.* name: cgroupfs
// keeps those since Linux 5.7, in memory, at most 64 KiB each) on the
// directory.
func (d Dir) SetXattr(name string, value []byte) error {
	if err := unix.Setxattr(string(d), name, value, 0); err != nil {
		return &os.PathError{Op: "setxattr " + name, Path: string(d), Err: err}
	}
	return nil
}

// CreateMarked is Create that also sets the extended attribute name to
// value on the new directory. Between the mkdir and the setxattr a crash
// would leave it unmarked, so for that moment the parent's attribute
// intent names it: set before the mkdir, removed once the mark is on or
// the mkdir failed. Whoever finds an unmarked directory the parent's
// intent names knows it was being made (one at a time per parent).
// markErr is a failed attribute call (a kernel without user xattrs on
// cgroupfs); the directory is made all the same.
func (d Dir) CreateMarked(name, intent string, value []byte) (markErr, err error) {
	parent := Dir(filepath.Dir(string(d)))
	intentErr := parent.SetXattr(intent, []byte(filepath.Base(string(d))))
	if err = d.Create(); err == nil {
		markErr = d.SetXattr(name, value)
	}
	if intentErr == nil {
		intentErr = parent.RemoveXattr(intent)
	}
	if markErr == nil {
		markErr = intentErr
	}
	return markErr, err
}

// RemoveXattr removes the extended attribute name from the directory.
func (d Dir) RemoveXattr(name string) error {
	if err := unix.Removexattr(string(d), name); err != nil {
		return &os.PathError{Op: "removexattr " + name, Path: string(d), Err: err}
	}
	return nil
}

// Xattr reads the extended attribute name of the directory.
func (d Dir) Xattr(name string) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getxattr(string(d), name, buf)
		if err == unix.ERANGE && len(buf) < 1<<16 {
			buf = make([]byte, 1<<16)
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getxattr " + name, Path: string(d), Err: err}
		}
		return buf[:n], nil
	}
}
