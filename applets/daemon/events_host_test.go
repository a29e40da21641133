package daemon

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// follower is an EVENTS --follow connection whose lines a goroutine
// collects (or not, for a subscriber that stopped reading).
type follower struct {
	c   net.Conn
	out *lines
}

func (d *testDaemon) follow(t *testing.T, read bool, kv ...string) *follower {
	t.Helper()
	c := d.dial()
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(encode("EVENTS", append([]string{"follow", "1"}, kv...)...)); err != nil {
		t.Fatal(err)
	}
	f := &follower{c: c, out: newLines()}
	if read {
		f.start()
	}
	return f
}

func (f *follower) start() {
	go func() {
		sc := bufio.NewScanner(f.c)
		for sc.Scan() {
			f.out.add(sc.Text())
		}
		f.out.close()
	}()
}

// waitCount waits until n lines satisfy pred.
func waitCount(t *testing.T, l *lines, n int, pred func(string) bool, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		_, changed, closed := l.snapshot()
		got := l.count(pred)
		if got >= n {
			return
		}
		if closed {
			t.Fatalf("stream closed with %d of %d lines", got, n)
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d of %d lines after %v", got, n, timeout)
		}
	}
}

// TestEventsNeverStall: with stderr on a pipe nobody reads and a
// subscriber that stopped reading, RUNs and PINGs are all answered, the
// daemon counts what it dropped (STATS events_dropped), a reading
// subscriber loses nothing, and each consumer that catches up sees an
// events.dropped mark where its gap was.
func TestEventsNeverStall(t *testing.T) {
	d := startDaemon(t)
	d.out.pause()
	paused := true
	defer func() {
		if paused {
			d.out.resume()
		}
	}()
	fast := d.follow(t, true)
	slow := d.follow(t, false)
	const n = 1500
	var worst time.Duration
	for i := range n {
		mustOK(t, d.run("j"+strconv.Itoa(i), []string{"/bin/true"}))
		if i%100 == 0 {
			t0 := time.Now()
			mustOK(t, d.do("PING"))
			worst = max(worst, time.Since(t0))
		}
	}
	t.Logf("slowest PING while stderr was blocked: %v", worst)
	// Each job ends: n job.exit for the reading subscriber (they may come
	// in any order).
	isExit := func(s string) bool { return strings.Contains(s, " type=job.exit ") }
	waitCount(t, fast.out, n, isExit, 60*time.Second)
	for _, typ := range []string{"job.start", "job.exit", "events.dropped"} {
		want := n
		if typ == "events.dropped" {
			want = 0
		}
		if got := fast.out.count(func(s string) bool { return strings.Contains(s, " type="+typ+" ") }); got != want {
			t.Errorf("reading subscriber got %d %s, want %d", got, typ, want)
		}
	}
	st := mustOK(t, d.do("STATS"))
	if atoi(st.KV["events_dropped"]) == 0 {
		t.Errorf("events_dropped %q with stderr blocked and a stalled subscriber, want > 0", st.KV["events_dropped"])
	}

	// The stalled subscriber catches up: its backlog, then the mark of
	// its gap, then the events that follow.
	slow.start()
	slow.out.waitLine(t, 30*time.Second, "events.dropped on the slow subscriber", func(s string) bool {
		return strings.HasPrefix(s, "EVENT schema=cgroupd.v1 ") && strings.Contains(s, " type=events.dropped count=")
	})
	mustOK(t, d.run("after-gap", []string{"/bin/true"}))
	slow.out.waitLine(t, 30*time.Second, "after-gap on the slow subscriber", func(s string) bool {
		return strings.Contains(s, " type=job.start id=after-gap ")
	})

	// stderr recovers: a mark with the count of events it lost.
	paused = false
	d.out.resume()
	d.out.waitLine(t, 30*time.Second, "events.dropped on stderr", func(s string) bool {
		return strings.Contains(s, " type=events.dropped count=") && !strings.Contains(s, " count=0 ")
	})
	mustOK(t, d.do("PING"))
}

// TestEventsHistoryAndFilters: EVENTS without follow answers the recent
// events (id and type filters apply), many followers all get each event,
// a follower that vanishes mid-stream costs nothing, and a non-root caller
// sees its own jobs' events only.
func TestEventsHistoryAndFilters(t *testing.T) {
	const nobody = 65534
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody))
	mustOK(t, d.run("a", []string{"/bin/true"}))
	mustOK(t, d.run("b", []string{"/bin/true"}))
	mustOK(t, d.do("WAIT", "id", "a"))
	mustOK(t, d.do("WAIT", "id", "b"))

	r := d.rawRequest(encode("EVENTS", "id", "a"))
	head, body, _ := strings.Cut(r, "\n\n")
	if !strings.HasPrefix(head, "STATUS: ok\nhistory: 2") || strings.Count(body, "\n") != 2 ||
		!strings.Contains(body, " type=job.start id=a ") || !strings.Contains(body, " type=job.exit id=a ") {
		t.Errorf("EVENTS id a: %q", r)
	}
	r = d.rawRequest(encode("EVENTS", "type", "job.exit,job.cleanup"))
	if _, body, _ = strings.Cut(r, "\n\n"); strings.Count(body, " type=job.exit ") != 2 || strings.Contains(body, "job.start") {
		t.Errorf("EVENTS type job.exit: %q", r)
	}
	// A type no daemon emits is refused, with follow too: it would match
	// nothing, ever.
	for _, kv := range [][]string{{"type", "job.exit,job.bogus"}, {"type", "job.exit,", "follow", "1"}} {
		r = d.rawRequest(encode("EVENTS", kv...))
		want := "STATUS: err\nreason: type: unknown event type\ntype: " + strings.Split(kv[1], ",")[1] + "\n\n"
		if r != want {
			t.Errorf("EVENTS %v: %q, want %q", kv, r, want)
		}
	}

	var fs []*follower
	for range 50 {
		fs = append(fs, d.follow(t, true, "type", "job.start"))
	}
	// One that reads half a line and goes away.
	gone := d.follow(t, false)
	mustOK(t, d.run("c", []string{"/bin/true"}))
	buf := make([]byte, 10)
	io.ReadFull(gone.c, buf)
	gone.c.Close()
	mustOK(t, d.run("d", []string{"/bin/true"}))
	for i, f := range fs {
		f.out.waitLine(t, 10*time.Second, "job.start id=d on follower "+strconv.Itoa(i), func(s string) bool {
			return strings.Contains(s, " type=job.start id=d ")
		})
		if n := f.out.count(func(s string) bool { return strings.Contains(s, " type=job.start ") }); n != 2+2 {
			t.Errorf("follower %d: %d job.start (history a, b; then c, d), want 4", i, n)
		}
	}
	mustOK(t, d.do("PING"))

	// nobody sees none of root's events.
	out, _, code := d.ctlAs(&syscall.Credential{Uid: nobody, Gid: nobody}, "events")
	if code != 0 || strings.Contains(out, "EVENT ") {
		t.Errorf("cgroupctl events as nobody: exit %d, %q; want 0 and no event", code, out)
	}
	out, _, code = d.ctl("events", "--id", "c")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, " type=job.exit id=c ") {
		t.Errorf("cgroupctl events --id c: exit %d, %q", code, out)
	}

	// --json: NDJSON, one object per event, values decoded and typed.
	out, _, code = d.ctl("--json", "events", "--id", "c")
	dec := json.NewDecoder(strings.NewReader(out))
	var objs []map[string]any
	for {
		var o map[string]any
		if err := dec.Decode(&o); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("cgroupctl --json events: %v in %q", err, out)
		}
		objs = append(objs, o)
	}
	if code != 0 || len(objs) != 2 || strings.Count(out, "\n") != 2 {
		t.Fatalf("cgroupctl --json events --id c: exit %d, %q", code, out)
	}
	for _, o := range objs {
		if ts, ok := o["ts_unix_ms"].(float64); !ok || ts <= 0 || o["id"] != "c" || o["schema"] != "cgroupd.v1" {
			t.Errorf("event object %v", o)
		}
	}
	if objs[1]["type"] != "job.exit" || objs[1]["exit"] != float64(0) || objs[1]["oom_killed"] != false {
		t.Errorf("job.exit object %v, want exit 0 and oom_killed false", objs[1])
	}
}
