package daemon

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/usagedoc"
	"cgroupd/core/hostmem"
	"cgroupd/core/limits"
	"cgroupd/core/proto"
	"cgroupd/core/psi"
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
			want: with(func(c *config) { c.Th = thresholds{60, 1, 2, 3, 80, 4, 5, 80, 10, 10, 60} })},
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

func TestGenID(t *testing.T) {
	taken := map[string]bool{"job-1": true, "job-2": true, "job-4": true}
	next := 1
	var got []string
	for i := 0; i < 3; i++ {
		id := genID(&next, func(id string) bool { return taken[id] })
		taken[id] = true
		got = append(got, id)
	}
	want := []string{"job-3", "job-5", "job-6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if next != 7 {
		t.Errorf("got next %d, want 7", next)
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		present bool
		want    int
		err     bool
	}{
		{"", false, 9, false},
		{"15", true, 15, false},
		{"1", true, 1, false},
		{"64", true, 64, false},
		{"0", true, 0, true},
		{"65", true, 0, true},
		{"TERM", true, 0, true},
		{"-9", true, 0, true},
	}
	for _, tc := range tests {
		got, err := parseSignal(tc.in, tc.present)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSignal(%q): got %d, %v, want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func req(verb string, kv ...string) *proto.Request {
	r := &proto.Request{Verb: verb}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Headers = append(r.Headers, proto.Header{Key: kv[i], Value: kv[i+1]})
	}
	return r
}

func TestParseRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=/bin", "HOME=/root"}
	tests := []struct {
		name   string
		req    *proto.Request
		reason string // refusal reason (prefix); "" = accepted
		check  func(t *testing.T, s *runSpec)
	}{
		{name: "minimal", req: req("RUN", "arg", "true"), check: func(t *testing.T, s *runSpec) {
			if s.ID != "job-1" || s.Priority != 50 || s.Cwd != "/daemon" || !reflect.DeepEqual(s.Argv, []string{"true"}) {
				t.Errorf("got %+v, want id job-1 priority 50 cwd /daemon argv [true]", s)
			}
		}},
		{name: "generated id skips taken", req: req("RUN", "arg", "true"), check: func(t *testing.T, s *runSpec) {}},
		{name: "env overrides by key", req: req("RUN", "arg", "env", "env", "HOME=/x", "env", "NEW=1", "env", "EMPTY="),
			check: func(t *testing.T, s *runSpec) {
				want := []string{"PATH=/bin", "HOME=/x", "NEW=1", "EMPTY="}
				if !reflect.DeepEqual(s.Env, want) {
					t.Errorf("got env %q, want %q", s.Env, want)
				}
			}},
		{name: "everything", req: req("RUN", "id", "a.b-c_1", "priority", "10", "cwd", dir, "require_path", file,
			"service", "sleep 1", "service", "sleep 2", "queue_timeout", "30s", "arg", "sleep", "arg", "1"),
			check: func(t *testing.T, s *runSpec) {
				if s.ID != "a.b-c_1" || s.Priority != 10 || s.Cwd != dir || len(s.Services) != 2 ||
					len(s.RequirePaths) != 1 || s.QueueTimeout != 30*time.Second {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "relative cwd", req: req("RUN", "arg", "x", "cwd", filepath.Base(dir)), reason: "cwd: "},
		{name: "id exists", req: req("RUN", "id", "taken", "arg", "true"), reason: "id exists"},
		{name: "id dotdot", req: req("RUN", "id", "..", "arg", "true"), reason: "id: "},
		{name: "id escape", req: req("RUN", "id", "../x", "arg", "true"), reason: "id: "},
		{name: "id dot", req: req("RUN", "id", ".", "arg", "true"), reason: "id: "},
		{name: "id underscore", req: req("RUN", "id", "_daemon", "arg", "true"), reason: "id: "},
		{name: "id slash", req: req("RUN", "id", "a/b", "arg", "true"), reason: "id: "},
		{name: "id empty", req: req("RUN", "id", "", "arg", "true"), reason: "id: "},
		{name: "id 65 chars", req: req("RUN", "id", strings.Repeat("a", 65), "arg", "true"), reason: "id: "},
		{name: "id 64 chars", req: req("RUN", "id", strings.Repeat("a", 64), "arg", "true")},
		{name: "no command", req: req("RUN", "id", "x"), reason: "no command"},
		{name: "empty command", req: req("RUN", "arg", ""), reason: "no command"},
		{name: "bad size", req: req("RUN", "arg", "x", "memory_max", "12Q"), reason: "memory_max: "},
		{name: "bad cpu_weight", req: req("RUN", "arg", "x", "cpu_weight", "0"), reason: "cpu_weight: "},
		{name: "bare cpu_max quota", req: req("RUN", "arg", "x", "cpu_max", "100000"), reason: "cpu_max: invalid value"},
		{name: "bad priority", req: req("RUN", "arg", "x", "priority", "101"), reason: "priority: "},
		{name: "bad queue_timeout", req: req("RUN", "arg", "x", "queue_timeout", "soon"), reason: "queue_timeout: "},
		{name: "zero queue_timeout", req: req("RUN", "arg", "x", "queue_timeout", "0s"), reason: "queue_timeout: 0s: want more than 0 and at most 24h0m0s"},
		{name: "queue_timeout over a day", req: req("RUN", "arg", "x", "queue_timeout", "25h"), reason: "queue_timeout: 25h0m0s: want more than 0"},
		{name: "negative queue_timeout", req: req("RUN", "arg", "x", "queue_timeout", "-3s"), reason: "queue_timeout: invalid duration"},
		{name: "queue_timeout in seconds", req: req("RUN", "arg", "x", "queue_timeout", "90"), check: func(t *testing.T, s *runSpec) {
			if s.QueueTimeout != 90*time.Second {
				t.Errorf("got queue timeout %v, want 1m30s", s.QueueTimeout)
			}
		}},
		{name: "env without =", req: req("RUN", "arg", "x", "env", "FOO"), reason: "env: "},
		{name: "cwd missing", req: req("RUN", "arg", "x", "cwd", filepath.Join(dir, "nope")), reason: "cwd: "},
		{name: "cwd not dir", req: req("RUN", "arg", "x", "cwd", file), reason: "cwd: "},
		{name: "require_path missing", req: req("RUN", "arg", "x", "require_path", file, "require_path", "/nonexistent/p"),
			reason: "missing path: /nonexistent/p"},
		{name: "limits parsed", req: req("RUN", "arg", "x", "memory_max", "64M", "io_max", "8:0 rbps=1", "io_max", "8:16 wbps=2"),
			check: func(t *testing.T, s *runSpec) {
				if s.IOMaxCount != 2 || len(s.Settings) == 0 {
					t.Errorf("got io_max count %d settings %v, want 2 and some", s.IOMaxCount, s.Settings)
				}
			}},
	}
	next := 1
	taken := map[string]bool{"taken": true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := runEnv{Env: append([]string(nil), base...), Cwd: "/daemon", NextID: &next,
				Taken: func(id string) bool { return taken[id] }}
			s, rf := parseRun(tc.req, e)
			if tc.reason == "" {
				if rf != nil {
					t.Fatalf("got refusal %q %v, want accepted", rf.reason, rf.kv)
				}
				taken[s.ID] = true
				if tc.check != nil {
					tc.check(t, s)
				}
				return
			}
			if rf == nil {
				t.Fatalf("got accepted %+v, want refusal %q", s, tc.reason)
			}
			if !strings.HasPrefix(rf.reason, tc.reason) {
				t.Errorf("got reason %q, want prefix %q", rf.reason, tc.reason)
			}
		})
	}
}

func TestCheckControllers(t *testing.T) {
	mem := limits.Setting{Key: "memory_max", Controller: "memory", File: "memory.max", Value: "1"}
	cpu := limits.Setting{Key: "cpu_weight", Controller: "cpu", File: "cpu.weight", Value: "1"}
	tests := []struct {
		name     string
		settings []limits.Setting
		enabled  []string
		want     string
	}{
		{"none needed", nil, nil, ""},
		{"available", []limits.Setting{mem, cpu}, []string{"cpu", "memory"}, ""},
		{"memory missing", []limits.Setting{cpu, mem}, []string{"cpu"}, "memory_max: controller memory not available in /r"},
		{"no controllers", []limits.Setting{cpu}, nil, "cpu_weight: controller cpu not available in /r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rf := checkControllers(tc.settings, tc.enabled, "/r")
			got := ""
			if rf != nil {
				got = rf.reason
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAdmission(t *testing.T) {
	def := thresholds{MemAdmitSome: 80, MemAdmitFull: 15, CPUAdmitSome: 95, IOAdmitFull: 80}
	p := func(some, full float64) psi.PSI {
		return psi.PSI{Some: psi.Line{Avg10: some}, Full: psi.Line{Avg10: full}, HasFull: true}
	}
	tests := []struct {
		name   string
		th     thresholds
		host   map[string]psi.PSI // missing resource: PSI off
		want   string
		wantRs string
	}{
		{"calm host", def, map[string]psi.PSI{"memory": p(1, 0), "cpu": p(3, 0), "io": p(0, 0)}, "", ""},
		{"memory some", def, map[string]psi.PSI{"memory": p(80, 1), "cpu": p(99, 0), "io": p(0, 0)},
			"admission blocked: memory.some.avg10 80.00 >= 80.00", "memory"},
		{"memory full", def, map[string]psi.PSI{"memory": p(20, 15.5), "cpu": p(0, 0), "io": p(0, 0)},
			"admission blocked: memory.full.avg10 15.50 >= 15.00", "memory"},
		{"cpu some", def, map[string]psi.PSI{"memory": p(0, 0), "cpu": p(96.123, 0), "io": p(0, 0)},
			"admission blocked: cpu.some.avg10 96.12 >= 95.00", "cpu"},
		{"io full", def, map[string]psi.PSI{"memory": p(0, 0), "cpu": p(0, 0), "io": p(90, 80)},
			"admission blocked: io.full.avg10 80.00 >= 80.00", "io"},
		{"zero threshold blocks a calm host", thresholds{MemAdmitSome: 0, MemAdmitFull: -1, CPUAdmitSome: -1, IOAdmitFull: -1},
			map[string]psi.PSI{"memory": p(0, 0)}, "admission blocked: memory.some.avg10 0.00 >= 0.00", "memory"},
		{"all disabled", thresholds{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, map[string]psi.PSI{"memory": p(100, 100)}, "", ""},
		{"psi off", def, map[string]psi.PSI{}, "", ""},
		{"rounds to two decimals", def, map[string]psi.PSI{"memory": p(0, 0), "cpu": p(99.999, 0), "io": p(0, 0)},
			"admission blocked: cpu.some.avg10 100.00 >= 95.00", "cpu"},
		{"order: memory some first", def, map[string]psi.PSI{"memory": p(90, 90), "cpu": p(99, 0), "io": p(99, 99)},
			"admission blocked: memory.some.avg10 90.00 >= 80.00", "memory"},
		{"order: memory full before cpu", def, map[string]psi.PSI{"memory": p(0, 20), "cpu": p(99, 0), "io": p(99, 99)},
			"admission blocked: memory.full.avg10 20.00 >= 15.00", "memory"},
		{"just below", def, map[string]psi.PSI{"memory": p(79.999, 0), "cpu": p(0, 0), "io": p(0, 0)}, "", ""},
		{"spec example", thresholds{MemAdmitSome: 0, MemAdmitFull: -1, CPUAdmitSome: -1, IOAdmitFull: -1},
			map[string]psi.PSI{"memory": p(3.2, 0)}, "admission blocked: memory.some.avg10 3.20 >= 0.00", "memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := admission(tc.th, func(r string) (psi.PSI, error) {
				v, ok := tc.host[r]
				if !ok {
					return psi.PSI{}, os.ErrNotExist
				}
				return v, nil
			})
			got, gotRs := "", ""
			if b != nil {
				got, gotRs = b.Reason, b.Resource
			}
			if got != tc.want || gotRs != tc.wantRs {
				t.Errorf("got %q (%s), want %q (%s)", got, gotRs, tc.want, tc.wantRs)
			}
		})
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30", 30 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"-1s", 0, true},
		{"x", 0, true},
	}
	for _, tc := range tests {
		got, err := parseTimeout(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseTimeout(%q): got %v, %v, want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestJobOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		priority int
		root     bool
		want     int
	}{
		{0, true, 500}, {5, true, 450}, {30, true, 200}, {50, true, 0}, {90, true, -400}, {100, true, -500},
		{5, false, 450}, {50, false, 0}, {90, false, 0}, // a non-root caller cannot protect its job
	} {
		if got := jobOOMScoreAdj(tc.priority, tc.root); got != tc.want {
			t.Errorf("jobOOMScoreAdj(%d, root=%v) = %d, want %d", tc.priority, tc.root, got, tc.want)
		}
	}
}

func TestHeadroomBlock(t *testing.T) {
	def := defaultConfig().Th
	write := func(s string) *hostmem.Reader {
		p := filepath.Join(t.TempDir(), "meminfo")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := hostmem.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	noPSI := func(string) (psi.PSI, error) { return psi.PSI{}, os.ErrNotExist }
	low := write("MemTotal: 1000000 kB\nMemAvailable: 50000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n")
	if b := headroomBlock(def, low, noPSI); b == nil || b.Reason != "admission blocked: host memory available 5.00% < 10.00%" {
		t.Errorf("5%% available: got %+v", b)
	}
	if b := headroomBlock(def, write("MemTotal: 1000000 kB\nMemAvailable: 500000 kB\n"), noPSI); b != nil {
		t.Errorf("50%% available: got %+v, want admitted", b)
	}
	swap := write("MemTotal: 1000000 kB\nMemAvailable: 50000 kB\nSwapTotal: 100 kB\nSwapFree: 50 kB\n")
	if b := headroomBlock(def, swap, noPSI); b != nil {
		t.Errorf("swap half free: got %+v, want admitted", b)
	}
	off := def
	off.HostMemKill = -1
	if b := headroomBlock(off, low, noPSI); b != nil || headroomBlock(def, nil, noPSI) != nil {
		t.Errorf("rule off or meminfo unknown: got a block")
	}
}

// TestDocMatchesUsage: the package doc in daemon.go shows -h verbatim.
func TestDocMatchesUsage(t *testing.T) { usagedoc.Check(t, "daemon.go", usage) }
