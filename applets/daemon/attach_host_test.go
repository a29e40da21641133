package daemon

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cgroupctl run --attach / --wait against a real daemon (applets/ctl
// attach.go, daemon runopts.go).

// attached is a running `cgroupctl run --attach`.
type attached struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr bytes.Buffer
}

func (d *testDaemon) attach(t *testing.T, args ...string) *attached {
	t.Helper()
	a := &attached{}
	a.cmd = exec.Command(filepath.Join(binDir, "cgroupctl"), append([]string{"--socket", d.sock, "run"}, args...)...)
	a.cmd.Dir = "/"
	a.cmd.Stderr = &a.stderr
	p, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.out = bufio.NewReader(p)
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.cmd.Process.Kill(); a.cmd.Wait() })
	return a
}

// line reads one line of the job's output (a deadline bounds it).
func (a *attached) line(t *testing.T) string {
	t.Helper()
	got := make(chan string, 1)
	go func() { s, _ := a.out.ReadString('\n'); got <- s }()
	select {
	case s := <-got:
		return s
	case <-time.After(15 * time.Second):
		t.Fatalf("no output line within 15 s")
		return ""
	}
}

// end reads the rest of the output and returns it with the exit code.
func (a *attached) end(t *testing.T) (string, int) {
	t.Helper()
	rest := make(chan string, 1)
	go func() { var b bytes.Buffer; b.ReadFrom(a.out); rest <- b.String() }()
	var s string
	select {
	case s = <-rest:
	case <-time.After(20 * time.Second):
		t.Fatalf("client did not end within 20 s")
	}
	return s, exitCode(a.cmd.Wait())
}

func TestAttach(t *testing.T) {
	logs := t.TempDir()
	d := startDaemon(t, "-L", logs)
	t.Run("output and exit 7", func(t *testing.T) {
		a := d.attach(t, "--attach", "--", "sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three; exit 7")
		out, code := a.end(t)
		if out != "one\ntwo\nthree\n" || code != 7 {
			t.Errorf("got output %q exit %d, want one two three, 7", out, code)
		}
		if s := a.stderr.String(); !strings.Contains(s, "failed (exit 7); run time ") || !strings.Contains(s, "CPU time") {
			t.Errorf("got stderr %q, want the summary line", s)
		}
	})
	t.Run("SIGTERM trapped", func(t *testing.T) {
		a := d.attach(t, "-a", "--rm", "--id", "trap", "--", "sh", "-c",
			`trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
		if l := a.line(t); l != "ready\n" {
			t.Fatalf("got %q, want ready", l)
		}
		a.cmd.Process.Signal(syscall.SIGTERM)
		out, code := a.end(t)
		// sh may say "Terminated" for its sleep, which got the SIGTERM too.
		if !strings.HasSuffix(out, "got TERM\n") || code != 3 {
			t.Errorf("got output %q exit %d, want ... got TERM, 3", out, code)
		}
		k := d.out.waitEvent(t, "job.kill", map[string]string{"id": "trap"})
		if k["signal"] != "15" || k["reason"] != "client" {
			t.Errorf("got %v, want signal 15 from the client", k)
		}
		// --rm: gone once the client hung up.
		d.out.waitEvent(t, "job.cleanup", map[string]string{"id": "trap", "result": "removed"})
	})
	t.Run("SIGKILL is 137", func(t *testing.T) {
		a := d.attach(t, "--attach", "--", "sh", "-c", "echo x; kill -KILL $$")
		out, code := a.end(t)
		if out != "x\n" || code != 137 {
			t.Errorf("got output %q exit %d, want x, 137", out, code)
		}
		if s := a.stderr.String(); !strings.Contains(s, "killed (SIGKILL)") {
			t.Errorf("got stderr %q, want killed (SIGKILL)", s)
		}
	})
	t.Run("second Ctrl-C kills", func(t *testing.T) {
		a := d.attach(t, "--attach", "--id", "ign", "--", "sh", "-c", `trap '' INT; echo ready; while :; do sleep 0.05; done`)
		if l := a.line(t); l != "ready\n" {
			t.Fatalf("got %q, want ready", l)
		}
		a.cmd.Process.Signal(syscall.SIGINT)
		d.out.waitEvent(t, "job.kill", map[string]string{"id": "ign", "signal": "2"})
		a.cmd.Process.Signal(syscall.SIGINT)
		if _, code := a.end(t); code != 137 {
			t.Errorf("got exit %d, want 137", code)
		}
		d.out.waitEvent(t, "job.kill", map[string]string{"id": "ign", "signal": "9"})
	})
	t.Run("detach", func(t *testing.T) {
		a := d.attach(t, "--attach", "--id", "det", "--", "sh", "-c", `echo ready; while :; do sleep 0.05; done`)
		a.line(t)
		a.cmd.Process.Kill()
		a.cmd.Wait()
		if r := mustOK(t, d.do("INSPECT", "id", "det")); r.KV["state"] != "running" {
			t.Errorf("got state %s after the client died, want running", r.KV["state"])
		}
		mustOK(t, d.do("KILL", "id", "det"))
	})
	t.Run("kill on detach", func(t *testing.T) {
		a := d.attach(t, "--attach", "--kill-on-detach", "--id", "kod", "--", "sh", "-c", `echo ready; while :; do sleep 0.05; done`)
		a.line(t)
		a.cmd.Process.Kill()
		a.cmd.Wait()
		d.out.waitEvent(t, "job.kill", map[string]string{"id": "kod", "signal": "15", "reason": "detach"})
		w := parseResponse(d.rawRequest(encode("WAIT", "id", "kod")))
		if w.KV["signal"] != "15" {
			t.Errorf("got WAIT %q, want signal 15", w.Raw)
		}
	})
	t.Run("wait", func(t *testing.T) {
		out, errOut, code := d.ctl("run", "--wait", "--", "sh", "-c", "echo hidden; exit 7")
		if out != "" || code != 7 || !strings.Contains(errOut, "run time") {
			t.Errorf("got stdout %q stderr %q exit %d, want nothing, a summary, 7", out, errOut, code)
		}
	})
}

func TestAttachWithoutLogDir(t *testing.T) {
	d := startDaemon(t)
	out, errOut, code := d.ctl("run", "--attach", "--", "sh", "-c", "echo lost; exit 4")
	if out != "" || code != 4 || !strings.Contains(errOut, "started without -L") {
		t.Errorf("got stdout %q stderr %q exit %d, want no output, the -L note, 4", out, errOut, code)
	}
	if _, err := os.Stat(d.root); err != nil {
		t.Fatal(err)
	}
}
