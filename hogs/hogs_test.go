package hogs

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"cgroupd/applets/usagedoc"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary run one applet instead of the tests
// (TestMain), so a hog's memory and CPU show in its own rusage.
const helperEnv = "HOGS_TEST_APPLET"

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		args := strings.Fields(os.Getenv(helperEnv + "_ARGS"))
		switch name {
		case "memhog":
			os.Exit(Memhog(args, nil, os.Stdout, os.Stderr))
		case "cpuhog":
			os.Exit(Cpuhog(args, nil, os.Stdout, os.Stderr))
		}
		os.Exit(99)
	}
	os.Exit(m.Run())
}

// runApplet runs an applet in a child test binary and returns its rusage.
func runApplet(t *testing.T, name string, args ...string) (*syscall.Rusage, time.Duration, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperEnv+"_ARGS="+strings.Join(args, " "))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v, output %q", name, args, err, out.String())
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage), time.Since(start), out.String()
}

func TestMemhogTouchesEveryPage(t *testing.T) {
	base, _, _ := runApplet(t, "memhog", "0", "0")
	ru, _, out := runApplet(t, "memhog", "96", "0")
	if out != "" {
		t.Errorf("output: got %q, want nothing", out)
	}
	// Maxrss is in KiB. Every page touched: the peak grows by ~96 MiB.
	grew := int64(ru.Maxrss-base.Maxrss) << 10
	if want := int64(90 << 20); grew < want {
		t.Errorf("peak RSS grew by %d MiB, want at least %d MiB", grew>>20, want>>20)
	}
}

func TestHog(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name   string
		size   int64
		chunks int
	}{
		{"nothing", 0, 0},
		{"one page", int64(page), 1},
		{"not a page multiple", 3*int64(page) + 1, 1},
		{"two chunks", memChunk + 1<<20, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks, err := hog(tc.size, page)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, c := range chunks {
				total += int64(len(c))
				for i := 0; i < len(c); i += page {
					if c[i] != 1 {
						t.Fatalf("page at %d not touched", i)
					}
				}
				if err := unix.Munmap(c); err != nil {
					t.Fatal(err)
				}
			}
			if len(chunks) != tc.chunks || total != tc.size {
				t.Errorf("got %d chunks, %d bytes; want %d chunks, %d bytes", len(chunks), total, tc.chunks, tc.size)
			}
		})
	}
}

func TestCpuhogSpins(t *testing.T) {
	ru, wall, out := runApplet(t, "cpuhog", "1", "1")
	if out != "" {
		t.Errorf("output: got %q, want nothing", out)
	}
	if wall < time.Second {
		t.Errorf("ran %v, want at least 1s", wall)
	}
	// A spinner on a busy 2-core host still gets a good share of a second.
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if cpu < 200*time.Millisecond {
		t.Errorf("used %v of CPU in 1s, want at least 200ms", cpu)
	}
}

func TestBurnStops(t *testing.T) {
	start := time.Now()
	burn(3, 50*time.Millisecond)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("burn returned after %v, want >= 50ms", d)
	}
}

func TestArgs(t *testing.T) {
	type tc struct {
		name       string
		memhog     bool
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}
	cases := []tc{
		{"memhog help", true, []string{"-h"}, 0, "usage: memhog <megabytes> [seconds]", ""},
		{"memhog --help", true, []string{"1", "--help"}, 0, "usage: memhog", ""},
		{"memhog no args", true, nil, 2, "", "memhog: missing <megabytes>"},
		{"memhog garbage", true, []string{"lots"}, 2, "", `memhog: invalid megabytes "lots"`},
		{"memhog negative", true, []string{"-1"}, 2, "", `memhog: invalid megabytes "-1"`},
		{"memhog fraction", true, []string{"1.5"}, 2, "", `memhog: invalid megabytes "1.5"`},
		{"memhog bad seconds", true, []string{"1", "soon"}, 2, "", `memhog: invalid seconds "soon"`},
		{"memhog negative seconds", true, []string{"1", "-1"}, 2, "", `memhog: invalid seconds "-1"`},
		{"memhog inf seconds", true, []string{"1", "inf"}, 2, "", `memhog: invalid seconds "inf"`},
		{"memhog too many", true, []string{"1", "2", "3"}, 2, "", "memhog: too many arguments"},
		{"memhog unknown option", true, []string{"-x"}, 2, "", `memhog: unknown option "-x"`},
		{"memhog ok", true, []string{"1", "0"}, 0, "", ""},
		{"memhog fractional hold", true, []string{"--", "1", "0.01"}, 0, "", ""},
		{"cpuhog help", false, []string{"-h"}, 0, "usage: cpuhog [threads] [seconds]", ""},
		{"cpuhog zero threads", false, []string{"0"}, 2, "", `cpuhog: invalid threads "0" (want 1..4096)`},
		{"cpuhog too many threads", false, []string{"5000"}, 2, "", `cpuhog: invalid threads "5000" (want 1..4096)`},
		{"cpuhog garbage", false, []string{"two"}, 2, "", `cpuhog: invalid threads "two"`},
		{"cpuhog bad seconds", false, []string{"1", "x"}, 2, "", `cpuhog: invalid seconds "x"`},
		{"cpuhog too many", false, []string{"1", "1", "1"}, 2, "", "cpuhog: too many arguments"},
		{"cpuhog ok", false, []string{"2", "0"}, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			run := Cpuhog
			if c.memhog {
				run = Memhog
			}
			code := run(c.args, nil, &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, c.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), c.wantStdout) || (c.wantStdout == "" && stdout.Len() != 0) {
				t.Errorf("stdout: got %q, want %q", stdout.String(), c.wantStdout)
			}
			if !strings.Contains(stderr.String(), c.wantStderr) || (c.wantStderr == "" && stderr.Len() != 0) {
				t.Errorf("stderr: got %q, want %q", stderr.String(), c.wantStderr)
			}
			// A usage error is one line that points at -h, not the help text.
			if c.code == 2 {
				name := map[bool]string{true: "memhog", false: "cpuhog"}[c.memhog]
				if e := stderr.String(); strings.Count(e, "\n") != 1 || !strings.HasSuffix(e, " (see "+name+" -h)\n") {
					t.Errorf("stderr: got %q, want one line ending in (see %s -h)", e, name)
				}
			}
		})
	}
}

// TestDocMatchesUsage: each hog's file doc and the package doc show its -h
// text verbatim.
func TestDocMatchesUsage(t *testing.T) {
	usagedoc.Check(t, "memhog.go", memhogUsage)
	usagedoc.Check(t, "cpuhog.go", cpuhogUsage)
	usagedoc.Check(t, "hogs.go", memhogUsage)
	usagedoc.Check(t, "hogs.go", cpuhogUsage)
}
