package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// execMode: run a command N times in sequence, timing each from fork to
// reaped exit. stdin and stdout are /dev/null, stderr is ours (a failing
// run explains itself). "{}" in an argument becomes the iteration number
// (warm-up runs count first). With -cgroup DIR each run starts in a new
// child cgroup of DIR, as a job does: mkdir, clone3(CLONE_INTO_CGROUP) and
// exec are timed, the wait too; the rmdir after it is not.
//
// syscall.ForkExec and wait4 rather than os/exec: the same vfork+exec, and
// os/exec would add ~150 KB to a binary that has a size budget.
func execMode(e *env, args []string) error {
	f := newFlags(e, "exec", "exec", false)
	count := f.Int("count", 200, "timed runs")
	warmup := f.Int("warmup", 10, "untimed runs first")
	cgdir := f.String("cgroup", "", "start each run in a new child cgroup of this cgroup2 directory")
	if err := f.parse(args, count); err != nil {
		return err
	}
	if *warmup < 0 {
		return usagef("-warmup must not be negative")
	}
	cmdline := f.Args()
	if len(cmdline) == 0 {
		return usagef("no command: give -- CMD ARGS")
	}
	path, err := lookPath(cmdline[0])
	if err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	errfd := uintptr(2)
	if f, ok := e.stderr.(*os.File); ok {
		errfd = f.Fd()
	}
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{null.Fd(), null.Fd(), errfd}}
	var (
		lat  []time.Duration
		nerr int
	)
	for i := range *warmup + *count {
		argv := make([]string, len(cmdline))
		for k, a := range cmdline {
			argv[k] = strings.ReplaceAll(a, "{}", strconv.Itoa(i))
		}
		t0 := time.Now()
		var err error
		if *cgdir != "" {
			err = runInCgroup(filepath.Join(*cgdir, fmt.Sprintf("x%d-%d", os.Getpid(), i)), path, argv, attr)
		} else {
			err = run(path, argv, attr)
		}
		d := time.Since(t0)
		if err != nil {
			nerr++
			if nerr <= maxShown {
				fmt.Fprintf(e.stderr, "cgroupbench: exec %d: %s: %v\n", i, strings.Join(argv, " "), err)
			}
			continue
		}
		if i >= *warmup {
			lat = append(lat, d)
		}
	}
	e.fig.latency(lat)
	e.fig.int("err", int64(nerr))
	if nerr > 0 {
		return errFailed
	}
	return nil
}

// run starts argv and waits for it; an exit status other than 0 is an error.
func run(path string, argv []string, attr *syscall.ProcAttr) error {
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		return err
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("wait: %w", err)
	case ws.Signaled():
		return fmt.Errorf("killed by signal %d", ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	}
	return nil
}

// runInCgroup is run in the new cgroup dir, which it removes afterwards.
func runInCgroup(dir, path string, argv []string, attr *syscall.ProcAttr) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer os.Remove(dir)
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	a := *attr
	a.Sys = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return run(path, argv, &a)
}

// lookPath finds an executable as a shell would: a name with a slash as is,
// else the first match in $PATH.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in $PATH", name)
}
