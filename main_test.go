package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cgroupd/applets/usagedoc"
)

func TestDispatchUnknownListsApplets(t *testing.T) {
	// No match: one line on stderr with the sorted visible applets and the
	// pointer to -h, exit 2.
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"cgroupbox"}, "cgroupbox: no applet given; "},
		{[]string{"cgroupbox", "nope"}, `cgroupbox: unknown applet "nope"; `},
		{[]string{"/usr/bin/whatever", "frob", "x"}, `cgroupbox: unknown applet "frob"; `},
		{[]string{"cgroupbox", "--frob"}, `cgroupbox: unknown option "--frob"; `},
		{[]string{"cgroupbox", "a\nb"}, `cgroupbox: unknown applet "a\nb"; `},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(tc.argv, strings.NewReader(""), &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit = %d, want 2", code)
			}
			want := tc.want + "applets: cgroupctl cgroupd cpuhog memhog (see cgroupbox -h)\n"
			if got := stderr.String(); got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			for n, a := range applets {
				if a.hidden && strings.Contains(stderr.String(), n) {
					t.Errorf("hidden applet %q listed", n)
				}
			}
		})
	}
}

func TestDispatchUsageErrorsOneLine(t *testing.T) {
	for _, argv := range [][]string{
		{"cgroupbox", "--install"},
		{"cgroupbox", "--install", "a", "b"},
		{"memhog"}, {"memhog", "x"}, {"memhog", "-x"}, {"cpuhog", "1", "1", "1"},
		{"cgroupbox", "memhog", "x"}, {"cgroupbox", "cpuhog", "zero"},
	} {
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(argv, strings.NewReader(""), &stdout, &stderr)
			e := stderr.String()
			if code != 2 || strings.Count(e, "\n") != 1 || !strings.Contains(e, " -h)\n") {
				t.Errorf("exit %d, stderr %q; want 2 and one line ending in (see ... -h)", code, e)
			}
		})
	}
}

func TestDispatchHelp(t *testing.T) {
	// Every visible applet, and the dispatcher itself, answers -h with
	// usage and exit 0, whether chosen by argv[0] or by argv[1] (full name
	// or alias).
	cases := [][]string{
		{"cgroupd", "-h"}, {"cgroupctl", "-h"}, {"memhog", "-h"}, {"cpuhog", "-h"},
		{"/x/y/cgroupd", "-h"},
		{"cgroupbox", "cgroupd", "-h"}, {"cgroupbox", "daemon", "-h"},
		{"cgroupbox", "ctl", "-h"}, {"cgroupbox", "memhog", "-h"},
		{"cgroupbox", "-h"}, {"cgroupbox", "--help"}, {"/x/cgroupbox", "-h"},
	}
	for _, argv := range cases {
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(argv, strings.NewReader(""), &out, &errb)
			if code != 0 {
				t.Errorf("exit = %d, want 0 (stderr %q)", code, errb.String())
			}
			if !strings.Contains(strings.ToLower(out.String()+errb.String()), "usage") {
				t.Errorf("no usage text in %q", out.String()+errb.String())
			}
		})
	}
}

func TestInstall(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	selfDir := filepath.Dir(self)
	// Beside the binary the links are its bare name; elsewhere they are
	// the relative path from the directory's real location.
	beside := selfDir
	other := t.TempDir()
	// A directory reached through a symlink one level deeper than other:
	// the relative path is the same, computed from the real location.
	third := t.TempDir()
	viaLink := filepath.Join(t.TempDir(), "x", "link")
	os.Mkdir(filepath.Dir(viaLink), 0o755)
	if err := os.Symlink(third, viaLink); err != nil {
		t.Fatal(err)
	}
	realOther, _ := filepath.EvalSymlinks(other)
	rel, err := filepath.Rel(realOther, self)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"beside the binary", beside, filepath.Base(self)},
		{"another directory", other, rel},
		{"through a symlinked directory", viaLink, rel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dir == beside {
				// Linking into the test binary's directory (go's build
				// cache dir for this test) leaves links behind: remove them.
				for _, n := range names() {
					p := filepath.Join(beside, n)
					if _, err := os.Lstat(p); err == nil {
						t.Skipf("%s exists", p)
					}
					t.Cleanup(func() { os.Remove(p) })
				}
			}
			var out bytes.Buffer
			if err := install(tc.dir, &out); err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for _, n := range names() {
				p := filepath.Join(tc.dir, n)
				got, err := os.Readlink(p)
				if err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				if got != tc.want {
					t.Errorf("%s -> %s, want %s", n, got, tc.want)
				}
				if filepath.IsAbs(got) {
					t.Errorf("%s -> %s: absolute", n, got)
				}
				// The link resolves to this binary.
				if r, err := filepath.EvalSymlinks(p); err != nil || r != self {
					t.Errorf("%s resolves to %q (%v), want %s", n, r, err, self)
				}
				want.WriteString(p + " -> " + tc.want + "\n")
			}
			if out.String() != want.String() {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), want.String())
			}
		})
	}

	// A second install replaces the links and says so; a link to elsewhere
	// is replaced with its old target named.
	memhog := filepath.Join(other, "memhog")
	os.Remove(memhog)
	os.Symlink("/somewhere/else", memhog)
	var out bytes.Buffer
	if err := install(other, &out); err != nil {
		t.Errorf("second install: %v", err)
	}
	for _, w := range []string{
		filepath.Join(other, "cgroupd") + " -> " + rel + " (was already)\n",
		memhog + " -> " + rel + " (was -> /somewhere/else)\n",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("second install printed %q, want a line %q", out.String(), w)
		}
	}

	// A regular file is not clobbered, and nothing is linked then.
	fresh := t.TempDir()
	os.WriteFile(filepath.Join(fresh, "memhog"), []byte("x"), 0o644)
	out.Reset()
	if err := install(fresh, &out); err == nil {
		t.Errorf("install over a regular file: got nil error")
	}
	if _, err := os.Lstat(filepath.Join(fresh, "cgroupctl")); err == nil || out.Len() != 0 {
		t.Errorf("install over a regular file linked something (output %q)", out.String())
	}
	if err := install(filepath.Join(fresh, "memhog"), io.Discard); err == nil {
		t.Errorf("install into a file: got nil error")
	}
}

func TestInstallCommand(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"cgroupbox", "--install", dir}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != len(names()) {
		t.Errorf("stdout %q: %d lines, want one per applet (%d)", stdout.String(), n, len(names()))
	}
	stderr.Reset()
	if code := dispatch([]string{"cgroupbox", "--install", filepath.Join(dir, "no", "such")}, strings.NewReader(""), io.Discard, &stderr); code != 1 ||
		!strings.HasPrefix(stderr.String(), "cgroupbox: --install: ") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("missing dir: exit %d, stderr %q; want 1 and one cgroupbox: --install: line", code, stderr.String())
	}
}

// TestDependencies guards the user's rule: the binary links only the
// standard library and golang.org/x/sys.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "cgroupd" || strings.HasPrefix(p, "cgroupd/") || strings.HasPrefix(p, "golang.org/x/sys/") {
			continue
		}
		t.Errorf("forbidden dependency %s", p)
	}
}

func TestDispatchVersion(t *testing.T) {
	// The dispatcher and every visible applet, by argv[0] or argv[1]:
	// PROG VERSION commit COMMIT linux/ARCH GOVERSION, exit 0.
	cases := []struct {
		argv []string
		prog string
	}{
		{[]string{"cgroupbox", "--version"}, "cgroupbox"},
		{[]string{"cgroupbox", "-V"}, "cgroupbox"},
		{[]string{"cgroupbox", "ctl", "-V"}, "cgroupctl"},
		{[]string{"cgroupbox", "daemon", "--version"}, "cgroupd"},
	}
	for _, n := range names() {
		cases = append(cases,
			struct {
				argv []string
				prog string
			}{[]string{"/usr/local/bin/" + n, "--version"}, n},
			struct {
				argv []string
				prog string
			}{[]string{n, "-V"}, n})
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(tc.argv, strings.NewReader(""), &out, &errb)
			if code != 0 || errb.Len() != 0 {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			f := strings.Fields(out.String())
			if len(f) != 6 || f[0] != tc.prog || f[2] != "commit" ||
				!strings.HasPrefix(f[4], "linux/"+runtime.GOARCH) || f[5] != runtime.Version() {
				t.Errorf("got %q", out.String())
			}
			if len(f) > 3 && (f[1] == "" || f[3] == "") {
				t.Errorf("empty version or commit in %q", out.String())
			}
		})
	}
}

// TestDocMatchesUsage: the doc comment shows the -h text verbatim.
func TestDocMatchesUsage(t *testing.T) {
	usagedoc.Check(t, "main.go", usage)
}
