package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// usage is printed by -h and after a usage error.
const usage = `usage: cgroupd [options]
  -r, --root PATH                 cgroup v2 directory to own
                                  (default: <mount>/cgroupd.slice for root)
  -s, --socket PATH               Unix socket path (default: $CGROUPD_SOCKET,
                                  /run/cgroupd.sock for root,
                                  /run/user/<uid>/cgroupd.sock or
                                  /tmp/cgroupd-<uid>.sock for others)
  -d, --debug                     debug logging
  -L, --log-dir PATH              capture each job's stdout+stderr in PATH/<id>.log
  -k, --mem-kill-avg10 X          kill a victim at memory.full.avg10 >= X (default 60)
      --mem-freeze-some-avg10 X   freeze a low-priority victim at memory.some.avg10 >= X (default 20)
      --cpu-demote-some-avg10 X   halve cpu.weight of low-priority jobs at cpu.some.avg10 >= X (default 50)
      --io-freeze-full-avg10 X    freeze a low-priority victim at io.full.avg10 >= X (default 30)
      --mem-admit-some-avg10 X    refuse RUN at memory.some.avg10 >= X (default 80)
      --mem-admit-full-avg10 X    refuse RUN at memory.full.avg10 >= X (default 15)
      --cpu-admit-some-avg10 X    refuse RUN at cpu.some.avg10 >= X (default 95)
      --io-admit-full-avg10 X     refuse RUN at io.full.avg10 >= X (default 80)
      --socket-group NAME|GID     chgrp the socket (mode 0660) so the group may connect
      --spawn-fallback            always start jobs by fork-and-attach (no clone3)
      --kill-fallback             always kill by freeze+SIGKILL+thaw (no cgroup.kill)
      --request-timeout DURATION  drop a client whose request is incomplete after this (default 30s)
  -h, --help                      this help
A negative threshold turns that rule off.
`

// thresholds are PSI avg10 percentages; a negative value disables a rule.
type thresholds struct {
	MemKill, MemFreezeSome, CPUDemoteSome, IOFreezeFull   float64
	MemAdmitSome, MemAdmitFull, CPUAdmitSome, IOAdmitFull float64
}

// config is the parsed command line.
type config struct {
	Root          string
	Socket        string
	SocketGroup   string
	LogDir        string
	Debug         bool
	SpawnFallback bool
	KillFallback  bool
	ReqTimeout    time.Duration
	Th            thresholds
}

// usageError is a command-line error (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// parseFlags parses the daemon's command line. -h returns flag.ErrHelp;
// any other problem returns a *usageError. Both short and long
// names are registered for the same variable; Go's flag package accepts
// -name, --name, "--name value" and "--name=value".
func parseFlags(args []string) (*config, error) {
	c := &config{ReqTimeout: 30 * time.Second, Th: thresholds{
		MemKill: 60, MemFreezeSome: 20, CPUDemoteSome: 50, IOFreezeFull: 30,
		MemAdmitSome: 80, MemAdmitFull: 15, CPUAdmitSome: 95, IOAdmitFull: 80,
	}}
	fs := flag.NewFlagSet("cgroupd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	str := func(p *string, short, long string) {
		if short != "" {
			fs.StringVar(p, short, *p, "")
		}
		fs.StringVar(p, long, *p, "")
	}
	boolean := func(p *bool, short, long string) {
		if short != "" {
			fs.BoolVar(p, short, *p, "")
		}
		fs.BoolVar(p, long, *p, "")
	}
	num := func(p *float64, short, long string) {
		if short != "" {
			fs.Var((*floatFlag)(p), short, "")
		}
		fs.Var((*floatFlag)(p), long, "")
	}
	str(&c.Root, "r", "root")
	str(&c.Socket, "s", "socket")
	str(&c.LogDir, "L", "log-dir")
	str(&c.SocketGroup, "", "socket-group")
	boolean(&c.Debug, "d", "debug")
	boolean(&c.SpawnFallback, "", "spawn-fallback")
	boolean(&c.KillFallback, "", "kill-fallback")
	num(&c.Th.MemKill, "k", "mem-kill-avg10")
	num(&c.Th.MemFreezeSome, "", "mem-freeze-some-avg10")
	num(&c.Th.CPUDemoteSome, "", "cpu-demote-some-avg10")
	num(&c.Th.IOFreezeFull, "", "io-freeze-full-avg10")
	num(&c.Th.MemAdmitSome, "", "mem-admit-some-avg10")
	num(&c.Th.MemAdmitFull, "", "mem-admit-full-avg10")
	num(&c.Th.CPUAdmitSome, "", "cpu-admit-some-avg10")
	num(&c.Th.IOAdmitFull, "", "io-admit-full-avg10")
	fs.DurationVar(&c.ReqTimeout, "request-timeout", c.ReqTimeout, "")
	var help bool
	boolean(&help, "", "help")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		return nil, usageErrorf("%v", err)
	}
	if help {
		return nil, flag.ErrHelp
	}
	if c.ReqTimeout <= 0 {
		return nil, usageErrorf("--request-timeout: must be positive")
	}
	if fs.NArg() > 0 {
		return nil, usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "r", "root", "s", "socket", "L", "log-dir", "socket-group":
			if f.Value.String() == "" && bad == nil {
				bad = usageErrorf("-%s: empty value", f.Name)
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	return c, nil
}

// floatFlag is a threshold: any float, negative disables the rule.
type floatFlag float64

func (f *floatFlag) String() string { return strconv.FormatFloat(float64(*f), 'f', -1, 64) }

func (f *floatFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*f = floatFlag(v)
	return nil
}

// defaultSocket picks the socket path as PROTOCOL.md says.
func defaultSocket(uid int, env func(string) string, dirExists func(string) bool) string {
	if s := env("CGROUPD_SOCKET"); s != "" {
		return s
	}
	if uid == 0 {
		return "/run/cgroupd.sock"
	}
	if d := fmt.Sprintf("/run/user/%d", uid); dirExists(d) {
		return d + "/cgroupd.sock"
	}
	return fmt.Sprintf("/tmp/cgroupd-%d.sock", uid)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
