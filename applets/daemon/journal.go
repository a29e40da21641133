package daemon

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/core/kfile"

	"golang.org/x/sys/unix"
)

// The journal keeps one small record per job in <state-dir>/jobs/<id>, so
// that a daemon started after a crash (or an upgrade) knows every job the
// old one knew (adopt.go). A record is written when the job starts running
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
// sent once the record they depend on is written (afterJournal), so a job
// a client has heard of is never lost by a crash of the daemon right
// after: a written file is in the page cache, which outlives the process.
// Power loss is rarer and kills the jobs anyway: on a disk (not tmpfs)
// the records are flushed with one syncfs at most once a second, so flash
// sees few flushes and a power cut loses at most the last second (a
// record cut short is reported and skipped on the next start).

const stateJobsDir = "jobs"

// journalOp is one record to write (data) or delete (data nil).
type journalOp struct {
	id   string
	data []byte
}

type journal struct {
	dir      string // <state-dir>/jobs
	dirFD    int
	sync     bool      // flush to disk (not on tmpfs): syncfs, at most once a second
	lastSync time.Time // goroutine only
	dirty    bool      // records written since lastSync (goroutine only)
	syncT    *time.Timer
	efd      int // eventfd: ops written
	mu       sync.Mutex
	cond     *sync.Cond
	order    []string              // ids with an op waiting, oldest first
	ops      map[string]*journalOp // the newest op of each id
	closed   bool

	posted  uint64        // ops handed over (loop only)
	done    atomic.Uint64 // ops written or dropped as superseded
	writes  atomic.Uint64 // files written (STATS state_writes)
	unlinks atomic.Uint64 // records deleted (STATS state_unlinks)
	errs    atomic.Uint64 // writes that failed (STATS state_errors)
	lastErr atomic.Value  // string

	waiters []journalWaiter // loop only
	held    bool            // loop only: wake the writer at release (a batch of the loop)
	kick    bool            // loop only: ops posted while held
}

type journalWaiter struct {
	seq uint64
	fn  func()
}

// openJournal opens (creating) <stateDir>/jobs.
func openJournal(stateDir string) (*journal, error) {
	dir := filepath.Join(stateDir, stateJobsDir)
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
	j := &journal{dir: dir, dirFD: fd, sync: durable, efd: efd, ops: map[string]*journalOp{}}
	j.cond = sync.NewCond(&j.mu)
	go j.run()
	return j, nil
}

// post queues op; a newer op of the same id replaces one not yet written.
func (jn *journal) post(op *journalOp) {
	jn.posted++
	jn.mu.Lock()
	if _, ok := jn.ops[op.id]; ok {
		jn.done.Add(1) // the older op is superseded: counted as done
	} else {
		jn.order = append(jn.order, op.id)
	}
	jn.ops[op.id] = op
	if jn.held {
		jn.kick = true
	} else {
		jn.cond.Signal()
	}
	jn.mu.Unlock()
}

// hold defers waking the writer until release: the records of one batch
// of the loop are written in one wake-up.
func (jn *journal) hold() { jn.held = true }

// release ends hold and wakes the writer if records came meanwhile.
func (jn *journal) release() {
	jn.held = false
	if jn.kick {
		jn.kick = false
		jn.mu.Lock()
		jn.cond.Signal()
		jn.mu.Unlock()
	}
}

func (jn *journal) run() {
	for {
		jn.mu.Lock()
		for len(jn.order) == 0 && !jn.closed {
			if jn.dirty {
				// Idle with unsynced records: sync them a second after the
				// last flush (the timer wakes this wait).
				jn.armSync()
			}
			jn.cond.Wait()
			if jn.dirty && len(jn.order) == 0 && time.Since(jn.lastSync) >= journalSyncEvery {
				jn.mu.Unlock()
				unix.Syncfs(jn.dirFD)
				jn.mu.Lock()
				jn.lastSync, jn.dirty = time.Now(), false
			}
		}
		if len(jn.order) == 0 {
			jn.mu.Unlock()
			if jn.dirty {
				unix.Syncfs(jn.dirFD) // closing: what is left, now
			}
			if jn.syncT != nil {
				jn.syncT.Stop()
			}
			return
		}
		batch := make([]*journalOp, 0, len(jn.order))
		for _, id := range jn.order {
			batch = append(batch, jn.ops[id])
			delete(jn.ops, id)
		}
		jn.order = jn.order[:0]
		jn.mu.Unlock()

		for _, op := range batch {
			if err := jn.apply(op); err != nil {
				jn.errs.Add(1)
				jn.lastErr.Store(err.Error())
			}
		}
		// Written and renamed: in the page cache, which a crash of the
		// daemon does not lose. Replies that waited for it go now.
		jn.done.Add(uint64(len(batch)))
		unix.Write(jn.efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		if jn.sync && time.Since(jn.lastSync) >= journalSyncEvery {
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
func (jn *journal) apply(op *journalOp) error {
	if op.data == nil {
		if err := unix.Unlinkat(jn.dirFD, op.id, 0); err != nil && err != unix.ENOENT {
			return &fs.PathError{Op: "unlink", Path: filepath.Join(jn.dir, op.id), Err: err}
		}
		jn.unlinks.Add(1)
		return nil
	}
	tmp := "." + op.id + ".tmp"
	err := writeAt(jn.dirFD, tmp, op.data)
	if err == nil {
		if err = unix.Renameat(jn.dirFD, tmp, jn.dirFD, op.id); err != nil {
			err = &fs.PathError{Op: "rename", Path: filepath.Join(jn.dir, tmp), Err: err}
		}
	}
	if err != nil {
		unix.Unlinkat(jn.dirFD, tmp, 0)
		return err
	}
	jn.writes.Add(1)
	return nil
}

// writeAt creates (or truncates) name in directory dirFD with data.
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
		return &fs.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

// journalSyncEvery bounds how often records are flushed to disk.
const journalSyncEvery = time.Second

// armSync makes the goroutine wake up once a flush is due (under mu).
func (jn *journal) armSync() {
	d := journalSyncEvery - time.Since(jn.lastSync)
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

// onReady runs the callbacks whose records are written (on the loop).
func (jn *journal) onReady() {
	var b [8]byte
	unix.Read(jn.efd, b[:])
	jn.runWaiters()
}

func (jn *journal) runWaiters() {
	done := jn.done.Load()
	n := 0
	for n < len(jn.waiters) && jn.waiters[n].seq <= done {
		n++
	}
	ready := jn.waiters[:n]
	jn.waiters = append([]journalWaiter(nil), jn.waiters[n:]...)
	for _, w := range ready {
		w.fn()
	}
}

// close writes what is queued and stops the goroutine; it waits for it
// (shutdown and upgrade only, after the loop).
func (jn *journal) close() {
	jn.mu.Lock()
	jn.closed = true
	jn.cond.Signal()
	jn.mu.Unlock()
	for jn.done.Load() < jn.posted {
		var b [8]byte
		var pfd = []unix.PollFd{{Fd: int32(jn.efd), Events: unix.POLLIN}}
		unix.Poll(pfd, 1000)
		unix.Read(jn.efd, b[:])
	}
	unix.Close(jn.efd)
	unix.Close(jn.dirFD)
}

// afterJournal runs fn on the loop once every record queued so far is
// written: at once when there is no journal or nothing is outstanding.
//
// Callbacks run in the order they were queued: one connection's blocks
// (a RUN's ok block, then its end block) never overtake each other, even
// when the writer has already written the later record but the loop has
// not yet heard of the earlier one.
func (d *daemon) afterJournal(fn func()) {
	jn := d.journal
	if jn == nil {
		fn()
		return
	}
	if len(jn.waiters) > 0 {
		jn.runWaiters() // those whose records are written go first
	}
	if len(jn.waiters) == 0 && jn.done.Load() >= jn.posted {
		fn()
		return
	}
	jn.waiters = append(jn.waiters, journalWaiter{seq: jn.posted, fn: fn})
}

// record queues j's record (no-op without a journal).
func (d *daemon) record(j *entry) {
	if d.journal == nil || j.Phase() < job.Running {
		return
	}
	d.journal.post(&journalOp{id: j.ID(), data: job.Encode(j.Job, d.bootID)})
}

// unrecord queues the deletion of j's record.
func (d *daemon) unrecord(j *entry) {
	if d.journal != nil {
		d.journal.post(&journalOp{id: j.ID()})
	}
}

// pidStart is the start time of pid (clock ticks after boot, field 22
// of /proc/<pid>/stat): with the pid it names one process for the boot.
func pidStart(pid int) (uint64, error) {
	b, err := kfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// atClkTck is AT_CLKTCK of <elf.h>, the same on every architecture.
const atClkTck = 17

// clkTck is the unit of pidStart (USER_HZ, the auxv's AT_CLKTCK); 0 when
// unknown.
var clkTck = func() uint64 {
	av, err := unix.Auxv()
	if err != nil {
		return 0
	}
	for _, kv := range av {
		if kv[0] == atClkTck {
			return uint64(kv[1])
		}
	}
	return 0
}()

// bootNs is CLOCK_BOOTTIME in ns, the clock the kernel stamps a new
// process with (task start_boottime); -1 if unreadable.
func bootNs() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return -1
	}
	return ts.Nano()
}

// startBetween is pidStart of a process created between two bootNs
// readings, when both fall in the same clock tick: the kernel stamps the
// process from the same clock in between, and /proc shows that stamp in
// whole ticks (in the reader's time namespace, as bootNs reads it). Most
// spawns take well under a tick (10 ms), so the /proc/<pid>/stat read it
// saves (6 % of the daemon's CPU at 8 clients) is needed for the few that
// straddle one.
func startBetween(t0, t1 int64) (uint64, bool) {
	if clkTck == 0 || 1_000_000_000%clkTck != 0 || t0 < 0 || t1 < t0 {
		return 0, false
	}
	tick := int64(1_000_000_000 / clkTck)
	if t0/tick != t1/tick {
		return 0, false
	}
	return uint64(t0 / tick), true
}

// readBootID names this boot: a record from another boot has no live
// processes.
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
