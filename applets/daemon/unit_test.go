package daemon

import (
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/guard"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/usagedoc"
)

func TestParseFlags(t *testing.T) {
	// with returns the default config changed by f.
	with := func(f func(c *config)) config {
		c := defaultConfig()
		if f != nil {
			f(c)
		}
		return *c
	}
	def := with(nil)
	tests := []struct {
		name string
		args []string
		want config
		err  string // "" ok, "help", or substring of a usage error
	}{
		{name: "defaults", args: nil, want: def},
		{name: "short", args: []string{"-r", "/x", "-s", "/s.sock", "-d", "-L", "/logs", "-k", "7"},
			want: with(func(c *config) {
				c.Root, c.Socket, c.Debug, c.LogDir, c.Th.MemKill = "/x", "/s.sock", true, "/logs", 7
			})},
		{name: "long with =", args: []string{"--root=/x", "--socket=/s", "--debug", "--log-dir=/l", "--mem-kill-avg10=5.5"},
			want: with(func(c *config) { c.Root, c.Socket, c.Debug, c.LogDir, c.Th.MemKill = "/x", "/s", true, "/l", 5.5 })},
		{name: "negative threshold", args: []string{"--mem-admit-some-avg10", "-1", "--io-admit-full-avg10=0"},
			want: with(func(c *config) { c.Th.MemAdmitSome, c.Th.IOAdmitFull = -1, 0 })},
		{name: "extensions", args: []string{"--spawn-fallback", "--kill-fallback", "--socket-group", "wheel"},
			want: with(func(c *config) { c.SpawnFallback, c.KillFallback, c.SocketGroup = true, true, "wheel" })},
		{name: "every threshold", args: []string{"--mem-freeze-some-avg10", "1", "--cpu-demote-some-avg10", "2", "--io-freeze-full-avg10", "3",
			"--mem-admit-full-avg10", "4", "--cpu-admit-some-avg10", "5"},
			want: with(func(c *config) {
				c.Th = guard.Thresholds{MemKill: 60, MemFreezeSome: 1, CPUDemoteSome: 2, IOFreezeFull: 3, MemAdmitSome: 80, MemAdmitFull: 4, CPUAdmitSome: 5, IOAdmitFull: 80, HostMemKill: 10, HostSwapKill: 10, HostPSIKill: 60}
			})},
		{name: "host rules", args: []string{"--host-mem-kill-pct", "5", "--host-swap-kill-pct=20", "--host-psi-kill", "-1", "--host-meminfo", "/x/meminfo"},
			want: with(func(c *config) {
				c.Th.HostMemKill, c.Th.HostSwapKill, c.Th.HostPSIKill, c.HostMeminfo = 5, 20, -1, "/x/meminfo"
			})},
		{name: "host threshold over 100", args: []string{"--host-mem-kill-pct", "101"}, err: "--host-mem-kill-pct: 101: want a percentage"},
		{name: "empty meminfo", args: []string{"--host-meminfo="}, err: "empty value"},
		{name: "request timeout", args: []string{"--request-timeout", "2s"}, want: with(func(c *config) { c.ReqTimeout = 2 * time.Second })},
		{name: "engine timing and dry run", args: []string{"--pressure-window", "2s", "--pressure-sustain=0s", "--pressure-cooldown", "3s",
			"--pressure-hysteresis", "10s", "--dry-run", "--host-pressure", "/x/pressure"},
			want: with(func(c *config) {
				c.Window, c.Sustain, c.Cooldown, c.Hysteresis, c.DryRun, c.HostPressure = 2*time.Second, 0, 3*time.Second, 10*time.Second, true, "/x/pressure"
			})},
		{name: "bad request timeout", args: []string{"--request-timeout=0s"}, err: "must be positive"},
		{name: "connection bounds", args: []string{"--write-timeout", "5s", "--max-user-conns", "10", "--root-reserve=0", "--conn-memory", "64M"},
			want: with(func(c *config) {
				c.WriteTimeout, c.MaxUserConns, c.RootReserve, c.ConnMemory = 5*time.Second, 10, 0, 64<<20
			})},
		{name: "bad write timeout", args: []string{"--write-timeout", "0s"}, err: "--write-timeout: must be positive"},
		{name: "no user connection", args: []string{"--max-user-conns", "0"}, err: "--max-user-conns: 0: want at least 1"},
		{name: "negative root reserve", args: []string{"--root-reserve", "-1"}, err: "--root-reserve: -1: want 0 or more"},
		{name: "conn memory below 8M", args: []string{"--conn-memory", "4M"}, err: `--conn-memory: "4M": want a size of at least 8M`},
		{name: "conn memory unbounded", args: []string{"--conn-memory", "max"}, err: `--conn-memory: "max": want a size`},
		{name: "window too short", args: []string{"--pressure-window", "1ms"}, err: "--pressure-window: 1ms: want 10ms..10s"},
		{name: "window too long", args: []string{"--pressure-window", "11s"}, err: "--pressure-window: 11s"},
		{name: "negative sustain", args: []string{"--pressure-sustain", "-1s"}, err: "--pressure-sustain: -1s: must not be negative"},
		{name: "threshold over 100", args: []string{"-k", "101"}, err: "--mem-kill-avg10: 101: want a percentage"},
		{name: "empty host pressure", args: []string{"--host-pressure="}, err: "empty value"},
		{name: "help short", args: []string{"-h"}, err: "help"},
		{name: "help long", args: []string{"--help"}, err: "help"},
		{name: "unknown flag", args: []string{"--frob"}, err: "frob"},
		{name: "bad number", args: []string{"-k", "lots"}, err: "not a number"},
		{name: "positional", args: []string{"extra"}, err: "unexpected argument"},
		{name: "empty root", args: []string{"--root="}, err: "empty value"},
		{name: "missing value", args: []string{"-r"}, err: "argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFlags(tc.args)
			switch {
			case tc.err == "help":
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("got err %v, want flag.ErrHelp", err)
				}
			case tc.err != "":
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got err %v, want usage error containing %q", err, tc.err)
				}
			case err != nil:
				t.Fatalf("got err %v, want nil", err)
			case !reflect.DeepEqual(*got, tc.want):
				t.Fatalf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestEngineConfig(t *testing.T) {
	c, err := parseFlags([]string{"-k", "5", "--mem-freeze-some-avg10", "-1", "--pressure-window", "2s", "--dry-run"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.engineConfig()
	want := pressure.Defaults()
	want.MemKill, want.MemFreeze, want.Window, want.DryRun = 5, -1, 2*time.Second, true
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	c.Window = 50 * time.Millisecond
	if got := c.engineConfig().FastTick; got != 10*time.Millisecond {
		t.Errorf("window 50ms: got fast tick %v, want 10ms (a fifth of the window)", got)
	}
}

func TestDefaultSocket(t *testing.T) {
	tests := []struct {
		name   string
		uid    int
		env    string
		runDir bool
		want   string
	}{
		{"env wins", 0, "/x.sock", false, "/x.sock"},
		{"root", 0, "", true, "/run/cgroupd.sock"},
		{"user with runtime dir", 1000, "", true, "/run/user/1000/cgroupd.sock"},
		{"user without", 1000, "", false, "/tmp/cgroupd-1000.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := defaultSocket(tc.uid, func(string) string { return tc.env }, func(string) bool { return tc.runDir })
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultRoot(t *testing.T) {
	tests := []struct {
		name    string
		mount   string
		self    string
		uid     int
		userDir bool
		want    string
	}{
		{"root on hybrid host", "/sys/fs/cgroup/unified", "/", 0, false, "/sys/fs/cgroup/unified/cgroupd.slice"},
		{"root on unified host", "/sys/fs/cgroup", "/system.slice/cgroupd.service", 0, false, "/sys/fs/cgroup/cgroupd.slice"},
		{"user with systemd", "/sys/fs/cgroup", "/user.slice/user-1000.slice/session-2.scope", 1000, true,
			"/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroupd.slice"},
		{"user beside own cgroup", "/sys/fs/cgroup", "/a/b", 1000, false, "/sys/fs/cgroup/a/cgroupd.slice"},
		{"user at top", "/sys/fs/cgroup", "/", 1000, false, "/sys/fs/cgroup/cgroupd.slice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := defaultRoot(tc.mount, tc.self, tc.uid, func(string) bool { return tc.userDir })
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		mount, root string
		want        []string
		err         bool
	}{
		{"/m", "/m", []string{"/m"}, false},
		{"/m", "/m/a/b", []string{"/m", "/m/a", "/m/a/b"}, false},
		{"/m/", "/m/a/", []string{"/m", "/m/a"}, false},
		{"/m", "/other", nil, true},
		{"/m", "/mx", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.root, func(t *testing.T) {
			got, err := levels(tc.mount, tc.root)
			if (err != nil) != tc.err {
				t.Fatalf("got err %v, want error %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDocMatchesUsage: the package doc in daemon.go shows -h verbatim.
func TestDocMatchesUsage(t *testing.T) { usagedoc.Check(t, "daemon.go", usage) }

// TestUsageErrorOneLine: a bad flag is one line on stderr, naming -h,
// exit 2 (not the whole option list).
func TestUsageErrorOneLine(t *testing.T) {
	var out, errb strings.Builder
	code := Run([]string{"--no-such-flag"}, strings.NewReader(""), &out, &errb)
	if code != 2 || out.Len() != 0 || errb.String() != "cgroupd: flag provided but not defined: -no-such-flag (see 'cgroupd -h')\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, one line", code, out.String(), errb.String())
	}
}
