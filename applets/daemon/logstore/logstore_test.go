package logstore

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestLogMarker(t *testing.T) {
	if got, want := Marker(42, false), "[cgroupd: 42 bytes of log dropped (--log-max-size)]\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Marker(42, true); !strings.HasPrefix(got, "\n[cgroupd: 42 ") {
		t.Errorf("mid-line marker %q does not start on a new line", got)
	}
}

// A log is created fresh (whatever had its name is replaced), opened for
// reading as a regular file only, and removed logs are kept newest-first
// within the retain bound, counting the logs found at Open.
func TestCreateOpenRetain(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old.log"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, 0, 2, os.Geteuid(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Open(filepath.Join(dir, "link.log")); err == nil {
		t.Error("opened a log through a symlink")
	}
	var paths []string
	for _, id := range []string{"a", "b", "c"} {
		f, p, err := s.Create(id)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(id)
		f.Close()
		paths = append(paths, p)
		s.Started(p)
	}
	r, err := s.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	n, _ := r.Read(b)
	r.Close()
	if string(b[:n]) != "a" {
		t.Errorf("read %q, want a", b[:n])
	}
	for _, p := range paths {
		s.Forgotten(p, uint32(os.Geteuid()))
	}
	// retain 2: old.log (found at start) and a.log go, b and c stay.
	for name, want := range map[string]bool{"old.log": false, "a.log": false, "b.log": true, "c.log": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s present %v, want %v", name, got, want)
		}
	}
	if err := s.Remove(paths[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(paths[2]); err == nil {
		t.Error("removed log still there")
	}
}

// A kept log is never overwritten: a new log of its id moves it aside to
// <id>.log.<n>, which stays kept; a refused RUN (Remove) puts it back.
// Found names the ids of every log at Open, moved-aside ones included.
func TestKeptLogMovedAside(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"job-3.log": "three", "web.log": "first", "web.log.1": "older", "x.log.bak": "?"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir, 0, 10, os.Geteuid(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found := map[string]bool{}
	for _, id := range s.Found() {
		found[id] = true
	}
	if !found["job-3"] || !found["web"] || len(found) != 2 {
		t.Errorf("found %v, want job-3 and web", s.Found())
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return string(b)
	}
	f, p, err := s.Create("web")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("second")
	f.Close()
	if read("web.log") != "second" || read("web.log.2") != "first" || read("web.log.1") != "older" {
		t.Errorf("after a new web: web.log %q, .1 %q, .2 %q", read("web.log"), read("web.log.1"), read("web.log.2"))
	}
	// A refused RUN leaves the directory as it found it.
	if err := s.Remove(p); err != nil {
		t.Fatal(err)
	}
	if read("web.log") != "first" {
		t.Errorf("after a refused RUN web.log holds %q, want the kept log back", read("web.log"))
	}
	if _, err := os.Stat(filepath.Join(dir, "web.log.2")); err == nil {
		t.Error("web.log.2 left behind by a refused RUN")
	}
}

// Retention is per user: one uid's many removed jobs never push another
// uid's kept log out; each keeps its newest N. Logs found at Open count
// for their owner.
func TestRetainPerUser(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "found.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, 0, 2, os.Geteuid(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	me := uint32(os.Geteuid())
	forget := func(id string, uid uint32) {
		t.Helper()
		f, p, err := s.Create(id)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		s.Started(p)
		s.Forgotten(p, uid)
	}
	forget("mine", me)
	for i := 0; i < 50; i++ {
		forget("other-"+strconv.Itoa(i), me+1000)
	}
	forget("third", me+2000)
	want := map[string]bool{"found.log": true, "mine.log": true, "other-48.log": true, "other-49.log": true, "third.log": true}
	ents, _ := os.ReadDir(dir)
	got := map[string]bool{}
	for _, e := range ents {
		got[e.Name()] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("kept %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	// The owner's third removed job pushes out its oldest: the found one.
	forget("mine2", me)
	if _, err := os.Stat(filepath.Join(dir, "found.log")); err == nil {
		t.Error("found.log kept beyond the owner's 2")
	}
	if len(s.retained) != 5 || len(s.queues) != 3 || s.kept[me+1000] != 2 {
		t.Errorf("bookkeeping: %d retained, %d queues, %d of uid %d; want 5, 3, 2", len(s.retained), len(s.queues), s.kept[me+1000], me+1000)
	}
}

// Data finds a log's data around its holes; past the last data is the
// end, never a hole (the job may append there meanwhile).
func TestData(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("head\n")
	const far = 1 << 30
	f.WriteAt([]byte("tail\n"), far)
	f.Truncate(2 * far)
	var st syscall.Stat_t
	syscall.Fstat(int(f.Fd()), &st)
	blk := int64(st.Blksize)
	for _, tc := range []struct {
		pos, data, end int64
	}{
		{0, 0, blk},
		{3, 3, blk},
		{blk, far, far + blk},
		{far + 2, far + 2, far + blk},
		{far + blk, far + blk, far + blk}, // only a hole after: the end
		{3 * far, 3 * far, 3 * far},
	} {
		data, end, err := Data(f, tc.pos)
		if err != nil || data != tc.data || end != tc.end {
			t.Errorf("Data(%d) = %d, %d, %v; want %d, %d", tc.pos, data, end, err, tc.data, tc.end)
		}
	}
}
