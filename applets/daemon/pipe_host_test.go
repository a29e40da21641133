package daemon

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PIPE (server/pipe.go, cgroupctl run --pipe): the job's fds 0, 1, 2 are
// the descriptors the request came with; the daemon closes its copies.

// fdCount is how many descriptors process pid has open, and their targets.
func fdCount(t *testing.T, pid int) (int, string) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var what []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		what = append(what, e.Name()+"->"+l)
	}
	sort.Strings(what)
	return len(ents), strings.Join(what, " ")
}

// pipeConn sends req with fds attached (SCM_RIGHTS) and half-closes; the
// caller reads the answer.
func (d *testDaemon) pipeConn(t *testing.T, req []byte, fds ...int) (*net.UnixConn, *bufio.Reader) {
	t.Helper()
	c := d.dial().(*net.UnixConn)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(req, oob, nil); err != nil {
		t.Fatalf("sendmsg: %v", err)
	}
	c.CloseWrite()
	return c, bufio.NewReader(c)
}

// block reads one response block.
func block(t *testing.T, br *bufio.Reader) response {
	t.Helper()
	var b strings.Builder
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if l == "\n" || err != nil {
			return parseResponse(b.String())
		}
	}
}

// osPipe is a pipe whose ends the test closes at its end.
func osPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestPipe(t *testing.T) {
	logDir := t.TempDir()
	d := startDaemon(t, "-L", logDir, "-d") // -d: the log form of debug lines too
	pid := d.cmd.Process.Pid
	// Warm up what the daemon opens once (the first job, /dev/null).
	mustOK(t, d.run("warm", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "warm"))
	base, before := fdCount(t, pid)
	// held: the descriptors the daemon may hold while a test connection
	// is open (that connection).
	held := func(what string) {
		t.Helper()
		if n, now := fdCount(t, pid); n != base+1 {
			t.Errorf("%s: the daemon has %d descriptors open, want %d (its %d and the connection)\nbefore: %s\nnow:    %s", what, n, base+1, base, before, now)
		}
	}

	inR, inW := osPipe(t)
	outR, outW := osPipe(t)
	errR, errW := osPipe(t)
	req := encode("PIPE", "id", "p1", "arg", "sh", "arg", "-c", "arg", "read x; echo out:$x; echo err:$x >&2; exit 3")
	_, br := d.pipeConn(t, req, int(inR.Fd()), int(outW.Fd()), int(errW.Fd()))
	ok := mustOK(t, block(t, br))
	if ok.KV["id"] != "p1" || ok.KV["pid"] == "" {
		t.Fatalf("PIPE ok block %q, want id and pid", ok.Raw)
	}
	inR.Close()
	outW.Close()
	errW.Close()
	inW.WriteString("data\n")
	inW.Close()
	// EOF: the job, the only writer left, ended (a copy the daemon kept
	// would hold it open: the deadline makes that a failure, not a hang).
	outR.SetReadDeadline(time.Now().Add(30 * time.Second))
	errR.SetReadDeadline(time.Now().Add(30 * time.Second))
	out, _ := io.ReadAll(outR)
	errOut, _ := io.ReadAll(errR)
	if string(out) != "out:data\n" || string(errOut) != "err:data\n" {
		t.Errorf("job's stdout %q, stderr %q; want out:data and err:data, apart", out, errOut)
	}
	end := block(t, br)
	if end.Status != "ok" || end.KV["exit"] != "3" || end.KV["state"] != "failed" {
		t.Errorf("PIPE end block %q, want WAIT's answer with exit 3", end.Raw)
	}
	held("after a PIPE job ended")
	if b, err := os.ReadFile(filepath.Join(logDir, "p1.log")); err != nil || len(b) != 0 {
		t.Errorf("p1.log: %q, %v; want an empty log (the job's output went to the caller)", b, err)
	}

	// Refused: the descriptors are closed with the answer.
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	n := int(devNull.Fd())
	for _, tc := range []struct {
		name   string
		req    []byte
		fds    []int
		reason string
	}{
		{"RUN with descriptors", encode("RUN", "arg", "true"), []int{n}, "descriptors: only PIPE takes any"},
		{"PING with descriptors", encode("PING"), []int{n, n, n}, "descriptors: only PIPE takes any"},
		{"PING with too many", encode("PING"), []int{n, n, n, n, n, n}, "descriptors: only PIPE takes any"},
		{"PIPE with one", encode("PIPE", "arg", "true"), []int{n}, "descriptors: PIPE takes 3 (stdin, stdout and stderr)"},
		{"PIPE with none", encode("PIPE", "arg", "true"), nil, "descriptors: PIPE takes 3 (stdin, stdout and stderr)"},
		{"PIPE with four", encode("PIPE", "arg", "true"), []int{n, n, n, n}, "descriptors: PIPE takes 3 (stdin, stdout and stderr)"},
		{"PIPE with nine", encode("PIPE", "arg", "true"), []int{n, n, n, n, n, n, n, n, n}, "descriptors: PIPE takes 3 (stdin, stdout and stderr)"},
		{"PIPE not found", encode("PIPE", "arg", "/nonexistent/cmd"), []int{n, n, n}, "spawn failed"},
		{"PIPE bad limit", encode("PIPE", "cpu_max", "bogus", "arg", "true"), []int{n, n, n}, ""},
		{"PIPE malformed", []byte("PIPE\nno colon\n\n"), []int{n, n, n}, "malformed headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, br := d.pipeConn(t, tc.req, tc.fds...)
			r := block(t, br)
			if r.Status != "err" || (tc.reason != "" && r.KV["reason"] != tc.reason) {
				t.Errorf("got %q, want STATUS: err with reason %q", r.Raw, tc.reason)
			}
			io.Copy(io.Discard, br) // EOF: the daemon closed its end
			held("after " + tc.name)
		})
	}
	if r := d.do("INSPECT", "id", "p1"); r.KV["state"] != "failed" {
		t.Errorf("INSPECT p1 after the refusals: %q", r.Raw)
	}
	// kill_on_detach: the caller goes away, the job is stopped.
	c, br := d.pipeConn(t, encode("PIPE", "id", "kd", "kill_on_detach", "1", "arg", "sleep", "arg", "30"), n, n, n)
	mustOK(t, block(t, br))
	c.Close()
	d.out.waitEvent(t, "job.kill", map[string]string{"id": "kd", "reason": "detach"})
	if w := d.do("WAIT", "id", "kd"); w.KV["state"] == "running" || w.Status != "ok" {
		t.Errorf("WAIT kd after its caller went away: %q", w.Raw)
	}
	checkLogForm(t, d)
}

// checkLogForm: every line the daemon wrote but its events and the two
// lines scripts wait for reads `cgroupd: TOPIC: MESSAGE`.
func checkLogForm(t *testing.T, d *testDaemon) {
	t.Helper()
	all, _, _ := d.out.snapshot()
	n := 0
	for _, s := range all {
		if strings.HasPrefix(s, "EVENT ") || s == "cgroupd ready" || strings.HasPrefix(s, "using cgroup root: ") {
			continue
		}
		n++
		if topic, msg, ok := strings.Cut(strings.TrimPrefix(s, "cgroupd: "), ": "); !strings.HasPrefix(s, "cgroupd: ") || !ok || topic == "" || msg == "" {
			t.Errorf("log line %q, want cgroupd: TOPIC: MESSAGE", s)
		}
	}
	if n == 0 {
		t.Errorf("no log line to check in:\n%s", strings.Join(all, "\n"))
	}
}
