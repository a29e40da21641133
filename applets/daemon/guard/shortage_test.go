package guard

import (
	"os"
	"path/filepath"
	"testing"

	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/hostmem"
)

// The limits above the jobs are read each sample: the nearest one within
// reach of memory.current is short; one lifted to max is not.
func TestShortage(t *testing.T) {
	top := t.TempDir()
	parent := filepath.Join(top, "slice")
	root := filepath.Join(parent, "cgroupd")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(dir, file, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{parent, root} {
		write(d, "cgroup.controllers", "memory")
		write(d, "memory.current", "1000000")
		write(d, "memory.high", "max")
		write(d, "memory.max", "max")
	}
	g := &Guard{limits: openLimits(root)}
	defer g.Close()
	if len(g.limits) != 2 {
		t.Fatalf("levels %d, want 2 (the root and its parent; the top has no cgroup.controllers)", len(g.limits))
	}
	calm := &hostmem.VM{Free: 1000, Low: 100, High: 150}
	check := func(what string, vm *hostmem.VM, want pressure.Shortage) {
		t.Helper()
		if got := g.shortage(vm); got != want {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
		}
	}
	check("no limits, host calm", calm, pressure.Shortage{Known: true})
	check("no limits, host unknown", nil, pressure.Shortage{})
	write(root, "memory.high", "67108864") // 64M
	write(root, "memory.current", "64000000")
	check("root at 64 MB of a 64M memory.high (within a sixteenth)", calm, pressure.Shortage{Known: true, What: "memory.high", Where: root})
	write(root, "memory.high", "max")
	check("root's cap lifted", calm, pressure.Shortage{Known: true})
	write(parent, "memory.max", "2000000")
	check("the parent's memory.max", calm, pressure.Shortage{Known: true, What: "memory.max", Where: parent})
	write(parent, "memory.max", "max")
	g.shortage(calm)
	check("the scanners ran", &hostmem.VM{Free: 1000, Low: 100, High: 150, ScanKswapd: 7}, pressure.Shortage{Known: true, What: "host"})
	check("free below the low watermark", &hostmem.VM{Free: 90, Low: 100, High: 150, ScanKswapd: 7}, pressure.Shortage{Known: true, What: "host"})
	check("calm again", &hostmem.VM{Free: 1000, Low: 100, High: 150, ScanKswapd: 7}, pressure.Shortage{Known: true})
}
