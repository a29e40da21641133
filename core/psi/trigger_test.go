package psi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cgroupd/core/cgroup/cgrouptest"
	"golang.org/x/sys/unix"
)

// epollPri registers fd for EPOLLPRI in a new epoll instance.
func epollPri(t *testing.T, fd int) int {
	t.Helper()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(ep) })
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLPRI, Fd: int32(fd)}); err != nil {
		t.Fatalf("epoll add trigger fd: %v", err)
	}
	return ep
}

// privileged reports CAP_SYS_RESOURCE in the effective set: without it
// (since 6.5) trigger windows must be multiples of 2 s.
func privileged(t *testing.T) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("capget: %v", err)
	}
	return data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0
}

func TestOpenTriggerReal(t *testing.T) {
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		t.Skip("PSI not available: /proc/pressure/memory")
	}
	d := cgrouptest.Temp(t)
	var subSecond error // sub-2 s windows: refused without CAP_SYS_RESOURCE
	if !privileged(t) {
		subSecond = unix.EINVAL
	}
	tests := []struct {
		name          string
		path          string
		full          bool
		stall, window time.Duration
		wantErr       error
	}{
		{"host memory some 2s", "/proc/pressure/memory", false, 100 * time.Millisecond, 2 * time.Second, nil},
		{"host memory some 1s", "/proc/pressure/memory", false, 150 * time.Millisecond, time.Second, subSecond},
		{"host io full 500ms", "/proc/pressure/io", true, 100 * time.Millisecond, 500 * time.Millisecond, subSecond},
		{"host cpu some 4s", "/proc/pressure/cpu", false, time.Second, 4 * time.Second, nil},
		{"cgroup memory some 2s", filepath.Join(string(d), "memory.pressure"), false, 150 * time.Millisecond, 2 * time.Second, nil},
		{"cgroup memory full 1s", filepath.Join(string(d), "memory.pressure"), true, 150 * time.Millisecond, time.Second, subSecond},
		{"cgroup cpu full 2s", filepath.Join(string(d), "cpu.pressure"), true, 50 * time.Millisecond, 2 * time.Second, nil},
		{"stall above window", "/proc/pressure/memory", false, 4 * time.Second, 2 * time.Second, unix.EINVAL},
		{"window too long", "/proc/pressure/memory", false, time.Second, 20 * time.Second, unix.EINVAL},
		{"zero stall", "/proc/pressure/memory", false, 0, 2 * time.Second, unix.EINVAL},
		{"missing file", filepath.Join(t.TempDir(), "memory.pressure"), false, time.Millisecond, time.Second, unix.ENOENT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := OpenTrigger(tc.path, tc.full, tc.stall, tc.window)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer unix.Close(fd)
			ep := epollPri(t, fd)
			// No pressure expected now; a zero-timeout wait must not fail.
			evs := make([]unix.EpollEvent, 1)
			if _, err := unix.EpollWait(ep, evs, 0); err != nil && err != unix.EINTR {
				t.Errorf("epoll_wait: %v", err)
			}
			// One trigger per fd: a second registration is EBUSY.
			if _, err := unix.Write(fd, []byte("some 100000 2000000\x00")); err != unix.EBUSY {
				t.Errorf("second trigger on one fd: err = %v, want EBUSY", err)
			}
		})
	}
}

func TestOpenTriggerAdapt(t *testing.T) {
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		t.Skip("PSI not available: /proc/pressure/memory")
	}
	priv := privileged(t)
	tests := []struct {
		name                  string
		stall, window         time.Duration
		wantStall, wantWindow time.Duration // when unprivileged
		wantErr               bool
	}{
		{"2s kept", 200 * time.Millisecond, 2 * time.Second, 200 * time.Millisecond, 2 * time.Second, false},
		{"1s rounded to 2s", 150 * time.Millisecond, time.Second, 300 * time.Millisecond, 2 * time.Second, false},
		{"3s rounded to 4s", 300 * time.Millisecond, 3 * time.Second, 400 * time.Millisecond, 4 * time.Second, false},
		{"stall above window still refused", 3 * time.Second, time.Second, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd, s, w, err := OpenTriggerAdapt("/proc/pressure/memory", false, tc.stall, tc.window)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer unix.Close(fd)
			wantS, wantW := tc.wantStall, tc.wantWindow
			if priv {
				wantS, wantW = tc.stall, tc.window
			}
			if s != wantS || w != wantW {
				t.Errorf("got stall %v window %v, want %v %v", s, w, wantS, wantW)
			}
		})
	}
}

// TestTriggerCgroupGone checks the kernel reports EPOLLERR on a trigger
// whose cgroup was removed.
func TestTriggerCgroupGone(t *testing.T) {
	d := cgrouptest.Temp(t)
	c := d.Child("gone")
	if err := c.Create(); err != nil {
		t.Fatal(err)
	}
	fd, err := OpenTrigger(filepath.Join(string(c), "memory.pressure"), false, 100*time.Millisecond, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ep := epollPri(t, fd)
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	evs := make([]unix.EpollEvent, 1)
	n, err := unix.EpollWait(ep, evs, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || evs[0].Events&unix.EPOLLERR == 0 {
		t.Errorf("after rmdir: %d events %#x, want EPOLLERR", n, evs[0].Events)
	}
}
