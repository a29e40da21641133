package pressure

import (
	"time"

	"cgroupd/core/hostmem"
	"cgroupd/core/psi"
)

// Indexes of the PSI lines the engine follows: the root cgroup's memory,
// cpu and io, then the host's memory.
const (
	memSome = iota
	memFull
	cpuSome
	cpuFull
	ioSome
	ioFull
	hostSome
	hostFull
	nLines
)

// Sample is one reading of the root cgroup's pressure files and of the
// host's memory state.
type Sample struct {
	Memory, CPU, IO psi.PSI
	// HostPSI is the host's memory pressure (/proc/pressure/memory); zero
	// when unreadable (it then shows no stall).
	HostPSI psi.PSI
	// HostMem is the host's memory headroom (/proc/meminfo); nil when it
	// could not be read: the headroom rule then does nothing.
	HostMem *hostmem.Info
	// HostVM is the page allocator's state (/proc/vmstat, the watermarks
	// of /proc/zoneinfo) for the reclaim rule; nil: the rule does nothing.
	HostVM *hostmem.VM
	// Short is what is short of memory (Shortage); the memory stall
	// rules do not act while it is known that nothing is.
	Short Shortage
}

func (s Sample) totals() [nLines]uint64 {
	full := func(p psi.PSI) uint64 {
		if !p.HasFull {
			return 0
		}
		return p.Full.Total
	}
	return [nLines]uint64{
		s.Memory.Some.Total, full(s.Memory),
		s.CPU.Some.Total, full(s.CPU),
		s.IO.Some.Total, full(s.IO),
		s.HostPSI.Some.Total, full(s.HostPSI),
	}
}

// point is one sample's counters, at a time relative to the ring's base.
type point struct {
	at    time.Duration
	total [nLines]uint64
}

// maxPoints bounds the ring when samples come much faster than the window
// needs; excess samples are thinned, keeping the oldest as anchor.
const maxPoints = 128

// ring holds the samples that cover the last window, plus the one before
// it (the anchor to interpolate the window's start).
type ring struct {
	base time.Time
	pts  []point
}

// addResult says what the ring did with a sample.
type addResult int

const (
	added     addResult = iota
	duplicate           // same time as the newest sample: ignored
	restarted           // counters or clock went backwards, or jumped: history dropped
)

// add appends a sample and drops what the window no longer needs.
func (r *ring) add(now time.Time, total [nLines]uint64, window time.Duration) addResult {
	if len(r.pts) == 0 {
		r.restart(now, total)
		return added
	}
	last := r.pts[len(r.pts)-1]
	at := now.Sub(r.base)
	dt := at - last.at
	if dt == 0 {
		return duplicate
	}
	if dt < 0 {
		r.restart(now, total)
		return restarted
	}
	// PSI totals are wall-clock stall time: they never go backwards and
	// grow by at most the elapsed time. Allow 2x plus 10 ms of slack for
	// the kernel's per-read recomputation; anything else is a reset or
	// garbage, and the measurement starts over.
	limit := uint64(2*dt.Microseconds()) + 10000
	for i, v := range total {
		if v < last.total[i] || v-last.total[i] > limit {
			r.restart(now, total)
			return restarted
		}
	}
	r.pts = append(r.pts, point{at: at, total: total})
	newest := at
	for len(r.pts) > 2 && r.pts[1].at <= newest-window {
		r.pts = r.pts[1:]
	}
	if len(r.pts) > maxPoints {
		r.pts = append(r.pts[:1], r.pts[2:]...)
	}
	return added
}

func (r *ring) restart(now time.Time, total [nLines]uint64) {
	r.base = now
	r.pts = append(r.pts[:0], point{at: 0, total: total})
}

// covers reports whether the ring holds samples back to span before the
// newest one.
func (r *ring) covers(span time.Duration) bool {
	return len(r.pts) >= 2 && r.pts[0].at <= r.pts[len(r.pts)-1].at-span
}

// recent returns the stall percentage of every line since the newest
// sample at least minAge older than the newest one (the previous sample
// when samples come every FastTick), and that sample's time. Both ends are
// real samples, so a stall it shows happened after that time. ok is false
// when there is no such sample.
func (r *ring) recent(minAge time.Duration) (p [nLines]float64, from time.Time, ok bool) {
	n := len(r.pts)
	if n < 2 {
		return p, r.base, false
	}
	newest := r.pts[n-1]
	i := n - 2
	for i > 0 && r.pts[i].at > newest.at-minAge {
		i--
	}
	if r.pts[i].at > newest.at-minAge {
		return p, r.base, false
	}
	elapsed := float64(newest.at-r.pts[i].at) / float64(time.Microsecond)
	for l := range p {
		p[l] = min(max(float64(newest.total[l]-r.pts[i].total[l])/elapsed*100, 0), 100)
	}
	return p, r.base.Add(r.pts[i].at), true
}

// span is the time between the oldest and the newest sample.
func (r *ring) span() time.Duration {
	if len(r.pts) == 0 {
		return 0
	}
	return r.pts[len(r.pts)-1].at - r.pts[0].at
}

// pct returns the percentage of time stalled on line over the last span
// (or over what the ring holds, if less), 0..100, and whether there was any
// time to measure. The counter at the span's start is interpolated linearly
// between the two samples around it.
func (r *ring) pct(line int, span time.Duration) (float64, bool) {
	n := len(r.pts)
	if n < 2 || span <= 0 {
		return 0, false
	}
	newest := r.pts[n-1]
	start := max(newest.at-span, r.pts[0].at)
	elapsed := newest.at - start
	if elapsed <= 0 {
		return 0, false
	}
	// b is the first sample at or after start, a the one before it.
	b := n - 1
	for b > 0 && r.pts[b-1].at >= start {
		b--
	}
	// Counters are monotonic within the ring (add checks), so these
	// differences never wrap.
	stall := float64(newest.total[line] - r.pts[b].total[line])
	if b > 0 && r.pts[b].at > start {
		a := r.pts[b-1]
		frac := float64(r.pts[b].at-start) / float64(r.pts[b].at-a.at)
		stall += float64(r.pts[b].total[line]-a.total[line]) * frac
	}
	p := stall / (float64(elapsed) / float64(time.Microsecond)) * 100
	return min(max(p, 0), 100), true
}
