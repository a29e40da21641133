package ctl

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cgroupd/applets/usagedoc"
	"cgroupd/core/event"
)

var update = flag.Bool("update", false, "rewrite the golden requests in testdata/ctl")

const goldenDir = "../../testdata/ctl"

// TestRequestGolden checks the exact bytes each command line sends against
// testdata/ctl/<name>.golden (go test -update rewrites them).
func TestRequestGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		mode mode
	}{
		{"ping", []string{"ping"}, modePlain},
		{"quit", []string{"quit"}, modePlain},
		{"list", []string{"list"}, modePlain},
		{"stats", []string{"stats"}, modePlain},
		{"inspect", []string{"inspect", "job-1"}, modePlain},
		{"freeze", []string{"freeze", "job-1"}, modePlain},
		{"thaw", []string{"thaw", "job-1"}, modePlain},
		{"remove", []string{"remove", "job-1"}, modePlain},
		{"wait", []string{"wait", "job-1"}, modeWait},
		{"kill", []string{"kill", "job-1"}, modePlain},
		{"kill-signal-positional", []string{"kill", "job-1", "signal", "15"}, modePlain},
		{"kill-signal-flag", []string{"kill", "job-1", "--signal", "15"}, modePlain},
		{"kill-signal-flag-first", []string{"kill", "--signal=15", "job-1"}, modePlain},
		{"kill-signal-name", []string{"kill", "job-1", "signal", "TERM"}, modePlain},
		{"kill-signal-signame", []string{"kill", "job-1", "--signal", "sigterm"}, modePlain},
		{"logs", []string{"logs", "job-1"}, modeStream},
		{"logs-follow", []string{"logs", "job-1", "--follow"}, modeStream},
		{"logs-follow-short", []string{"logs", "-f", "job-1"}, modeStream},
		{"events", []string{"events"}, modeStream},
		{"events-follow-filters", []string{"events", "-f", "--id", "job-1", "--type", "job.oom,job.exit"}, modeStream},
		{"run-minimal", []string{"run", "--", "sleep", "10"}, modePlain},
		{"run-no-dashdash", []string{"run", "--id", "a", "sleep", "10", "--not-an-option"}, modePlain},
		{"run-all-options", []string{"run",
			"--env", "A=1", "--id", "big", "--priority", "10", "--cwd", "/tmp",
			"--env", "B=two words",
			"--cpu-max", "50000/100000", "--cpu-weight", "200", "--cpuset-cpus", "0-1", "--cpuset-mems", "0",
			"--memory-max", "64M", "--memory-high", "48M", "--memory-low", "8M", "--memory-min", "4M",
			"--memory-swap-max", "0", "--io-weight", "300",
			"--io-max", "8:0 rbps=1M", "--io-max", "8:16 wiops=100",
			"--pids-max", "64", "--require-path", "/etc/hostname", "--require-path", "/tmp",
			"--service", "sleep 100", "--service", "echo hi",
			"--queue-timeout", "30s",
			"--", "sh", "-c", "echo $A: ok", ""}, modePlain},
		{"run-single-dash-and-equals", []string{"run", "-id=x", "-memory-max", "1G", "--cpu-max=max", "--", "true"}, modePlain},
		{"run-empty-value-is-sent", []string{"run", "--cwd", "", "--", "true"}, modePlain},
		{"run-tab-in-arg", []string{"run", "--", "printf", "a\tb"}, modePlain},
		{"global-socket-before", []string{"--socket", "/x.sock", "ping"}, modePlain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := parseArgs(tc.args)
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if inv.mode != tc.mode {
				t.Errorf("mode: got %d, want %d", inv.mode, tc.mode)
			}
			got, err := inv.req.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			path := filepath.Join(goldenDir, tc.name+".golden")
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("request for %q:\ngot  %q\nwant %q", tc.args, got, want)
			}
		})
	}
}

func TestSocketOption(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ping"}, ""},
		{[]string{"--socket", "/a.sock", "ping"}, "/a.sock"},
		{[]string{"--socket=/b.sock", "ping"}, "/b.sock"},
		{[]string{"-s", "/c.sock", "ping"}, "/c.sock"},
		{[]string{"-socket", "/d.sock", "ping"}, "/d.sock"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			inv, err := parseArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if inv.socket != tc.want {
				t.Errorf("got %q, want %q", inv.socket, tc.want)
			}
		})
	}
}

func TestDefaultSocketEnv(t *testing.T) {
	t.Setenv("CGROUPD_SOCKET", "/env/path.sock")
	if got, want := defaultSocket(), "/env/path.sock"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	t.Setenv("CGROUPD_SOCKET", "")
	got := defaultSocket()
	if os.Getuid() == 0 && got != "/run/cgroupd.sock" {
		t.Errorf("got %q, want /run/cgroupd.sock for root", got)
	}
	if got == "" {
		t.Error("got an empty default socket")
	}
}

// TestUsageErrors runs the applet on bad command lines: exit 2, one line on
// stderr, nothing on stdout. The socket points nowhere, so a bug that
// connects would show as exit 1.
func TestUsageErrors(t *testing.T) {
	nowhere := filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no subcommand", nil, "cgroupctl: missing subcommand (see 'cgroupctl -h')"},
		{"unknown subcommand", []string{"frob"}, `cgroupctl: unknown subcommand "frob" (see 'cgroupctl -h')`},
		{"unknown global flag", []string{"--frob", "ping"}, "cgroupctl: flag provided but not defined: -frob (see 'cgroupctl -h')"},
		{"socket without value", []string{"--socket"}, "cgroupctl: flag needs an argument: -socket (see 'cgroupctl -h')"},
		{"empty socket", []string{"--socket=", "ping"}, "cgroupctl: --socket: empty path (see 'cgroupctl -h')"},
		{"ping extra", []string{"ping", "x"}, `cgroupctl: ping: unexpected argument "x" (see 'cgroupctl ping -h')`},
		{"list extra", []string{"list", "-a"}, `cgroupctl: list: unexpected argument "-a" (see 'cgroupctl list -h')`},
		{"inspect no id", []string{"inspect"}, "cgroupctl: inspect: want exactly one ID, got 0 arguments (see 'cgroupctl inspect -h')"},
		{"inspect two ids", []string{"inspect", "a", "b"}, "cgroupctl: inspect: want exactly one ID, got 2 arguments (see 'cgroupctl inspect -h')"},
		{"wait unknown option", []string{"wait", "--x", "a"}, `cgroupctl: wait: unknown option "--x" (see 'cgroupctl wait -h')`},
		{"kill no id", []string{"kill"}, "cgroupctl: kill: want ID [SIGNAL] (see 'cgroupctl kill -h')"},
		{"kill signal no value", []string{"kill", "a", "signal"}, "cgroupctl: kill: signal needs a value (see 'cgroupctl kill -h')"},
		{"kill --signal no value", []string{"kill", "a", "--signal"}, "cgroupctl: kill: --signal needs a signal (see 'cgroupctl kill -h')"},
		{"kill bad signal", []string{"kill", "a", "signal", "NOPE"}, `cgroupctl: kill: invalid signal "NOPE" (see 'cgroupctl kill -h')`},
		{"kill negative signal", []string{"kill", "a", "--signal", "-1"}, `cgroupctl: kill: invalid signal "-1" (see 'cgroupctl kill -h')`},
		{"kill signal twice", []string{"kill", "a", "--signal", "9", "signal", "15"}, "cgroupctl: kill: signal given twice (see 'cgroupctl kill -h')"},
		{"logs no id", []string{"logs", "-f"}, "cgroupctl: logs: want exactly one ID, got 0 arguments (see 'cgroupctl logs -h')"},
		{"logs unknown option", []string{"logs", "a", "--tail"}, `cgroupctl: logs: unknown option "--tail" (see 'cgroupctl logs -h')`},
		{"events id twice", []string{"events", "--id", "a", "--id", "b"}, "cgroupctl: events: --id given twice (see 'cgroupctl events -h')"},
		{"events no type", []string{"events", "--type"}, "cgroupctl: events: --type needs a value (see 'cgroupctl events -h')"},
		{"events argument", []string{"events", "a"}, `cgroupctl: events: unexpected argument "a" (see 'cgroupctl events -h')`},
		{"run unknown option", []string{"run", "--memory", "1G", "--", "true"}, "cgroupctl: run: flag provided but not defined: -memory (see 'cgroupctl run -h')"},
		{"run missing value", []string{"run", "--id"}, "cgroupctl: run: flag needs an argument: -id (see 'cgroupctl run -h')"},
		{"run no command", []string{"run", "--id", "a"}, "cgroupctl: run: missing command (want: run [opts] -- argv...) (see 'cgroupctl run -h')"},
		{"run nothing after --", []string{"run", "--id", "a", "--"}, "cgroupctl: run: missing command (want: run [opts] -- argv...) (see 'cgroupctl run -h')"},
		{"run nothing at all", []string{"run"}, "cgroupctl: run: missing command (want: run [opts] -- argv...) (see 'cgroupctl run -h')"},
		{"run bad queue timeout", []string{"run", "--queue-timeout", "30", "--", "true"}, `cgroupctl: run: --queue-timeout: invalid duration "30" (want e.g. 30s, 2m) (see 'cgroupctl run -h')`},
		{"run negative queue timeout", []string{"run", "--queue-timeout", "-1s", "--", "true"}, `cgroupctl: run: --queue-timeout: invalid duration "-1s" (want e.g. 30s, 2m) (see 'cgroupctl run -h')`},
		{"run env without =", []string{"run", "--env", "A", "--", "true"}, `cgroupctl: run: --env: want K=V, got "A" (see 'cgroupctl run -h')`},
		{"run env empty key", []string{"run", "--env", "=1", "--", "true"}, `cgroupctl: run: --env: want K=V, got "=1" (see 'cgroupctl run -h')`},
		{"LF in arg", []string{"run", "--", "echo", "a\nb"}, "cgroupctl: run: arg must not contain CR or LF (see 'cgroupctl run -h')"},
		{"CR in env", []string{"run", "--env", "A=1\r", "--", "true"}, "cgroupctl: run: env must not contain CR or LF (see 'cgroupctl run -h')"},
		{"LF in service", []string{"run", "--service", "a\nb", "--", "true"}, "cgroupctl: run: service must not contain CR or LF (see 'cgroupctl run -h')"},
		{"LF in cwd", []string{"run", "--cwd", "/tmp\n", "--", "true"}, "cgroupctl: run: cwd must not contain CR or LF (see 'cgroupctl run -h')"},
		{"LF in memory_max", []string{"run", "--memory-max", "1G\nmemory_max: max", "--", "true"}, "cgroupctl: run: memory_max must not contain CR or LF (see 'cgroupctl run -h')"},
		{"LF in id", []string{"inspect", "a\nb"}, "cgroupctl: inspect: id must not contain CR or LF (see 'cgroupctl inspect -h')"},
		{"LF in unknown subcommand stays one line", []string{"a\nb"}, `cgroupctl: unknown subcommand "a\\nb" (see 'cgroupctl -h')`},
		{"run id that is an option", []string{"run", "--id", "-h", "--", "true"}, `cgroupctl: run: --id: "-h" is not an id (an id cannot start with '-') (see 'cgroupctl run -h')`},
		{"run id that is --", []string{"run", "--id", "--", "sleep", "1"}, `cgroupctl: run: --id: "--" is not an id (an id cannot start with '-') (see 'cgroupctl run -h')`},
		{"inspect id after --", []string{"inspect", "--", "-x"}, `cgroupctl: inspect: ID: "-x" is not an id (an id cannot start with '-') (see 'cgroupctl inspect -h')`},
		{"kill id after --", []string{"kill", "--", "-9"}, `cgroupctl: kill: ID: "-9" is not an id (an id cannot start with '-') (see 'cgroupctl kill -h')`},
		{"logs id after --", []string{"logs", "--", "-f"}, `cgroupctl: logs: ID: "-f" is not an id (an id cannot start with '-') (see 'cgroupctl logs -h')`},
		{"events id that is an option", []string{"events", "--id", "-f"}, `cgroupctl: events: --id: "-f" is not an id (an id cannot start with '-') (see 'cgroupctl events -h')`},
		{"events unknown type", []string{"events", "--type", "job.exit,bogus"}, `cgroupctl: events: --type: unknown event type "bogus" (known: cgroup.stray, cgroup.unknown, client.drop, daemon.upgrade, events.dropped, job.adopt, job.cleanup, job.exit, job.freeze, job.kill, job.oom, job.start, job.thaw, job.throttle, pressure, state.corrupt) (see 'cgroupctl events -h')`},
		{"events empty type in list", []string{"events", "--type", "job.exit,"}, `cgroupctl: events: --type: unknown event type "" (known: cgroup.stray, cgroup.unknown, client.drop, daemon.upgrade, events.dropped, job.adopt, job.cleanup, job.exit, job.freeze, job.kill, job.oom, job.start, job.thaw, job.throttle, pressure, state.corrupt) (see 'cgroupctl events -h')`},
		{"top --json", []string{"top", "-b", "--json"}, "cgroupctl: top: --json is not supported: top draws a screen or tables (list --json and stats --json give its figures) (see 'cgroupctl top -h')"},
		{"--json top", []string{"--json", "top", "-b"}, "cgroupctl: top: --json is not supported: top draws a screen or tables (list --json and stats --json give its figures) (see 'cgroupctl top -h')"},
		{"top -o json", []string{"top", "-o", "json"}, "cgroupctl: top: --json is not supported: top draws a screen or tables (list --json and stats --json give its figures) (see 'cgroupctl top -h')"},
		{"top bad option", []string{"top", "-n", "0"}, `cgroupctl: top: -n: want a number >= 1, got "0" (see 'cgroupctl top -h')`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--socket", nowhere}, tc.args...)
			code := Run(args, nil, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit: got %d, want 2 (stderr %q)", code, stderr.String())
			}
			if got := stderr.String(); got != tc.wantErr+"\n" {
				t.Errorf("stderr:\ngot  %q\nwant %q", got, tc.wantErr+"\n")
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing", stdout.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want string // a line the help must contain
	}{
		{[]string{"-h"}, "usage: cgroupctl [--socket PATH] [-o table|text|json | --json] <subcommand> [args]"},
		{[]string{"metrics", "-h"}, "usage: cgroupctl metrics"},
		{[]string{"--help"}, "  run [opts] -- argv...       submit a job"},
		{[]string{"help"}, "run options:"},
		{[]string{"-s", "/x", "-h"}, "usage: cgroupctl"},
		{[]string{"run", "-h"}, "--memory-swap-max SZ"},
		{[]string{"run", "--help"}, "usage: cgroupctl run"},
		{[]string{"kill", "-h"}, "usage: cgroupctl kill ID [N | signal N | --signal N | -s N]"},
		{[]string{"kill", "a", "--help"}, "usage: cgroupctl kill"},
		{[]string{"logs", "-h"}, "usage: cgroupctl logs ID [--follow|-f]"},
		{[]string{"wait", "-h"}, "128+N"},
		{[]string{"ping", "-h"}, "usage: cgroupctl ping"},
		{[]string{"list", "--help"}, "usage: cgroupctl list"},
		{[]string{"inspect", "-h"}, "usage: cgroupctl inspect ID"},
		{[]string{"stats", "-h"}, "usage: cgroupctl stats"},
		{[]string{"freeze", "-h"}, "usage: cgroupctl freeze ID"},
		{[]string{"thaw", "-h"}, "usage: cgroupctl thaw ID"},
		{[]string{"remove", "-h"}, "usage: cgroupctl remove ID"},
		{[]string{"quit", "-h"}, "usage: cgroupctl quit"},
		{[]string{"top", "-h"}, "usage: cgroupctl top"},
		{[]string{"events", "-h"}, "usage: cgroupctl events"},
		{[]string{"-V"}, "cgroupctl "},
		{[]string{"--version"}, " commit "},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Run(tc.args, nil, &stdout, &stderr); code != 0 {
				t.Errorf("exit: got %d, want 0 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.want) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.want)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			}
		})
	}
}

// TestRunHelpOnce: run -h shows each option once.
func TestRunHelpOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"run", "-h"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, opt := range []string{"--attach, -a", "--timeout-grace D", "--memory-max SZ", "--queue-timeout DURATION"} {
		if n := strings.Count(stdout.String(), opt); n != 1 {
			t.Errorf("run -h shows %s %d times, want once:\n%s", opt, n, stdout.String())
		}
	}
}

// TestVersion: -V and --version print one line on stdout, exit 0.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"-V"}, {"--version"}, {"-s", "/x", "-V", "ping"}} {
		var stdout, stderr bytes.Buffer
		if code := Run(args, nil, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, stderr.String())
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "cgroupctl ") || !strings.Contains(out, " commit ") || strings.Count(out, "\n") != 1 {
			t.Errorf("%q: got %q, want one line `cgroupctl VERSION commit COMMIT OS/ARCH GO`", args, out)
		}
	}
}

// TestDocMatchesUsage: the doc comment of ctl.go shows -h verbatim.
// TestSameDir: --same-dir, --attach and --pipe send the caller's
// directory as cwd; --cwd wins over the implied one; plain run and
// --wait send none (the daemon's directory, as the C tool).
func TestSameDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		cwd     string // "" for no cwd key
		wantErr string
	}{
		{[]string{"run", "--same-dir", "--", "pwd"}, wd, ""},
		{[]string{"run", "-d", "--wait", "--", "pwd"}, wd, ""},
		{[]string{"run", "--attach", "--", "pwd"}, wd, ""},
		{[]string{"run", "-P", "--", "pwd"}, wd, ""},
		{[]string{"run", "--attach", "--cwd", "/tmp", "--", "pwd"}, "/tmp", ""},
		{[]string{"run", "--", "pwd"}, "", ""},
		{[]string{"run", "--wait", "--", "pwd"}, "", ""},
		{[]string{"run", "-d", "--cwd", "/tmp", "--", "pwd"}, "", "--same-dir and --cwd: give one"},
	} {
		inv, err := parseArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if cwd, _ := inv.req.Get("cwd"); cwd != tc.cwd {
			t.Errorf("%v: cwd %q, want %q", tc.args, cwd, tc.cwd)
		}
	}
}

// TestEventsUsageTypes: events -h names every type the daemon emits.
func TestEventsUsageTypes(t *testing.T) {
	u := " " + strings.Join(strings.Fields(subcommands["events"].usage), " ") + " "
	for _, typ := range event.Types {
		if !strings.Contains(u, " "+typ+" ") {
			t.Errorf("events -h does not name the type %s", typ)
		}
	}
}

func TestDocMatchesUsage(t *testing.T) { usagedoc.Check(t, "ctl.go", usage) }
