package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The VM's busybox has no sub-second wall clock; the pressure scenarios
// compare the moments they observe with the daemon's event timestamps
// (ts_unix_ms), so these two modes give them the same clock.

// nowMode prints the wall clock in epoch milliseconds.
func nowMode(e *env, args []string) error {
	f := newFlags(e, "now", "now", false)
	if err := f.parse(args); err != nil {
		return err
	}
	e.fig.int("unix_ms", time.Now().UnixMilli())
	return nil
}

// pollMode waits until a number in a file exceeds a value and prints when
// it saw that (epoch ms, and boot-clock ms as /proc/uptime counts) and the
// value: `-key high` reads the `high N` line of a flat-keyed file such as
// memory.events; no -key reads the file's first word (memory.current).
// With -write F -value V [-after D] it then writes V to F, D after the
// condition was seen, and prints when: a burst of exactly D.
func pollMode(e *env, args []string) error {
	f := newFlags(e, "poll", "poll", false)
	file := f.String("file", "", "file to read")
	key := f.String("key", "", "key of a `key value` line (default: the first word)")
	gt := f.Int64("gt", 0, "wait until the value is greater than this")
	interval := f.Duration("interval", time.Millisecond, "time between reads")
	timeout := f.Duration("timeout", time.Minute, "give up after this")
	ready := f.String("ready", "", "create this file once polling has begun")
	after := f.Duration("after", 0, "with -write: how long after the condition to write")
	write := f.String("write", "", "then write -value to this file (ends a burst precisely)")
	value := f.String("value", "", "what -write writes")
	if err := f.parse(args); err != nil {
		return err
	}
	if *file == "" {
		return usagef("-file is required")
	}
	if (*write == "") != (*value == "") || (*after != 0 && *write == "") {
		return usagef("-write and -value go together; -after needs them")
	}
	deadline := time.Now().Add(*timeout)
	for first := true; ; first = false {
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		now := time.Now()
		v, err := fileValue(b, *key)
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		if first && *ready != "" {
			// A caller starts what it measures once this exists, so the
			// moment is not missed while this process starts up.
			if err := os.WriteFile(*ready, nil, 0o644); err != nil {
				return err
			}
		}
		if v > *gt {
			if boot, ok := bootMs(); ok {
				e.fig.int("boot_ms", boot)
			}
			e.fig.int("unix_ms", now.UnixMilli())
			e.fig.int("value", v)
			if *write == "" {
				return nil
			}
			time.Sleep(*after - time.Since(now))
			if err := os.WriteFile(*write, []byte(*value+"\n"), 0); err != nil {
				return err
			}
			e.fig.int("write_unix_ms", time.Now().UnixMilli())
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("%s: %s still %d (not > %d) after %v", *file, keyName(*key), v, *gt, *timeout)
		}
		time.Sleep(*interval)
	}
}

// bootMs is CLOCK_BOOTTIME in ms: the clock of /proc/uptime, which a
// shell can read without starting a process.
func bootMs() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, false
	}
	return ts.Nano() / 1e6, true
}

func keyName(k string) string {
	if k == "" {
		return "value"
	}
	return k
}

// fileValue reads the integer of the `key N` line, or the first word when
// key is empty ("max" reads as the largest int64).
func fileValue(b []byte, key string) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		w := strings.Fields(line)
		var s string
		switch {
		case key == "" && len(w) > 0:
			s = w[0]
		case key != "" && len(w) >= 2 && w[0] == key:
			s = w[1]
		default:
			continue
		}
		if s == "max" {
			return 1<<63 - 1, nil
		}
		return strconv.ParseInt(s, 10, 64)
	}
	return 0, fmt.Errorf("no %s", keyName(key))
}
