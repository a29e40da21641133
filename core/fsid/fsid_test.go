package fsid

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// threadStatus returns the Uid:, Gid: and Groups: lines of every thread
// of this process.
func threadStatus(t *testing.T) map[string]string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads: %v", err)
	}
	out := map[string]string{}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") || strings.HasPrefix(l, "Groups:") || strings.HasPrefix(l, "CapEff:") {
				keep = append(keep, l)
			}
		}
		out[p] = strings.Join(keep, " | ")
	}
	return out
}

func TestDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const nobody = 65534
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.Mkdir(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secret, "key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	before := threadStatus(t)
	var errKey, errNoKey, errOpen error
	var status string
	err := Do(nobody, nobody, []uint32{nobody, 4242}, func() {
		_, errKey = os.Stat(filepath.Join(secret, "key"))
		_, errNoKey = os.Stat(filepath.Join(secret, "nokey"))
		_, errOpen = os.ReadDir(secret)
		b, _ := os.ReadFile("/proc/thread-self/status")
		status = string(b)
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	for name, e := range map[string]error{"stat key": errKey, "stat nokey": errNoKey, "readdir": errOpen} {
		if !errors.Is(e, fs.ErrPermission) {
			t.Errorf("%s as nobody: got %v, want permission denied", name, e)
		}
	}
	// Real, effective, saved, filesystem: only the last changes.
	if !strings.Contains(status, "\nUid:\t0\t0\t0\t65534\n") || !strings.Contains(status, "\nGid:\t0\t0\t0\t65534\n") ||
		!strings.Contains(status, "\nGroups:\t4242 65534 \n") {
		t.Errorf("thread status inside Do: got %q, want fsuid/fsgid 65534, groups 4242 65534", status)
	}
	if _, err := os.Stat(filepath.Join(secret, "key")); err != nil {
		t.Errorf("stat as root after Do: %v", err)
	}
	// No thread kept the borrowed identity: every thread that existed
	// before is as it was, and every thread now is root's.
	after := threadStatus(t)
	for p, s := range after {
		if b, ok := before[p]; ok && b != s {
			t.Errorf("%s: got %q after Do, want %q", p, s, b)
		}
		if !strings.Contains(s, "Uid:\t0\t0\t0\t0") || !strings.Contains(s, "Gid:\t0\t0\t0\t0") {
			t.Errorf("%s: got %q after Do, want root's ids", p, s)
		}
	}
}

// rootProcess starts a root process whose working directory is a
// directory anyone may search holding a file "flag", inside a 0700 one
// (as /root/dir/flag), and returns its pid.
func rootProcess(t *testing.T) int {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	secret, sub := filepath.Join(dir, "secret"), filepath.Join(dir, "secret", "sub")
	for _, err := range []error{os.Mkdir(secret, 0o700), os.Mkdir(sub, 0o755), os.WriteFile(filepath.Join(sub, "flag"), nil, 0o644)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sleep", "60")
	cmd.Dir = sub
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// TestDoNoCapabilities: fn runs with no capability, so another user's
// working directory through /proc/<pid>/cwd is closed to it as to the
// user's own stat (EACCES), whether the file exists or not. With
// CAP_SYS_PTRACE kept, the stat of an existing file succeeded: an
// existence oracle for any root-only file.
func TestDoNoCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	pid := rootProcess(t)
	cwd := "/proc/" + strconv.Itoa(pid) + "/cwd/"
	if _, err := os.Stat(cwd + "flag"); err != nil {
		t.Fatalf("stat %sflag as root: %v", cwd, err)
	}
	var errFlag, errNone error
	var status string
	if err := Do(65534, 65534, []uint32{65534}, func() {
		_, errFlag = os.Stat(cwd + "flag")
		_, errNone = os.Stat(cwd + "none")
		b, _ := os.ReadFile("/proc/thread-self/status")
		status = string(b)
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	for name, e := range map[string]error{"an existing file": errFlag, "a missing file": errNone} {
		if !errors.Is(e, fs.ErrPermission) {
			t.Errorf("stat of %s under root's cwd as nobody: got %v, want permission denied", name, e)
		}
	}
	if !strings.Contains(status, "\nCapEff:\t0000000000000000\n") {
		t.Errorf("effective capabilities inside Do: got %q, want none", status)
	}
	if _, err := os.Stat(cwd + "flag"); err != nil {
		t.Errorf("stat as root after Do: %v", err)
	}
}

// BenchmarkDo: the cost of one check with another user's rights (a
// non-root caller's RUN makes two).
func BenchmarkDo(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for i := 0; i < b.N; i++ {
		if err := Do(65534, 65534, []uint32{65534}, func() { os.Stat("/") }); err != nil {
			b.Fatal(err)
		}
	}
}
