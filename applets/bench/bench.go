// Package bench is cgroupbench, the hidden load-generator applet behind
// `make bench`. It speaks the real v1 protocol to a running cgroupd.
//
//	cgroupbench run     [common] [-clients N] [-count M] [-warmup W] [-priority P] [-argv CMD | -- CMD ARGS]
//	cgroupbench ping    [common] [-silent N] [-count M] [-clients N]
//	cgroupbench hold    [common] [-count N] [-clients N] [-argv CMD | -- CMD ARGS]
//	cgroupbench req     [common] -verb LIST|INSPECT|STATS|PING [-id ID] [-count K] [-clients N]
//	cgroupbench cleanup [common] [-match PREFIX] [-clients N]
//	cgroupbench exec    [-name N] [-tag T] [-count N] [-warmup W] -- CMD ARGS
//	cgroupbench proc    [-name N] [-tag T] -pid PID [-seconds S]
//	cgroupbench poll    [-name N] -file F [-key K] [-gt N] [-interval D] [-timeout D] [-ready F]
//	                    [-write F -value V [-after D]]
//	cgroupbench now     [-name N]
//	cgroupbench probe   [-name N] [-seconds S] [-out F] -- CMD ARGS
//	cgroupbench watch   [-name N] [-timeout D] [-ready F] NAME=PID...
//	cgroupbench hostile [common] [-conns N] [-kind silent|events|partial|wait|flood] [-bytes B] [-id ID] [-requests N]
//
//	common: -socket PATH  -name NAME  -tag TAG  -timeout DUR
//
// Modes:
//
//	run      RUN rate and per-request latency with N concurrent
//	         connections, ids unique per run; afterwards, untimed, WAIT
//	         and REMOVE every job it started
//	ping     open N connections that send nothing, then time PING
//	hold     start N long-lived jobs (default /bin/sleep 3600)
//	         concurrently and leave them running
//	req      latency of one verb, repeated
//	cleanup  KILL, WAIT and REMOVE every job LIST shows (or those whose id
//	         starts with -match)
//	exec     run a command N times in sequence, timing each from fork to
//	         exit (`cgroupctl run` end to end); "{}" in an argument becomes
//	         the iteration number, so ids can be unique
//	proc     a process's VmRSS, VmHWM, threads and open fds from /proc;
//	         with -seconds, its CPU use (utime+stime) over that time as %
//	         of one core
//	poll     wait until a number in a file (the `K N` line of a flat-keyed
//	         file such as memory.events, or the first word) exceeds N;
//	         print when (epoch ms) and the value; -ready F is created once
//	         polling has begun; -write F -value V writes V to F -after D
//	         (a burst of exactly D) and prints when
//	now      the wall clock in epoch ms (busybox date has no %N)
//	probe    fork CMD in a loop (a user's shell, a health check) until
//	         SIGTERM or -seconds; the longest iteration in ms: how
//	         unresponsive the host became
//	watch    follow processes through pidfds; when each died (epoch ms)
//	         and which died first, whoever killed it
//	hostile  what a hostile member of the socket group does, held until
//	         stdin closes: N connections that send nothing, follow EVENTS
//	         and never read, send B bytes of a request that never ends, or
//	         WAIT and never read; or (flood) the largest request, again and
//	         again; "ready ..." on stdout once in place
//
// Output is one figure per line on stdout, `<name>_<metric>[_<tag>]=value`
// (latencies in µs, rates per second), stable so that runs can be compared;
// diagnostics go to stderr. Client process start-up is kept out of every
// socket measurement: one process, one connection per request, timed from
// connect to the response's EOF. Exit 0, 1 when a request failed (the
// figures are printed all the same), 2 for a usage error.
package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"cgroupd/core/proto"
)

const usage = `usage: cgroupbench MODE [options]
  run     [common] [-clients N] [-count M] [-warmup W] [-priority P] [-argv CMD | -- CMD ARGS]
  ping    [common] [-silent N] [-count M] [-clients N]
  hold    [common] [-count N] [-clients N] [-argv CMD | -- CMD ARGS]
  req     [common] -verb LIST|INSPECT|STATS|PING [-id ID] [-count K] [-clients N]
  cleanup [common] [-match PREFIX] [-clients N]
  exec    [-name N] [-tag T] [-count N] [-warmup W] -- CMD ARGS   ({} = iteration number)
  proc    [-name N] [-tag T] -pid PID [-seconds S]
  poll    [-name N] -file F [-key K] [-gt N] [-interval D] [-timeout D] [-ready F]
          [-write F -value V [-after D]]
  now     [-name N]
  probe   [-name N] [-seconds S] [-out F] -- CMD ARGS
  watch   [-name N] [-timeout D] [-ready F] NAME=PID...
  hostile [common] [-conns N] [-kind silent|events|partial|wait|flood] [-bytes B] [-id ID] [-requests N]
common: -socket PATH (default $CGROUPD_SOCKET, else the protocol default)
        -name NAME -tag TAG (figure keys are NAME_METRIC_TAG)
        -timeout DUR (per request, default 2m)
Prints key=value figures on stdout (latencies in us, rates per second).
MODE -h shows a mode's options.
`

// usageError is a command-line error (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errFailed means figures were printed but some requests failed (exit 1).
var errFailed = errors.New("some requests failed")

// env is what a mode gets.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	fig            *figures
}

type mode struct {
	name string
	run  func(e *env, args []string) error
}

var modes = []mode{
	{"run", runMode},
	{"ping", pingMode},
	{"hold", holdMode},
	{"req", reqMode},
	{"cleanup", cleanupMode},
	{"exec", execMode},
	{"proc", procMode},
	{"poll", pollMode},
	{"now", nowMode},
	{"probe", probeMode},
	{"watch", watchMode},
	{"hostile", hostileMode},
}

// Run is the applet entry point.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	for _, m := range modes {
		if m.name != args[0] {
			continue
		}
		e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
		err := m.run(e, args[1:])
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "cgroupbench %s: %v\n", m.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "cgroupbench %s: %v\n", m.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "cgroupbench: unknown mode %q\n%s", args[0], usage)
	return 2
}

// flags is a mode's flag set with the options every socket mode shares.
type flags struct {
	*flag.FlagSet
	e       *env
	socket  string
	name    string
	tag     string
	timeout time.Duration
}

func newFlags(e *env, mode, name string, socket bool) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("cgroupbench "+mode, flag.ContinueOnError), e: e}
	f.SetOutput(e.stderr)
	if socket {
		f.StringVar(&f.socket, "socket", defaultSocket(), "daemon socket")
		f.DurationVar(&f.timeout, "timeout", 2*time.Minute, "per-request timeout")
	}
	f.StringVar(&f.name, "name", name, "figure key prefix")
	f.StringVar(&f.tag, "tag", "", "figure key suffix")
	return f
}

// parse parses args; a positive int flag given as 0 or less is a usage error.
func (f *flags) parse(args []string, positive ...*int) error {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	for _, p := range positive {
		if *p <= 0 {
			return usagef("counts must be positive")
		}
	}
	f.e.fig = &figures{w: f.e.stdout, name: f.name, tag: f.tag}
	return nil
}

func defaultSocket() string {
	if s := os.Getenv("CGROUPD_SOCKET"); s != "" {
		return s
	}
	return proto.DefaultSocket(os.Getuid(), func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.IsDir()
	})
}

// argv returns the job's command: the words after "--", else -argv split
// on white space.
func argv(f *flags, flagArgv string) ([]string, error) {
	if f.NArg() > 0 {
		return f.Args(), nil
	}
	a := strings.Fields(flagArgv)
	if len(a) == 0 {
		return nil, usagef("no command: give -argv or -- CMD ARGS")
	}
	return a, nil
}
