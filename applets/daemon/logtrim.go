package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Bounded job logs.
//
// A job writes its output straight into DIR/<id>.log (its fd 1 and 2 are
// the file, opened O_APPEND), so it never blocks on the daemon and outlives
// a daemon crash. The daemon bounds the file from outside: an inotify
// watch on the log (one watch, no fd) tells it the file grew; when the
// space the file takes on disk (st_blocks*512) exceeds --log-max-size it
// punches a hole over the head (fallocate PUNCH_HOLE|KEEP_SIZE,
// block-aligned), keeping the newest half of the cap. The file's size, and
// the job's append offset, keep growing; only the blocks are freed. LOGS
// readers skip the hole and are told how much was dropped (logMarker).
//
// --log-retain N bounds the directory: the logs of removed jobs (and any
// *.log found there at start) are kept, newest N, the older ones deleted.

// logMinSize is the least --log-max-size: the cap must hold a few blocks.
const logMinSize = 64 << 10

// logState is the daemon's log bookkeeping.
type logState struct {
	retained map[string]uint64 // log path of a removed job -> its entry's generation
	queue    []retainedLog     // oldest first; entries whose generation is stale are skipped
	gen      uint64
	warned   bool // a failed trim was logged
}

type retainedLog struct {
	path string
	gen  uint64
}

// logStarted registers the log of a job that starts: it is no longer a
// removed job's log, and it is watched for growth when a cap is set.
func (d *daemon) logStarted(j *entry) error {
	delete(d.logs.retained, j.Log())
	j.logTrim = 0
	if d.cfg.LogMaxSize <= 0 {
		return nil
	}
	return d.watchFile(j, j.Log(), watchLog, &j.wdLog)
}

// logGrew checks a growing log against the cap (inotify IN_MODIFY).
func (d *daemon) logGrew(j *entry) {
	if d.cfg.LogMaxSize <= 0 || j.Log() == "" {
		return
	}
	var st unix.Stat_t
	if err := unix.Stat(j.Log(), &st); err != nil {
		return
	}
	if st.Size < j.logTrim {
		// Truncated by the job itself: nothing before its new end is a hole.
		j.logTrim = 0
	}
	if st.Blocks*512 <= d.cfg.LogMaxSize {
		return
	}
	blk := int64(st.Blksize)
	if blk <= 0 {
		blk = 4096
	}
	to := (st.Size - d.cfg.LogMaxSize/2) / blk * blk
	if to <= 0 {
		return
	}
	fd, err := unix.Open(j.Log(), unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == nil {
		// From 0, not from the last trim: blocks a job wrote below its
		// append offset (pwrite) are freed too.
		err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, to)
		unix.Close(fd)
	}
	if err != nil {
		if !d.logs.warned {
			d.logs.warned = true
			d.logf("job %s: cannot trim %s (--log-max-size): %v (further failures are not logged)", j.ID(), j.Log(), err)
		}
		return
	}
	if to > j.logTrim {
		j.logTrim = to
	}
}

// logEnded: the job's processes are gone; a last check, and the watch is
// dropped unless LOGS --follow readers still use it.
func (d *daemon) logEnded(j *entry) {
	if j.Log() == "" {
		return
	}
	d.logGrew(j)
	if len(j.followers) == 0 {
		d.unwatch(j, &j.wdLog)
	}
}

// logForgotten keeps the log of a removed job, within --log-retain.
func (d *daemon) logForgotten(j *entry) {
	if j.Log() == "" {
		return
	}
	d.unwatch(j, &j.wdLog)
	d.retainLog(j.Log())
	d.pruneLogs()
}

func (d *daemon) retainLog(path string) {
	if d.logs.retained == nil {
		d.logs.retained = map[string]uint64{}
	}
	d.logs.gen++
	d.logs.retained[path] = d.logs.gen
	d.logs.queue = append(d.logs.queue, retainedLog{path, d.logs.gen})
}

// pruneLogs deletes the oldest retained logs beyond --log-retain.
func (d *daemon) pruneLogs() {
	for len(d.logs.retained) > d.cfg.LogRetain && len(d.logs.queue) > 0 {
		e := d.logs.queue[0]
		d.logs.queue[0] = retainedLog{}
		d.logs.queue = d.logs.queue[1:]
		if g, ok := d.logs.retained[e.path]; !ok || g != e.gen {
			continue // its job started again, or a newer entry stands for it
		}
		delete(d.logs.retained, e.path)
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.logf("--log-retain: remove %s: %v", e.path, err)
		}
	}
	// Let the slice's array go once most of it was consumed.
	if cap(d.logs.queue) > 64 && len(d.logs.queue) < cap(d.logs.queue)/4 {
		d.logs.queue = append([]retainedLog(nil), d.logs.queue...)
	}
}

// scanLogs adopts the *.log files already in the log directory (left by an
// earlier daemon) as removed jobs' logs, oldest first, and prunes them.
func (d *daemon) scanLogs() error {
	ents, err := os.ReadDir(d.cfg.LogDir)
	if err != nil {
		return err
	}
	type found struct {
		path  string
		mtime int64
	}
	var logs []found
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		logs = append(logs, found{filepath.Join(d.cfg.LogDir, e.Name()), fi.ModTime().UnixNano()})
	}
	sort.Slice(logs, func(a, b int) bool {
		if logs[a].mtime != logs[b].mtime {
			return logs[a].mtime < logs[b].mtime
		}
		return logs[a].path < logs[b].path
	})
	for _, l := range logs {
		d.retainLog(l.path)
	}
	d.pruneLogs()
	return nil
}
