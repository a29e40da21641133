// Package journal keeps the job records of the daemon's state directory:
// a writer goroutine that puts them on disk without holding up the loop,
// the callbacks that wait until a record is written, and the replay of
// the records a daemon finds at start. What a record says is the job
// model's (applets/daemon/job); this package only stores bytes by id.
package journal

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The journal keeps one small record per job in <state-dir>/jobs/<id>, so
// that a daemon started after a crash (or an upgrade) knows every job the
// old one knew (the supervisor's adoption). A record is written when the job starts running
// (with its pid), when its main process ends while the cgroup empties,
// when it ends (with its status), and on a freeze or thaw (who froze it);
// it is deleted by REMOVE. That is two writes for most lifecycles, one
// when the start and the end are queued together (the newest record of a
// job replaces an unwritten older one), and an unlink.
//
// Writing never holds up the loop: records are built on the loop and
// written by a goroutine of their own (temp file, rename), so a kill under
// memory pressure never waits on a disk that thrashes. What a client is
// told waits instead: a RUN reply, a WAIT reply and a REMOVE reply are
// sent once the record they depend on is written (After), so a job
// a client has heard of is never lost by a crash of the daemon right
// after: a written file is in the page cache, which outlives the process.
// Power loss is rarer and kills the jobs anyway: on a disk (not tmpfs)
// the records are flushed with one syncfs at most once a second, so flash
// sees few flushes and a power cut loses at most the last second (a
// record cut short is reported and skipped on the next start).

const jobsDir = "jobs"

// op is one record to write (data) or delete (data nil); top: a file of
// the state directory itself (the id reservation), not a record.
type op struct {
	id   string
	data []byte
	top  bool
}

// ReserveFile holds the automatic ids reserved so far (package jobid): a
// decimal number, every id below it may have been handed out. Its op's
// key starts with '_', which no job id does.
const (
	ReserveFile = "next-id"
	reserveKey  = "_" + ReserveFile
)

// Journal is the record writer of one state directory. Its methods are
// the loop's, but for the goroutine it runs itself; a nil *Journal (no
// --state-dir) keeps nothing and runs every After callback at once.
type Journal struct {
	dir      string // <state-dir>/jobs
	dirFD    int
	workFD   int           // <state-dir>/jobs/.writer~ (spare.go)
	topFD    int           // <state-dir>
	reserved int           // the reservation found at Open (0: none)
	sync     bool          // flush to disk (not on tmpfs): syncfs, at most once a second
	lastSync time.Time     // goroutine only
	dirty    bool          // records written since lastSync (goroutine only)
	spares   []string      // files of jobs/ kept for reuse (goroutine only; spare.go)
	spareSeq int           // the last spare name handed out (goroutine only)
	noSwap   bool          // the file system has no RENAME_EXCHANGE (goroutine only)
	exited   chan struct{} // closed when the writer has returned
	syncT    *time.Timer
	efd      int // eventfd: ops written
	mu       sync.Mutex
	cond     *sync.Cond
	order    []string       // ids with an op waiting, oldest first
	ops      map[string]*op // the newest op of each id
	closed   bool

	posted  uint64        // ops handed over (loop only)
	done    atomic.Uint64 // ops written or dropped as superseded
	writes  atomic.Uint64 // files written (STATS state_writes)
	unlinks atomic.Uint64 // records deleted (STATS state_unlinks)
	errs    atomic.Uint64 // writes that failed (STATS state_errors)
	lastErr atomic.Value  // string

	waiters []waiter // loop only
	held    bool     // loop only: wake the writer at release (a batch of the loop)
	kick    bool     // loop only: ops posted while held
}

type waiter struct {
	seq uint64
	fn  func()
}

// Open opens (creating) <stateDir>/jobs and starts the writer.
func Open(stateDir string) (*Journal, error) {
	dir := filepath.Join(stateDir, jobsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var sfs unix.Statfs_t
	durable := true
	if unix.Fstatfs(fd, &sfs) == nil && (uint32(sfs.Type) == unix.TMPFS_MAGIC || uint32(sfs.Type) == unix.RAMFS_MAGIC) {
		durable = false // nothing to make durable: fsync would only cost
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	top, err := unix.Open(stateDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		unix.Close(efd)
		return nil, err
	}
	j := &Journal{dir: dir, dirFD: fd, topFD: top, sync: durable, efd: efd, ops: map[string]*op{}, exited: make(chan struct{})}
	if b, err := os.ReadFile(filepath.Join(stateDir, ReserveFile)); err == nil {
		j.reserved, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if err := j.openWork(); err != nil { // before the writer runs: the spares are its own
		unix.Close(fd)
		unix.Close(efd)
		unix.Close(top)
		return nil, err
	}
	j.cond = sync.NewCond(&j.mu)
	go j.run()
	return j, nil
}

// post queues o; a newer op of the same id replaces one not yet written.
func (jn *Journal) post(o *op) {
	jn.posted++
	jn.mu.Lock()
	if _, ok := jn.ops[o.id]; ok {
		jn.done.Add(1) // the older op is superseded: counted as done
	} else {
		jn.order = append(jn.order, o.id)
	}
	jn.ops[o.id] = o
	if jn.held {
		jn.kick = true
	} else {
		jn.cond.Signal()
	}
	jn.mu.Unlock()
}

// Put queues the record of job id; it replaces one of id not written yet.
func (jn *Journal) Put(id string, data []byte) {
	if jn != nil {
		jn.post(&op{id: id, data: data})
	}
}

// Delete queues the deletion of the record of job id.
func (jn *Journal) Delete(id string) {
	if jn != nil {
		jn.post(&op{id: id})
	}
}

// Reserved is the id reservation the state directory held at Open (0:
// none).
func (jn *Journal) Reserved() int {
	if jn == nil {
		return 0
	}
	return jn.reserved
}

// Reserve queues writing the id reservation n: written before any record
// queued after it, so a RUN's reply (After) waits for it too.
func (jn *Journal) Reserve(n int) {
	if jn != nil {
		jn.post(&op{id: reserveKey, data: []byte(strconv.Itoa(n) + "\n"), top: true})
	}
}

// Hold defers waking the writer until Release: the records of one batch
// of the loop are written in one wake-up.
func (jn *Journal) Hold() {
	if jn != nil {
		jn.held = true
	}
}

// Release ends Hold and wakes the writer if records came meanwhile.
func (jn *Journal) Release() {
	if jn == nil {
		return
	}
	jn.held = false
	if jn.kick {
		jn.kick = false
		jn.mu.Lock()
		jn.cond.Signal()
		jn.mu.Unlock()
	}
}

func (jn *Journal) run() {
	defer close(jn.exited)
	for {
		jn.mu.Lock()
		for len(jn.order) == 0 && !jn.closed {
			if jn.dirty {
				// Idle with unsynced records: sync them a second after the
				// last flush (the timer wakes this wait).
				jn.armSync()
			}
			jn.cond.Wait()
			if jn.dirty && len(jn.order) == 0 && time.Since(jn.lastSync) >= syncEvery {
				jn.mu.Unlock()
				unix.Syncfs(jn.dirFD)
				jn.mu.Lock()
				jn.lastSync, jn.dirty = time.Now(), false
			}
		}
		if len(jn.order) == 0 {
			jn.mu.Unlock()
			jn.dropSpares() // a clean stop leaves no file of its own
			if jn.dirty {
				unix.Syncfs(jn.dirFD) // closing: what is left, now
			}
			if jn.syncT != nil {
				jn.syncT.Stop()
			}
			return
		}
		batch := make([]*op, 0, len(jn.order))
		for _, id := range jn.order {
			batch = append(batch, jn.ops[id])
			delete(jn.ops, id)
		}
		jn.order = jn.order[:0]
		jn.mu.Unlock()

		for _, o := range batch {
			if err := jn.apply(o); err != nil {
				jn.errs.Add(1)
				jn.lastErr.Store(err.Error())
			}
		}
		// Written and renamed: in the page cache, which a crash of the
		// daemon does not lose. Replies that waited for it go now.
		jn.done.Add(uint64(len(batch)))
		unix.Write(jn.efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		if jn.sync && time.Since(jn.lastSync) >= syncEvery {
			// Power loss is another matter: one syncfs for all that
			// changed, at most once a second (few flushes for flash).
			unix.Syncfs(jn.dirFD)
			jn.lastSync = time.Now()
			jn.dirty = false
		} else if jn.sync {
			jn.dirty = true
		}
	}
}

// apply writes or deletes one record, by raw syscalls relative to the
// directory (os.File would add fcntls, an fstat, an epoll_ctl and a path
// walk per record; os.Rename an lstat).
func (jn *Journal) apply(o *op) error {
	if o.top {
		return jn.replace(jn.topFD, "."+ReserveFile+".tmp", jn.topFD, ReserveFile, o.data)
	}
	if o.data == nil {
		if err := jn.retire(o.id); err != nil {
			return err
		}
		jn.unlinks.Add(1)
		return nil
	}
	return jn.writeRecord(o.id, o.data)
}

// replace writes data to tmp (in directory tmpFD) and renames it over
// name (in dirFD).
func (jn *Journal) replace(tmpFD int, tmp string, dirFD int, name string, data []byte) error {
	if err := writeAt(tmpFD, tmp, data); err != nil {
		return err
	}
	return jn.rename(tmpFD, tmp, dirFD, name)
}

// rename moves tmp (in tmpFD), written, over name (in dirFD); on an
// error tmp is removed.
func (jn *Journal) rename(tmpFD int, tmp string, dirFD int, name string) error {
	if err := unix.Renameat(tmpFD, tmp, dirFD, name); err != nil {
		unix.Unlinkat(tmpFD, tmp, 0)
		return &fs.PathError{Op: "rename", Path: tmp, Err: err}
	}
	jn.writes.Add(1)
	return nil
}

// writeAt creates (or truncates) name in directory dirFD with data; a
// file it could not write whole is removed.
func writeAt(dirFD int, name string, data []byte) error {
	fd, err := unix.Openat(dirFD, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	for len(data) > 0 && err == nil {
		var n int
		n, err = unix.Write(fd, data)
		if err == unix.EINTR {
			err = nil
		}
		if n > 0 {
			data = data[n:]
		}
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(dirFD, name, 0)
		return &fs.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

// syncEvery bounds how often records are flushed to disk.
const syncEvery = time.Second

// armSync makes the goroutine wake up once a flush is due (under mu).
func (jn *Journal) armSync() {
	d := syncEvery - time.Since(jn.lastSync)
	if jn.syncT == nil {
		jn.syncT = time.AfterFunc(d, func() {
			jn.mu.Lock()
			jn.cond.Signal()
			jn.mu.Unlock()
		})
		return
	}
	jn.syncT.Reset(d)
}

// FD is the eventfd the loop watches (EPOLLIN): records were written.
func (jn *Journal) FD() int { return jn.efd }

// OnReady runs the callbacks whose records are written (on the loop,
// when FD is readable).
func (jn *Journal) OnReady() {
	var b [8]byte
	unix.Read(jn.efd, b[:])
	jn.RunWaiters()
}

// RunWaiters runs the callbacks whose records are written now.
func (jn *Journal) RunWaiters() {
	if jn == nil {
		return
	}
	done := jn.done.Load()
	n := 0
	for n < len(jn.waiters) && jn.waiters[n].seq <= done {
		n++
	}
	ready := jn.waiters[:n]
	jn.waiters = append([]waiter(nil), jn.waiters[n:]...)
	for _, w := range ready {
		w.fn()
	}
}

// Close writes what is queued and stops the goroutine; it waits for it
// (shutdown and upgrade only, after the loop).
func (jn *Journal) Close() {
	if jn == nil {
		return
	}
	jn.mu.Lock()
	jn.closed = true
	jn.cond.Signal()
	jn.mu.Unlock()
	<-jn.exited // every op written, the spares removed
	unix.Close(jn.efd)
	unix.Close(jn.workFD)
	unix.Close(jn.dirFD)
	unix.Close(jn.topFD)
}

// After runs fn on the loop once every record queued so far is written:
// at once when there is no journal or nothing is outstanding.
//
// Callbacks run in the order they were queued: one connection's blocks
// (a RUN's ok block, then its end block) never overtake each other, even
// when the writer has already written the later record but the loop has
// not yet heard of the earlier one.
func (jn *Journal) After(fn func()) {
	if jn == nil {
		fn()
		return
	}
	if len(jn.waiters) > 0 {
		jn.RunWaiters() // those whose records are written go first
	}
	if len(jn.waiters) == 0 && jn.done.Load() >= jn.posted {
		fn()
		return
	}
	jn.waiters = append(jn.waiters, waiter{seq: jn.posted, fn: fn})
}

// Idle reports whether every record queued is written.
func (jn *Journal) Idle() bool { return jn == nil || jn.done.Load() >= jn.posted }

// Stats are the files written, deleted, and the writes that failed.
type Stats struct{ Writes, Unlinks, Errors uint64 }

// Stats is what the writer did so far (STATS state_*).
func (jn *Journal) Stats() Stats {
	return Stats{Writes: jn.writes.Load(), Unlinks: jn.unlinks.Load(), Errors: jn.errs.Load()}
}

// Dir is the records' directory (<state-dir>/jobs).
func (jn *Journal) Dir() string { return jn.dir }

// Record is one record file found by Replay: its id and bytes, or the
// error that kept it from being read.
type Record struct {
	ID   string
	Path string
	Data []byte
	Err  error
}

// Replay reads the records in the directory and hands each to fn, in
// directory order: every file but the writer's own (workDir, and the
// spares and temp files an earlier version kept beside the records,
// removed: legacy). fn must not keep Data: it is the file's bytes,
// dropped after fn returns.
func (jn *Journal) Replay(fn func(Record)) error {
	ents, err := os.ReadDir(jn.dir)
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(jn.dir, name)
		if name == workDir {
			continue // the writer's (spare.go)
		}
		data, rerr := os.ReadFile(path)
		if rerr == nil && legacy(name, data) {
			os.Remove(path)
			continue
		}
		fn(Record{ID: name, Path: path, Data: data, Err: rerr})
	}
	return err
}
