package pressure

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for none
	}{
		{"defaults", nil, ""},
		{"rules off", func(c *Config) { c.MemKill, c.MemFreeze, c.CPUDemote, c.IOFreeze = -1, -1, -1, -1 }, ""},
		{"zero thresholds", func(c *Config) { c.MemKill, c.MemFreeze, c.CPUDemote, c.IOFreeze = 0, 0, 0, 0 }, ""},
		{"zero sustain and cooldown", func(c *Config) { c.Sustain, c.Cooldown, c.Hysteresis = 0, 0, 0 }, ""},
		{"threshold over 100", func(c *Config) { c.MemKill = 101 }, "mem_kill 101"},
		{"NaN threshold", func(c *Config) { c.CPUDemote = math.NaN() }, "cpu_demote NaN"},
		{"infinite threshold", func(c *Config) { c.IOFreeze = math.Inf(-1) }, "io_freeze -Inf"},
		{"zero window", func(c *Config) { c.Window = 0 }, "window 0s"},
		{"window over 10s", func(c *Config) { c.Window = 11 * time.Second }, "window 11s"},
		{"fast tick over window", func(c *Config) { c.FastTick = time.Second }, "fast tick 1s"},
		{"zero fast tick", func(c *Config) { c.FastTick = 0 }, "fast tick 0s"},
		{"negative sustain", func(c *Config) { c.Sustain = -time.Millisecond }, "sustain -1ms"},
		{"negative hysteresis", func(c *Config) { c.Hysteresis = -time.Second }, "hysteresis -1s"},
		{"zero release timeout", func(c *Config) { c.ReleaseTimeout = 0 }, "release timeout 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cfgWith(tc.mod).Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, ErrConfig):
				t.Errorf("Validate() = %v, want it to wrap ErrConfig", err)
			}
		})
	}
}

func TestTriggers(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []Trigger
	}{
		{"defaults", nil, []Trigger{
			{Memory, false, 25 * ms, 500 * ms, false},
			{CPU, false, 62500 * time.Microsecond, 500 * ms, false},
			{IO, true, 37500 * time.Microsecond, 500 * ms, false},
			{Memory, false, 75 * ms, 500 * ms, true}, // host PSI rule at 60
		}},
		{"k5, cpu and io off, short window", func(c *Config) {
			c.MemKill, c.CPUDemote, c.IOFreeze, c.HostPSIKill, c.Window, c.FastTick = 5, -1, -1, -1, 200*ms, 50*ms
		}, []Trigger{{Memory, false, 6250 * time.Microsecond, 500 * ms, false}}},
		{"zero threshold", func(c *Config) { c.MemKill, c.MemFreeze, c.CPUDemote, c.IOFreeze, c.HostPSIKill = 0, -1, -1, -1, -1 },
			[]Trigger{{Memory, false, ms, 500 * ms, false}}},
		{"all off", func(c *Config) {
			c.MemKill, c.MemFreeze, c.CPUDemote, c.IOFreeze, c.HostPSIKill = -1, -1, -1, -1, -1
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cfgWith(tc.mod).Triggers(); !slices.Equal(got, tc.want) {
				t.Errorf("Triggers() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
