package ctl

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// failAfter bounds how long a broken client may hang a test; it is a
// failure detector, never what a test waits on to make progress.
const failAfter = 10 * time.Second

// fakeDaemon listens on a Unix socket in a temp dir and serves each
// connection with serve.
type fakeDaemon struct {
	path string
	ln   *net.UnixListener
	reqs chan []byte // what each connection sent, up to its half-close
	errs chan error
}

func newFakeDaemon(t *testing.T, serve func(c *net.UnixConn, req []byte) error) *fakeDaemon {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{path: path, ln: ln, reqs: make(chan []byte, 16), errs: make(chan error, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			// Reading to EOF proves the client half-closed (SHUT_WR):
			// without it ReadAll would hit the deadline.
			c.SetReadDeadline(time.Now().Add(failAfter))
			req, err := io.ReadAll(c)
			if err != nil {
				d.errs <- errors.New("reading request (did the client shutdown(SHUT_WR)?): " + err.Error())
				c.Close()
				continue
			}
			d.reqs <- req
			if err := serve(c, req); err != nil {
				d.errs <- err
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(d.errs)
		for err := range d.errs {
			t.Errorf("fake daemon: %v", err)
		}
	})
	return d
}

// reply serves a fixed response.
func reply(resp string) func(*net.UnixConn, []byte) error {
	return func(c *net.UnixConn, _ []byte) error {
		_, err := io.WriteString(c, resp)
		return err
	}
}

func TestExchange(t *testing.T) {
	list := "id: a\nstate: running\npid: 10\n\nid: b\nstate: exited\npid: 11\n\nSTATUS: ok\ncount: 2\n\n"
	tests := []struct {
		name       string
		args       []string
		resp       string
		wantReq    string
		wantOut    string
		wantErrSub string
		wantCode   int
	}{
		{"ping ok", []string{"ping"}, "STATUS: ok\npong: 1\n\n",
			"PING\n\n", "STATUS: ok\npong: 1\n\n", "", 0},
		{"list prints every block", []string{"list"}, list,
			"LIST\n\n", list, "", 0},
		{"err exits 1", []string{"inspect", "nope"}, "STATUS: err\nreason: no such job\nid: nope\n\n",
			"INSPECT\nid: nope\n\n", "STATUS: err\nreason: no such job\nid: nope\n\n", "", 1},
		{"printed as received, odd spacing kept", []string{"stats"}, "STATUS: ok\nroot:   /x  \r\njobs:3\n\n",
			"STATS\n\n", "STATUS: ok\nroot:   /x  \r\njobs:3\n\n", "", 0},
		{"run", []string{"run", "--id", "j", "--memory-max", "64M", "--", "sleep", "1"},
			"STATUS: ok\nid: j\npid: 42\ncgroup: /sys/fs/cgroup/x/j\n\n",
			"RUN\nid: j\nmemory_max: 64M\narg: sleep\narg: 1\n\n",
			"STATUS: ok\nid: j\npid: 42\ncgroup: /sys/fs/cgroup/x/j\n\n", "", 0},
		{"kill signal", []string{"kill", "j", "signal", "15"}, "STATUS: ok\nid: j\nsignal: 15\n\n",
			"KILL\nid: j\nsignal: 15\n\n", "STATUS: ok\nid: j\nsignal: 15\n\n", "", 0},
		{"wait exit 0", []string{"wait", "j"}, "STATUS: ok\nid: j\nstate: exited\nexit: 0\nsignal: 0\noom_killed: 0\n\n",
			"WAIT\nid: j\n\n", "STATUS: ok\nid: j\nstate: exited\nexit: 0\nsignal: 0\noom_killed: 0\n\n", "", 0},
		{"wait exit 3", []string{"wait", "j"}, "STATUS: ok\nid: j\nstate: failed\nexit: 3\nsignal: 0\noom_killed: 0\n\n",
			"WAIT\nid: j\n\n", "STATUS: ok\nid: j\nstate: failed\nexit: 3\nsignal: 0\noom_killed: 0\n\n", "", 3},
		{"wait killed 128+9", []string{"wait", "j"}, "STATUS: ok\nid: j\nstate: killed\nexit: 0\nsignal: 9\noom_killed: 1\n\n",
			"WAIT\nid: j\n\n", "STATUS: ok\nid: j\nstate: killed\nexit: 0\nsignal: 9\noom_killed: 1\n\n", "", 137},
		{"wait signal 15", []string{"wait", "j"}, "STATUS: ok\nid: j\nstate: failed\nexit: 0\nsignal: 15\noom_killed: 0\n\n",
			"WAIT\nid: j\n\n", "STATUS: ok\nid: j\nstate: failed\nexit: 0\nsignal: 15\noom_killed: 0\n\n", "", 143},
		{"wait err exits 1", []string{"wait", "zz"}, "STATUS: err\nreason: no such job\nid: zz\n\n",
			"WAIT\nid: zz\n\n", "STATUS: err\nreason: no such job\nid: zz\n\n", "", 1},
		{"wait garbage exit", []string{"wait", "j"}, "STATUS: ok\nexit: x\n\n",
			"WAIT\nid: j\n\n", "STATUS: ok\nexit: x\n\n", `invalid exit "x" in WAIT response`, 1},
		{"unknown verb from an old daemon", []string{"logs", "j"}, "STATUS: err\nreason: unknown verb\nverb: LOGS\n\n",
			"LOGS\nid: j\n\n", "STATUS: err\nreason: unknown verb\nverb: LOGS\n\n", "", 1},
		{"run --pipe to a daemon without PIPE", []string{"run", "--pipe", "--cwd", "/", "--", "cat"}, "STATUS: err\nreason: unknown verb\nverb: PIPE\n\n",
			"PIPE\ncwd: /\narg: cat\n\n", "", "cgroupctl: run: --pipe: the daemon does not know PIPE (one without --pipe, such as the C cgroupd); nothing was started\n", 1},
		{"response cut short", []string{"ping"}, "STATUS: o",
			"PING\n\n", "STATUS: o", "connection closed before the response was complete", 1},
		{"daemon closes without a word", []string{"ping"}, "",
			"PING\n\n", "", "connection closed before the response was complete", 1},
		{"status block without final blank line", []string{"ping"}, "STATUS: ok\npong: 1\n",
			"PING\n\n", "STATUS: ok\npong: 1\n", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, reply(tc.resp))
			var stdout, stderr bytes.Buffer
			code := Run(append([]string{"--socket", d.path}, tc.args...), nil, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			select {
			case req := <-d.reqs:
				if string(req) != tc.wantReq {
					t.Errorf("sent:\ngot  %q\nwant %q", req, tc.wantReq)
				}
			default:
				t.Errorf("the daemon got no request")
			}
			if stdout.String() != tc.wantOut {
				t.Errorf("stdout:\ngot  %q\nwant %q", stdout.String(), tc.wantOut)
			}
			if tc.wantErrSub == "" && stderr.Len() != 0 {
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			}
			if tc.wantErrSub != "" && !strings.Contains(stderr.String(), tc.wantErrSub) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tc.wantErrSub)
			}
		})
	}
}

// TestEnvSocket: $CGROUPD_SOCKET picks the socket when --socket is absent.
func TestEnvSocket(t *testing.T) {
	d := newFakeDaemon(t, reply("STATUS: ok\npong: 1\n\n"))
	t.Setenv("CGROUPD_SOCKET", d.path)
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"ping"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit: got %d, want 0 (stderr %q)", code, stderr.String())
	}
	if got, want := stdout.String(), "STATUS: ok\npong: 1\n\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestCRLFSendsNothing: a refused value never reaches the socket.
func TestCRLFSendsNothing(t *testing.T) {
	d := newFakeDaemon(t, reply("STATUS: ok\n\n"))
	var stdout, stderr bytes.Buffer
	code := Run([]string{"--socket", d.path, "run", "--env", "A=1\nB=2", "--", "true"}, nil, &stdout, &stderr)
	if code != 2 {
		t.Errorf("exit: got %d, want 2", code)
	}
	if got, want := stderr.String(), "cgroupctl: run: env must not contain CR or LF (see 'cgroupctl run -h')\n"; got != want {
		t.Errorf("stderr: got %q, want %q", got, want)
	}
	// Any connection Run made is already queued on the listener: stop the
	// acceptor, then look.
	d.ln.SetDeadline(time.Now())
	c, err := d.ln.AcceptUnix()
	if err == nil {
		c.Close()
		t.Error("the client connected; want nothing sent")
	}
	select {
	case req := <-d.reqs:
		t.Errorf("the daemon got %q; want nothing", req)
	default:
	}
}

func TestConnectFailure(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the file stays; nobody listens: ECONNREFUSED

	notSock := filepath.Join(dir, "plain")
	if err := os.WriteFile(notSock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.sock")
	tests := []struct {
		name, path, want string
	}{
		{"missing", missing, "cgroupctl: ping: connect " + missing + ": no such file or directory (is cgroupd running?)\n"},
		{"stale", stale, "cgroupctl: ping: connect " + stale + ": connection refused (is cgroupd running?)\n"},
		{"not a socket", notSock, "cgroupctl: ping: connect " + notSock + ": connection refused (is cgroupd running?)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Run([]string{"--socket", tc.path, "ping"}, nil, &stdout, &stderr); code != 1 {
				t.Errorf("exit: got %d, want 1", code)
			}
			if got := stderr.String(); got != tc.want {
				t.Errorf("stderr:\ngot  %q\nwant %q", got, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing", stdout.String())
			}
		})
	}
}

// chunkWriter records writes and signals each one, so a test can wait for
// output to have been printed.
type chunkWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *chunkWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until w holds want; it fails the test after failAfter.
func (w *chunkWriter) waitFor(t *testing.T, want string) bool {
	deadline := time.After(failAfter)
	for w.String() != want {
		select {
		case <-w.wrote:
		case <-deadline:
			t.Errorf("stdout: got %q, want %q (is the client buffering?)", w.String(), want)
			return false
		}
	}
	return true
}

// TestLogsStreaming: the log bytes after the ok header are printed as they
// arrive, not when the connection ends. The daemon sends the second chunk
// only once the client has printed the first.
func TestLogsStreaming(t *testing.T) {
	out := &chunkWriter{wrote: make(chan struct{}, 1)}
	printed := make(chan bool, 1)
	d := newFakeDaemon(t, func(c *net.UnixConn, req []byte) error {
		if _, err := io.WriteString(c, "STATUS: ok\nid: j\n\nline 1\n"); err != nil {
			return err
		}
		if !<-printed {
			return nil
		}
		_, err := io.WriteString(c, "line 2\nno newline at end")
		return err
	})
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- Run([]string{"--socket", d.path, "logs", "j", "-f"}, nil, out, &stderr) }()
	ok := out.waitFor(t, "line 1\n")
	printed <- ok
	if !ok {
		<-done
		return
	}
	if code := <-done; code != 0 {
		t.Errorf("exit: got %d, want 0 (stderr %q)", code, stderr.String())
	}
	if got, want := out.String(), "line 1\nline 2\nno newline at end"; got != want {
		t.Errorf("stdout: got %q, want %q", got, want)
	}
	if got, want := string(<-d.reqs), "LOGS\nid: j\nfollow: 1\n\n"; got != want {
		t.Errorf("sent: got %q, want %q", got, want)
	}
}

func TestLogsResponses(t *testing.T) {
	tests := []struct {
		name       string
		resp       string
		wantOut    string
		wantErrSub string
		wantCode   int
	}{
		{"ok, raw bytes only", "STATUS: ok\nid: j\n\nhello\n\x00binary\xff\n", "hello\n\x00binary\xff\n", "", 0},
		{"ok, empty log", "STATUS: ok\nid: j\n\n", "", "", 0},
		{"log that looks like a block", "STATUS: ok\nid: j\n\nSTATUS: err\n\n", "STATUS: err\n\n", "", 0},
		{"no such job", "STATUS: err\nreason: no such job\nid: j\n\n", "STATUS: err\nreason: no such job\nid: j\n\n", "", 1},
		{"no log", "STATUS: err\nreason: no log\nid: j\n\n", "STATUS: err\nreason: no log\nid: j\n\n", "", 1},
		{"closed early", "", "", "connection closed before the response was complete", 1},
		{"cut in the header", "STAT", "STAT", "connection closed before the response was complete", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, reply(tc.resp))
			var stdout, stderr bytes.Buffer
			code := Run([]string{"-s", d.path, "logs", "j"}, nil, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if stdout.String() != tc.wantOut {
				t.Errorf("stdout: got %q, want %q", stdout.String(), tc.wantOut)
			}
			if tc.wantErrSub == "" && stderr.Len() != 0 {
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantErrSub) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tc.wantErrSub)
			}
		})
	}
}

// TestBigList: a LIST far beyond any fixed buffer is printed whole.
func TestBigList(t *testing.T) {
	var resp strings.Builder
	for i := 0; i < 5000; i++ {
		resp.WriteString("id: job-")
		resp.WriteString(strings.Repeat("x", i%50))
		resp.WriteString("\nstate: running\n\n")
	}
	resp.WriteString("STATUS: ok\ncount: 5000\n\n")
	d := newFakeDaemon(t, reply(resp.String()))
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"--socket", d.path, "list"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit: got %d, want 0 (stderr %q)", code, stderr.String())
	}
	if stdout.String() != resp.String() {
		t.Errorf("stdout: got %d bytes, want the %d bytes sent", stdout.Len(), resp.Len())
	}
}
