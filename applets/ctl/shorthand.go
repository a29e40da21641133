package ctl

import (
	"math"
	"strconv"
	"strings"

	"cgroupd/core/limits"
)

// Shorthands that docker and systemd-run users type (issue 24), turned
// into the v1 values a daemon accepts, ours and the C one alike: nothing
// new goes over the wire.

// sizeFlags are the run options whose value is a size in bytes.
var sizeFlags = []string{"memory-max", "memory-high", "memory-low", "memory-min", "memory-swap-max"}

// sizeValue converts a size option's value to the v1 form (spec/PROTOCOL.md:
// an integer with an optional K, M, G or T suffix, powers of 1024, optional
// trailing B, or max). A value already in that form is sent as given, so a
// request is byte for byte what it always was. IEC units (64MiB, 512Ki)
// and fractions (1.5G, 0.5GiB) are converted: an integer count of the unit
// keeps the unit (64MiB → 64M), a fraction becomes bytes, rounded to the
// nearest byte (1.5G → 1610612736). Anything else is sent as given, for the
// daemon to refuse with its own reason as it always did.
func sizeValue(name, v string) (string, error) {
	if _, err := limits.ParseSize(v); err == nil {
		return v, nil
	}
	num := v
	for i := 0; i < len(v); i++ {
		if (v[i] < '0' || v[i] > '9') && v[i] != '.' {
			num = v[:i]
			break
		}
	}
	unit := strings.ToUpper(strings.TrimSpace(v[len(num):]))
	unit = strings.TrimSuffix(unit, "B")
	unit = strings.TrimSuffix(unit, "I")
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	sh, ok := shift[unit]
	if num == "" || unit == "" || !ok || strings.Count(num, ".") > 1 {
		return v, nil // not a size we know (a fraction of a byte): the daemon says why
	}
	if !strings.Contains(num, ".") {
		return num + unit, nil // an integer count of an IEC unit: the v1 suffix says the same
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return v, nil
	}
	bytes := math.Round(f * float64(uint64(1)<<sh))
	if bytes >= math.MaxInt64 {
		return "", usagef("--%s: %q is out of range", name, oneLine(v))
	}
	if bytes < 1 && f > 0 {
		return "", usagef("--%s: %q is less than a byte", name, oneLine(v))
	}
	return strconv.FormatInt(int64(bytes), 10), nil
}

// cpusValue turns --cpus N (CPUs, fractional: 1.5) into the v1 cpu_max
// QUOTA/PERIOD over the kernel's default period of 100 ms.
func cpusValue(v string) (string, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return "", usagef("--cpus: want a number of CPUs above 0 (e.g. 1.5), got %q", oneLine(v))
	}
	quota := math.Round(f * limits.CPUPeriodDefault)
	if quota < limits.CPUQuotaMin || quota > limits.CPUQuotaMax {
		return "", usagef("--cpus: %q is out of range (%g..%g CPUs)", oneLine(v),
			float64(limits.CPUQuotaMin)/limits.CPUPeriodDefault, float64(limits.CPUQuotaMax)/limits.CPUPeriodDefault)
	}
	return strconv.FormatInt(int64(quota), 10) + "/" + strconv.Itoa(limits.CPUPeriodDefault), nil
}
