package limits

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"cgroupd/core/proto"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"12B", 12, ""},
		{"1K", 1 << 10, ""},
		{"1k", 1 << 10, ""},
		{"1KB", 1 << 10, ""},
		{"1kb", 1 << 10, ""},
		{"64M", 64 << 20, ""},
		{"64MB", 64 << 20, ""},
		{"2G", 2 << 30, ""},
		{"2gB", 2 << 30, ""},
		{"3T", 3 << 40, ""},
		{"8388607T", 8388607 << 40, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"max", -1, ""},
		{"", 0, `invalid size ""`},
		{"12Q", 0, `invalid size "12Q"`},
		{"-1", 0, `invalid size "-1"`},
		{"-1M", 0, `invalid size "-1M"`},
		{"+1", 0, `invalid size "+1"`},
		{"M", 0, `invalid size "M"`},
		{"1.5G", 0, `invalid size "1.5G"`},
		{"1 G", 0, `invalid size "1 G"`},
		{" 1", 0, `invalid size " 1"`},
		{"1KBB", 0, `invalid size "1KBB"`},
		{"1KiB", 0, `invalid size "1KiB"`},
		{"0x10", 0, `invalid size "0x10"`},
		{"MAX", 0, `invalid size "MAX"`},
		{"maximum", 0, `invalid size "maximum"`},
		{"unlimited", 0, `invalid size "unlimited"`},
		{"8388608T", 0, `invalid size "8388608T": out of range`},
		{"9223372036854775808", 0, `invalid size "9223372036854775808": out of range`},
		{"99999999999999999999999", 0, `invalid size "99999999999999999999999": out of range`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %d, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"max", "max 100000", ""},
		{"max 50000", "max 50000", ""},
		{"max/50000", "max 50000", ""},
		{"50000/100000", "50000 100000", ""},
		{"half/100000", "", `cpu_max: invalid quota "half"`},
		{"50000 100000", "50000 100000", ""},
		{"50000  100000", "50000 100000", ""},
		{"50000 / 100000", "50000 100000", ""},
		{"1000 1000", "1000 1000", ""},
		{"1000 1000000", "1000 1000000", ""},
		{"17592186044415 1000000", "17592186044415 1000000", ""},
		{"", "", `cpu_max: invalid value "" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"/", "", `cpu_max: invalid value "/" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"50000/", "", `cpu_max: invalid value "50000/" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"1 2 3", "", `cpu_max: invalid value "1 2 3" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"100000", "", `cpu_max: invalid value "100000" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{" 200000 ", "", `cpu_max: invalid value " 200000 " (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"999 100000", "", "cpu_max: quota 999 out of range 1000..17592186044415 us"},
		{"0/100000", "", "cpu_max: quota 0 out of range 1000..17592186044415 us"},
		{"17592186044416 100000", "", "cpu_max: quota 17592186044416 out of range 1000..17592186044415 us"},
		{"-1 100000", "", `cpu_max: invalid quota "-1"`},
		{"50%", "", `cpu_max: invalid value "50%" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"half", "", `cpu_max: invalid value "half" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"max 999", "", "cpu_max: period 999 out of range 1000..1000000 us"},
		{"50000 1000001", "", "cpu_max: period 1000001 out of range 1000..1000000 us"},
		{"50000/abc", "", `cpu_max: invalid period "abc"`},
		{"50000/1/2", "", `cpu_max: invalid period "1/2"`},
		{"max max", "", `cpu_max: invalid period "max"`},
		{"99999999999999999999 100000", "", `cpu_max: invalid quota "99999999999999999999"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCPUMax(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// headers adapts a list of key, value pairs to Parse's get/all.
func headers(kv ...string) (func(string) (string, bool), func(string) []string) {
	get := func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
	all := func(k string) []string {
		var out []string
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				out = append(out, kv[i+1])
			}
		}
		return out
	}
	return get, all
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		kv      []string
		want    []Setting
		wantErr string
	}{
		{"nothing", nil, nil, ""},
		{"non-limit keys ignored", []string{"id", "a", "arg", "x", "priority", "5"}, nil, ""},
		{"memory_max", []string{"memory_max", "64M"},
			[]Setting{{"memory_max", "memory", "memory.max", "67108864"}}, ""},
		{"memory_max max", []string{"memory_max", "max"},
			[]Setting{{"memory_max", "memory", "memory.max", "max"}}, ""},
		{"memory_high", []string{"memory_high", "1G"},
			[]Setting{{"memory_high", "memory", "memory.high", "1073741824"}}, ""},
		{"memory_low", []string{"memory_low", "0"},
			[]Setting{{"memory_low", "memory", "memory.low", "0"}}, ""},
		{"memory_min", []string{"memory_min", "16MB"},
			[]Setting{{"memory_min", "memory", "memory.min", "16777216"}}, ""},
		{"memory_swap_max", []string{"memory_swap_max", "0"},
			[]Setting{{"memory_swap_max", "memory", "memory.swap.max", "0"}}, ""},
		{"pids_max", []string{"pids_max", "100"},
			[]Setting{{"pids_max", "pids", "pids.max", "100"}}, ""},
		{"pids_max max", []string{"pids_max", "max"},
			[]Setting{{"pids_max", "pids", "pids.max", "max"}}, ""},
		{"pids_max suffix (a size per PROTOCOL.md)", []string{"pids_max", "1K"},
			[]Setting{{"pids_max", "pids", "pids.max", "1024"}}, ""},
		{"pids_max at the limit", []string{"pids_max", "4194304"},
			[]Setting{{"pids_max", "pids", "pids.max", "4194304"}}, ""},
		{"cpu_max", []string{"cpu_max", "50000/100000"},
			[]Setting{{"cpu_max", "cpu", "cpu.max", "50000 100000"}}, ""},
		{"cpu_max max", []string{"cpu_max", "max"},
			[]Setting{{"cpu_max", "cpu", "cpu.max", "max 100000"}}, ""},
		{"cpu_weight", []string{"cpu_weight", "10000"},
			[]Setting{{"cpu_weight", "cpu", "cpu.weight", "10000"}}, ""},
		{"io_weight", []string{"io_weight", "1"},
			[]Setting{{"io_weight", "io", "io.weight", "default 1"}}, ""},
		{"cpuset_cpus", []string{"cpuset_cpus", "0-3,5,7-8"},
			[]Setting{{"cpuset_cpus", "cpuset", "cpuset.cpus", "0-3,5,7-8"}}, ""},
		{"cpuset_mems", []string{"cpuset_mems", "0"},
			[]Setting{{"cpuset_mems", "cpuset", "cpuset.mems", "0"}}, ""},
		{"cpuset single-element range", []string{"cpuset_cpus", "3-3,8191"},
			[]Setting{{"cpuset_cpus", "cpuset", "cpuset.cpus", "3-3,8191"}}, ""},
		{"io_max rules in order, one write each",
			[]string{"io_max", "8:0 rbps=1M wiops=100", "io_max", "8:16 wbps=max riops=max", "io_max", "259:0 rbps=512KB"},
			[]Setting{
				{"io_max", "io", "io.max", "8:0 rbps=1048576 wiops=100"},
				{"io_max", "io", "io.max", "8:16 wbps=max riops=max"},
				{"io_max", "io", "io.max", "259:0 rbps=524288"},
			}, ""},
		{"io_max extra spaces", []string{"io_max", "  8:0   rbps=10  "},
			[]Setting{{"io_max", "io", "io.max", "8:0 rbps=10"}}, ""},
		{"stable order whatever the input order",
			[]string{"pids_max", "10", "io_max", "8:0 riops=5", "memory_max", "1M", "cpu_weight", "50", "cpu_max", "max",
				"io_weight", "200", "memory_swap_max", "max", "cpuset_mems", "0", "cpuset_cpus", "1", "memory_min", "1",
				"memory_low", "2", "memory_high", "3"},
			[]Setting{
				{"cpu_max", "cpu", "cpu.max", "max 100000"},
				{"cpu_weight", "cpu", "cpu.weight", "50"},
				{"cpuset_cpus", "cpuset", "cpuset.cpus", "1"},
				{"cpuset_mems", "cpuset", "cpuset.mems", "0"},
				{"memory_max", "memory", "memory.max", "1048576"},
				{"memory_high", "memory", "memory.high", "3"},
				{"memory_low", "memory", "memory.low", "2"},
				{"memory_min", "memory", "memory.min", "1"},
				{"memory_swap_max", "memory", "memory.swap.max", "max"},
				{"io_weight", "io", "io.weight", "default 200"},
				{"io_max", "io", "io.max", "8:0 riops=5"},
				{"pids_max", "pids", "pids.max", "10"},
			}, ""},

		// Refusals: a bad value is never silently max.
		{"memory_max garbage", []string{"memory_max", "12Q"}, nil, `memory_max: invalid size "12Q"`},
		{"memory_max empty", []string{"memory_max", ""}, nil, `memory_max: invalid size ""`},
		{"memory_max negative", []string{"memory_max", "-5"}, nil, `memory_max: invalid size "-5"`},
		{"memory_max overflow", []string{"memory_max", "9999999T"}, nil, `memory_max: invalid size "9999999T": out of range`},
		{"memory_high garbage", []string{"memory_high", "lots"}, nil, `memory_high: invalid size "lots"`},
		{"memory_low garbage", []string{"memory_low", "1.5M"}, nil, `memory_low: invalid size "1.5M"`},
		{"memory_min garbage", []string{"memory_min", "1X"}, nil, `memory_min: invalid size "1X"`},
		{"memory_swap_max garbage", []string{"memory_swap_max", "none"}, nil, `memory_swap_max: invalid size "none"`},
		{"pids_max garbage", []string{"pids_max", "ten"}, nil, `pids_max: invalid size "ten"`},
		{"pids_max negative", []string{"pids_max", "-1"}, nil, `pids_max: invalid size "-1"`},
		{"pids_max too big", []string{"pids_max", "4194305"}, nil, `pids_max: "4194305" out of range (at most 4194304 or max)`},
		{"pids_max empty", []string{"pids_max", ""}, nil, `pids_max: invalid size ""`},
		{"cpu_max bad", []string{"cpu_max", "500 100000"}, nil, "cpu_max: quota 500 out of range 1000..17592186044415 us"},
		{"cpu_max empty", []string{"cpu_max", ""}, nil, `cpu_max: invalid value "" (want max, max PERIOD, QUOTA/PERIOD or QUOTA PERIOD)`},
		{"cpu_weight zero", []string{"cpu_weight", "0"}, nil, "cpu_weight: weight 0 out of range 1..10000"},
		{"cpu_weight too big", []string{"cpu_weight", "10001"}, nil, "cpu_weight: weight 10001 out of range 1..10000"},
		{"cpu_weight garbage", []string{"cpu_weight", "heavy"}, nil, `cpu_weight: invalid weight "heavy" (want 1..10000)`},
		{"cpu_weight negative", []string{"cpu_weight", "-1"}, nil, `cpu_weight: invalid weight "-1" (want 1..10000)`},
		{"cpu_weight empty", []string{"cpu_weight", ""}, nil, `cpu_weight: invalid weight "" (want 1..10000)`},
		{"io_weight zero", []string{"io_weight", "0"}, nil, "io_weight: weight 0 out of range 1..10000"},
		{"io_weight default form refused", []string{"io_weight", "default 100"}, nil, `io_weight: invalid weight "default 100" (want 1..10000)`},
		{"cpuset empty", []string{"cpuset_cpus", ""}, nil, "cpuset_cpus: empty list"},
		{"cpuset descending", []string{"cpuset_cpus", "3-1"}, nil, `cpuset_cpus: invalid list "3-1": range "3-1" descends`},
		{"cpuset too big", []string{"cpuset_cpus", "0-8192"}, nil, `cpuset_cpus: invalid list "0-8192": 8192 out of range (< 8192)`},
		{"cpuset trailing comma", []string{"cpuset_cpus", "0,"}, nil, `cpuset_cpus: invalid list "0,": bad item ""`},
		{"cpuset spaces", []string{"cpuset_mems", "0, 1"}, nil, `cpuset_mems: invalid list "0, 1": bad item " 1"`},
		{"cpuset open range", []string{"cpuset_cpus", "2-"}, nil, `cpuset_cpus: invalid list "2-": bad item "2-"`},
		{"cpuset negative", []string{"cpuset_cpus", "-1"}, nil, `cpuset_cpus: invalid list "-1": bad item "-1"`},
		{"cpuset garbage", []string{"cpuset_mems", "all"}, nil, `cpuset_mems: invalid list "all": bad item "all"`},
		{"io_max device only", []string{"io_max", "8:0"}, nil, `io_max: invalid rule "8:0" (want MAJ:MIN key=value ...)`},
		{"io_max empty", []string{"io_max", ""}, nil, `io_max: invalid rule "" (want MAJ:MIN key=value ...)`},
		{"io_max bad device", []string{"io_max", "sda rbps=1"}, nil, `io_max: invalid device "sda" in rule "sda rbps=1" (want MAJ:MIN)`},
		{"io_max device out of range", []string{"io_max", "4096:0 rbps=1"}, nil, `io_max: invalid device "4096:0" in rule "4096:0 rbps=1" (want MAJ:MIN)`},
		{"io_max unknown key", []string{"io_max", "8:0 bps=1"}, nil, `io_max: invalid limit "bps=1" in rule "8:0 bps=1" (want rbps, wbps, riops or wiops=N|max)`},
		{"io_max no value", []string{"io_max", "8:0 rbps"}, nil, `io_max: invalid limit "rbps" in rule "8:0 rbps" (want rbps, wbps, riops or wiops=N|max)`},
		{"io_max zero", []string{"io_max", "8:0 rbps=0"}, nil, `io_max: invalid value "0" for rbps in rule "8:0 rbps=0" (want a positive integer or max)`},
		{"io_max iops with suffix", []string{"io_max", "8:0 riops=1K"}, nil, `io_max: invalid value "1K" for riops in rule "8:0 riops=1K" (want a positive integer or max)`},
		{"io_max negative", []string{"io_max", "8:0 wbps=-1"}, nil, `io_max: invalid value "-1" for wbps in rule "8:0 wbps=-1" (want a positive integer or max)`},
		{"io_max second rule bad", []string{"io_max", "8:0 rbps=1", "io_max", "8:0 x=1"}, nil, `io_max: invalid limit "x=1" in rule "8:0 x=1" (want rbps, wbps, riops or wiops=N|max)`},
		{"first error in stable order", []string{"memory_max", "bad", "cpu_max", "bad/1000"}, nil, `cpu_max: invalid quota "bad"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(headers(tc.kv...))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.wantErr)
				}
				var le *Error
				if !errors.As(err, &le) || !strings.HasPrefix(tc.wantErr, le.Key+": ") {
					t.Errorf("got error %#v, want an *Error whose Key starts the reason", err)
				}
				if got != nil {
					t.Errorf("got settings %v with an error, want none", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestParsePriority(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"50", 50, true}, {"100", 100, true}, {"007", 7, true},
		{"101", 0, false}, {"-1", 0, false}, {"", 0, false}, {"high", 0, false},
		{"5.5", 0, false}, {" 5", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePriority(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %d, %v; want %d, ok=%v", got, err, tc.want, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "priority: ") {
				t.Errorf("got error %q, want it to start with \"priority: \"", err)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"job-1", true},
		{"Job_2.log", true},
		{"...", true},
		{".hidden", true},
		{"a_", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{".", false},
		{"..", false},
		{"_daemon", false},
		{"../x", false},
		{"a/b", false},
		{"a b", false},
		{"a\nb", false},
		{"a\x00", false},
		{"jöb", false},
		{"a:b", false},
		{strings.Repeat("x", 65), false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			err := ValidID(tc.id)
			if (err == nil) != tc.ok {
				t.Errorf("ValidID(%q): got %v, want ok=%v", tc.id, err, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "id: ") {
				t.Errorf("got error %q, want it to start with \"id: \"", err)
			}
		})
	}
}

func TestParseNilFuncs(t *testing.T) {
	got, err := Parse(nil, nil)
	if got != nil || err != nil {
		t.Errorf("got %v, %v; want nothing", got, err)
	}
}

// TestParseWithRequest: the daemon passes a parsed request's methods.
func TestParseWithRequest(t *testing.T) {
	req, err := proto.Parse([]byte("RUN\nmemory_max: 1M\nio_max: 8:0 rbps=1\nio_max: 8:0 wbps=2\narg: true\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(req.Get, req.All)
	want := []Setting{
		{"memory_max", "memory", "memory.max", "1048576"},
		{"io_max", "io", "io.max", "8:0 rbps=1"},
		{"io_max", "io", "io.max", "8:0 wbps=2"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

func TestUnavailable(t *testing.T) {
	mem := Setting{Key: "memory_max", Controller: "memory", File: "memory.max", Value: "1"}
	cpu := Setting{Key: "cpu_weight", Controller: "cpu", File: "cpu.weight", Value: "1"}
	tests := []struct {
		name     string
		settings []Setting
		enabled  []string
		want     string
	}{
		{"none needed", nil, nil, ""},
		{"available", []Setting{mem, cpu}, []string{"cpu", "memory"}, ""},
		{"memory missing", []Setting{cpu, mem}, []string{"cpu"}, "memory_max memory"},
		{"no controllers", []Setting{cpu}, nil, "cpu_weight cpu"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if s, ok := Unavailable(tc.settings, tc.enabled); ok {
				got = s.Key + " " + s.Controller
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
