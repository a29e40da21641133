package spawn

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"cgroupd/core/fsid"
)

// DirError is a start that failed because the job's working directory
// cannot be entered: nothing was executed.
type DirError struct {
	Dir string
	Err error // the errno
}

func (e *DirError) Error() string { return "cwd " + e.Dir + ": " + e.Err.Error() }
func (e *DirError) Unwrap() error { return e.Err }

// cause names what made err, a failed start, fail. ForkExec returns one
// errno for every step of the child (setuid, chdir, dup2, execve), so a
// chdir refused with EACCES or ENOENT reads as the command's own error.
// When the job's user cannot enter Dir, that is the cause. Only a failed
// start pays for the check.
func (c *Cmd) cause(err error) error {
	var errno syscall.Errno
	if c.Dir == "" || !errors.As(err, &errno) {
		return err
	}
	var derr error
	check := func() { derr = enterErr(c.Dir) }
	if !c.SetCred {
		check()
	} else if fsid.Do(c.Uid, c.Gid, c.Groups, check) != nil {
		return err // the user's rights cannot be taken: no better answer
	}
	if derr != nil {
		return &DirError{Dir: c.Dir, Err: derr}
	}
	return err
}

// enterErr is why dir cannot be entered (nil: it can): stat of "dir/."
// looks a name up inside dir, which needs search permission there, as
// chdir does.
func enterErr(dir string) error {
	_, err := os.Stat(dir + "/.")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
