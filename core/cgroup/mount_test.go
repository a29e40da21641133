package cgroup_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cgroupd/core/cgroup"
)

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name, file string
		want       string
		wantErr    error
	}{
		{"hybrid host", "hybrid.txt", "/sys/fs/cgroup/unified", nil},
		{"systemd unified", "systemd.txt", "/sys/fs/cgroup", nil},
		{"several optional fields", "optional.txt", "/srv/cg", nil},
		{"escaped mount point", "escaped.txt", "/mnt/my cgroup\ttab\\back", nil},
		{"cgroup2 as source, dash dir, truncated line", "decoy.txt", "/mnt/real", nil},
		{"no cgroup2", "none.txt", "", cgroup.ErrNoMount},
		{"garbage", "garbage.txt", "", cgroup.ErrNoMount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("..", "..", "testdata", "mountinfo", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := cgroup.ParseMountinfo(f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseMountinfoInline(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"bad escape kept", `1 2 0:1 / /a\04x rw - cgroup2 cgroup2 rw`, `/a\04x`},
		{"escape at end", `1 2 0:1 / /a\040 rw - cgroup2 cgroup2 rw`, `/a `},
		{"newline escape", `1 2 0:1 / /a\012b rw - cgroup2 cgroup2 rw`, "/a\nb"},
		{"first of two", "1 2 0:1 / /one rw - cgroup2 x rw\n3 4 0:2 / /two rw - cgroup2 y rw", "/one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := cgroup.ParseMountinfo(strings.NewReader(tc.in))
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSelf(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"pure v2", "0::/user.slice/session-1.scope\n", "/user.slice/session-1.scope", false},
		{"hybrid", "9:name=systemd:/\n4:memory:/x\n0::/\n", "/", false},
		{"colon in path", "0::/a:b\n", "/a:b", false},
		{"v1 only", "4:memory:/x\n1:cpu:/\n", "", true},
		{"empty", "", "", true},
		{"garbage", "::::\nfoo\n0:x:/y\n", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroup.ParseSelf(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	if err := cgroup.Check(t.TempDir()); !errors.Is(err, cgroup.ErrNotCgroup2) {
		t.Errorf("Check(tempdir) = %v, want ErrNotCgroup2", err)
	}
	if err := cgroup.Check("/nonexistent/cgroupd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check(missing) = %v, want ErrNotExist", err)
	}
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Skip("cgroup v2 not mounted")
	}
	if err := cgroup.Check(mnt); err != nil {
		t.Errorf("Check(%s) = %v, want nil", mnt, err)
	}
	if err := cgroup.Check(filepath.Dir(mnt)); mnt != "/sys/fs/cgroup" && !errors.Is(err, cgroup.ErrNotCgroup2) {
		// On a hybrid host the parent is the tmpfs the C tool mistook for cgroupfs.
		t.Errorf("Check(%s) = %v, want ErrNotCgroup2", filepath.Dir(mnt), err)
	}
}

func TestSelf(t *testing.T) {
	if _, err := cgroup.Mount(); err != nil {
		t.Skip("cgroup v2 not mounted")
	}
	got, err := cgroup.Self()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "/") {
		t.Errorf("Self() = %q, want an absolute cgroup path", got)
	}
}
