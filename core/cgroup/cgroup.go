// Package cgroup reads and writes cgroup v2 directories. A Dir is an
// absolute path; tests point it at fake trees under testdata/cgroupfs.
//
// One file per concern: mount.go (finding the cgroup2 mount), dir.go
// (directories, files, controllers), events.go (cgroup.events,
// memory.events), kill.go (kill, freeze, signal, procs), stat.go (usage).
package cgroup

import "errors"

// Super magic of cgroup2 (statfs f_type), CGROUP2_SUPER_MAGIC.
const Magic = 0x63677270

// Kernel file names.
const (
	FileProcs          = "cgroup.procs"
	FileControllers    = "cgroup.controllers"
	FileSubtreeControl = "cgroup.subtree_control"
	FileEvents         = "cgroup.events"
	FileFreeze         = "cgroup.freeze" // since Linux 5.2
	FileKill           = "cgroup.kill"   // since Linux 5.14
	FileMemoryEvents   = "memory.events"

	FileMemoryCurrent     = "memory.current"
	FileMemorySwapCurrent = "memory.swap.current"
	FilePidsCurrent       = "pids.current"
	FileCPUStat           = "cpu.stat"
	FileIOStat            = "io.stat"
	FileMemoryMax         = "memory.max"
	FileMemoryPeak        = "memory.peak" // since Linux 5.19
)

// ErrNoKill: the kernel has no cgroup.kill (< 5.14).
var ErrNoKill = errors.New("cgroup.kill not supported")

// ErrNotCgroup2: path is not on a cgroup2 filesystem.
var ErrNotCgroup2 = errors.New("not a cgroup2 filesystem")

// ErrNoMount: no cgroup2 mount in mountinfo, or no v2 line in
// /proc/<pid>/cgroup.
var ErrNoMount = errors.New("no cgroup2 mount")
