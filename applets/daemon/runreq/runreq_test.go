package runreq

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"cgroupd/core/proto"
)

func TestParseRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=/bin", "HOME=/root"}
	tests := []struct {
		name   string
		req    *proto.Request
		reason string // refusal reason (prefix); "" = accepted
		check  func(t *testing.T, s *Spec)
	}{
		{name: "minimal", req: req("RUN", "arg", "true"), check: func(t *testing.T, s *Spec) {
			if s.ID != "job-1" || s.Priority != 50 || s.Cwd != "/daemon" || !reflect.DeepEqual(s.Argv, []string{"true"}) {
				t.Errorf("got %+v, want id job-1 priority 50 cwd /daemon argv [true]", s)
			}
		}},
		{name: "generated id skips taken", req: req("RUN", "arg", "true"), check: func(t *testing.T, s *Spec) {}},
		{name: "env overrides by key", req: req("RUN", "arg", "env", "env", "HOME=/x", "env", "NEW=1", "env", "EMPTY="),
			check: func(t *testing.T, s *Spec) {
				want := []string{"PATH=/bin", "HOME=/x", "NEW=1", "EMPTY="}
				if !reflect.DeepEqual(s.Env, want) {
					t.Errorf("got env %q, want %q", s.Env, want)
				}
			}},
		{name: "everything", req: req("RUN", "id", "a.b-c_1", "priority", "10", "cwd", dir, "require_path", file,
			"service", "sleep 1", "service", "sleep 2", "queue_timeout", "30s", "arg", "sleep", "arg", "1"),
			check: func(t *testing.T, s *Spec) {
				if s.ID != "a.b-c_1" || s.Priority != 10 || s.Cwd != dir || len(s.Services) != 2 ||
					len(s.RequirePaths) != 1 || s.QueueTimeout != 30*time.Second {
					t.Errorf("got %+v", s)
				}
			}},
		{name: "relative cwd", req: req("RUN", "arg", "x", "cwd", filepath.Base(dir)), reason: "cwd: "},
		{name: "id exists", req: req("RUN", "id", "taken", "arg", "true"), reason: "id exists"},
		{name: "id dotdot", req: req("RUN", "id", "..", "arg", "true"), reason: "id: "},
		{name: "id escape", req: req("RUN", "id", "../x", "arg", "true"), reason: "id: "},
		{name: "id dot", req: req("RUN", "id", ".", "arg", "true"), reason: "id: "},
		{name: "id underscore", req: req("RUN", "id", "_daemon", "arg", "true"), reason: "id: "},
		{name: "id slash", req: req("RUN", "id", "a/b", "arg", "true"), reason: "id: "},
		{name: "id empty", req: req("RUN", "id", "", "arg", "true"), reason: "id: "},
		{name: "id 65 chars", req: req("RUN", "id", strings.Repeat("a", 65), "arg", "true"), reason: "id: "},
		{name: "id 64 chars", req: req("RUN", "id", strings.Repeat("a", 64), "arg", "true")},
		{name: "no command", req: req("RUN", "id", "x"), reason: "no command"},
		{name: "empty command", req: req("RUN", "arg", ""), reason: "no command"},
		{name: "bad size", req: req("RUN", "arg", "x", "memory_max", "12Q"), reason: "memory_max: "},
		{name: "bad cpu_weight", req: req("RUN", "arg", "x", "cpu_weight", "0"), reason: "cpu_weight: "},
		{name: "bare cpu_max quota", req: req("RUN", "arg", "x", "cpu_max", "100000"), reason: "cpu_max: invalid value"},
		{name: "bad priority", req: req("RUN", "arg", "x", "priority", "101"), reason: "priority: "},
		{name: "bad queue_timeout", req: req("RUN", "arg", "x", "queue_timeout", "soon"), reason: "queue_timeout: "},
		{name: "zero queue_timeout", req: req("RUN", "arg", "x", "queue_timeout", "0s"), reason: "queue_timeout: 0s: want more than 0 and at most 24h0m0s"},
		{name: "queue_timeout over a day", req: req("RUN", "arg", "x", "queue_timeout", "25h"), reason: "queue_timeout: 25h0m0s: want more than 0"},
		{name: "negative queue_timeout", req: req("RUN", "arg", "x", "queue_timeout", "-3s"), reason: "queue_timeout: invalid duration"},
		{name: "queue_timeout in seconds", req: req("RUN", "arg", "x", "queue_timeout", "90"), check: func(t *testing.T, s *Spec) {
			if s.QueueTimeout != 90*time.Second {
				t.Errorf("got queue timeout %v, want 1m30s", s.QueueTimeout)
			}
		}},
		{name: "env without =", req: req("RUN", "arg", "x", "env", "FOO"), reason: "env: "},
		{name: "cwd missing", req: req("RUN", "arg", "x", "cwd", filepath.Join(dir, "nope")), reason: "cwd: "},
		{name: "cwd not dir", req: req("RUN", "arg", "x", "cwd", file), reason: "cwd: "},
		{name: "require_path missing", req: req("RUN", "arg", "x", "require_path", file, "require_path", "/nonexistent/p"),
			reason: "missing path: /nonexistent/p"},
		{name: "limits parsed", req: req("RUN", "arg", "x", "memory_max", "64M", "io_max", "8:0 rbps=1", "io_max", "8:16 wbps=2"),
			check: func(t *testing.T, s *Spec) {
				if s.IOMaxCount != 2 || len(s.Settings) == 0 {
					t.Errorf("got io_max count %d settings %v, want 2 and some", s.IOMaxCount, s.Settings)
				}
			}},
	}
	next := 1
	taken := map[string]bool{"taken": true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Env{Env: append([]string(nil), base...), Cwd: "/daemon", NewID: func() string { return autoID(&next, taken) },
				Taken: func(id string) bool { return taken[id] }}
			s, rf := Parse(tc.req, e)
			if tc.reason == "" {
				if rf != nil {
					t.Fatalf("got refusal %q %v, want accepted", rf.Reason, rf.KV)
				}
				taken[s.ID] = true
				if tc.check != nil {
					tc.check(t, s)
				}
				return
			}
			if rf == nil {
				t.Fatalf("got accepted %+v, want refusal %q", s, tc.reason)
			}
			if !strings.HasPrefix(rf.Reason, tc.reason) {
				t.Errorf("got reason %q, want prefix %q", rf.Reason, tc.reason)
			}
		})
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30", 30 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"-1s", 0, true},
		{"x", 0, true},
	}
	for _, tc := range tests {
		got, err := parseTimeout(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseTimeout(%q): got %v, %v, want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestParseRunCeiling: the priority ceiling of a non-root caller.
func TestParseRunCeiling(t *testing.T) {
	tests := []struct {
		name     string
		capped   bool
		ceiling  int
		priority string // "" for none
		want     int
		reason   string
	}{
		{"root, default", false, 0, "", 50, ""},
		{"root, 100", false, 0, "100", 100, ""},
		{"user, default is capped", true, 30, "", 30, ""},
		{"user, at the ceiling", true, 30, "30", 30, ""},
		{"user, below", true, 30, "0", 0, ""},
		{"user, above", true, 30, "31", 0, "priority: 31 is above 30, the highest a non-root caller may request"},
		{"user, ceiling above 50: default stays 50", true, 60, "", 50, ""},
		{"user, ceiling 0", true, 0, "", 0, ""},
		{"user, invalid is invalid first", true, 30, "101", 0, "priority:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := []string{"arg", "true"}
			if tc.priority != "" {
				kv = append(kv, "priority", tc.priority)
			}
			next := 1
			s, rf := Parse(req("RUN", kv...), Env{Cwd: "/", NewID: func() string { return autoID(&next, nil) }, Taken: func(string) bool { return false },
				Capped: tc.capped, Ceiling: tc.ceiling})
			switch {
			case tc.reason != "":
				if rf == nil || !strings.HasPrefix(rf.Reason, tc.reason) {
					t.Errorf("got %v, want a refusal starting %q", rf, tc.reason)
				}
			case rf != nil:
				t.Errorf("got refusal %q, want priority %d", rf.Reason, tc.want)
			case s.Priority != tc.want:
				t.Errorf("got priority %d, want %d", s.Priority, tc.want)
			}
		})
	}
}

func req(verb string, kv ...string) *proto.Request {
	r := &proto.Request{Verb: verb}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Headers = append(r.Headers, proto.Header{Key: kv[i], Value: kv[i+1]})
	}
	return r
}

// autoID is the supervisor's automatic id over a test's table.
func autoID(next *int, taken map[string]bool) string {
	for {
		id := "job-" + strconv.Itoa(*next)
		*next++
		if !taken[id] {
			return id
		}
	}
}
