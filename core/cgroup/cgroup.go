// Package cgroup reads and writes cgroup v2 directories. A Dir is an
// absolute path; tests point it at fake trees under testdata/cgroupfs.
package cgroup

import (
	"errors"
	"io"
)

// Super magic of cgroup2 (statfs f_type).
const Magic = 0x63677270

// Kernel file names.
const (
	FileProcs          = "cgroup.procs"
	FileControllers    = "cgroup.controllers"
	FileSubtreeControl = "cgroup.subtree_control"
	FileEvents         = "cgroup.events"
	FileFreeze         = "cgroup.freeze"
	FileKill           = "cgroup.kill" // since Linux 5.14
	FileMemoryEvents   = "memory.events"
)

// ErrNoKill: the kernel has no cgroup.kill (< 5.14).
var ErrNoKill = errors.New("cgroup.kill not supported")

// ErrNotCgroup2: path is not on a cgroup2 filesystem.
var ErrNotCgroup2 = errors.New("not a cgroup2 filesystem")

// ParseMountinfo returns the mount point of the first cgroup2 mount in a
// /proc/self/mountinfo stream.
func ParseMountinfo(r io.Reader) (string, error) { panic("unimplemented") }

// Mount finds the cgroup2 mount from /proc/self/mountinfo.
func Mount() (string, error) { panic("unimplemented") }

// ParseSelf returns the v2 path ("0::/x" line) from a /proc/<pid>/cgroup stream.
func ParseSelf(r io.Reader) (string, error) { panic("unimplemented") }

// Self returns the calling process's cgroup v2 path relative to the mount.
func Self() (string, error) { panic("unimplemented") }

// Check returns ErrNotCgroup2 (wrapped with the path) unless path is on cgroup2 (statfs).
func Check(path string) error { panic("unimplemented") }

// Dir is a cgroup directory (absolute path).
type Dir string

func (d Dir) Child(name string) Dir { panic("unimplemented") }

// Create makes the directory (mkdir, mode 0755). Exists is an error (fs.ErrExist).
func (d Dir) Create() error { panic("unimplemented") }

// Remove rmdirs the directory (EBUSY while populated).
func (d Dir) Remove() error { panic("unimplemented") }

// Read returns a file's contents with the trailing newline trimmed.
func (d Dir) Read(file string) (string, error) { panic("unimplemented") }

// Write writes value to a file in one write(2). The error carries the data:
// `write memory.max "64M": device or resource busy`, wrapping the errno.
func (d Dir) Write(file, value string) error { panic("unimplemented") }

// Controllers returns cgroup.controllers as a list.
func (d Dir) Controllers() ([]string, error) { panic("unimplemented") }

// SubtreeControl returns cgroup.subtree_control as a list.
func (d Dir) SubtreeControl() ([]string, error) { panic("unimplemented") }

// EnableControllers writes "+c" for every available controller in want
// that is not yet enabled in d's cgroup.subtree_control; it returns the
// ones now enabled. Unavailable ones are skipped, not an error.
func (d Dir) EnableControllers(want []string) ([]string, error) { panic("unimplemented") }

// Events is cgroup.events.
type Events struct{ Populated, Frozen bool }

func ParseEvents(r io.Reader) (Events, error) { panic("unimplemented") }
func (d Dir) Events() (Events, error)         { panic("unimplemented") }

// SetFrozen writes cgroup.freeze (does not wait for "frozen 1").
func (d Dir) SetFrozen(frozen bool) error { panic("unimplemented") }

// Kill writes 1 to cgroup.kill; ErrNoKill when the file is missing.
func (d Dir) Kill() error { panic("unimplemented") }

// KillFallback kills every process in d and its descendants without
// cgroup.kill: freeze, SIGKILL every pid in cgroup.procs, thaw; repeated
// until no pid is left (bounded number of rounds).
func (d Dir) KillFallback() error { panic("unimplemented") }

// Signal sends sig to every process in d (and descendants).
func (d Dir) Signal(sig int) error { panic("unimplemented") }

// Procs returns the pids in cgroup.procs.
func (d Dir) Procs() ([]int, error) { panic("unimplemented") }

// Attach writes pid into cgroup.procs.
func (d Dir) Attach(pid int) error { panic("unimplemented") }

// MemoryEvents is memory.events.
type MemoryEvents struct{ Low, High, Max, OOM, OOMKill, OOMGroupKill uint64 }

func ParseMemoryEvents(r io.Reader) (MemoryEvents, error) { panic("unimplemented") }
func (d Dir) MemoryEvents() (MemoryEvents, error)         { panic("unimplemented") }

// Stat is the per-job usage INSPECT/LIST report. A file that does not exist
// (controller not enabled) reads as 0.
type Stat struct {
	MemoryCurrent, MemorySwapCurrent, PidsCurrent uint64
	CPUUsageUsec                                  uint64
	IORBytes, IOWBytes                            uint64
}

// Stat reads memory.current, memory.swap.current, pids.current,
// cpu.stat usage_usec and io.stat rbytes/wbytes (summed over devices).
func (d Dir) Stat() (Stat, error) { panic("unimplemented") }

// MemoryCurrent reads memory.current (0 when absent).
func (d Dir) MemoryCurrent() uint64 { panic("unimplemented") }

// OpenDir opens d as an O_DIRECTORY|O_CLOEXEC fd (for CLONE_INTO_CGROUP).
func (d Dir) OpenDir() (int, error) { panic("unimplemented") }

// OpenNotify opens a file of d (cgroup.events, memory.events) O_RDONLY|O_CLOEXEC
// for EPOLLPRI notification.
func (d Dir) OpenNotify(file string) (int, error) { panic("unimplemented") }
