package hostmem

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const sample = `MemTotal:        1001672 kB
MemFree:           61232 kB
MemAvailable:      98304 kB
Buffers:            1024 kB
SwapCached:            0 kB
SwapTotal:        524288 kB
SwapFree:         262144 kB
HugePages_Total:       0
`

func TestParse(t *testing.T) {
	i, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Total: 1001672 << 10, Available: 98304 << 10, SwapTotal: 524288 << 10, SwapFree: 262144 << 10}
	if i != want {
		t.Errorf("got %+v, want %+v", i, want)
	}
	if p := i.SwapFreePct(); p != 50 {
		t.Errorf("swap free %v%%, want 50", p)
	}
	if p := i.AvailablePct(); p < 9.8 || p > 9.9 {
		t.Errorf("available %v%%, want ~9.81", p)
	}
	if (Info{Total: 1}).SwapFreePct() != 0 {
		t.Error("no swap must read as 0% free")
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"",                                  // empty
		"MemTotal: 100 kB\n",                // before 3.14: no MemAvailable
		"MemTotal: 100 kB\nMemAvailable:\n", // no value
		"MemTotal: x kB\nMemAvailable: 1 kB\n",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q): no error", in)
		}
	}
	if _, err := Parse([]byte("MemTotal: 100 kB\n")); !errors.Is(err, ErrNoAvailable) {
		t.Errorf("got %v, want ErrNoAvailable", err)
	}
}

// Reader re-reads the file at offset 0: a changed file is seen on the next
// Read without reopening.
func TestReader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.WriteFile(p, []byte("MemTotal: 2000 kB\nMemAvailable: 1000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	i, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if i.Total != 2000<<10 || i.Available != 1000<<10 || i.SwapTotal != 0 {
		t.Errorf("got %+v", i)
	}
	// The real file, when there is one: parses and is plausible.
	if r, err := Open("/proc/meminfo"); err == nil {
		i, err := r.Read()
		r.Close()
		if err != nil || i.Total == 0 || i.Available > i.Total {
			t.Errorf("/proc/meminfo: %+v, %v", i, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Open of a missing file: no error")
	}
}

func TestOOMScoreAdj(t *testing.T) {
	p := filepath.Join(t.TempDir(), "oom_score_adj")
	if err := os.WriteFile(p, []byte("-17\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := OpenOOMScoreAdj(p)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Value() != -17 {
		t.Errorf("value %d, want -17", o.Value())
	}
	if err := o.Set(300); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b[:3]) != "300" || o.Value() != 300 {
		t.Errorf("file %q value %d, want 300", b, o.Value())
	}
}

func TestLockExecutable(t *testing.T) {
	n, err := LockExecutable()
	if err != nil {
		t.Skipf("mlock refused here: %v", err) // RLIMIT_MEMLOCK without CAP_IPC_LOCK
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var lck int
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmLck:"); ok {
			lck, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	if n <= 0 || lck*1024 < n {
		t.Errorf("locked %d bytes, VmLck %d kB", n, lck)
	}
}

// As root (these machines, the VM) CanLockAll holds; the answer matches
// what the kernel says of our capabilities.
func TestCanLockAll(t *testing.T) {
	ok, _ := CanLockAll()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	want := false
	for _, l := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(l, "CapEff:"); found {
			caps, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			want = caps&(1<<14) != 0
		}
	}
	if want && !ok {
		t.Errorf("CanLockAll false with CAP_IPC_LOCK in CapEff")
	}
}
