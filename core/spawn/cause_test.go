package spawn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCause: a failed start whose directory the job's user cannot enter
// is a *DirError naming it; any other failure is left as it was.
func TestCause(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (checks as another uid)")
	}
	dir, err := os.MkdirTemp("", "spawn-cause-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	closed := filepath.Join(dir, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	startErr := fmt.Errorf("start /bin/true: %w", syscall.EACCES)
	const nobody = 65534
	for _, tc := range []struct {
		name    string
		c       Cmd
		wantDir bool
	}{
		{"cannot enter", Cmd{Dir: closed, SetCred: true, Uid: nobody, Gid: nobody}, true},
		{"missing", Cmd{Dir: filepath.Join(dir, "gone"), SetCred: true, Uid: nobody, Gid: nobody}, true},
		{"enters it", Cmd{Dir: dir, SetCred: true, Uid: nobody, Gid: nobody}, false},
		{"root enters it", Cmd{Dir: closed}, false},
		{"no dir", Cmd{SetCred: true, Uid: nobody, Gid: nobody}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.cause(startErr)
			var de *DirError
			switch {
			case tc.wantDir && (!errors.As(err, &de) || de.Dir != tc.c.Dir || err.Error() != "cwd "+tc.c.Dir+": "+de.Err.Error()):
				t.Errorf("got %v, want cwd %s: ...", err, tc.c.Dir)
			case !tc.wantDir && err != startErr:
				t.Errorf("got %v, want the start's error unchanged", err)
			}
		})
	}
	if err := (&Cmd{Dir: closed, SetCred: true, Uid: nobody}).cause(errors.New("not an errno")); errors.As(err, new(*DirError)) {
		t.Errorf("an error that is no errno became %v", err)
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/nonexistent/interp -x\necho\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	enoent := fmt.Errorf("start %s: %w", script, syscall.ENOENT)
	err = (&Cmd{Path: script, Dir: dir, SetCred: true, Uid: nobody, Gid: nobody}).cause(enoent)
	if want := "start " + script + ": interpreter /nonexistent/interp: no such file or directory"; err == nil || err.Error() != want ||
		!errors.Is(err, syscall.ENOEXEC) {
		t.Errorf("script with a missing interpreter: %v, want %q (ENOEXEC: not executable)", err, want)
	}
	if err := (&Cmd{Path: "/bin/sh"}).cause(enoent); err != enoent {
		t.Errorf("ENOENT of a file that is no script: %v, want it unchanged", err)
	}
	if _, err := LookPath("./x", nil, "/nonexistent"); !errors.As(err, new(*DirError)) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LookPath ./x in a missing dir: %v, want cwd /nonexistent: ...", err)
	}
}
