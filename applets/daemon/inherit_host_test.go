package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
