package kfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), 100)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("populated 1\nfrozen 0\n")},
		{"larger than the first buffer", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Errorf("got %d bytes, want %d", len(got), len(tc.data))
			}
		})
	}
	_, err := Read(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "missing") {
		t.Errorf("error %v does not name the path", err)
	}
}

func TestReadProc(t *testing.T) {
	// procfs reports size 0: the loop must read until EOF.
	got, err := Read("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte("VmRSS")) {
		t.Errorf("no VmRSS in %q", got)
	}
}
