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

// InterpError is a script whose #! interpreter does not exist: execve
// says ENOENT, as for a missing command, though the script is there.
type InterpError struct{ Path, Interp string }

func (e *InterpError) Error() string {
	return "start " + e.Path + ": interpreter " + e.Interp + ": no such file or directory"
}

// Unwrap: the file cannot be executed as it is (a shell's 126, as bash's
// "bad interpreter"), not a command that is missing.
func (e *InterpError) Unwrap() error { return syscall.ENOEXEC }

// cause names what made err, a failed start, fail. ForkExec returns one
// errno for every step of the child (setuid, chdir, dup2, execve), so a
// chdir refused with EACCES or ENOENT reads as the command's own error,
// and so does a missing #! interpreter. When the job's user cannot enter
// Dir, or the script's interpreter is missing, that is the cause. Only a
// failed start pays for the checks, made with the job's user's rights.
func (c *Cmd) cause(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	var derr error
	interp := ""
	check := func() {
		if c.Dir != "" {
			derr = enterErr(c.Dir)
		}
		if derr == nil && errno == syscall.ENOENT {
			interp = missingInterp(c.Path)
		}
	}
	if !c.SetCred {
		check()
	} else if fsid.Do(c.Uid, c.Gid, c.Groups, check) != nil {
		return err // the user's rights cannot be taken: no better answer
	}
	switch {
	case derr != nil:
		return &DirError{Dir: c.Dir, Err: derr}
	case interp != "":
		return &InterpError{Path: c.Path, Interp: interp}
	}
	return err
}

// missingInterp is the interpreter a #! script at path names when that
// does not exist ("" otherwise).
func missingInterp(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	var b [128]byte
	n, _ := f.Read(b[:])
	f.Close()
	if n < 3 || b[0] != '#' || b[1] != '!' {
		return ""
	}
	i := 2
	for i < n && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < n && b[j] > ' ' {
		j++
	}
	interp := string(b[i:j])
	if _, err := os.Stat(interp); interp == "" || !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return interp
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
