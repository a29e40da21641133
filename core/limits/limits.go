// Package limits validates the RUN keys of spec/PROTOCOL.md and turns them
// into cgroup file writes. Everything here is pure: nothing touches the
// kernel, so a RUN is fully validated before anything is created.
package limits

// Setting is one cgroup file write a RUN key asks for.
type Setting struct {
	Key        string // protocol key, e.g. "memory_max" (used in reasons)
	Controller string // controller that must be enabled, e.g. "memory"
	File       string // cgroup file, e.g. "memory.max"
	Value      string // exact bytes to write, e.g. "67108864"
}

// Parse validates every limit key present (cpu_max, cpu_weight,
// cpuset_cpus, cpuset_mems, memory_max, memory_high, memory_low,
// memory_min, memory_swap_max, io_weight, io_max (repeatable), pids_max)
// and returns the settings in a stable order. get returns the first value
// of a key; all returns every value of a repeatable key. Errors read
// "<key>: <detail>", e.g. `memory_max: invalid size "12Q"`.
func Parse(get func(key string) (string, bool), all func(key string) []string) ([]Setting, error) {
	panic("unimplemented")
}

// ParseSize parses an integer with optional K/M/G/T suffix (powers of 1024,
// optional trailing B, case-insensitive) or "max" (returned as -1).
func ParseSize(s string) (int64, error) { panic("unimplemented") }

// ParsePriority parses 0..100.
func ParsePriority(s string) (int, error) { panic("unimplemented") }

// ValidID checks a job id: 1-64 of [A-Za-z0-9._-], not "." or "..", not
// starting with '_'.
func ValidID(id string) error { panic("unimplemented") }
