// Package limits validates the RUN keys of spec/PROTOCOL.md and turns them
// into cgroup file writes. Everything here is pure: nothing touches the
// kernel, so a RUN is fully validated before anything is created.
package limits

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Setting is one cgroup file write a RUN key asks for.
type Setting struct {
	Key        string // protocol key, e.g. "memory_max" (used in reasons)
	Controller string // controller that must be enabled, e.g. "memory"
	File       string // cgroup file, e.g. "memory.max"
	Value      string // exact bytes to write, e.g. "67108864"
}

// Error is a refused value: Error() reads "<key>: <detail>", the protocol
// reason (PROTOCOL.md: `cpu_max: <detail>`).
type Error struct {
	Key    string // protocol key, e.g. "memory_max"
	Detail string // e.g. `invalid size "12Q"`
}

func (e *Error) Error() string { return e.Key + ": " + e.Detail }

func errorf(key, format string, a ...any) *Error {
	return &Error{Key: key, Detail: fmt.Sprintf(format, a...)}
}

// Kernel bounds (KERNEL.md; kernel/sched/core.c, kernel/cgroup/pids.c,
// block/blk-throttle.c) and protocol bounds (PROTOCOL.md, DESIGN.md).
const (
	CPUPeriodDefault = 100000    // µs, the cpu.max default period
	CPUPeriodMin     = 1000      // µs: min_cfs_quota_period, 1 ms
	CPUPeriodMax     = 1000000   // µs: max_cfs_quota_period, 1 s
	CPUQuotaMin      = 1000      // µs: a quota below 1 ms is EINVAL
	CPUQuotaMax      = 1<<44 - 1 // µs: max_cfs_runtime (MAX_BW)
	WeightMin        = 1         // cpu.weight and io.weight
	WeightMax        = 10000
	PidsMax          = 4 << 20 // pids.max: at most PID_MAX_LIMIT
	CPUSetMax        = 8192    // cpuset numbers must be below this
	DevMajorMax      = 1<<12 - 1
	DevMinorMax      = 1<<20 - 1
	PriorityMin      = 0
	PriorityMax      = 100
	PriorityDefault  = 50
	IDMaxLen         = 64
)

// noLimit is the kernel's word for "no limit", and ParseSize's -1.
const noLimit = "max"

// Keys are the limit keys Parse reads, in the order it returns settings.
var Keys = []string{
	"cpu_max", "cpu_weight", "cpuset_cpus", "cpuset_mems",
	"memory_max", "memory_high", "memory_low", "memory_min", "memory_swap_max",
	"io_weight", "io_max", "pids_max",
}

// sizeFiles maps the size keys to their files (controller memory).
var sizeFiles = map[string]string{
	"memory_max":      "memory.max",
	"memory_high":     "memory.high",
	"memory_low":      "memory.low",
	"memory_min":      "memory.min",
	"memory_swap_max": "memory.swap.max",
}

// Parse validates every limit key present (cpu_max, cpu_weight,
// cpuset_cpus, cpuset_mems, memory_max, memory_high, memory_low,
// memory_min, memory_swap_max, io_weight, io_max (repeatable), pids_max)
// and returns the settings in a stable order. get returns the first value
// of a key; all returns every value of a repeatable key. Errors read
// "<key>: <detail>", e.g. `memory_max: invalid size "12Q"`.
//
// A key present with an empty value is refused like any bad value. The
// error is an *Error.
func Parse(get func(key string) (string, bool), all func(key string) []string) ([]Setting, error) {
	if get == nil {
		get = func(string) (string, bool) { return "", false }
	}
	if all == nil {
		all = func(string) []string { return nil }
	}
	var out []Setting
	for _, key := range Keys {
		if key == "io_max" {
			for _, rule := range all(key) {
				v, err := parseIOMax(rule)
				if err != nil {
					return nil, err
				}
				out = append(out, Setting{key, "io", "io.max", v})
			}
			continue
		}
		s, ok := get(key)
		if !ok {
			continue
		}
		set, err := parseOne(key, s)
		if err != nil {
			return nil, err
		}
		out = append(out, set)
	}
	return out, nil
}

func parseOne(key, s string) (Setting, error) {
	switch key {
	case "cpu_max":
		v, err := ParseCPUMax(s)
		return Setting{key, "cpu", "cpu.max", v}, err
	case "cpu_weight":
		n, err := parseWeight(key, s)
		return Setting{key, "cpu", "cpu.weight", strconv.Itoa(n)}, err
	case "io_weight":
		n, err := parseWeight(key, s)
		return Setting{key, "io", "io.weight", "default " + strconv.Itoa(n)}, err
	case "cpuset_cpus", "cpuset_mems":
		if err := checkCPUList(s); err != nil {
			return Setting{}, &Error{key, err.Error()}
		}
		return Setting{key, "cpuset", strings.Replace(key, "_", ".", 1), s}, nil
	case "pids_max":
		n, err := ParseSize(s)
		if err != nil {
			return Setting{}, &Error{key, err.Error()}
		}
		if n > PidsMax {
			return Setting{}, errorf(key, "%q out of range (at most %d or max)", s, PidsMax)
		}
		return Setting{key, "pids", "pids.max", sizeString(n)}, nil
	}
	// The memory sizes.
	n, err := ParseSize(s)
	if err != nil {
		return Setting{}, &Error{key, err.Error()}
	}
	return Setting{key, "memory", sizeFiles[key], sizeString(n)}, nil
}

func sizeString(n int64) string {
	if n < 0 {
		return noLimit
	}
	return strconv.FormatInt(n, 10)
}

// ParseSize parses an integer with optional K/M/G/T suffix (powers of 1024,
// optional trailing B, case-insensitive) or "max" (returned as -1).
// Negative numbers, overflow, garbage and the empty string are refused with
// `invalid size "<s>"` (with the cause where it helps): a bad size is never
// taken as max.
func ParseSize(s string) (int64, error) {
	if s == noLimit {
		return -1, nil
	}
	digits := s
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			digits = s[:i]
			break
		}
	}
	if digits == "" {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	var shift uint
	suffix := strings.ToUpper(s[len(digits):])
	if suffix != "" && suffix != "B" {
		switch suffix[0] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		default:
			return 0, fmt.Errorf("invalid size %q", s)
		}
		if rest := suffix[1:]; rest != "" && rest != "B" {
			return 0, fmt.Errorf("invalid size %q", s)
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	return n << shift, nil
}

// ParseCPUMax parses a cpu_max value — `max`, `max <period>`,
// `<quota>/<period>` or `<quota> <period>` — into the cpu.max text
// `<quota> <period>` (period 100000 µs for a bare `max`). A bare quota is
// refused ("cpu_max: invalid value"), as the C daemon refuses it: the
// period it would imply is a guess the caller should make.
// Quota is max or CPUQuotaMin..CPUQuotaMax µs, period CPUPeriodMin..
// CPUPeriodMax µs, as the kernel requires. Errors are "cpu_max: ...".
func ParseCPUMax(s string) (string, error) {
	const key = "cpu_max"
	var fields []string
	if q, p, ok := strings.Cut(s, "/"); ok {
		fields = []string{strings.TrimSpace(q), strings.TrimSpace(p)}
	} else {
		fields = strings.Fields(s)
	}
	if len(fields) < 1 || len(fields) > 2 || fields[0] == "" || (len(fields) == 2 && fields[1] == "") ||
		(len(fields) == 1 && fields[0] != noLimit) {
		return "", errorf(key, "invalid value %q (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)", s)
	}
	period := int64(CPUPeriodDefault)
	if len(fields) == 2 {
		p, err := parseUint(fields[1])
		if err != nil {
			return "", errorf(key, "invalid period %q", fields[1])
		}
		if p < CPUPeriodMin || p > CPUPeriodMax {
			return "", errorf(key, "period %d out of range %d..%d us", p, CPUPeriodMin, CPUPeriodMax)
		}
		period = p
	}
	quota := fields[0]
	if quota != noLimit {
		q, err := parseUint(quota)
		if err != nil {
			return "", errorf(key, "invalid quota %q", quota)
		}
		if q < CPUQuotaMin || q > CPUQuotaMax {
			return "", errorf(key, "quota %d out of range %d..%d us", q, CPUQuotaMin, int64(CPUQuotaMax))
		}
	}
	return quota + " " + strconv.FormatInt(period, 10), nil
}

// parseUint parses a non-empty decimal of digits only (no sign).
func parseUint(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func parseWeight(key, s string) (int, error) {
	n, err := parseUint(s)
	if err != nil {
		return 0, errorf(key, "invalid weight %q (want %d..%d)", s, WeightMin, WeightMax)
	}
	if n < WeightMin || n > WeightMax {
		return 0, errorf(key, "weight %d out of range %d..%d", n, WeightMin, WeightMax)
	}
	return int(n), nil
}

// checkCPUList checks the kernel's list syntax of cpuset.cpus/mems:
// comma-separated N or N-M with N <= M, every number < CPUSetMax.
func checkCPUList(s string) error {
	if s == "" {
		return fmt.Errorf("empty list")
	}
	for _, item := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := parseUint(lo)
		if err != nil {
			return fmt.Errorf("invalid list %q: bad item %q", s, item)
		}
		b := a
		if isRange {
			if b, err = parseUint(hi); err != nil {
				return fmt.Errorf("invalid list %q: bad item %q", s, item)
			}
			if b < a {
				return fmt.Errorf("invalid list %q: range %q descends", s, item)
			}
		}
		if b >= CPUSetMax {
			return fmt.Errorf("invalid list %q: %d out of range (< %d)", s, b, CPUSetMax)
		}
	}
	return nil
}

// ioMaxKeys are the io.max keys; the bps ones take sizes.
var ioMaxKeys = map[string]bool{"rbps": true, "wbps": true, "riops": false, "wiops": false}

// parseIOMax validates one io_max rule "MAJ:MIN key=val ..." and returns
// the text for io.max with sizes in bytes.
func parseIOMax(rule string) (string, error) {
	const key = "io_max"
	fields := strings.Fields(rule)
	if len(fields) < 2 {
		return "", errorf(key, "invalid rule %q (want MAJ:MIN key=value ...)", rule)
	}
	maj, min, ok := strings.Cut(fields[0], ":")
	a, errA := parseUint(maj)
	b, errB := parseUint(min)
	if !ok || errA != nil || errB != nil || a > DevMajorMax || b > DevMinorMax {
		return "", errorf(key, "invalid device %q in rule %q (want MAJ:MIN)", fields[0], rule)
	}
	out := []string{strconv.FormatInt(a, 10) + ":" + strconv.FormatInt(b, 10)}
	for _, kv := range fields[1:] {
		k, v, ok := strings.Cut(kv, "=")
		isBPS, known := ioMaxKeys[k]
		if !ok || !known {
			return "", errorf(key, "invalid limit %q in rule %q (want rbps, wbps, riops or wiops=N|max)", kv, rule)
		}
		if v == noLimit {
			out = append(out, k+"="+v)
			continue
		}
		var n int64
		var err error
		if isBPS {
			n, err = ParseSize(v)
		} else {
			n, err = parseUint(v)
		}
		if err != nil || n <= 0 {
			return "", errorf(key, "invalid value %q for %s in rule %q (want a positive integer or max)", v, k, rule)
		}
		out = append(out, k+"="+strconv.FormatInt(n, 10))
	}
	return strings.Join(out, " "), nil
}

// ParsePriority parses 0..100.
func ParsePriority(s string) (int, error) {
	n, err := parseUint(s)
	if err != nil || n < PriorityMin || n > PriorityMax {
		return 0, errorf("priority", "invalid value %q (want %d..%d)", s, PriorityMin, PriorityMax)
	}
	return int(n), nil
}

// ValidID checks a job id: 1-64 of [A-Za-z0-9._-], not "." or "..", not
// starting with '_'.
func ValidID(id string) error {
	bad := func(why string) error { return errorf("id", "invalid id %q: %s", id, why) }
	switch {
	case id == "":
		return bad("empty")
	case len(id) > IDMaxLen:
		return bad(fmt.Sprintf("longer than %d bytes", IDMaxLen))
	case id == "." || id == "..":
		return bad("not a name")
	case id[0] == '_':
		return bad("starts with '_'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad("only A-Z a-z 0-9 . _ - allowed")
		}
	}
	return nil
}

// Unavailable returns the first setting whose controller is not among
// enabled (the root's cgroup.subtree_control), if any.
func Unavailable(settings []Setting, enabled []string) (Setting, bool) {
	for _, s := range settings {
		if !slices.Contains(enabled, s.Controller) {
			return s, true
		}
	}
	return Setting{}, false
}
