package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cgroupd/applets/daemon/spawner"
)

// strayProc starts `sleep 1000` in a new cgroup name under root, marked
// with mark (nil: no mark), as a daemon that crashed in the middle of a
// RUN leaves it. The cleanup kills what is left.
func strayProc(t *testing.T, root, name string, mark func(pid int) []byte) *exec.Cmd {
	t.Helper()
	cg := filepath.Join(root, name)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		os.Remove(cg)
	})
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	if mark != nil {
		if err := syscall.Setxattr(cg, "user.cgroupd.job", mark(cmd.Process.Pid), 0); err != nil {
			t.Fatal(err)
		}
	}
	return cmd
}

// TestUnrecordedCgroupsCleaned: a crash in the middle of a RUN leaves the
// job's cgroup, with its process, but no record in the state dir. The
// next daemon knows the cgroups it made by their mark: one whose job had
// not started is killed, removed and reported (cgroup.stray); one whose
// job started (its RUN may have been answered, its job.start emitted) is
// restored from the record on it, as from the state dir: adopted, and it
// ends with its one job.exit. A cgroup it did not make is reported and
// left alone.
func TestUnrecordedCgroupsCleaned(t *testing.T) {
	d := startDaemon(t)
	d.crash()
	starting := strayProc(t, d.root, "job-9", func(int) []byte { return []byte("starting") })
	started := strayProc(t, d.root, "web", func(pid int) []byte {
		st, err := spawner.PidStart(pid)
		if err != nil {
			t.Fatal(err)
		}
		boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
		return []byte(fmt.Sprintf("cgroupd-job: 1\nid: web\nphase: running\nboot_id: %s\nseq: 1\nuid: 0\ngid: 0\npriority: 50\ncgroup: %s\npid: %d\npid_start: %d\nstart_unix_ms: %d\nstart_mono_ms: 0\narg: sleep\narg: 1000\nend: 1\n",
			string(boot[:len(boot)-1]), filepath.Join(d.root, "web"), pid, st, time.Now().UnixMilli()))
	})
	foreign := strayProc(t, d.root, "foreign", nil)

	n := d.restart()
	n.out.waitEvent(t, "cgroup.stray", map[string]string{"id": "job-9", "cgroup": filepath.Join(d.root, "job-9"), "populated": "1"})
	n.out.waitEvent(t, "job.adopt", map[string]string{"id": "web", "pid": strconv.Itoa(started.Process.Pid)})
	n.out.waitEvent(t, "cgroup.unknown", map[string]string{"cgroup": filepath.Join(d.root, "foreign"), "populated": "1"})
	pollUntil(t, 10*time.Second, "job-9's process to be killed", func() bool { return !pidAlive(starting.Process.Pid) })
	pollUntil(t, 10*time.Second, "the stray cgroup job-9 to be removed", func() bool {
		_, err := os.Stat(filepath.Join(d.root, "job-9"))
		return os.IsNotExist(err)
	})
	if !pidAlive(foreign.Process.Pid) || !pidAlive(started.Process.Pid) {
		t.Error("a process the daemon should have left alone (foreign) or adopted (web) was killed")
	}
	// A mark of the earlier format (the whole record, argv included) is
	// still read whole.
	if j := listByID(t, n)["web"]; j["state"] != "running" || j["pid"] != strconv.Itoa(started.Process.Pid) || j["command"] != "sleep 1000" || j["command_known"] != "" {
		t.Errorf("LIST web: %v, want running, adopted, command sleep 1000", j)
	}
	if _, err := os.Stat(filepath.Join(stateDirOf(d.root), "jobs", "web")); err != nil {
		t.Errorf("web's record was not written: %v", err)
	}
	mustOK(t, n.do("KILL", "id", "web"))
	n.out.waitEvent(t, "job.exit", map[string]string{"id": "web", "state": "killed", "signal": "9"})
	if id := mustOK(t, n.run("", []string{"true"})).KV["id"]; id == "job-9" || idNumber(t, id) < 10 {
		t.Errorf("the next automatic id is %s, at or below the stray's job-9", id)
	}
}

// TestUnmarkedIntentCleaned: a crash between a job cgroup's mkdir and its
// mark leaves an empty cgroup without a mark; the root's intent names it,
// so the next daemon removes it (cgroup.stray), uses the intent up, and
// still leaves an unmarked cgroup the intent does not name alone.
func TestUnmarkedIntentCleaned(t *testing.T) {
	d := startDaemon(t)
	d.crash()
	for _, name := range []string{"job-7", "other"} {
		if err := os.Mkdir(filepath.Join(d.root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Remove(filepath.Join(d.root, "other")) })
	if err := syscall.Setxattr(d.root, "user.cgroupd.mkdir", []byte("job-7"), 0); err != nil {
		t.Fatal(err)
	}
	n := d.restart()
	n.out.waitEvent(t, "cgroup.stray", map[string]string{"id": "job-7", "populated": "0"})
	n.out.waitEvent(t, "cgroup.unknown", map[string]string{"cgroup": filepath.Join(d.root, "other"), "populated": "0"})
	pollUntil(t, 10*time.Second, "the stray cgroup job-7 to be removed", func() bool {
		_, err := os.Stat(filepath.Join(d.root, "job-7"))
		return os.IsNotExist(err)
	})
	if _, err := os.Stat(filepath.Join(d.root, "other")); err != nil {
		t.Errorf("the unmarked cgroup the intent does not name was touched: %v", err)
	}
	buf := make([]byte, 64)
	if _, err := syscall.Getxattr(d.root, "user.cgroupd.mkdir", buf); err != syscall.ENODATA {
		t.Errorf("the root's intent is still there after the restart (getxattr: %v)", err)
	}
	if id := mustOK(t, n.run("", []string{"true"})).KV["id"]; idNumber(t, id) <= 7 {
		t.Errorf("the next automatic id is %s, at or below the stray's job-7", id)
	}
	if _, err := syscall.Getxattr(d.root, "user.cgroupd.mkdir", buf); err != syscall.ENODATA {
		t.Errorf("a RUN left the root's intent behind (getxattr: %v)", err)
	}
}

// TestMarkHoldsNoArgv (issue 33 #10): the mark on a job's cgroup, which
// any local user can read, holds what adoption needs and no argv; the
// command stays in the 0600 record. A job whose record is lost is still
// adopted from the mark, its command reported unknown.
func TestMarkHoldsNoArgv(t *testing.T) {
	d := startDaemon(t)
	const secret = "--password=hunter2"
	r := mustOK(t, d.run("sec", []string{"sh", "-c", "exec sleep 1000", "sh", secret}))
	mark := make([]byte, 64<<10)
	sz, err := syscall.Getxattr(filepath.Join(d.root, "sec"), "user.cgroupd.job", mark)
	if err != nil {
		t.Fatal(err)
	}
	mark = mark[:sz]
	if strings.Contains(string(mark), "hunter2") || strings.Contains(string(mark), "\narg: ") {
		t.Fatalf("the mark holds the command:\n%s", mark)
	}
	for _, want := range []string{"\nid: sec\n", "\nuid: 0\n", "\npid: " + r.KV["pid"] + "\n", "\npid_start: "} {
		if !strings.Contains(string(mark), want) {
			t.Errorf("the mark lacks %q:\n%s", want, mark)
		}
	}
	rec := filepath.Join(stateDirOf(d.root), "jobs", "sec")
	// The RUN's reply did not wait for the writer (the mark was on).
	pollUntil(t, 10*time.Second, "the record, with the command", func() bool {
		b, _ := os.ReadFile(rec)
		return strings.Contains(string(b), secret)
	})
	d.crash()
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	n := d.restart()
	n.out.waitEvent(t, "job.adopt", map[string]string{"id": "sec", "pid": r.KV["pid"]})
	if j := listByID(t, n)["sec"]; j["state"] != "running" || j["command"] != "" || j["command_known"] != "0" {
		t.Errorf("LIST sec: %v, want running with command_known 0", j)
	}
	mustOK(t, n.do("KILL", "id", "sec"))
	n.out.waitEvent(t, "job.exit", map[string]string{"id": "sec", "signal": "9"})
}

// TestUnreadableRecordKeepsJob (issue 33 #4): a record the next daemon
// cannot read is reported (state.corrupt) and its job, whatever its id
// (a leading dot as systemd's .control has), is not dropped: its cgroup's
// mark brings it back under control, adopted.
func TestUnreadableRecordKeepsJob(t *testing.T) {
	d := startDaemon(t)
	ids := []string{".spare-9", "plain"}
	pids := map[string]string{}
	for _, id := range ids {
		pids[id] = mustOK(t, d.run(id, []string{"sleep", "1000"})).KV["pid"]
	}
	recs := filepath.Join(stateDirOf(d.root), "jobs")
	pollUntil(t, 10*time.Second, "the records", func() bool {
		for _, id := range ids {
			if _, err := os.Stat(filepath.Join(recs, id)); err != nil {
				return false
			}
		}
		return true
	})
	d.crash()
	for _, id := range ids {
		if err := os.WriteFile(filepath.Join(recs, id), []byte("cgroupd-job: 1\nid: "+id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n := d.restart()
	list := listByID(t, n)
	for _, id := range ids {
		n.out.waitEvent(t, "state.corrupt", map[string]string{"file": filepath.Join(recs, id)})
		n.out.waitEvent(t, "job.adopt", map[string]string{"id": id, "pid": pids[id]})
		if j := list[id]; j["state"] != "running" || j["pid"] != pids[id] {
			t.Errorf("LIST %s: %v, want running pid %s", id, j, pids[id])
		}
		mustOK(t, n.do("KILL", "id", id))
		n.out.waitEvent(t, "job.exit", map[string]string{"id": id, "signal": "9"})
	}
}
