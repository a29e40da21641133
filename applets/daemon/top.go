package daemon

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/core/cgroup"
	"cgroupd/core/loop"
	"cgroupd/core/proto"
	"cgroupd/core/psi"

	"golang.org/x/sys/unix"
)

// TOP (extension): what `cgroupctl top` shows, in one request per
// refresh. Request keys: sort (memory, cpu, pressure or priority; default
// memory) and limit (at most that many job blocks; 0 or none: all). The
// answer, laid out as LIST's: one block per job the caller may see, sorted,
//
//	id uid priority state age_ms [cpu_pct] [memory_current] [memory_max]
//	[pids_current] [psi_mem_some_avg10] [psi_cpu_some_avg10] [psi_io_some_avg10]
//
// then a STATUS: ok block with STATS's keys followed by count (blocks
// sent), total (jobs the caller may see), the engine's thresholds
// (threshold_mem_freeze_some_pct, threshold_mem_kill_full_pct,
// threshold_cpu_demote_some_pct, threshold_io_freeze_full_pct; absent when
// a rule is off), sample_age_ms and sample_cycle_ms (how old the per-job
// figures are and how long the last pass over every job took), and up to
// topDecisions `decision` keys: the latest pressure events (the event line
// after "type=pressure ").
//
// Cost: the verb reads no per-job file. The figures in brackets come from
// a cache that a sampler goroutine fills off the loop: the loop hands it
// the live jobs' cgroup paths, it reads memory.current, memory.max (once
// per job), pids.current, cpu.stat and the three pressure files of each,
// and hands the figures back through an eventfd; cpu_pct is usage_usec's
// growth between two passes. A pass starts at most every topEvery, and no
// sooner than topPace times the last pass's length after it (the loop
// hands out the next pass on an alarm then), so reading 10 000 jobs' files takes at most
// about a quarter of a core; the sampler runs only while TOP is in use
// (one in the last topIdle). A figure not read yet, or whose file the
// kernel does not have, is absent: unknown, never 0.

const (
	topEvery     = time.Second
	topPace      = 3
	topIdle      = 10 * time.Second
	topDecisions = 5
)

// topSample is one job's figures from the sampler.
type topSample struct {
	at                     time.Time
	mem, memMax, pids, cpu uint64
	memOK, maxOK, pidsOK   bool
	cpuOK                  bool
	psiMem, psiCPU, psiIO  float64
	psiOK                  bool
	cpuPct                 float64
	cpuPctOK               bool
}

// topTarget is one job of a pass: the job is only carried back, never
// touched off the loop.
type topTarget struct {
	j       *entry
	dir     string
	needMax bool
}

type topResult struct {
	j *entry
	s topSample
}

// topState is the daemon's share (field top).
type topState struct {
	lastUsed  time.Time
	samples   map[*entry]topSample
	inFlight  bool
	passStart time.Time
	cycle     time.Duration
	started   bool
	due       time.Time   // the next pass may start then (pacing)
	alarm     *loop.Alarm // wakes the loop at due

	efd    int // eventfd: a pass is done
	yfd    int // eventfd: the sampler stepped aside for the loop
	resume chan struct{}
	work   chan []topTarget
	mu     sync.Mutex
	done   []topResult // a finished pass, waiting for the loop
	// when it started and how long it took, for the pacing
	doneStart time.Time
	doneLen   time.Duration
}

// doTop answers TOP.
func (d *daemon) doTop(c *conn, r *proto.Request) []byte {
	now := time.Now()
	d.top.lastUsed = now
	d.topPass(now)
	key, _ := r.Get("sort")
	less, ok := topOrders[key]
	if key == "" {
		less, ok = topOrders["memory"], true
	}
	if !ok {
		return proto.Err("sort: want memory, cpu, pressure or priority").Bytes()
	}
	limit := 0
	if v, ok := r.Get("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return proto.Err("limit: want a number >= 0").Bytes()
		}
		limit = n
	}
	type row struct {
		j *entry
		s topSample
	}
	rows := make([]row, 0, len(d.jobs))
	for _, j := range d.jobs {
		if visible(c, j) {
			rows = append(rows, row{j, d.top.samples[j]})
		}
	}
	sort.Slice(rows, func(a, b int) bool {
		if c := less(rows[a].j, rows[b].j, &rows[a].s, &rows[b].s); c != 0 {
			return c < 0
		}
		return rows[a].j.Seq() < rows[b].j.Seq()
	})
	total := len(rows)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	nowMs := now.UnixMilli()
	out := make([]byte, 0, len(rows)*200)
	for _, rw := range rows {
		j, s := rw.j, rw.s
		b := proto.Block().Add("id", j.ID()).Add("uid", strconv.FormatUint(uint64(j.Spec().UID), 10)).
			Add("priority", strconv.Itoa(j.Spec().Priority)).Add("state", j.State()).
			Add("age_ms", strconv.FormatInt(j.AgeMs(nowMs), 10))
		if !j.IsEnded() && !j.IsPending() && !s.at.IsZero() {
			if s.cpuPctOK {
				b.Add("cpu_pct", pct(s.cpuPct))
			}
			if s.memOK {
				b.Add("memory_current", u64(s.mem))
			}
			if s.maxOK && s.memMax == maxUnlimited {
				b.Add("memory_max", "max")
			} else if s.maxOK {
				b.Add("memory_max", u64(s.memMax))
			}
			if s.pidsOK {
				b.Add("pids_current", u64(s.pids))
			}
			if s.psiOK {
				b.Add("psi_mem_some_avg10", pct(s.psiMem)).Add("psi_cpu_some_avg10", pct(s.psiCPU)).
					Add("psi_io_some_avg10", pct(s.psiIO))
			}
		}
		out = b.AppendTo(out)
	}
	// STATS's block, then TOP's keys: drop its closing blank line.
	head := bytes.TrimSuffix(d.doStats(c), []byte("\n"))
	tail := proto.Block().Add("count", strconv.Itoa(len(rows))).Add("total", strconv.Itoa(total))
	if d.engine != nil {
		cfg := d.engine.Config()
		for _, th := range []struct {
			key string
			v   float64
		}{{"threshold_mem_freeze_some_pct", cfg.MemFreeze}, {"threshold_mem_kill_full_pct", cfg.MemKill},
			{"threshold_cpu_demote_some_pct", cfg.CPUDemote}, {"threshold_io_freeze_full_pct", cfg.IOFreeze}} {
			if th.v >= 0 {
				tail.Add(th.key, pct(th.v))
			}
		}
	}
	if !d.top.passStart.IsZero() && d.top.samples != nil {
		tail.Add("sample_age_ms", strconv.FormatInt(now.Sub(d.top.passStart).Milliseconds(), 10))
	}
	if d.top.cycle > 0 {
		tail.Add("sample_cycle_ms", strconv.FormatInt(d.top.cycle.Milliseconds(), 10))
	}
	for _, dec := range d.recentDecisions(c, topDecisions) {
		tail.Add("decision", dec)
	}
	out = append(out, head...)
	return tail.AppendTo(out)
}

// topOrders compare two jobs for each sort key: biggest first (lowest
// priority first, the engine's order); unknown figures last.
var topOrders = map[string]func(a, b *entry, sa, sb *topSample) int{
	"memory": func(a, b *entry, sa, sb *topSample) int { return desc(sa.mem, sa.memOK, sb.mem, sb.memOK) },
	"cpu":    func(a, b *entry, sa, sb *topSample) int { return desc(sa.cpuPct, sa.cpuPctOK, sb.cpuPct, sb.cpuPctOK) },
	"pressure": func(a, b *entry, sa, sb *topSample) int {
		return desc(max(sa.psiMem, sa.psiCPU, sa.psiIO), sa.psiOK, max(sb.psiMem, sb.psiCPU, sb.psiIO), sb.psiOK)
	},
	"priority": func(a, b *entry, sa, sb *topSample) int {
		if a.Spec().Priority != b.Spec().Priority {
			return a.Spec().Priority - b.Spec().Priority
		}
		return desc(sa.mem, sa.memOK, sb.mem, sb.memOK)
	},
}

func desc[T uint64 | float64](a T, aok bool, b T, bok bool) int {
	switch {
	case aok != bok && aok:
		return -1
	case aok != bok:
		return 1
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// recentDecisions are the latest pressure events c may see, oldest first,
// without their "EVENT ... type=pressure " head.
func (d *daemon) recentDecisions(c *conn, n int) []string {
	lines := d.events.Latest(hub.Filter{Types: map[string]bool{"pressure": true}, UID: c.cred.Uid, Root: c.cred.Uid == 0}, n)
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		line = bytes.TrimRight(line, "\n")
		if k := bytes.Index(line, []byte(" type=pressure ")); k >= 0 {
			line = line[k+len(" type=pressure "):]
		}
		out = append(out, string(line))
	}
	return out
}

// topPass hands the sampler the next pass when one is due.
func (d *daemon) topPass(now time.Time) {
	t := &d.top
	if t.inFlight || now.Sub(t.lastUsed) > topIdle || len(d.liveJobs) == 0 && t.samples == nil {
		return
	}
	if !t.started {
		fd, err := d.eventFD(d.topDone)
		if err != nil {
			d.logf("top: %v", err)
			return
		}
		yfd, err := d.eventFD(d.topResume)
		if err != nil {
			d.logf("top: %v", err)
			return
		}
		a, err := d.lp.NewAlarm(d.topPass)
		if err != nil {
			d.logf("top: %v", err)
			return
		}
		t.efd, t.yfd, t.work, t.alarm, t.started = fd, yfd, make(chan []topTarget, 1), a, true
		t.resume = make(chan struct{}, 1)
		go t.sampler()
	}
	if now.Before(t.due) {
		if err := t.alarm.Set(t.due, now); err != nil {
			d.logf("top: arm timer: %v", err)
		}
		return
	}
	targets := make([]topTarget, 0, len(d.liveJobs))
	for j := range d.liveJobs {
		if !j.IsPending() && !j.MainGone() {
			_, had := t.samples[j]
			targets = append(targets, topTarget{j: j, dir: string(j.Cgroup()), needMax: !had || !t.samples[j].maxOK})
		}
	}
	t.inFlight = true
	t.work <- targets
}

// topDone takes a finished pass on the loop: cpu_pct from the last pass's
// usage, and the jobs that ended since are dropped. Then the next pass.
func (d *daemon) topDone() {
	var buf [8]byte
	unix.Read(d.top.efd, buf[:])
	d.topMerge()
}

// topMerge takes the sampler's finished pass (topDone).
func (d *daemon) topMerge() {
	t := &d.top
	t.mu.Lock()
	res := t.done
	t.done = nil
	t.due = t.doneStart.Add(max(topEvery, topPace*t.doneLen))
	t.mu.Unlock()
	if res == nil {
		return
	}
	next := make(map[*entry]topSample, len(res))
	first := time.Time{}
	for _, r := range res {
		if first.IsZero() || r.s.at.Before(first) {
			first = r.s.at
		}
		if r.j.IsEnded() {
			continue
		}
		s := r.s
		if prev, ok := t.samples[r.j]; ok {
			if !s.maxOK && prev.maxOK {
				s.memMax, s.maxOK = prev.memMax, true
			}
			if dt := s.at.Sub(prev.at); prev.cpuOK && s.cpuOK && dt > 0 && s.cpu >= prev.cpu {
				s.cpuPct, s.cpuPctOK = float64(s.cpu-prev.cpu)/float64(dt.Microseconds())*100, true
			}
		}
		next[r.j] = s
	}
	if !t.passStart.IsZero() && !first.IsZero() {
		t.cycle = first.Sub(t.passStart)
	}
	if !first.IsZero() {
		t.passStart = first
	}
	t.samples, t.inFlight = next, false
	d.topPass(time.Now())
}

// eventFD is a non-blocking eventfd whose readiness runs fn on the loop.
func (d *daemon) eventFD(fn func()) (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("eventfd: %w", err)
	}
	if err := d.lp.Add(fd, unix.EPOLLIN, func(uint32) { fn() }); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// topResume lets the sampler go on after it stepped aside (topChunk).
func (d *daemon) topResume() {
	var buf [8]byte
	unix.Read(d.top.yfd, buf[:])
	select {
	case d.top.resume <- struct{}{}:
	default:
	}
}

// topChunk is how many jobs the sampler reads (about 1 ms of work) before
// it steps aside for the loop: a goroutine that only makes short syscalls
// keeps its scheduler slot for up to the runtime's 10 ms preemption
// slice, and when the other slot is held too (the spawner's vfork holds
// its slot until the child has exec'd), the loop waits that long to be
// polled. The loop wakes for the sampler's eventfd after what was ready
// before it, and lets it go on.
const topChunk = 16

// sampler runs off the loop: one pass per work list; the loop paces them.
func (t *topState) sampler() {
	buf := make([]byte, 4096)
	one := [8]byte{1}
	for targets := range t.work {
		start := time.Now()
		res := make([]topResult, len(targets))
		for i, tg := range targets {
			if i > 0 && i%topChunk == 0 {
				unix.Write(t.yfd, one[:])
				<-t.resume
			}
			res[i] = topResult{j: tg.j, s: sampleTop(tg, buf)}
		}
		if len(res) == 0 {
			res = []topResult{} // non-nil: the loop takes an empty pass
		}
		t.mu.Lock()
		t.done, t.doneStart, t.doneLen = res, start, time.Since(start)
		t.mu.Unlock()
		unix.Write(t.efd, one[:])
	}
}

// sampleTop reads one job's files (off the loop).
func sampleTop(tg topTarget, buf []byte) topSample {
	s := topSample{at: time.Now()}
	s.mem, s.memOK = readNum(filepath.Join(tg.dir, cgroup.FileMemoryCurrent), buf)
	if tg.needMax {
		s.memMax, s.maxOK = readNum(filepath.Join(tg.dir, cgroup.FileMemoryMax), buf)
	}
	s.pids, s.pidsOK = readNum(filepath.Join(tg.dir, cgroup.FilePidsCurrent), buf)
	if b, ok := readSmall(filepath.Join(tg.dir, cgroup.FileCPUStat), buf); ok {
		s.cpu, s.cpuOK = keyedNum(b, "usage_usec")
	}
	var okAll = true
	for _, f := range []struct {
		name string
		v    *float64
	}{{"memory.pressure", &s.psiMem}, {"cpu.pressure", &s.psiCPU}, {"io.pressure", &s.psiIO}} {
		b, ok := readSmall(filepath.Join(tg.dir, f.name), buf)
		if !ok {
			okAll = false
			continue
		}
		p, err := psi.Parse(bytes.NewReader(b))
		if err != nil {
			okAll = false
			continue
		}
		*f.v = p.Some.Avg10
	}
	s.psiOK = okAll
	return s
}

// readSmall reads a small file into buf with one open, read, close.
func readSmall(path string, buf []byte) ([]byte, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return nil, false
	}
	return buf[:n], true
}

// readNum reads a file holding one number, or "max" (no limit:
// maxUnlimited).
func readNum(path string, buf []byte) (uint64, bool) {
	b, ok := readSmall(path, buf)
	if !ok {
		return 0, false
	}
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return maxUnlimited, true
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}

// maxUnlimited stands for "max" (no limit) in memory_max.
const maxUnlimited = ^uint64(0)

// keyedNum finds "key N" in a flat keyed file.
func keyedNum(b []byte, key string) (uint64, bool) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(" "))
		if ok && string(k) == key {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
