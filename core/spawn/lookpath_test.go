package spawn

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestLookPath(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("a/tool", 0o755)
	mk("b/tool", 0o755)
	mk("a/noexec", 0o644)
	mk("b/noexec", 0o755)
	mk("c/plain", 0o644)
	mk("work/local", 0o755)
	if err := os.MkdirAll(filepath.Join(root, "a", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b, work := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "work")
	tests := []struct {
		name, file string
		env        []string
		dir        string
		want       string
		wantErr    error
	}{
		{"first in PATH", "tool", []string{"PATH=" + a + ":" + b}, "", filepath.Join(a, "tool"), nil},
		{"order matters", "tool", []string{"PATH=" + b + ":" + a}, "", filepath.Join(b, "tool"), nil},
		{"not executable skipped", "noexec", []string{"PATH=" + a + ":" + b}, "", filepath.Join(b, "noexec"), nil},
		{"only non-executable", "plain", []string{"PATH=" + filepath.Join(root, "c")}, "", "", fs.ErrPermission},
		{"directory skipped", "dir", []string{"PATH=" + a}, "", "", fs.ErrPermission},
		{"not found", "nope", []string{"PATH=" + a}, "", "", ErrNotFound},
		{"first PATH wins", "tool", []string{"PATH=" + b, "PATH=" + a}, "", filepath.Join(b, "tool"), nil},
		{"default PATH", "sh", []string{"HOME=/"}, "", "", nil},
		{"empty entry is dir", "local", []string{"PATH=" + a + ":"}, work, filepath.Join(work, "local"), nil},
		{"relative entry is under dir", "local", []string{"PATH=."}, work, filepath.Join(work, "local"), nil},
		{"absolute", filepath.Join(a, "tool"), nil, "/", filepath.Join(a, "tool"), nil},
		{"relative with slash", "./local", nil, work, filepath.Join(work, "local"), nil},
		{"relative up", "../a/tool", nil, work, filepath.Join(a, "tool"), nil},
		{"absolute missing", filepath.Join(a, "missing"), nil, "", "", fs.ErrNotExist},
		{"absolute not executable", filepath.Join(a, "noexec"), nil, "", "", fs.ErrPermission},
		{"empty name", "", nil, "", "", ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LookPath(tc.file, tc.env, tc.dir)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.name == "default PATH" {
				if !filepath.IsAbs(got) || filepath.Base(got) != "sh" {
					t.Errorf("got %q, want an absolute path to sh", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLookPathRelativeDir(t *testing.T) {
	// A relative dir is resolved against the daemon's cwd, and the result
	// is absolute (the child changes to dir before exec).
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	_, err = LookPath("./spawn_test.go", nil, ".")
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(wd, "spawn_test.go") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("err = %v, want permission error on %s", err, filepath.Join(wd, "spawn_test.go"))
	}
	got, err := LookPath("sh", []string{"PATH=/bin"}, "relative/dir")
	if err != nil || got != "/bin/sh" {
		t.Errorf("got %q, %v; want /bin/sh", got, err)
	}
}
