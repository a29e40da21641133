//go:build linux && (386 || arm)

package fsid

import "golang.org/x/sys/unix"

// The 32-bit ABIs' original calls take 16-bit ids; the 32 variants take
// gid_t/uid_t of 32 bits.
const (
	sysSetfsuid  = unix.SYS_SETFSUID32
	sysSetfsgid  = unix.SYS_SETFSGID32
	sysSetgroups = unix.SYS_SETGROUPS32
	sysGetgroups = unix.SYS_GETGROUPS32
)
