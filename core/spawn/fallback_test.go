package spawn

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAutoFallback simulates clone3 failures: ENOSYS, E2BIG and EINVAL
// switch to the fallback by themselves, anything else is returned.
func TestAutoFallback(t *testing.T) {
	tests := []struct {
		errno    syscall.Errno
		fallback bool
	}{
		{unix.ENOSYS, true},
		{unix.E2BIG, true},
		{unix.EINVAL, true},
		{unix.EACCES, false},
		{unix.EBUSY, false},
	}
	for _, tc := range tests {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			calls := 0
			clone3ForkExec = func(string, []string, *syscall.ProcAttr) (int, error) {
				calls++
				return 0, tc.errno
			}
			defer func() { clone3ForkExec = syscall.ForkExec }()
			clone3Works.Store(false) // as on a kernel where it never worked
			d, fd := jobCgroup(t)
			p, err := Start(&Cmd{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 3"}, CgroupFD: fd, CgroupPath: string(d), Self: self(t)})
			clone3Works.Store(false)
			if calls != 1 {
				t.Errorf("clone3 tried %d times, want 1", calls)
			}
			if !tc.fallback {
				if !errors.Is(err, tc.errno) {
					t.Errorf("err = %v, want %v", err, tc.errno)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start = %v, want the fallback to succeed", err)
			}
			defer unix.Close(p.PidFD)
			if st := waitExit(t, p); st != (Status{Exit: 3}) {
				t.Errorf("status %+v, want exit 3", st)
			}
		})
	}
}

// TestNoFallbackOnceWorking: after a clone3 success, E2BIG from ForkExec is
// the job's exec error (argument list too long) and is returned.
func TestNoFallbackOnceWorking(t *testing.T) {
	d, fd := jobCgroup(t)
	c := &Cmd{Path: "/bin/true", Argv: []string{"true"}, CgroupFD: fd, CgroupPath: string(d), Self: self(t)}
	p, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	unix.Close(p.PidFD)
	defer clone3Works.Store(false)
	huge := make([]string, 0, 3000)
	for range 3000 {
		huge = append(huge, strings.Repeat("x", 1000))
	}
	c.Argv = append([]string{"true"}, huge...)
	if p, err := Start(c); !errors.Is(err, unix.E2BIG) {
		if err == nil {
			unix.Close(p.PidFD)
		}
		t.Errorf("Start with 3 MB of args = %v, want E2BIG", err)
	}
}
