package ctl

import (
	"reflect"
	"strings"
	"testing"

	"cgroupd/core/limits"
)

func TestSizeValue(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		// v1 forms go out as given.
		{"64M", "64M", true}, {"64m", "64m", true}, {"64MB", "64MB", true}, {"1024", "1024", true},
		{"max", "max", true}, {"0", "0", true}, {"2G", "2G", true}, {"512k", "512k", true},
		// IEC units: the count keeps its (v1) unit.
		{"64MiB", "64M", true}, {"64mib", "64M", true}, {"512Ki", "512K", true}, {"2GiB", "2G", true}, {"1TiB", "1T", true},
		// Fractions become bytes.
		{"1.5G", "1610612736", true}, {"1.5GiB", "1610612736", true}, {"0.5M", "524288", true},
		{"1.5gb", "1610612736", true}, {".5K", "512", true}, {"1.25k", "1280", true},
		// Not sizes: as given, for the daemon to refuse with its reason.
		{"lots", "lots", true}, {"1.2.3G", "1.2.3G", true}, {"64X", "64X", true}, {"-1", "-1", true}, {"1.5", "1.5", true},
		// Refused here: what no unit can make a byte count of.
		{"0.1B", "0.1B", true}, {"0.0001K", "", false}, {"99999999999T", "99999999999T", true}, {"9999999999.5T", "", false},
	} {
		got, err := sizeValue("memory-max", tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("sizeValue(%q) = %q, %v; want %q ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err == nil && got != tc.in {
			// Whatever we convert, a v1 daemon accepts.
			if _, perr := limits.ParseSize(got); perr != nil {
				t.Errorf("sizeValue(%q) = %q: not a v1 size: %v", tc.in, got, perr)
			}
		}
	}
}

func TestCPUsValue(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"1", "100000/100000", true}, {"1.5", "150000/100000", true}, {"0.25", "25000/100000", true},
		{"0.01", "1000/100000", true}, {"16", "1600000/100000", true},
		{"0", "", false}, {"-1", "", false}, {"0.001", "", false}, {"x", "", false}, {"NaN", "", false}, {"Inf", "", false},
	} {
		got, err := cpusValue(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("cpusValue(%q) = %q, %v; want %q ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err == nil {
			if _, perr := limits.ParseCPUMax(got); perr != nil {
				t.Errorf("cpusValue(%q) = %q: the daemon refuses it: %v", tc.in, got, perr)
			}
		}
	}
}

// TestShorthandRequests: what the shorthands send.
func TestShorthandRequests(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // key, value pairs sent (arg excluded)
	}{
		{[]string{"run", "--cpus", "1.5", "--", "true"}, []string{"cpu_max", "150000/100000"}},
		{[]string{"run", "--memory-max", "64MiB", "--memory-high", "1.5G", "--memory-swap-max", "0", "--", "true"},
			[]string{"memory_max", "64M", "memory_high", "1610612736", "memory_swap_max", "0"}},
		{[]string{"kill", "a", "HUP"}, []string{"id", "a", "signal", "1"}},
		{[]string{"kill", "a", "SIGHUP"}, []string{"id", "a", "signal", "1"}},
		{[]string{"kill", "a", "15"}, []string{"id", "a", "signal", "15"}},
		{[]string{"kill", "-s", "HUP", "a"}, []string{"id", "a", "signal", "1"}},
		{[]string{"kill", "-s", "9", "a"}, []string{"id", "a", "signal", "9"}},
		{[]string{"kill", "a", "-s", "term"}, []string{"id", "a", "signal", "15"}},
		{[]string{"kill", "-s=USR1", "a"}, []string{"id", "a", "signal", "10"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			inv, err := parseArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range inv.req.Headers {
				if h.Key != "arg" {
					got = append(got, h.Key, h.Value)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sent %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range [][]string{
		{"run", "--cpus", "1", "--cpu-max", "max", "--", "true"},
		{"run", "--cpus", "0", "--", "true"},
		{"run", "--memory-max", "0.0001K", "--", "true"},
		{"kill", "a", "NOPE"},
		{"kill", "-s", "HUP", "a", "TERM"},
		{"kill", "-s"},
		{"kill", "a", "b", "c"},
	} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q): got no error", bad)
		}
	}
}
