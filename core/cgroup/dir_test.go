package cgroup_test

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"

	"cgroupd/core/cgroup"
	"cgroupd/core/cgroup/cgrouptest"
	"golang.org/x/sys/unix"
)

func TestReadWriteFake(t *testing.T) {
	d := fakeTree(t, "full").Child("job1")
	tests := []struct {
		name, file, value string
		wantErr           error
		wantMsg           string
	}{
		{"replace value", "memory.current", "5", nil, ""},
		{"longer then shorter", "cgroup.freeze", "1", nil, ""},
		{"missing file", "memory.max", "64M", fs.ErrNotExist, `write memory.max "64M": no such file or directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := d.Write(tc.file, tc.value)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if err.Error() != tc.wantMsg {
					t.Errorf("message %q, want %q", err.Error(), tc.wantMsg)
				}
				return
			}
			got, err := d.Read(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.value {
				t.Errorf("got %q, want %q", got, tc.value)
			}
		})
	}
}

func TestControllersFake(t *testing.T) {
	tests := []struct {
		name, scenario string
		want, subtree  []string
		want2          []string // EnableControllers([memory io nope cpu io])
	}{
		{"full", "full", []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"}, []string{"cpu", "memory"}, []string{"memory", "io", "cpu"}},
		{"hybrid", "hybrid", []string{"hugetlb"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := fakeTree(t, tc.scenario)
			got, err := d.Controllers()
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Controllers() = %v, %v; want %v", got, err, tc.want)
			}
			got, err = d.SubtreeControl()
			if err != nil || !slices.Equal(got, tc.subtree) {
				t.Errorf("SubtreeControl() = %v, %v; want %v", got, err, tc.subtree)
			}
			got, err = d.EnableControllers([]string{"memory", "io", "nope", "cpu", "io"})
			if err != nil || !slices.Equal(got, tc.want2) {
				t.Errorf("EnableControllers() = %v, %v; want %v", got, err, tc.want2)
			}
			if tc.want2 != nil {
				// The fake file holds the last write: only io was missing.
				if s, _ := d.Read(cgroup.FileSubtreeControl); s != "+io" {
					t.Errorf("subtree_control written %q, want %q", s, "+io")
				}
			}
			if d.HasController("hugetlb") != true || d.HasController("nope") {
				t.Errorf("HasController wrong for %v", tc.want)
			}
		})
	}
}

func TestEnableControllersMissing(t *testing.T) {
	d := cgroup.Dir(t.TempDir())
	if _, err := d.EnableControllers([]string{"memory"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func TestDirReal(t *testing.T) {
	d := cgrouptest.Temp(t)
	c := d.Child("child")
	if err := c.Create(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create = %v, want ErrExist", err)
	}
	// Invalid value: the kernel answers EINVAL, and the error says what.
	err := c.Write(cgroup.FileFreeze, "x")
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("write cgroup.freeze x = %v, want EINVAL", err)
	}
	if want := `write cgroup.freeze "x": invalid argument`; err == nil || err.Error() != want {
		t.Errorf("message %v, want %q", err, want)
	}
	// Unavailable controller on this mount: hybrid hosts have none.
	avail, err := d.Controllers()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(avail, "memory") {
		got, err := d.EnableControllers([]string{"memory", "cpu"})
		if err != nil || len(got) != 0 {
			t.Errorf("EnableControllers on %v = %v, %v; want none, nil", avail, got, err)
		}
		if err := d.Write(cgroup.FileSubtreeControl, "+memory"); !errors.Is(err, unix.ENOENT) {
			t.Errorf("write +memory = %v, want ENOENT", err)
		}
	}
	fd, err := c.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	// A populated cgroup cannot be removed: EBUSY.
	cmd := startIn(t, c, "sleep", "100")
	mnt, _ := cgroup.Mount()
	if got, want := procCgroup(t, cmd.Process.Pid), strings.TrimPrefix(string(c), mnt); got != want {
		t.Errorf("cgroup of child = %q, want %q", got, want)
	}
	if err := c.Remove(); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Remove populated = %v, want EBUSY", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitEvents(t, c, func(ev cgroup.Events) bool { return !ev.Populated })
	if err := c.Remove(); err != nil {
		t.Errorf("Remove = %v", err)
	}
	if err := c.Remove(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove missing = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(string(c)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("child still there: %v", err)
	}
}

// TestCreateMarked: the new cgroup carries its mark, the parent's intent
// is gone afterwards (also when the mkdir fails), and the mark is set.
func TestCreateMarked(t *testing.T) {
	d := cgrouptest.Temp(t)
	c := d.Child("job-1")
	markErr, err := c.CreateMarked("user.test.mark", "user.test.mkdir", []byte("starting"))
	if err != nil || markErr != nil {
		t.Fatalf("CreateMarked = %v, %v", markErr, err)
	}
	if got, err := c.Xattr("user.test.mark"); err != nil || string(got) != "starting" {
		t.Errorf("mark = %q, %v; want starting", got, err)
	}
	if _, err := d.Xattr("user.test.mkdir"); !errors.Is(err, unix.ENODATA) {
		t.Errorf("the parent's intent after the mkdir: %v, want ENODATA", err)
	}
	if _, err := c.CreateMarked("user.test.mark", "user.test.mkdir", []byte("x")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateMarked = %v, want ErrExist", err)
	}
	if _, err := d.Xattr("user.test.mkdir"); !errors.Is(err, unix.ENODATA) {
		t.Errorf("the parent's intent after a failed mkdir: %v, want ENODATA", err)
	}
	if got, _ := c.Xattr("user.test.mark"); string(got) != "starting" {
		t.Errorf("a failed CreateMarked changed the mark to %q", got)
	}
}
