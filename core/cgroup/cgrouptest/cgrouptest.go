// Package cgrouptest gives tests a temporary cgroup v2 directory on the
// real host and removes it (killing what is left in it) when the test ends.
package cgrouptest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"cgroupd/core/cgroup"
	"golang.org/x/sys/unix"
)

var seq atomic.Uint64

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Temp creates <cgroup2 mount>/cgroupd-test-<test>-<pid>-<n> and registers
// its removal with t.Cleanup. It skips the test when cgroup v2 is not
// mounted or not writable.
func Temp(t testing.TB) cgroup.Dir {
	t.Helper()
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Skip("cgroup v2 not mounted")
	}
	if err := cgroup.Check(mnt); err != nil {
		t.Skipf("cgroup v2 not mounted: %v", err)
	}
	name := fmt.Sprintf("cgroupd-test-%s-%d-%d", unsafeChars.ReplaceAllString(t.Name(), "_"), os.Getpid(), seq.Add(1))
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	d := cgroup.Dir(mnt).Child(name)
	if err := d.Create(); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
			t.Skipf("cgroup v2 not writable: %v", err)
		}
		t.Fatalf("create test cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := Destroy(d); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	return d
}

// Destroy kills every process in d's subtree and removes d and its
// descendants, children first. A missing d is not an error.
func Destroy(d cgroup.Dir) error {
	if _, err := os.Stat(string(d)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := d.Kill(); err != nil {
		if !errors.Is(err, cgroup.ErrNoKill) {
			return err
		}
		if err := d.KillFallback(); err != nil {
			return err
		}
	}
	if !d.WaitEmpty(5 * time.Second) {
		return fmt.Errorf("%s: still populated after kill", d)
	}
	var dirs []string
	err := filepath.WalkDir(string(d), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := cgroup.Dir(dirs[i]).Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
