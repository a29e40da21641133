package daemon

// Host tests of restarts and upgrades (journal.go, adopt.go, upgrade.go):
// a daemon SIGKILLed between lifecycle steps and started again on the same
// root keeps every job; an upgrade keeps the pid, the jobs and the
// connections, and exit statuses stay exact.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crash SIGKILLs the daemon and waits until it is gone, its lock on the
// root too: a fork the kill caught between clone and exec holds a copy of
// the daemon's descriptors until its exec closes them.
func (d *testDaemon) crash() {
	d.t.Helper()
	d.cmd.Process.Kill()
	<-d.exited
	pollUntil(d.t, 5*time.Second, "the crashed daemon's lock on the root to go", func() bool {
		fd, err := syscall.Open(d.root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return true // no root: nothing locked
		}
		defer syscall.Close(fd)
		if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			return false
		}
		syscall.Flock(fd, syscall.LOCK_UN)
		return true
	})
}

// restart starts a daemon again on the same root and socket (same flags
// as given) and waits for "cgroupd ready".
func (d *testDaemon) restart(args ...string) *testDaemon {
	d.t.Helper()
	n := startDaemonAt(d.t, d.root, d.sock, args...)
	n.out.waitLine(d.t, 20*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	return n
}

// mkfifo makes a fifo a job blocks on until the test writes to it.
func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(p, 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// release lets the jobs blocked on fifo go (opening it for writing blocks
// until a reader is there: the job must be running).
func release(t *testing.T, fifo string) {
	t.Helper()
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// pidAlive: the process exists and is not a zombie (an orphan's reaper,
// pid 1 of a container, may be slow or absent).
func pidAlive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(st), ')')
	return i > 0 && i+2 < len(st) && st[i+2] != 'Z'
}

func listByID(t *testing.T, d *testDaemon) map[string]map[string]string {
	t.Helper()
	r := mustOK(t, d.do("LIST"))
	out := map[string]map[string]string{}
	for _, b := range r.Blocks {
		out[b["id"]] = b
	}
	return out
}

func TestRestartKeepsJobs(t *testing.T) {
	logs := t.TempDir()
	d := startDaemon(t, "-L", logs)
	a := mustOK(t, d.run("a", []string{"sleep", "100"}, "priority", "20"))
	mustOK(t, d.run("b", []string{"sh", "-c", "echo out-b; exit 4"}))
	if r := d.do("WAIT", "id", "b"); r.KV["exit"] != "4" {
		t.Fatalf("wait b: %v", r.KV)
	}
	mustOK(t, d.run("c", []string{"sleep", "100"}))
	mustOK(t, d.do("FREEZE", "id", "c"))
	// A WAIT in flight when the daemon dies: its client sees the
	// connection close, not an invented status.
	conn := d.dial()
	conn.Write(encode("WAIT", "id", "a"))
	d.crash()
	if b, _ := io.ReadAll(conn); strings.Contains(string(b), "STATUS") {
		t.Fatalf("WAIT answered by a dying daemon: %q", b)
	}
	conn.Close()
	if !pidAlive(atoi(a.KV["pid"])) {
		t.Fatal("job a died with the daemon")
	}

	n := d.restart("-L", logs)
	jobs := listByID(t, n)
	if len(jobs) != 3 {
		t.Fatalf("after restart LIST has %d jobs, want 3: %v", len(jobs), jobs)
	}
	if j := jobs["a"]; j["state"] != "running" || j["pid"] != a.KV["pid"] || j["priority"] != "20" {
		t.Errorf("job a after restart: %v, want running pid %s priority 20", j, a.KV["pid"])
	}
	if j := jobs["b"]; j["state"] != "failed" || j["exit"] != "4" || j["exit_known"] != "" {
		t.Errorf("job b after restart: %v, want failed exit 4 (known)", j)
	}
	if j := jobs["c"]; j["state"] != "frozen" {
		t.Errorf("job c after restart: %v, want frozen", j)
	}
	in := mustOK(t, n.do("INSPECT", "id", "a"))
	if in.KV["adopted"] != "1" || in.KV["uid"] != "0" {
		t.Errorf("INSPECT a: adopted %q uid %q, want 1 and 0", in.KV["adopted"], in.KV["uid"])
	}
	n.out.waitEvent(t, "job.adopt", map[string]string{"id": "a", "pid": a.KV["pid"]})
	n.out.waitEvent(t, "job.adopt", map[string]string{"id": "c"})
	if out, _, code := n.ctl("logs", "b"); code != 0 || !strings.Contains(out, "out-b") {
		t.Errorf("logs b after restart: %q (exit %d)", out, code)
	}

	// An adopted job is a job like any other: thawed, killed, waited on.
	mustOK(t, n.do("THAW", "id", "c"))
	mustOK(t, n.do("KILL", "id", "c"))
	if r := n.do("WAIT", "id", "c"); r.KV["state"] != "killed" || r.KV["signal"] != "9" || r.KV["exit_known"] != "" {
		t.Errorf("wait c (killed after adoption): %v, want killed signal 9, known", r.KV)
	}
	// SIGTERM: the job's answer to it is not ours to know (not our child).
	mustOK(t, n.do("KILL", "id", "a", "signal", "15"))
	_, stderr, code := n.ctl("wait", "a")
	if code != 255 || !strings.Contains(stderr, "exit status unknown") {
		t.Errorf("cgroupctl wait a: exit %d, stderr %q; want 255 and 'exit status unknown'", code, stderr)
	}
	ev := n.out.waitEvent(t, "job.exit", map[string]string{"id": "a"})
	if ev["exit_known"] != "0" || ev["exit_reason"] != "not_child" || ev["state"] != "failed" {
		t.Errorf("job.exit of a: %v, want failed exit_known=0 exit_reason=not_child", ev)
	}
	if pidAlive(atoi(a.KV["pid"])) {
		t.Error("job a still alive")
	}

	// QUIT leaves nothing: no cgroup, no record.
	mustOK(t, n.do("QUIT"))
	n.waitExit(20 * time.Second)
	if left := children(t, d.root); len(left) != 0 {
		t.Errorf("cgroups left after quit: %v", left)
	}
	if recs, _ := os.ReadDir(filepath.Join(stateDirOf(d.root), "jobs")); len(recs) != 0 {
		t.Errorf("records left after quit: %v", recs)
	}
}

// stateDirOf is the default state dir of a root-owned test daemon.
func stateDirOf(root string) string { return filepath.Join("/run/cgroupd", filepath.Base(root)) }

func TestRestartJobEndedWhileDown(t *testing.T) {
	d := startDaemon(t)
	fifo := mkfifo(t)
	r := mustOK(t, d.run("gone", []string{"sh", "-c", "cat " + fifo + " >/dev/null; exit 3"}))
	mustOK(t, d.run("done", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "done"))
	mustOK(t, d.run("rm", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "rm"))
	mustOK(t, d.do("REMOVE", "id", "rm"))
	d.crash()
	release(t, fifo)
	pid := atoi(r.KV["pid"])
	pollUntil(t, 10*time.Second, "the job to end", func() bool { return !pidAlive(pid) })

	n := d.restart()
	ev := n.out.waitEvent(t, "job.exit", map[string]string{"id": "gone"})
	if ev["exit_known"] != "0" || ev["exit_reason"] != "ended_while_down" || ev["exit"] != "0" || ev["signal"] != "0" {
		t.Errorf("job.exit of a job that ended while no daemon ran: %v", ev)
	}
	jobs := listByID(t, n)
	if _, ok := jobs["rm"]; ok || len(jobs) != 2 {
		t.Errorf("LIST after restart: %v; want gone and done, not the removed rm", jobs)
	}
	if j := jobs["done"]; j["state"] != "exited" || j["exit"] != "0" {
		t.Errorf("done after restart: %v", j)
	}
	w := n.do("WAIT", "id", "gone")
	if w.KV["state"] != "failed" || w.KV["exit_known"] != "0" {
		t.Errorf("WAIT gone: %v", w.KV)
	}
	mustOK(t, n.do("REMOVE", "id", "gone"))
}

func TestSecondDaemonOnRootRefused(t *testing.T) {
	d := startDaemon(t)
	other := startDaemonAt(t, d.root, filepath.Join(t.TempDir(), "other.sock"))
	if code := other.waitExit(10 * time.Second); code != 1 {
		t.Fatalf("second daemon on the same root: exit %d, want 1", code)
	}
	all, _, _ := other.out.snapshot()
	if !strings.Contains(strings.Join(all, "\n"), "in use by another cgroupd") {
		t.Errorf("second daemon's stderr: %q", all)
	}
	mustOK(t, d.do("PING"))
}

func TestCorruptRecordAndStrayCgroup(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("ok", []string{"sleep", "100"}))
	jobs := filepath.Join(stateDirOf(d.root), "jobs")
	// The reply does not wait for the writer (the record is on the job's
	// cgroup first): a good record to copy, once it is written.
	pollUntil(t, 5*time.Second, "the record of ok", func() bool {
		_, err := os.Stat(filepath.Join(jobs, "ok"))
		return err == nil
	})
	d.crash()
	os.WriteFile(filepath.Join(jobs, "junk"), []byte("not a record\n"), 0o600)
	good, err := os.ReadFile(filepath.Join(jobs, "ok"))
	if err != nil {
		t.Fatal(err)
	}
	// A record cut short (power loss in the middle of a write).
	os.WriteFile(filepath.Join(jobs, "cut"), good[:len(good)/2], 0o600)
	if err := os.Mkdir(filepath.Join(d.root, "stray"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := d.restart()
	n.out.waitEvent(t, "state.corrupt", map[string]string{"file": filepath.Join(jobs, "junk")})
	n.out.waitEvent(t, "state.corrupt", map[string]string{"file": filepath.Join(jobs, "cut")})
	n.out.waitEvent(t, "cgroup.unknown", map[string]string{"cgroup": filepath.Join(d.root, "stray"), "populated": "0"})
	if j := listByID(t, n); len(j) != 1 || j["ok"]["state"] != "running" {
		t.Errorf("LIST: %v, want the one good job running", j)
	}
	// The stray's name is never handed out as a job id.
	r := n.run("stray", []string{"true"})
	wantErr(t, r, "id exists")
	if _, err := os.Stat(filepath.Join(d.root, "stray")); err != nil {
		t.Errorf("the stray cgroup was touched: %v", err)
	}
	os.Remove(filepath.Join(d.root, "stray"))
}

// copyFile copies src to dst (mode 0755) through a temp file and a rename,
// as a package upgrade does: the running binary's inode is left alone.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeKeepsJobsAndConnections(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cgroupd")
	copyFile(t, filepath.Join(binDir, "cgroupbox"), bin)
	logs := t.TempDir()
	root := newRootPath(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	d := startDaemonCmd(t, root, sock, func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin }, "-L", logs)
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	fifo := mkfifo(t)
	r := mustOK(t, d.run("j", []string{"sh", "-c", "echo before; cat " + fifo + " >/dev/null; echo after; exit 7"}))
	mustOK(t, d.run("k", []string{"sleep", "100"}))

	// Clients in the middle of things when the upgrade comes.
	wait := exec.Command(filepath.Join(binDir, "cgroupctl"), "-s", sock, "wait", "j")
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	follow := exec.Command(filepath.Join(binDir, "cgroupctl"), "-s", sock, "events", "--follow", "--type", "job.exit")
	fout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	logf := exec.Command(filepath.Join(binDir, "cgroupctl"), "-s", sock, "logs", "--follow", "j")
	lout, _ := logf.StdoutPipe()
	if err := logf.Start(); err != nil {
		t.Fatal(err)
	}
	lr := bufio.NewReader(lout)
	if l, _ := lr.ReadString('\n'); l != "before\n" {
		t.Fatalf("logs --follow before the upgrade: %q", l)
	}
	pollUntil(t, 5*time.Second, "the WAIT to be in", func() bool {
		return strings.Contains(d.rawRequest(encode("STATS")), "jobs: 2")
	})

	// A file that cannot run: the old image goes on.
	os.WriteFile(bin+".new", []byte("not a binary\n"), 0o755)
	os.Rename(bin+".new", bin)
	out, _, code := d.ctl("upgrade")
	if code != 1 || !strings.Contains(out, "upgrade failed") {
		t.Fatalf("upgrade to a broken file: exit %d, %q; want exit 1 and upgrade failed", code, out)
	}
	mustOK(t, d.do("PING"))

	copyFile(t, filepath.Join(binDir, "cgroupbox"), bin)
	out, _, code = d.ctl("upgrade")
	if code != 0 || !strings.Contains(out, "pid: "+strconv.Itoa(d.cmd.Process.Pid)) {
		t.Fatalf("upgrade: exit %d, %q; want ok with the same pid %d", code, out, d.cmd.Process.Pid)
	}
	d.out.waitEvent(t, "daemon.upgrade", map[string]string{"pid": strconv.Itoa(d.cmd.Process.Pid)})
	jobs := listByID(t, d)
	if jobs["j"]["state"] != "running" || jobs["j"]["pid"] != r.KV["pid"] || jobs["k"]["state"] != "running" {
		t.Fatalf("jobs after the upgrade: %v", jobs)
	}
	if in := mustOK(t, d.do("INSPECT", "id", "j")); in.KV["adopted"] != "0" {
		t.Errorf("INSPECT j after an upgrade: adopted %q, want 0 (still our child)", in.KV["adopted"])
	}

	release(t, fifo)
	// The WAIT that started before the upgrade gets the exact status.
	werr := wait.Wait()
	if code := exitCode(werr); code != 7 {
		t.Errorf("cgroupctl wait across the upgrade: exit %d, want 7", code)
	}
	rest, _ := io.ReadAll(lr)
	if string(rest) != "after\n" {
		t.Errorf("logs --follow across the upgrade: %q, want %q", rest, "after\n")
	}
	logf.Wait()
	sc := bufio.NewScanner(fout)
	got := ""
	for sc.Scan() {
		if strings.Contains(sc.Text(), "type=job.exit") && strings.Contains(sc.Text(), " id=j ") {
			got = sc.Text()
			break
		}
	}
	follow.Process.Kill()
	follow.Wait()
	if !strings.Contains(got, " exit=7 ") {
		t.Errorf("events --follow across the upgrade: %q, want j's job.exit exit=7", got)
	}
	// Killed after the upgrade: known, as always.
	mustOK(t, d.do("KILL", "id", "k"))
	if w := d.do("WAIT", "id", "k"); w.KV["state"] != "killed" || w.KV["signal"] != "9" {
		t.Errorf("wait k: %v", w.KV)
	}
}

// TestKilledPendingSurvivesCrash: a pending job a client killed is on
// record as killed, signal 9; after a crash it comes back that way, and
// `cgroupctl wait` exits 137, never 0.
func TestKilledPendingSurvivesCrash(t *testing.T) {
	h := newHostPressure(t)
	args := []string{"--host-pressure", h.dir, "--mem-admit-some-avg10", "10"}
	d := startDaemon(t, args...)
	h.set(50)
	ch := d.asyncRun("pk", []string{"sleep", "300"}, "queue_timeout", "60s")
	d.waitPending(t, "pk")
	mustOK(t, d.do("KILL", "id", "pk"))
	if r := recv(t, ch, 5*time.Second, "RUN pk"); r.KV["reason"] != "killed while pending" {
		t.Fatalf("got RUN %q, want killed while pending", r.Raw)
	}
	d.do("PING") // a reply after the kill: its record is queued before this
	pollUntil(t, 5*time.Second, "the record of pk", func() bool {
		b, err := os.ReadFile(filepath.Join(stateDirOf(d.root), "jobs", "pk"))
		return err == nil && strings.Contains(string(b), "\nphase: ended\n")
	})
	d.crash()
	n := d.restart(args...)
	in := mustOK(t, n.do("INSPECT", "id", "pk"))
	if in.KV["state"] != "killed" || in.KV["signal"] != "9" || in.KV["exit"] != "0" {
		t.Fatalf("after the crash: INSPECT %v, want killed, signal 9", in.KV)
	}
	if _, _, code := n.ctl("wait", "pk"); code != 137 {
		t.Errorf("cgroupctl wait pk exited %d, want 137", code)
	}
}

// TestUpgradeEnvNotLeaked: the hand-over's variable never reaches a job,
// however many upgrades came before it, and a cgroupd started inside such
// a job is a daemon of its own, not a broken upgrade.
func TestUpgradeEnvNotLeaked(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cgroupd")
	copyFile(t, filepath.Join(binDir, "cgroupbox"), bin)
	logs := t.TempDir()
	d := startDaemonCmd(t, newRootPath(t), filepath.Join(t.TempDir(), "s.sock"), func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin }, "-L", logs)
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	for i := 1; i <= 2; i++ {
		if out, _, code := d.ctl("upgrade"); code != 0 {
			t.Fatalf("upgrade %d: exit %d, %q", i, code, out)
		}
		id := "env" + strconv.Itoa(i)
		mustOK(t, d.run(id, []string{"env"}))
		if code := exitCode(exec.Command(filepath.Join(binDir, "cgroupctl"), "-s", d.sock, "wait", id).Run()); code != 0 {
			t.Fatalf("wait %s: exit %d", id, code)
		}
		env := readFile(t, filepath.Join(logs, id+".log"))
		if strings.Contains(env, "CGROUPD_UPGRADE_FD") {
			t.Errorf("after %d upgrades a job's environment has the hand-over's variable:\n%s", i, env)
		}
	}
}

// TestUpgradeKeepsEventsAndCounters: `cgroupctl upgrade` hands over
// EVENTS' history and the metrics counters: the history still starts with
// the old image's events, and every counter goes on (Prometheus sees no
// reset on a reload).
func TestUpgradeKeepsEventsAndCounters(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("a", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "a"))
	mustOK(t, d.run("b", []string{"sleep", "100"}))
	mustOK(t, d.do("KILL", "id", "b"))
	mustOK(t, d.do("WAIT", "id", "b"))
	counters := func() map[string]string {
		out := map[string]string{}
		for _, l := range strings.Split(d.rawRequest(encode("METRICS")), "\n") {
			if k, v, ok := strings.Cut(l, " "); ok && strings.Contains(k, "_total") && !strings.HasPrefix(k, "#") && !strings.HasPrefix(k, "cgroupd_job_") {
				out[k] = v
			}
		}
		return out
	}
	before := counters()
	if before["cgroupd_jobs_started_total"] != "2" || before[`cgroupd_actions_total{kind="kill",reason="client"}`] != "1" {
		t.Fatalf("counters before the upgrade: %v", before)
	}
	history := d.rawRequest(encode("EVENTS"))
	if out, _, code := d.ctl("upgrade"); code != 0 {
		t.Fatalf("upgrade: exit %d, %q", code, out)
	}
	after := counters()
	for k, v := range before {
		if k == "cgroupd_events_dropped_total" {
			continue
		}
		if after[k] != v {
			t.Errorf("after the upgrade %s = %s, was %s", k, after[k], v)
		}
	}
	mustOK(t, d.run("c", []string{"true"}))
	mustOK(t, d.do("WAIT", "id", "c"))
	if got := counters()["cgroupd_jobs_started_total"]; got != "3" {
		t.Errorf("jobs started after one more: %s, want 3", got)
	}
	now := d.rawRequest(encode("EVENTS"))
	old := history[strings.Index(history, "EVENT "):]
	if !strings.Contains(now, old) || !strings.Contains(now[strings.Index(now, old)+len(old):], "type=daemon.upgrade") {
		t.Errorf("EVENTS history after the upgrade does not hold the old image's events, then daemon.upgrade:\n%s", now)
	}
}

// TestUpgradeDuringRunStorm: RUNs that clients send while upgrades come
// are all answered ok, by the old image or the new one, and each names a
// job that runs exactly once: RUNs queued for their turn on the loop
// (server.handle) are held by the quiescing image or handed over to be
// asked again, never dropped.
func TestUpgradeDuringRunStorm(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cgroupd")
	copyFile(t, filepath.Join(binDir, "cgroupbox"), bin)
	root := newRootPath(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	d := startDaemonCmd(t, root, sock, func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin })
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	const clients, each = 16, 12
	errs := make(chan string, clients*each)
	done := make(chan struct{})
	for g := 0; g < clients; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("s%02d-%02d", g, i)
				c, err := net.Dial("unix", sock)
				if err != nil {
					errs <- id + ": " + err.Error()
					continue
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				c.Write(encode("RUN", "id", id, "arg", "true"))
				c.(*net.UnixConn).CloseWrite()
				out, err := io.ReadAll(c)
				c.Close()
				if r := parseResponse(string(out)); err != nil || r.Status != "ok" || r.KV["id"] != id {
					errs <- fmt.Sprintf("%s: %q (%v)", id, out, err)
				}
			}
		}()
	}
	for u := 0; u < 3; u++ {
		if out, _, code := d.ctl("upgrade"); code != 0 {
			t.Errorf("upgrade %d: exit %d, %q", u, code, out)
		}
	}
	for g := 0; g < clients; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Errorf("RUN during the upgrades: %s", e)
	}
	jobs := listByID(t, d)
	starts := map[string]int{}
	for _, e := range d.out.events("job.start") {
		starts[e["id"]]++
	}
	for g := 0; g < clients; g++ {
		for i := 0; i < each; i++ {
			id := fmt.Sprintf("s%02d-%02d", g, i)
			if jobs[id] == nil || starts[id] != 1 {
				t.Errorf("job %s: listed %v, %d job.start", id, jobs[id] != nil, starts[id])
			}
		}
	}
}
