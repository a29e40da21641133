package server

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"cgroupd/core/account"
)

// TestGroupsReadFresh: the groups a caller's job gets follow the group
// file: after gpasswd -d (the file replaced), the next RUN's groups lack
// the revoked one. The daemon kept the first answer for good.
func TestGroupsReadFresh(t *testing.T) {
	dir := t.TempDir()
	account.PasswdFile, account.GroupFile = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	t.Cleanup(func() { account.PasswdFile, account.GroupFile = "/etc/passwd", "/etc/group" })
	write := func(path, text string) {
		if err := os.WriteFile(path+"+", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+"+", path); err != nil {
			t.Fatal(err)
		}
	}
	write(account.PasswdFile, "u:x:2000:2000::/:/bin/sh\n")
	write(account.GroupFile, "u:x:2000:\nsecret:x:3000:u\n")
	cl := &callers{srv: &Server{}}
	if got := cl.groupsOf(2000, 2000); !reflect.DeepEqual(got, []uint32{2000, 3000}) {
		t.Fatalf("got groups %v, want [2000 3000]", got)
	}
	write(account.GroupFile, "u:x:2000:\nsecret:x:3000:\n")
	if got := cl.groupsOf(2000, 2000); !reflect.DeepEqual(got, []uint32{2000}) {
		t.Errorf("after the group was revoked: got groups %v, want [2000]", got)
	}
}
