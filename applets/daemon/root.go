package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
)

// wantControllers are the controllers RUN limits can need; they are enabled
// level by level from the mount down to the root when available. Other
// controllers (hugetlb, rdma, misc) are left as the host set them.
var wantControllers = []string{"cpu", "cpuset", "io", "memory", "pids"}

// daemonLeaf is the leaf the daemon moves itself into when its own cgroup
// is the root it manages (no-internal-process rule).
const daemonLeaf = supervisor.DaemonLeaf

// defaultRoot derives the root as CLI.md says. mount is the cgroup2 mount
// point, self the daemon's cgroup relative to it ("/x/y").
func defaultRoot(mount, self string, uid int, dirExists func(string) bool) string {
	if uid == 0 {
		return filepath.Join(mount, "cgroupd.slice")
	}
	user := filepath.Join(mount, "user.slice", fmt.Sprintf("user-%d.slice", uid), fmt.Sprintf("user@%d.service", uid))
	if dirExists(user) {
		return filepath.Join(user, "cgroupd.slice")
	}
	return filepath.Join(mount, filepath.Dir(filepath.Clean("/"+self)), "cgroupd.slice")
}

// levels returns the directories from mount down to root, both included.
// root must be mount or below it.
func levels(mount, root string) ([]string, error) {
	mount, root = filepath.Clean(mount), filepath.Clean(root)
	rel, err := filepath.Rel(mount, root)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("%s is not below the cgroup2 mount %s", root, mount)
	}
	out := []string{mount}
	if rel == "." {
		return out, nil
	}
	cur := mount
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		out = append(out, cur)
	}
	return out, nil
}

// rootSetup is what setupRoot found and did.
type rootSetup struct {
	Mount     string
	Root      cgroup.Dir
	Created   bool     // the root did not exist and was made
	Delegated bool     // the daemon moved itself into <root>/_daemon
	Enabled   []string // controllers enabled in the root's subtree_control
	self      string   // the daemon's own cgroup below the mount ("": unknown)
	missing   bool     // the root does not exist yet (findRoot)
}

// findRoot finds the cgroup2 mount and derives or checks the root; it
// changes nothing (preflight). A missing root is fine if its nearest
// existing ancestor is a cgroup2 directory.
func findRoot(rootFlag string, debugf func(string, ...any)) (*rootSetup, error) {
	mount, err := cgroup.Mount()
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 not mounted: %w", err)
	}
	self, err := cgroup.Self()
	if err != nil {
		// Not fatal: only the default for non-root users and delegation use it.
		debugf("own cgroup unknown: %v", err)
		self = ""
	}
	root := rootFlag
	if root == "" {
		root = defaultRoot(mount, self, os.Geteuid(), isDir)
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, fmt.Errorf("root %q: %w", rootFlag, err)
	}
	s := &rootSetup{Mount: mount, Root: cgroup.Dir(root), self: self}
	check := root
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		// Check the nearest existing ancestor: never mkdir a plain
		// directory on a tmpfs that merely looks like a cgroup path.
		check = filepath.Dir(root)
		for {
			if _, err := os.Stat(check); err == nil || check == "/" {
				break
			}
			check = filepath.Dir(check)
		}
		s.missing = true
	} else if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if err := cgroup.Check(check); err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	return s, nil
}

// setupRoot creates the root found if missing (only on cgroup2) and locks
// it (lock: nothing of it is changed before); then it moves the daemon
// into a leaf when its own cgroup is the root, and enables the wanted
// controllers level by level. debugf reports tolerated failures.
func setupRoot(s *rootSetup, lock func(string) error, debugf func(string, ...any)) error {
	mount, self, root := s.Mount, s.self, string(s.Root)
	if s.missing {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return fmt.Errorf("create root: %w", err)
		}
		s.Created = true
		if err := cgroup.Check(root); err != nil {
			return fmt.Errorf("root %s: %w", root, err)
		}
	}
	if err := lock(root); err != nil {
		return err
	}

	own, clean := filepath.Join(mount, self), filepath.Clean(root)
	// systemd's DelegateSubgroup=NAME (>= 254) starts us in <root>/NAME;
	// it cannot be _daemon (systemd refuses a name starting with "_").
	sub := self != "" && filepath.Dir(own) == clean && filepath.Base(own) != daemonLeaf
	if self != "" && own == clean || sub {
		// Delegated mode (systemd Delegate=yes): our own cgroup is the
		// root, or systemd's subgroup of it. Move the whole process (all
		// threads) into a leaf so that controllers can be enabled in the
		// root, and one place holds the daemon after every start.
		leaf := s.Root.Child(daemonLeaf)
		if err := leaf.Create(); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("delegated root: create %s: %w", leaf, err)
		}
		if err := leaf.Attach(os.Getpid()); err != nil {
			return fmt.Errorf("delegated root: move into %s: %w", leaf, err)
		}
		s.Delegated = true
		debugf("moved into %s", leaf)
		if sub {
			// The subgroup systemd made for us is empty now: removed, so
			// that it is not reported as an unknown cgroup. systemd makes
			// it again for the next start. Anything still in it keeps it.
			if err := os.Remove(own); err != nil {
				debugf("remove %s: %v", own, err)
			}
		}
	}

	lv, err := levels(mount, root)
	if err != nil {
		return err
	}
	for _, p := range lv {
		d := cgroup.Dir(p)
		on, err := d.EnableControllers(wantControllers)
		if err != nil {
			// EBUSY (internal processes), EACCES (not delegated) or a
			// controller the parent lacks: the jobs simply cannot use
			// it, and RUN refuses limits that need it.
			debugf("enable controllers in %s: %v", p, err)
		}
		if p == filepath.Clean(root) {
			s.Enabled = on
		}
	}
	if sc, err := s.Root.SubtreeControl(); err == nil {
		s.Enabled = sc
	}
	return nil
}
