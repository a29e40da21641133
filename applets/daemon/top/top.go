// Package top is TOP's sampler: the per-job figures `cgroupctl top`
// shows, read off the loop by a goroutine of its own. The loop hands it
// the live jobs' cgroup paths, it reads memory.current, memory.max (once
// per job), pids.current, cpu.stat and the three pressure files of each,
// and hands the figures back through an eventfd; cpu_pct is usage_usec's
// growth between two passes. A pass starts at most every Every, and no
// sooner than Pace times the last pass's length after it (the loop hands
// out the next pass on an alarm then), so reading 10 000 jobs' files
// takes at most about a quarter of a core; the sampler runs only while
// TOP is in use (one in the last Idle). A figure not read yet, or whose
// file the kernel does not have, is absent: unknown, never 0.
package top

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
	"cgroupd/core/loop"
	"cgroupd/core/psi"

	"golang.org/x/sys/unix"
)

const (
	Every = time.Second
	Pace  = 3
	Idle  = 10 * time.Second
)

// Sample is one job's figures from the sampler.
type Sample struct {
	At                     time.Time
	Mem, MemMax, Pids, CPU uint64 // memory.current, memory.max, pids.current, cpu.stat usage_usec
	MemOK, MaxOK, PidsOK   bool
	CPUOK                  bool
	PSIMem, PSICPU, PSIIO  float64 // some avg10 of each pressure file
	PSIOK                  bool
	CPUPct                 float64 // usage_usec's growth since the last pass
	CPUPctOK               bool
}

// topTarget is one job of a pass: the job is only carried back, never
// touched off the loop.
type topTarget struct {
	j       *supervisor.Job
	dir     string
	needMax bool
}

type topResult struct {
	j *supervisor.Job
	s Sample
}

// topState is the daemon's share (field top).
// Sampler is TOP's sampler: only the loop touches its fields, but for
// those the goroutine shares under mu.
type Sampler struct {
	lp   *loop.Loop
	jobs func() []*supervisor.Job // the live jobs
	logf func(format string, args ...any)

	lastUsed  time.Time
	samples   map[*supervisor.Job]Sample
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

// topPass hands the sampler the next pass when one is due.
func (t *Sampler) pass(now time.Time) {
	live := t.jobs()
	if t.inFlight || now.Sub(t.lastUsed) > Idle || len(live) == 0 && t.samples == nil {
		return
	}
	if !t.started {
		fd, err := t.eventFD(t.onDone)
		if err != nil {
			t.logf("top: %v", err)
			return
		}
		yfd, err := t.eventFD(t.onResume)
		if err != nil {
			t.logf("top: %v", err)
			return
		}
		a, err := t.lp.NewAlarm(t.pass)
		if err != nil {
			t.logf("top: %v", err)
			return
		}
		t.efd, t.yfd, t.work, t.alarm, t.started = fd, yfd, make(chan []topTarget, 1), a, true
		t.resume = make(chan struct{}, 1)
		go t.sampler()
	}
	if now.Before(t.due) {
		if err := t.alarm.Set(t.due, now); err != nil {
			t.logf("top: arm timer: %v", err)
		}
		return
	}
	targets := make([]topTarget, 0, len(live))
	for _, j := range live {
		if !j.IsPending() && !j.MainGone() {
			_, had := t.samples[j]
			targets = append(targets, topTarget{j: j, dir: string(j.Cgroup()), needMax: !had || !t.samples[j].MaxOK})
		}
	}
	t.inFlight = true
	t.work <- targets
}

// topDone takes a finished pass on the loop: cpu_pct from the last pass's
// usage, and the jobs that ended since are dropped. Then the next pass.
func (t *Sampler) onDone() {
	var buf [8]byte
	unix.Read(t.efd, buf[:])
	t.merge()
}

// topMerge takes the sampler's finished pass (topDone).
func (t *Sampler) merge() {
	t.mu.Lock()
	res := t.done
	t.done = nil
	t.due = t.doneStart.Add(max(Every, Pace*t.doneLen))
	t.mu.Unlock()
	if res == nil {
		return
	}
	next := make(map[*supervisor.Job]Sample, len(res))
	first := time.Time{}
	for _, r := range res {
		if first.IsZero() || r.s.At.Before(first) {
			first = r.s.At
		}
		if r.j.IsEnded() {
			continue
		}
		s := r.s
		if prev, ok := t.samples[r.j]; ok {
			if !s.MaxOK && prev.MaxOK {
				s.MemMax, s.MaxOK = prev.MemMax, true
			}
			if dt := s.At.Sub(prev.At); prev.CPUOK && s.CPUOK && dt > 0 && s.CPU >= prev.CPU {
				s.CPUPct, s.CPUPctOK = float64(s.CPU-prev.CPU)/float64(dt.Microseconds())*100, true
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
	t.pass(time.Now())
}

// eventFD is a non-blocking eventfd whose readiness runs fn on the loop.
func (t *Sampler) eventFD(fn func()) (int, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("eventfd: %w", err)
	}
	if err := t.lp.Add(fd, unix.EPOLLIN, func(uint32) { fn() }); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// topResume lets the sampler go on after it stepped aside (topChunk).
func (t *Sampler) onResume() {
	var buf [8]byte
	unix.Read(t.yfd, buf[:])
	select {
	case t.resume <- struct{}{}:
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
func (t *Sampler) sampler() {
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
func sampleTop(tg topTarget, buf []byte) Sample {
	s := Sample{At: time.Now()}
	s.Mem, s.MemOK = readNum(filepath.Join(tg.dir, cgroup.FileMemoryCurrent), buf)
	if tg.needMax {
		s.MemMax, s.MaxOK = readNum(filepath.Join(tg.dir, cgroup.FileMemoryMax), buf)
	}
	s.Pids, s.PidsOK = readNum(filepath.Join(tg.dir, cgroup.FilePidsCurrent), buf)
	if b, ok := readSmall(filepath.Join(tg.dir, cgroup.FileCPUStat), buf); ok {
		s.CPU, s.CPUOK = keyedNum(b, "usage_usec")
	}
	var okAll = true
	for _, f := range []struct {
		name string
		v    *float64
	}{{"memory.pressure", &s.PSIMem}, {"cpu.pressure", &s.PSICPU}, {"io.pressure", &s.PSIIO}} {
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
	s.PSIOK = okAll
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
// MaxUnlimited).
func readNum(path string, buf []byte) (uint64, bool) {
	b, ok := readSmall(path, buf)
	if !ok {
		return 0, false
	}
	b = bytes.TrimSpace(b)
	if string(b) == "max" {
		return MaxUnlimited, true
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}

// MaxUnlimited stands for "max" (no limit) in memory_max.
const MaxUnlimited = ^uint64(0)

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

// New is a sampler on loop lp of the jobs jobs returns (the live ones).
func New(lp *loop.Loop, jobs func() []*supervisor.Job, logf func(string, ...any)) *Sampler {
	return &Sampler{lp: lp, jobs: jobs, logf: logf}
}

// Use marks the sampler in use at now (a TOP request) and starts a pass
// if one is due.
func (t *Sampler) Use(now time.Time) {
	t.lastUsed = now
	t.pass(now)
}

// Of is j's figures from the last pass (ok false: none yet).
func (t *Sampler) Of(j *supervisor.Job) (Sample, bool) {
	s, ok := t.samples[j]
	return s, ok
}

// Ages are how old the figures are at now and how long the last whole
// pass took (ok flags false: not known yet).
func (t *Sampler) Ages(now time.Time) (age time.Duration, ageOK bool, cycle time.Duration, cycleOK bool) {
	return now.Sub(t.passStart), !t.passStart.IsZero() && t.samples != nil, t.cycle, t.cycle > 0
}

// Close stops the pacing alarm (the sampler goroutine ends with the
// process).
func (t *Sampler) Close() {
	if t != nil && t.alarm != nil {
		t.alarm.Close()
		t.alarm = nil
	}
}
