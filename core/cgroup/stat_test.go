package cgroup_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cgroupd/core/cgroup"
	"cgroupd/core/cgroup/cgrouptest"
)

func TestStatFake(t *testing.T) {
	tests := []struct {
		name    string
		d       cgroup.Dir
		want    cgroup.Stat
		wantErr bool
	}{
		{"full", fakeTree(t, "full").Child("job1"), cgroup.Stat{
			MemoryCurrent: 67108864, MemorySwapCurrent: 4096, PidsCurrent: 3,
			CPUUsageUsec: 1234567, IORBytes: 1030, IOWBytes: 2040}, false},
		{"hybrid: only cpu.stat", fakeTree(t, "hybrid").Child("job1"), cgroup.Stat{CPUUsageUsec: 42,
			NoMemory: true, NoSwap: true, NoPids: true, NoIO: true}, false},
		{"no files", cgroup.Dir(t.TempDir()), cgroup.Stat{NoMemory: true, NoSwap: true, NoPids: true, NoCPU: true, NoIO: true}, false},
		{"garbage", fakeTree(t, "garbage").Child("job1"), cgroup.Stat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.Stat()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !got.NoMemory {
				t.Errorf("got %+v after an error, want its figure unknown", got)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if err == nil && tc.d.MemoryCurrent() != tc.want.MemoryCurrent {
				t.Errorf("MemoryCurrent() = %d, want %d", tc.d.MemoryCurrent(), tc.want.MemoryCurrent)
			}
		})
	}
}

func TestParseIOBytes(t *testing.T) {
	tests := []struct {
		name, in string
		r, w     uint64
		wantErr  bool
	}{
		{"two devices", "8:0 rbytes=1 wbytes=2 rios=3\n8:16 rbytes=10 wbytes=20\n", 11, 22, false},
		{"empty", "", 0, 0, false},
		{"short and odd lines", "8:0\n\n8:0 foo rbytes=5 dbytes=9\n", 5, 0, false},
		{"bad number", "8:0 rbytes=x\n", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := cgroup.ParseIOBytes(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if r != tc.r || w != tc.w {
				t.Errorf("got %d/%d, want %d/%d", r, w, tc.r, tc.w)
			}
		})
	}
}

func TestParseCPUUsage(t *testing.T) {
	tests := []struct {
		name, in string
		want     uint64
		wantErr  bool
	}{
		{"usage", "usage_usec 77\nuser_usec 70\n", 77, false},
		{"absent", "user_usec 70\n", 0, false},
		{"short", "usage_usec\n", 0, false},
		{"bad", "usage_usec -3\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroup.ParseCPUUsage(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestStatReal(t *testing.T) {
	d := cgrouptest.Temp(t)
	cmd := startIn(t, d, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := d.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUUsageUsec == 0 {
		t.Errorf("CPUUsageUsec = 0 after a busy loop, want > 0")
	}
}

func TestUint(t *testing.T) {
	d := cgroup.Dir(t.TempDir())
	for _, tc := range []struct {
		name, content string // content "" with name "missing": no file
		want          uint64
	}{
		{"memory.low", "1048576\n", 1048576},
		{"memory.high", "max\n", math.MaxUint64},
		{"cpu.weight", "  300 \n", 300},
		{"pids.current", "garbage\n", 0},
		{"missing", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(string(d), tc.name), []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := d.Uint(tc.name); got != tc.want {
				t.Errorf("Uint(%s) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
}

// CPUUsage knows usage_usec only when cpu.stat has it: a missing file, a
// file without the key or a bad value is unknown, not 0.
func TestCPUUsageFake(t *testing.T) {
	noKey := cgroup.Dir(t.TempDir())
	if err := os.WriteFile(filepath.Join(string(noKey), cgroup.FileCPUStat), []byte("nr_periods 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    cgroup.Dir
		want uint64
		ok   bool
	}{
		{"full", fakeTree(t, "full").Child("job1"), 1234567, true},
		{"hybrid", fakeTree(t, "hybrid").Child("job1"), 42, true},
		{"no file", cgroup.Dir(t.TempDir()), 0, false},
		{"no usage_usec", noKey, 0, false},
		{"garbage", fakeTree(t, "garbage").Child("job1"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.d.CPUUsage()
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("CPUUsage() = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
