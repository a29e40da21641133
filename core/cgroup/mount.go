package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseMountinfo returns the mount point of the first cgroup2 mount in a
// /proc/self/mountinfo stream.
//
// A line is (proc(5)):
//
//	36 35 98:0 /root /mnt/point rw,noatime master:1 - cgroup2 cgroup2 rw
//
// with zero or more optional fields before the "-" separator; the mount
// point escapes space, tab, newline and backslash as \040 \011 \012 \134.
func ParseMountinfo(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// At least: id parent maj:min root mountpoint options - fstype.
		if len(f) < 8 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		// After "-": fstype, source, super options (the last may be
		// missing on truncated lines; fstype and source are required).
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		if f[sep+1] == "cgroup2" {
			return unescapeMountinfo(f[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", ErrNoMount
}

// unescapeMountinfo decodes the kernel's octal escapes (\040 etc.).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Mount finds the cgroup2 mount from /proc/self/mountinfo.
func Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ParseMountinfo(f)
}

// ParseSelf returns the v2 path ("0::/x" line) from a /proc/<pid>/cgroup stream.
func ParseSelf(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path; the path may hold ':'.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && parts[0] == "0" && parts[1] == "" {
			return parts[2], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read cgroup: %w", err)
	}
	return "", fmt.Errorf("no 0:: line: %w", ErrNoMount)
}

// Self returns the calling process's cgroup v2 path relative to the mount.
func Self() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ParseSelf(f)
}

// Check returns ErrNotCgroup2 (wrapped with the path) unless path is on cgroup2 (statfs).
func Check(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if uint64(st.Type) != Magic {
		return fmt.Errorf("%s: %w (f_type %#x)", path, ErrNotCgroup2, uint64(st.Type))
	}
	return nil
}
