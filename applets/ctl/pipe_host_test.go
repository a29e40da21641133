package ctl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run --pipe and --attach against a real daemon: piped (the job's
// streams are the command's own) and at a terminal (tmux).

// ctlExec runs cgroupctl (this binary) against d as a process of its
// own, with stdin, and stdout and stderr apart.
func (d *realDaemon) ctlExec(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"--socket", d.sock}, args...)...)
	cmd.Env = append(os.Environ(), appletEnv+"=cgroupctl")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = failAfter
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(3 * failAfter):
		cmd.Process.Kill()
		t.Fatalf("cgroupctl %v still running after %v", args, 3*failAfter)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cgroupctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestPipeStreams(t *testing.T) {
	d := startRealDaemon(t, "-L", t.TempDir()) // the daemon runs in /
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/nonexistent/interp\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stdin   string
		args          []string
		out, errOut   string // errOut: "" for none; else what stderr contains
		code          int
		errOutIsExact bool
	}{
		{"stdin", "data\n", []string{"run", "--pipe", "--", "cat"}, "data\n", "", 0, true},
		{"apart", "", []string{"run", "-P", "--", "sh", "-c", "echo out; echo err >&2; exit 3"}, "out\n", "err\n", 3, true},
		{"same dir", "", []string{"run", "-P", "--", "pwd"}, wd + "\n", "", 0, true},
		{"cwd wins", "", []string{"run", "-P", "--cwd", "/tmp", "--", "pwd"}, "/tmp\n", "", 0, true},
		{"wait too", "x", []string{"run", "-P", "--wait", "--rm", "--", "cat"}, "x", "", 0, true},
		{"not found", "", []string{"run", "-P", "--", "/nonexistent/cmd"}, "", "cgroupctl: run: spawn failed: ", 127, false},
		{"not executable", "", []string{"run", "-P", "--", "/etc/passwd"}, "", "cgroupctl: run: spawn failed: ", 126, false},
		{"bad interpreter", "", []string{"run", "-P", "--", script}, "", ": interpreter /nonexistent/interp: no such file or directory", 126, false},
		{"signal", "", []string{"run", "-P", "--", "sh", "-c", "kill -TERM $$"}, "", " failed (SIGTERM); run time ", 143, false},
		{"timeout", "", []string{"run", "-P", "--timeout", "200ms", "--", "sleep", "10"}, "", ": timed out after 200ms (SIGTERM)", 143, false},
		{"refused", "", []string{"run", "-P", "--cpu-max", "bogus", "--", "true"}, "", "cgroupctl: run: cpu_max: ", 1, false},
		{"with attach", "", []string{"run", "-P", "-a", "--", "true"}, "", "cgroupctl: run: --pipe and --attach: give one", 2, false},
		{"with json", "", []string{"--json", "run", "-P", "--", "true"}, "", "cgroupctl: run: --pipe and --json: give one", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := d.ctlExec(t, tc.stdin, tc.args...)
			okErr := errOut == tc.errOut
			if !tc.errOutIsExact {
				okErr = strings.Contains(errOut, tc.errOut) && strings.Count(errOut, "\n") == 1
			}
			if out != tc.out || !okErr || code != tc.code {
				t.Errorf("%v: stdout %q, stderr %q, exit %d; want %q, %q, %d", tc.args, out, errOut, code, tc.out, tc.errOut, tc.code)
			}
		})
	}
	// A reader that is done: the job dies of SIGPIPE, quietly, as in a
	// shell's pipeline (exit 141, no summary line).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--socket", d.sock, "run", "-P", "--", "sh", "-c", "while :; do echo y; done")
	cmd.Env = append(os.Environ(), appletEnv+"=cgroupctl")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer time.AfterFunc(3*failAfter, func() { cmd.Process.Kill() }).Stop() // a failure, not a hang
	if _, err := io.ReadFull(out, make([]byte, 2)); err != nil {
		t.Fatalf("no output from the job: %v", err)
	}
	out.Close()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 141 || errb.Len() != 0 {
		t.Errorf("a job writing to a closed pipe: exit %d, stderr %q; want 141 and nothing", code, errb.String())
	}
	// Plain run and --wait keep the C tool's default: the daemon's directory.
	if out, code := d.ctl(t, "run", "--wait", "--id", "where", "--", "pwd"); code != 0 {
		t.Fatalf("run --wait: exit %d %s", code, out)
	}
	if out, code := d.ctl(t, "logs", "where"); out != "/\n" || code != 0 {
		t.Errorf("run --wait -- pwd printed %q (exit %d), want the daemon's directory /", out, code)
	}
}

// TestPipeAttachScreen: at a terminal, run --pipe gives the job the
// terminal itself (it reads what is typed; Ctrl-C reaches it through the
// client), and run --attach prints the job's log, then its summary.
func TestPipeAttachScreen(t *testing.T) {
	d := startRealDaemon(t, "-L", t.TempDir())
	ctl := d.ctlCommand(t)
	tm := startTmux(t, "pipe", fmt.Sprintf("%s run --pipe -- sh -c 'tty; read x; echo got:$x; echo err:$x >&2'; echo PIPE-EXIT=$?; "+
		"%s run --attach -- sh -c 'echo attached; echo to-stderr >&2; exit 2'; echo ATTACH-EXIT=$?; "+
		"%s run --pipe --id int -- sleep 30; echo INT-EXIT=$?; sleep 60", ctl, ctl, ctl))
	tm.waitFor(t, "/dev/pts/")
	tm.do(t, "send-keys", "-t", "pipe", "hello", "Enter")
	screen := tm.waitFor(t, "ATTACH-EXIT=")
	for _, want := range []string{"got:hello\nerr:hello\nPIPE-EXIT=0\n", "attached\nto-stderr\n",
		"cgroupctl: run: job job-2 failed (exit 2); run time ", "ATTACH-EXIT=2\n"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "job job-1") {
		t.Errorf("run --pipe printed a summary for a job that exited by itself:\n%s", screen)
	}
	// Ctrl-C once the job runs: the client passes SIGINT on.
	for deadline := time.Now().Add(failAfter); ; time.Sleep(20 * time.Millisecond) {
		if rep := d.do(t, "INSPECT", "id", "int"); len(rep) > 0 {
			if st, _ := rep[0].Get("state"); st == "running" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job int not running after %v", failAfter)
		}
	}
	tm.do(t, "send-keys", "-t", "pipe", "C-c")
	screen = tm.waitFor(t, "INT-EXIT=")
	for _, want := range []string{"cgroupctl: run: job int failed (SIGINT)", "INT-EXIT=130"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
}
