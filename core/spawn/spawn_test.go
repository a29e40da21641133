package spawn

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/cgroup/cgrouptest"
	"golang.org/x/sys/unix"
)

// TestMain doubles as the fallback helper: Start(Fallback) re-executes the
// test binary with argv[0] = HelperApplet, as main.go's dispatch would.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == HelperApplet {
		os.Exit(HelperMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// self is the test binary, the fallback helper.
func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitExit waits (epoll on the pidfd, no polling) until the process exits
// and reaps it.
func waitExit(t *testing.T, p Proc) Status {
	t.Helper()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p.PidFD, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.PidFD)}); err != nil {
		t.Fatal(err)
	}
	evs := make([]unix.EpollEvent, 1)
	for {
		n, err := unix.EpollWait(ep, evs, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("pid %d did not exit within 10 s", p.Pid)
		}
		break
	}
	st, ok, err := Reap(p.PidFD)
	if err != nil || !ok {
		t.Fatalf("Reap after EPOLLIN = %+v, %v, %v; want exited", st, ok, err)
	}
	return st
}

// jobCgroup makes a temp cgroup and its dir fd.
func jobCgroup(t *testing.T) (cgroup.Dir, int) {
	d := cgrouptest.Temp(t)
	fd, err := d.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return d, fd
}

var paths = []struct {
	name     string
	fallback bool
}{{"clone3", false}, {"fallback", true}}

func TestStartReap(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want Status
	}{
		{"true", []string{"/bin/true"}, Status{}},
		{"exit 7", []string{"/bin/sh", "-c", "exit 7"}, Status{Exit: 7}},
		{"self kill", []string{"/bin/sh", "-c", "kill -9 $$"}, Status{Signal: 9}},
		{"self term", []string{"/bin/sh", "-c", "kill -TERM $$"}, Status{Signal: 15}},
	}
	for _, path := range paths {
		for _, tc := range tests {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				d, fd := jobCgroup(t)
				p, err := Start(&Cmd{Path: tc.argv[0], Argv: tc.argv, CgroupFD: fd, CgroupPath: string(d), Fallback: path.fallback, Self: self(t)})
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(p.PidFD)
				if got := waitExit(t, p); got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				// Reaped: a second Reap is ECHILD.
				if _, _, err := Reap(p.PidFD); !errors.Is(err, unix.ECHILD) {
					t.Errorf("second Reap: err = %v, want ECHILD", err)
				}
			})
		}
	}
}

// TestInCgroup checks a running job sits in its cgroup, in its own process
// group, and that Reap reports "not yet" while it runs.
func TestInCgroup(t *testing.T) {
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Skip("cgroup v2 not mounted")
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			d, fd := jobCgroup(t)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p, err := Start(&Cmd{Path: "/bin/sh", Argv: []string{"sh", "-c", "echo ready; exec sleep 10"}, Stdout: w,
				CgroupFD: fd, CgroupPath: string(d), Fallback: path.fallback, Self: self(t)})
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p.PidFD)
			// "ready" proves the job was exec'ed (the helper released).
			line := make([]byte, 6)
			if _, err := io.ReadFull(r, line); err != nil || string(line) != "ready\n" {
				t.Fatalf("job said %q, %v; want ready", line, err)
			}
			if st, ok, err := Reap(p.PidFD); ok || err != nil {
				t.Errorf("Reap while running = %+v, %v, %v; want not exited", st, ok, err)
			}
			f, err := os.Open("/proc/" + strconv.Itoa(p.Pid) + "/cgroup")
			if err != nil {
				t.Fatal(err)
			}
			got, err := cgroup.ParseSelf(f)
			f.Close()
			if want := strings.TrimPrefix(string(d), mnt); err != nil || got != want {
				t.Errorf("cgroup of job = %q, %v; want %q", got, err, want)
			}
			if pids, _ := d.Procs(); !slices.Equal(pids, []int{p.Pid}) {
				t.Errorf("cgroup.procs = %v, want [%d]", pids, p.Pid)
			}
			if pgid, _ := unix.Getpgid(p.Pid); pgid != p.Pid {
				t.Errorf("pgid = %d, want %d (own group)", pgid, p.Pid)
			}
			if err := unix.PidfdSendSignal(p.PidFD, unix.SIGKILL, nil, 0); err != nil {
				t.Fatal(err)
			}
			if got := waitExit(t, p); got != (Status{Signal: 9}) {
				t.Errorf("got %+v, want signal 9", got)
			}
		})
	}
}

// publicDir is a temp dir that other users may enter (t.TempDir's parent
// is 0700).
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cgroupd-spawn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// publicSelf copies the test binary where an unprivileged helper can
// execute it (the go build cache is private).
func publicSelf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(publicDir(t), HelperApplet)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStdioEnvDirCred checks output capture, environment, working
// directory, stdin /dev/null and credentials on both paths.
func TestStdioEnvDirCred(t *testing.T) {
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			d, fd := jobCgroup(t)
			dir := publicDir(t)
			out, err := os.Create(filepath.Join(dir, "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			errf, err := os.Create(filepath.Join(dir, "err"))
			if err != nil {
				t.Fatal(err)
			}
			defer errf.Close()
			script := `echo "dir=$(pwd) foo=$FOO id=$(id -u):$(id -g) groups=$(id -G)"; cat; echo oops >&2`
			c := &Cmd{
				Path: "/bin/sh", Argv: []string{"sh", "-c", script},
				Env: []string{"FOO=bar", "PATH=/usr/bin:/bin"}, Dir: dir,
				Stdout: out, Stderr: errf,
				CgroupFD: fd, CgroupPath: string(d), Fallback: path.fallback, Self: publicSelf(t),
			}
			want := "dir=" + dir + " foo=bar id=0:0 groups=0\n"
			if os.Getuid() == 0 {
				c.SetCred, c.Uid, c.Gid, c.Groups = true, 65534, 65534, []uint32{65534, 100}
				want = "dir=" + dir + " foo=bar id=65534:65534 groups=65534 100\n"
			}
			p, err := Start(c)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p.PidFD)
			if st := waitExit(t, p); st != (Status{}) {
				t.Errorf("status %+v, want 0", st)
			}
			if got, _ := os.ReadFile(out.Name()); string(got) != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
			if got, _ := os.ReadFile(errf.Name()); string(got) != "oops\n" {
				t.Errorf("stderr %q, want %q", got, "oops\n")
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	d, fd := jobCgroup(t)
	tests := []struct {
		name    string
		cmd     Cmd
		wantErr error
	}{
		{"missing binary clone3", Cmd{Path: "/nonexistent/x", Argv: []string{"x"}, CgroupFD: fd}, unix.ENOENT},
		{"bad cgroup fd", Cmd{Path: "/bin/true", Argv: []string{"true"}, CgroupFD: 1 << 20}, unix.EBADF},
		{"fallback attach fails", Cmd{Path: "/bin/true", Argv: []string{"true"}, CgroupPath: filepath.Join(string(d), "missing"), Fallback: true, Self: self(t)}, unix.ENOENT},
		{"fallback without self", Cmd{Path: "/bin/true", Argv: []string{"true"}, CgroupPath: string(d), Fallback: true}, nil},
		{"empty", Cmd{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Start(&tc.cmd)
			if err == nil {
				unix.Close(p.PidFD)
				t.Fatalf("Start = %+v, want error", p)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	// The helper killed after a failed attach was reaped: no zombie child.
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid > 0 {
		t.Errorf("unreaped child %d (%v)", pid, err)
	}
}

// TestStartLatency is a rough guard (not a benchmark): 50 clone3 starts
// must each stay well under a second.
func TestStartLatency(t *testing.T) {
	d, fd := jobCgroup(t)
	start := time.Now()
	for i := 0; i < 50; i++ {
		p, err := Start(&Cmd{Path: "/bin/true", Argv: []string{"true"}, CgroupFD: fd, CgroupPath: string(d)})
		if err != nil {
			t.Fatal(err)
		}
		waitExit(t, p)
		unix.Close(p.PidFD)
	}
	t.Logf("50 × start+reap /bin/true: %v each", time.Since(start)/50)
}
