package daemon

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// compatCommit is the last build without the hand-off lines for the
// event ring, the counters and the engine's demotions (947a440 added
// them): an image that neither writes nor reads them.
const compatCommit = "3ed8403"

// buildCommit builds the cgroupbox of commit from this repository's
// history as bin (its source unpacked under dir); ok false with the
// reason when the history does not hold it.
func buildCommit(t *testing.T, commit, dir, bin string) (string, bool) {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "git rev-parse: " + err.Error(), false
	}
	repo := strings.TrimSpace(string(top))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		return "commit " + commit + " is not in this clone's history (a shallow clone?)", false
	}
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	arch := exec.Command("git", "-C", repo, "archive", commit)
	arch.Stdout = &tarball
	if err := arch.Run(); err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	untar := exec.Command("tar", "-x", "-C", src)
	untar.Stdin = &tarball
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := goBuild(src, bin); err != nil {
		t.Fatalf("at %s: %v", commit, err)
	}
	return "", true
}

// oldBuild is the cgroupbox of commit, built for a test that starts
// daemons of both builds (skipped where it cannot run: under user-mode
// emulation, without the commit outside CI).
func oldBuild(t *testing.T, commit string) string {
	t.Helper()
	if os.Getenv("CGROUPD_TEST_USER_EMU") != "" {
		t.Skip("starts the daemon: not under user-mode emulation")
	}
	hostMount(t)
	old := filepath.Join(t.TempDir(), "cgroupbox-"+commit)
	if why, ok := buildCommit(t, commit, t.TempDir(), old); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no old build to upgrade from: %s", why)
		}
		t.Skip(why)
	}
	return old
}

// TestUpgradeAcrossVersions: an upgrade from a build that knows none of
// the newer hand-off lines, and a rollback to it, keep every job: a
// running job keeps its pid, an ended one its exact status, and a job
// that ends after each step is seen to end with its own exit code (it
// stayed the daemon's child). The history and counters start over when
// the old image is on one side, as the README says; nothing else does.
func TestUpgradeAcrossVersions(t *testing.T) {
	old := oldBuild(t, compatCommit)
	if readFile(t, old) == readFile(t, filepath.Join(binDir, "cgroupbox")) {
		t.Fatal("the build of " + compatCommit + " is this build")
	}
	// The daemon's file, replaced in one rename at each step, as an
	// installer does; the running image keeps its own.
	bin := filepath.Join(t.TempDir(), "cgroupd")
	copyFile(t, old, bin)
	logs := t.TempDir()
	d := startDaemonCmd(t, newRootPath(t), filepath.Join(t.TempDir(), "s.sock"), func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin }, "-L", logs)
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })

	mustOK(t, d.run("ended", []string{"sh", "-c", "exit 3"}))
	mustOK(t, d.do("WAIT", "id", "ended"))
	live := mustOK(t, d.run("live", []string{"sleep", "1000"})).KV["pid"]
	gates := t.TempDir()
	steps := []struct{ name, binary string }{
		{"upgrade from " + compatCommit, filepath.Join(binDir, "cgroupbox")},
		{"rollback to " + compatCommit, old},
		{"upgrade again", filepath.Join(binDir, "cgroupbox")},
	}
	for i, st := range steps {
		// A job that ends after the step, with its own code: its status
		// comes from the pidfd the step handed over.
		later, gate := "later"+strconv.Itoa(i), filepath.Join(gates, "go"+strconv.Itoa(i))
		mustOK(t, d.run(later, []string{"sh", "-c", "until [ -e " + gate + " ]; do sleep 0.05; done; exit 7"}))
		copyFile(t, st.binary, bin)
		out, _, code := d.ctl("upgrade")
		if code != 0 {
			t.Fatalf("%s: upgrade: exit %d, %q", st.name, code, out)
		}
		exe, err1 := os.Stat("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/exe")
		put, err2 := os.Stat(bin)
		if err1 != nil || err2 != nil || !os.SameFile(exe, put) {
			t.Fatalf("%s: the daemon does not run the file put in place (%v, %v)", st.name, err1, err2)
		}
		list := listByID(t, d)
		if j := list["live"]; j["state"] != "running" || j["pid"] != live {
			t.Errorf("%s: live: %v, want running pid %s", st.name, j, live)
		}
		if j := list["ended"]; j["state"] != "failed" || j["exit"] != "3" {
			t.Errorf("%s: ended: %v, want failed exit 3", st.name, j)
		}
		for k := 0; k < i; k++ {
			if j := list["later"+strconv.Itoa(k)]; j["state"] != "failed" || j["exit"] != "7" {
				t.Errorf("%s: later%d: %v, want failed exit 7", st.name, k, j)
			}
		}
		if j := list[later]; j["state"] != "running" {
			t.Fatalf("%s: %s: %v, want running", st.name, later, j)
		}
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if w := mustOK(t, d.do("WAIT", "id", later)); w.KV["state"] != "failed" || w.KV["exit"] != "7" {
			t.Errorf("%s: WAIT %s: %v, want failed exit 7 (the exact status, after the step)", st.name, later, w.KV)
		}
	}
}

// spareCommit is the last build whose journal kept its spares and temp
// files beside the records (jobs/.spare-<n>, jobs/.<id>.tmp), names a job
// id could take.
const spareCommit = "767dbad"

// TestSparesAcrossVersions (issue 33 #4): the journal's own files moved
// out of the records' names, and an upgrade from the build that kept
// them in jobs/ (its spares left there), a crash, a rollback to it and an
// upgrade again keep every job; the old spares are never read as jobs,
// and a job named like one (.spare-1, .x.tmp) is kept across a crash.
func TestSparesAcrossVersions(t *testing.T) {
	old := oldBuild(t, spareCommit)
	// A disk, not tmpfs: the old writer keeps spares only there.
	state := t.TempDir()
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(state, &sfs); err != nil || sfs.Type == 0x01021994 {
		t.Skip("the test's temp dir is a tmpfs: no spares to keep")
	}
	jobs := filepath.Join(state, "jobs")
	bin := filepath.Join(t.TempDir(), "cgroupd")
	copyFile(t, old, bin)
	args := []string{"--state-dir", state}
	prep := func(c *exec.Cmd) { c.Path = bin; c.Args[0] = bin }
	d := startDaemonCmd(t, newRootPath(t), filepath.Join(t.TempDir(), "s.sock"), prep, args...)
	d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
	for i := 0; i < 3; i++ { // three removed jobs: spares in jobs/
		id := "gone" + strconv.Itoa(i)
		mustOK(t, d.run(id, []string{"true"}))
		mustOK(t, d.do("WAIT", "id", id))
		mustOK(t, d.do("REMOVE", "id", id))
	}
	// The old writer turns a removed record into a spare on its own
	// goroutine, after REMOVE is answered; a new job's first record takes
	// one again, so they are looked for before the next jobs start.
	var oldSpares []string
	pollUntil(t, 10*time.Second, "the old build's spares", func() bool {
		oldSpares, _ = filepath.Glob(filepath.Join(jobs, ".spare-*"))
		return len(oldSpares) > 0
	})
	mustOK(t, d.run("ended", []string{"sh", "-c", "exit 3"}))
	mustOK(t, d.do("WAIT", "id", "ended"))
	live := mustOK(t, d.run("live", []string{"sleep", "1000"})).KV["pid"]
	// Those the later jobs' records did not take stay spares.
	later, _ := filepath.Glob(filepath.Join(jobs, ".spare-*"))
	oldSpares = append(oldSpares, later...)
	check := func(step string, d *testDaemon, want ...string) {
		t.Helper()
		list := listByID(t, d)
		if j := list["live"]; j["state"] != "running" || j["pid"] != live {
			t.Errorf("%s: live: %v, want running pid %s", step, j, live)
		}
		if j := list["ended"]; j["state"] != "failed" || j["exit"] != "3" {
			t.Errorf("%s: ended: %v, want failed exit 3", step, j)
		}
		if len(list) != 2+len(want) {
			t.Errorf("%s: LIST has %d jobs, want %d", step, len(list), 2+len(want))
		}
		for _, id := range want {
			if j := list[id]; j["state"] != "running" {
				t.Errorf("%s: %s: %v, want running", step, id, j)
			}
		}
	}
	upgrade := func(step, binary string) {
		t.Helper()
		copyFile(t, binary, bin)
		if out, _, code := d.ctl("upgrade"); code != 0 {
			t.Fatalf("%s: upgrade: exit %d, %q", step, code, out)
		}
	}
	upgrade("upgrade", filepath.Join(binDir, "cgroupbox"))
	check("upgrade", d)
	for _, name := range oldSpares {
		if _, err := os.Stat(name); err == nil {
			t.Errorf("upgrade: the old spare %s is left among the records", name)
		}
	}
	mustOK(t, d.run(".spare-1", []string{"sleep", "1000"}))
	mustOK(t, d.run(".x.tmp", []string{"sleep", "1000"}))
	for i := 0; i < 3; i++ { // spares of the new build's own
		id := "new" + strconv.Itoa(i)
		mustOK(t, d.run(id, []string{"true"}))
		mustOK(t, d.do("WAIT", "id", id))
		mustOK(t, d.do("REMOVE", "id", id))
	}
	check("jobs named like spares", d, ".spare-1", ".x.tmp")
	d.crash()
	d = d.restart(args...)
	check("crash and restart", d, ".spare-1", ".x.tmp")
	// The old build would lose those two (its bug): end them first.
	for _, id := range []string{".spare-1", ".x.tmp"} {
		mustOK(t, d.do("KILL", "id", id))
		mustOK(t, d.do("WAIT", "id", id))
		mustOK(t, d.do("REMOVE", "id", id))
	}
	upgrade("rollback", old)
	check("rollback", d)
	upgrade("upgrade again", filepath.Join(binDir, "cgroupbox"))
	check("upgrade again", d)
	mustOK(t, d.do("KILL", "id", "live"))
}
