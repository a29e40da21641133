package spawn

import (
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSigchld(t *testing.T) {
	tests := []struct {
		name        string
		pid, status int32
	}{
		{"exit 7", 1234, 7},
		{"signal 9", 99999, 9},
		{"zero", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var info unix.Siginfo
			// The layout Reap decodes: si_pid at the union, si_status two
			// words later (include/uapi/asm-generic/siginfo.h).
			off := uintptr(12)
			if unsafe.Sizeof(uintptr(0)) == 8 {
				off = 16
			}
			*(*int32)(unsafe.Add(unsafe.Pointer(&info), off)) = tc.pid
			*(*int32)(unsafe.Add(unsafe.Pointer(&info), off+8)) = tc.status
			pid, status := sigchld(&info)
			if pid != tc.pid || status != tc.status {
				t.Errorf("got pid %d status %d, want %d %d", pid, status, tc.pid, tc.status)
			}
		})
	}
}

func TestReapErrors(t *testing.T) {
	// pid 1 is not our child: ECHILD.
	fd, err := unix.PidfdOpen(1, 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	tests := []struct {
		name string
		fd   int
		want error
	}{
		{"not a child", fd, unix.ECHILD},
		{"bad fd", 1 << 20, unix.EBADF},
		{"not a pidfd", 0, unix.EBADF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := Reap(tc.fd)
			if ok || !errors.Is(err, tc.want) {
				t.Errorf("Reap = ok %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}
