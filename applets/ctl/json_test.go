package ctl

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"cgroupd/core/proto"
)

// decodeOne decodes out as exactly one JSON value followed by a newline and
// nothing else, with a real decoder (encoding/json: tests only, it never
// goes into the binary).
func decodeOne(t *testing.T, out string) map[string]any {
	t.Helper()
	if !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("got %q, want one JSON object on one line", out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("decode %q: more than one value (%v)", out, err)
	}
	return v
}

// wantUTF8 is what a JSON decoder gives back for s: each byte of invalid
// UTF-8 becomes U+FFFD.
func wantUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func TestJSONString(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	for _, s := range []string{
		"", "plain", "two words", `say "hi"`, `back\slash`, "tab\there", "nl\ncr\r",
		"\x00\x01\x07\x08\x0c\x1b\x1f\x7f", "é ü 日本 🚀", "bad \xff\xfe utf8", "cut \xe6\x97", "\u2028\u2029",
		"reason: missing path: /tmp/a b\x01\"c\xc3", string(all),
	} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendJSONString(%q) = %s: not JSON: %v", s, got, err)
			continue
		}
		if back != wantUTF8(s) {
			t.Errorf("appendJSONString(%q) decodes to %q, want %q", s, back, wantUTF8(s))
		}
		for _, c := range got {
			if c < 0x20 {
				t.Errorf("appendJSONString(%q) = %q: raw control byte %#x", s, got, c)
			}
		}
		// Same bytes as encoding/json where it escapes alike (it also
		// escapes <, > and &, which we need not).
		if !strings.ContainsAny(s, "<>&") {
			want, _ := json.Marshal(s)
			if !bytes.Equal(got, want) {
				t.Errorf("appendJSONString(%q) = %s, encoding/json gives %s", s, got, want)
			}
		}
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\x00\u2028", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if back != wantUTF8(s) {
			t.Fatalf("%q decodes to %q, want %q", s, back, wantUTF8(s))
		}
	})
}

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "7": true, "-3": true, "12.50": true, "0.00": true, "1e9": true, "2.5E-3": true,
		"": false, "-": false, "01": false, "1.": false, ".5": false, "+1": false, "1e": false,
		"0x10": false, "NaN": false, "1 ": false, " 1": false, "1,2": false, "12Q": false,
	} {
		var v any
		decodes := json.Unmarshal([]byte(s), &v) == nil
		if _, isNum := v.(float64); !isNum || strings.TrimSpace(s) != s {
			decodes = false // a decoder skips white space around a value; we keep none
		}
		if got := isJSONNumber(s); got != want || decodes != want {
			t.Errorf("isJSONNumber(%q) = %v (encoding/json: %v), want %v", s, got, decodes, want)
		}
	}
}

// TestJSONShapes runs every subcommand with --json against a fake daemon
// that answers with the response shape of PROTOCOL.md, and decodes the
// output with encoding/json.
func TestJSONShapes(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	weird := "missing path: /tmp/a b\t\"q\"\\\x01\x7f\xff\xfeé"
	tests := []struct {
		name     string
		args     []string
		resp     string
		want     map[string]any
		wantCode int
	}{
		{"run", []string{"run", "--id", "j", "--", "true"}, "STATUS: ok\nid: j\npid: 42\ncgroup: /sys/fs/cgroup/x/j\n\n",
			map[string]any{"status": "ok", "id": "j", "pid": num("42"), "cgroup": "/sys/fs/cgroup/x/j"}, 0},
		{"run refused, weird reason", []string{"run", "--id", "j", "--", "true"},
			"STATUS: err\nreason: " + weird + "\nid: j\n\n",
			map[string]any{"status": "err", "reason": wantUTF8(weird), "id": "j"}, 1},
		{"list", []string{"list"},
			"id: a\nstate: running\npid: 10\npriority: 50\nexit: 0\nsignal: 0\nmemory_current: 4096\npids_current: 1\nage_ms: 12\nstart_unix_ms: 1764251234567\nexit_unix_ms: 0\ncgroup: /c/a\n\n" +
				"id: b b\nstate: killed\npid: 11\npriority: 5\nexit: 0\nsignal: 9\nmemory_current: 0\npids_current: 0\nage_ms: 99\nstart_unix_ms: 1\nexit_unix_ms: 2\ncgroup: /c/b\n\n" +
				"STATUS: ok\ncount: 2\n\n",
			map[string]any{"status": "ok", "count": num("2"), "jobs": []any{
				// Running: exit, signal and exit_unix_ms are not known yet.
				map[string]any{"id": "a", "state": "running", "pid": num("10"), "priority": num("50"),
					"memory_current": num("4096"), "pids_current": num("1"), "age_ms": num("12"),
					"start_unix_ms": num("1764251234567"), "cgroup": "/c/a"},
				// Ended: LIST reads no memory or pids (0 for "not read").
				map[string]any{"id": "b b", "state": "killed", "pid": num("11"), "priority": num("5"), "exit": num("0"),
					"signal": num("9"), "age_ms": num("99"),
					"start_unix_ms": num("1"), "exit_unix_ms": num("2"), "cgroup": "/c/b"},
			}}, 0},
		{"list empty", []string{"list"}, "STATUS: ok\ncount: 0\n\n",
			map[string]any{"status": "ok", "count": num("0"), "jobs": []any{}}, 0},
		{"inspect", []string{"inspect", "a"},
			"STATUS: ok\nid: a\nstate: frozen\npid: 10\npriority: 50\nexit: 0\nsignal: 0\noom_killed: 1\nservice_count: 0\n" +
				"require_path_count: 0\nio_max_rule_count: 0\nmemory_current: 8192\nmemory_swap_current: 0\npids_current: 2\n" +
				"cpu_usage_usec: 1234\nio_rbytes: 0\nio_wbytes: 0\noom_kill_count: 1\nage_ms: 5\nstart_mono_ms: 100\n" +
				"exit_mono_ms: 0\nstart_unix_ms: 1\nexit_unix_ms: 0\npid_count: 2\npids: 10,12\ncgroup: /c/a\nlog: \n" +
				"psi_mem_some_avg10: 0.00\npsi_mem_full_avg10: 1.25\npsi_cpu_some_avg10: 100.00\npsi_io_some_avg10: 0.00\npsi_io_full_avg10: 0.00\n\n",
			map[string]any{"status": "ok", "id": "a", "state": "frozen", "pid": num("10"), "priority": num("50"),
				"oom_killed": true, "service_count": num("0"),
				"require_path_count": num("0"), "io_max_rule_count": num("0"), "memory_current": num("8192"),
				"memory_swap_current": num("0"), "pids_current": num("2"), "cpu_usage_usec": num("1234"),
				"io_rbytes": num("0"), "io_wbytes": num("0"), "oom_kill_count": num("1"), "age_ms": num("5"),
				"start_mono_ms": num("100"), "start_unix_ms": num("1"),
				"pid_count": num("2"), "pids": []any{num("10"), num("12")}, "cgroup": "/c/a", "log": "",
				"psi_mem_some_avg10": num("0.00"), "psi_mem_full_avg10": num("1.25"), "psi_cpu_some_avg10": num("100.00"),
				"psi_io_some_avg10": num("0.00"), "psi_io_full_avg10": num("0.00")}, 0},
		{"inspect no pids", []string{"inspect", "a"}, "STATUS: ok\nid: a\npid_count: 0\npids: \n\n",
			map[string]any{"status": "ok", "id": "a", "pid_count": num("0"), "pids": []any{}}, 0},
		{"inspect no such job", []string{"inspect", "x"}, "STATUS: err\nreason: no such job\nid: x\n\n",
			map[string]any{"status": "err", "reason": "no such job", "id": "x"}, 1},
		{"stats", []string{"stats"},
			"STATUS: ok\nroot: /sys/fs/cgroup/cgroupd.slice\njobs: 3\nrunning: 2\nfrozen: 1\nmemory_total: 0\n" +
				"psi_mem_some_avg10: 0.00\npsi_mem_full_avg10: 0.00\npsi_cpu_some_avg10: 3.10\npsi_io_some_avg10: 0.00\n" +
				"psi_io_full_avg10: 0.00\npending: 0\ndry_run: 0\npressure_window_ms: 500\npressure_mem_some_pct: 0.00\n" +
				"pressure_mem_full_pct: 0.00\npressure_cpu_some_pct: 12.50\npressure_cpu_full_pct: 0.00\n" +
				"pressure_io_some_pct: 0.00\npressure_io_full_pct: 0.00\n\n",
			map[string]any{"status": "ok", "root": "/sys/fs/cgroup/cgroupd.slice", "jobs": num("3"), "running": num("2"),
				"frozen": num("1"), "psi_mem_some_avg10": num("0.00"),
				"psi_mem_full_avg10": num("0.00"), "psi_cpu_some_avg10": num("3.10"), "psi_io_some_avg10": num("0.00"),
				"psi_io_full_avg10": num("0.00"), "pending": num("0"), "dry_run": false, "pressure_window_ms": num("500"),
				"pressure_mem_some_pct": num("0.00"), "pressure_mem_full_pct": num("0.00"),
				"pressure_cpu_some_pct": num("12.50"), "pressure_cpu_full_pct": num("0.00"),
				"pressure_io_some_pct": num("0.00"), "pressure_io_full_pct": num("0.00")}, 0},
		{"freeze", []string{"freeze", "a"}, "STATUS: ok\nid: a\nstate: frozen\n\n",
			map[string]any{"status": "ok", "id": "a", "state": "frozen"}, 0},
		{"thaw not running", []string{"thaw", "a"}, "STATUS: err\nreason: job not running\nid: a\nstate: exited\n\n",
			map[string]any{"status": "err", "reason": "job not running", "id": "a", "state": "exited"}, 1},
		{"kill", []string{"kill", "a", "signal", "15"}, "STATUS: ok\nid: a\nsignal: 15\n\n",
			map[string]any{"status": "ok", "id": "a", "signal": num("15")}, 0},
		{"wait keeps its exit code", []string{"wait", "a"}, "STATUS: ok\nid: a\nstate: killed\nexit: 0\nsignal: 9\noom_killed: 0\n\n",
			map[string]any{"status": "ok", "id": "a", "state": "killed", "exit": num("0"), "signal": num("9"), "oom_killed": false}, 137},
		{"wait exit 3", []string{"wait", "a"}, "STATUS: ok\nid: a\nstate: failed\nexit: 3\nsignal: 0\noom_killed: 0\n\n",
			map[string]any{"status": "ok", "id": "a", "state": "failed", "exit": num("3"), "signal": num("0"), "oom_killed": false}, 3},
		{"remove", []string{"remove", "a"}, "STATUS: ok\nid: a\n\n", map[string]any{"status": "ok", "id": "a"}, 0},
		{"remove still running", []string{"remove", "a"}, "STATUS: err\nreason: still running\nid: a\nstate: running\n\n",
			map[string]any{"status": "err", "reason": "still running", "id": "a", "state": "running"}, 1},
		{"ping", []string{"ping"}, "STATUS: ok\npong: 1\n\n", map[string]any{"status": "ok", "pong": true}, 0},
		{"quit", []string{"quit"}, "STATUS: ok\nshutting_down: 1\n\n", map[string]any{"status": "ok", "shutting_down": true}, 0},
		{"unknown verb", []string{"ping"}, "STATUS: err\nreason: unknown verb\nverb: PING\n\n",
			map[string]any{"status": "err", "reason": "unknown verb", "verb": "PING"}, 1},
		{"logs error is JSON", []string{"logs", "a"}, "STATUS: err\nreason: no log\nid: a\ndetail: open: x\n\n",
			map[string]any{"status": "err", "reason": "no log", "id": "a", "detail": "open: x"}, 1},
		{"metrics error is JSON", []string{"metrics"}, "STATUS: err\nreason: unknown verb\nverb: METRICS\n\n",
			map[string]any{"status": "err", "reason": "unknown verb", "verb": "METRICS"}, 1},
		{"request too large", []string{"ping"}, "STATUS: err\nreason: request too large\nmax_bytes: 4194304\n\n",
			map[string]any{"status": "err", "reason": "request too large", "max_bytes": num("4194304")}, 1},
		{"untyped value that is not a number stays a string", []string{"inspect", "a"},
			"STATUS: ok\nid: 12\npid: 0x10\nmemory_current: 01\noom_killed: maybe\npids: 1,x\nnew_key: 5\n\n",
			map[string]any{"status": "ok", "id": "12", "pid": "0x10", "memory_current": "01", "oom_killed": "maybe",
				"pids": "1,x", "new_key": "5"}, 0},
		{"repeated key is an array", []string{"stats"}, "STATUS: ok\nnote: a\njobs: 1\nnote: b\njobs: 2\n\n",
			map[string]any{"status": "ok", "note": []any{"a", "b"}, "jobs": []any{num("1"), num("2")}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, flagArgs := range [][]string{{"--json"}, {"-o", "json"}} {
				d := newFakeDaemon(t, reply(tc.resp))
				var stdout, stderr bytes.Buffer
				args := append(append([]string{"--socket", d.path}, flagArgs...), tc.args...)
				code := Run(args, nil, &stdout, &stderr)
				<-d.reqs
				if code != tc.wantCode {
					t.Errorf("%v: exit %d, want %d (stderr %q)", flagArgs, code, tc.wantCode, stderr.String())
				}
				got := decodeOne(t, stdout.String())
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%v: got\n%#v\nwant\n%#v", flagArgs, got, tc.want)
				}
			}
		})
	}
}

// TestJSONOptionPlaces: the output option works before the subcommand, after
// it and among run's options; after `--` it is the job's argv.
func TestJSONOptionPlaces(t *testing.T) {
	tests := []struct {
		args     []string
		wantJSON bool
		wantArgs []string // run: the argv sent
	}{
		{[]string{"--json", "ping"}, true, nil},
		{[]string{"-o", "json", "ping"}, true, nil},
		{[]string{"-o=json", "ping"}, true, nil},
		{[]string{"--output", "json", "ping"}, true, nil},
		{[]string{"--json", "-o", "text", "ping"}, false, nil},
		{[]string{"ping", "--json"}, true, nil},
		{[]string{"list", "-o", "json"}, true, nil},
		{[]string{"inspect", "--json", "a"}, true, nil},
		{[]string{"kill", "a", "-o", "json", "signal", "9"}, true, nil},
		{[]string{"logs", "-f", "a", "--json"}, true, nil},
		{[]string{"metrics", "--json"}, true, nil},
		{[]string{"run", "--json", "--id", "a", "--", "echo", "--json"}, true, []string{"echo", "--json"}},
		{[]string{"run", "-o", "json", "--", "true"}, true, []string{"true"}},
		{[]string{"run", "--", "echo", "-o", "json"}, false, []string{"echo", "-o", "json"}},
		{[]string{"run", "sleep", "--json"}, false, []string{"sleep", "--json"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			inv, err := parseArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if inv.json != tc.wantJSON {
				t.Errorf("json: got %v, want %v", inv.json, tc.wantJSON)
			}
			if tc.wantArgs != nil {
				if got := inv.req.All("arg"); !reflect.DeepEqual(got, tc.wantArgs) {
					t.Errorf("argv: got %q, want %q", got, tc.wantArgs)
				}
			}
		})
	}
	for _, bad := range [][]string{{"-o", "yaml", "ping"}, {"ping", "-o"}, {"ping", "-o", "xml"}, {"ping", "--json=1"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q): got no error", bad)
		}
	}
}

// TestJSONNothingOnCutResponse: a response cut short prints no half JSON.
func TestJSONNothingOnCutResponse(t *testing.T) {
	d := newFakeDaemon(t, reply("id: a\nstate: running\n\nSTATUS: o"))
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"--socket", d.path, "--json", "list"}, nil, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	<-d.reqs
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}

// TestLogsJSONStaysRaw: LOGS and METRICS print their raw bytes with --json.
func TestLogsJSONStaysRaw(t *testing.T) {
	for _, sub := range [][]string{{"logs", "a"}, {"metrics"}} {
		d := newFakeDaemon(t, reply("STATUS: ok\nid: a\n\nraw \x00 bytes\n"))
		var stdout, stderr bytes.Buffer
		if code := Run(append([]string{"--socket", d.path, "--json"}, sub...), nil, &stdout, &stderr); code != 0 {
			t.Errorf("%v: exit %d, want 0 (%s)", sub, code, stderr.String())
		}
		<-d.reqs
		if got := stdout.String(); got != "raw \x00 bytes\n" {
			t.Errorf("%v: got %q, want the raw bytes", sub, got)
		}
	}
}

// TestJSONObjectOfReply is the encoder on a Reply directly: key order is the
// block's, status first.
func TestJSONObjectOfReply(t *testing.T) {
	rep := proto.Reply{Status: "ok", Headers: []proto.Header{{Key: "id", Value: "a"}, {Key: "pid", Value: "1"}, {Key: "state", Value: "running"}}}
	got := string(appendJSONObject(nil, rep, nil))
	want := `{"status":"ok","id":"a","pid":1,"state":"running"}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
