package account

import (
	"os"
	"syscall"
)

// GroupCache is Groups with the answers kept while /etc/passwd and
// /etc/group stay as they were: every lookup stats both files (two
// syscalls), and a change to either (another inode, size, mtime or
// ctime: gpasswd, usermod and vipw replace the file or rewrite it) drops
// every answer. A group taken from a user is gone from its next lookup.
// Not safe for concurrent use.
type GroupCache struct {
	stamp [2]fileStamp
	byUID map[uint32][]uint32
}

// fileStamp is what changes when a file is replaced or written.
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
	ok           bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}
	}
	return fileStamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim, ok: true}
}

// Groups is Groups(uid), from the cache while the files are unchanged;
// just gid when uid is not found (or the files cannot be read).
func (c *GroupCache) Groups(uid, gid uint32) []uint32 {
	now := [2]fileStamp{stampOf(PasswdFile), stampOf(GroupFile)}
	if now != c.stamp || c.byUID == nil || !now[0].ok || !now[1].ok {
		c.stamp, c.byUID = now, map[uint32][]uint32{}
	}
	if g, ok := c.byUID[uid]; ok {
		return g
	}
	out := []uint32{gid}
	if ids, ok := Groups(uid); ok {
		out = ids
	}
	if now[0].ok && now[1].ok {
		c.byUID[uid] = out
	}
	return out
}
