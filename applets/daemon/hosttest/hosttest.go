// Package hosttest is for the host tests of the packages that run the
// daemon or read its cgroups (the daemon's, the supervisor's, the
// client's): what they need of this host, found one way.
package hosttest

import (
	"os"
	"strings"
	"testing"

	"cgroupd/core/cgroup"
)

// Mount is the cgroup v2 mount, found as the daemon finds it
// (cgroup.Mount reads /proc/self/mountinfo); without root or without
// cgroup v2 it skips t with the exact missing thing.
func Mount(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (the daemon makes cgroups)")
	}
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Skip("cgroup v2 not mounted: " + err.Error())
	}
	return mnt
}

// ReadFile is a file's content, trimmed (a cgroup file's value); a file
// it cannot read fails t.
func ReadFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return strings.TrimSpace(string(b))
}
