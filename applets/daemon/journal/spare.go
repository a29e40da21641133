package journal

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A record is replaced whole: written to another file, then renamed over
// the old one, so a crash never leaves half a record. Done with a new file
// each time, that is an inode allocated and one freed per write; on ext4
// the allocation scans past the inodes freed in the last seconds
// (recently_deleted), and at a few hundred jobs a second that scan became
// the daemon's largest cost and grew with the churn. So the writer keeps
// the files it is done with, up to maxSpares, as spares: empty dot files,
// which Replay skips and the next Open adopts. A record is written into a
// spare and exchanged with the old one (renameat2 RENAME_EXCHANGE, atomic
// as a rename), which leaves the old one as a spare, and a deleted record
// becomes a spare. Once the pool holds what the jobs of a burst gave back,
// their successors allocate no inode. On tmpfs (no sync) allocating is
// cheap and a spare would hold memory: records are replaced and deleted
// as before.

// maxSpares bounds the files kept for reuse: empty files, so on disk
// they cost inodes of the (preallocated) inode table and directory
// entries, not data blocks.
const maxSpares = 4096

// sparePrefix starts a spare's name: a dot file, never a job id.
const sparePrefix = ".spare-"

// adoptSpares takes the spares an earlier daemon (or image) left in the
// directory; Open calls it before the writer starts. They were emptied
// when kept (one an exchange left before that is emptied by its next
// write), so the start-up only reads the directory.
func (jn *Journal) adoptSpares() {
	ents, _ := os.ReadDir(jn.dir)
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), sparePrefix)
		if !ok {
			continue
		}
		if k, err := strconv.Atoi(n); err == nil && k > jn.spareSeq {
			jn.spareSeq = k
		}
		if len(jn.spares) < maxSpares {
			jn.spares = append(jn.spares, e.Name())
		} else {
			unix.Unlinkat(jn.dirFD, e.Name(), 0)
		}
	}
}

// newSpare names a new spare file.
func (jn *Journal) newSpare() string {
	jn.spareSeq++
	return sparePrefix + strconv.Itoa(jn.spareSeq)
}

// spare returns a file name to write a record into: a kept spare, or a
// new name (writeAt creates it).
func (jn *Journal) spare() string {
	if n := len(jn.spares); n > 0 {
		s := jn.spares[n-1]
		jn.spares = jn.spares[:n-1]
		return s
	}
	return jn.newSpare()
}

// writeRecord writes data as the record id.
func (jn *Journal) writeRecord(id string, data []byte) error {
	if !jn.sync {
		return jn.replace(jn.dirFD, "."+id+".tmp", id, data)
	}
	tmp := jn.spare()
	if err := writeAt(jn.dirFD, tmp, data); err != nil {
		return err
	}
	if !jn.noSwap {
		switch err := unix.Renameat2(jn.dirFD, tmp, jn.dirFD, id, unix.RENAME_EXCHANGE); err {
		case nil: // tmp now holds the old record: the next spare
			jn.keep(tmp)
			jn.writes.Add(1)
			return nil
		case unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP:
			jn.noSwap = true
		case unix.ENOENT: // the job's first record: nothing to exchange with
		default:
			unix.Unlinkat(jn.dirFD, tmp, 0)
			return &fs.PathError{Op: "rename", Path: tmp, Err: err}
		}
	}
	return jn.rename(jn.dirFD, tmp, id)
}

// retire deletes the record id: it becomes a spare while there is room.
func (jn *Journal) retire(id string) error {
	if jn.sync && len(jn.spares) < maxSpares {
		s := jn.newSpare()
		err := unix.Renameat(jn.dirFD, id, jn.dirFD, s)
		if err == nil {
			jn.keep(s)
			return nil
		}
		if err == unix.ENOENT {
			return nil
		}
	}
	if err := unix.Unlinkat(jn.dirFD, id, 0); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "unlink", Path: filepath.Join(jn.dir, id), Err: err}
	}
	return nil
}

// keep adds a file to the spares, emptied, or removes it when there are
// enough (or it cannot be emptied).
func (jn *Journal) keep(name string) {
	if len(jn.spares) < maxSpares && unix.Truncate(filepath.Join(jn.dir, name), 0) == nil {
		jn.spares = append(jn.spares, name)
		return
	}
	unix.Unlinkat(jn.dirFD, name, 0)
}

// dropSpares removes the spares: Close's, so that a clean stop leaves the
// state directory as empty as its records are (a crash or an upgrade
// leaves them to the next daemon).
func (jn *Journal) dropSpares() {
	for _, name := range jn.spares {
		unix.Unlinkat(jn.dirFD, name, 0)
	}
	jn.spares = nil
}
