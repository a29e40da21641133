package spawner

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"

	"cgroupd/core/cgroup"
	"cgroupd/core/kfile"

	"golang.org/x/sys/unix"
)

// PidStart is the start time of pid (clock ticks after boot, field 22
// of /proc/<pid>/stat): with the pid it names one process for the boot.
func PidStart(pid int) (uint64, error) {
	b, err := kfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: count from the last ')'.

	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// atClkTck is AT_CLKTCK of <elf.h>, the same on every architecture.
const atClkTck = 17

// clkTck is the unit of pidStart (USER_HZ, the auxv's AT_CLKTCK); 0 when
// unknown.
var clkTck = func() uint64 {
	av, err := unix.Auxv()
	if err != nil {
		return 0
	}
	for _, kv := range av {
		if kv[0] == atClkTck {
			return uint64(kv[1])
		}
	}
	return 0
}()

// bootNs is CLOCK_BOOTTIME in ns, the clock the kernel stamps a new
// process with (task start_boottime); -1 if unreadable.
func bootNs() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return -1
	}
	return ts.Nano()
}

// startBetween is pidStart of a process created between two bootNs
// readings, when both fall in the same clock tick: the kernel stamps the
// process from the same clock in between, and /proc shows that stamp in
// whole ticks (in the reader's time namespace, as bootNs reads it). Most
// spawns take well under a tick (10 ms), so the /proc/<pid>/stat read it
// saves (6 % of the daemon's CPU at 8 clients) is needed for the few that
// straddle one.
func startBetween(t0, t1 int64) (uint64, bool) {
	if clkTck == 0 || 1_000_000_000%clkTck != 0 || t0 < 0 || t1 < t0 {
		return 0, false
	}
	tick := int64(1_000_000_000 / clkTck)
	if t0/tick != t1/tick {
		return 0, false
	}
	return uint64(t0 / tick), true
}

// OpenPid opens a pidfd on pid if it still is the process recorded: the
// same start time (start, "" if not recorded), in cgroup cg, and still
// alive once the pidfd is open; -1 when it is not (ended, or the pid
// recycled).
func OpenPid(pid int, start string, cg cgroup.Dir) int {
	if pid <= 0 {
		return -1
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	ok := true
	if start != "" {
		st, err := PidStart(pid)
		ok = err == nil && strconv.FormatUint(st, 10) == start
	}
	if ok {
		ok = InCgroup(pid, cg)
	}
	if ok {
		// Checked after the pidfd was opened: if the process is still
		// alive now, the checks were about the process the pidfd holds.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(pfd, 0)
		ok = n == 0
	}
	if !ok {
		unix.Close(fd)
		return -1
	}
	return fd
}

// InCgroup tells whether pid's cgroup v2 path ends with cg's path below
// the mount (/proc/<pid>/cgroup "0::/path").
func InCgroup(pid int, cg cgroup.Dir) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p != "/" && strings.HasSuffix(string(cg), p)
		}
	}
	return false
}
