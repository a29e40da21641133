package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Replies that wait for records keep their order: a callback queued while
// its record was unwritten runs before one queued after the writer caught
// up but before the loop heard of it (a RUN's ok block, then its end block).
func TestAfterJournalKeepsOrder(t *testing.T) {
	jn := &Journal{}
	var got []string
	jn.posted = 2
	jn.done.Store(1)
	jn.After(func() { got = append(got, "ok block") })
	jn.done.Store(2) // written; onReady has not run yet
	jn.After(func() { got = append(got, "end block") })
	if want := []string{"ok block", "end block"}; !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q", got, want)
	}
	jn.posted = 3
	jn.After(func() { got = append(got, "later") })
	if len(got) != 2 {
		t.Fatalf("ran %q before its record was written", got[2:])
	}
	jn.done.Store(3)
	jn.RunWaiters()
	if len(got) != 3 {
		t.Fatalf("ran %q after the write, want the third callback too", got)
	}
}

// Records written through a real journal are replayed; a newer record of
// an id replaces the older one, a deleted one is gone, a temp file a crash
// left is removed, and After runs once they are on disk.
func TestPutDeleteReplay(t *testing.T) {
	dir := t.TempDir()
	jn, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jn.Dir(), ".x.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	jn.Put("a", []byte("one"))
	jn.Put("a", []byte("two"))
	jn.Put("b", []byte("bee"))
	jn.Delete("b")
	jn.Put("c", []byte("sea"))
	done := make(chan struct{})
	jn.After(func() { close(done) })
	for !jn.Idle() {
		pfd := []unix.PollFd{{Fd: int32(jn.FD()), Events: unix.POLLIN}}
		unix.Poll(pfd, 1000)
		jn.OnReady()
	}
	jn.RunWaiters()
	select {
	case <-done:
	default:
		t.Fatal("After's callback did not run once the records were written")
	}
	got := map[string]string{}
	if err := jn.Replay(func(r Record) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Path, r.Err)
		}
		got[r.ID] = string(r.Data)
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"] != "two" || got["c"] != "sea" {
		t.Errorf("replayed %v, want a=two c=sea", got)
	}
	if _, err := os.Stat(filepath.Join(jn.Dir(), ".x.tmp")); err == nil {
		t.Error("the temp file a crash left is still there")
	}
	if st := jn.Stats(); st.Errors != 0 || st.Writes < 2 {
		t.Errorf("stats %+v, want at least 2 writes and no errors", st)
	}
	jn.Close()
}
