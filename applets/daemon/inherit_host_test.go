package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cgroupd/core/proto"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// jobOutput runs sh -c script as job id (as root) and returns what it
// wrote to out, a file the script is given as $1.
func jobOutput(t *testing.T, d *testDaemon, id, script string, kv ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), id)
	mustOK(t, d.run(id, []string{"/bin/sh", "-c", "exec >" + out + "; " + script, "sh"}, kv...))
	if w := mustOK(t, d.do("WAIT", "id", id)); w.KV["exit"] != "0" {
		t.Fatalf("job %s: got %q, want exit 0", id, w.Raw)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJobInheritsNoFDs: a daemon started with fd 3 open on a root-only
// file, not close-on-exec (as a parent's leftover descriptor is): a job
// has fds 0, 1 and 2 and nothing else, on the clone3 path and on the
// fallback helper's. The job used to write into the file through fd 3.
func TestJobInheritsNoFDs(t *testing.T) {
	hostMount(t)
	secret, err := os.OpenFile(filepath.Join(t.TempDir(), "root-only"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer secret.Close()
	for _, path := range []struct{ name, flag string }{{"clone3", ""}, {"fallback", "--spawn-fallback"}} {
		t.Run(path.name, func(t *testing.T) {
			var args []string
			if path.flag != "" {
				args = append(args, path.flag)
			}
			d := startDaemonCmd(t, newRootPath(t), filepath.Join(t.TempDir(), "s.sock"), func(c *exec.Cmd) { c.ExtraFiles = []*os.File{secret} }, args...)
			d.out.waitLine(t, 10*time.Second, `"cgroupd ready"`, func(s string) bool { return s == "cgroupd ready" })
			// The shell's own fds ($$), listed by ls, a child it starts.
			got := strings.Fields(jobOutput(t, d, "fds", "ls /proc/$$/fd"))
			if strings.Join(got, " ") != "0 1 2" {
				t.Errorf("job's fds: got %v, want [0 1 2]", got)
			}
		})
	}
}

// TestJobRlimits: a job starts with the documented limits, not the
// daemon's (raised for its connections: nofile 20 000 here), on both
// spawn paths; --ulimit sets its own; a non-root caller gets the
// defaults lowered to --max-user-ulimit and is refused above it.
func TestJobRlimits(t *testing.T) {
	hostMount(t)
	hardNofile := uint64(524288)
	if !spawn.CanRaise() {
		var own unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_NOFILE, &own)
		hardNofile = min(hardNofile, own.Max)
	}
	threads := spawn.ThreadsMax() / 2
	const script = "echo $(ulimit -Sn) $(ulimit -Hn) $(ulimit -Sp) $(ulimit -Hp) $(ulimit -Sc)"
	for _, path := range []struct{ name, flag string }{{"clone3", "--max-user-jobs=9"}, {"fallback", "--spawn-fallback"}} {
		t.Run(path.name, func(t *testing.T) {
			d := startDaemon(t, path.flag, "--socket-group", strconv.Itoa(nobody), "--max-user-ulimit", "nproc=40:50")
			want := fmt.Sprintf("1024 %d %d %d 0", hardNofile, threads, threads)
			if got := strings.TrimSpace(jobOutput(t, d, "defaults", script)); got != want {
				t.Errorf("job's nofile soft, hard, nproc soft, hard, core soft: got %q, want %q", got, want)
			}
			want = fmt.Sprintf("100 200 %d %d unlimited", threads, threads)
			if got := strings.TrimSpace(jobOutput(t, d, "asked", script, "ulimit", "nofile=100:200", "ulimit", "core=unlimited")); got != want {
				t.Errorf("job with --ulimit nofile=100:200 core=unlimited: got %q, want %q", got, want)
			}
			// nobody: the defaults lowered to the ceiling, more refused.
			dir, err := os.MkdirTemp("", "cgroupd-ulimit-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			os.Chmod(dir, 0o777)
			out, errOut, code := d.ctlAs(asNobody, "run", "--wait", "--", "/bin/sh", "-c", "exec >"+dir+"/out; "+script)
			b, _ := os.ReadFile(dir + "/out")
			if want := fmt.Sprintf("1024 %d 40 50 0", hardNofile); code != 0 || strings.TrimSpace(string(b)) != want {
				t.Errorf("nobody's job: exit %d %q %q, limits %q, want %q", code, out, errOut, b, want)
			}
			out, _, code = d.ctlAs(asNobody, "run", "--ulimit", "nproc=60", "--", "/bin/true")
			if code != 1 || !strings.Contains(out, "reason: ulimit: nproc hard limit 60 is above 50, the most a non-root caller may ask (--max-user-ulimit)\n") {
				t.Errorf("nobody's job with nproc 60: exit %d %q, want refused naming the ceiling", code, out)
			}
			out, _, code = d.ctlAs(asNobody, "run", "--ulimit", "nofile=64", "--", "/bin/true")
			if code != 0 {
				t.Errorf("nobody's job lowering nofile: exit %d %q, want it started", code, out)
			}
			if r := d.run("bad", []string{"true"}, "ulimit", "files=1"); !strings.HasPrefix(r.KV["reason"], `ulimit: "files": no such resource (want as, core,`) {
				t.Errorf("ulimit files=1: got %q, want refused naming the resources", r.Raw)
			}
		})
	}
}

// TestLargestRequest: a PING of 4 MiB of distinct keys (about 380 000,
// which held the loop for minutes) is refused as too large once it has
// more header lines than a request may have; one at that bound is
// answered, and so is a PING of another client meanwhile.
func TestLargestRequest(t *testing.T) {
	hostMount(t)
	d := startDaemon(t)
	build := func(n, size int) []byte {
		b := []byte("PING\n")
		for i := 0; i < n && len(b) < size; i++ {
			b = append(b, "k"+strconv.Itoa(i)+": v\n"...)
		}
		return append(b, '\n')
	}
	if got := d.rawRequest(build(1<<30, proto.MaxRequest-32)); got != "STATUS: err\nreason: request too large\nmax_headers: 65536\n\n" {
		t.Errorf("4 MiB PING: got %q, want request too large, max_headers 65536", got)
	}
	if got := d.rawRequest(build(proto.MaxHeaders, proto.MaxRequest)); got != "STATUS: ok\npong: 1\n\n" {
		t.Errorf("PING of %d keys: got %q, want pong", proto.MaxHeaders, got)
	}
	mustOK(t, d.do("PING"))
}
