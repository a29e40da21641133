package ctl

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// top -b -n 1 on a fake TOP answer (testdata/ctl/top-snapshot.txt): the
// table in testdata/ctl/top-b.golden (go test -update rewrites it).
func TestTopBatchGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "ctl", "top-snapshot.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, err := parseTopResponse(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"0": "root", "1000": "alice"}
	got := renderTop(snap, "memory", 0, 0, time.Date(2026, 11, 30, 9, 41, 7, 0, time.UTC), func(u string) string { return names[u] })
	golden := filepath.Join("..", "..", "testdata", "ctl", "top-b.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseTop(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
		want topInv
	}{
		{nil, true, topInv{every: time.Second, sort: "memory"}},
		{[]string{"-b", "-n", "2", "-d", "0.5", "-s", "cpu"}, true, topInv{every: 500 * time.Millisecond, batch: true, n: 2, sort: "cpu"}},
		{[]string{"-d", "10ms"}, false, topInv{}},
		{[]string{"-n", "0"}, false, topInv{}},
		{[]string{"-s", "name"}, false, topInv{}},
		{[]string{"extra"}, false, topInv{}},
	} {
		got, err := parseTop(tc.args)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseTop(%q) = %+v, %v; want %+v ok %v", tc.args, got, err, tc.want, tc.ok)
		}
	}
}
