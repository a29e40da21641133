package event

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "job-1", "job-1"},
		{"empty", "", ""},
		{"path", "/sys/fs/cgroup/unified/cgroupd.slice/a", "/sys/fs/cgroup/unified/cgroupd.slice/a"},
		{"space", "a b", "a%20b"},
		{"percent", "100%", "100%25"},
		{"equals kept", "a=b", "a=b"},
		{"newline and tab", "a\nb\tc\r", "a%0Ab%09c%0D"},
		{"NUL and DEL", "\x00\x7f", "%00%7F"},
		{"utf-8 kept", "jöb", "jöb"},
		{"upper-case hex", "\x1f", "%1F"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Escape(tc.in)
			if got != tc.want {
				t.Fatalf("Escape(%q): got %q, want %q", tc.in, got, tc.want)
			}
			back, err := url.PathUnescape(got)
			if err != nil || back != tc.in {
				t.Errorf("PathUnescape(%q): got %q, %v, want %q", got, back, err, tc.in)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		ts   int64
		typ  string
		kv   []string
		want string
	}{
		{"job.start", 1700000000123, "job.start",
			[]string{"id", "a", "pid", "42", "priority", "50", "cgroup", "/sys/fs/cgroup/x/a"},
			"EVENT schema=cgroupd.v1 ts_unix_ms=1700000000123 type=job.start id=a pid=42 priority=50 cgroup=/sys/fs/cgroup/x/a\n"},
		{"empty value", 1, "pressure",
			[]string{"resource", "cpu", "some_avg10", "51.00", "full_avg10", "0.00", "action", "demote", "target", ""},
			"EVENT schema=cgroupd.v1 ts_unix_ms=1 type=pressure resource=cpu some_avg10=51.00 full_avg10=0.00 action=demote target=\n"},
		{"escaped path", 5, "job.cleanup",
			[]string{"id", "a", "result", "ok", "cgroup", "/my dir/a\n"},
			"EVENT schema=cgroupd.v1 ts_unix_ms=5 type=job.cleanup id=a result=ok cgroup=/my%20dir/a%0A\n"},
		{"odd key gets empty value", 0, "x", []string{"k"},
			"EVENT schema=cgroupd.v1 ts_unix_ms=0 type=x k=\n"},
		{"no keys", 0, "x", nil, "EVENT schema=cgroupd.v1 ts_unix_ms=0 type=x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Format(tc.ts, tc.typ, tc.kv...)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if n := strings.Count(got, "\n"); n != 1 {
				t.Errorf("got %d newlines, want 1", n)
			}
		})
	}
}

type countWriter struct {
	bytes.Buffer
	writes int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestEmitter(t *testing.T) {
	var w countWriter
	e := &Emitter{W: &w, Now: func() time.Time { return time.UnixMilli(1234) }}
	e.Emit("job.exit", "id", "a", "state", "exited")
	e.Emit("job.cleanup", "id", "a", "result", "ok")
	want := "EVENT schema=cgroupd.v1 ts_unix_ms=1234 type=job.exit id=a state=exited\n" +
		"EVENT schema=cgroupd.v1 ts_unix_ms=1234 type=job.cleanup id=a result=ok\n"
	if got := w.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if w.writes != 2 {
		t.Errorf("got %d writes, want 2 (one per line)", w.writes)
	}
}

func TestEmitterDefaults(t *testing.T) {
	var nilEmitter *Emitter
	nilEmitter.Emit("x") // must not panic
	(&Emitter{}).Emit("x")

	var buf bytes.Buffer
	before := time.Now().UnixMilli()
	(&Emitter{W: &buf}).Emit("x")
	var ts int64
	line := buf.String()
	if _, err := fmt.Sscanf(line, "EVENT schema=cgroupd.v1 ts_unix_ms=%d type=x\n", &ts); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	if ts < before {
		t.Errorf("got ts_unix_ms %d, want >= %d", ts, before)
	}
}

func TestParseRoundTrip(t *testing.T) {
	line := Format(1764251234567, "job.exit", "id", "a b%c", "cgroup", "/x/\ty", "empty", "")
	kv, ok := Parse(line)
	want := []string{"schema", Schema, "ts_unix_ms", "1764251234567", "type", "job.exit",
		"id", "a b%c", "cgroup", "/x/\ty", "empty", ""}
	if !ok || strings.Join(kv, "|") != strings.Join(want, "|") {
		t.Errorf("Parse(%q) = %q, %v; want %q", line, kv, ok, want)
	}
	for _, bad := range []string{"", "hello", "EVENT", "EVENT x=1"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q): ok", bad)
		}
	}
	if got := unescape("100%"); got != "100%" {
		t.Errorf("unescape of a bare %%: %q", got)
	}
}
