package hostmem

import (
	"os"
	"strings"
	"testing"
)

func TestParseVMStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     VM
		err      bool
	}{
		{"counters", "nr_free_pages 1000\nnr_zone_inactive_anon 5\npgscan_kswapd 7\npgscan_direct 3\nworkingset_refault_file 11\n",
			VM{Free: 1000, ScanKswapd: 7, ScanDirect: 3, RefaultFile: 11}, false},
		{"before 5.9", "nr_free_pages 1\nworkingset_refault 4\n", VM{Free: 1, RefaultFile: 4}, false},
		{"no free", "pgscan_kswapd 7\n", VM{}, true},
		{"bad value", "nr_free_pages x\npgscan_kswapd 3\n", VM{ScanKswapd: 3}, false},
		{"short lines", "\nnr_free_pages\nnr_free_pages 2", VM{Free: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v VM
			err := ParseVMStat([]byte(tc.in), &v)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if !tc.err && v != tc.want {
				t.Errorf("got %+v, want %+v", v, tc.want)
			}
		})
	}
}

const zoneinfo = `Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 920
  pages free     3970
        boost    0
        min      33
        low      41
        high     49
        spanned  4095
        present  3998
        managed  3976
        protection: (0, 2, 2, 2)
  pagesets
    cpu: 0
              count: 0
              high:  0
Node 0, zone    DMA32
  pages free     200000
        boost    100
        min      5000
        low      6250
        high     7500
        managed  250000
    cpu: 0
              count: 10
              high:  378
Node 0, zone   Normal
  pages free     0
        boost    0
        min      0
        low      0
        high     0
        managed  0
`

func TestParseWatermarks(t *testing.T) {
	v := VM{Free: 9}
	ParseWatermarks([]byte(zoneinfo), &v)
	want := VM{Free: 9, Min: 33 + 5100, Low: 41 + 6350, High: 49 + 7600}
	if v != want {
		t.Errorf("got %+v, want %+v", v, want)
	}
	ParseWatermarks([]byte("Node 0, zone DMA\n  pages free\n min\n managed 5\n"), &v)
	if v.Min != 0 || v.High != 0 {
		t.Errorf("a short zone: got %+v, want no watermarks", v)
	}
}

// The cost of one sample: the daemon reads /proc/vmstat every sample and
// /proc/zoneinfo once a housekeeping tick (scripts/BENCH.md).
func BenchmarkReadVMStat(b *testing.B) { benchRead(b, "/proc/vmstat", false) }

func BenchmarkReadZoneinfo(b *testing.B) { benchRead(b, "/proc/zoneinfo", true) }

func benchRead(b *testing.B, path string, zones bool) {
	f, err := OpenFile(path)
	if err != nil {
		b.Skip(err)
	}
	defer f.Close()
	var v VM
	for b.Loop() {
		buf, err := f.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
		if zones {
			ParseWatermarks(buf, &v)
		} else if err := ParseVMStat(buf, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// A zoneinfo of a big host (4 zones × 256 CPUs, parsed only: the kernel's
// cost of making it is in the file reads above).
func BenchmarkParseZoneinfoBig(b *testing.B) {
	real, err := os.ReadFile("/proc/zoneinfo")
	if err != nil {
		b.Skip(err)
	}
	i := strings.Index(string(real), "    cpu: 0")
	j := strings.Index(string(real[i+1:]), "    cpu: ")
	if i < 0 || j < 0 {
		b.Skip("no pagesets in /proc/zoneinfo")
	}
	cpu := strings.Repeat(string(real[i:i+1+j]), 256)
	big := []byte(strings.Repeat(zoneinfo[:strings.Index(zoneinfo, "    cpu:")]+cpu, 4))
	var v VM
	b.SetBytes(int64(len(big)))
	for b.Loop() {
		ParseWatermarks(big, &v)
	}
}
