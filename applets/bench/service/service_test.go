// Package service holds the programs of the service-protection benchmark
// (scripts/suite/bench-service.sh, issue 23) as test code, so that they
// never grow the shipped binary: scripts/vm.sh builds them with
// `go test -c -o build/svcbench ./applets/bench/service` and puts the
// binary on the guest's programs disk. Run as `svcbench MODE [options]`
// (TestMain dispatches on os.Args[1]):
//
//	svcbench service -file F -mb N [-heap MIB] [-rate R] [-pages P] -out F [-ready F]
//	svcbench batch   -mb N [-rate MIBPS] [-hold S]
//	svcbench trace   -out F [-interval D]
//	svcbench latency -in F -t0 MS -to MS [-base MS] [-late MS]
//
// Modes:
//
//	service  the protected service: maps the first N MiB of file F (a
//	         model on a disk-backed filesystem), reads it all in, holds a
//	         heap, then serves R requests/s open-loop, each reading P
//	         random pages of the file (and one of the heap); a request's
//	         latency counts from its scheduled time, so a stall also counts
//	         against the requests queued behind it. At SIGTERM it writes
//	         every request as `sched_unix_ms latency_us` to -out.
//	batch    the batch job: allocates N MiB of anonymous memory, as fast as
//	         it can (-rate 0) or at MIBPS, touching every page, then holds
//	         it for -hold seconds (0: until killed).
//	trace    samples /proc/zoneinfo (free and the min/low/high watermarks,
//	         summed over the populated zones), /proc/vmstat and
//	         /proc/meminfo every -interval until SIGTERM, one line per
//	         sample to -out: unix_ms free min low high pgscan_kswapd
//	         pgscan_direct workingset_refault_file pgmajfault
//	         mem_available (pages, except mem_available in kB), and the
//	         time the zoneinfo and the vmstat read took (µs).
//	latency  the figures of a service's -out file: the baseline p99 (the
//	         -base ms before t0), and in the window [t0, to): p99, max,
//	         requests, late requests (> -late ms) and the first late
//	         request's scheduled time after t0. Latencies in ms.
package service

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		modes := map[string]func([]string) error{
			"service": serviceMode, "batch": batchMode, "trace": traceMode, "latency": latencyMode,
		}
		if run, ok := modes[os.Args[1]]; ok {
			if err := run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "svcbench %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

const page = 4096

// stopped is told of SIGTERM and SIGINT.
func stopped() chan os.Signal {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	return stop
}

// rng is xorshift64: no allocation, no lock, good enough to pick pages.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

func serviceMode(args []string) error {
	f := flag.NewFlagSet("service", flag.ContinueOnError)
	file := f.String("file", "", "the model file")
	mb := f.Int("mb", 250, "MiB of the file to map")
	heap := f.Int("heap", 64, "heap MiB")
	rate := f.Float64("rate", 200, "requests per second")
	pages := f.Int("pages", 64, "random file pages per request")
	out := f.String("out", "", "write the requests here at SIGTERM")
	ready := f.String("ready", "", "create this file once loaded")
	if err := f.Parse(args); err != nil {
		return err
	}
	debug.SetGCPercent(-1) // nothing to collect: no GC pass in the way
	fd, err := unix.Open(*file, unix.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", *file, err)
	}
	model, err := unix.Mmap(fd, 0, *mb<<20, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s %d MiB: %w", *file, *mb, err)
	}
	var sum byte
	for i := 0; i < len(model); i += page {
		sum += model[i]
	}
	h := make([]byte, *heap<<20)
	for i := 0; i < len(h); i += page {
		h[i] = 1
	}
	stop := stopped()
	sched := make([]int64, 0, 1<<18) // unix ms, then the latency µs
	lat := make([]int64, 0, 1<<18)
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o644); err != nil {
			return err
		}
	}
	period := time.Duration(float64(time.Second) / *rate)
	npages, hpages := uint64(len(model)/page), uint64(len(h)/page)
	r := rng(time.Now().UnixNano() | 1)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * period)
		if d := time.Until(at); d > 0 {
			select {
			case <-stop:
				return writeRequests(*out, sched, lat, sum)
			case <-time.After(d):
			}
		} else {
			select {
			case <-stop:
				return writeRequests(*out, sched, lat, sum)
			default:
			}
		}
		for range *pages {
			sum += model[(r.next()%npages)*page+r.next()%page]
		}
		h[(r.next()%hpages)*page]++
		if len(sched) < cap(sched) {
			sched = append(sched, at.UnixMilli())
			lat = append(lat, time.Since(at).Microseconds())
		}
	}
}

func writeRequests(out string, sched, lat []int64, sum byte) error {
	var b bytes.Buffer
	for i := range sched {
		fmt.Fprintf(&b, "%d %d\n", sched[i], lat[i])
	}
	_ = sum
	return os.WriteFile(out, b.Bytes(), 0o644)
}

func batchMode(args []string) error {
	f := flag.NewFlagSet("batch", flag.ContinueOnError)
	mb := f.Int("mb", 0, "MiB to allocate")
	rate := f.Float64("rate", 0, "MiB/s (0: as fast as possible)")
	hold := f.Float64("hold", 0, "seconds to hold (0: until killed)")
	if err := f.Parse(args); err != nil {
		return err
	}
	const chunk = 64 << 20
	start := time.Now()
	done := 0 // MiB touched
	for done < *mb {
		n := min(chunk>>20, *mb-done)
		m, err := unix.Mmap(-1, 0, n<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return err
		}
		for off := 0; off < len(m); off += page {
			if *rate > 0 && off%(1<<20) == 0 {
				at := start.Add(time.Duration(float64(done) / *rate * float64(time.Second)))
				time.Sleep(time.Until(at))
			}
			m[off] = 1
			if off%(1<<20) == (1<<20)-page {
				done++
			}
		}
	}
	if *hold > 0 {
		time.Sleep(time.Duration(*hold * float64(time.Second)))
		return nil
	}
	// Until killed: a bare select{} would be Go's "all goroutines are
	// asleep" crash, an exit that looks like a kill.
	<-stopped()
	return nil
}

// zoneSum is /proc/zoneinfo's free pages and watermarks, summed over the
// zones that have managed pages.
type zoneSum struct{ free, min, low, high uint64 }

func parseZoneinfo(b []byte) zoneSum {
	var z, cur zoneSum
	managed := false
	flush := func() {
		if managed {
			z.free, z.min, z.low, z.high = z.free+cur.free, z.min+cur.min, z.low+cur.low, z.high+cur.high
		}
		cur, managed = zoneSum{}, false
	}
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			continue
		}
		if f[0] == "Node" {
			flush()
			continue
		}
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
		switch {
		case f[0] == "pages" && f[1] == "free" && len(f) == 3:
			cur.free = v
		case f[0] == "min" && len(f) == 2:
			cur.min = v
		case f[0] == "low" && len(f) == 2:
			cur.low = v
		case f[0] == "high" && len(f) == 2:
			cur.high = v
		case f[0] == "managed":
			managed = v > 0
		}
	}
	flush()
	return z
}

func keyed(b []byte, keys ...string) []uint64 {
	vs := make([]uint64, len(keys))
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		k := strings.TrimSuffix(f[0], ":")
		if i := slices.Index(keys, k); i >= 0 {
			vs[i], _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	return vs
}

func traceMode(args []string) error {
	f := flag.NewFlagSet("trace", flag.ContinueOnError)
	out := f.String("out", "", "write the samples here")
	interval := f.Duration("interval", 50*time.Millisecond, "between samples")
	if err := f.Parse(args); err != nil {
		return err
	}
	w, err := os.Create(*out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	stop := stopped()
	tick := time.NewTicker(*interval)
	for {
		t0 := time.Now()
		zi, _ := os.ReadFile("/proc/zoneinfo")
		t1 := time.Now()
		vm, _ := os.ReadFile("/proc/vmstat")
		t2 := time.Now()
		mi, _ := os.ReadFile("/proc/meminfo")
		z := parseZoneinfo(zi)
		v := keyed(vm, "pgscan_kswapd", "pgscan_direct", "workingset_refault_file", "pgmajfault")
		a := keyed(mi, "MemAvailable")
		fmt.Fprintf(bw, "%d %d %d %d %d %d %d %d %d %d %d %d\n", time.Now().UnixMilli(),
			z.free, z.min, z.low, z.high, v[0], v[1], v[2], v[3], a[0],
			t1.Sub(t0).Microseconds(), t2.Sub(t1).Microseconds())
		select {
		case <-stop:
			tick.Stop()
			if err := bw.Flush(); err != nil {
				return err
			}
			return w.Close()
		case <-tick.C:
		}
	}
}

func latencyMode(args []string) error {
	f := flag.NewFlagSet("latency", flag.ContinueOnError)
	in := f.String("in", "", "a service's -out file")
	t0 := f.Int64("t0", 0, "the window's start, unix ms")
	to := f.Int64("to", 0, "the window's end, unix ms (0: the last request)")
	base := f.Int64("base", 3000, "ms before t0 that are the baseline")
	late := f.Float64("late", 50, "a request later than this (ms) is late")
	if err := f.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var bl, win []float64
	firstLate := int64(-1)
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) != 2 {
			continue
		}
		s, _ := strconv.ParseInt(f[0], 10, 64)
		l, _ := strconv.ParseFloat(f[1], 64)
		l /= 1000
		switch {
		case s >= *t0-*base && s < *t0:
			bl = append(bl, l)
		case s >= *t0 && (*to == 0 || s < *to):
			win = append(win, l)
			if l > *late && firstLate < 0 {
				firstLate = s - *t0
			}
		}
	}
	nlate := 0
	for _, l := range win {
		if l > *late {
			nlate++
		}
	}
	fmt.Printf("base_p99_ms=%.1f\n", p99(bl))
	fmt.Printf("p99_ms=%.1f\n", p99(win))
	fmt.Printf("max_ms=%.1f\n", slices.Max(append(win, 0)))
	fmt.Printf("requests=%d\n", len(win))
	fmt.Printf("late=%d\n", nlate)
	fmt.Printf("late_pct=%.1f\n", 100*float64(nlate)/math.Max(1, float64(len(win))))
	fmt.Printf("first_late_ms=%d\n", firstLate)
	return nil
}

func p99(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(0.99*float64(len(s))))-1)]
}

func TestParseZoneinfo(t *testing.T) {
	zi := "Node 0, zone      DMA\n  pages free     3970\n        min      33\n        low      41\n        high     49\n        managed  3976\n" +
		"Node 0, zone    DMA32\n  pages free     200000\n        min      5000\n        low      6250\n        high     7500\n        managed  250000\n" +
		"Node 0, zone   Normal\n  pages free     0\n        min      0\n        low      0\n        high     0\n        managed  0\n"
	got := parseZoneinfo([]byte(zi))
	want := zoneSum{free: 203970, min: 5033, low: 6291, high: 7549}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestP99(t *testing.T) {
	v := make([]float64, 200)
	for i := range v {
		v[i] = float64(i + 1)
	}
	if got := p99(v); got != 198 {
		t.Errorf("got %v, want 198", got)
	}
}
