// Package account reads the local account files, /etc/passwd and
// /etc/group, as os/user does in a static build (no cgo, so no NSS): user
// names, group names and a user's supplementary groups. It is the few
// lines of os/user the tools use, without the rest of it.
package account

import (
	"bytes"
	"os"
	"strconv"
)

// Files read (tests point them elsewhere).
var (
	PasswdFile = "/etc/passwd"
	GroupFile  = "/etc/group"
)

// each calls fn with the colon-separated fields of every line of path
// until fn returns false.
func each(path string, fn func(f [][]byte) bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		if !fn(bytes.Split(line, []byte{':'})) {
			break
		}
	}
	return nil
}

// User is the name and primary gid of uid (ok false: no such user).
func User(uid uint32) (name string, gid uint32, ok bool) {
	want := strconv.FormatUint(uint64(uid), 10)
	each(PasswdFile, func(f [][]byte) bool {
		if len(f) < 4 || string(f[2]) != want {
			return true
		}
		g, err := strconv.ParseUint(string(f[3]), 10, 32)
		name, gid, ok = string(f[0]), uint32(g), err == nil
		return false
	})
	return name, gid, ok
}

// GroupID is the gid of group name (ok false: no such group).
func GroupID(name string) (gid uint32, ok bool) {
	each(GroupFile, func(f [][]byte) bool {
		if len(f) < 3 || string(f[0]) != name {
			return true
		}
		g, err := strconv.ParseUint(string(f[2]), 10, 32)
		gid, ok = uint32(g), err == nil
		return false
	})
	return gid, ok
}

// Groups is the groups of uid: its primary group, then every group that
// lists it as a member (ok false: no such user).
func Groups(uid uint32) ([]uint32, bool) {
	name, gid, ok := User(uid)
	if !ok {
		return nil, false
	}
	out := []uint32{gid}
	each(GroupFile, func(f [][]byte) bool {
		if len(f) < 4 {
			return true
		}
		for _, m := range bytes.Split(f[3], []byte{','}) {
			if string(m) == name {
				if g, err := strconv.ParseUint(string(f[2]), 10, 32); err == nil && uint32(g) != gid {
					out = append(out, uint32(g))
				}
				break
			}
		}
		return true
	})
	return out, true
}
