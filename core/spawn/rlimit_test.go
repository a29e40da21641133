package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseUlimit(t *testing.T) {
	tests := []struct {
		in   string
		want Rlimit
		err  string
	}{
		{"nofile=1024:4096", Rlimit{unix.RLIMIT_NOFILE, 1024, 4096}, ""},
		{"nproc=50", Rlimit{unix.RLIMIT_NPROC, 50, 50}, ""},
		{"core=0:unlimited", Rlimit{unix.RLIMIT_CORE, 0, Infinity}, ""},
		{"stack=-1", Rlimit{unix.RLIMIT_STACK, Infinity, Infinity}, ""},
		{"nofile=10:5", Rlimit{}, "nofile: soft limit 10 is above the hard limit 5"},
		{"nofile", Rlimit{}, "want NAME=SOFT[:HARD]"},
		{"files=1", Rlimit{}, `"files": no such resource`},
		{"nofile=many", Rlimit{}, `nofile: "many": want a number or unlimited`},
		{"nofile=1:", Rlimit{}, `nofile: "": want a number`},
	}
	for _, tc := range tests {
		got, err := ParseUlimit(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseUlimit(%q): got %v, %v, want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseUlimit(%q): got %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestStartRlimits: the limits are the job's from its first instruction,
// on the clone3 path (set at its exec stop) and on the fallback path
// (set on the helper before its release), whatever the daemon's own
// are; a limit that cannot be set refuses the start with nothing run.
func TestStartRlimits(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (raising a hard limit)")
	}
	rl := []Rlimit{{unix.RLIMIT_NOFILE, 100, 200}, {unix.RLIMIT_NPROC, 50, 60}, {unix.RLIMIT_CORE, 0, Infinity}}
	for _, fallback := range []bool{false, true} {
		name := map[bool]string{false: "clone3", true: "fallback"}[fallback]
		t.Run(name, func(t *testing.T) {
			d, fd := jobCgroup(t)
			out := filepath.Join(t.TempDir(), "out")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p, err := Start(&Cmd{Path: "/bin/sh", Argv: []string{"sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Sp; ulimit -Hp; ulimit -Sc; ulimit -Hc"},
				Stdout: f, CgroupFD: fd, CgroupPath: string(d), Fallback: fallback, Self: self(t), Rlimits: rl})
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(p.PidFD)
			if st := waitExit(t, p); st != (Status{}) {
				t.Fatalf("status %+v, want exit 0", st)
			}
			b, _ := os.ReadFile(out)
			if got := strings.Fields(string(b)); strings.Join(got, " ") != "100 200 50 60 0 unlimited" {
				t.Errorf("job's limits (nofile, nproc, core; soft, hard): got %v, want [100 200 50 60 0 unlimited]", got)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		d, fd := jobCgroup(t)
		// RLIMIT_NOFILE above fs.nr_open: EPERM even for root.
		_, err := Start(&Cmd{Path: "/bin/true", Argv: []string{"true"}, CgroupFD: fd, CgroupPath: string(d), Self: self(t),
			Rlimits: []Rlimit{{unix.RLIMIT_NOFILE, 1 << 40, 1 << 40}}})
		var re *RlimitError
		if !errors.As(err, &re) || re.Limit.Resource != unix.RLIMIT_NOFILE {
			t.Fatalf("got %v, want an RlimitError for nofile", err)
		}
		if procs, _ := os.ReadFile(filepath.Join(string(d), "cgroup.procs")); len(procs) != 0 {
			t.Errorf("after the refusal the cgroup holds %q, want nothing", procs)
		}
	})
}
