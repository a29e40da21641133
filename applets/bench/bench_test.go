package bench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cgroupd/core/proto"
)

// fakeDaemon answers the v1 protocol from a map of jobs: enough of the
// daemon for the load generator. Jobs whose first arg ends in "sleep" run
// until KILLed; others have exited by the time RUN answers.
type fakeDaemon struct {
	t      *testing.T
	socket string
	ln     net.Listener

	mu       sync.Mutex
	jobs     map[string]string // id -> state
	order    []string
	maxJobs  int // refuse RUN beyond this many jobs ("too many jobs")
	requests map[string]int
}

func newFake(t *testing.T) *fakeDaemon {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{t: t, socket: sock, ln: ln, jobs: map[string]string{}, requests: map[string]int{}}
	go d.serve()
	t.Cleanup(func() { ln.Close() })
	return d
}

func (d *fakeDaemon) serve() {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		go d.conn(c)
	}
}

func (d *fakeDaemon) conn(c net.Conn) {
	defer c.Close()
	var buf []byte
	tmp := make([]byte, 4096)
	for !proto.Complete(buf) {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			break
		}
	}
	if len(buf) == 0 {
		return // a silent connection closed by the client
	}
	req, err := proto.Parse(buf)
	if err != nil {
		c.Write(proto.Err(err.Error()).Bytes())
		return
	}
	c.Write(d.answer(&req))
}

func (d *fakeDaemon) answer(r *proto.Request) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests[r.Verb]++
	id, _ := r.Get("id")
	switch r.Verb {
	case "PING":
		return proto.OK().Add("pong", "1").Bytes()
	case "RUN":
		args := r.All("arg")
		if len(args) == 0 {
			return proto.Err("no command").Bytes()
		}
		if _, ok := d.jobs[id]; ok {
			return proto.Err("id exists").Add("id", id).Bytes()
		}
		if d.maxJobs > 0 && len(d.jobs) >= d.maxJobs {
			return proto.Err("too many jobs").Bytes()
		}
		st := "exited"
		if strings.HasSuffix(args[0], "sleep") {
			st = "running"
		}
		d.jobs[id] = st
		d.order = append(d.order, id)
		return proto.OK().Add("id", id).Add("pid", "1").Add("cgroup", "/x/"+id).Bytes()
	case "LIST":
		var out []byte
		n := 0
		for _, j := range d.order {
			if st, ok := d.jobs[j]; ok {
				out = proto.Block().Add("id", j).Add("state", st).AppendTo(out)
				n++
			}
		}
		return proto.OK().AddInt("count", int64(n)).AppendTo(out)
	}
	st, ok := d.jobs[id]
	if !ok {
		return proto.Err("no such job").Add("id", id).Bytes()
	}
	switch r.Verb {
	case "INSPECT":
		return proto.OK().Add("id", id).Add("state", st).Bytes()
	case "KILL":
		if st != "running" {
			return proto.Err("not running").Add("id", id).Bytes()
		}
		d.jobs[id] = "killed"
		return proto.OK().Add("id", id).Add("signal", "9").Bytes()
	case "WAIT":
		if st == "running" {
			return proto.Err("fake: WAIT would block").Add("id", id).Bytes()
		}
		return proto.OK().Add("id", id).Add("state", st).Bytes()
	case "REMOVE":
		if st == "running" {
			return proto.Err("still running").Add("id", id).Bytes()
		}
		delete(d.jobs, id)
		return proto.OK().Add("id", id).Bytes()
	}
	return proto.Err("unknown verb").Add("verb", r.Verb).Bytes()
}

func (d *fakeDaemon) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.jobs)
}

// bench runs the applet and returns its exit code and parsed figures.
func bench(t *testing.T, args ...string) (int, map[string]string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, strings.NewReader(""), &out, &errb)
	figs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") || strings.ContainsAny(v, " \t") {
			t.Errorf("output line %q is not key=value", line)
			continue
		}
		if _, dup := figs[k]; dup {
			t.Errorf("key %s printed twice", k)
		}
		figs[k] = v
	}
	return code, figs, errb.String()
}

func wantFig(t *testing.T, figs map[string]string, key, want string) {
	t.Helper()
	got, ok := figs[key]
	switch {
	case !ok:
		t.Errorf("no figure %s in %v", key, figs)
	case want != "" && got != want:
		t.Errorf("%s = %s, want %s", key, got, want)
	}
}

func wantNum(t *testing.T, figs map[string]string, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(figs[key], 64)
	if err != nil {
		t.Errorf("%s = %q: not a number (figures %v)", key, figs[key], figs)
	}
	return v
}

func TestRunMode(t *testing.T) {
	d := newFake(t)
	code, figs, stderr := bench(t, "run", "-socket", d.socket, "-clients", "4", "-count", "60", "-warmup", "5", "-argv", "/bin/true x")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "run_n_c4", "60")
	wantFig(t, figs, "run_err_c4", "0")
	if r := wantNum(t, figs, "run_rate_c4"); r <= 0 {
		t.Errorf("run_rate_c4 = %v, want > 0", r)
	}
	p50, p99, mx := wantNum(t, figs, "run_p50_us_c4"), wantNum(t, figs, "run_p99_us_c4"), wantNum(t, figs, "run_max_us_c4")
	if !(0 < p50 && p50 <= p99 && p99 <= mx) {
		t.Errorf("want 0 < p50 %v <= p99 %v <= max %v", p50, p99, mx)
	}
	if n := d.count(); n != 0 {
		t.Errorf("%d jobs left after run, want 0 (WAIT+REMOVE)", n)
	}
	if d.requests["RUN"] != 65 || d.requests["REMOVE"] != 65 {
		t.Errorf("RUN %d, REMOVE %d, want 65 each", d.requests["RUN"], d.requests["REMOVE"])
	}
}

func TestRunModeTagAndKeep(t *testing.T) {
	d := newFake(t)
	code, figs, stderr := bench(t, "run", "-socket", d.socket, "-count", "3", "-warmup", "0", "-tag", "x", "-keep", "--", "/bin/echo", "a b")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "run_n_x", "3")
	if n := d.count(); n != 3 {
		t.Errorf("%d jobs left with -keep, want 3", n)
	}
}

func TestRunModeRefused(t *testing.T) {
	d := newFake(t)
	d.mu.Lock()
	d.maxJobs = 10
	d.mu.Unlock()
	code, figs, stderr := bench(t, "run", "-socket", d.socket, "-clients", "2", "-count", "20", "-warmup", "0")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	wantFig(t, figs, "run_err_c2", "10")
	wantFig(t, figs, "run_n_c2", "10")
	if !strings.Contains(stderr, "too many jobs") {
		t.Errorf("stderr %q does not give the reason", stderr)
	}
	if n := d.count(); n != 0 {
		t.Errorf("%d jobs left, want 0", n)
	}
}

func TestPingMode(t *testing.T) {
	d := newFake(t)
	code, figs, stderr := bench(t, "ping", "-socket", d.socket, "-silent", "5", "-count", "30")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "ping_n_s5", "30")
	wantFig(t, figs, "ping_silent_closed_s5", "0")
	wantNum(t, figs, "ping_p99_us_s5")
}

func TestHoldReqCleanup(t *testing.T) {
	d := newFake(t)
	code, figs, stderr := bench(t, "hold", "-socket", d.socket, "-count", "25", "-prefix", "h")
	if code != 0 {
		t.Fatalf("hold: exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "hold_ok", "25")
	wantFig(t, figs, "hold_err", "0")
	// One job that has ended, outside the prefix.
	bench(t, "run", "-socket", d.socket, "-count", "1", "-warmup", "0", "-keep", "-prefix", "other")

	code, figs, stderr = bench(t, "req", "-socket", d.socket, "-verb", "list", "-count", "20", "-tag", "j26")
	if code != 0 {
		t.Fatalf("req LIST: exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "list_count_j26", "26")
	wantFig(t, figs, "list_n_j26", "20")
	if b := wantNum(t, figs, "list_bytes_j26"); b < 26*10 {
		t.Errorf("list_bytes_j26 = %v, too small", b)
	}

	code, figs, stderr = bench(t, "req", "-socket", d.socket, "-verb", "INSPECT", "-count", "5", "-name", "insp")
	if code != 0 {
		t.Fatalf("req INSPECT: exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "insp_n", "5")

	code, _, stderr = bench(t, "req", "-socket", d.socket, "-verb", "INSPECT", "-id", "nope", "-count", "2", "-warmup", "0")
	if code != 1 || !strings.Contains(stderr, "no such job") {
		t.Errorf("INSPECT nope: exit %d, stderr %q; want 1 and the reason", code, stderr)
	}

	code, figs, stderr = bench(t, "cleanup", "-socket", d.socket, "-match", "h-")
	if code != 0 {
		t.Fatalf("cleanup: exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "cleanup_removed", "25")
	if n := d.count(); n != 1 {
		t.Errorf("%d jobs left, want the 1 not matching", n)
	}
	code, figs, _ = bench(t, "cleanup", "-socket", d.socket)
	if code != 0 || figs["cleanup_removed"] != "1" || d.count() != 0 {
		t.Errorf("cleanup all: exit %d, figures %v, %d left", code, figs, d.count())
	}
}

func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none")
	code, _, stderr := bench(t, "req", "-socket", sock, "-verb", "PING", "-count", "1", "-warmup", "0")
	if code != 1 || !strings.Contains(stderr, "connect "+sock) {
		t.Errorf("exit %d, stderr %q; want 1 and a connect error", code, stderr)
	}
}

func TestExecMode(t *testing.T) {
	dir := t.TempDir()
	code, figs, stderr := bench(t, "exec", "-count", "4", "-warmup", "1", "-name", "ctl_run", "--",
		"/bin/sh", "-c", "touch "+dir+"/f{}")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "ctl_run_n", "4")
	wantFig(t, figs, "ctl_run_err", "0")
	for i := range 5 {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("f%d", i))); err != nil {
			t.Errorf("{} not substituted: %v", err)
		}
	}
	code, figs, _ = bench(t, "exec", "-count", "2", "-warmup", "0", "--", "false")
	if code != 1 {
		t.Errorf("false: exit %d, want 1", code)
	}
	wantFig(t, figs, "exec_err", "2")
}

func TestProcMode(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("/proc not mounted")
	}
	code, figs, stderr := bench(t, "proc", "-pid", strconv.Itoa(os.Getpid()), "-seconds", "0.05", "-tag", "idle")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if v := wantNum(t, figs, "daemon_rss_kb_idle"); v <= 0 {
		t.Errorf("rss %v", v)
	}
	wantNum(t, figs, "daemon_cpu_pct_idle")
	wantNum(t, figs, "daemon_fds_idle")
	wantNum(t, figs, "daemon_threads_idle")
}

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int64
		err      bool
	}{
		{"plain", "42 (cgroupd) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0", 10, false},
		{"spaces and parens in comm", "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0", 300, false},
		{"short", "42 (x) S 1 2", 0, true},
		{"no comm", "garbage", 0, true},
		{"not numbers", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Microsecond}, {90, 90 * time.Microsecond}, {99, 99 * time.Microsecond}, {100, 100 * time.Microsecond}, {0.1, time.Microsecond}} {
		if got := percentile(lat, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	if got := percentile(lat[:1], 99); got != time.Microsecond {
		t.Errorf("one sample: %v", got)
	}
}

func TestQuickCheck(t *testing.T) {
	list := append(proto.Block().Add("id", "a").Add("note", "STATUS: err").Bytes(), proto.OK().AddInt("count", 1).Bytes()...)
	for _, tc := range []struct {
		name string
		resp []byte
		want string // "" for ok, else a substring of the error
	}{
		{"ok", proto.OK().Add("pong", "1").Bytes(), ""},
		{"list", list, ""},
		{"err", proto.Err("too many jobs").Bytes(), "too many jobs"},
		{"empty", nil, "no STATUS"},
		{"cut", []byte("STATUS: o"), "STATUS: o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := quickCheck(tc.resp)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if v, ok := statusValue(list, "count"); !ok || v != "1" {
		t.Errorf("statusValue count = %q, %v", v, ok)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"-h"}, 0},
		{[]string{"nope"}, 2},
		{[]string{"run", "-h"}, 0},
		{[]string{"run", "-clients", "0"}, 2},
		{[]string{"run", "-bogus"}, 2},
		{[]string{"run", "-argv", " "}, 2},
		{[]string{"exec"}, 2},
		{[]string{"proc"}, 2},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, stderr bytes.Buffer
			if code := Run(tc.args, strings.NewReader(""), &out, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
		})
	}
}

func TestReadAllGrows(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789"), 50000)
	go func() { w.Write(want); w.Close() }()
	got, err := readAll(int(r.Fd()), make([]byte, 0, 10))
	r.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, %v; want %d", len(got), err, len(want))
	}
}

func TestPollAndNow(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "memory.events")
	os.WriteFile(ev, []byte("low 0\nhigh 3\nmax 0\n"), 0o644)
	before := time.Now().UnixMilli()
	go func() {
		time.Sleep(30 * time.Millisecond)
		// Replace it whole (as the kernel's file reads): a WriteFile in
		// place could be read empty, between truncate and write.
		os.WriteFile(ev+".new", []byte("low 0\nhigh 5\nmax 0\n"), 0o644)
		os.Rename(ev+".new", ev)
	}()
	ready := filepath.Join(dir, "ready")
	code, figs, stderr := bench(t, "poll", "-file", ev, "-key", "high", "-gt", "3", "-name", "overload", "-ready", ready)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "overload_value", "5")
	wantNum(t, figs, "overload_boot_ms")
	if _, err := os.Stat(ready); err != nil {
		t.Errorf("-ready file: %v", err)
	}
	if ms := int64(wantNum(t, figs, "overload_unix_ms")); ms < before+20 || ms > time.Now().UnixMilli() {
		t.Errorf("overload_unix_ms %d not within the test (start %d)", ms, before)
	}
	cur := filepath.Join(dir, "memory.current")
	os.WriteFile(cur, []byte("1048576\n"), 0o644)
	code, figs, _ = bench(t, "poll", "-file", cur, "-gt", "1000")
	if code != 0 || figs["poll_value"] != "1048576" {
		t.Errorf("first word: exit %d, figures %v", code, figs)
	}
	code, _, stderr = bench(t, "poll", "-file", ev, "-key", "high", "-gt", "9", "-timeout", "20ms")
	if code != 1 || !strings.Contains(stderr, "still 5") {
		t.Errorf("timeout: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = bench(t, "poll", "-file", ev, "-key", "nokey")
	if code != 1 || !strings.Contains(stderr, "no nokey") {
		t.Errorf("missing key: exit %d, stderr %q", code, stderr)
	}
	code, figs, _ = bench(t, "now")
	if ms := int64(wantNum(t, figs, "now_unix_ms")); code != 0 || ms < before {
		t.Errorf("now: exit %d, %d < %d", code, ms, before)
	}
}

func TestPollWrite(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "memory.events")
	high := filepath.Join(dir, "memory.high")
	os.WriteFile(ev, []byte("high 1\n"), 0o644)
	os.WriteFile(high, []byte("1000\n"), 0o644)
	code, figs, stderr := bench(t, "poll", "-file", ev, "-key", "high", "-gt", "0", "-name", "burst",
		"-after", "50ms", "-write", high, "-value", "max")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(high); string(b) != "max\n" {
		t.Errorf("memory.high = %q, want max", b)
	}
	if d := wantNum(t, figs, "burst_write_unix_ms") - wantNum(t, figs, "burst_unix_ms"); d < 50 || d > 1000 {
		t.Errorf("write %v ms after the condition, want 50", d)
	}
	if code, _, _ := bench(t, "poll", "-file", ev, "-write", high); code != 2 {
		t.Errorf("-write without -value: exit %d, want 2", code)
	}
}

func TestProbeMode(t *testing.T) {
	out := filepath.Join(t.TempDir(), "max")
	code, figs, stderr := bench(t, "probe", "-seconds", "0.3", "-out", out, "--", "/bin/sleep", "0.05")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if n := wantNum(t, figs, "probe_iterations"); n < 1 || n > 6 {
		t.Errorf("%v iterations of sleep 0.05 in 0.3 s", n)
	}
	gap := wantNum(t, figs, "probe_max_gap_ms")
	if gap < 50 {
		t.Errorf("longest iteration %v ms, want >= 50 (sleep 0.05)", gap)
	}
	if b, err := os.ReadFile(out); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(int(gap)) {
		t.Errorf("-out file %q (%v), want %v", b, err, gap)
	}
}

// watch reports who died first, whoever killed it, and stops -after the
// first death.
func TestWatchMode(t *testing.T) {
	start := func() *exec.Cmd {
		c := exec.Command("/bin/sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	a, b := start(), start()
	// Killed and not reaped: a zombie, whose pidfd opens and is readable.
	t0 := time.Now()
	if err := a.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	code, figs, stderr := bench(t, "watch", "-timeout", "20s", "-after", "200ms",
		"a="+strconv.Itoa(a.Process.Pid), "b="+strconv.Itoa(b.Process.Pid))
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "watch_first", "a")
	if d := wantNum(t, figs, "watch_a_died_unix_ms"); d < float64(t0.UnixMilli()) {
		t.Errorf("a died at %v, before the watch began (%d)", d, t0.UnixMilli())
	}
	if _, ok := figs["watch_b_died_unix_ms"]; ok {
		t.Error("b reported dead")
	}
	if el := time.Since(t0); el > 10*time.Second {
		t.Errorf("watch took %v: -after did not end it", el)
	}
	// Killed and reaped before the watch begins, as a cgroupd job the
	// daemon reaps: gone, first to die, with no time the watch could know.
	c := start()
	c.Process.Kill()
	c.Wait()
	code, figs, stderr = bench(t, "watch", "-timeout", "20s", "-after", "200ms",
		"c="+strconv.Itoa(c.Process.Pid), "b="+strconv.Itoa(b.Process.Pid))
	if code != 0 {
		t.Fatalf("gone pid: exit %d, stderr %q", code, stderr)
	}
	wantFig(t, figs, "watch_first", "c")
	wantFig(t, figs, "watch_c_gone", "1")
	for _, k := range []string{"watch_c_died_unix_ms", "watch_b_died_unix_ms"} {
		if v, ok := figs[k]; ok {
			t.Errorf("%s=%s: a death the watch did not see", k, v)
		}
	}
	if code, _, _ := bench(t, "watch", "x=notapid"); code != 2 {
		t.Errorf("bad pair: exit %d, want 2", code)
	}
}
