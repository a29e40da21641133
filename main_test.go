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
)

func TestDispatchUnknownListsApplets(t *testing.T) {
	for _, argv := range [][]string{
		{"cgroupbox"},
		{"cgroupbox", "nope"},
		{"/usr/bin/whatever", "frob", "x"},
	} {
		t.Run(strings.Join(argv, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := dispatch(argv, strings.NewReader(""), io.Discard, &stderr)
			if code != 2 {
				t.Errorf("exit = %d, want 2", code)
			}
			want := "  cgroupctl\n  cgroupd\n  cpuhog\n  memhog\n"
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr = %q, want sorted applet list %q", stderr.String(), want)
			}
			for n, a := range applets {
				if a.hidden && strings.Contains(stderr.String(), n) {
					t.Errorf("hidden applet %q listed", n)
				}
			}
		})
	}
}

func TestDispatchHelp(t *testing.T) {
	// Every visible applet answers -h with usage and exit 0, whether chosen
	// by argv[0] or by argv[1] (full name or alias).
	cases := [][]string{
		{"cgroupd", "-h"}, {"cgroupctl", "-h"}, {"memhog", "-h"}, {"cpuhog", "-h"},
		{"/x/y/cgroupd", "-h"},
		{"cgroupbox", "cgroupd", "-h"}, {"cgroupbox", "daemon", "-h"},
		{"cgroupbox", "ctl", "-h"}, {"cgroupbox", "memhog", "-h"},
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
	dir := t.TempDir()
	if err := install(dir); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	for _, n := range names() {
		got, err := os.Readlink(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if got != self {
			t.Errorf("%s -> %s, want %s", n, got, self)
		}
	}
	// A second install replaces the links; a regular file is not clobbered.
	if err := install(dir); err != nil {
		t.Errorf("second install: %v", err)
	}
	os.Remove(filepath.Join(dir, "memhog"))
	os.WriteFile(filepath.Join(dir, "memhog"), []byte("x"), 0o644)
	if err := install(dir); err == nil {
		t.Errorf("install over a regular file: got nil error")
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
	for _, flag := range []string{"--version", "-V"} {
		var out, errb bytes.Buffer
		code := dispatch([]string{"cgroupbox", flag}, strings.NewReader(""), &out, &errb)
		if code != 0 || errb.Len() != 0 {
			t.Fatalf("%s: exit %d, stderr %q", flag, code, errb.String())
		}
		f := strings.Fields(out.String())
		// cgroupbox VERSION commit COMMIT linux/ARCH GOVERSION
		if len(f) != 6 || f[0] != "cgroupbox" || f[2] != "commit" ||
			!strings.HasPrefix(f[4], "linux/"+runtime.GOARCH) || f[5] != runtime.Version() {
			t.Errorf("%s: got %q", flag, out.String())
		}
		if f[1] == "" || f[3] == "" {
			t.Errorf("%s: empty version or commit in %q", flag, out.String())
		}
	}
}
