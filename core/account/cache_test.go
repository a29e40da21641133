package account

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writeReplace writes path as gpasswd, vipw and useradd do: a new file
// renamed over the old one.
func writeReplace(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + "+"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCacheFresh: a group taken from a user (the group file
// replaced, or rewritten in place) is gone from the user's next lookup;
// one given is there; unchanged files are not read again.
func TestGroupCacheFresh(t *testing.T) {
	dir := t.TempDir()
	PasswdFile, GroupFile = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	t.Cleanup(func() { PasswdFile, GroupFile = "/etc/passwd", "/etc/group" })
	writeReplace(t, PasswdFile, "alice:x:1000:100::/home/alice:/bin/sh\n")
	writeReplace(t, GroupFile, "users:x:100:\nwheel:x:10:alice\ndocker:x:999:alice\n")
	var c GroupCache
	want := func(step string, g []uint32) {
		t.Helper()
		if got := c.Groups(1000, 100); !reflect.DeepEqual(got, g) {
			t.Errorf("%s: got groups %v, want %v", step, got, g)
		}
	}
	want("first", []uint32{100, 10, 999})
	writeReplace(t, GroupFile, "users:x:100:\nwheel:x:10:alice\ndocker:x:999:\n") // gpasswd -d alice docker
	want("after docker was revoked", []uint32{100, 10})
	// In place, same size: the mtime and ctime tell.
	if err := os.WriteFile(GroupFile, []byte("users:x:100:\nwheel:x:10:bobby\ndocker:x:999:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want("after wheel was rewritten in place", []uint32{100})
	// Unchanged: the cached answer, even when the reading would differ
	// (the file is gone and back with the same stamp: not possible, so
	// check the map instead).
	if _, ok := c.byUID[1000]; !ok {
		t.Error("an answer for unchanged files was not kept")
	}
	writeReplace(t, PasswdFile, "alice:x:1000:999::/home/alice:/bin/sh\n")
	want("after the primary group changed", []uint32{999})
	if got := c.Groups(4242, 7); !reflect.DeepEqual(got, []uint32{7}) {
		t.Errorf("unknown uid: got %v, want just its gid", got)
	}
}
