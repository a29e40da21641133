// Package budget is what one user may cost the daemon through its client
// connections (README, threat model): descriptors, memory and time. It
// keeps the count and the bytes of every uid's connections and says which
// to refuse or drop; the server does the refusing and the dropping.
//
//   - Descriptors: at most MaxUserConns connections per unprivileged uid,
//     and none in the top RootReserve descriptors of RLIMIT_NOFILE. accept
//     returns the lowest free descriptor, so a connection whose number
//     lands there means fewer than RootReserve are free: an unprivileged
//     one is refused, and what is left stays for root's connections and
//     jobs. When accept meets EMFILE, a spare descriptor kept open for the
//     moment is closed to take one more connection: root's is kept,
//     another user's refused (Accept, Admit).
//   - Memory: every connection's buffers (its request, its reply, what a
//     stream has not sent) count against Memory. Over it, the largest
//     connection of the unprivileged uid holding the most is dropped
//     (Victim) until the total fits; root's count but are never dropped.
//   - Time: a connection with unsent bytes its client has taken none of
//     for WriteTimeout is dropped (Stalled).
//   - Memory given back: once connections freed ReleaseAfter bytes, the
//     heap's free pages go back to the kernel (Release), at most once per
//     ReleaseEvery.
//
// Only the loop touches it.
package budget

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// ReleaseAfter is how many bytes connections free before the heap's
	// free pages are given back.
	ReleaseAfter = 8 << 20
	// ReleaseEvery is the least time between two give-backs (each is a
	// full GC and a scavenge of the heap, on the loop).
	ReleaseEvery = 5 * time.Second
)

// Limits are the bounds, from the daemon's flags.
type Limits struct {
	MaxUserConns int           // --max-user-conns
	RootReserve  int           // --root-reserve
	NoFile       uint64        // RLIMIT_NOFILE
	Memory       int           // --conn-memory
	WriteTimeout time.Duration // --write-timeout
	// Privileged: root, or the daemon's own user (never refused, never
	// dropped).
	Privileged func(uid uint32) bool
}

type share struct {
	uid   uint32
	bytes int
	stall time.Time // since when its client takes none of its unsent bytes
}

type user struct {
	conns int
	bytes int
}

// Budget is the bookkeeping of connections, by descriptor.
type Budget struct {
	lim      Limits
	conns    map[int]*share
	users    map[uint32]*user
	stalled  map[int]struct{}
	total    int
	freed    int
	released time.Time
	spare    int // kept open for accept's EMFILE; -1: none
	over     bool
}

// New is an empty budget.
func New(lim Limits) *Budget {
	b := &Budget{lim: lim, conns: map[int]*share{}, users: map[uint32]*user{}, stalled: map[int]struct{}{}, spare: -1}
	b.OpenSpare()
	return b
}

// OpenSpare opens the spare descriptor again once one is free.
func (b *Budget) OpenSpare() {
	if b.spare < 0 {
		if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			b.spare = fd
		}
	}
}

// Accept is accept4 on lfd; when the process is out of descriptors the
// spare is given up for one more connection (spare reports that).
func (b *Budget) Accept(lfd int) (nfd int, spare bool, err error) {
	nfd, _, err = unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if (errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)) && b.spare >= 0 {
		unix.Close(b.spare)
		b.spare = -1
		nfd, _, err = unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			b.OpenSpare()
		}
		spare = err == nil
	}
	return nfd, spare, err
}

// Admit says why a new connection of uid on descriptor nfd is refused
// ("": admitted); spare: it took the spare descriptor.
func (b *Budget) Admit(uid uint32, nfd int, spare bool) string {
	if b.lim.Privileged(uid) {
		return ""
	}
	if spare {
		return fmt.Sprintf("open file limit %d reached", b.lim.NoFile)
	}
	if u := b.users[uid]; u != nil && u.conns >= b.lim.MaxUserConns {
		return fmt.Sprintf("uid %d has %d connections, the most a non-root caller may have (--max-user-conns %d)", uid, u.conns, b.lim.MaxUserConns)
	}
	return b.reserved(nfd)
}

// reserved says why nfd, the lowest free descriptor, is in root's
// reserve ("": it is not).
func (b *Budget) reserved(nfd int) string {
	if b.lim.NoFile > 0 && uint64(nfd)+uint64(b.lim.RootReserve) >= b.lim.NoFile {
		return fmt.Sprintf("open file limit %d: the last %d descriptors are kept for root (--root-reserve)", b.lim.NoFile, b.lim.RootReserve)
	}
	return ""
}

// Reserved says why an unprivileged uid may not open a descriptor now
// ("": it may): the lowest free one, found by duplicating fd, is in
// root's reserve. A job takes several (its pidfd, its log, its cgroup's
// while it starts), so a user's RUN is checked against it too.
func (b *Budget) Reserved(uid uint32, fd int) string {
	if b.lim.Privileged(uid) {
		return ""
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Sprintf("open file limit %d reached", b.lim.NoFile)
	}
	unix.Close(nfd)
	return b.reserved(nfd)
}

// Add counts a new connection of uid.
func (b *Budget) Add(k int, uid uint32) {
	b.conns[k] = &share{uid: uid}
	u := b.users[uid]
	if u == nil {
		u = &user{}
		b.users[uid] = u
	}
	u.conns++
}

// Remove forgets a closed connection and counts its bytes as freed.
func (b *Budget) Remove(k int) {
	s := b.conns[k]
	if s == nil {
		return
	}
	b.Set(k, 0)
	delete(b.conns, k)
	delete(b.stalled, k)
	if u := b.users[s.uid]; u != nil {
		if u.conns--; u.conns <= 0 {
			delete(b.users, s.uid)
		}
	}
	b.OpenSpare()
}

// Set is the bytes k's buffers hold now.
func (b *Budget) Set(k int, n int) {
	s := b.conns[k]
	if s == nil || s.bytes == n {
		return
	}
	d := n - s.bytes
	s.bytes = n
	b.total += d
	if u := b.users[s.uid]; u != nil {
		u.bytes += d
	}
	if d < 0 {
		b.freed -= d
	}
	if b.total > b.lim.Memory {
		b.over = true
	}
}

// Bytes is what k holds.
func (b *Budget) Bytes(k int) int {
	if s := b.conns[k]; s != nil {
		return s.bytes
	}
	return 0
}

// Over reports whether the total went over Memory since the last Victim
// that found it fits.
func (b *Budget) Over() bool { return b.over }

// Victim is the connection to drop while the total is over Memory: the
// largest of the unprivileged uid that holds the most; ok false once it
// fits, or when only privileged connections are left to drop.
func (b *Budget) Victim() (victim int, ok bool) {
	if b.total <= b.lim.Memory {
		b.over = false
		return victim, false
	}
	top, most := uint32(0), 0
	for uid, u := range b.users {
		if u.bytes > most && !b.lim.Privileged(uid) {
			top, most = uid, u.bytes
		}
	}
	if most == 0 {
		b.over = false
		return victim, false
	}
	big := -1
	for k, s := range b.conns {
		if s.uid == top && s.bytes > big {
			victim, big = k, s.bytes
		}
	}
	return victim, true
}

// Wrote notes what a write to k did: n bytes taken; pending: bytes left
// that its socket did not take. From the last write that took bytes and
// left some, the client is stalled until it takes more or all.
func (b *Budget) Wrote(k int, n int, pending bool, now time.Time) {
	s := b.conns[k]
	switch {
	case s == nil:
	case !pending:
		if !s.stall.IsZero() {
			s.stall = time.Time{}
			delete(b.stalled, k)
		}
	case n > 0 || s.stall.IsZero():
		s.stall = now
		b.stalled[k] = struct{}{}
	}
}

// Stalled are the connections stalled for WriteTimeout at now.
func (b *Budget) Stalled(now time.Time) []int {
	var out []int
	for k := range b.stalled {
		if now.Sub(b.conns[k].stall) >= b.lim.WriteTimeout {
			out = append(out, k)
		}
	}
	return out
}

// Release reports whether to give memory back at now: connections freed
// ReleaseAfter bytes since the last time, at least ReleaseEvery ago.
func (b *Budget) Release(now time.Time) bool {
	if b.freed < ReleaseAfter || now.Sub(b.released) < ReleaseEvery {
		return false
	}
	b.freed, b.released = 0, now
	return true
}

// Total is the bytes every connection's buffers hold.
func (b *Budget) Total() int { return b.total }
