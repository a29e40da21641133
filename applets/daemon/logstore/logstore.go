// Package logstore is the daemon's job log directory (-L): creating a
// job's log, opening it for LOGS, bounding it (--log-max-size) and keeping
// the logs of removed jobs (--log-retain).
//
// A job writes its output straight into DIR/<id>.log (its fd 1 and 2 are
// the file, opened O_APPEND), so it never blocks on the daemon and outlives
// a daemon crash. The directory is opened once and every log is opened
// relative to that descriptor (openat), by a name made of a valid id (no
// '/', never "." or ".."), with O_NOFOLLOW: nothing under the log dir is
// ever followed. A new log replaces whatever has its name by a fresh file
// (unlink, then O_CREAT|O_EXCL), so no one else can hold it open or have
// linked it elsewhere.
//
// The store bounds a file from outside: the supervisor's inotify watch on
// the log tells it the file grew (Grew); when the space the file takes on
// disk (st_blocks*512) exceeds --log-max-size it punches a hole over the
// head (fallocate PUNCH_HOLE|KEEP_SIZE, block-aligned), keeping the newest
// half of the cap. The file's size, and the job's append offset, keep
// growing; only the blocks are freed. Blocks the job put below its
// append offset or past its end of file are freed too (punch). LOGS
// readers skip the hole (Trimmed) and are told how much was dropped
// (Marker); they skip the holes a job made itself as well (Data,
// HoleMarker), so a sparse log costs a reader its data, not its size.
// The supervisor checks a log at most twice per CheckPeriod while it
// grows: the daemon's cost is per period, not per write.
//
// --log-retain N bounds the directory per user: the logs of removed jobs
// (and any *.log found there at start) are kept, the newest N of each uid
// (the job's; at start the file's owner, as a job's log is chowned to it),
// the older ones deleted. One user's removed jobs never push another's
// kept logs out; the directory holds at most N kept logs per user.
//
// A kept log is never overwritten: a new job whose id names one (a
// client's --id) still writes DIR/<id>.log, and the kept one is first
// moved aside to DIR/<id>.log.<n>, the lowest n free, where it stays a
// kept log under --log-retain. (No id's log ends that way: ids end in
// ".log" only as "<id>.log".) The ids of the logs found at start go to
// the automatic id counter (Found), so a job-<n> of a log kept from an
// earlier daemon is never handed out again.
package logstore

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// CheckPeriod is how often at most a growing log is checked (trim,
// LOGS followers): its watch is paced (core/notify Pace), so a job that
// writes at full speed costs the daemon a check per period, not one per
// write (measured: a job running `yes` cost the daemon 0.27 s of CPU per
// second of its own with a check per write, under 0.05 s with 20 ms). A
// log can run past the cap by what its job writes in one period.
const CheckPeriod = 20 * time.Millisecond

// MinSize is the least --log-max-size: the cap must hold a few blocks.
const MinSize = 64 << 10

// Store is one log directory. Only the loop touches it. A nil *Store (no
// -L) has no logs.
type Store struct {
	dir     string
	fd      int
	maxSize int64 // <= 0: unbounded
	retain  int
	logf    func(format string, args ...any)

	found    []string                 // ids of the logs found at Open
	aside    map[string]string        // log path -> where its older file was moved, while its job lives
	trims    map[string]int64         // log path -> head punched out up to here
	retained map[string]keptLog       // log path of a removed job -> its entry
	queues   map[uint32][]retainedLog // per uid, oldest first; entries whose generation is stale are skipped
	kept     map[uint32]int           // per uid, its entries in retained
	gen      uint64
	warned   bool // a failed trim was logged
}

// keptLog is a retained log's entry: its generation and its user.
type keptLog struct {
	gen uint64
	uid uint32
}

type retainedLog struct {
	path string
	gen  uint64
}

// Open makes (if missing) and opens the log directory dir (absolute),
// takes the *.log files already there as removed jobs' logs and prunes
// them to retain. owner is the daemon's uid: a directory on the path that
// anyone else could change is reported through logf, once.
func Open(dir string, maxSize int64, retain, owner int, logf func(string, ...any)) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	s := &Store{dir: dir, fd: -1, maxSize: maxSize, retain: retain, logf: logf,
		trims: map[string]int64{}, retained: map[string]keptLog{}, aside: map[string]string{},
		queues: map[uint32][]retainedLog{}, kept: map[uint32]int{}}
	if err := s.scan(); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("log dir: open %s: %w", dir, err)
	}
	s.fd = fd
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil && !trustedDir(st, owner) {
			logf("log dir: %s (mode %04o, uid %d) can be changed by others; keep job logs where only root can write", p, st.Mode&0o7777, st.Uid)
			break
		}
		if p == "/" {
			break
		}
	}
	return s, nil
}

// Close releases the directory.
func (s *Store) Close() {
	if s != nil && s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// Capped reports whether logs are bounded (and so watched as they grow).
func (s *Store) Capped() bool { return s != nil && s.maxSize > 0 }

// trustedDir: only root or owner may add, rename or remove its entries
// (owned by one of them, and group/other-writable only with the sticky
// bit, as /tmp).
func trustedDir(st unix.Stat_t, owner int) bool {
	if st.Uid != 0 && int(st.Uid) != owner {
		return false
	}
	return st.Mode&0o022 == 0 || st.Mode&unix.S_ISVTX != 0
}

// Found is the ids of the logs the directory held at Open.
func (s *Store) Found() []string {
	if s == nil {
		return nil
	}
	return s.found
}

// Create makes a new, empty log file for job id, owned by the daemon
// (chowned by the caller when the job runs as another user), and returns
// it with its path. Whatever had the name is moved aside first (moveAside).
func (s *Store) Create(id string) (*os.File, string, error) {
	name := id + ".log"
	path := filepath.Join(s.dir, name)
	if err := s.moveAside(name, path); err != nil {
		return nil, "", err
	}
	fd, err := unix.Openat(s.fd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o640)
	if err != nil {
		s.restoreAside(name, path)
		return nil, "", fmt.Errorf("create %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), path, nil
}

// moveAside renames what has the name of a new log (a kept log, or
// anything else: never followed) to name.<n>, the lowest n free
// (RENAME_NOREPLACE: nothing is overwritten); a kept log stays kept under
// its new name. Remove (a refused RUN) puts it back.
func (s *Store) moveAside(name, path string) error {
	for n := 1; ; n++ {
		to := name + "." + strconv.Itoa(n)
		err := unix.Renameat2(s.fd, name, s.fd, to, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if errors.Is(err, unix.ENOENT) {
			return nil // nothing has the name
		}
		if err != nil {
			return fmt.Errorf("move %s aside: %w", path, err)
		}
		moved := filepath.Join(s.dir, to)
		s.aside[path] = moved
		s.rename(path, moved)
		return nil
	}
}

// restoreAside puts back what moveAside moved for the log at path, if
// the new log is gone (a RUN that failed leaves the directory as it was).
func (s *Store) restoreAside(name, path string) {
	moved, ok := s.aside[path]
	if !ok {
		return
	}
	delete(s.aside, path)
	if unix.Renameat2(s.fd, filepath.Base(moved), s.fd, name, unix.RENAME_NOREPLACE) == nil {
		s.rename(moved, path)
	}
}

// rename makes the kept log at from the one at to, in its place by age.
func (s *Store) rename(from, to string) {
	e, ok := s.retained[from]
	if !ok {
		return
	}
	delete(s.retained, from)
	s.retained[to] = e
	q := s.queues[e.uid]
	for i := range q {
		if q[i] == (retainedLog{from, e.gen}) {
			q[i].path = to
		}
	}
}

// Open opens the log at path for reading (LOGS): relative to the log dir,
// never through a link, a regular file only.
func (s *Store) Open(path string) (*os.File, error) {
	if s == nil {
		return nil, errors.New("no log directory")
	}
	fd, err := unix.Openat(s.fd, filepath.Base(path), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Remove deletes the log at path (a refused RUN leaves nothing behind).
func (s *Store) Remove(path string) error {
	if s == nil {
		return nil
	}
	delete(s.trims, path)
	if err := unix.Unlinkat(s.fd, filepath.Base(path), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove log %s: %w", path, err)
	}
	s.restoreAside(filepath.Base(path), path)
	return nil
}

// Started registers the log of a job that starts (or is adopted): it is
// no longer a removed job's log, and nothing of it is trimmed yet.
func (s *Store) Started(path string) {
	if s == nil {
		return
	}
	s.unkeep(path)
	delete(s.trims, path)
}

// Trimmed is how far the head of the log at path was punched out.
func (s *Store) Trimmed(path string) int64 {
	if s == nil {
		return 0
	}
	return s.trims[path]
}

// Grew checks a growing log against the cap (inotify IN_MODIFY, and a
// last time when its job ended).
func (s *Store) Grew(path string) {
	if !s.Capped() || path == "" {
		return
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return
	}
	trim := s.trims[path]
	if st.Size < trim {
		// Truncated by the job itself: nothing before its new end is a hole.
		trim = 0
		delete(s.trims, path)
	}
	if st.Blocks*512 <= s.maxSize {
		return
	}
	blk := int64(st.Blksize)
	if blk <= 0 {
		blk = 4096
	}
	to := max((st.Size-s.maxSize/2)/blk*blk, 0)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		err = s.punch(fd, trim, to)
		unix.Close(fd)
	}
	if err != nil {
		if !s.warned {
			s.warned = true
			s.logf("log: cannot trim %s (--log-max-size): %v (further failures are not logged)", path, err)
		}
		return
	}
	if to > trim {
		s.trims[path] = to
	}
}

// punch frees the blocks of the log open at fd below to, from the last
// trim: what a job appends is freed once, and the loop never walks the
// head it freed before. Whatever the file still takes beyond the cap was
// put there by the job itself, and is freed too:
//   - below its append offset (it cleared O_APPEND, or wrote at an
//     offset): everything below to is punched;
//   - past its end of file (fallocate KEEP_SIZE: blocks that st_size does
//     not show): punched from the end (tmpfs, xfs), or, where the
//     filesystem punches nothing past the end (ext4), cut by truncating
//     the file to its own size. A job that appends at that moment may lose
//     what it wrote between the fstat and the truncate: only a job that
//     allocates past its end takes that risk.
func (s *Store) punch(fd int, from, to int64) error {
	const mode = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE
	if from < to {
		if err := unix.Fallocate(fd, mode, from, to-from); err != nil {
			return err
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Blocks*512 <= s.maxSize {
		return err
	}
	if from > 0 {
		if err := unix.Fallocate(fd, mode, 0, to); err != nil {
			return err
		}
		if err := unix.Fstat(fd, &st); err != nil || st.Blocks*512 <= s.maxSize {
			return err
		}
	}
	// What is left beyond the cap lies past the end of file: at most
	// maxSize/2 plus a block is below it now.
	// (An error here, such as EFBIG past the filesystem's largest
	// offset, leaves it to the truncate.)
	blk := max(int64(st.Blksize), 1)
	end := (st.Size + blk - 1) / blk * blk
	unix.Fallocate(fd, mode, end, math.MaxInt64-end)
	if err := unix.Fstat(fd, &st); err != nil || st.Blocks*512 <= s.maxSize {
		return err
	}
	// A job appending fast has written more since to was taken: its data
	// between to and the end of file is no allocation past the end. Only
	// what exceeds that by more than the cap is, and only then is the file
	// cut to its own size (read again just before).
	if st.Blocks*512-max(st.Size-to, 0) <= s.maxSize {
		return nil
	}
	return unix.Ftruncate(fd, st.Size)
}

// Forgotten keeps the log of a removed job of uid, within --log-retain
// for that uid.
func (s *Store) Forgotten(path string, uid uint32) {
	if s == nil || path == "" {
		return
	}
	delete(s.trims, path)
	delete(s.aside, path) // its job ran: what was moved aside stays there
	s.keep(path, uid)
	s.prune(uid)
}

func (s *Store) keep(path string, uid uint32) {
	s.unkeep(path)
	s.gen++
	s.retained[path] = keptLog{s.gen, uid}
	s.kept[uid]++
	s.queues[uid] = append(s.queues[uid], retainedLog{path, s.gen})
}

// unkeep drops path's entry (its queue's entry goes stale).
func (s *Store) unkeep(path string) {
	e, ok := s.retained[path]
	if !ok {
		return
	}
	delete(s.retained, path)
	if s.kept[e.uid]--; s.kept[e.uid] <= 0 {
		delete(s.kept, e.uid)
		delete(s.queues, e.uid)
	}
}

// prune deletes uid's oldest retained logs beyond --log-retain.
func (s *Store) prune(uid uint32) {
	q := s.queues[uid]
	for s.kept[uid] > s.retain && len(q) > 0 {
		e := q[0]
		q[0] = retainedLog{}
		q = q[1:]
		if k, ok := s.retained[e.path]; !ok || k.gen != e.gen {
			continue // its job started again, or a newer entry stands for it
		}
		s.unkeep(e.path)
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logf("--log-retain: remove %s: %v", e.path, err)
		}
	}
	if _, ok := s.kept[uid]; !ok {
		return // none left: unkeep dropped the queue
	}
	// Let the slice's array go once most of it was consumed.
	if cap(q) > 64 && len(q) < cap(q)/4 {
		q = append([]retainedLog(nil), q...)
	}
	s.queues[uid] = q
}

// scan adopts the *.log files already in the directory (left by an
// earlier daemon) as removed jobs' logs, oldest first, and prunes them.
func (s *Store) scan() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	type found struct {
		path  string
		mtime int64
		uid   uint32
	}
	var logs []found
	for _, e := range ents {
		id, ok := logID(e.Name())
		if !e.Type().IsRegular() || !ok {
			continue
		}
		s.found = append(s.found, id)
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		uid := uint32(0)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid = st.Uid
		}
		logs = append(logs, found{filepath.Join(s.dir, e.Name()), fi.ModTime().UnixNano(), uid})
	}
	sort.Slice(logs, func(a, b int) bool {
		if logs[a].mtime != logs[b].mtime {
			return logs[a].mtime < logs[b].mtime
		}
		return logs[a].path < logs[b].path
	})
	for _, l := range logs {
		s.keep(l.path, l.uid)
	}
	for uid := range s.kept {
		s.prune(uid)
	}
	return nil
}

// logID is the id of a log file name: <id>.log, or <id>.log.<n> (moved
// aside).
func logID(name string) (string, bool) {
	if i := strings.LastIndex(name, ".log."); i > 0 {
		if _, err := strconv.ParseUint(name[i+5:], 10, 32); err == nil {
			return name[:i], true
		}
	}
	id, ok := strings.CutSuffix(name, ".log")
	return id, ok && id != ""
}

// Marker stands for n bytes a trim dropped before they were sent.
func Marker(n int64, midLine bool) string {
	return marker(n, midLine, "dropped (--log-max-size)")
}

// HoleMarker stands for n bytes of a hole (never written, or allocated
// and never written: they read as zeros) that a LOGS stream skipped.
func HoleMarker(n int64, midLine bool) string {
	return marker(n, midLine, "skipped (a hole)")
}

func marker(n int64, midLine bool, what string) string {
	m := fmt.Sprintf("[cgroupd: %d bytes of log %s]\n", n, what)
	if midLine {
		return "\n" + m
	}
	return m
}

// Data is where the next data of the log f lies at or after pos, and
// where it ends (the next hole), so that a reader skips holes: a job that
// extends its log (truncate -s 100G) or allocates it (fallocate) makes
// no one read its zeros. No data at or after pos (ENXIO) is the end of
// the log: data and end are pos. (Not the size: what the job appends
// between the lseek and an fstat would be taken for a hole. A hole at the
// end is thus never sent; a follower gets it as a marker once the job
// writes after it.) A filesystem that cannot tell holes (EINVAL) has data
// everywhere: pos, and end the largest offset.
func Data(f *os.File, pos int64) (data, end int64, err error) {
	data, err = f.Seek(pos, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.EINVAL):
		return pos, math.MaxInt64, nil
	case errors.Is(err, unix.ENXIO):
		return pos, pos, nil
	case err != nil:
		return pos, pos, err
	}
	end, err = f.Seek(data, unix.SEEK_HOLE)
	if err != nil {
		return data, math.MaxInt64, nil // read it as data
	}
	return data, end, nil
}
