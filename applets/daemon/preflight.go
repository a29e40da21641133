package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"cgroupd/applets/daemon/server"

	"golang.org/x/sys/unix"
)

// A start that is refused leaves the host as it found it. So before it
// creates anything (the root cgroup, the state dir, the log dir, the
// socket), the daemon checks what it will need: the socket's directory,
// the --socket-group, the --metrics-file's directory, and that the state
// and log directories exist or can be made; setupRoot checks the root
// before its mkdir. Then the root is locked before anything of it, or
// of another daemon's state dir and logs, is touched (openState), so a
// second daemon on the same root is refused without pruning, writing or
// removing anything of the first one's. What fails after all that (a
// full disk, a race) is undone: d.made, d.madeLogs.

// preflight runs the checks that need nothing created; upgrading: the
// socket and its group come with the hand-over.
func (d *daemon) preflight(upgrading bool) error {
	if !upgrading {
		if err := dirUsable(filepath.Dir(d.cfg.Socket), false); err != nil {
			return fmt.Errorf("socket: %s: %w", d.cfg.Socket, err)
		}
		if g := d.cfg.SocketGroup; g != "" {
			if _, err := server.LookupGroup(g); err != nil {
				return fmt.Errorf("--socket-group %s: %w", g, err)
			}
		}
	}
	if f := d.cfg.MetricsFile; f != "" {
		if err := dirUsable(filepath.Dir(f), false); err != nil {
			return fmt.Errorf("metrics file: %s: %w", f, err)
		}
		if fi, err := os.Stat(f); err == nil && !fi.Mode().IsRegular() {
			return fmt.Errorf("metrics file: %s: not a regular file", f)
		}
	}
	if s := d.stateDir(); s != "" {
		if err := dirUsable(s, true); err != nil {
			return fmt.Errorf("state dir: %s: %w", s, err)
		}
	}
	if l := d.cfg.LogDir; l != "" {
		if err := dirUsable(l, true); err != nil {
			return fmt.Errorf("log dir: %s: %w", l, err)
		}
	}
	return nil
}

// dirUsable: dir is a directory the daemon may create files in; with
// mayMake, a missing one is fine if its nearest existing ancestor is a
// directory it may create in (MkdirAll will make it).
func dirUsable(dir string, mayMake bool) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			// Effective ids, as the creation will use: AT_EACCESS.
			if err := unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
				return fmt.Errorf("%s: cannot create files in it: %w", p, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if !mayMake {
			return fmt.Errorf("%s: no such directory", p)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return err
		}
		p = parent
	}
}
