package runreq

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/proto"
)

// bigRun is a RUN of "true" with env lines E0=v, E1=v, ... up to about
// size bytes or the most header lines a request may have (the request
// as the daemon reads it, parsed).
func bigRun(t testing.TB, size int) *proto.Request {
	b := []byte("RUN\narg: true\n")
	for i := 0; len(b) < size-16 && i < proto.MaxHeaders-1; i++ {
		b = append(b, "env: E"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, "=v\n"...)
	}
	r, err := proto.Parse(append(b, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestParseRunAtSizeLimit: a RUN of the most header lines a request may
// have, all env lines (65 535), is validated in time linear in its size.
// Setting each K=V by a scan of the env so far took 5.6 s at 40 000
// lines; the gross bound (10 s) only catches that shape, and
// BenchmarkParseRunEnv gives the figures.
func TestParseRunAtSizeLimit(t *testing.T) {
	r := bigRun(t, proto.MaxRequest)
	done := make(chan []string, 1)
	go func() {
		s, rf := Parse(r, Env{Env: []string{"PATH=/bin", "E1=daemon"}, Cwd: "/", NewID: func() string { return "j" },
			Taken: func(string) bool { return false }})
		if rf != nil {
			t.Errorf("got refusal %q", rf.Reason)
			done <- nil
			return
		}
		done <- s.Env
	}()
	select {
	case env := <-done:
		if n := len(r.All("env")); len(env) != n+1 || env[0] != "PATH=/bin" || env[1] != "E1=v" || !strings.HasPrefix(env[2], "E0=") {
			t.Errorf("got %d env entries starting %q, want %d: PATH, E1 replaced in place, then E0...", len(env), env[:min(3, len(env))], n+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a 4 MiB RUN of env lines took over 10 s to validate: quadratic?")
	}
}

// TestRunCountBounds: the repeatable keys whose every value costs the
// loop a check or the spawner a process have a bound, refused by name.
func TestRunCountBounds(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		max        int
	}{
		{"require_path", "/", maxRequirePaths},
		{"service", "true", maxServices},
		{"io_max", "8:0 rbps=1", maxIOMaxRules},
	} {
		t.Run(tc.key, func(t *testing.T) {
			for _, n := range []int{tc.max, tc.max + 1} {
				kv := []string{"arg", "true"}
				for i := 0; i < n; i++ {
					kv = append(kv, tc.key, tc.value)
				}
				_, rf := Parse(req("RUN", kv...), Env{Cwd: "/", NewID: func() string { return "j" }, Taken: func(string) bool { return false }})
				want := ""
				if n > tc.max {
					want = tc.key + ": given " + strconv.Itoa(n) + " times, at most " + strconv.Itoa(tc.max)
				}
				if got := reason(rf); got != want {
					t.Errorf("%d values: got refusal %q, want %q", n, got, want)
				}
			}
		})
	}
}

func reason(rf *supervisor.Refusal) string {
	if rf == nil {
		return ""
	}
	return rf.Reason
}

// BenchmarkParseRunEnv is the loop's validation of a RUN of env lines
// (parseRun, without the path checks' change of identity).
func BenchmarkParseRunEnv(b *testing.B) {
	for _, size := range []int{64 << 10, proto.MaxRequest} {
		r := bigRun(b, size)
		b.Run(strconv.Itoa(len(r.Headers))+"lines", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Parse(r, Env{Env: []string{"PATH=/bin"}, Cwd: "/", NewID: func() string { return "j" }, Taken: func(string) bool { return false }})
			}
		})
	}
}
