package daemon

import (
	"cgroupd/applets/daemon/handoff"
	"cgroupd/applets/daemon/journal"
	"cgroupd/core/cgroup"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Adoption: a daemon that starts where another one died (SIGKILL, a crash,
// the OOM killer) or re-executed itself (UPGRADE) replays the job records
// of the journal and reconciles them with the cgroup tree:
//
//   - a record of an ended job is the job, as it ended;
//   - a running job whose main process is still there (the same pid, the
//     same start time, still in the job's cgroup) is adopted: a pidfd on it,
//     watches, the engine's candidate again. After a crash it is not our
//     child, so how it ends is known only if we kill it (killed, signal 9);
//     otherwise it ends with exit_known 0. After an upgrade it still is our
//     child and its pidfd was handed over: its status is exact;
//   - a running job whose main process is gone ended while no daemon
//     watched: it ends now with exit_known 0, exit_reason ended_while_down
//     (or reboot), after what is left in its cgroup is killed;
//   - a cgroup under the root that no record names is reported (event
//     cgroup.unknown and a log line) and left alone;
//   - a record that cannot be read is reported (event state.corrupt) and
//     skipped.

// defaultStateDir: /run/cgroupd/<root> for root; $XDG_RUNTIME_DIR/cgroupd
// or /tmp/cgroupd-<uid> for others. <root> is the root below the cgroup2
// mount with "/" as "-".
func defaultStateDir(euid int, mount string, root cgroup.Dir, getenv func(string) string) string {
	rel, err := filepath.Rel(mount, string(root))
	if err != nil || rel == "." {
		rel = "root"
	}
	name := strings.ReplaceAll(rel, "/", "-")
	if euid == 0 {
		return filepath.Join("/run/cgroupd", name)
	}
	if x := getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "cgroupd", name)
	}
	return filepath.Join(fmt.Sprintf("/tmp/cgroupd-%d", euid), name)
}

// lockDir takes an exclusive flock on dir, refusing a second daemon.
func lockDir(dir, what string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return -1, fmt.Errorf("%s %s is in use by another cgroupd (locked)", what, dir)
		}
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	return fd, nil
}

// lockRoot takes the root's lock (setupRoot, before it changes anything
// of the root): a second daemon on it is refused here. An upgraded daemon
// inherits the locked fds (h non-nil).
func (d *daemon) lockRoot(h *handoff.Handoff) error {
	if h != nil {
		d.lockFDs = h.Locks
		return nil
	}
	fd, err := lockDir(string(d.root), "cgroup root")
	if err != nil {
		return err
	}
	d.lockFDs = append(d.lockFDs, fd)
	return nil
}

// stateDir is the --state-dir in force: "" for none.
func (d *daemon) stateDir() string {
	switch d.cfg.StateDir {
	case "none":
		return ""
	case "":
		return defaultStateDir(d.euid, d.mount, d.root, os.Getenv)
	}
	return d.cfg.StateDir
}

// openState locks the state dir and opens the journal (nil with
// --state-dir none), once the root is locked.
func (d *daemon) openState(h *handoff.Handoff) error {
	dir := d.stateDir()
	if dir == "" {
		return nil
	}
	if d.cfg.StateDir == "" {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			// Made by this start: a clean shutdown removes it once empty
			// (its jobs/ first), so one directory per root ever used
			// does not pile up.
			// The id reservation goes with the records: nothing names
			// their ids any more (kept logs count on their own).
			d.made = append(d.made, dir, filepath.Join(dir, journal.ReserveFile), filepath.Join(dir, "jobs"))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if h == nil {
		fd, err := lockDir(dir, "state dir")
		if err != nil {
			return err
		}
		d.lockFDs = append(d.lockFDs, fd)
	}
	jn, err := journal.Open(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	d.journal = jn
	return nil
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
