package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted; 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// us formats a duration as microseconds with one decimal.
func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64)
}

// figures writes key=value lines, one per figure. Every key is
// <name>_<metric>[_<tag>], so runs of one mode with different parameters
// (tag c1, c8, j10000…) sit side by side in one file.
type figures struct {
	w         io.Writer
	name, tag string
}

func (f *figures) key(metric string) string {
	k := f.name + "_" + metric
	if f.tag != "" {
		k += "_" + f.tag
	}
	return k
}

func (f *figures) put(metric, value string) {
	fmt.Fprintf(f.w, "%s=%s\n", f.key(metric), value)
}

func (f *figures) int(metric string, v int64) { f.put(metric, strconv.FormatInt(v, 10)) }

func (f *figures) float(metric string, v float64, prec int) {
	f.put(metric, strconv.FormatFloat(v, 'f', prec, 64))
}

// latency writes count, mean, p50, p90, p99 and max of lat (in µs); lat
// is sorted in place.
func (f *figures) latency(lat []time.Duration) {
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	var mean time.Duration
	if len(lat) > 0 {
		mean = sum / time.Duration(len(lat))
	}
	f.int("n", int64(len(lat)))
	f.put("mean_us", us(mean))
	f.put("p50_us", us(percentile(lat, 50)))
	f.put("p90_us", us(percentile(lat, 90)))
	f.put("p99_us", us(percentile(lat, 99)))
	var mx time.Duration
	if len(lat) > 0 {
		mx = lat[len(lat)-1]
	}
	f.put("max_us", us(mx))
}

// rate writes n/elapsed per second.
func (f *figures) rate(n int, elapsed time.Duration) {
	r := 0.0
	if elapsed > 0 {
		r = float64(n) / elapsed.Seconds()
	}
	f.float("rate", r, 1)
	f.float("secs", elapsed.Seconds(), 3)
}
