package journal

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The writer's own files live apart from the records, in jobs/.writer~:
// a name no job id can take ('~' is not in an id's alphabet), so a job
// can never be mistaken for one of them, nor they for a job, whatever its
// id (".spare-1", ".x.tmp" and every other shape included). It holds the
// temp file a record is written to and the spares.
//
// A record is replaced whole: written to another file, then renamed over
// the old one, so a crash never leaves half a record. Done with a new file
// each time, that is an inode allocated and one freed per write; on ext4
// the allocation scans past the inodes freed in the last seconds
// (recently_deleted), and at a few hundred jobs a second that scan became
// the daemon's largest cost and grew with the churn. So the writer keeps
// the files it is done with, up to maxSpares, as spares: empty files of
// .writer~, which the next Open adopts. A record is written into a spare
// and exchanged with the old one (renameat2 RENAME_EXCHANGE, atomic as a
// rename, across the two directories of one file system), which leaves
// the old one as a spare, and a deleted record becomes a spare. Once the
// pool holds what the jobs of a burst gave back, their successors
// allocate no inode. On tmpfs (no sync) allocating is cheap and a spare
// would hold memory: records are written to .writer~/tmp, renamed in
// place, and deleted.
//
// Versions before kept these files in jobs/ itself, as .spare-<n> and
// .<id>.tmp, names a job id could take (and a job of such an id vanished
// at the next start). Replay tells those apart by content (legacy): a
// file that is not the record of its own name is the old writer's, and
// removed. An older daemon started on a directory of this version leaves
// .writer~ alone (it tries to remove dot files, and a directory with
// files in it is not removed).

// workDir holds the writer's own files (in jobs/).
const workDir = ".writer~"

// tmpName is the temp file of a record on tmpfs (in workDir).
const tmpName = "tmp"

// maxSpares bounds the files kept for reuse: empty files, so on disk
// they cost inodes of the (preallocated) inode table and directory
// entries, not data blocks.
const maxSpares = 4096

// sparePrefix starts a spare's name in workDir.
const sparePrefix = "spare-"

// openWork makes (if needed) and opens workDir, and adopts what an
// earlier daemon (or image) left in it: the spares, kept on a disk (they
// were emptied when kept; one an exchange left before that is emptied by
// its next write, so the start-up only reads the directory), and a temp
// file, removed. Open calls it before the writer starts.
func (jn *Journal) openWork() error {
	if err := unix.Mkdirat(jn.dirFD, workDir, 0o700); err != nil && err != unix.EEXIST {
		return &fs.PathError{Op: "mkdir", Path: filepath.Join(jn.dir, workDir), Err: err}
	}
	fd, err := unix.Openat(jn.dirFD, workDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: filepath.Join(jn.dir, workDir), Err: err}
	}
	jn.workFD = fd
	ents, _ := os.ReadDir(filepath.Join(jn.dir, workDir))
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), sparePrefix)
		k, err := strconv.Atoi(n)
		if !ok || err != nil || !jn.sync || len(jn.spares) >= maxSpares {
			unix.Unlinkat(fd, e.Name(), 0)
			continue
		}
		jn.spareSeq = max(jn.spareSeq, k)
		jn.spares = append(jn.spares, e.Name())
	}
	return nil
}

// legacy reports whether the file name of jobs/, holding data, is one
// an earlier version's writer kept for itself (.spare-<n>, .<id>.tmp)
// and not the record of a job of that name. A record names its id on a
// line of its own ("id: <id>", job.Encode); a spare is empty or holds
// the former record of another id, a temp file another id's record or
// part of it.
func legacy(name string, data []byte) bool {
	if !strings.HasPrefix(name, ".spare-") && !(strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")) {
		return false
	}
	return !bytes.Contains(data, []byte("\nid: "+name+"\n"))
}

// newSpare names a new spare file.
func (jn *Journal) newSpare() string {
	jn.spareSeq++
	return sparePrefix + strconv.Itoa(jn.spareSeq)
}

// spare returns a file name of workDir to write a record into: a kept
// spare, or a new name (writeAt creates it).
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
		return jn.replace(jn.workFD, tmpName, jn.dirFD, id, data)
	}
	tmp := jn.spare()
	if err := writeAt(jn.workFD, tmp, data); err != nil {
		return err
	}
	if !jn.noSwap {
		switch err := unix.Renameat2(jn.workFD, tmp, jn.dirFD, id, unix.RENAME_EXCHANGE); err {
		case nil: // tmp now holds the old record: the next spare
			jn.keep(tmp)
			jn.writes.Add(1)
			return nil
		case unix.EINVAL, unix.ENOSYS, unix.EOPNOTSUPP:
			jn.noSwap = true
		case unix.ENOENT: // the job's first record: nothing to exchange with
		default:
			unix.Unlinkat(jn.workFD, tmp, 0)
			return &fs.PathError{Op: "rename", Path: tmp, Err: err}
		}
	}
	return jn.rename(jn.workFD, tmp, jn.dirFD, id)
}

// retire deletes the record id: it becomes a spare while there is room.
func (jn *Journal) retire(id string) error {
	if jn.sync && len(jn.spares) < maxSpares {
		s := jn.newSpare()
		err := unix.Renameat(jn.dirFD, id, jn.workFD, s)
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

// keep adds a file of workDir to the spares, emptied, or removes it when
// there are enough (or it cannot be emptied).
func (jn *Journal) keep(name string) {
	if len(jn.spares) < maxSpares && unix.Truncate(filepath.Join(jn.dir, workDir, name), 0) == nil {
		jn.spares = append(jn.spares, name)
		return
	}
	unix.Unlinkat(jn.workFD, name, 0)
}

// dropSpares removes the spares and workDir: Close's, so that a clean
// stop leaves the state directory as empty as its records are (a crash
// or an upgrade leaves them to the next daemon).
func (jn *Journal) dropSpares() {
	for _, name := range jn.spares {
		unix.Unlinkat(jn.workFD, name, 0)
	}
	jn.spares = nil
	unix.Unlinkat(jn.dirFD, workDir, unix.AT_REMOVEDIR) // ENOTEMPTY: a file it did not make; left
}
