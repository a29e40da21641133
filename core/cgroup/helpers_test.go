package cgroup_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"cgroupd/core/cgroup"
	"golang.org/x/sys/unix"
)

// fakeTree copies testdata/cgroupfs/<scenario> into a temp dir.
func fakeTree(t *testing.T, scenario string) cgroup.Dir {
	t.Helper()
	src := filepath.Join("..", "..", "testdata", "cgroupfs", scenario)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", scenario, err)
	}
	return cgroup.Dir(dst)
}

// startIn starts argv directly inside d (clone3 CLONE_INTO_CGROUP) and
// registers a cleanup that kills and reaps it.
func startIn(t *testing.T, d cgroup.Dir, argv ...string) *exec.Cmd {
	t.Helper()
	fd, err := d.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", argv, d, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// waitEvents waits, through EPOLLPRI notifications on cgroup.events (no
// polling), until cond holds; it fails the test after 5 s.
func waitEvents(t *testing.T, d cgroup.Dir, cond func(cgroup.Events) bool) cgroup.Events {
	t.Helper()
	fd, err := d.OpenNotify(cgroup.FileEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLPRI, Fd: int32(fd)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := cgroup.ReadFD(fd) // reading re-arms the notification
		if err != nil {
			t.Fatal(err)
		}
		ev, err := cgroup.ParseEvents(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if cond(ev) {
			return ev
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: cgroup.events still %+v after 5 s", d, ev)
		}
		evs := make([]unix.EpollEvent, 1)
		if _, err := unix.EpollWait(ep, evs, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
	}
}

// procCgroup returns the v2 cgroup path of pid.
func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := cgroup.ParseSelf(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
