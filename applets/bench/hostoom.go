package bench

import (
	"errors"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The host-overload scenario (scripts/suite/bench-hostoom.sh) compares
// guards (the kernel alone, earlyoom, cgroupd) on how the host fares, not on
// what each one reports, so it needs two neutral observers:
//
//   - probe: an ordinary process that forks a short command in a loop, as
//     a user's shell or a health check would, and reports the longest
//     iteration: how unresponsive the host became;
//   - watch: who died first, and when, among the processes it is given,
//     observed through pidfds (a process's exit makes its pidfd readable,
//     whoever killed it).

// probeMode runs CMD ARGS in a loop until SIGTERM/SIGINT or -seconds, then
// prints the iteration count and the longest iteration (fork to exit) in
// ms. -out F rewrites F with the longest so far after every iteration, so
// the figure survives the probe being killed. SIGUSR1 starts the
// measurement over (the scenario's overload begins: what came before, such
// as the guard starting its jobs, is not the overload's doing).
func probeMode(e *env, args []string) error {
	f := newFlags(e, "probe", "probe", false)
	seconds := f.Float64("seconds", 0, "stop after this long (0: at SIGTERM/SIGINT)")
	out := f.String("out", "", "keep the longest iteration so far in this file")
	if err := f.parse(args); err != nil {
		return err
	}
	cmd, err := argv(f, "")
	if err != nil {
		return err
	}
	path, err := lookPath(cmd[0])
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	reset := make(chan os.Signal, 1)
	signal.Notify(reset, syscall.SIGUSR1)
	var deadline time.Time
	if *seconds > 0 {
		deadline = time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	}
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	var n int64
	var longest time.Duration
	report := func() error {
		e.fig.int("iterations", n)
		e.fig.int("max_gap_ms", longest.Milliseconds())
		return nil
	}
	for {
		select {
		case <-stop:
			return report()
		case <-reset:
			longest = 0
			if *out != "" {
				os.WriteFile(*out, []byte("0\n"), 0o644)
			}
		default:
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return report()
		}
		t0 := time.Now()
		if err := run(path, cmd, attr); err != nil {
			return err
		}
		n++
		if d := time.Since(t0); d > longest {
			longest = d
			if *out != "" {
				os.WriteFile(*out, []byte(strconv.FormatInt(longest.Milliseconds(), 10)+"\n"), 0o644)
			}
		}
	}
}

// watchMode follows NAME=PID pairs through pidfds and prints, for each
// that dies before -timeout (or within -after of the first death),
// `<name>_died_unix_ms`, and `first` (the name of the first to die, or
// none). A pid already gone (reaped) when the watch begins is printed as
// `<name>_gone=1`: it died first, at a time the watch cannot know, so it
// has no died_unix_ms (a cgroupd job's is its job.exit's exit_unix_ms);
// when more than one is gone, first is unknown. -ready F is created once
// every pidfd is open.
func watchMode(e *env, args []string) error {
	f := newFlags(e, "watch", "watch", false)
	timeout := f.Duration("timeout", time.Minute, "stop watching after this")
	after := f.Duration("after", -1, "stop this long after the first death (default: at -timeout)")
	ready := f.String("ready", "", "create this file once watching")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() == 0 {
		return usagef("give NAME=PID pairs")
	}
	type proc struct {
		name string
		fd   int
	}
	var ps []proc
	var gone []string
	for _, a := range f.Args() {
		name, p, ok := strings.Cut(a, "=")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil || pid <= 0 || name == "" {
			return usagef("bad NAME=PID %q", a)
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			gone = append(gone, name)
			continue
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ps = append(ps, proc{name, fd})
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o644); err != nil {
			return err
		}
	}
	first := "none"
	deadline := time.Now().Add(*timeout)
	for _, name := range gone {
		e.fig.int(name+"_gone", 1)
	}
	switch {
	case len(gone) == 1:
		first = gone[0]
	case len(gone) > 1:
		first = "unknown"
	}
	if len(gone) > 0 && *after >= 0 {
		deadline = time.Now().Add(*after)
	}
	for len(ps) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		pfd := make([]unix.PollFd, len(ps))
		for i, p := range ps {
			pfd[i] = unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN}
		}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		now := time.Now().UnixMilli()
		kept := ps[:0]
		for i, p := range ps {
			if pfd[i].Revents == 0 {
				kept = append(kept, p)
				continue
			}
			if first == "none" {
				first = p.name
				if *after >= 0 {
					deadline = time.Now().Add(*after)
				}
			}
			e.fig.int(p.name+"_died_unix_ms", now)
		}
		ps = kept
	}
	e.fig.put("first", first)
	return nil
}
