package account

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The passwd and group lines os/user reads without cgo: names, primary
// gid, supplementary groups by member name; comments and NIS lines are
// skipped, and a missing entry is not found (never uid/gid 0).
func TestAccounts(t *testing.T) {
	dir := t.TempDir()
	PasswdFile, GroupFile = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	t.Cleanup(func() { PasswdFile, GroupFile = "/etc/passwd", "/etc/group" })
	os.WriteFile(PasswdFile, []byte("# comment\nroot:x:0:0:root:/root:/bin/sh\n+nis\nalice:x:1000:100::/home/alice:/bin/sh\nbob:x:1001:1001::/:/bin/false\n"), 0o644)
	os.WriteFile(GroupFile, []byte("root:x:0:\nusers:x:100:bob\nwheel:x:10:alice,bob\ndocker:x:999:alice\nbob:x:1001:\n"), 0o644)
	if name, gid, ok := User(1000); !ok || name != "alice" || gid != 100 {
		t.Errorf("User(1000) = %q %d %v", name, gid, ok)
	}
	if _, _, ok := User(4242); ok {
		t.Error("a uid not in passwd was found")
	}
	if gid, ok := GroupID("docker"); !ok || gid != 999 {
		t.Errorf("GroupID(docker) = %d %v", gid, ok)
	}
	if _, ok := GroupID("nosuch"); ok {
		t.Error("a group not in group was found")
	}
	if g, ok := Groups(1000); !ok || !reflect.DeepEqual(g, []uint32{100, 10, 999}) {
		t.Errorf("Groups(1000) = %v %v", g, ok)
	}
	if g, ok := Groups(1001); !ok || !reflect.DeepEqual(g, []uint32{1001, 100, 10}) {
		t.Errorf("Groups(1001) = %v %v", g, ok)
	}
}
