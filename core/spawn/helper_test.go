package spawn

import (
	"bytes"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFallbackExecError: a job that cannot be exec'ed in the helper reports
// on its stderr and exits 127.
func TestFallbackExecError(t *testing.T) {
	d, _ := jobCgroup(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := Start(&Cmd{Path: "/nonexistent/job", Argv: []string{"job"}, Stderr: w, CgroupPath: string(d), Fallback: true, Self: self(t)})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p.PidFD)
	if st := waitExit(t, p); st != (Status{Exit: 127}) {
		t.Errorf("status %+v, want exit 127", st)
	}
	got, _ := io.ReadAll(r)
	if want := "cgroupd: exec /nonexistent/job: no such file or directory\n"; string(got) != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// TestHelperMainEOF: the helper released by no one exits 127 without exec.
func TestHelperMainEOF(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	var stderr bytes.Buffer
	pid, err := syscall.ForkExec(self(t), []string{HelperApplet, "/bin/true", "true"}, &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2, r.Fd()},
	})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if ws.ExitStatus() != 127 {
		t.Errorf("exit %d, want 127", ws.ExitStatus())
	}
	if got := HelperMain([]string{"/bin/true"}, nil, io.Discard, &stderr); got != 127 || !strings.Contains(stderr.String(), "usage") {
		t.Errorf("HelperMain(short args) = %d, %q; want 127 and usage", got, stderr.String())
	}
}
