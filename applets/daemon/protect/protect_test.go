package protect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cgroupd/core/cgroup"
	"cgroupd/core/limits"
)

// tree makes a fake root with job cgroups holding the given files.
func tree(t *testing.T, files map[string]string) cgroup.Dir {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for name, v := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cgroup.Dir(root)
}

func read(t *testing.T, d cgroup.Dir, file string) string {
	t.Helper()
	s, err := d.Read(file)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return s
}

func TestApply(t *testing.T) {
	full := map[string]string{"memory.low": "0\n", "svc/memory.low": "0\n", "svc/cpu.weight": "100\n"}
	for _, tc := range []struct {
		name             string
		files            map[string]string
		priority         int
		run              []limits.Setting
		weight, low, top string
		logs             string
	}{
		{"protected", full, 90, nil, "900", "max", "max", ""},
		{"memory.low off", full, 90, nil, "900", "0", "0", ""},
		{"at the level", full, 60, nil, "300", "max", "max", ""},
		{"below the level", full, 50, nil, "100", "0", "0", ""},
		{"explicit limits win", full, 90, []limits.Setting{{Key: "cpu_weight"}, {Key: "memory_low"}}, "100", "0", "0", ""},
		{"no controllers", map[string]string{"svc/cgroup.procs": ""}, 90, nil, "<", "<", "<", ""},
		{"root grants already", map[string]string{"memory.low": "1000\n", "svc/memory.low": "0\n", "svc/cpu.weight": "100\n"}, 90, nil, "900", "max", "1000", ""},
		{"an ancestor grants none", map[string]string{"memory.low": "0\n", "svc/memory.low": "0\n", "svc/cpu.weight": "100\n", "../memory.low": "0\n"}, 90, nil, "900", "max", "max", "grants none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			var logs []string
			s := New(root, 60, tc.name != "memory.low off", func(f string, a ...any) { logs = append(logs, f) })
			cg := root.Child("svc")
			s.Apply("svc", cg, tc.priority, tc.run)
			for _, c := range []struct {
				d          cgroup.Dir
				file, want string
			}{
				{cg, "cpu.weight", tc.weight}, {cg, "memory.low", tc.low}, {root, "memory.low", tc.top},
			} {
				if got := read(t, c.d, c.file); !strings.HasPrefix(got, c.want) {
					t.Errorf("%s: got %q, want %q", c.file, got, c.want)
				}
			}
			if got := strings.Join(logs, "|"); tc.logs == "" && got != "" || !strings.Contains(got, tc.logs) {
				t.Errorf("logs %q, want %q", got, tc.logs)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	root := tree(t, map[string]string{"memory.low": "5000\n", "svc/memory.low": "max\n", "svc/x/memory.low": "7000\n"})
	low, at := Effective(root.Child("svc").Child("x"))
	if low != 5000 || at != root {
		t.Errorf("got %d at %s, want 5000 at the root", low, at)
	}
}

func TestProtected(t *testing.T) {
	root := tree(t, map[string]string{
		"svc/memory.low": "0\n", "svc/cgroup.events": "populated 1\nfrozen 0\n",
		"svc/memory.current": "1000\n", "svc/memory.stat": "anon 400\nfile 600\nkernel 0\n",
		"gone/memory.low": "0\n", "gone/cgroup.events": "populated 0\nfrozen 0\n",
	})
	s := New(root, 60, true, nil)
	s.Apply("svc", root.Child("svc"), 90, nil)
	s.Apply("gone", root.Child("gone"), 90, nil)
	s.Apply("batch", root.Child("batch"), 5, nil)
	got := s.Protected()
	if len(got) != 1 || got[0].ID != "svc" || got[0].File != 600 || got[0].Priority != 90 {
		t.Errorf("got %+v, want svc with file 600", got)
	}
	if len(s.jobs) != 1 {
		t.Errorf("the ended job was kept: %v", s.jobs)
	}
}

// A job adopted after a restart is watched again, and its cgroup is not
// written: its settings are the ones its first daemon made.
func TestAdopted(t *testing.T) {
	root := tree(t, map[string]string{
		"svc/cpu.weight": "900\n", "svc/cgroup.events": "populated 1\nfrozen 0\n", "svc/memory.stat": "file 7\n",
	})
	s := New(root, 60, false, nil)
	s.Adopted("svc", root.Child("svc"), 90)
	s.Adopted("batch", root.Child("batch"), 5)
	if got := s.Protected(); len(got) != 1 || got[0].ID != "svc" || got[0].File != 7 {
		t.Errorf("got %+v, want the adopted svc", got)
	}
	if w, _ := root.Child("svc").Read("cpu.weight"); w != "900" {
		t.Errorf("cpu.weight rewritten to %s on adoption", w)
	}
}

func TestOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		priority int
		root     bool
		want     int
	}{
		{0, true, 500}, {5, true, 450}, {30, true, 200}, {50, true, 0}, {90, true, -400}, {100, true, -500},
		{5, false, 450}, {50, false, 0}, {90, false, 0}, // a non-root caller cannot protect its job
	} {
		if got := OOMScoreAdj(tc.priority, tc.root); got != tc.want {
			t.Errorf("OOMScoreAdj(%d, root=%v) = %d, want %d", tc.priority, tc.root, got, tc.want)
		}
	}
}
