package pressure

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cgroupd/core/psi"
)

// A trace in testdata/pressure is a recording of the kernel's pressure
// files: "<ms since start> <memory|cpu|io> <line as the kernel wrote it>".
type traced struct {
	at time.Duration
	s  Sample
}

func readTrace(t *testing.T, name string) []traced {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "testdata", "pressure", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []traced
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 7 {
			t.Fatalf("%s:%d: %d fields, want 7", name, n, len(fs))
		}
		msec, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		at := time.Duration(msec) * time.Millisecond
		if len(out) == 0 || out[len(out)-1].at != at {
			out = append(out, traced{at: at})
		}
		var l psi.Line
		for _, kv := range fs[3:] {
			k, v, _ := strings.Cut(kv, "=")
			var err error
			switch k {
			case "avg10":
				l.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				l.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				l.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				l.Total, err = strconv.ParseUint(v, 10, 64)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				t.Fatalf("%s:%d: %v", name, n, err)
			}
		}
		s := &out[len(out)-1].s
		p := map[string]*psi.PSI{"memory": &s.Memory, "cpu": &s.CPU, "io": &s.IO}[fs[1]]
		if p == nil {
			t.Fatalf("%s:%d: unknown resource %q", name, n, fs[1])
		}
		switch fs[2] {
		case "some":
			p.Some = l
		case "full":
			p.Full, p.HasFull = l, true
		default:
			t.Fatalf("%s:%d: %q, want some or full", name, n, fs[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Real kernel counters, replayed: the engine follows a step of CPU pressure
// within a second, where the kernel's avg10 never reaches the threshold.
func TestTraces(t *testing.T) {
	type want struct {
		act      string
		from, to time.Duration
	}
	for _, tc := range []struct {
		file string
		want []want
	}{
		// Six busy loops on two CPUs from 3.0 s to 9.0 s: cpu some ~100%.
		// avg10 peaks at 43.51, below the default 50.
		{"host-cpu-hog.trace", []want{
			{"demote low", 3 * sec, 4 * sec},
			{"restore low", 9*sec + 2*sec, 13 * sec},
			// Other builds bring it back to 80-97% at 13.8 s.
			{"demote low", 13800 * ms, 15 * sec},
		}},
		// Builds of other engineers only: cpu some ~10%; nothing to do.
		{"host-cpu-busy.trace", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			jobs := newJobs(
				Job{ID: "low", Priority: 10, CPUWeight: 100},
				Job{ID: "high", Priority: 80, CPUWeight: 100},
			)
			e, err := New(Defaults(), jobs)
			if err != nil {
				t.Fatal(err)
			}
			origin := time.Unix(1_700_000_000, 0)
			var acts []got
			for _, tr := range readTrace(t, tc.file) {
				for _, a := range e.Observe(origin.Add(tr.at), tr.s) {
					acts = append(acts, got{at: tr.at, a: a})
					if a.Kind == Demote && a.SomeAvg10 >= 50 {
						t.Errorf("demote at avg10 %.2f: want it before avg10 reached the threshold", a.SomeAvg10)
					}
				}
			}
			if len(acts) != len(tc.want) {
				for _, g := range acts {
					t.Logf("%v at %v: %s", g, g.at, strings.Join(g.a.Explain, " "))
				}
				t.Fatalf("%d actions, want %d: %v", len(acts), len(tc.want), acts)
			}
			for i, w := range tc.want {
				g := acts[i]
				if g.String() != w.act || g.at < w.from || g.at > w.to {
					t.Errorf("action %d: %v at %v, want %q in [%v, %v]", i, g, g.at, w.act, w.from, w.to)
				}
				t.Logf("%v at %v: %s", g, g.at, strings.Join(g.a.Explain, " "))
			}
		})
	}
}
