package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/logstore"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/limits"
	"cgroupd/core/proto"
	"cgroupd/core/spawn"
)

// usage is printed by -h and after a usage error.
const usage = `usage: cgroupd [options]
  -r, --root PATH                 cgroup v2 directory to own, created if missing (default:
                                  <mount>/cgroupd.slice for root; for others cgroupd.slice under
                                  user@<uid>.service, else beside the daemon's own cgroup)
  -s, --socket PATH               Unix socket path (default: $CGROUPD_SOCKET,
                                  /run/cgroupd.sock for root,
                                  /run/user/<uid>/cgroupd.sock or
                                  /tmp/cgroupd-<uid>.sock for others)
  -d, --debug                     debug logging
  -L, --log-dir PATH              capture each job's stdout+stderr in PATH/<id>.log
      --log-max-size SIZE         disk space one job's log may use; the oldest output is dropped
                                  beyond it (default 8M, at least 64K; max: unbounded)
      --log-retain N              keep the logs of each user's newest N removed jobs, delete older ones
                                  (default 1000)
  -k, --mem-kill-avg10 X          kill a victim at memory.full.avg10 >= X (default 60)
      --mem-freeze-some-avg10 X   freeze a low-priority victim at memory.some.avg10 >= X (default 20)
      --cpu-demote-some-avg10 X   halve cpu.weight of low-priority jobs at cpu.some.avg10 >= X (default 50)
      --io-freeze-full-avg10 X    freeze a low-priority victim at io.full.avg10 >= X (default 30)
      --mem-admit-some-avg10 X    refuse RUN at memory.some.avg10 >= X (default 80)
      --mem-admit-full-avg10 X    refuse RUN at memory.full.avg10 >= X (default 15)
      --cpu-admit-some-avg10 X    refuse RUN at cpu.some.avg10 >= X (default 95)
      --io-admit-full-avg10 X     refuse RUN at io.full.avg10 >= X (default 80)
      --pressure-window DURATION  span the ladder's stall percentages are measured over (default 500ms)
      --pressure-sustain DURATION how long a rule must hold before the engine acts (default 200ms)
      --pressure-cooldown DURATION least time between two actions of one rule (default 1s)
      --pressure-hysteresis DURATION  calm needed before a thaw or a weight restore (default 2s)
      --dry-run                   evaluate and report pressure decisions (dry_run=1), act on none
      --host-pressure DIR         host pressure files read by admission, STATS and the host PSI rule
                                  (default /proc/pressure)
      --host-mem-kill-pct X       kill a victim as soon as MemAvailable < X% of MemTotal (default 10)
      --host-swap-kill-pct X      ... and, on a host with swap, SwapFree < X% of SwapTotal (default 10)
      --host-psi-kill X           kill a victim at host memory full stall >= X% (default 60)
      --host-meminfo PATH         host memory figures for the headroom rule (default /proc/meminfo)
      --host-reclaim-horizon DURATION  kill the growing lowest-priority job when free memory would reach
                                  the zones' low watermark within DURATION while protected jobs'
                                  memory is at risk (default 100ms; 0: off)
      --protect-priority N        jobs at or above priority N are protected: a higher
                                  cpu.weight, the reclaim rule (default 60, 31..100)
      --protect-memory-low        protected jobs (and the root) also get memory.low max
      --socket-group NAME|GID     chgrp the socket (mode 0660) so the group may connect
      --spawn-fallback            always start jobs by fork-and-attach (no clone3)
      --kill-fallback             always kill by freeze+SIGKILL+thaw (no cgroup.kill)
      --request-timeout DURATION  drop a client whose request is incomplete after this (default 30s)
      --write-timeout DURATION    drop a client that takes none of the bytes waiting for it (a reply,
                                  EVENTS or LOGS lines) for this long (default 30s)
      --max-user-conns N          most open connections per non-root uid (default 1024)
      --root-reserve N            descriptors at the top of the open file limit that only root's
                                  connections and jobs may take (default 256)
      --conn-memory SIZE          memory all connections' buffers may hold; over it the largest
                                  connection of the non-root user holding the most is dropped
                                  (default 32M, at least 8M)
      --metrics-file PATH         write the Prometheus metrics (METRICS) to PATH every --metrics-interval,
                                  atomically (temp file + rename), for node_exporter's textfile collector
      --metrics-interval DURATION how often --metrics-file is written (default 15s, at least 1s)
      --max-user-priority N       highest priority a non-root caller may request (default 30: its jobs
                                  stay pressure candidates); above it RUN is refused
      --max-user-jobs N           most live + pending jobs per non-root uid (default 256)
      --max-user-ended N          most ended jobs kept per non-root uid: past it its oldest ended
                                  job is removed, as REMOVE does (default 128; 0: no bound)
      --max-user-run-bytes SIZE   most bytes of argv + env a non-root caller's RUN may carry
                                  (default 64K; max: no bound); above it RUN is refused
      --max-user-ulimit NAME=SOFT[:HARD]  the most of a resource limit a non-root caller's job may
                                  have (repeatable; default: the job default's hard limit); a
                                  RUN asking more is refused, and the defaults are lowered to it
      --state-dir PATH            job records that outlive the daemon: a restart adopts the jobs
                                  (default /run/cgroupd/<root> for root, else under $XDG_RUNTIME_DIR
                                  or /tmp/cgroupd-<uid>; none: keep no records)
  -h, --help                      this help
A negative threshold turns that rule off. The ladder's thresholds (-k, --mem-freeze-some-avg10,
--cpu-demote-some-avg10, --io-freeze-full-avg10) are percentages of time stalled over
--pressure-window, measured from the root's PSI totals; the admission thresholds compare the
kernel's avg10 of the host (a RUN with queue_timeout waits as a pending job instead).
Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for a usage error.
`

// config is the parsed command line.
type config struct {
	Root          string
	Socket        string
	SocketGroup   string
	LogDir        string
	LogMaxSize    int64 // bytes on disk per job log; <= 0: unbounded
	LogRetain     int   // logs of removed jobs kept
	Debug         bool
	SpawnFallback bool
	KillFallback  bool
	ReqTimeout    time.Duration
	// What one user may cost through its connections (server/budget.go).
	WriteTimeout              time.Duration
	MaxUserConns, RootReserve int
	ConnMemory                int64
	Th                        guard.Thresholds
	// The pressure engine's timing (pressure.Config) and dry run.
	Window, Sustain, Cooldown, Hysteresis time.Duration
	DryRun                                bool
	// HostPressure is the directory of the host's pressure files
	// (memory, cpu, io) that admission, STATS and the host PSI rule read.
	HostPressure string
	// HostMeminfo is the host's meminfo, for the headroom rule.
	HostMeminfo string
	// ReclaimHorizon and ProtectLevel: the reclaim rule and what a
	// priority buys (pressure.Config).
	ReclaimHorizon time.Duration
	ProtectLevel   int
	ProtectLow     bool
	// MetricsFile, when set, gets the METRICS text every MetricsInterval.
	MetricsFile     string
	MetricsInterval time.Duration
	// Ceilings for non-root callers (server/users.go; supervisor/retain.go).
	MaxUserPriority, MaxUserJobs, MaxUserEnded int
	MaxUserRunBytes                            int64          // <= 0: no bound
	MaxUserUlimits                             []spawn.Rlimit // --max-user-ulimit, repeatable
	// StateDir holds the job records (package journal); "none": no records.
	StateDir string
}

// minConnMemory is the least --conn-memory: two of the largest requests.
const minConnMemory = 2 * proto.MaxRequest

// defaultConfig is the command line with no flags.
func defaultConfig() *config {
	p := pressure.Defaults()
	return &config{ReqTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxUserConns: 1024, RootReserve: 256, ConnMemory: 32 << 20, LogMaxSize: 8 << 20, LogRetain: 1000, Th: guard.DefaultThresholds(), Window: p.Window, Sustain: p.Sustain, Cooldown: p.Cooldown, Hysteresis: p.Hysteresis,
		HostPressure: "/proc/pressure", HostMeminfo: "/proc/meminfo", ReclaimHorizon: p.ReclaimHorizon, ProtectLevel: p.ProtectLevel,
		MetricsInterval: 15 * time.Second, MaxUserPriority: 30, MaxUserJobs: 256,
		MaxUserEnded: 128, MaxUserRunBytes: 64 << 10}
}

// engineConfig is the pressure engine's policy from the command line.
func (c *config) engineConfig() pressure.Config {
	p := pressure.Defaults()
	p.MemKill, p.MemFreeze, p.CPUDemote, p.IOFreeze = c.Th.MemKill, c.Th.MemFreezeSome, c.Th.CPUDemoteSome, c.Th.IOFreezeFull
	p.HostMemKill, p.HostSwapKill, p.HostPSIKill = c.Th.HostMemKill, c.Th.HostSwapKill, c.Th.HostPSIKill
	p.Window, p.Sustain, p.Cooldown, p.Hysteresis = c.Window, c.Sustain, c.Cooldown, c.Hysteresis
	// At least five samples per window while pressure is active, at most every
	// 100 ms (the default); never less than 1 ms apart.
	p.FastTick = min(p.FastTick, max(c.Window/5, time.Millisecond))
	p.DryRun = c.DryRun
	p.ReclaimHorizon, p.ProtectLevel, p.ProtectMemoryLow = c.ReclaimHorizon, c.ProtectLevel, c.ProtectLow
	return p
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
	c := defaultConfig()
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
	logMax := "8M"
	str(&logMax, "", "log-max-size")
	fs.IntVar(&c.LogRetain, "log-retain", c.LogRetain, "")
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
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "")
	fs.IntVar(&c.MaxUserConns, "max-user-conns", c.MaxUserConns, "")
	fs.IntVar(&c.RootReserve, "root-reserve", c.RootReserve, "")
	connMem := "32M"
	str(&connMem, "", "conn-memory")
	fs.DurationVar(&c.Window, "pressure-window", c.Window, "")
	fs.DurationVar(&c.Sustain, "pressure-sustain", c.Sustain, "")
	fs.DurationVar(&c.Cooldown, "pressure-cooldown", c.Cooldown, "")
	fs.DurationVar(&c.Hysteresis, "pressure-hysteresis", c.Hysteresis, "")
	boolean(&c.DryRun, "", "dry-run")
	str(&c.HostPressure, "", "host-pressure")
	str(&c.HostMeminfo, "", "host-meminfo")
	num(&c.Th.HostMemKill, "", "host-mem-kill-pct")
	num(&c.Th.HostSwapKill, "", "host-swap-kill-pct")
	num(&c.Th.HostPSIKill, "", "host-psi-kill")
	fs.DurationVar(&c.ReclaimHorizon, "host-reclaim-horizon", c.ReclaimHorizon, "")
	fs.IntVar(&c.ProtectLevel, "protect-priority", c.ProtectLevel, "")
	boolean(&c.ProtectLow, "", "protect-memory-low")
	str(&c.MetricsFile, "", "metrics-file")
	fs.DurationVar(&c.MetricsInterval, "metrics-interval", c.MetricsInterval, "")
	fs.IntVar(&c.MaxUserPriority, "max-user-priority", c.MaxUserPriority, "")
	fs.IntVar(&c.MaxUserJobs, "max-user-jobs", c.MaxUserJobs, "")
	fs.IntVar(&c.MaxUserEnded, "max-user-ended", c.MaxUserEnded, "")
	runBytes := "64K"
	str(&runBytes, "", "max-user-run-bytes")
	fs.Func("max-user-ulimit", "", func(v string) error {
		r, err := spawn.ParseUlimit(v)
		if err == nil {
			c.MaxUserUlimits = append(c.MaxUserUlimits, r)
		}
		return err
	})
	str(&c.StateDir, "", "state-dir")
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
	if c.WriteTimeout <= 0 {
		return nil, usageErrorf("--write-timeout: must be positive")
	}
	if c.MaxUserConns < 1 {
		return nil, usageErrorf("--max-user-conns: %d: want at least 1", c.MaxUserConns)
	}
	if c.RootReserve < 0 {
		return nil, usageErrorf("--root-reserve: %d: want 0 or more", c.RootReserve)
	}
	if n, err := limits.ParseSize(connMem); err != nil || n < minConnMemory {
		return nil, usageErrorf("--conn-memory: %q: want a size of at least 8M", connMem)
	} else {
		c.ConnMemory = n
	}
	if c.MetricsInterval < time.Second {
		return nil, usageErrorf("--metrics-interval: must be at least 1s (the housekeeping tick)")
	}
	if c.MaxUserPriority < 0 || c.MaxUserPriority > 100 {
		return nil, usageErrorf("--max-user-priority: %d: want 0..100", c.MaxUserPriority)
	}
	if c.MaxUserJobs < 1 {
		return nil, usageErrorf("--max-user-jobs: %d: want at least 1", c.MaxUserJobs)
	}
	if c.MaxUserEnded < 0 {
		return nil, usageErrorf("--max-user-ended: %d: want 0 or more", c.MaxUserEnded)
	}
	if n, err := limits.ParseSize(runBytes); err != nil {
		return nil, usageErrorf("--max-user-run-bytes: %v", err)
	} else {
		c.MaxUserRunBytes = n
	}
	if n, err := limits.ParseSize(logMax); err != nil {
		return nil, usageErrorf("--log-max-size: %v", err)
	} else if n >= 0 && n < logstore.MinSize {
		return nil, usageErrorf("--log-max-size: %s is below the least size 64K", logMax)
	} else {
		c.LogMaxSize = n
	}
	if c.LogRetain < 0 {
		return nil, usageErrorf("--log-retain: must be 0 or more")
	}
	if fs.NArg() > 0 {
		return nil, usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "r", "root", "s", "socket", "L", "log-dir", "socket-group", "host-pressure", "host-meminfo", "metrics-file", "state-dir":
			if f.Value.String() == "" && bad == nil {
				bad = usageErrorf("-%s: empty value", f.Name)
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	if err := c.engineConfig().Validate(); err != nil {
		return nil, usageErrorf("%s", engineFlagError(err))
	}
	return c, nil
}

// engineFlagError names the flag behind a pressure.Config error.
func engineFlagError(err error) string {
	msg := strings.TrimPrefix(err.Error(), pressure.ErrConfig.Error()+": ")
	for _, m := range []struct{ field, flag string }{
		{"mem_kill", "--mem-kill-avg10"}, {"mem_freeze", "--mem-freeze-some-avg10"},
		{"cpu_demote", "--cpu-demote-some-avg10"}, {"io_freeze", "--io-freeze-full-avg10"},
		{"host_mem_kill", "--host-mem-kill-pct"}, {"host_swap_kill", "--host-swap-kill-pct"},
		{"host_psi_kill", "--host-psi-kill"},
		{"window", "--pressure-window"}, {"sustain", "--pressure-sustain"},
		{"cooldown", "--pressure-cooldown"}, {"hysteresis", "--pressure-hysteresis"},
		{"reclaim horizon", "--host-reclaim-horizon"}, {"protect level", "--protect-priority"},
	} {
		if strings.HasPrefix(msg, m.field+" ") {
			return m.flag + ": " + strings.TrimPrefix(msg, m.field+" ")
		}
	}
	return msg
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

// defaultSocket is $CGROUPD_SOCKET, else the PROTOCOL.md default for uid.
func defaultSocket(uid int, env func(string) string, dirExists func(string) bool) string {
	if s := env("CGROUPD_SOCKET"); s != "" {
		return s
	}
	return proto.DefaultSocket(uid, dirExists)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
