package journal

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	drain(t, jn)
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

// drain waits until the writer has written everything posted.
func drain(t *testing.T, jn *Journal) {
	t.Helper()
	for !jn.Idle() {
		pfd := []unix.PollFd{{Fd: int32(jn.FD()), Events: unix.POLLIN}}
		unix.Poll(pfd, 1000)
		jn.OnReady()
	}
}

// Job lifecycles (a record, its replacement, its deletion) on a disk
// reuse the writer's spare files instead of allocating an inode per
// write; Replay skips the spares, and the next Open takes them over. On
// tmpfs (no sync) no spare is kept.
func TestRecordsReuseFiles(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(map[bool]string{true: "disk", false: "tmpfs"}[disk], func(t *testing.T) { recordsReuseFiles(t, disk) })
	}
}

func recordsReuseFiles(t *testing.T, disk bool) {
	dir := t.TempDir()
	jn, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	jn.sync = disk // before the first op: the writer reads it after post's lock
	// A file is its inode number and birth time: a number the file
	// system hands out again is a new file all the same.
	type file struct {
		ino   uint64
		birth unix.StatxTimestamp
	}
	inodes := map[file]bool{}
	ino := func(id string) {
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, filepath.Join(jn.Dir(), id), 0, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
			t.Fatal(err)
		}
		f := file{ino: st.Ino}
		if st.Mask&unix.STATX_BTIME != 0 {
			f.birth = st.Btime
		}
		inodes[f] = true
	}
	// The writer's files: its directory's, and any dot file beside the
	// records (none of these ids starts with a dot).
	spares := func() (n int) {
		ents, _ := os.ReadDir(filepath.Join(jn.Dir(), workDir))
		n = len(ents)
		ents, _ = os.ReadDir(jn.Dir())
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") && e.Name() != workDir {
				n++
			}
		}
		return n
	}
	for i := 0; i < 50; i++ {
		id := "j" + strconv.Itoa(i)
		jn.Put(id, []byte("start"))
		drain(t, jn)
		ino(id)
		jn.Put(id, []byte("end"))
		drain(t, jn)
		ino(id)
		jn.Delete(id)
		drain(t, jn)
	}
	if st := jn.Stats(); st.Errors != 0 || st.Writes != 100 || st.Unlinks != 50 {
		t.Errorf("stats %+v, want 100 writes, 50 deletions, no errors", st)
	}
	if !disk {
		if n := spares(); n != 0 {
			t.Errorf("%d dot files left on tmpfs, want none", n)
		}
		jn.Close()
		return
	}
	// The first lifecycle makes two files; every later one reuses them.
	if len(inodes) > 2 {
		t.Errorf("50 lifecycles used %d inodes, want 2", len(inodes))
	}
	jn.Put("kept", []byte("running"))
	drain(t, jn)
	// The daemon crashes (its journal is never closed): the next one
	// takes the spare over.
	jn, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	jn.sync = true
	var ids []string
	if err := jn.Replay(func(r Record) { ids = append(ids, r.ID) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"kept"}) {
		t.Errorf("replayed %q, want only kept (no spare)", ids)
	}
	if n := spares(); n != 1 {
		t.Errorf("%d spares after the restart, want the 1 left", n)
	}
	jn.Put("new", []byte("start"))
	drain(t, jn)
	ino("new")
	if len(inodes) > 2 {
		t.Errorf("after a restart a new record took a new inode: %d in all", len(inodes))
	}
	// A clean stop removes the spares: the directory holds records only.
	jn.Delete("new")
	drain(t, jn)
	jn.Close()
	if n := spares(); n != 0 {
		t.Errorf("%d spares after Close, want none", n)
	}
	if _, err := os.Stat(filepath.Join(jn.Dir(), workDir)); err == nil {
		t.Errorf("%s left after Close", workDir)
	}
}

// rec is a record as job.Encode frames it (the journal only reads its
// id line).
func rec(id, what string) []byte {
	return []byte("cgroupd-job: 1\nid: " + id + "\nphase: " + what + "\nend: 1\n")
}

// A job's id may take any name the writer once used for its own files
// (.spare-<n>, .<id>.tmp) and any other shape: its record is written,
// replaced, replayed and deleted like any other, on a disk and on tmpfs,
// across a crash, and no spare or temp file is ever replayed as a job.
// The files an earlier version's writer left beside the records are
// removed at the replay (its spares: empty or another id's old record;
// its temp files: another id's record), its records of such names kept.
func TestIDsNeverWriterFiles(t *testing.T) {
	ids := []string{".spare-1", ".spare-2", ".a.tmp", "a", ".a", "..b", "x.tmp", "-1.", "123", strings.Repeat("z", 64), "spare-1", "tmp"}
	for _, disk := range []bool{true, false} {
		t.Run(map[bool]string{true: "disk", false: "tmpfs"}[disk], func(t *testing.T) {
			dir := t.TempDir()
			jobs := filepath.Join(dir, jobsDir)
			os.MkdirAll(jobs, 0o700)
			// What the version before left: two spares (one empty, one
			// holding a's former record), a temp file of a, and the
			// records of jobs named like them.
			for name, data := range map[string][]byte{
				".spare-7": nil, ".spare-8": rec("a", "old"), ".a.tmp": rec("a", "half"),
				".spare-3": rec(".spare-3", "running"), ".b.tmp": rec(".b.tmp", "running"),
			} {
				if err := os.WriteFile(filepath.Join(jobs, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			jn, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			jn.sync = disk
			for round := 0; round < 3; round++ {
				for _, id := range ids {
					jn.Put(id, rec(id, "r"+strconv.Itoa(round)))
				}
				drain(t, jn)
			}
			jn.Delete("..b")
			drain(t, jn)
			// A crash: the next daemon replays.
			jn, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			jn.sync = disk
			got := map[string]string{}
			if err := jn.Replay(func(r Record) { got[r.ID] = string(r.Data) }); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{".spare-3": string(rec(".spare-3", "running")), ".b.tmp": string(rec(".b.tmp", "running"))}
			for _, id := range ids {
				if id != "..b" {
					want[id] = string(rec(id, "r2"))
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("replayed %q\nwant %q", got, want)
			}
			for _, name := range []string{".spare-7", ".spare-8"} {
				if _, err := os.Stat(filepath.Join(jobs, name)); err == nil {
					t.Errorf("the earlier writer's %s is left", name)
				}
			}
			for _, id := range ids {
				jn.Delete(id)
			}
			jn.Delete(".spare-3")
			jn.Delete(".b.tmp")
			drain(t, jn)
			jn.Close()
			if ents, _ := os.ReadDir(jobs); len(ents) != 0 {
				t.Errorf("after a clean stop with no jobs, jobs/ holds %d files (%s...)", len(ents), ents[0].Name())
			}
		})
	}
}
