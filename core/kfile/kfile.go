// Package kfile reads small kernel files (cgroupfs, procfs) with three raw
// syscalls. os.ReadFile also registers every pollable file with Go's
// netpoller (fcntl, fcntl, epoll_ctl, fstat, epoll_ctl: twice the
// syscalls), and cgroupfs files are pollable; the daemon reads them on its
// hot paths, where a syscall costs microseconds on a virtualised host.
package kfile

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// Read returns the whole file. Errors are *fs.PathError wrapping the errno,
// as os.ReadFile's are (errors.Is(err, fs.ErrNotExist) works).
func Read(path string) ([]byte, error) {
	fd, err := open(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// OnProc says the open file fd is on procfs: what the kernel computes,
// not a file someone writes (a test's fake, say).
func OnProc(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && uint32(st.Type) == unix.PROC_SUPER_MAGIC
}

func open(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
