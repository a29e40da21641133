package server

import (
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
	"cgroupd/core/loop"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// The streams are answered from the supervisor's outcomes alone, so they
// are tested here by feeding outcomes, with no kernel but a socket pair
// per client: no root, no cgroup.

// streamsServer is a server with no listener, over a supervisor with no
// loop, no records (answers go out at once) and no jobs of its own.
func streamsServer(t *testing.T) *Server {
	t.Helper()
	lp, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lp.Close() })
	events := hub.New(nil, nil)
	sup := supervisor.New(supervisor.Config{Root: cgroup.Dir(t.TempDir())}, nil, events, nil, nil)
	return New(Config{}, lp, sup, nil, nil, events)
}

// client is a connection of srv, busy with a request taken; the other
// end is the client's.
func client(t *testing.T, srv *Server) (*conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	c := &conn{fd: fds[0], state: connBusy, srv: srv, mask: unix.EPOLLIN}
	if err := srv.lp.Add(c.fd, c.mask, func(uint32) {}); err != nil {
		t.Fatal(err)
	}
	srv.conns[c.fd] = c
	return c, fds[1]
}

// received is what the client end has been sent so far.
func received(t *testing.T, fd int) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

// running is a job that runs as pid 42, with opts.
func running(id string, opts job.Opts) *supervisor.Job {
	m := job.Make(job.Spec{ID: id, UID: 1000, GID: 1000, Cgroup: cgroup.Dir("/nonexistent/" + id), Opts: opts})
	m.Start(42, "", time.UnixMilli(10), 1, 1)
	return supervisor.Detached(m)
}

// end ends j's main process with exit status code.
func end(j *supervisor.Job, code int) {
	m := supervisor.Model(j)
	m.MainExited(spawn.Status{Exit: code}, "", time.UnixMilli(20), 2)
	m.End(job.Figures{})
}

// A RUN is answered from Started (its ok block) or Refused (the reason
// with the id); wait: 1 keeps the connection for the end block, which
// Ended sends.
func TestRunReply(t *testing.T) {
	srv := streamsServer(t)
	c, peer := client(t, srv)
	j := running("a", job.Opts{Wait: true})
	srv.st.runs[j] = runReq{c: c}
	srv.st.answer(&supervisor.Outcome{Kind: supervisor.Started, Job: j})
	if got, want := received(t, peer), "STATUS: ok\nid: a\npid: 42\ncgroup: /nonexistent/a\n\n"; got != want {
		t.Fatalf("RUN wait: 1 got %q, want the ok block %q", got, want)
	}
	if c.closed || srv.st.held[c] != j || len(srv.st.runs) != 0 {
		t.Fatalf("closed %v, held %v, %d RUNs waiting: want the connection open, holding the job", c.closed, srv.st.held[c], len(srv.st.runs))
	}
	end(j, 3)
	srv.st.answer(&supervisor.Outcome{Kind: supervisor.Ended, Job: j})
	if got := received(t, peer); !strings.HasPrefix(got, "STATUS: ok\n") || !strings.Contains(got, "\nexit: 3\n") || !strings.HasSuffix(got, "\n\n") {
		t.Errorf("end block %q, want WAIT's answer with exit 3", got)
	}

	c2, peer2 := client(t, srv)
	k := running("b", job.Opts{})
	srv.st.runs[k] = runReq{c: c2}
	srv.st.answer(&supervisor.Outcome{Kind: supervisor.Refused, Job: k, Refusal: supervisor.Refuse("spawn failed", "detail", "x")})
	if got, want := received(t, peer2), "STATUS: err\nreason: spawn failed\nid: b\ndetail: x\n\n"; got != want {
		t.Errorf("refused RUN got %q, want %q", got, want)
	}
}

// A WAIT is answered when its job's Ended is taken, every waiter once;
// one whose client went away first is not.
func TestWaitAnswered(t *testing.T) {
	srv := streamsServer(t)
	j := running("w", job.Opts{})
	c1, peer1 := client(t, srv)
	c2, peer2 := client(t, srv)
	gone, _ := client(t, srv)
	for _, c := range []*conn{c1, c2, gone} {
		srv.st.wait(c, j)
	}
	srv.closeConn(gone)
	srv.st.answer(&supervisor.Outcome{Kind: supervisor.LogGrew, Job: j}) // nothing for a WAIT
	if got := received(t, peer1); got != "" {
		t.Fatalf("before the end the waiter got %q", got)
	}
	end(j, 0)
	srv.st.answer(&supervisor.Outcome{Kind: supervisor.Ended, Job: j})
	for _, peer := range []int{peer1, peer2} {
		if got := received(t, peer); !strings.HasPrefix(got, "STATUS: ok\n") || !strings.Contains(got, "\nexit: 0\n") {
			t.Errorf("WAIT got %q, want its answer with exit 0", got)
		}
	}
	if len(srv.st.waiters) != 0 {
		t.Errorf("%d jobs still waited on, want none", len(srv.st.waiters))
	}
}
