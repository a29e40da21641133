package spawn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is the search path when env has no PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNotFound: no executable of that name in PATH.
var ErrNotFound = errors.New("executable file not found in PATH")

// LookPath resolves name like execvp: names containing '/' are taken as
// they are (relative to dir if relative), others are searched in the PATH
// of env (default "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
//
// The result is absolute (a relative dir is made absolute against the
// daemon's working directory), since the child changes to dir before exec.
// Empty PATH entries mean dir, as in execvp. A match that is not an
// executable regular file is skipped; if nothing else matches, that
// reason is the error.
func LookPath(name string, env []string, dir string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		p, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if err := executable(p); err != nil {
			if !filepath.IsAbs(name) {
				if derr := enterErr(dir); derr != nil {
					return "", &DirError{Dir: dir, Err: derr} // ./x where dir cannot be entered
				}
			}
			return "", err
		}
		return p, nil
	}
	path, ok := getenv(env, "PATH")
	if !ok {
		path = DefaultPath
	}
	var first error
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p, err := filepath.Abs(filepath.Join(d, name))
		if err != nil {
			continue
		}
		err = executable(p)
		if err == nil {
			return p, nil
		}
		if first == nil && !errors.Is(err, fs.ErrNotExist) {
			first = err
		}
	}
	if first != nil {
		return "", first
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}

// executable checks for a regular file with an execute bit.
func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return &fs.PathError{Op: "exec", Path: p, Err: fs.ErrPermission}
	}
	return nil
}

// getenv returns the first NAME= entry of env, as getenv(3) in the child.
func getenv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
