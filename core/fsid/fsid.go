// Package fsid runs a function with another user's filesystem rights: on
// one locked OS thread whose fsuid, fsgid and supplementary groups are the
// user's, so every path lookup it makes (stat, open, access) is checked by
// the kernel as that user would be, and nothing else in the process
// changes.
//
// setfsuid(2), setfsgid(2) and setgroups(2) act on the calling thread
// only. Go's syscall.Setgroups applies to every thread of the process
// (since Go 1.16), so the raw system call is made here instead, on a
// thread locked to its goroutine. Changing the fsuid from 0 to another
// uid also drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and the other
// filesystem capabilities from the thread's effective set; setting it
// back to 0 restores them (capabilities(7), "Effect of user ID changes
// on capabilities"). The rest of the effective set is emptied too while
// fn runs, CAP_SYS_PTRACE above all: with it, /proc/<pid>/cwd and
// /proc/<pid>/root of any process are searchable, so a lookup made for a
// user could tell whether a file under another user's working directory
// exists, which the user's own stat cannot (EACCES). fn runs with the
// user's rights and no capability at all.
package fsid

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Do runs fn on a fresh locked OS thread with fsuid uid, fsgid gid and
// the supplementary groups groups, then puts the thread back as it was.
// The caller waits for fn (it is synchronous). If the identity cannot be
// taken, fn does not run and the error says why. If it cannot be given
// back, the thread is not returned to the Go runtime (the goroutine exits
// locked, which ends the thread), so no other goroutine ever runs with
// the borrowed rights.
func Do(uid, gid uint32, groups []uint32, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := on(uid, gid, groups, fn)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// on does Do's work on the locked thread. restored reports that the
// thread has its own identity again.
func on(uid, gid uint32, groups []uint32, fn func()) (restored bool, err error) {
	oldGroups, err := getgroups()
	if err != nil {
		return true, fmt.Errorf("getgroups: %w", err)
	}
	oldGid, oldUid := current()
	restore := func() bool {
		setfsuid(oldUid)
		setfsgid(oldGid)
		if setgroups(oldGroups) != nil {
			return false
		}
		g, u := current()
		return g == oldGid && u == oldUid
	}
	if err := setgroups(groups); err != nil {
		return restore(), fmt.Errorf("setgroups: %w", err)
	}
	setfsgid(gid)
	setfsuid(uid)
	// setfsuid and setfsgid report no error; read the ids back.
	if g, u := current(); g != gid || u != uid {
		return restore(), fmt.Errorf("setfsuid %d / setfsgid %d: not permitted (fsuid %d, fsgid %d)", uid, gid, u, g)
	}
	caps, err := dropEffective()
	if err != nil {
		return restore(), err
	}
	fn()
	// The effective set back before the ids: restore compares them only.
	return unix.Capset(&caps.hdr, &caps.data[0]) == nil && restore(), nil
}

// capState is a thread's capability sets (version 3: two words each).
type capState struct {
	hdr  unix.CapUserHeader
	data [2]unix.CapUserData
}

// dropEffective empties the calling thread's effective capability set
// and returns the sets as they were. The permitted set stays, so the
// caller can take the effective set back (capset(2) on pid 0 acts on the
// calling thread only).
func dropEffective() (capState, error) {
	var old capState
	old.hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capget(&old.hdr, &old.data[0]); err != nil {
		return old, fmt.Errorf("capget: %w", err)
	}
	none := old
	none.data[0].Effective, none.data[1].Effective = 0, 0
	if err := unix.Capset(&none.hdr, &none.data[0]); err != nil {
		return old, fmt.Errorf("capset: %w", err)
	}
	var now capState
	now.hdr = old.hdr
	if err := unix.Capget(&now.hdr, &now.data[0]); err != nil || now.data[0].Effective|now.data[1].Effective != 0 {
		unix.Capset(&old.hdr, &old.data[0])
		return old, fmt.Errorf("capset: effective set not emptied (%v)", err)
	}
	return old, nil
}

// current returns the thread's fsgid and fsuid: an invalid id (-1)
// changes nothing and returns the current value.
func current() (gid, uid uint32) {
	return setfsgid(^uint32(0)), setfsuid(^uint32(0))
}

// setfsuid returns the previous fsuid.
func setfsuid(uid uint32) uint32 {
	r, _, _ := unix.RawSyscall(sysSetfsuid, uintptr(uid), 0, 0)
	return uint32(r)
}

// setfsgid returns the previous fsgid.
func setfsgid(gid uint32) uint32 {
	r, _, _ := unix.RawSyscall(sysSetfsgid, uintptr(gid), 0, 0)
	return uint32(r)
}

// setgroups is setgroups(2) on the calling thread only.
func setgroups(gids []uint32) error {
	var p unsafe.Pointer
	if len(gids) > 0 {
		p = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(sysSetgroups, uintptr(len(gids)), uintptr(p), 0); e != 0 {
		return e
	}
	return nil
}

// getgroups is getgroups(2) of the calling thread.
func getgroups() ([]uint32, error) {
	n, _, e := unix.RawSyscall(sysGetgroups, 0, 0, 0)
	if e != 0 {
		return nil, e
	}
	gids := make([]uint32, n)
	if n == 0 {
		return gids, nil
	}
	m, _, e := unix.RawSyscall(sysGetgroups, n, uintptr(unsafe.Pointer(&gids[0])), 0)
	if e != 0 {
		return nil, e
	}
	return gids[:m], nil
}
