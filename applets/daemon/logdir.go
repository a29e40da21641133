package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Job logs (-L). The directory is opened once at start and every log is
// opened relative to that descriptor (openat), by a name made of a valid
// id (no '/', never "." or ".."), with O_NOFOLLOW: nothing under the log
// dir is ever followed. A new log replaces whatever has its name (an
// earlier job's log, or anything planted there) by a fresh file: unlink,
// then O_CREAT|O_EXCL, so no one else can hold it open or have linked it
// elsewhere.

// openLogDir opens the log directory and says once if a user other than
// root (or the daemon's) could change it or a directory above it.
func (d *daemon) openLogDir() error {
	fd, err := unix.Open(d.cfg.LogDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("log dir: open %s: %w", d.cfg.LogDir, err)
	}
	d.logDirFD = fd
	for p := d.cfg.LogDir; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err == nil && !trustedDir(st, d.euid) {
			d.logf("log dir: %s (mode %04o, uid %d) can be changed by others; keep job logs where only root can write", p, st.Mode&0o7777, st.Uid)
			break
		}
		if p == "/" {
			break
		}
	}
	return nil
}

// trustedDir: only root or owner may add, rename or remove its entries
// (owned by one of them, and group/other-writable only with the sticky
// bit, as /tmp).
func trustedDir(st unix.Stat_t, owner int) bool {
	if st.Uid != 0 && int(st.Uid) != owner {
		return false
	}
	return st.Mode&0o022 == 0 || st.Mode&unix.S_ISVTX != 0
}

// createLog makes a new, empty log file for job id, owned by the daemon
// (chowned by the caller when the job runs as another user).
func (d *daemon) createLog(id string) (*os.File, string, error) {
	name := id + ".log"
	path := filepath.Join(d.cfg.LogDir, name)
	if err := unix.Unlinkat(d.logDirFD, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, "", fmt.Errorf("unlink %s: %w", path, err)
	}
	fd, err := unix.Openat(d.logDirFD, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o640)
	if err != nil {
		return nil, "", fmt.Errorf("create %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), path, nil
}

// openLog opens job j's log for reading (LOGS): relative to the log dir,
// never through a link, a regular file only.
func (d *daemon) openLog(j *entry) (*os.File, error) {
	name := filepath.Base(j.Log())
	fd, err := unix.Openat(d.logDirFD, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.Log(), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not a regular file", j.Log())
	}
	return os.NewFile(uintptr(fd), j.Log()), nil
}

// removeLog removes job j's log (a refused RUN leaves nothing behind).
func (d *daemon) removeLog(j *entry) {
	if err := unix.Unlinkat(d.logDirFD, filepath.Base(j.Log()), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		d.debugf("job %s: remove log: %v", j.ID(), err)
	}
}
