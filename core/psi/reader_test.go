package psi

import (
	"os"
	"path/filepath"
	"testing"
)

// A file outside procfs is read afresh every time, even when it is
// replaced by a rename between reads (tests' fake pressure files).
func TestReaderFakeFileFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "memory")
	write := func(avg string) {
		tmp := p + ".tmp"
		data := "some avg10=" + avg + " avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
		if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(p)
	defer r.Close()
	for _, avg := range []string{"1.50", "42.00"} {
		write(avg)
		got, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := parseAvg(avg); got.Some.Avg10 != want {
			t.Fatalf("some avg10 %v after writing %s", got.Some.Avg10, avg)
		}
	}
}

// On procfs the file is kept open and each read gives what ReadFile gives.
func TestReaderProcfsKeepsTheFile(t *testing.T) {
	const p = "/proc/pressure/cpu"
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PSI under CI=true: %v", err)
		}
		t.Skipf("no PSI on this kernel: %v", err)
	}
	r := NewReader(p)
	defer r.Close()
	for i := 0; i < 3; i++ {
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
	}
	if r.fd < 0 {
		t.Fatal("the procfs file was not kept open")
	}
	want, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got.Some.Total < want.Some.Total {
		t.Fatalf("kept file read %d, behind a fresh read's %d", got.Some.Total, want.Some.Total)
	}
}
