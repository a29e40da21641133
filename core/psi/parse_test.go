package psi

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	busy := PSI{
		Some:    Line{Avg10: 34.66, Avg60: 11.04, Avg300: 4.72, Total: 22885603},
		Full:    Line{Avg10: 12.5, Avg60: 3.01, Avg300: 0.99, Total: 8123456},
		HasFull: true,
	}
	tests := []struct {
		name, file, in string // file in testdata/psi, else in
		want           PSI
		wantErr        bool
	}{
		{name: "idle", file: "idle.txt", want: PSI{HasFull: true}},
		{name: "busy", file: "memory-busy.txt", want: busy},
		{name: "some only", file: "cpu-some-only.txt", want: PSI{Some: Line{Avg10: 1.23, Avg60: 0.5, Avg300: 0.1, Total: 987654}}},
		{name: "empty", file: "empty.txt", want: PSI{}},
		{name: "garbage number", file: "garbage.txt", wantErr: true},
		{name: "short line", file: "short.txt", wantErr: true},
		{name: "blank lines", in: "\n\nsome avg10=1.00 avg60=2.00 avg300=3.00 total=4\n\n", want: PSI{Some: Line{1, 2, 3, 4}}},
		{name: "unknown key kept", in: "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 future=9\n", want: PSI{Some: Line{1, 2, 3, 4}}},
		{name: "no trailing newline", in: "full avg10=0.00 avg60=0.00 avg300=0.00 total=7", want: PSI{Full: Line{Total: 7}, HasFull: true}},
		{name: "bare word", in: "some\n", wantErr: true},
		{name: "unknown kind", in: "most avg10=1.00 avg60=2.00 avg300=3.00 total=4\n", wantErr: true},
		{name: "no equals", in: "some avg10 avg60=2.00 avg300=3.00 total=4\n", wantErr: true},
		{name: "negative total", in: "some avg10=1.00 avg60=2.00 avg300=3.00 total=-4\n", wantErr: true},
		{name: "average over 100", in: "some avg10=101.00 avg60=2.00 avg300=3.00 total=4\n", wantErr: true},
		{name: "binary", in: "\x00\xff=\x01 =", wantErr: true},
		{name: "lone equals", in: "= = = =", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in string
			if tc.file != "" {
				b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "psi", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				in = string(b)
			} else {
				in = tc.in
			}
			got, err := Parse(strings.NewReader(in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "memory.pressure")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	p, err := ReadFile(filepath.Join("..", "..", "testdata", "psi", "garbage.txt"))
	if err == nil || !strings.Contains(err.Error(), "garbage.txt") {
		t.Errorf("garbage: got %+v, %v; want an error naming the file", p, err)
	}
	for _, res := range []string{"cpu", "memory", "io"} {
		path := "/proc/pressure/" + res
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s: PSI not available", path)
		}
		p, err := ReadFile(path)
		if err != nil {
			t.Fatalf("ReadFile(%s) = %v", path, err)
		}
		// System-wide cpu has a full line since 5.13; memory and io always.
		if res != "cpu" && !p.HasFull {
			t.Errorf("%s: HasFull = false, want true", path)
		}
	}
}
