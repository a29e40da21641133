package guard

import (
	"cgroupd/core/cgroup"
	"cgroupd/core/hostmem"
	"cgroupd/core/psi"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAdmission(t *testing.T) {
	def := Thresholds{MemAdmitSome: 80, MemAdmitFull: 15, CPUAdmitSome: 95, IOAdmitFull: 80}
	p := func(some, full float64) psi.PSI {
		return psi.PSI{Some: psi.Line{Avg10: some}, Full: psi.Line{Avg10: full}, HasFull: true}
	}
	tests := []struct {
		name   string
		th     Thresholds
		host   map[string]psi.PSI // missing resource: PSI off
		want   string
		wantRs string
	}{
		{"calm host", def, map[string]psi.PSI{"memory": p(1, 0), "cpu": p(3, 0), "io": p(0, 0)}, "", ""},
		{"memory some", def, map[string]psi.PSI{"memory": p(80, 1), "cpu": p(99, 0), "io": p(0, 0)},
			"admission blocked: memory.some.avg10 80.00 >= 80.00", "memory"},
		{"memory full", def, map[string]psi.PSI{"memory": p(20, 15.5), "cpu": p(0, 0), "io": p(0, 0)},
			"admission blocked: memory.full.avg10 15.50 >= 15.00", "memory"},
		{"cpu some", def, map[string]psi.PSI{"memory": p(0, 0), "cpu": p(96.123, 0), "io": p(0, 0)},
			"admission blocked: cpu.some.avg10 96.12 >= 95.00", "cpu"},
		{"io full", def, map[string]psi.PSI{"memory": p(0, 0), "cpu": p(0, 0), "io": p(90, 80)},
			"admission blocked: io.full.avg10 80.00 >= 80.00", "io"},
		{"zero threshold blocks a calm host", Thresholds{MemAdmitSome: 0, MemAdmitFull: -1, CPUAdmitSome: -1, IOAdmitFull: -1},
			map[string]psi.PSI{"memory": p(0, 0)}, "admission blocked: memory.some.avg10 0.00 >= 0.00", "memory"},
		{"all disabled", Thresholds{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, map[string]psi.PSI{"memory": p(100, 100)}, "", ""},
		{"psi off", def, map[string]psi.PSI{}, "", ""},
		{"rounds to two decimals", def, map[string]psi.PSI{"memory": p(0, 0), "cpu": p(99.999, 0), "io": p(0, 0)},
			"admission blocked: cpu.some.avg10 100.00 >= 95.00", "cpu"},
		{"order: memory some first", def, map[string]psi.PSI{"memory": p(90, 90), "cpu": p(99, 0), "io": p(99, 99)},
			"admission blocked: memory.some.avg10 90.00 >= 80.00", "memory"},
		{"order: memory full before cpu", def, map[string]psi.PSI{"memory": p(0, 20), "cpu": p(99, 0), "io": p(99, 99)},
			"admission blocked: memory.full.avg10 20.00 >= 15.00", "memory"},
		{"just below", def, map[string]psi.PSI{"memory": p(79.999, 0), "cpu": p(0, 0), "io": p(0, 0)}, "", ""},
		{"spec example", Thresholds{MemAdmitSome: 0, MemAdmitFull: -1, CPUAdmitSome: -1, IOAdmitFull: -1},
			map[string]psi.PSI{"memory": p(3.2, 0)}, "admission blocked: memory.some.avg10 3.20 >= 0.00", "memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := admission(tc.th, func(r string) (psi.PSI, error) {
				v, ok := tc.host[r]
				if !ok {
					return psi.PSI{}, os.ErrNotExist
				}
				return v, nil
			})
			got, gotRs := "", ""
			if b != nil {
				got, gotRs = b.Reason, b.Resource
			}
			if got != tc.want || gotRs != tc.wantRs {
				t.Errorf("got %q (%s), want %q (%s)", got, gotRs, tc.want, tc.wantRs)
			}
		})
	}
}

func TestHeadroomBlock(t *testing.T) {
	def := DefaultThresholds()
	write := func(s string) func() (hostmem.Info, error) {
		p := filepath.Join(t.TempDir(), "meminfo")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := hostmem.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r.Read
	}
	noPSI := func(string) (psi.PSI, error) { return psi.PSI{}, os.ErrNotExist }
	low := write("MemTotal: 1000000 kB\nMemAvailable: 50000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n")
	if b := headroomBlock(def, low, noPSI); b == nil || b.Reason != "admission blocked: host memory available 5.00% < 10.00%" {
		t.Errorf("5%% available: got %+v", b)
	}
	if b := headroomBlock(def, write("MemTotal: 1000000 kB\nMemAvailable: 500000 kB\n"), noPSI); b != nil {
		t.Errorf("50%% available: got %+v, want admitted", b)
	}
	swap := write("MemTotal: 1000000 kB\nMemAvailable: 50000 kB\nSwapTotal: 100 kB\nSwapFree: 50 kB\n")
	if b := headroomBlock(def, swap, noPSI); b != nil {
		t.Errorf("swap half free: got %+v, want admitted", b)
	}
	off := def
	off.HostMemKill = -1
	if b := headroomBlock(off, low, noPSI); b != nil || headroomBlock(def, nil, noPSI) != nil {
		t.Errorf("rule off or meminfo unknown: got a block")
	}
}

// The root's pressure files are read each sample; a missing one reads as
// zero.
func TestRootSample(t *testing.T) {
	g := New(Config{Root: cgroup.Dir("../../../testdata/daemon/cgroupfs/root")}, nil, nil)
	mem, cpu, io := g.rootSample()
	if mem.Some.Avg10 != 3 || cpu.Some.Avg10 != 0 || io.Some.Avg10 != 0 {
		t.Errorf("got memory %v cpu %v io %v, want memory some 3.00 and zeros for missing files", mem, cpu, io)
	}
}

// A --host-pressure tree that is not procfs (a test's fake, rewritten
// between RUNs) is read at every admission: the reuse of admitFresh is
// for the kernel's own files only.
func TestAdmitRereadsFakeFiles(t *testing.T) {
	dir := t.TempDir()
	set := func(memSome string) {
		for _, r := range []string{"memory", "cpu", "io"} {
			v := "0.00"
			if r == "memory" {
				v = memSome
			}
			body := "some avg10=" + v + " avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
			if err := os.WriteFile(filepath.Join(dir, r), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	g := New(Config{HostPressure: dir, Thresholds: DefaultThresholds()}, nil, nil)
	set("90.00")
	if b := g.Admit(); b == nil || b.Reason != "admission blocked: memory.some.avg10 90.00 >= 80.00" {
		t.Fatalf("memory some 90: got %+v", b)
	}
	set("1.00")
	if b := g.Admit(); b != nil {
		t.Fatalf("memory some 1, at once after 90: got %+v, want admitted", b)
	}
	set("85.00")
	if b := g.Admit(); b == nil {
		t.Fatal("memory some 85, at once after 1: admitted, want blocked")
	}
}

// The kernel's files are kept open and read again once admitFresh has
// passed.
func TestAdmitReusesProcfs(t *testing.T) {
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		// A kernel without PSI: nothing is read, nothing reused.
		g := New(Config{HostPressure: "/proc/pressure", Thresholds: DefaultThresholds()}, nil, nil)
		if b := g.Admit(); b != nil || g.seen.psi[0] != nil {
			t.Fatalf("no /proc/pressure: got %+v, reading kept %v", b, g.seen.psi[0] != nil)
		}
		return
	}
	g := New(Config{HostPressure: "/proc/pressure", Thresholds: DefaultThresholds()}, nil, nil)
	g.Admit()
	if !g.hostPSIFiles["memory"].Kept() || g.seen.psi[0] == nil {
		t.Fatalf("/proc/pressure/memory: kept %v, reading reused %v", g.hostPSIFiles["memory"].Kept(), g.seen.psi[0] != nil)
	}
	g.seen.at = g.seen.at.Add(-admitFresh)
	g.Admit()
	if time.Since(g.seen.at) >= admitFresh {
		t.Fatal("a reading older than admitFresh was not replaced")
	}
}
