package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Host integration tests of the pressure engine's wiring and of queued
// admission. Real pressure cannot be made on demand here, so the engine's
// decisions are tested by feeding samples (engine_test.go); these tests
// check what the host can show: triggers registered, STATS measurements,
// and the admission queue driven through --host-pressure, a directory of
// pressure files the test writes.

// TestEngineHost: the daemon registers its PSI triggers on the root's
// pressure files (rounded to a 2 s window where it lacks CAP_SYS_RESOURCE)
// and STATS reports the engine's window measurement after the spec keys.
func TestEngineHost(t *testing.T) {
	d := startDaemon(t, "-d", "--dry-run")
	for _, want := range []string{"memory.pressure: some", "cpu.pressure: some", "io.pressure: full"} {
		d.out.waitLine(t, 10*time.Second, "trigger "+want, func(s string) bool {
			return strings.HasPrefix(s, "cgroupd: debug: pressure: trigger on "+d.root+"/") && strings.Contains(s, want)
		})
	}
	if n := d.out.count(func(s string) bool { return strings.Contains(s, "no PSI trigger") }); n != 0 {
		t.Errorf("got %d refused triggers, want none", n)
	}
	// Two housekeeping ticks give the engine a measured window.
	var st response
	pollUntil(t, 10*time.Second, "pressure_window_ms > 0 in STATS", func() bool {
		st = mustOK(t, d.do("STATS"))
		return atoi(st.KV["pressure_window_ms"]) > 0
	})
	if w := atoi(st.KV["pressure_window_ms"]); w != 500 {
		t.Errorf("got pressure_window_ms %d, want 500 (the default window, sampled every second)", w)
	}
	hasKeys(t, "STATS", st.KV, statsKeys)
	ext := []string{"pending", "dry_run", "psi_available", "events_dropped", "host_mem_total_bytes", "host_mem_available_bytes",
		"pressure_window_ms", "pressure_mem_some_pct", "pressure_mem_full_pct",
		"pressure_cpu_some_pct", "pressure_cpu_full_pct", "pressure_io_some_pct", "pressure_io_full_pct", "state_writes", "state_unlinks", "state_errors", "user_jobs"}
	hasKeys(t, "STATS", st.KV, ext)
	// Spec keys first, extensions after, in this order.
	var order []string
	for _, ln := range strings.Split(st.Raw, "\n")[1:] {
		if k, _, ok := strings.Cut(ln, ": "); ok {
			order = append(order, k)
		}
	}
	if want := append(append([]string{}, statsKeys...), ext...); strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("got STATS keys %v, want %v", order, want)
	}
	if st.KV["dry_run"] != "1" || st.KV["pending"] != "0" {
		t.Errorf("got dry_run %q pending %q, want 1 and 0", st.KV["dry_run"], st.KV["pending"])
	}
	if st.KV["user_jobs"] != "0" {
		t.Errorf("got user_jobs %q, want 0 (root has no jobs here)", st.KV["user_jobs"])
	}
	if st.KV["psi_available"] != "1" || atoi(st.KV["host_mem_available_bytes"]) <= 0 ||
		atoi(st.KV["host_mem_available_bytes"]) > atoi(st.KV["host_mem_total_bytes"]) {
		t.Errorf("got psi_available %q host memory %q of %q, want 1 and a plausible headroom",
			st.KV["psi_available"], st.KV["host_mem_available_bytes"], st.KV["host_mem_total_bytes"])
	}
	for _, k := range ext[7:13] {
		if v, err := strconv.ParseFloat(st.KV[k], 64); err != nil || v < 0 || v > 100 || !strings.Contains(st.KV[k], ".") {
			t.Errorf("got %s %q, want a percentage with two decimals", k, st.KV[k])
		}
	}
}

// TestNoHostPSI: where the host has no PSI (here: --host-pressure names an
// empty directory) the daemon says so once, turns the host PSI rule off,
// and STATS says the spec's psi_* figures mean nothing.
func TestNoHostPSI(t *testing.T) {
	d := startDaemon(t, "--host-pressure", t.TempDir())
	d.out.waitLine(t, 10*time.Second, "host PSI unavailable", func(s string) bool {
		return strings.HasPrefix(s, "cgroupd: pressure: host PSI unavailable (") &&
			strings.HasSuffix(s, "): host PSI rule and PSI admission off; the job tree's PSI rules and memory headroom rule on")
	})
	st := mustOK(t, d.do("STATS"))
	if st.KV["psi_available"] != "0" || st.KV["psi_mem_some_avg10"] != "0.00" {
		t.Errorf("got psi_available %q psi_mem_some_avg10 %q, want 0 and the v1 key kept as 0.00",
			st.KV["psi_available"], st.KV["psi_mem_some_avg10"])
	}
	if n := d.out.count(func(s string) bool { return strings.Contains(s, "PSI unavailable") }); n != 1 {
		t.Errorf("got %d lines about PSI, want 1", n)
	}
}

// hostPressure is a fake /proc/pressure for --host-pressure.
type hostPressure struct {
	t   *testing.T
	dir string
}

func newHostPressure(t *testing.T) *hostPressure {
	h := &hostPressure{t: t, dir: t.TempDir()}
	h.set(0)
	return h
}

// set writes memory some avg10 = v (everything else 0).
func (h *hostPressure) set(v float64) {
	h.t.Helper()
	line := func(kind string, avg float64) string {
		return fmt.Sprintf("%s avg10=%.2f avg60=0.00 avg300=0.00 total=0\n", kind, avg)
	}
	for res, body := range map[string]string{
		"memory": line("some", v) + line("full", 0),
		"cpu":    line("some", 0) + line("full", 0),
		"io":     line("some", 0) + line("full", 0),
	} {
		// Write and rename: the daemon never reads half a file.
		tmp := filepath.Join(h.dir, "."+res)
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			h.t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(h.dir, res)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// asyncRun sends a RUN and delivers its response on the channel.
func (d *testDaemon) asyncRun(id string, argv []string, kv ...string) <-chan response {
	ch := make(chan response, 1)
	req := []string{"id", id}
	req = append(req, kv...)
	for _, a := range argv {
		req = append(req, "arg", a)
	}
	b := encode("RUN", req...)
	go func() { ch <- parseResponse(d.rawRequestNoFatal(b)) }()
	return ch
}

func recv(t *testing.T, ch <-chan response, timeout time.Duration, what string) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(timeout):
		t.Fatalf("no reply to %s within %v", what, timeout)
	}
	return response{}
}

// waitPending polls LIST until id is listed as pending.
func (d *testDaemon) waitPending(t *testing.T, id string) map[string]string {
	t.Helper()
	var blk map[string]string
	pollUntil(t, 10*time.Second, id+" pending in LIST", func() bool {
		for _, b := range mustOK(t, d.do("LIST")).Blocks {
			if b["id"] == id && b["state"] == "pending" {
				blk = b
				return true
			}
		}
		return false
	})
	return blk
}

const blockedReason = "admission blocked: memory.some.avg10 50.00 >= 10.00"

func startQueueDaemon(t *testing.T) (*testDaemon, *hostPressure) {
	h := newHostPressure(t)
	d := startDaemon(t, "--host-pressure", h.dir, "--mem-admit-some-avg10", "10")
	return d, h
}

// TestQueueStartsInPriorityOrder: RUNs with queue_timeout wait while
// admission blocks, are listed as pending with no cgroup, and start, higher
// priority first, once it allows; each RUN then gets its usual reply.
func TestQueueStartsInPriorityOrder(t *testing.T) {
	d, h := startQueueDaemon(t)
	h.set(50)
	// Without queue_timeout: refused at once, as before.
	wantErr(t, d.run("now", []string{"sleep", "300"}), blockedReason)

	runs := map[string]<-chan response{}
	for _, q := range []struct{ id, prio string }{{"q-mid", "50"}, {"q-low", "10"}, {"q-high", "90"}, {"q-mid2", "50"}} {
		runs[q.id] = d.asyncRun(q.id, []string{"sleep", "300"}, "priority", q.prio, "queue_timeout", "60s")
		blk := d.waitPending(t, q.id)
		if blk["pid"] != "0" || blk["priority"] != q.prio || blk["cgroup"] != filepath.Join(d.root, q.id) || blk["start_unix_ms"] != "0" {
			t.Errorf("got LIST block %v, want pending, pid 0, priority %s, its future cgroup", blk, q.prio)
		}
	}
	in := mustOK(t, d.do("INSPECT", "id", "q-low"))
	hasKeys(t, "INSPECT of a pending job", in.KV, inspectKeys)
	if in.KV["state"] != "pending" || in.KV["pid"] != "0" || in.KV["pids"] != "" {
		t.Errorf("got INSPECT %v, want pending with no pid", in.KV)
	}
	if c := children(t, d.root); len(c) != 0 {
		t.Errorf("got cgroups %v while pending, want none", c)
	}
	if st := mustOK(t, d.do("STATS")); st.KV["pending"] != "4" || st.KV["jobs"] != "4" || st.KV["running"] != "0" {
		t.Errorf("got STATS %v, want pending 4, jobs 4, running 0", st.KV)
	}
	wantErr(t, d.run("q-mid", []string{"true"}, "queue_timeout", "5s"), "id exists")
	if n := len(d.out.events("job.start")); n != 0 {
		t.Fatalf("got %d job.start while blocked, want 0", n)
	}

	h.set(0) // the next housekeeping tick admits them
	for id, ch := range runs {
		r := recv(t, ch, 10*time.Second, "RUN "+id)
		if r.Status != "ok" || r.KV["id"] != id || atoi(r.KV["pid"]) <= 0 || r.KV["cgroup"] != filepath.Join(d.root, id) {
			t.Errorf("RUN %s: got %q, want ok with id, pid and cgroup", id, r.Raw)
		}
	}
	for id := range runs { // stderr is read asynchronously
		d.out.waitEvent(t, "job.start", map[string]string{"id": id})
	}
	var order []string
	for _, ev := range d.out.events("job.start") {
		order = append(order, ev["id"])
	}
	if got, want := strings.Join(order, " "), "q-high q-mid q-mid2 q-low"; got != want {
		t.Errorf("got start order %q, want %q", got, want)
	}
	if n := len(d.out.events("pressure")); n != 1 { // the refusal of "now"
		t.Errorf("got %d pressure events, want 1", n)
	}
	if st := mustOK(t, d.do("STATS")); st.KV["pending"] != "0" || st.KV["running"] != "4" {
		t.Errorf("got STATS %v, want pending 0 running 4", st.KV)
	}
	// A RUN with queue_timeout that admission allows starts at once.
	r := mustOK(t, d.run("q-now", []string{"true"}, "queue_timeout", "5s"))
	if atoi(r.KV["pid"]) <= 0 {
		t.Errorf("got %v, want a pid", r.KV)
	}
}

// TestQueueTimeout: at the timeout the RUN fails with the exact admission
// reason, a pressure admission_reject event, and nothing left behind.
func TestQueueTimeout(t *testing.T) {
	d, h := startQueueDaemon(t)
	h.set(50)
	t0 := time.Now()
	ch := d.asyncRun("late", []string{"sleep", "300"}, "queue_timeout", "1500ms")
	d.waitPending(t, "late")
	r := recv(t, ch, 10*time.Second, "RUN late")
	el := time.Since(t0)
	if r.Status != "err" || r.KV["reason"] != blockedReason || r.KV["id"] != "late" {
		t.Fatalf("got %q, want err %q with id late", r.Raw, blockedReason)
	}
	if el < 1500*time.Millisecond || el > 4*time.Second {
		t.Errorf("RUN failed after %v, want at its 1.5 s timeout", el)
	}
	d.out.waitEvent(t, "pressure", map[string]string{"resource": "memory", "some_avg10": "50.00", "full_avg10": "0.00",
		"action": "admission_reject", "target": "late"})
	wantErr(t, d.do("INSPECT", "id", "late"), "no such job")
	if c := children(t, d.root); len(c) != 0 {
		t.Errorf("got cgroups %v, want none", c)
	}
	if n := len(d.out.events("job.start")) + len(d.out.events("job.exit")) + len(d.out.events("job.cleanup")); n != 0 {
		t.Errorf("got %d job events, want none", n)
	}
	// Bad timeouts are refused before anything else.
	wantErr(t, d.run("bad", []string{"true"}, "queue_timeout", "0s"), "queue_timeout: 0s: want more than 0 and at most 24h0m0s")
	wantErr(t, d.run("bad", []string{"true"}, "queue_timeout", "soon"), `queue_timeout: invalid duration "soon"`)
	// Fully validated before it waits: a missing command is refused at once.
	wantErr(t, d.run("bad", []string{"/nonexistent/cmd"}, "queue_timeout", "30s"), "spawn failed")
}

// TestQueueKillRemove: KILL cancels a pending job (its RUN fails, it ends
// killed with signal 9, never started), REMOVE cancels and forgets one, a
// client that goes away cancels its own, and a shutdown answers the rest.
func TestQueueKillRemove(t *testing.T) {
	d, h := startQueueDaemon(t)
	h.set(50)

	kch := d.asyncRun("pk", []string{"sleep", "300"}, "queue_timeout", "60s")
	d.waitPending(t, "pk")
	wch := make(chan string, 1)
	go func() { wch <- d.rawRequestNoFatal(encode("WAIT", "id", "pk")) }()
	time.Sleep(100 * time.Millisecond) // let the WAIT register (it would answer either way)
	if k := mustOK(t, d.do("KILL", "id", "pk")); k.KV["id"] != "pk" || k.KV["signal"] != "9" {
		t.Errorf("got KILL %v", k.KV)
	}
	r := recv(t, kch, 5*time.Second, "RUN pk")
	if r.Status != "err" || r.KV["reason"] != "killed while pending" || r.KV["id"] != "pk" {
		t.Errorf("got RUN %q, want err killed while pending", r.Raw)
	}
	select {
	case w := <-wch:
		if pw := parseResponse(w); pw.Status != "ok" || pw.KV["state"] != "killed" || pw.KV["signal"] != "9" {
			t.Errorf("got WAIT %q, want killed signal 9", w)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("WAIT on the pending job not answered after KILL")
	}
	in := mustOK(t, d.do("INSPECT", "id", "pk"))
	if in.KV["state"] != "killed" || in.KV["signal"] != "9" || in.KV["pid"] != "0" {
		t.Errorf("got INSPECT %v, want killed signal 9 pid 0", in.KV)
	}
	mustOK(t, d.do("REMOVE", "id", "pk"))
	wantErr(t, d.do("INSPECT", "id", "pk"), "no such job")

	rch := d.asyncRun("pr", []string{"sleep", "300"}, "queue_timeout", "60s")
	d.waitPending(t, "pr")
	mustOK(t, d.do("REMOVE", "id", "pr"))
	if r := recv(t, rch, 5*time.Second, "RUN pr"); r.Status != "err" || r.KV["reason"] != "removed while pending" {
		t.Errorf("got RUN %q, want err removed while pending", r.Raw)
	}
	wantErr(t, d.do("INSPECT", "id", "pr"), "no such job")

	// The client goes away: its pending RUN is cancelled.
	c, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(encode("RUN", "id", "gone", "queue_timeout", "60s", "arg", "sleep", "arg", "300"))
	d.waitPending(t, "gone")
	c.Close()
	pollUntil(t, 5*time.Second, "gone to be forgotten", func() bool { return d.do("INSPECT", "id", "gone").Status == "err" })

	// stderr is written by a writer of its own: wait for the lines.
	d.out.waitEvent(t, "job.cleanup", map[string]string{"id": "pk"})
	d.out.waitEvent(t, "job.cleanup", map[string]string{"id": "pr"})
	for _, typ := range []string{"job.start", "job.exit", "job.kill"} {
		if n := len(d.out.events(typ)); n != 0 {
			t.Errorf("got %d %s events for jobs that never started, want 0", n, typ)
		}
	}
	if n := len(d.out.events("job.cleanup")); n != 2 {
		t.Errorf("got %d job.cleanup, want 2 (pk and pr were removed)", n)
	}

	// The real client waits too; a shutdown answers it.
	type res struct {
		out  string
		code int
	}
	cch := make(chan res, 1)
	go func() {
		out, errOut, code := d.ctl("run", "--id", "pc", "--queue-timeout", "60s", "--", "sleep", "300")
		cch <- res{out + errOut, code}
	}()
	d.waitPending(t, "pc")
	mustOK(t, d.do("QUIT"))
	select {
	case r := <-cch:
		if r.code != 1 || !strings.Contains(r.out, "reason: shutting down\n") {
			t.Errorf("got cgroupctl run %d %q, want exit 1 with reason shutting down", r.code, r.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("cgroupctl run --queue-timeout not answered at shutdown")
	}
	if code := d.waitExit(20 * time.Second); code != 0 {
		t.Errorf("daemon exit %d, want 0", code)
	}
}
